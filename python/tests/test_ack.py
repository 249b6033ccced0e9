"""Acknowledged delivery, HMAC-SHA256 and replay protection from Python,
against a real loghogd: flush() returns once records are written, refusals
come back with their reason, nothing is lost or doubled across a restart,
and records given up at close() are counted and reported."""

import logging

from conftest import bodies, free_port, read_lines
from loghog import LoghogHandler

SIGNED = """\
[strong]
rotate = daily
backup_count = 3
secret = s3cret
signature = sha256

[guarded]
rotate = daily
backup_count = 3
secret = s3cret
replay_protection = yes
"""


def test_flush_waits_until_the_records_are_written(daemon, make_logger):
    handler = LoghogHandler("test-app", "127.0.0.1", daemon.tcp_port, ack=True)
    log = make_logger(handler)
    for i in range(200):
        log.info("acked %d", i)
    handler.flush_timeout = 20.0
    handler.flush()
    # Acknowledged means in the file: read it at once, no polling.
    lines = read_lines(daemon.log("test-app/root.log"))
    assert bodies(lines) == ["INFO - acked %d" % i for i in range(200)]
    assert handler.delivered == 200
    assert handler.pending == 0


def test_a_refused_record_comes_back_with_its_reason(daemon, make_logger):
    handler = LoghogHandler("no-such-app", "127.0.0.1", daemon.tcp_port, ack=True)
    handler.flush_timeout = 20.0
    make_logger(handler).info("nobody wants me")
    handler.flush()
    assert handler.rejected == 1
    assert handler.last_rejection == "unknown_app"
    assert handler.delivered == 0


def test_nothing_is_lost_or_doubled_across_a_restart(start_daemon, make_logger):
    port = free_port()
    first = start_daemon(listen="127.0.0.1:%d" % port)
    handler = LoghogHandler("test-app", "127.0.0.1", port, ack=True)
    handler.flush_timeout = 20.0
    log = make_logger(handler)
    for i in range(100):
        log.info("before %d", i)
    handler.flush()
    first.stop()
    for i in range(100):
        log.info("after %d", i)
    second = start_daemon(listen="127.0.0.1:%d" % port)
    handler.flush()
    got = bodies(read_lines(first.log("test-app/root.log")))
    got += bodies(read_lines(second.log("test-app/root.log")))
    want = ["INFO - before %d" % i for i in range(100)]
    want += ["INFO - after %d" % i for i in range(100)]
    assert got == want
    assert handler.dropped == 0


def test_records_given_up_at_close_are_counted_and_reported(capsys):
    handler = LoghogHandler("test-app", "127.0.0.1", free_port(), ack=True)
    handler.close_timeout = 0.5
    handler.setFormatter(logging.Formatter("%(message)s"))
    for i in range(5):
        handler.handle(logging.makeLogRecord({"msg": "lost %d" % i, "name": "x"}))
    handler.close()
    assert handler.dropped == 5
    err = capsys.readouterr().err
    assert "5 record(s)" in err and "given up" in err, err


def test_sha256_signatures_and_the_weak_signature_refusal(start_daemon, make_logger):
    daemon = start_daemon(facilities=SIGNED)
    strong = LoghogHandler("strong", "127.0.0.1", daemon.tcp_port, secret="s3cret",
                           signature="sha256", ack=True)
    strong.flush_timeout = 20.0
    make_logger(strong).info("sha-256 signed")
    strong.flush()
    weak = LoghogHandler("strong", "127.0.0.1", daemon.tcp_port, secret="s3cret", ack=True)
    weak.flush_timeout = 20.0
    make_logger(weak).info("md5 signed")
    weak.flush()
    assert weak.last_rejection == "weak_signature"
    assert bodies(read_lines(daemon.log("strong/root.log"))) == ["INFO - sha-256 signed"]


def test_replay_protection_from_python(start_daemon, make_logger):
    daemon = start_daemon(facilities=SIGNED)
    protected = LoghogHandler("guarded", "127.0.0.1", daemon.tcp_port, secret="s3cret",
                              replay_protection=True, ack=True)
    protected.flush_timeout = 20.0
    log = make_logger(protected)
    log.info("one")
    log.info("two")
    protected.flush()
    plain = LoghogHandler("guarded", "127.0.0.1", daemon.tcp_port, secret="s3cret", ack=True)
    plain.flush_timeout = 20.0
    make_logger(plain).info("no nonce")
    plain.flush()
    assert plain.last_rejection == "unprotected"
    assert protected.rejected == 0
    assert bodies(read_lines(daemon.log("guarded/root.log"))) == ["INFO - one", "INFO - two"]


FORKING_ACK_APP = r"""
import logging, os, sys
from loghog import LoghogHandler

port = int(sys.argv[1])
handler = LoghogHandler("test-app", "127.0.0.1", port, ack=True, max_buffer_size=1000)
handler.flush_timeout = 20.0
handler.setFormatter(logging.Formatter("%(message)s"))
log = logging.getLogger("app")
log.addHandler(handler)
log.setLevel(logging.INFO)
log.info("parent before fork")
handler.flush()

children = []
for worker in range(4):
    pid = os.fork()
    if pid == 0:
        for i in range(200):
            log.info("worker %d line %d", worker, i)
        handler.flush()
        os._exit(0 if (handler.delivered, handler.dropped) == (200, 0) else 3)
    children.append(pid)
for pid in children:
    _, status = os.waitpid(pid, 0)
    assert status == 0, status
"""


def test_pre_fork_workers_each_get_a_session_of_their_own(daemon):
    # Workers inherit their parent's memory: were the session id drawn from
    # it, they would share one, and the daemon would take one worker's
    # records for another's resends and skip them.
    from conftest import run_python

    done = run_python(FORKING_ACK_APP, daemon.tcp_port)
    assert done.returncode == 0, done.stderr
    got = bodies(read_lines(daemon.log("test-app/root.log")))
    assert len(got) == 1 + 4 * 200, len(got)
    for worker in range(4):
        lines = [b for b in got if b.startswith("worker %d " % worker)]
        assert lines == ["worker %d line %d" % (worker, i) for i in range(200)]
