#!/usr/bin/env bash
# Cluster throughput: `loghog bench` (16 connections, 200-byte records)
# through 1 ingest + 1 archive loghogd over NATS JetStream, against a
# standalone loghogd in the same run (docs/benchmarks.md, docs/cluster.md).
#
#   scripts/bench-cluster.sh [MESSAGES] [SIZE] [CONNECTIONS]   (defaults: 4000000 200 16)
#   SAMPLE=/var/log/dpkg.log scripts/bench-cluster.sh ...   bodies made of that
#                                    file's lines (realistic compression)
#
# Rows: standalone; cluster over one nats-server (stream replicas = 1); and
# cluster over a 3-node nats-server cluster on this machine (replicas = 3).
# Each prints the client's send rate, the end-to-end rate (until every
# line is in the archive's file) and each process's CPU-seconds per million
# records, and how many NATS messages carried them. GOGC=400 (or any
# value) reaches nats-server, and only it: its garbage collector's setting
# (docs/cluster.md, "Tuning nats-server"). R3=no skips the
# 3-server row. Needs nats-server (apt-get install nats-server). PROFILE=debug
# runs the debug binaries (to try the script, not to measure).
set -euo pipefail
cd "$(dirname "$0")/.."
MESSAGES=${1:-4000000}
SIZE=${2:-200}
CONNS=${3:-16}

command -v nats-server >/dev/null || { echo "needs nats-server (apt-get install nats-server)" >&2; exit 1; }
PROFILE=${PROFILE:-release}
if [ "$PROFILE" = release ]; then
    cargo build --release -q -p loghog-daemon -p loghog-cli --bins
else
    cargo build -q -p loghog-daemon -p loghog-cli --bins
fi
BIN=${CARGO_TARGET_DIR:-$PWD/target}/$PROFILE
work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { # file needle
    for _ in $(seq 300); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
    echo "timed out waiting for '$2' in $1" >&2; cat "$1" >&2; return 1
}

cat >"$work/facilities.conf" <<CONF
[bench]
rotate = size
max_size = 100000000000
backup_count = 1
CONF

