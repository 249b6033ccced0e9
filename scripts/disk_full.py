"""Disk full, then space freed, against a real loghogd whose logdir is a
small tmpfs (mounted by scripts/disk-full.sh): numbered records over TCP
and UDP into one size-rotated facility until the disk fills, on for a while
with the disk full, then the filler file is deleted and more is sent; the
daemon is stopped with SIGTERM and every file read back.

Checks: 0 torn or malformed lines, 0 duplicates, each connection's order
kept, no TCP record lost (TCP is pushed back, not dropped), and every lost
UDP record counted: in the daemon's internal log (the total it logs at
shutdown, `records_lost=N`, which must equal what the loss lines add up to:
the records on each logged line plus the `records=` of the lines the rate
limit held back) or by the kernel (UDP receive-buffer errors,
/proc/net/snmp).

Usage: disk_full.py LOGHOGD MOUNTPOINT [--free MB] [--full-secs S]
       [--after-secs S] [--keep]
"""

import argparse
import os
import re
import shutil
import socket
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faultlib  # noqa: E402

APP = "full"
TCP_PAD = 60
UDP_PAD = 900  # bigger datagrams reach the 64 MiB pending limit sooner


def udp_rcvbuf_errors():
    with open("/proc/net/snmp") as f:
        rows = [line.split() for line in f if line.startswith("Udp:")]
    return int(rows[1][rows[0].index("RcvbufErrors")])


class TcpSender(threading.Thread):
    """Sends numbered records at `rate` a second; non-blocking, so a daemon
    that pushes back only slows it down. `sent` counts whole frames the
    kernel took."""

    def __init__(self, addr, name, rate):
        super().__init__(daemon=True)
        self.sock = socket.create_connection(addr, timeout=10)
        self.sock.setblocking(False)
        self.name_ = name
        self.rate = rate
        self.n = 0
        self.bytes = 0
        self.frame_size = len(faultlib.frames(APP, name, 0, 1, TCP_PAD))
        self.stop = threading.Event()
        self.error = None

    def run(self):
        t0 = time.time()
        pending = b""
        while not self.stop.is_set():
            if not pending:
                due = int((time.time() - t0) * self.rate) - self.n
                if due <= 0:
                    time.sleep(0.005)
                    continue
                k = min(due, 200)
                pending = faultlib.frames(APP, self.name_, self.n, k, TCP_PAD)
                self.n += k
            try:
                sent = self.sock.send(pending)
            except BlockingIOError:
                time.sleep(0.01)
                continue
            except OSError as e:
                self.error = str(e)
                return
            pending = pending[sent:]
            self.bytes += sent
        # Finish the frame in progress so that no partial frame is left.
        deadline = time.time() + 30
        while pending and time.time() < deadline:
            try:
                sent = self.sock.send(pending)
                pending = pending[sent:]
                self.bytes += sent
            except BlockingIOError:
                time.sleep(0.01)
        self.sock.close()

    def whole(self):
        return self.bytes // self.frame_size


class UdpSender(threading.Thread):
    """Numbered records, one a datagram, at `rate` a second."""

    def __init__(self, addr, name, rate):
        super().__init__(daemon=True)
        self.addr = addr
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.name_ = name
        self.rate = rate
        self.n = 0
        self.errors = 0
        self.stop = threading.Event()

    def run(self):
        t0 = time.time()
        while not self.stop.is_set():
            due = int((time.time() - t0) * self.rate) - self.n
            if due <= 0:
                time.sleep(0.002)
                continue
            for _ in range(min(due, 500)):
                f = faultlib.frames(APP, self.name_, self.n, 1, UDP_PAD)
                try:
                    self.sock.sendto(f, self.addr)
                except OSError:
                    self.errors += 1  # never reached the daemon: not its loss
                    self.n += 1
                    continue
                self.n += 1


def daemon_counts(text):
    """The daemon's own account of lost records: the total it logs at
    shutdown, what its loss lines add up to (records on each logged line,
    plus the records of lines the rate limit held back), the count of lines
    by reason, and the held-back lines by reason."""
    total = max((int(x) for x in re.findall(r"records_lost=(\d+)", text)), default=0)
    summed = 0
    for m in re.finditer(r"ERROR .*?records=(\d+) .*?records dropped: ", text):
        summed += int(m.group(1))
    for m in re.finditer(r"reason=queue_full writer queue full: (\d+) datagram records dropped", text):
        summed += int(m.group(1))
    held_back = {}
    for m in re.finditer(r"reason=(\w+) suppressed=(\d+) records=(\d+) \d+ more records dropped", text):
        held_back[m.group(1)] = held_back.get(m.group(1), 0) + int(m.group(3))
        summed += int(m.group(3))
    reasons = {}
    for r in re.findall(r"reason=(\w+)", text):
        reasons[r] = reasons.get(r, 0) + 1
    return total, summed, reasons, held_back


