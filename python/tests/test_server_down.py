"""With the server away, logging stays fast and memory stays bounded; what
is queued arrives when the server comes up; close() is bounded."""

import logging
import time

from conftest import bodies, free_port, poll
from loghog import LoghogHandler


def test_emit_stays_fast_and_records_arrive_when_the_server_comes_up(start_daemon, make_logger):
    port = free_port()
    handler = LoghogHandler("test-app", "127.0.0.1", port)
    log = make_logger(handler)
    start = time.perf_counter()
    for i in range(300):
        log.info("queued %d", i)
    elapsed = time.perf_counter() - start
    # Loose on purpose (shared CI machines): a handler that waited on the
    # network even once per record would take far longer than this.
    assert elapsed < 1.0, "300 emits took %.3f s with the server down" % elapsed
    assert poll(lambda: handler.last_error), "the sender never tried to connect"
    assert handler.pending == 300
    daemon = start_daemon(listen="127.0.0.1:%d" % port)
    lines = daemon.wait_lines("test-app/root.log", 300)
    assert bodies(lines) == ["INFO - queued %d" % i for i in range(300)]
    assert handler.dropped == 0


def test_full_buffer_drops_the_oldest_and_counts_them(start_daemon, make_logger):
    port = free_port()
    handler = LoghogHandler("test-app", "127.0.0.1", port, max_buffer_size=10)
    log = make_logger(handler)
    for i in range(100):
        log.info("record %d", i)
    assert handler.dropped == 90
    assert handler.pending == 10
    daemon = start_daemon(listen="127.0.0.1:%d" % port)
    lines = daemon.wait_lines("test-app/root.log", 10)
    # The newest records survive.
    assert bodies(lines) == ["INFO - record %d" % i for i in range(90, 100)]
    assert poll(lambda: handler.pending == 0)
    assert handler.dropped == 90


def test_close_is_bounded_with_no_server():
    handler = LoghogHandler("test-app", "127.0.0.1", free_port())
    handler.setFormatter(logging.Formatter("%(message)s"))
    for i in range(5):
        handler.handle(logging.makeLogRecord({"msg": "lost %d" % i, "name": "x"}))
    start = time.monotonic()
    handler.close()
    elapsed = time.monotonic() - start
    assert elapsed < handler.close_timeout + 3.0, elapsed
    assert handler.pending == 0
    assert handler.dropped == 5
    # Logging after close neither raises nor blocks; it is counted.
    handler.handle(logging.makeLogRecord({"msg": "late", "name": "x"}))
    assert handler.dropped == 6


def test_logging_shutdown_is_bounded_with_no_server():
    from conftest import run_python

    code = (
        "import logging, sys, time\n"
        "from loghog import LoghogHandler\n"
        "logging.getLogger().addHandler(LoghogHandler('test-app', '127.0.0.1', int(sys.argv[1])))\n"
        "logging.error('nobody listens')\n"
    )
    start = time.monotonic()
    done = run_python(code, free_port())
    assert done.returncode == 0, done.stderr
    bound = LoghogHandler.flush_timeout + LoghogHandler.close_timeout
    assert time.monotonic() - start < bound + 5.0


def test_print_debug_reports_connection_errors_on_stdout(capfd):
    handler = LoghogHandler("test-app", "127.0.0.1", free_port(), print_debug=True)
    handler.handle(logging.makeLogRecord({"msg": "x", "name": "x"}))
    assert poll(lambda: handler.last_error)
    out = poll(lambda: capfd.readouterr().out)
    assert "loghog: connect to 127.0.0.1:" in out, out
    handler.close_timeout = 0.1
    handler.close()


def test_no_output_without_print_debug(capfd):
    handler = LoghogHandler("test-app", "127.0.0.1", free_port())
    handler.handle(logging.makeLogRecord({"msg": "x", "name": "x"}))
    assert poll(lambda: handler.last_error)
    handler.close_timeout = 0.1
    handler.close()
    assert capfd.readouterr().out == ""


def test_a_server_that_stops_reading_does_not_block_emit():
    import socket

    server = socket.create_server(("127.0.0.1", 0))
    accepted = []
    with server:
        handler = LoghogHandler("test-app", "127.0.0.1", server.getsockname()[1],
                                max_buffer_size=100)
        handler.setFormatter(logging.Formatter("%(message)s"))
        record = logging.makeLogRecord({"msg": "x" * 1000, "name": "x"})
        start = time.perf_counter()
        # Far more than the socket buffers hold: the sender blocks in a
        # write that the server never reads, and emit must not notice.
        for _ in range(20000):
            handler.handle(record)
        elapsed = time.perf_counter() - start
        accepted.append(server.accept()[0])
        assert elapsed < 5.0, "20000 emits took %.2f s" % elapsed
        assert poll(lambda: handler.dropped > 0)
        handler.close_timeout = 0.2
        start = time.monotonic()
        handler.close()
        assert time.monotonic() - start < 3.0
    for conn in accepted:
        conn.close()
