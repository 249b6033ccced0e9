"""kill -9 a real loghogd repeatedly during rotation and compression under
load, restarting it each time on the same configuration and directories;
then read every file and account for every record.

v1 has no acknowledgements, so a sender cannot know what the daemon read.
The script measures it instead: just before each kill the daemon is frozen
(SIGSTOP, which a write in progress completes before it takes effect) and
the senders pause; then, for each connection, the bytes still in the
kernel (the client's send queue plus the daemon's receive queue, from
/proc/net/tcp) are subtracted from the bytes the sender handed to the
kernel. What is left is what the daemon had read. All frames have the same
size, so each record is known to be read or unread. After SIGKILL:

* a record the daemon had not read is lost in transport (v1 has no acks);
* a record it had read but not written is lost by the daemon: with
  flush_every = 1 this must be at most one read per connection, and one
  read is at most READ_MAX bytes (MAX_BUFFER in
  crates/daemon/src/ingest/stream.rs), i.e. READ_MAX // frame + 1 records.

Senders then reconnect to the restarted daemon and go on numbering. After
these kills come `--direct-kills` more without the snapshot: SIGKILL at
once, so that a write in progress can be cut (the kernel stops copying at a
page boundary when a fatal signal is pending); what the daemon had read is
then unknown. Checks, over all kills: lost-by-daemon within the bound at
every snapshot kill, 0 duplicates, 0 torn or malformed lines, every
archive decompresses fully, every record of the last (SIGTERM-stopped) run
present, and no record counted unread but written (which would mean the
accounting is wrong).

Usage: kill9.py LOGHOGD [--kills N] [--direct-kills N] [--conns N] [--max-size BYTES]
       [--format xz|gzip|bzip2] [--keep]
"""

import argparse
import os
import random
import select
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faultlib  # noqa: E402

APP = "crash"
PAD = 60
BATCH = 64  # frames built at a time
READ_MAX = 256 * 1024  # stream.rs MAX_BUFFER: the most one read takes


