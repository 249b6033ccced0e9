#!/usr/bin/env python3
"""Measures loghogd's connection limits for docs/reliability.md.

  limits.py LOGHOGD idle      10,000 idle connections (the default
                              max_connections), then new clients: how long
                              until each one's record is written, and RSS.
  limits.py LOGHOGD buffered  1,000 connections each sending 1 MiB - 1 byte
                              of a 1 MiB frame: peak RSS against the
                              max_buffered_bytes budget (default 256 MiB),
                              which the growth must not pass.

Both run on the default configuration, on loopback, bounded in time, and
exit non-zero if the expectation fails. Python 3 standard library only.
"""

import argparse
import os
import re
import resource
import select
import shutil
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from loghogd_run import Daemon, frame, message, payload_of  # noqa: E402

FACILITIES = "[app]\nrotate = daily\nbackup_count = 3\n"
MIB = 1 << 20


def raise_fd_limit(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        raise SystemExit("need %d file descriptors, the hard limit is %d" % (need, hard))


def connect_from(source_ip, addr):
    """A connection from `source_ip` (any 127.0.0.0/8 address works on Linux):
    spreading the load over addresses keeps each under
    max_connections_per_peer (default 1000)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((source_ip, 0))
    s.connect(addr)
    return s


def wait_until(cond, limit):
    deadline = time.time() + limit
    while time.time() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def mib(n):
    return "%.1f MiB" % (n / MIB)


def lines_in(daemon, needle):
    try:
        with open(os.path.join(daemon.logdir, "app", "root.log"), errors="replace") as f:
            return needle in f.read()
    except FileNotFoundError:
        return False


def idle(binary, connections, new_clients):
    raise_fd_limit(connections + 1000)
    daemon = Daemon(binary, FACILITIES)
    base_rss, _ = daemon.rss()
    base_fds = daemon.open_fds()
    print("idle: loghogd %s, default limits (max_connections 10000, per peer 1000)" % binary)
    start = time.time()
    conns = []
    for i in range(connections):
        conns.append(connect_from("127.0.0.%d" % (2 + i // 500), daemon.tcp))
    accepted = wait_until(lambda: daemon.open_fds() >= base_fds + connections, 120)
    print("opened %d idle connections in %.1fs; all accepted: %s" % (connections, time.time() - start, accepted))
    rss, _ = daemon.rss()
    print("RSS: %s before, %s with %d idle connections (%.1f KiB per connection)"
          % (mib(base_rss), mib(rss), connections, (rss - base_rss) / 1024 / connections))

    latencies = []
    for k in range(new_clients):
        body = "new client %d" % k
        t0 = time.time()
        s = connect_from("127.0.0.1", daemon.tcp)
        s.sendall(frame(payload_of(message("app", "", body))))
        served = wait_until(lambda: lines_in(daemon, body), 10)
        latencies.append(time.time() - t0 if served else float("inf"))
        conns.append(s)
    # The first connections opened were idle the longest: they made room.
    pending, evicted_first = list(conns[:new_clients]), 0
    deadline = time.time() + 5
    while pending and time.time() < deadline:
        readable, _, _ = select.select(pending, [], [], 0.1)
        for s in readable:
            pending.remove(s)
            evicted_first += s.recv(1) == b""
    text = daemon.log_text()
    evictions = len(re.findall(r"reason=evicted_idle", text))
    print("new clients: %d, each written after %s (max %.3fs)"
          % (new_clients, ", ".join("%.3fs" % t for t in latencies), max(latencies)))
    print("idle connections closed to admit them: %d logged (rate-limited), %d of the %d oldest saw EOF"
          % (evictions, evicted_first, new_clients))
    print("daemon alive: %s" % daemon.alive())
    for s in conns:
        s.close()
    status = daemon.stop()
    m = re.search(r"evicted_idle=(\d+)", daemon.log_text())
    print("exit status %s; summary at stop: evicted_idle=%s" % (status, m.group(1) if m else "?"))
    ok = accepted and max(latencies) < 1.0 and evicted_first == new_clients and status == 0
    print("IDLE " + ("PASSED" if ok else "FAILED (kept: %s)" % daemon.dir))
    if ok:
        shutil.rmtree(daemon.dir, ignore_errors=True)
    return 0 if ok else 1


def buffered(binary, connections):
    raise_fd_limit(connections + 1000)
    budget = 256 * MIB
    daemon = Daemon(binary, FACILITIES)
    base_rss, _ = daemon.rss()
    print("buffered: loghogd %s, default max_buffered_bytes %s, max_message_size 1 MiB" % (binary, mib(budget)))
    # A frame announcing a 1 MiB payload; each connection sends all of it
    # but the last byte.
    partial = struct.pack(">II", MIB, 0) + b"x" * (MIB - 1)
    samples = []
    stop = threading.Event()

    def sample():
        while not stop.is_set() and daemon.alive():
            samples.append(daemon.rss()[0])
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    start = time.time()
    conns, refused = [], 0
    for i in range(connections):
        s = connect_from("127.0.0.%d" % (2 + i // 500), daemon.tcp)
        s.settimeout(30)
        try:
            s.sendall(partial)
        except OSError:
            refused += 1
        conns.append(s)
    # Let the daemon read what the kernel still holds for it.
    time.sleep(3)
    stop.set()
    sampler.join()
    rss, peak = daemon.rss()
    elapsed = time.time() - start
    open_now = daemon.open_fds()
    alive = daemon.alive()
    for s in conns:
        s.close()
    status = daemon.stop()
    m = re.search(r"closed_over_budget=(\d+) closed_over_budget_bytes=(\d+)", daemon.log_text())
    closed, closed_bytes = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
    print("sent %d x (1 MiB - 1) in %.1fs; %d sends failed (connection closed by the daemon)"
          % (connections, elapsed, refused))
    print("RSS: %s at start, %s at the end, peak %s (VmHWM; sampled max %s)"
          % (mib(base_rss), mib(rss), mib(peak), mib(max(samples or [0]))))
    print("closed over budget: %d connections, %s of partial frames dropped; daemon fds at the end %d"
          % (closed, mib(closed_bytes), open_now))
    print("daemon alive: %s, exit status %s" % (alive, status))
    # The budget counts each connection's read buffer at its capacity (large
    # frames in mappings of their own, freed at once) plus a fixed amount
    # for its state, and a closed connection's bytes until it has freed
    # them: so the daemon's peak RSS growth must stay within it.
    ok = alive and status == 0 and peak - base_rss <= budget
    print("BUFFERED " + ("PASSED" if ok else "FAILED")
          + ": peak RSS growth %s; budget %s" % (mib(peak - base_rss), mib(budget)))
    if ok:
        shutil.rmtree(daemon.dir, ignore_errors=True)
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("binary")
    ap.add_argument("what", choices=["idle", "buffered"])
    ap.add_argument("--connections", type=int)
    ap.add_argument("--new-clients", type=int, default=10)
    args = ap.parse_args()
    if args.what == "idle":
        return idle(args.binary, args.connections or 10000, args.new_clients)
    return buffered(args.binary, args.connections or 1000)


if __name__ == "__main__":
    sys.exit(main())
