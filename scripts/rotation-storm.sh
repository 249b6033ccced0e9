#!/usr/bin/env bash
# Rotation storm: scripts/rotation-storm.sh [--records N] [--conns N] [--hups N]
#                 [--max-size BYTES] [--seconds S] [--format xz|gzip|bzip2] [--level L]
#
# 1,000,000 numbered records over 16 TCP connections (paced over 30 s) into
# one facility rotating at max_size = 1 MB, compressed (xz), with 20 SIGHUPs
# spread over the run; then every live and rotated file is read back,
# decompressed, and checked: 0 lost, 0 duplicated, order kept per
# connection, no file over max_size + one record, every archive whole.
# Exits non-zero if a check fails. Runs scripts/rotation_storm.py (Python 3
# standard library only).
#
# LOGHOGD=/path/to/loghogd picks the binary; by default a release build
# (cargo build --release --locked) in target/.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/release-loghogd.sh
source scripts/release-loghogd.sh
exec python3 scripts/rotation_storm.py "$LOGHOGD" "$@"
