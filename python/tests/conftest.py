"""Test harness: a real ``loghogd`` started from its binary in a temp dir.

Mirrors crates/daemon/tests/support/mod.rs: loghogd.conf listens on
127.0.0.1 with ports the OS picks, and the ports are read from the
``proto=... addr=... listening`` lines the daemon prints on stderr. Every
wait polls with a deadline; nothing sleeps blindly.
"""

import os
import pathlib
import socket
import subprocess
import sys
import threading
import time

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
TLS_DATA = REPO / "crates" / "daemon" / "tests" / "data" / "tls" / "ecdsa"
#: How long any wait in a test may take before it fails.
DEADLINE = 20.0

FACILITIES = """\
[test-app]
rotate = daily
backup_count = 3

[my-first-app]
rotate = daily
backup_count = 3

[my-first-app:web.requests]
rotate = daily
backup_count = 3

[app-with-secret]
rotate = daily
backup_count = 3
secret = my-big-secret
"""


def poll(cond, deadline=DEADLINE):
    """Calls ``cond`` until it returns something true or the deadline passes;
    returns its last value."""
    end = time.monotonic() + deadline
    while True:
        value = cond()
        if value or time.monotonic() > end:
            return value
        time.sleep(0.01)


def read_lines(path):
    """The lines of a file, or [] if it does not exist yet."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


def bodies(lines):
    """The body of each daemon line (``{time} - {host} - {body}``)."""
    return [line.split(" - ", 2)[2] if line.count(" - ") >= 2 else "" for line in lines]


def free_port():
    """A TCP port that was free a moment ago (for a daemon started later)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Daemon:
    """A running loghogd in its own directory."""

    def __init__(self, binary, directory, facilities, extra_server="", listen="127.0.0.1:0"):
        self.dir = pathlib.Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "facilities.conf").write_text(facilities)
        (self.dir / "loghogd.conf").write_text(
            "[main]\nworkdir = work\nlogdir = logs\nrundir = run\n"
            "facilities_config = facilities.conf\n\n"
            "[log]\nfilename = loghogd.log\nlevel = DEBUG\n\n"
            "[server]\nlisten_ipv4 = %s\nlisten_ipv6 =\n%s\n" % (listen, extra_server)
        )
        self._lines = []
        self._lock = threading.Lock()
        self.proc = subprocess.Popen(
            [str(binary), "-c", str(self.dir / "loghogd.conf")],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
        )
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()
        if not poll(lambda: "loghogd started" in self.output() or self.proc.poll() is not None):
            pass
        if "loghogd started" not in self.output():
            self.stop()
            raise AssertionError("loghogd did not start:\n" + self.output())
        self.tcp_port = self._port("tcp")
        self.udp_port = self._port("udp")
        self.tls_port = self._port("tls") if "proto=tls addr=" in self.output() else None

    def _read_stderr(self):
        for line in self.proc.stderr:
            with self._lock:
                self._lines.append(line.rstrip("\n"))

    def _port(self, proto):
        needle = "proto=%s addr=" % proto
        for line in self.output().splitlines():
            if needle in line and line.endswith("listening"):
                addr = line.split(needle, 1)[1].split()[0]
                return int(addr.rsplit(":", 1)[1])
        raise AssertionError("no %s listener in:\n%s" % (proto, self.output()))

    def output(self):
        """Everything the daemon has printed on stderr so far."""
        with self._lock:
            return "\n".join(self._lines)

    def wait_output(self, needle):
        """Polls stderr until a line contains ``needle``."""
        return poll(lambda: needle in self.output())

    def log(self, rel):
        """A path under the daemon's log directory."""
        return self.dir / "logs" / rel

    def wait_lines(self, rel, n):
        """Waits until log file ``rel`` holds at least ``n`` lines; returns them."""
        path = self.log(rel)
        lines = poll(lambda: (lambda ls: ls if len(ls) >= n else None)(read_lines(path)))
        got = read_lines(path)
        assert lines, "%s has %d lines, wanted %d: %r\ndaemon:\n%s" % (
            path,
            len(got),
            n,
            got[-3:],
            self.output()[-2000:],
        )
        return lines

    def stop(self):
        """SIGTERM and wait for the exit."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(DEADLINE)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _build_loghogd():
    explicit = os.environ.get("LOGHOGD")
    if explicit:
        return pathlib.Path(explicit)
    subprocess.run(
        ["cargo", "build", "--quiet", "-p", "loghog-daemon", "--bin", "loghogd"],
        cwd=REPO,
        check=True,
    )
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    if not target.is_absolute():
        target = REPO / target
    binary = target / "debug" / "loghogd"
    assert binary.exists(), binary
    return binary


@pytest.fixture(scope="session")
def loghogd_binary():
    """The loghogd binary (built with cargo unless $LOGHOGD names one)."""
    return _build_loghogd()


@pytest.fixture
def start_daemon(loghogd_binary, tmp_path):
    """A factory: ``start_daemon(facilities=..., extra_server=..., listen=...)``
    starts a daemon; all are stopped after the test."""
    started = []

    def start(facilities=FACILITIES, extra_server="", listen="127.0.0.1:0", name="d"):
        d = Daemon(loghogd_binary, tmp_path / ("%s%d" % (name, len(started))), facilities,
                   extra_server, listen)
        started.append(d)
        return d

    yield start
    for d in started:
        d.stop()


@pytest.fixture
def daemon(start_daemon):
    """A daemon with plain TCP and UDP listeners and the test facilities."""
    return start_daemon()


@pytest.fixture
def tls_daemon(start_daemon):
    """A daemon with a mutual-TLS listener beside the plain ones."""
    return start_daemon(
        extra_server="listen_ipv4_ssl = 127.0.0.1:0\npemfile = %s\ncacert = %s\n"
        % (TLS_DATA / "localhost-server.pem", TLS_DATA / "localhost-ca.cert")
    )


@pytest.fixture
def make_logger(request):
    """A factory: ``make_logger(handler)`` gives a fresh logger that uses only
    ``handler``; the handler is closed after the test."""
    made = []

    def make(handler, name=None, fmt="%(levelname)s - %(message)s"):
        import logging

        name = name or "loghog-test.%s.%d" % (request.node.name, len(made))
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.propagate = False
        logger.setLevel(logging.DEBUG)
        handler.setFormatter(logging.Formatter(fmt))
        made.append((logger, handler))
        return logger

    yield make
    for logger, handler in made:
        logger.removeHandler(handler)
        handler.close()


def run_python(code, *args, timeout=60):
    """Runs ``code`` in a fresh interpreter; returns the CompletedProcess."""
    return subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
