#!/usr/bin/env bash
# Bounded soak of a real loghogd: scripts/soak.sh SECONDS [--seed N]
#
# Sends sequence-numbered good records interleaved with mutated frames (bit
# flips, truncations, corrupt lengths, bad zlib, bad JSON, wrong app, bad
# signatures, oversize) over several TCP connections and UDP to a loghogd in
# a temp dir on a loopback port, then checks that every good record is in
# the files exactly once and that the daemon is alive; exits non-zero
# otherwise. The load generator is scripts/soak.py (Python 3, stdlib only).
#
# LOGHOGD=/path/to/loghogd uses that binary (release or debug); by default
# a debug build is made with cargo.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $# -lt 1 || ! "$1" =~ ^[0-9]+([.][0-9]+)?$ ]]; then
    echo "usage: $0 SECONDS [--seed N]" >&2
    exit 2
fi
seconds=$1
shift
if [[ -z "${LOGHOGD:-}" ]]; then
    cargo build --quiet -p loghog-daemon --bin loghogd
    LOGHOGD="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/debug/loghogd"
fi
exec python3 scripts/soak.py "$LOGHOGD" "$seconds" "$@"
