#!/usr/bin/env python3
"""Bounded soak of a real loghogd: sequence-numbered good records interleaved
with mutated frames over several TCP connections and UDP, then a check that
every good record is in the files exactly once and the daemon still runs.

Usage: soak.py LOGHOGD_BINARY SECONDS [--seed N]. Exit status 0 only if
nothing good was lost, doubled or torn and the daemon survived and stopped
cleanly. Mutations that break the framing (corrupt length, truncated frame,
flipped header bits, garbage) go on short-lived connections of their own,
after a few good records, and over UDP: on a stream, a corrupt length
rightly takes the following bytes with it.
"""

import argparse
import collections
import os
import random
import re
import shutil
import socket
import struct
import sys
import threading
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from loghogd_run import FLAG_ZLIB, Daemon, frame, message, payload_of, sign  # noqa: E402

SECRET = "soak-secret"
MAX_MESSAGE = 65536
TCP_CONNECTIONS = 4
FACILITIES = """\
[soak]
rotate = daily
backup_count = 3

[soak:web]
rotate = size
max_size = 2000000
backup_count = 1000

[soak-signed]
rotate = daily
backup_count = 3
secret = soak-secret
"""
GOOD_RE = re.compile(r"GOOD ([a-z0-9]+)-(\d+)\b")
LINE_RE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} - \S+ - GOOD ")
ZIP_BOMB = zlib.compress(b" " * (8 << 20), 9)


class Tally:
    """Thread-safe counters and the set of good records sent."""

    def __init__(self):
        self.lock = threading.Lock()
        self.counts = collections.Counter()
        self.sent = set()
        self.errors = []

    def add(self, key, n=1):
        with self.lock:
            self.counts[key] += n

    def sent_goods(self, ids, transport):
        with self.lock:
            self.sent.update(ids)
            self.counts["good_" + transport] += len(ids)

    def error(self, what):
        with self.lock:
            self.errors.append(what)


def flip(rng, data, bits):
    data = bytearray(data)
    for _ in range(bits):
        i = rng.randrange(len(data))
        data[i] ^= 1 << rng.randrange(8)
    return bytes(data)


def good_frame(rng, stream, seq):
    app = rng.choice(["soak", "soak", "soak-signed"])
    module = rng.choice(["", "web", "web.requests", "root.db"])
    extra = rng.choice(["", "ünïcode ☃ 𝄞", "multi\nline\ttraceback", "x" * rng.randint(1, 2000)])
    msg = message(app, module, "GOOD %s-%d %s" % (stream, seq, extra), rng.choice(["soak-host", None]))
    if app == "soak-signed":
        msg["signature"] = sign(SECRET, msg)
    payload = payload_of(msg)
    if rng.random() < 0.3:
        return frame(zlib.compress(payload), FLAG_ZLIB)
    return frame(payload)


def mutant_payload(rng, app="soak"):
    body = "MUTANT %d %s" % (rng.randrange(1 << 30), "y" * rng.randint(0, 500))
    return payload_of(message(app, rng.choice(["", "web"]), body))


def mutant_in_stream(rng):
    """A bad frame whose header is intact: the stream stays in step."""
    kind = rng.choice(
        ["bitflip", "bad_json", "truncated_payload", "bad_zlib", "wrong_app", "bad_flags", "bad_signature", "oversize"]
    )
    base = mutant_payload(rng)
    if kind == "bitflip":
        return kind, frame(flip(rng, base, rng.randint(1, 4)))
    if kind == "bad_json":
        msg = message("soak", "", "MUTANT json")
        choice = rng.randrange(7)
        if choice == 0:
            p = os.urandom(rng.randint(0, 200))
        elif choice == 1:
            p = b"[1, 2, 3]"
        elif choice == 2:
            p = b'"MUTANT string"'
        elif choice == 3:
            del msg["stamp"]
            p = payload_of(msg)
        elif choice == 4:
            msg["nsecs"] = "soon"
            p = payload_of(msg)
        elif choice == 5:
            p = b'{"app_id": "soak", "body": "MUTANT \xff\xfe"}'
        else:
            p = b"{" * rng.randint(1, 5000)
        return kind, frame(p)
    if kind == "truncated_payload":
        return kind, frame(base[: rng.randrange(len(base))])
    if kind == "bad_zlib":
        z = zlib.compress(base)
        p = rng.choice([os.urandom(rng.randint(1, 300)), z[: -rng.randint(1, 8)], flip(rng, z, 2), ZIP_BOMB])
        return kind, frame(p, FLAG_ZLIB)
    if kind == "wrong_app":
        return kind, frame(mutant_payload(rng, "no-such-app"))
    if kind == "bad_flags":
        return kind, frame(base, rng.choice([0x02, 0x03, 0x80, 0x80000000]))
    if kind == "bad_signature":
        msg = message("soak-signed", "", "MUTANT signed")
        if rng.random() < 0.5:
            msg["signature"] = "0" * 32
        return kind, frame(payload_of(msg))
    # oversize: a whole frame past max_message_size, skipped unbuffered
    return kind, frame(b"z" * (MAX_MESSAGE + rng.randint(1, 5000)))


