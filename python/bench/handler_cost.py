"""What one log record costs the application: LoghogHandler next to
logging.FileHandler with the same formatter.

Starts a real loghogd (``$LOGHOGD``, else target/release or target/debug of
this checkout) on a free port in a temp dir, then times, for each handler,
``logger.info(...)`` through a logger that has only that handler (the whole
path an application pays for), and ``handler.handle(record)`` on prebuilt
records (the handler alone). Wall time is the caller's; CPU time is the
whole process's, so it includes LoghogHandler's sender thread.

    python python/bench/handler_cost.py [records]
"""

import logging
import os
import pathlib
import subprocess
import sys
import tempfile
import time

from loghog import LoghogHandler

REPO = pathlib.Path(__file__).resolve().parents[2]
FORMAT = "%(asctime)s %(levelname)s %(name)s - %(message)s"


def find_loghogd():
    if os.environ.get("LOGHOGD"):
        return os.environ["LOGHOGD"]
    for profile in ("release", "debug"):
        candidate = REPO / "target" / profile / "loghogd"
        if candidate.exists():
            return str(candidate)
    sys.exit("no loghogd: build it (cargo build -p loghog-daemon --bin loghogd) or set LOGHOGD")


def start_daemon(directory):
    d = pathlib.Path(directory)
    (d / "facilities.conf").write_text("[bench]\nrotate = daily\nbackup_count = 2\n")
    (d / "loghogd.conf").write_text(
        "[main]\nworkdir = work\nlogdir = logs\nrundir = run\n"
        "facilities_config = facilities.conf\n[log]\nfilename = loghogd.log\n"
        "[server]\nlisten_ipv4 = 127.0.0.1:0\nlisten_ipv6 =\n"
    )
    proc = subprocess.Popen(
        [find_loghogd(), "-c", str(d / "loghogd.conf")],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    port = None
    for line in proc.stderr:
        if "proto=tcp addr=" in line and line.rstrip().endswith("listening"):
            port = int(line.split("proto=tcp addr=", 1)[1].split()[0].rsplit(":", 1)[1])
        if "loghogd started" in line:
            break
    if port is None:
        proc.kill()
        sys.exit("loghogd did not start")
    # Keep reading its stderr so that it never blocks on a full pipe.
    import threading

    threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
    return proc, port


def time_logger(handler, n):
    logger = logging.getLogger("bench.logger.%d" % id(handler))
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(n):
        logger.info("GET /index.html?page=%d 200 OK in %d ms", i, i % 97)
    return time.perf_counter() - wall, time.process_time() - cpu


def time_handle(handler, n):
    records = [
        logging.LogRecord("web.requests", logging.INFO, __file__, 1,
                          "GET /index.html?page=%d 200 OK in %d ms", (i, i % 97), None)
        for i in range(n)
    ]
    wall, cpu = time.perf_counter(), time.process_time()
    for record in records:
        handler.handle(record)
    return time.perf_counter() - wall, time.process_time() - cpu


def loghog_handler(port, **options):
    # A buffer big enough for the whole run: this measures sending, not
    # dropping (the debug daemon may drain slower than the loop fills).
    h = LoghogHandler("bench", "127.0.0.1", port, max_buffer_size=10_000_000, **options)
    h.setFormatter(logging.Formatter(FORMAT))
    return h


def file_handler(path):
    h = logging.FileHandler(path)
    h.setFormatter(logging.Formatter(FORMAT))
    return h


def best_of(runs, make, measure, n, finish):
    """Best wall time per record (and that run's CPU time) over ``runs``."""
    best = None
    for _ in range(runs):
        handler = make()
        wall, cpu = measure(handler, n)
        finish(handler)
        if best is None or wall < best[0]:
            best = (wall, cpu)
    return best[0] / n * 1e6, best[1] / n * 1e6


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    runs = 3
    with tempfile.TemporaryDirectory() as tmp:
        proc, port = start_daemon(tmp)
        try:
            def finish_loghog(h):
                h.close_timeout = 60.0
                h.close()
                assert h.dropped == 0, h.dropped

            rows = []
            for label, measure in (("logger.info(...)", time_logger),
                                   ("handler.handle(record)", time_handle)):
                fh = best_of(runs, lambda: file_handler(os.path.join(tmp, "file.log")), measure, n,
                             lambda h: h.close())
                lh = best_of(runs, lambda: loghog_handler(port), measure, n, finish_loghog)
                rows.append((label, "logging.FileHandler", fh))
                rows.append((label, "loghog.LoghogHandler", lh))
            # The facility has no secret: the daemon accepts signed records.
            signed = best_of(runs, lambda: loghog_handler(port, secret="s3cret", compression=True),
                             time_handle, n, finish_loghog)
            rows.append(("handler.handle(record)", "LoghogHandler, signed + zlib", signed))
            down = LoghogHandler("bench", "127.0.0.1", 1, max_buffer_size=1024)
            down.setFormatter(logging.Formatter(FORMAT))
            wall, cpu = time_handle(down, n)
            rows.append(("handler.handle(record)", "LoghogHandler, server down",
                         (wall / n * 1e6, cpu / n * 1e6)))
            down.close_timeout = 0.1
            down.close()
        finally:
            proc.terminate()
            proc.wait()
    print("Python %s, %d records per run, best of %d runs, format %r"
          % (sys.version.split()[0], n, runs, FORMAT))
    print()
    print("| call | handler | wall µs/record | process CPU µs/record |")
    print("| --- | --- | ---: | ---: |")
    for label, name, (wall, cpu) in rows:
        print("| `%s` | %s | %.2f | %.2f |" % (label, name, wall, cpu))


if __name__ == "__main__":
    main()
