#!/bin/sh
# Reading archives: `loghog cat` against `xzcat | cat`, and `loghog grep`
# against `xzgrep`, over the same xz archives of generated log lines.
# Usage: scripts/bench-read.sh [MiB per archive] [archives] [xz level]
# Needs a release build of loghog (cargo build --release -p loghog-cli).
set -eu
MB=${1:-50}
N=${2:-4}
LEVEL=${3:-6}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LOGHOG=${LOGHOG:-$ROOT/target/release/loghog}
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
mkdir -p "$DIR/logs/bench"
python3 - "$DIR/logs/bench" "$MB" "$N" <<'PY'
import datetime, random, sys
out, mb, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
random.seed(1)
t = datetime.datetime(2026, 11, 30)
words = ("request served user login timeout database query cache miss hit "
         "GET POST /api/v1/items status 200 404 500 latency ms").split()
for _ in range(n):
    with open(f"{out}/root.log.{t:%Y-%m-%d-%H-%M-%S-%f}", "w") as f:
        size = 0
        while size < mb << 20:
            t += datetime.timedelta(microseconds=1700)
            if random.random() < 0.002:
                body = 'ERROR - failed\nTraceback (most recent call last):\n  File "app.py", line 1\nValueError: bad'
            else:
                body = "INFO - " + " ".join(random.choice(words) for _ in range(random.randint(8, 30)))
            line = f"{t:%Y-%m-%d %H:%M:%S.%f} - web{random.randint(1, 9)} - {body}\n"
            f.write(line)
            size += len(line)
PY
# One thread, one block: what loghogd's encoder writes.
for f in "$DIR"/logs/bench/root.log.*; do xz -"$LEVEL" -T1 "$f"; done
du -sh "$DIR/logs/bench"
t() { printf '%-45s' "$1"; shift; /usr/bin/time -f '%e s elapsed, %U s user, %S s sys' sh -c "$*" >/dev/null; }
for run in 1 2 3; do
    echo "run $run"
    t "xzcat | cat" "xzcat $DIR/logs/bench/root.log.*.xz | cat"
    t "loghog cat" "$LOGHOG cat bench --logdir $DIR/logs | cat"
    t "xzgrep ValueError" "xzgrep ValueError $DIR/logs/bench/root.log.*.xz"
    t "loghog grep ValueError" "$LOGHOG grep ValueError bench --logdir $DIR/logs"
    t "xzgrep -c -i 'LATENCY.*500'" "xzgrep -c -i 'LATENCY.*500' $DIR/logs/bench/root.log.*.xz"
    t "loghog grep -c -i 'LATENCY.*500'" "$LOGHOG grep -c -i 'LATENCY.*500' bench --logdir $DIR/logs"
done