def mutant_breaking(rng):
    """A bad frame that breaks the framing of whatever follows it."""
    kind = rng.choice(["length_corrupt", "truncated_frame", "bitflip_header", "garbage"])
    f = frame(mutant_payload(rng))
    if kind == "length_corrupt":
        n = len(f) - 8
        bad = rng.choice([0, 1, n - 1, n + 1, n + 1000, MAX_MESSAGE + 1, 0xFFFFFFFF, rng.randrange(1 << 32)])
        return kind, struct.pack(">I", bad) + f[4:]
    if kind == "truncated_frame":
        return kind, f[: rng.randint(1, len(f) - 1)]
    if kind == "bitflip_header":
        return kind, flip(rng, f[:8], rng.randint(1, 3)) + f[8:]
    return kind, os.urandom(rng.randint(1, 300))


def tcp_sender(daemon, tally, stop, stream, seed):
    """One long-lived connection (reconnecting now and then): batches of
    good records and in-stream mutants."""
    rng = random.Random(seed)
    seq = 0
    batches = 0
    sock = socket.create_connection(daemon.tcp)
    try:
        while not stop.is_set():
            batch, ids = [], []
            for _ in range(50):
                if rng.random() < 0.6:
                    batch.append(good_frame(rng, stream, seq))
                    ids.append((stream, seq))
                    seq += 1
                else:
                    kind, f = mutant_in_stream(rng)
                    batch.append(f)
                    tally.add("mutant_" + kind)
            try:
                sock.sendall(b"".join(batch))
            except OSError as e:
                tally.error("%s: send failed: %s" % (stream, e))
                return
            tally.sent_goods(ids, "tcp")
            batches += 1
            if batches % 200 == 0:
                sock.close()
                sock = socket.create_connection(daemon.tcp)
                tally.add("tcp_reconnects")
            time.sleep(0.01)
    finally:
        sock.close()


def breaking_sender(daemon, tally, stop, seed):
    """Short connections: a few good records, then a frame that breaks the
    framing, then close."""
    rng = random.Random(seed)
    seq = 0
    while not stop.is_set():
        try:
            with socket.create_connection(daemon.tcp) as sock:
                ids, data = [], b""
                for _ in range(rng.randint(0, 5)):
                    data += good_frame(rng, "x", seq)
                    ids.append(("x", seq))
                    seq += 1
                kind, f = mutant_breaking(rng)
                sock.sendall(data + f)
            tally.sent_goods(ids, "tcp")
            tally.add("mutant_" + kind)
        except OSError as e:
            tally.error("breaking connection failed: %s" % e)
            return
        time.sleep(0.02)


def udp_sender(daemon, tally, stop, seed):
    """Datagrams: good records and every kind of mutant (except oversize,
    which a datagram cannot carry)."""
    rng = random.Random(seed)
    seq = 0
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    while not stop.is_set():
        r = rng.random()
        if r < 0.5:
            data, ids = good_frame(rng, "u", seq), [("u", seq)]
            seq += 1
            kind = None
        else:
            kind, data = mutant_in_stream(rng) if r < 0.75 else mutant_breaking(rng)
            if kind == "oversize":
                continue
            ids = []
        try:
            sock.sendto(data, daemon.udp)
        except OSError as e:
            tally.error("udp send failed: %s" % e)
            return
        if kind:
            tally.add("mutant_" + kind)
        else:
            tally.sent_goods(ids, "udp")
        time.sleep(0.003)
    sock.close()


def udp_rcvbuf_errors():
    """The kernel's count of UDP datagrams dropped for a full receive buffer."""
    with open("/proc/net/snmp") as f:
        rows = [line.split() for line in f if line.startswith("Udp:")]
    return int(rows[1][rows[0].index("RcvbufErrors")])


