#!/usr/bin/env bash
# Acknowledged delivery (protocol v2) against plain v1, in the same run:
# `loghog bench` and `loghog bench --ack` against one release loghogd,
# alternating, RUNS times each.
#
#   scripts/bench-acks.sh [MESSAGES] [SIZE] [CONNECTIONS] [RUNS]
#                         (defaults: 1000000 200 16 3)
#
# Each run writes to an app of its own (a fresh file). v1 runs stop the
# clock when every line is in the file (--wait-file); --ack runs stop it
# when every record is acknowledged, i.e. written (and --wait-file then
# finds the lines at once). Prints end-to-end records/s per run, the ratio
# of each --ack run to the v1 run just before it (robust to a machine whose
# load drifts), and the medians.
set -euo pipefail
cd "$(dirname "$0")/.."
MESSAGES=${1:-1000000}
SIZE=${2:-200}
CONNS=${3:-16}
RUNS=${4:-3}

cargo build --release -q -p loghog-daemon -p loghog-cli --bins
BIN=target/release
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

: >"$work/facilities.conf"
for i in $(seq 1 $((2 * RUNS))); do
    printf '[run%d]\nrotate = size\nmax_size = 100000000000\nbackup_count = 1\n\n' "$i" \
        >>"$work/facilities.conf"
done
cat >"$work/loghogd.conf" <<CONF
[main]
workdir = work
logdir = logs
rundir = run
facilities_config = facilities.conf
[log]
filename = loghogd.log
[server]
listen_ipv4 = 127.0.0.1:0
listen_ipv6 =
CONF
: >"$work/stderr"
"$BIN/loghogd" -c "$work/loghogd.conf" 2>"$work/stderr" &
pid=$!
port=
for _ in $(seq 1 100); do
    port=$(grep -o 'proto=tcp addr=127.0.0.1:[0-9]*' "$work/stderr" | head -1 | sed 's/.*://' || true)
    [ -n "$port" ] && break
    sleep 0.1
done
[ -n "$port" ] || { echo "loghogd did not start" >&2; cat "$work/stderr" >&2; exit 1; }

v1=() acked=() ratios=()
run=0
for r in $(seq 1 "$RUNS"); do
    for mode in v1 ack; do
        run=$((run + 1))
        extra=()
        [ "$mode" = ack ] && extra=(--ack)
        out=$("$BIN/loghog" bench --host 127.0.0.1 --port "$port" --app "run$run" \
            --hostname benchhost --connections "$CONNS" --messages "$MESSAGES" --size "$SIZE" \
            --wait-file "$work/logs/run$run/root.log" --expect-lines "$MESSAGES" \
            "${extra[@]}" 2>&1)
        rate=$(echo "$out" | awk -F': ' '$1 == "end-to-end records/s" { print $2 }')
        echo "run $r $mode: $rate records/s end to end"
        if [ "$mode" = ack ]; then
            acked+=("$rate")
            ratios+=("$(awk -v a="$rate" -v b="${v1[-1]}" 'BEGIN { printf "%.2f", a / b }')")
            echo "run $r ratio --ack / v1: ${ratios[-1]}"
        else
            v1+=("$rate")
        fi
    done
done
median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
m1=$(median "${v1[@]}")
ma=$(median "${acked[@]}")
echo "median v1: $m1 records/s; median --ack: $ma records/s; ratio of medians $(awk -v a="$ma" -v b="$m1" 'BEGIN { printf "%.2f", a / b }'); median of the run ratios $(median "${ratios[@]}")"