# loghogd_conf DIR [cluster lines...]: a loghogd.conf in DIR.
loghogd_conf() {
    local dir=$1
    shift
    mkdir -p "$dir"
    {
        printf '[main]\nworkdir = work\nlogdir = logs\nrundir = run\nfacilities_config = %s\n' "$work/facilities.conf"
        printf '[log]\nfilename = loghogd.log\n[server]\nlisten_ipv4 = 127.0.0.1:0\nlisten_ipv6 =\n'
        if [ $# -gt 0 ]; then printf '[cluster]\n'; printf '%s\n' "$@"; fi
    } >"$dir/loghogd.conf"
}

# start_loghogd DIR: starts it, sets $lpid and $lport (0 for an archive).
start_loghogd() {
    "$BIN/loghogd" -c "$1/loghogd.conf" 2>"$1/stderr" &
    lpid=$!
    pids+=("$lpid")
    wait_for "$1/stderr" "loghogd started"
    lport=$(grep -oE 'proto=tcp addr=127.0.0.1:[0-9]+' "$1/stderr" | head -1 | cut -d: -f2 || true)
}

# start_nats NAME PORT [CLUSTER_PORT ROUTES]: a JetStream nats-server.
start_nats() {
    local name=$1 port=$2
    {
        printf 'server_name: %s\nlisten: 127.0.0.1:%s\nmax_payload: 8MB\n' "$name" "$port"
        mport=$(free_port)
        printf 'http: 127.0.0.1:%s\n' "$mport"
        printf 'jetstream {\n  store_dir: "%s"\n}\n' "$work/$name"
        if [ $# -gt 2 ]; then
            printf 'cluster {\n  name: bench\n  listen: 127.0.0.1:%s\n  routes: [%s]\n}\n' "$3" "$4"
        fi
    } >"$work/$name.conf"
    nats-server -c "$work/$name.conf" 2>"$work/$name.log" &
    pids+=($!)
    npids+=($!)
    wait_for "$work/$name.log" "Server is ready"
}

# run_bench NAME PORT FILE PIDS...: one `loghog bench` run, one table row.
run_bench() {
    local name=$1 port=$2 out=$3
    shift 3
    local before=() after p
    for p in "$@"; do before+=("$(cpu_ticks "$p")"); done
    result=$("$BIN/loghog" bench --host 127.0.0.1 --port "$port" --app bench \
        --hostname benchhost --connections "$CONNS" --messages "$MESSAGES" --size "$SIZE" \
        --wait-file "$out" --expect-lines "$MESSAGES" --wait-timeout 600 \
        ${SAMPLE:+--sample "$SAMPLE"} 2>&1)
    local cpus=() i=0
    for p in "$@"; do
        after=$(cpu_ticks "$p")
        cpus+=("$(awk -v t=$((after - before[i])) -v hz="$hz" -v m="$MESSAGES" 'BEGIN { printf "%.2f", t / hz / (m / 1e6) }')")
        i=$((i + 1))
    done
    local send e2e
    send=$(echo "$result" | awk -F': ' '$1 == "records/s" { print $2 }')
    e2e=$(echo "$result" | awk -F': ' '$1 == "end-to-end records/s" { print $2 }')
    printf '| %s | %s | %s | %s |\n' "$name" "$send" "$e2e" "${cpus[*]}"
    echo "$result" | sed 's/^/    /' >&2
}

echo "| setup | sent records/s | end-to-end records/s | CPU-s per M records (loghogd, then ingest archive nats...) |"
echo "| --- | --- | --- | --- |"

# Standalone.
loghogd_conf "$work/standalone"
start_loghogd "$work/standalone"
run_bench "standalone loghogd" "$lport" "$work/standalone/logs/bench/root.log" "$lpid"
kill -TERM "$lpid"; wait "$lpid" || true

# cluster_run NAME REPLICAS URLS NATS_PIDS...: 1 ingest + 1 archive node.
cluster_run() {
    local name=$1 replicas=$2 urls=$3
    shift 3
    local stream="BENCH$RANDOM"
    loghogd_conf "$work/$stream-archive" "nats = $urls" "role = archive" "name = archive" "stream = $stream" "replicas = $replicas"
    loghogd_conf "$work/$stream-ingest" "nats = $urls" "role = ingest" "name = ingest" "stream = $stream" "replicas = $replicas"
    start_loghogd "$work/$stream-archive"
    local apid=$lpid
    start_loghogd "$work/$stream-ingest"
    local ipid=$lpid iport=$lport
    wait_for "$work/$stream-archive/stderr" "archive consumer starting"
    run_bench "$name" "$iport" "$work/$stream-archive/logs/bench/root.log" "$ipid" "$apid" "$@"
    for p in "$@"; do
        echo "    nats-server $p peak RSS: $(awk '/VmHWM/ {print $2, $3}' "/proc/$p/status")" >&2
    done
    # How many messages carried the records (the stream's last sequence).
    curl -s "http://127.0.0.1:$mport/jsz?streams=true" | python3 -c '
import json, sys
seq = max((s["state"]["last_seq"] for a in json.load(sys.stdin).get("account_details", [])
           for s in a.get("stream_detail", []) if s["name"] == sys.argv[1]), default=0)
print(f"    messages: {seq} ({int(sys.argv[2]) / max(seq, 1):.0f} records each)")' "$stream" "$MESSAGES" >&2
    kill -TERM "$ipid" "$apid"; wait "$ipid" "$apid" || true
}

# One nats-server, replicas = 1.
npids=()
p=$(free_port)
start_nats solo "$p"
cluster_run "1 ingest + 1 archive, 1 nats-server (R1)" 1 "nats://127.0.0.1:$p" "${npids[@]}"
kill -TERM "${npids[@]}"; wait "${npids[@]}" || true

[ "${R3:-yes}" = no ] && exit 0
# Three nats-servers on this machine, replicas = 3.
npids=()
ports=() cports=()
for i in 0 1 2; do ports+=("$(free_port)"); cports+=("$(free_port)"); done
routes="nats-route://127.0.0.1:${cports[0]}, nats-route://127.0.0.1:${cports[1]}, nats-route://127.0.0.1:${cports[2]}"
for i in 0 1 2; do start_nats "n$i" "${ports[i]}" "${cports[i]}" "$routes"; done
cluster_run "1 ingest + 1 archive, 3 nats-servers (R3)" 3 \
    "nats://127.0.0.1:${ports[0]}, nats://127.0.0.1:${ports[1]}, nats://127.0.0.1:${ports[2]}" "${npids[@]}"