def found_goods(daemon):
    """(counter of good ids found, lines with a torn or mixed good record)."""
    found = collections.Counter()
    torn = 0
    for app in ("soak", "soak-signed"):
        for line in daemon.app_text(app).splitlines():
            ids = GOOD_RE.findall(line)
            if not ids:
                continue
            if len(ids) > 1 or not LINE_RE.match(line):
                torn += 1
            for stream, seq in ids:
                found[(stream, int(seq))] += 1
    return found, torn


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("binary")
    ap.add_argument("seconds", type=float)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    args = ap.parse_args()

    daemon = Daemon(
        args.binary,
        FACILITIES,
        "max_message_size = %d\n" % MAX_MESSAGE,
        compressor="format = gzip\nlevel = 1",
    )
    print("soak: loghogd %s in %s, tcp %s:%d, seed %d, %gs"
          % (args.binary, daemon.dir, daemon.tcp[0], daemon.tcp[1], args.seed, args.seconds))
    udp_drops_before = udp_rcvbuf_errors()
    tally = Tally()
    stop = threading.Event()
    threads = [
        threading.Thread(target=tcp_sender, args=(daemon, tally, stop, "t%d" % k, args.seed + k))
        for k in range(TCP_CONNECTIONS)
    ]
    threads.append(threading.Thread(target=breaking_sender, args=(daemon, tally, stop, args.seed + 100)))
    threads.append(threading.Thread(target=udp_sender, args=(daemon, tally, stop, args.seed + 200)))
    for t in threads:
        t.start()
    end = time.time() + args.seconds
    while time.time() < end and daemon.alive():
        time.sleep(0.2)
    stop.set()
    for t in threads:
        t.join()

    # Everything sent should arrive; wait (bounded) for the writers.
    failures = list(tally.errors)
    deadline = time.time() + 60
    while True:
        found, torn = found_goods(daemon)
        if tally.sent <= set(found) or time.time() > deadline or not daemon.alive():
            break
        time.sleep(0.5)
    alive = daemon.alive()
    probe_ok = False
    if alive:
        with socket.create_connection(daemon.tcp) as sock:
            sock.sendall(frame(payload_of(message("soak", "", "GOOD probe-0"))))
        deadline = time.time() + 30
        while time.time() < deadline and ("probe", 0) not in found_goods(daemon)[0]:
            time.sleep(0.2)
        probe_ok = ("probe", 0) in found_goods(daemon)[0]
    status = daemon.stop()
    udp_drops = udp_rcvbuf_errors() - udp_drops_before

    found, torn = found_goods(daemon)
    found.pop(("probe", 0), None)
    missing = tally.sent - set(found)
    doubled = [k for k, n in found.items() if n > 1]
    unexpected = set(found) - tally.sent
    reasons = collections.Counter(re.findall(r"reason=(\w+)", daemon.log_text()))

    c = tally.counts
    mutants = sum(n for k, n in c.items() if k.startswith("mutant_"))
    print("sent: %d good over TCP (%d reconnects), %d good over UDP, %d mutated"
          % (c["good_tcp"], c["tcp_reconnects"], c["good_udp"], mutants))
    print("mutations: " + ", ".join("%s %d" % (k[7:], n) for k, n in sorted(c.items()) if k.startswith("mutant_")))
    print("found: %d good records; missing %d, doubled %d, unexpected %d, torn lines %d"
          % (sum(found.values()), len(missing), len(doubled), len(unexpected), torn))
    print("daemon: alive at the end %s, probe record written %s, exit status %s"
          % (alive, probe_ok, status))
    print("kernel UDP receive-buffer drops during the run (whole system): %d" % udp_drops)
    print("internal log lines by reason: " + ", ".join("%s %d" % kv for kv in sorted(reasons.items())))

    if missing:
        failures.append("missing: %s" % sorted(missing)[:10])
    if doubled:
        failures.append("doubled: %s" % sorted(doubled)[:10])
    if unexpected:
        failures.append("unexpected: %s" % sorted(unexpected)[:10])
    if torn:
        failures.append("%d torn lines" % torn)
    if not alive or not probe_ok:
        failures.append("the daemon died or stopped serving")
    if status != 0:
        failures.append("exit status %s" % status)
    if "panicked" in daemon.log_text():
        failures.append("a panic in the internal log")
    if failures:
        print("SOAK FAILED: " + "; ".join(failures))
        print("kept for inspection: " + daemon.dir)
        return 1
    print("SOAK PASSED")
    shutil.rmtree(daemon.dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
