#!/usr/bin/env bash
# The rsyslog baseline for docs/benchmarks.md, on the same machine and load
# shape as scripts/bench-pipeline.sh: MESSAGES records with SIZE-byte bodies
# over 1 and 16 TCP connections (syslog lines, LF-framed, octet-stuffing
# off), written by omfile with a LogHog-like line template. Needs rsyslogd
# (apt-get install rsyslog); runs it unprivileged on a high port.
#
#   scripts/bench-rsyslog.sh [MESSAGES] [SIZE]      (defaults: 1000000 200)
#   SYNC=on scripts/bench-rsyslog.sh ...             omfile with sync="on"
#   FLUSH_EVERY=N scripts/bench-rsyslog.sh ...       loghogd's flush_every (default 1)
set -euo pipefail
cd "$(dirname "$0")/.."
MESSAGES=${1:-1000000}
SIZE=${2:-200}
command -v rsyslogd >/dev/null || { echo "rsyslogd not installed" >&2; exit 1; }
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
hz=$(getconf CLK_TCK)

# The one load generator for both servers: MESSAGES records with SIZE-byte
# bodies over CONNS connections, in prebuilt blocks of 4096 records, as
# syslog lines (rsyslog) or LogHog frames (loghogd).
send() { # syslog|frames port conns
    python3 - "$1" "$2" "$MESSAGES" "$SIZE" "$3" <<'PY'
import json, socket, struct, sys, threading
kind = sys.argv[1]
port, total, size, conns = (int(a) for a in sys.argv[2:])
body = "x" * size
if kind == "syslog":
    record = f"<14>Nov 24 05:00:00 benchhost bench: {body}\n".encode()
else:
    payload = json.dumps({"version": 1, "app_id": "bench", "module": "bench", "stamp": 1700000000,
                          "nsecs": 0, "hostname": "benchhost", "body": body}).encode()
    record = struct.pack(">II", len(payload), 0) + payload
per = total // conns
def run(c):
    block = record * min(per, 4096)
    s = socket.create_connection(("127.0.0.1", port))
    left = per
    while left:
        n = min(left, 4096)
        s.sendall(block if n == 4096 else record * n)
        left -= n
    s.close()
ts = [threading.Thread(target=run, args=(c,)) for c in range(conns)]
for t in ts: t.start()
for t in ts: t.join()
PY
}

echo "| server | connections | end-to-end records/s | server CPU-s per M records |"
echo "| --- | --- | --- | --- |"
for conns in 1 16; do
    port=$((20000 + RANDOM % 20000))
    rm -f "$work/out.log"
    cat >"$work/rsyslog.conf" <<CONF
global(workDirectory="$work")
module(load="imtcp")
template(name="loghog" type="string" string="%timegenerated:::date-rfc3339% - %hostname% - %msg%\n")
ruleset(name="bench") {
    action(type="omfile" file="$work/out.log" template="loghog" sync="${SYNC:-off}")
}
input(type="imtcp" port="$port" address="127.0.0.1" ruleset="bench")
CONF
    rsyslogd -n -f "$work/rsyslog.conf" -i "$work/rsyslog.pid" 2>"$work/stderr" &
    pid=$!
    for _ in $(seq 100); do
        python3 -c "import socket; socket.create_connection(('127.0.0.1', $port)).close()" 2>/dev/null && break
        sleep 0.1
    done
    before=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    start=$(date +%s.%N)
    send syslog "$port" "$conns"
    for _ in $(seq 2400); do
        [ "$(wc -l <"$work/out.log" 2>/dev/null || echo 0)" -ge "$MESSAGES" ] && break
        sleep 0.05
    done
    end=$(date +%s.%N)
    after=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    lines=$(wc -l <"$work/out.log")
    awk -v a="$start" -v b="$end" -v n="$lines" -v t=$((after - before)) -v hz="$hz" -v m="$MESSAGES" -v c="$conns" -v sync="${SYNC:-off}" \
        'BEGIN { printf "| rsyslogd sync=%s | %d | %.0f | %.2f |\n", sync, c, n / (b - a), t / hz / (m / 1e6) }'
    kill "$pid"; wait "$pid" 2>/dev/null || true
done

# The same Python sender shape against loghogd (frames instead of syslog
# lines), so that both servers face identical senders.
cargo build --release -q -p loghog-daemon --bin loghogd
cat >"$work/facilities.conf" <<CONF
[bench]
rotate = size
max_size = 100000000000
backup_count = 1
flush_every = ${FLUSH_EVERY:-1}
CONF
cat >"$work/loghogd.conf" <<CONF
[main]
workdir = lh/work
logdir = lh/logs
rundir = lh/run
facilities_config = facilities.conf
[log]
filename = lh/loghogd.log
[server]
listen_ipv4 = 127.0.0.1:0
listen_ipv6 =
CONF
for conns in 1 16; do
    rm -rf "$work/lh"
    target/release/loghogd -c "$work/loghogd.conf" 2>"$work/lh.stderr" &
    pid=$!
    for _ in $(seq 100); do grep -q "loghogd started" "$work/lh.stderr" 2>/dev/null && break; sleep 0.1; done
    port=$(grep -oE 'proto=tcp addr=127.0.0.1:[0-9]+' "$work/lh.stderr" | head -1 | cut -d: -f2)
    before=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    start=$(date +%s.%N)
    send frames "$port" "$conns"
    out="$work/lh/logs/bench/root.log"
    for _ in $(seq 2400); do
        [ "$(wc -l <"$out" 2>/dev/null || echo 0)" -ge "$MESSAGES" ] && break
        sleep 0.05
    done
    end=$(date +%s.%N)
    after=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    lines=$(wc -l <"$out")
    awk -v a="$start" -v b="$end" -v n="$lines" -v t=$((after - before)) -v hz="$hz" -v m="$MESSAGES" -v c="$conns" \
        'BEGIN { printf "| loghogd (same sender) | %d | %.0f | %.2f |\n", c, n / (b - a), t / hz / (m / 1e6) }'
    kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
done
echo >&2; rsyslogd -v | head -1 >&2
