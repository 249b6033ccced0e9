"""Every example in python/examples runs against a real loghogd and its
records land where the example says. The examples use the default ports;
here the handler's port is pointed at the test daemon instead."""

import pathlib

import pytest

from conftest import FACILITIES, TLS_DATA, bodies, poll, read_lines, run_python

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"

EXAMPLE_FACILITIES = FACILITIES + """
[signed-app]
rotate = hourly
backup_count = 3
secret = change-me
"""

# Runs an example with every LoghogHandler aimed at the given port.
RUNNER = r"""
import runpy, sys
import loghog

port = int(sys.argv[1])
original = loghog.LoghogHandler.__init__

def aimed(self, *args, **kwargs):
    kwargs["port"] = port
    original(self, *args, **kwargs)

loghog.LoghogHandler.__init__ = aimed
path = sys.argv[2]
sys.argv = [path] + sys.argv[3:]
runpy.run_path(path, run_name="__main__")
"""


@pytest.fixture
def example_daemon(start_daemon):
    return start_daemon(
        facilities=EXAMPLE_FACILITIES,
        extra_server="listen_ipv4_ssl = 127.0.0.1:0\npemfile = %s\ncacert = %s\n"
        % (TLS_DATA / "localhost-server.pem", TLS_DATA / "localhost-ca.cert"),
    )


@pytest.mark.parametrize(
    "example, args, port_kind, file, want",
    [
        ("simple.py", [], "tcp", "my-first-app/root.log", ["INFO - Hello world!"]),
        ("simple.py", [], "tcp", "my-first-app/web.requests.log", ["INFO - GET / 200"]),
        ("udp.py", [], "udp", "my-first-app/root.log",
         ["INFO - datagram number %d" % i for i in range(3)]),
        ("remote.py", ["127.0.0.1"], "tcp", "my-first-app/root.log", None),
        ("signing.py", [], "tcp", "signed-app/root.log", ["INFO - This message is signed"]),
        ("encrypted.py", [TLS_DATA / "client1.pem", TLS_DATA / "localhost-ca.cert"], "tls",
         "my-first-app/root.log", ["INFO - This message travelled encrypted"]),
        ("django_settings.py", [], "tcp", "my-first-app/root.log",
         ["INFO - Hello from Django's logger"]),
    ],
)
def test_example(example_daemon, example, args, port_kind, file, want):
    port = getattr(example_daemon, "%s_port" % port_kind)
    done = run_python(RUNNER, port, EXAMPLES / example, *args)
    assert done.returncode == 0, done.stderr
    if want is None:
        lines = example_daemon.wait_lines(file, 1)
        assert bodies(lines)[0].endswith("INFO root - Hello from far away")
    else:
        lines = example_daemon.wait_lines(file, len(want))
        assert sorted(bodies(lines)) == sorted(want)


def test_kitchen_sink(example_daemon):
    done = run_python(RUNNER, example_daemon.tcp_port, EXAMPLES / "kitchen_sink.py")
    assert done.returncode == 0, done.stderr
    assert "dropped 0, pending 0" in done.stdout, done.stdout
    # The traceback alone is several lines: wait for both workers' records
    # rather than for a line count.
    path = example_daemon.log("my-first-app/root.log")
    poll(lambda: sum(" INFO root - worker " in b for b in bodies(read_lines(path))) >= 2)
    got = bodies(read_lines(path))
    assert any(b.endswith("DEBUG root - Starting up") for b in got)
    assert any("Tracebacks arrive as one record\nTraceback" in b or
               b.endswith("Tracebacks arrive as one record") for b in got)
    assert sum(" INFO root - worker " in b for b in got) == 2
    web = bodies(example_daemon.wait_lines("my-first-app/web.requests.log", 1))
    assert web[0].endswith("INFO web.requests - GET /index.html 200")