class Sender:
    """One numbered stream of records; a new TCP connection per daemon run
    (an epoch), with an exact count of the bytes the kernel accepted."""

    def __init__(self, name):
        self.name = name
        self.next = 0  # next record number to start
        self.epochs = []  # per run: dict(first, sent, unread, port)
        self.pause = threading.Event()
        self.paused = threading.Event()
        self.stop = threading.Event()
        self.sock = None
        self.pending = b""
        self.error = None

    def connect(self, addr):
        self.sock = socket.create_connection(addr, timeout=10)
        self.sock.setblocking(False)
        self.pending = b""
        self.epochs.append({"first": self.next, "sent": 0, "unread": None,
                            "port": self.sock.getsockname()[1]})

    def run(self, frame_size):
        while not self.stop.is_set():
            if self.pause.is_set() or self.sock is None:
                self.paused.set()
                time.sleep(0.01)
                continue
            self.paused.clear()
            if not self.pending:
                self.pending = faultlib.frames(APP, self.name, self.next, BATCH, PAD)
                self.next += BATCH
            try:
                _, w, _ = select.select([], [self.sock], [], 0.05)
                if not w:
                    continue
                n = self.sock.send(self.pending)
            except BlockingIOError:
                continue
            except OSError as e:
                self.error = str(e)
                self.pause.set()
                continue
            self.pending = self.pending[n:]
            self.epochs[-1]["sent"] += n
        self.paused.set()

    def end_epoch(self, frame_size):
        """After a kill: records begun but not fully sent are skipped, so
        the next epoch starts after the last frame the kernel got a byte
        of."""
        e = self.epochs[-1]
        started = -(-e["sent"] // frame_size)
        self.next = e["first"] + started
        self.pending = b""
        try:
            self.sock.close()
        except OSError:
            pass
        self.sock = None


def queues(port):
    """{(local port, remote port): tx_queue + rx_queue} from /proc/net/tcp."""
    out = {}
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            parts = line.split()
            local = int(parts[1].split(":")[1], 16)
            remote = int(parts[2].split(":")[1], 16)
            if port not in (local, remote):
                continue
            tx, rx = (int(x, 16) for x in parts[4].split(":"))
            out[(local, remote)] = tx + rx
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("loghogd")
    ap.add_argument("--kills", type=int, default=10)
    ap.add_argument("--conns", type=int, default=8)
    ap.add_argument("--max-size", type=int, default=512 * 1024)
    ap.add_argument("--format", default="xz", choices=["xz", "gzip", "bzip2"])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--direct-kills", type=int, default=10,
                    help="then this many kills with SIGKILL at once, without the SIGSTOP "
                         "snapshot: a write in progress can be cut by the kill, but what the "
                         "daemon had read is unknown (no per-read bound for these)")
    a = ap.parse_args()
    rng = random.Random(a.seed)

    root = tempfile.mkdtemp(prefix="loghog-kill9-")
    logdir = os.path.join(root, "logs")
    app_dir = os.path.join(logdir, APP)
    facilities = ("[%s]\nrotate = size\nmax_size = %d\nbackup_count = 100000\nflush_every = 1\n"
                  % (APP, a.max_size))
    d = faultlib.Daemon(a.loghogd, root, logdir, facilities, compressor="format = %s" % a.format)
    frame_size = len(faultlib.frames(APP, "s00", 0, 1, PAD))
    bound = READ_MAX // frame_size + 1
    modes = ["snapshot"] * a.kills + ["direct"] * a.direct_kills
    print("kill -9 x%d (%d after a SIGSTOP snapshot of the socket queues, %d direct), "
          "%d connections, frames of %d bytes, max_size %d, %s; bound: one read = %d bytes "
          "= at most %d records per connection per snapshot kill"
          % (len(modes), a.kills, a.direct_kills, a.conns, frame_size, a.max_size, a.format,
             READ_MAX, bound))

    senders = [Sender("s%02d" % i) for i in range(a.conns)]
    threads = [threading.Thread(target=s.run, args=(frame_size,), daemon=True) for s in senders]
    t0 = time.time()
    tcp, _ = d.start()
    for s in senders:
        s.connect(tcp)
    for t in threads:
        t.start()

    kills = []
    for mode in modes:
        direct = mode == "direct"
        # Load for 0.5-1.5 s, then wait (up to 3 s) for a compression in
        # progress (its temp file) so the kill lands during one.
        time.sleep(rng.uniform(0.5, 1.5))
        deadline = time.time() + 3
        compressing = False
        while time.time() < deadline:
            if any(n.endswith(".tmp") for n in os.listdir(app_dir)):
                compressing = True
                break
            time.sleep(0.005)
        if direct:
            d.kill9()
        else:
            d.signal(signal.SIGSTOP)
        for s in senders:
            s.pause.set()
        for s in senders:
            s.paused.wait(10)
        time.sleep(0.3)  # loopback settles: every byte sent is in a queue
        q = queues(tcp[1])
        rotated = sum(1 for n in os.listdir(app_dir) if faultlib.ROTATED.match(n))
        if not direct:
            d.kill9()
        for s in senders:
            e = s.epochs[-1]
            if direct:  # unknown: all counted unread
                e["unread"] = e["sent"]
            else:
                e["unread"] = q.get((e["port"], tcp[1]), 0) + q.get((tcp[1], e["port"]), 0)
            s.end_epoch(frame_size)
        kills.append({"compressing": compressing, "rotated_files": rotated})
        tcp, _ = d.start()
        for s in senders:
            s.connect(tcp)
            s.error = None
            s.pause.clear()

    time.sleep(2)  # a last run, stopped cleanly
    for s in senders:
        s.pause.set()
    for s in senders:
        s.paused.wait(10)
    for s in senders:
        e = s.epochs[-1]
        e["unread"] = 0
        s.sock.close()
    for s in senders:
        s.stop.set()
    status = d.stop()
    secs = time.time() - t0

    c = faultlib.Check(app_dir)
    per_conn = c.per_conn()
    dup = sum(v[1] for v in per_conn.values())
    breaks = sum(v[2] for v in per_conn.values())
    per_kill_daemon = [[] for _ in modes]
    per_kill_transport = [0] * len(modes)
    written_unread = 0
    last_run_lost = 0
    total_sent = 0
    for s in senders:
        found = per_conn.get(s.name, (set(), 0, 0))[0]
        for i, e in enumerate(s.epochs):
            whole = e["sent"] // frame_size
            read = (e["sent"] - e["unread"]) // frame_size
            total_sent += whole
            missing_read = sum(1 for n in range(e["first"], e["first"] + read) if n not in found)
            missing_unread = sum(1 for n in range(e["first"] + read, e["first"] + whole) if n not in found)
            if i < len(modes) and modes[i] == "snapshot":
                written_unread += (whole - read) - missing_unread
            if i < len(modes):
                per_kill_daemon[i].append(missing_read)
                per_kill_transport[i] += missing_unread
            else:
                last_run_lost += missing_read + missing_unread
    found_total = sum(len(v[0]) for v in per_conn.values())

    print("ran %.1f s; %d records sent whole, %d found" % (secs, total_sent, found_total))
    print("(a direct kill has no snapshot: each record it lost is counted in the last column)")
    print("kill  mode      during-compression  rotated-files  lost-by-daemon (total, max per conn)"
          "  unread-in-kernel")
    worst = 0
    for i, kinfo in enumerate(kills):
        lost = per_kill_daemon[i]
        if modes[i] == "snapshot":
            worst = max(worst, max(lost))
            by_daemon = "%14d, %-6d" % (sum(lost), max(lost))
        else:
            by_daemon = "%14s  %-6s" % ("-", "-")
        print("%4d  %-8s  %18s  %13d  %s                       %d"
              % (i + 1, modes[i], "yes" if kinfo["compressing"] else "no", kinfo["rotated_files"],
                 by_daemon, per_kill_transport[i]))
    archives = [n for n in c.files if os.path.splitext(n)[1] in faultlib.DECOMPRESS]
    print("files: %d (%d archives), temp archives left: %d; corrupt archives: %d"
          % (len(c.files), len(archives), len(c.temps), len(c.corrupt)))
    for e in c.corrupt[:5]:
        print("  ", e)
    print("lost by the daemon: %d in all, worst %d on one connection at one kill (bound %d)"
          % (sum(map(sum, per_kill_daemon)), worst, bound))
    print("unread (or, for direct kills, unknown), lost in transport: %d; written though counted unread: %d; lost in the last, "
          "SIGTERM-stopped run: %d" % (sum(per_kill_transport), written_unread, last_run_lost))
    print("duplicates %d, out of order %d, torn or malformed lines %d; exit status %s"
          % (dup, breaks, len(c.torn), status))
    for t in c.torn[:5]:
        print("  torn:", t)
    ok = (worst <= bound and dup == 0 and breaks == 0 and not c.torn and not c.corrupt
          and written_unread == 0 and last_run_lost == 0 and status == 0 and archives)
    print("KILL9 %s" % ("PASSED" if ok else "FAILED"))
    if ok and not a.keep:
        shutil.rmtree(root, ignore_errors=True)
    else:
        print("files kept in", root)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