def free_bytes(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("loghogd")
    ap.add_argument("mount")
    ap.add_argument("--free", type=float, default=4, help="MB left free beside the filler")
    ap.add_argument("--full-secs", type=float, default=10, help="how long to go on with the disk full")
    ap.add_argument("--after-secs", type=float, default=5, help="how long to send once space is freed")
    ap.add_argument("--tcp", type=int, default=4, help="TCP connections")
    ap.add_argument("--tcp-rate", type=int, default=5000, help="records a second per connection")
    ap.add_argument("--udp-rate", type=int, default=20000, help="datagrams a second")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()

    root = tempfile.mkdtemp(prefix="loghog-diskfull-")
    logdir = a.mount
    st = os.statvfs(logdir)
    size = st.f_blocks * st.f_frsize
    filler = os.path.join(logdir, "filler")
    with open(filler, "wb") as f:
        f.write(b"\0" * int(size - a.free * 1e6))
    facilities = "[%s]\nrotate = size\nmax_size = 1000000\nbackup_count = 100000\n" % APP
    d = faultlib.Daemon(a.loghogd, root, logdir, facilities, compressor="format = gzip")
    tcp, udp = d.start()
    print("tmpfs %s of %.1f MB, filler leaves %.1f MB free; daemon dir %s"
          % (logdir, size / 1e6, free_bytes(logdir) / 1e6, root))
    kernel0 = udp_rcvbuf_errors()
    t0 = time.time()
    senders = [TcpSender(tcp, "t%02d" % i, a.tcp_rate) for i in range(a.tcp)]
    udps = UdpSender(udp, "u00", a.udp_rate)
    for s in senders + [udps]:
        s.start()

    # Phase 1: until the disk is full (the daemon says so, or no space left).
    deadline = time.time() + 60
    while time.time() < deadline:
        if "No space left" in d.log_text() or free_bytes(logdir) < 64 * 1024:
            break
        time.sleep(0.05)
    full_at = time.time() - t0
    marks = [udps.n]  # UDP numbers at each phase boundary
    print("disk full after %.1f s (%d TCP and %d UDP records sent)"
          % (full_at, sum(s.n for s in senders), udps.n))
    # Phase 2: on with the disk full.
    time.sleep(a.full_secs)
    during = (sum(s.whole() for s in senders), udps.n, dict(daemon_counts(d.log_text())[2]))
    print("after %.0f s more of full disk: %d TCP records taken by the kernel (pushed back), "
          "%d UDP sent; internal log reasons so far: %s"
          % (a.full_secs, during[0], during[1], during[2]))
    # Phase 3: free space, send more.
    marks.append(udps.n)
    os.unlink(filler)
    print("filler deleted: %.1f MB free" % (free_bytes(logdir) / 1e6))
    time.sleep(a.after_secs)
    udps.stop.set()
    marks.append(udps.n)
    for s in senders:
        s.stop.set()
    for s in senders + [udps]:
        s.join(60)
    time.sleep(2)  # datagrams in flight reach the daemon
    status = d.stop()
    secs = time.time() - t0
    kernel_drops = udp_rcvbuf_errors() - kernel0

    c = faultlib.Check(logdir + "/" + APP)
    per_conn = c.per_conn()
    dup = sum(v[1] for v in per_conn.values())
    breaks = sum(v[2] for v in per_conn.values())
    tcp_lost = 0
    tcp_sent = 0
    for s in senders:
        found = per_conn.get(s.name_, (set(), 0, 0))[0]
        tcp_sent += s.whole()
        tcp_lost += sum(1 for n in range(s.whole()) if n not in found)
    ufound = per_conn.get("u00", (set(), 0, 0))[0]
    udp_lost = sum(1 for n in range(udps.n) if n not in ufound) - udps.errors
    bounds = [0] + marks
    phases = ["before the disk filled", "with the disk full", "after freeing"]
    by_phase = [sum(1 for n in range(lo, hi) if n not in ufound)
                for lo, hi in zip(bounds, bounds[1:])]
    text = d.log_text()
    counted, summed, reasons, held_back = daemon_counts(text)
    print("ran %.1f s; TCP: %d sent, %d lost; UDP: %d sent (%d send errors), %d lost"
          % (secs, tcp_sent, tcp_lost, udps.n, udps.errors, udp_lost))
    print("UDP lost by phase: %s" % ", ".join(
        "%s %d of %d" % (p, n, hi - lo) for p, n, lo, hi in zip(phases, by_phase, bounds, bounds[1:])))
    print("counted: %d by the daemon (its total at shutdown; its loss lines add up to %d), "
          "%d by the kernel (UDP receive-buffer errors, whole machine)" % (counted, summed, kernel_drops))
    print("records of loss lines held back by the rate limit, reported with their counts: %s"
          % (held_back or "none"))
    print("internal log lines by reason: %s" % ", ".join("%s %d" % kv for kv in sorted(reasons.items())))
    print("files: %d, temp archives left %d, corrupt archives %d"
          % (len(c.files), len(c.temps), len(c.corrupt)))
    print("torn or malformed lines %d, duplicates %d, out of order %d; exit status %s"
          % (len(c.torn), dup, breaks, status))
    for t in c.torn[:5]:
        print("  torn:", t)
    send_errors = [s.error for s in senders if s.error]
    for e in send_errors:
        print("  TCP send error:", e)
    uncounted = udp_lost + tcp_lost - counted - kernel_drops
    ok = (not c.torn and dup == 0 and breaks == 0 and not c.corrupt and tcp_lost == 0
          and uncounted <= 0 and summed == counted and status == 0 and not send_errors)
    if summed != counted:
        print("MISMATCH: the loss lines add up to %d, the total says %d" % (summed, counted))
    if uncounted > 0:
        print("UNCOUNTED: %d lost records appear in no count" % uncounted)
    print("DISK FULL %s" % ("PASSED" if ok else "FAILED"))
    if ok and not a.keep:
        shutil.rmtree(root, ignore_errors=True)
    else:
        print("daemon dir kept in", root)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
