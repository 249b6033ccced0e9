"""A handler created before fork() works in every child, as in gunicorn,
uwsgi and mod_wsgi pre-fork workers. Each scenario runs in its own
interpreter so that the forks never copy pytest itself."""

import pytest

from conftest import TLS_DATA, bodies, run_python

FORKING_APP = r"""
import logging, os, sys
from loghog import LoghogHandler

port = int(sys.argv[1])
ssl_info = {"pemfile": sys.argv[2], "cacert": sys.argv[3]} if len(sys.argv) > 2 else None
handler = LoghogHandler("test-app", "127.0.0.1", port, ssl_info=ssl_info)
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
        for i in range(50):
            log.info("worker %d pid %d line %d", worker, os.getpid(), i)
        if worker == 0:
            # A worker that forks again (a grandchild).
            grandchild = os.fork()
            if grandchild == 0:
                log.info("grandchild pid %d", os.getpid())
                sys.exit(0)
            os.waitpid(grandchild, 0)
        if worker == 1:
            # Hard exit, as a worker killed by its master would: only an
            # explicit flush delivers.
            handler.flush()
            os._exit(0)
        sys.exit(0)  # atexit runs logging.shutdown, which delivers
    children.append(pid)

for pid in children:
    _, status = os.waitpid(pid, 0)
    assert status == 0, status
log.info("parent after fork")
"""


@pytest.mark.parametrize("transport", ["tcp", "tls"])
def test_forked_children_each_deliver(tls_daemon, transport):
    daemon = tls_daemon
    if transport == "tls":
        done = run_python(FORKING_APP, daemon.tls_port, TLS_DATA / "client1.pem",
                          TLS_DATA / "localhost-ca.cert")
    else:
        done = run_python(FORKING_APP, daemon.tcp_port)
    assert done.returncode == 0, done.stderr
    want = 1 + 4 * 50 + 1 + 1
    got = bodies(daemon.wait_lines("test-app/root.log", want))
    assert len(got) == want, got
    assert "parent before fork" in got and "parent after fork" in got
    assert sum(b.startswith("grandchild pid ") for b in got) == 1
    for worker in range(4):
        lines = [b for b in got if b.startswith("worker %d " % worker)]
        assert [b.rsplit(" ", 1)[1] for b in lines] == [str(i) for i in range(50)], lines
    pids = {b.split()[3] for b in got if b.startswith("worker ")}
    assert len(pids) == 4


C_FORK_APP = r"""
import ctypes, logging, os, sys
from loghog import LoghogHandler

port = int(sys.argv[1])
handler = LoghogHandler("test-app", "127.0.0.1", port)
handler.setFormatter(logging.Formatter("%(message)s"))
log = logging.getLogger("app")
log.addHandler(handler)
log.setLevel(logging.INFO)
log.info("parent")
handler.flush()
# fork(2) straight from C: Python's at-fork hooks do not run (as in servers
# that fork from C), so only the sender's own pid check can notice.
pid = ctypes.CDLL(None).fork()
if pid == 0:
    log.info("c-forked child")
    ok = handler._sender.flush(10.0)
    os._exit(0 if ok else 3)
_, status = os.waitpid(pid, 0)
assert status == 0, status
log.info("parent again")
"""


def test_child_forked_from_c_gets_a_sender(daemon):
    done = run_python(C_FORK_APP, daemon.tcp_port)
    assert done.returncode == 0, done.stderr
    got = bodies(daemon.wait_lines("test-app/root.log", 3))
    # Two connections: the daemon keeps order within each, not across them
    # (even "parent", delivered before the fork, may be written after the
    # child's record: the two connections are read by different tasks).
    assert sorted(got) == ["c-forked child", "parent", "parent again"]
    assert got.index("parent") < got.index("parent again")
