#!/usr/bin/env bash
# Measures the connection limits for docs/reliability.md:
#   scripts/measure-limits.sh [idle|buffered|all]
# idle:     10,000 idle connections, then new clients; each must be written
#           within a second (RSS reported).
# buffered: 1,000 connections each holding 1 MiB - 1 byte of a frame; the
#           daemon's peak RSS growth must stay within max_buffered_bytes.
# Each part is bounded in time (a few minutes at most). LOGHOGD=/path/to/
# loghogd uses that binary (release or debug); by default a debug build.
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
# 10,000 client sockets here and as many in loghogd (which inherits this).
ulimit -n "$(ulimit -Hn)"
if (( $(ulimit -n) < 12000 )); then
    echo "need at least 12000 file descriptors (ulimit -Hn is $(ulimit -Hn))" >&2
    exit 1
fi
if [[ -z "${LOGHOGD:-}" ]]; then
    cargo build --quiet -p loghog-daemon --bin loghogd
    LOGHOGD="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/debug/loghogd"
fi
status=0
for part in idle buffered; do
    if [[ $what == all || $what == "$part" ]]; then
        timeout 600 python3 scripts/limits.py "$LOGHOGD" "$part" || status=1
    fi
done
exit $status
