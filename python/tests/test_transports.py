"""Records reach a real loghogd over every transport, whole and in order."""

import logging

from conftest import TLS_DATA, bodies
from loghog import LoghogHandler


def test_tcp_in_order_with_module_routing(daemon, make_logger):
    handler = LoghogHandler("my-first-app", "127.0.0.1", daemon.tcp_port, hostname="athens")
    root = make_logger(handler)
    web = make_logger(handler, name="web.requests")
    for i in range(200):
        root.info("line %d", i)
    web.warning("GET / 200")
    lines = daemon.wait_lines("my-first-app/root.log", 200)
    assert bodies(lines) == ["INFO - line %d" % i for i in range(200)]
    assert all(" - athens - " in line for line in lines)
    web_lines = daemon.wait_lines("my-first-app/web.requests.log", 1)
    assert bodies(web_lines) == ["WARNING - GET / 200"]
    assert handler.dropped == 0


def test_default_hostname_is_the_machines(daemon, make_logger):
    import socket

    handler = LoghogHandler("test-app", "127.0.0.1", daemon.tcp_port)
    assert handler.hostname == socket.gethostname()
    make_logger(handler).info("who am i")
    line = daemon.wait_lines("test-app/root.log", 1)[0]
    assert line.split(" - ")[1] == socket.gethostname()


def test_udp(daemon, make_logger):
    handler = LoghogHandler("test-app", "127.0.0.1", daemon.udp_port, stream=False)
    log = make_logger(handler)
    for i in range(20):
        log.info("datagram %d", i)
    lines = daemon.wait_lines("test-app/root.log", 20)
    # UDP keeps no order promise; on loopback nothing is lost.
    assert sorted(bodies(lines)) == sorted("INFO - datagram %d" % i for i in range(20))


def test_compression_non_ascii_and_multiline(daemon, make_logger):
    handler = LoghogHandler("test-app", "127.0.0.1", daemon.tcp_port, compression=True)
    log = make_logger(handler)
    log.info("héllo wörld ✓ 🐗")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("it failed")
    lines = daemon.wait_lines("test-app/root.log", 2)
    assert bodies(lines)[0] == "INFO - héllo wörld ✓ 🐗"
    text = daemon.log("test-app/root.log").read_text()
    assert "ERROR - it failed\nTraceback (most recent call last):" in text
    assert 'ValueError: boom' in text


def test_lone_surrogates_do_not_lose_the_record(daemon, make_logger):
    handler = LoghogHandler("test-app", "127.0.0.1", daemon.tcp_port)
    log = make_logger(handler)
    log.info("bad bytes: %s", b"caf\xe9".decode("utf-8", "surrogateescape"))
    log.info("after")
    lines = daemon.wait_lines("test-app/root.log", 2)
    # The unencodable character becomes replacement characters.
    assert bodies(lines)[0].startswith("INFO - bad bytes: caf\ufffd")
    assert bodies(lines)[1] == "INFO - after"


def test_tls(tls_daemon, make_logger):
    handler = LoghogHandler(
        "test-app",
        "localhost",
        tls_daemon.tls_port,
        ssl_info={
            "pemfile": str(TLS_DATA / "client1.pem"),
            "cacert": str(TLS_DATA / "localhost-ca.cert"),
        },
    )
    log = make_logger(handler)
    for i in range(10):
        log.info("secret %d", i)
    lines = tls_daemon.wait_lines("test-app/root.log", 10)
    assert bodies(lines) == ["INFO - secret %d" % i for i in range(10)]


def test_tls_with_unreadable_files_fails_at_construction(tmp_path):
    import pytest

    with pytest.raises(ValueError, match="loghog"):
        LoghogHandler("test-app", ssl_info={"pemfile": str(tmp_path / "nope.pem"),
                                            "cacert": str(TLS_DATA / "localhost-ca.cert")})


def test_positional_arguments_in_the_07_order(daemon, make_logger):
    # app_name, host, port, stream, secret, compression, hostname
    handler = LoghogHandler("test-app", "127.0.0.1", daemon.tcp_port, True, None, True, "positional")
    make_logger(handler).error("by position")
    line = daemon.wait_lines("test-app/root.log", 1)[0]
    assert line.endswith(" - positional - ERROR - by position")


def test_close_delivers_what_is_queued(daemon):
    handler = LoghogHandler("test-app", "127.0.0.1", daemon.tcp_port)
    handler.setFormatter(logging.Formatter("%(message)s"))
    for i in range(500):
        handler.handle(logging.makeLogRecord({"msg": "r%d" % i, "name": "x"}))
    handler.close()
    assert handler.pending == 0
    assert handler.delivered == 500
    lines = daemon.wait_lines("test-app/root.log", 500)
    assert bodies(lines)[-1] == "r499"


def test_many_threads_share_one_handler(daemon, make_logger):
    import threading

    handler = LoghogHandler("test-app", "127.0.0.1", daemon.tcp_port)
    log = make_logger(handler, fmt="%(message)s")

    def work(t):
        for i in range(200):
            log.info("thread %d line %d", t, i)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got = bodies(daemon.wait_lines("test-app/root.log", 1600))
    assert len(got) == 1600
    for t in range(8):
        mine = [b for b in got if b.startswith("thread %d " % t)]
        assert mine == ["thread %d line %d" % (t, i) for i in range(200)]
