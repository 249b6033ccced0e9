#!/usr/bin/env bash
# Syslog ingest for docs/benchmarks.md: loghogd's syslog listener against
# rsyslog's imtcp + omfile, in the same run, with the same sender:
# `loghog bench --syslog` (RFC 3164 lines, newline-delimited, over TCP;
# built before the clock starts), CONNS connections, MESSAGES lines with
# SIZE-byte bodies. The clock stops when the last line is in the file.
# Server CPU is utime + stime from /proc/PID/stat over the run. rsyslogd
# runs unprivileged on a loopback port, as in scripts/bench-rsyslog.sh.
#
#   scripts/bench-syslog.sh [MESSAGES] [SIZE] [CONNS] [RUNS]   (defaults: 1000000 200 16 3)
#   PROFILE=debug scripts/bench-syslog.sh 20000      a quick check of the script itself
set -euo pipefail
cd "$(dirname "$0")/.."
MESSAGES=${1:-1000000}
SIZE=${2:-200}
CONNS=${3:-16}
RUNS=${4:-3}
command -v rsyslogd >/dev/null || { echo "rsyslogd not installed (apt-get install rsyslog)" >&2; exit 1; }
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
hz=$(getconf CLK_TCK)
PROFILE=${PROFILE:-release}
bin=${CARGO_TARGET_DIR:-target}/$PROFILE
if [ "$PROFILE" = release ]; then
    cargo build --release -q -p loghog-daemon --bin loghogd -p loghog-cli --bin loghog
else
    cargo build -q -p loghog-daemon --bin loghogd -p loghog-cli --bin loghog
fi

cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# bench NAME PID PORT FILE: one measured run, one table row.
bench() {
    local name=$1 pid=$2 port=$3 file=$4 before after out
    before=$(cpu "$pid")
    out=$("$bin/loghog" bench --syslog --host 127.0.0.1 --port "$port" \
        --app bench --connections "$CONNS" --messages "$MESSAGES" --size "$SIZE" \
        --wait-file "$file" --expect-lines "$MESSAGES" --wait-timeout 300)
    after=$(cpu "$pid")
    local rate lines
    rate=$(awk -F': ' '/^end-to-end records\/s/ {print $2}' <<<"$out")
    lines=$(wc -l <"$file")
    [ "$lines" -ge "$MESSAGES" ] || { echo "$name wrote $lines of $MESSAGES lines" >&2; exit 1; }
    awk -v n="$name" -v c="$CONNS" -v r="$rate" -v t=$((after - before)) -v hz="$hz" -v m="$MESSAGES" \
        'BEGIN { printf "| %s | %d | %d | %.2f |\n", n, c, r, t / hz / (m / 1e6) }'
}

rsyslog_run() {
    local port=$((20000 + RANDOM % 20000))
    rm -f "$work/out.log"
    cat >"$work/rsyslog.conf" <<CONF
global(workDirectory="$work")
module(load="imtcp")
template(name="loghog" type="string" string="%timegenerated:::date-rfc3339% - %hostname% - %syslogseverity-text:::uppercase% - %msg%\n")
ruleset(name="bench") {
    action(type="omfile" file="$work/out.log" template="loghog")
}
input(type="imtcp" port="$port" address="127.0.0.1" ruleset="bench")
CONF
    rsyslogd -n -f "$work/rsyslog.conf" -i "$work/rsyslog.pid" 2>"$work/rsyslog.stderr" &
    local pid=$!
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        sleep 0.1
    done
    bench "rsyslogd $(rsyslogd -v | head -1 | awk '{print $2}' | tr -d ,) imtcp + omfile" "$pid" "$port" "$work/out.log"
    kill "$pid"; wait "$pid" 2>/dev/null || true
}

loghogd_run() {
    rm -rf "$work/lh"
    cat >"$work/facilities.conf" <<CONF
[bench]
rotate = size
max_size = 100000000000
backup_count = 1
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
listen_syslog = 127.0.0.1:0
CONF
    "$bin/loghogd" -c "$work/loghogd.conf" 2>"$work/lh.stderr" &
    local pid=$!
    for _ in $(seq 100); do grep -q "loghogd started" "$work/lh.stderr" 2>/dev/null && break; sleep 0.1; done
    local port
    port=$(grep -oE 'proto=syslog-tcp addr=127.0.0.1:[0-9]+' "$work/lh.stderr" | head -1 | cut -d: -f2)
    bench "loghogd syslog" "$pid" "$port" "$work/lh/logs/bench/root.log"
    kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
}

echo "| server | connections | end-to-end lines/s | server CPU-s per M lines |"
echo "| --- | --- | --- | --- |"
for _ in $(seq "$RUNS"); do
    loghogd_run
    rsyslog_run
done
