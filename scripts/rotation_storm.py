"""Rotation storm against a real loghogd: numbered records over many TCP
connections into one size-rotated, compressed facility, with SIGHUPs
(reopen every file) spread over the run; then every live and rotated file
is read back (decompressed) and checked: nothing lost, nothing doubled,
each connection's order kept, no file over max_size + one record.

Usage: rotation_storm.py LOGHOGD [--records N] [--conns N] [--hups N]
       [--max-size BYTES] [--format xz|gzip|bzip2] [--level 0-9] [--keep]
Exit status 0 when every check holds, 1 otherwise.
"""

import argparse
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faultlib  # noqa: E402

APP = "storm"
PAD = 20  # lines of 80 to 280 bytes (PAD + 0..VARY x's)
VARY = 200
BATCH = 200  # frames per sendall


def sender(addr, conn, first, count, seconds, progress, errors):
    """Sends records `first`..`first+count-1` of connection `conn`, paced
    evenly over `seconds` (the daemon keeps up, so the SIGHUPs, spaced in
    time, land while records are being written, not after)."""
    try:
        s = socket.create_connection(addr, timeout=120)
        n = first
        end = first + count
        t0 = time.time()
        while n < end:
            ahead = t0 + seconds * (n - first) / count - time.time()
            if ahead > 0:
                time.sleep(ahead)
            k = min(BATCH, end - n)
            s.sendall(faultlib.frames(APP, conn, n, k, PAD, vary=VARY))
            n += k
            progress[conn] = n - first
        s.close()
    except OSError as e:
        errors.append("%s: %s" % (conn, e))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("loghogd")
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--conns", type=int, default=16)
    ap.add_argument("--hups", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=30, help="spread the sending over this long")
    ap.add_argument("--max-size", type=int, default=1_000_000)
    ap.add_argument("--format", default="xz", choices=["xz", "gzip", "bzip2"])
    ap.add_argument("--level", type=int, default=6)
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    a = ap.parse_args()

    root = tempfile.mkdtemp(prefix="loghog-storm-")
    logdir = os.path.join(root, "logs")
    facilities = "[%s]\nrotate = size\nmax_size = %d\nbackup_count = 100000\n" % (APP, a.max_size)
    d = faultlib.Daemon(
        a.loghogd, root, logdir, facilities,
        compressor="format = %s\nlevel = %d" % (a.format, a.level),
    )
    tcp, _ = d.start()
    print("loghogd %s on %s:%d, dir %s" % (a.loghogd, tcp[0], tcp[1], root))
    print("%d records over %d TCP connections, %d SIGHUPs, max_size %d, %s level %d"
          % (a.records, a.conns, a.hups, a.max_size, a.format, a.level))

    per = [a.records // a.conns + (1 if i < a.records % a.conns else 0) for i in range(a.conns)]
    conns = ["c%02d" % i for i in range(a.conns)]
    progress = {c: 0 for c in conns}
    errors = []
    t0 = time.time()
    threads = [
        threading.Thread(target=sender, args=(tcp, c, 0, per[i], a.seconds, progress, errors))
        for i, c in enumerate(conns)
    ]
    for t in threads:
        t.start()
    # SIGHUPs evenly spaced over the sending.
    hups = 0
    hup_at = []
    while any(t.is_alive() for t in threads):
        while hups < a.hups and time.time() - t0 >= a.seconds * (hups + 1) / (a.hups + 1):
            d.signal(signal.SIGHUP)
            hups += 1
            hup_at.append(sum(progress.values()))
        time.sleep(0.01)
    for t in threads:
        t.join()
    while hups < a.hups:  # a run too short to space them: send the rest now
        d.signal(signal.SIGHUP)
        hups += 1
    send_secs = time.time() - t0

    # Let the archiver finish: no rotated file left uncompressed, no temp.
    app_dir = os.path.join(logdir, APP)
    deadline = time.time() + 300
    while time.time() < deadline:
        names = set(os.listdir(app_dir))
        plain = [n for n in names
                 if faultlib.ROTATED.match(n) and not faultlib.ROTATED.match(n).group("ext")]
        if not plain and not any(n.endswith(".tmp") for n in names):
            break
        time.sleep(0.2)
    status = d.stop()
    total_secs = time.time() - t0

    c = faultlib.Check(app_dir)
    lost = dup = breaks = unexpected = 0
    per_conn = c.per_conn()
    for i, conn in enumerate(conns):
        found, dups, brk = per_conn.get(conn, (set(), 0, 0))
        want = set(range(per[i]))
        lost += len(want - found)
        unexpected += len(found - want)
        dup += dups
        breaks += brk
    archives = [s for s in c.sizes if os.path.splitext(s[0])[1] in faultlib.DECOMPRESS]
    plain_rotated = [s for s in c.sizes
                     if faultlib.ROTATED.match(s[0]) and s not in archives]
    longest = max((s[3] for s in c.sizes), default=0)
    limit = a.max_size + longest
    over_limit = [s for s in c.sizes if s[1] > limit]
    over_max = [s for s in c.sizes if s[1] > a.max_size and s[2] > 1]
    biggest = max((s[1] for s in c.sizes), default=0)
    smallest_rotated = min((s[1] for s in c.sizes if faultlib.ROTATED.match(s[0])), default=0)
    rotations = d.log_text().count("rotated")

    print("sent: %d records (frames of %d to %d bytes) in %.1f s; %d SIGHUPs; send errors: %d"
          % (sum(per), len(faultlib.frames(APP, "c00", 0, 1, PAD)),
             len(faultlib.frames(APP, "c00", 0, 1, PAD + VARY)), send_secs, hups, len(errors)))
    for e in errors[:5]:
        print("  send error:", e)
    print("SIGHUPs sent after %s records" % ", ".join(map(str, hup_at)))
    print("files: %d (%d compressed archives, %d rotated left plain, %d live), temp archives left: %d"
          % (len(c.files), len(archives), len(plain_rotated),
             len(c.sizes) - len(archives) - len(plain_rotated), len(c.temps)))
    print("sizes (decompressed): largest %d bytes, smallest rotated %d, longest line %d; "
          "over max_size + one record (%d): %d; over max_size with more than one line: %d"
          % (biggest, smallest_rotated, longest, limit, len(over_limit), len(over_max)))
    print("corrupt archives: %d" % len(c.corrupt))
    for e in c.corrupt[:5]:
        print("  ", e)
    print("records: lost %d, duplicated %d, out of order %d, unexpected %d, torn or malformed lines %d"
          % (lost, dup, breaks, unexpected, len(c.torn)))
    for t in c.torn[:5]:
        print("  torn:", t)
    print("exit status %s; %.1f s in all (internal log: %d lines mentioning rotation)"
          % (status, total_secs, rotations))
    ok = (not errors and lost == 0 and dup == 0 and breaks == 0 and unexpected == 0
          and not c.torn and not c.corrupt and not over_limit and not over_max
          and status == 0 and len(archives) > 0)
    print("ROTATION STORM %s" % ("PASSED" if ok else "FAILED"))
    if ok and not a.keep:
        shutil.rmtree(root, ignore_errors=True)
    else:
        print("files kept in", root)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
