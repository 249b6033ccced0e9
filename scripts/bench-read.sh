#!/bin/sh
# Reading archives: `loghog cat` against `xzcat | cat`, and `loghog grep`
# against `xzgrep`, over the same xz archives of generated log lines.
# Usage: scripts/bench-read.sh [MiB per archive] [archives] [xz level] [runs]
#   scripts/bench-read.sh 50 4 1      # 200 MiB of lines
#   scripts/bench-read.sh 50 20 1     # 1000 MiB (about 1 GB), as issue 13 asks
# Environment: LOGHOG (the binary; default target/release/loghog), DATA (a
# directory to keep the archives in and reuse on the next run with the same
# sizes; default a temporary one), JOBS (xz processes compressing at once).
# Needs a release build of loghog (cargo build --release -p loghog-cli).
set -eu
MB=${1:-50}
N=${2:-4}
LEVEL=${3:-6}
RUNS=${4:-3}
JOBS=${JOBS:-1}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LOGHOG=${LOGHOG:-$ROOT/target/release/loghog}
if [ -n "${DATA:-}" ]; then
    DIR=$DATA
    mkdir -p "$DIR"
else
    DIR=$(mktemp -d)
    trap 'rm -rf "$DIR"' EXIT
fi
ARCH=$DIR/logs/bench
STAMP="$MB MiB x $N, xz -$LEVEL"
if [ "$(cat "$DIR/made" 2>/dev/null || true)" != "$STAMP" ]; then
    rm -rf "$DIR/logs" "$DIR/made"
    mkdir -p "$ARCH"
    # Lines in the daemon's format, in files named as the daemon names
    # rotated files; bodies of 8 to 30 words from nine hosts, and a
    # three-line traceback every 500 records or so.
    python3 - "$ARCH" "$MB" "$N" <<'PY'
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
    # One thread, one block per file: what loghogd's encoder writes.
    ls "$ARCH"/root.log.* | xargs -P "$JOBS" -n 1 xz -"$LEVEL" -T1
    echo "$STAMP" > "$DIR/made"
fi
FILES=$(ls "$ARCH"/root.log.*.xz | tr "\n" " ")
[ -x "$LOGHOG" ] || { echo "no $LOGHOG: cargo build --release -p loghog-cli" >&2; exit 1; }
echo "archives: $N, $(du -sh "$ARCH" | cut -f1) compressed, $(xz -l --robot $FILES | awk '/^totals/ {printf "%.0f MiB", $5 / 1048576}') of lines (xz -$LEVEL)"
echo "loghog: $LOGHOG; $(xz --version | head -1); $(nproc) CPUs; load $(cut -d' ' -f1-3 /proc/loadavg)"

# Same output: loghog cat prints exactly what xzcat prints.
a=$(xzcat $FILES | md5sum | cut -d' ' -f1)
b=$("$LOGHOG" cat bench --logdir "$DIR/logs" | md5sum | cut -d' ' -f1)
[ "$a" = "$b" ] && echo "loghog cat output = xzcat output (md5 $a)" || { echo "OUTPUT DIFFERS: xzcat $a, loghog cat $b" >&2; exit 1; }
echo "matches: xzgrep -c ValueError: $(xzgrep -h -c ValueError $FILES | awk '{ s += $1 } END { print s }'), loghog grep -c ValueError: $("$LOGHOG" grep -c ValueError bench --logdir "$DIR/logs")"

# The middle of the whole range, for a --since/--until window.
FIRST=$(ls "$ARCH" | head -1 | sed -E 's/root\.log\.([0-9]{4})-([0-9]{2})-([0-9]{2})-([0-9]{2})-([0-9]{2}).*/\1-\2-\3 \4:\5/')
t() { printf '%-52s' "$1"; shift; /usr/bin/time -f '%e s elapsed, %U s user, %S s sys' sh -c "$*" >/dev/null; }
run=1
while [ "$run" -le "$RUNS" ]; do
    echo "run $run"
    t "xzcat | cat" "xzcat $FILES | cat"
    t "loghog cat | cat" "$LOGHOG cat bench --logdir $DIR/logs | cat"
    t "xzgrep ValueError" "xzgrep ValueError $FILES"
    t "loghog grep ValueError" "$LOGHOG grep ValueError bench --logdir $DIR/logs"
    t "xzgrep -c -i 'LATENCY.*500'" "xzgrep -c -i 'LATENCY.*500' $FILES"
    t "loghog grep -c -i 'LATENCY.*500'" "$LOGHOG grep -c -i 'LATENCY.*500' bench --logdir $DIR/logs"
    t "loghog cat --since FIRST --until FIRST+1h | cat" "$LOGHOG cat bench --logdir $DIR/logs --since '$FIRST' --until \"\$(date -d '$FIRST 1 hour' '+%F %R')\" | cat"
    run=$((run + 1))
done
