#!/usr/bin/env bash
# Whole-pipeline throughput: `loghog bench` against a release loghogd, and
# against a trivial TCP -> file sink in the same run as the baseline.
#
#   scripts/bench-pipeline.sh [MESSAGES] [SIZE]      (defaults: 1000000 200)
#
# For each of 1 and 16 connections it prints the client's send rate, the
# end-to-end rate (until every line is in the file), and the server's
# CPU-seconds per million records (utime + stime from /proc).
set -euo pipefail
cd "$(dirname "$0")/.."
MESSAGES=${1:-1000000}
SIZE=${2:-200}

cargo build --release -q -p loghog-daemon -p loghog-cli --bins --example tcp_sink
cargo build --release -q -p loghog-client --example throughput
BIN=target/release
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

cat >"$work/facilities.conf" <<CONF
[bench]
rotate = size
max_size = 100000000000
backup_count = 1
CONF
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

run_one() { # name pid port outfile conns
    local name=$1 pid=$2 port=$3 out=$4 conns=$5
    local before after
    before=$(cpu_ticks "$pid")
    result=$("$BIN/loghog" bench --host 127.0.0.1 --port "$port" --app bench \
        --hostname benchhost --connections "$conns" --messages "$MESSAGES" --size "$SIZE" \
        --wait-file "$out" --expect-lines "$MESSAGES" 2>&1)
    after=$(cpu_ticks "$pid")
    local send e2e
    send=$(echo "$result" | awk -F': ' '$1 == "records/s" { print $2 }')
    e2e=$(echo "$result" | awk -F': ' '$1 == "end-to-end records/s" { print $2 }')
    local cpu
    cpu=$(awk -v t=$((after - before)) -v hz="$hz" -v m="$MESSAGES" 'BEGIN { printf "%.2f", t / hz / (m / 1e6) }')
    printf '| %s | %d | %s | %s | %s |\n' "$name" "$conns" "$send" "$e2e" "$cpu"
    echo "$result" | sed 's/^/    /' >&2
}

echo "| server | connections | sent | end-to-end | server CPU-s per M records |"
echo "| --- | --- | --- | --- | --- |"
for conns in 1 16; do
    # loghogd, fresh each time.
    rm -rf "$work/logs" "$work/work" "$work/run"
    "$BIN/loghogd" -c "$work/loghogd.conf" 2>"$work/stderr" &
    pid=$!
    for _ in $(seq 100); do grep -q "loghogd started" "$work/stderr" 2>/dev/null && break; sleep 0.1; done
    port=$(grep -oE 'proto=tcp addr=127.0.0.1:[0-9]+' "$work/stderr" | head -1 | cut -d: -f2)
    run_one loghogd "$pid" "$port" "$work/logs/bench/root.log" "$conns"
    kill -TERM "$pid"; wait "$pid" || true

    # The trivial sink: one line per frame.
    rm -f "$work/sink.out"
    "$BIN/examples/tcp_sink" "$work/sink.out" >"$work/sink.addr" &
    spid=$!
    for _ in $(seq 100); do grep -q listening "$work/sink.addr" 2>/dev/null && break; sleep 0.1; done
    sport=$(cut -d: -f2 <"$work/sink.addr")
    run_one tcp_sink "$spid" "$sport" "$work/sink.out" "$conns"
    kill "$spid"; wait "$spid" 2>/dev/null || true
done

# One process logging through the client library (Client::send) into
# loghogd: the enqueue rate, and the rate until loghogd has written it all.
rm -rf "$work/logs" "$work/work" "$work/run"
"$BIN/loghogd" -c "$work/loghogd.conf" 2>"$work/stderr" &
pid=$!
for _ in $(seq 100); do grep -q "loghogd started" "$work/stderr" 2>/dev/null && break; sleep 0.1; done
port=$(grep -oE 'proto=tcp addr=127.0.0.1:[0-9]+' "$work/stderr" | head -1 | cut -d: -f2)
start=$(date +%s.%N)
lib=$("$BIN/examples/throughput" "$MESSAGES" "$SIZE" "$port")
delivered=$(echo "$lib" | awk '/^delivered:/ { print $2 }')
for _ in $(seq 1200); do
    [ "$(wc -l <"$work/logs/bench/root.log" 2>/dev/null || echo 0)" -ge "$delivered" ] && break
    sleep 0.05
done
end=$(date +%s.%N)
echo "$lib" | sed 's/^/    /' >&2
echo
echo "client library -> loghogd: $(echo "$lib" | awk '/^enqueue:/ { print $2 }') records/s enqueued;" \
    "$delivered of $MESSAGES written in $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }') s" \
    "($(awk -v a="$start" -v b="$end" -v n="$delivered" 'BEGIN { printf "%.0f", n / (b - a) }') records/s end-to-end)"
kill -TERM "$pid"; wait "$pid" || true
