"""Signed records: accepted with the app's secret, refused without it."""

from conftest import bodies, read_lines
from loghog import LoghogHandler


def test_signed_records_are_written(daemon, make_logger):
    handler = LoghogHandler("app-with-secret", "127.0.0.1", daemon.tcp_port, secret="my-big-secret")
    log = make_logger(handler)
    log.info("signed one")
    log.info("signed two ✓")
    lines = daemon.wait_lines("app-with-secret/root.log", 2)
    assert bodies(lines) == ["INFO - signed one", "INFO - signed two ✓"]


def test_signing_with_compression_and_bytes_secret(daemon, make_logger):
    handler = LoghogHandler("app-with-secret", "127.0.0.1", daemon.tcp_port,
                            secret=b"my-big-secret", compression=True)
    make_logger(handler).info("signed and squeezed")
    lines = daemon.wait_lines("app-with-secret/root.log", 1)
    assert bodies(lines) == ["INFO - signed and squeezed"]


def test_wrong_secret_is_rejected(daemon, make_logger):
    wrong = LoghogHandler("app-with-secret", "127.0.0.1", daemon.tcp_port, secret="not-it")
    log = make_logger(wrong)
    log.info("forged")
    assert daemon.wait_output("reason=bad_signature"), daemon.output()
    unsigned = LoghogHandler("app-with-secret", "127.0.0.1", daemon.tcp_port)
    make_logger(unsigned).info("unsigned")
    assert daemon.wait_output("reason=missing_signature"), daemon.output()
    # A good record after the bad ones proves the file would have been
    # written: the bad ones never reached it.
    good = LoghogHandler("app-with-secret", "127.0.0.1", daemon.tcp_port, secret="my-big-secret")
    make_logger(good).info("genuine")
    daemon.wait_lines("app-with-secret/root.log", 1)
    assert bodies(read_lines(daemon.log("app-with-secret/root.log"))) == ["INFO - genuine"]
