#!/usr/bin/env bash
# Disk full, then space freed: scripts/disk-full.sh [--size MB] [--free MB]
#                 [--full-secs S] [--after-secs S] [--tcp N] [--tcp-rate R] [--udp-rate R]
#
# Needs root: mounts a tmpfs (96 MB by default) as the log directory, fills
# all but 4 MB of it with a filler file, and sends numbered records over 4
# TCP connections and UDP until the disk is full, then on for 10 s (long
# enough for the UDP lines to pass the daemon's 64 MiB pending limit, so
# that drops happen), deletes the filler, sends 5 s more and stops the
# daemon with SIGTERM. Checks 0 torn lines, 0 duplicates, no TCP record
# lost (pushed back), and every lost UDP record counted (internal log, or
# the kernel's UDP receive-buffer counter). The tmpfs is unmounted on exit.
# Exits non-zero if a check fails; without root it says so and exits 0.
# Runs scripts/disk_full.py.
#
# The tmpfs is larger than the daemon's 64 MiB pending limit so that what
# waits for the full disk fits once the filler is gone.
#
# LOGHOGD=/path/to/loghogd picks the binary; by default a release build.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $(id -u) -ne 0 ]]; then
    echo "disk-full.sh: SKIPPED: needs root to mount a tmpfs (run it with sudo)" >&2
    exit 0
fi
size=96
args=()
while [[ $# -gt 0 ]]; do
    case $1 in
        --size) size=$2; shift 2 ;;
        *) args+=("$1"); shift ;;
    esac
done
# shellcheck source=scripts/release-loghogd.sh
source scripts/release-loghogd.sh
mnt=$(mktemp -d /tmp/loghog-tmpfs-XXXXXX)
mount -t tmpfs -o "size=${size}m,mode=0755" loghog-diskfull "$mnt"
trap 'umount "$mnt" && rmdir "$mnt"' EXIT
python3 scripts/disk_full.py "$LOGHOGD" "$mnt" "${args[@]}"
