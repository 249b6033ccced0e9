#!/usr/bin/env bash
# kill -9 during rotation and compression: scripts/kill9.sh [--kills N]
#                 [--direct-kills N] [--conns N] [--max-size BYTES] [--format F] [--seed N]
#
# 8 unpaced TCP connections send numbered records into one facility
# rotating every 512 KiB with xz compression; twenty times, once a
# compression is in progress, the daemon is killed with SIGKILL and
# restarted on the same configuration and directories; senders reconnect
# and go on numbering. The first ten kills are preceded by a snapshot: the
# daemon frozen (SIGSTOP) and the socket queues read from /proc/net/tcp, so
# that every record is known to have been read or not; the last ten are
# direct, so a write in progress can be cut by the kill. Then every file is
# read and each record accounted for: lost by the daemon (read, not
# written) at most one read per connection per snapshot kill (a read is at
# most 256 KiB, MAX_BUFFER in ingest/stream.rs), 0 corrupt archives, 0
# duplicates, 0 torn lines. Exits non-zero if a check fails. Runs
# scripts/kill9.py.
#
# LOGHOGD=/path/to/loghogd picks the binary; by default a release build.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/release-loghogd.sh
source scripts/release-loghogd.sh
exec python3 scripts/kill9.py "$LOGHOGD" "$@"
