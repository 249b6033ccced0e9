"""The 0.7 client's surface: ``_encode`` (checked as 0.7's own tests did, by
unpacking the frame), the attributes and class constants, falsy arguments,
``makeSocket``/``send``, and ``isinstance(..., SocketHandler)``."""

import hashlib
import hmac
import json
import logging
import logging.handlers
import socket
import ssl
import struct
import zlib

import pytest

from conftest import TLS_DATA, bodies, free_port, poll
from loghog import LoghogHandler

HEADER = "!LL"
HEADER_SIZE = struct.calcsize(HEADER)
REQUIRED = ["version", "stamp", "nsecs", "app_id", "module", "body"]
SIGNED_FIELDS = ["app_id", "module", "stamp", "nsecs", "body"]


def record(msg="test message", name="web.requests", created=None):
    rec = logging.LogRecord(name, logging.INFO, __file__, 10, msg, (), None)
    if created is not None:
        rec.created = created
        rec.msecs = (created - int(created)) * 1000
    return rec


def unpack(frame):
    """(flags, payload) of one frame; checks that the length is exact."""
    size, flags = struct.unpack(HEADER, frame[:HEADER_SIZE])
    assert size == len(frame) - HEADER_SIZE, (size, len(frame))
    (payload,) = struct.unpack("%ds" % size, frame[HEADER_SIZE:])
    # The class constant describes the same layout.
    assert struct.unpack(LoghogHandler.FORMAT_PROTO % size, frame) == (size, flags, payload)
    return flags, payload


def message(payload):
    msg = json.loads(payload)
    for field in REQUIRED:
        assert field in msg, field
    return msg


def signature(secret, msg):
    signed = "".join(str(msg[f]) for f in SIGNED_FIELDS).encode("utf-8")
    return hmac.new(secret, signed, hashlib.md5).hexdigest()


def make(*args, **kwargs):
    handler = LoghogHandler(*args, **kwargs)
    handler.setFormatter(logging.Formatter("%(levelname)s - %(message)s"))
    return handler


def test_encode_plain():
    handler = make("test-app", hostname="athens")
    flags, payload = unpack(handler._encode(record(created=1358363502.012043)))
    assert flags == 0 == handler.flags
    msg = message(payload)
    assert msg == {
        "version": 1,
        "app_id": "test-app",
        "module": "web.requests",
        "stamp": 1358363502,
        "nsecs": msg["nsecs"],
        "hostname": "athens",
        "body": "INFO - test message",
    }
    assert abs(msg["nsecs"] - 12043000) < 1000
    handler.close()


def test_encode_with_zlib():
    handler = make("test-app", compression=True)
    flags, payload = unpack(handler._encode(record()))
    assert flags == 1 == handler.flags
    assert payload[:1] == b"\x78"
    msg = message(zlib.decompress(payload))
    assert (msg["app_id"], msg["module"], msg["body"]) == (
        "test-app", "web.requests", "INFO - test message")
    assert "signature" not in msg
    handler.close()


@pytest.mark.parametrize("secret", ["qqq123", b"qqq123"])
def test_encode_signed(secret):
    handler = make("test-app", secret=secret)
    flags, payload = unpack(handler._encode(record("signé ✓")))
    assert flags == 0
    msg = message(payload)
    assert msg["body"] == "INFO - signé ✓"
    assert msg["signature"] == signature(b"qqq123", msg)
    assert msg["signature"] != signature(b"qqq124", msg)
    handler.close()


def test_encode_signed_and_zlib():
    handler = make("test-app", secret="qqq123", compression=True)
    flags, payload = unpack(handler._encode(record("a\nb")))
    assert flags == 1
    msg = message(zlib.decompress(payload))
    assert msg["signature"] == signature(b"qqq123", msg)
    handler.close()


def receive(server, size):
    conn, _ = server.accept()
    conn.settimeout(20)
    data = b""
    with conn:
        while len(data) < size:
            chunk = conn.recv(65536)
            assert chunk, "closed after %d of %d bytes" % (len(data), size)
            data += chunk
    return data


@pytest.mark.parametrize("options", [{}, {"compression": True}, {"secret": "s3", "compression": True}])
def test_encode_is_exactly_what_the_sender_sends(options):
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(20)
    with server:
        handler = make("test-app", "127.0.0.1", server.getsockname()[1], **options)
        records = [record("one"), record("twö\nlines", name="root")]
        frames = [handler._encode(r) for r in records]
        for r in records:
            handler.handle(r)
        assert receive(server, sum(map(len, frames))) == b"".join(frames)
        handler.close()


def test_is_a_socket_handler_with_the_07_constants():
    handler = make("test-app")
    assert isinstance(handler, logging.handlers.SocketHandler)
    assert LoghogHandler.VERSION == 1
    assert LoghogHandler.FORMAT_PROTO == "!LL %ds"
    assert LoghogHandler.HMAC_DIGEST_ALGO is hashlib.md5
    handler.close()


def test_attributes_as_in_07():
    tls = {"pemfile": str(TLS_DATA / "client1.pem"),
           "cacert": str(TLS_DATA / "localhost-ca.cert")}
    handler = LoghogHandler("test-app", "127.0.0.1", 5577, True, "s3", True, "athens", tls, 7, True)
    assert handler.app_name == "test-app"
    assert handler.address == ("127.0.0.1", 5577)
    assert (handler.host, handler.port) == ("127.0.0.1", 5577)
    assert handler.use_stream is True and handler.stream is True
    assert handler.secret == "s3"
    assert handler.compression is True
    assert handler.flags == 1
    assert handler.hostname == "athens"
    assert handler.max_buffer_size == 7
    assert handler.print_debug is True
    assert handler.pemfile == tls["pemfile"] and handler.cacert == tls["cacert"]
    assert handler.ssl_info == tls
    assert handler.sock is None
    assert handler.buffer == ()
    handler.close()
    plain = LoghogHandler("test-app", stream=False)
    assert plain.address == ("localhost", 5566)
    assert plain.use_stream is False
    assert plain.pemfile is None and plain.cacert is None and plain.ssl_info is None
    assert plain.flags == 0 and plain.secret is None
    plain.close()


@pytest.mark.parametrize("falsy", ["", None])
def test_falsy_hostname_and_secret_mean_what_they_meant_in_07(falsy):
    handler = make("test-app", secret=falsy, hostname=falsy)
    assert handler.hostname == socket.gethostname()
    msg = message(unpack(handler._encode(record()))[1])
    assert msg["hostname"] == socket.gethostname()
    assert "signature" not in msg
    handler.close()


def test_falsy_secret_sends_unsigned_records():
    # What the sender writes, not only what _encode returns.
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(20)
    with server:
        handler = make("test-app", "127.0.0.1", server.getsockname()[1], secret="", hostname="")
        handler.handle(record())
        frame = handler._encode(record())
        got = receive(server, len(frame))
        handler.close()
    msg = message(unpack(got)[1])
    assert "signature" not in msg and msg["hostname"] == socket.gethostname()


def test_options_set_before_first_use_apply(daemon, make_logger):
    handler = LoghogHandler("wrong-app", "127.0.0.1", 1)
    handler.app_name = "app-with-secret"
    handler.address = ("127.0.0.1", daemon.tcp_port)
    handler.secret = "my-big-secret"
    handler.compression = True
    handler.hostname = "athens"
    assert handler.flags == 1
    log = make_logger(handler)
    log.info("configured late")
    lines = daemon.wait_lines("app-with-secret/root.log", 1)
    assert bodies(lines) == ["INFO - configured late"]
    assert " - athens - " in lines[0]
    with pytest.raises(AttributeError, match="after the handler has sent records"):
        handler.secret = "other"
    assert handler.secret == "my-big-secret"


def test_flags_follow_compression_and_cannot_be_set():
    handler = LoghogHandler("test-app")
    with pytest.raises(AttributeError):
        handler.flags = 1
    handler.compression = True
    assert handler.flags == 1
    handler.close()


def test_bad_tls_files_set_later_raise_and_keep_the_old_options(tmp_path):
    handler = LoghogHandler("test-app")
    with pytest.raises(ValueError, match="missing.pem"):
        handler.ssl_info = {"pemfile": str(tmp_path / "missing.pem"),
                            "cacert": str(TLS_DATA / "localhost-ca.cert")}
    assert handler.ssl_info is None and handler.pemfile is None
    handler.close()


def test_make_socket_connects_to_the_server(daemon):
    handler = make("test-app", "127.0.0.1", daemon.tcp_port)
    sock = handler.makeSocket()
    with sock:
        sock.sendall(handler._encode(record("through makeSocket")))
    lines = daemon.wait_lines("test-app/root.log", 1)
    assert bodies(lines) == ["INFO - through makeSocket"]
    # createSocket (SocketHandler's) keeps it in .sock; close() closes it.
    handler.createSocket()
    assert handler.sock is not None
    sock = handler.sock
    handler.close()
    assert handler.sock is None and sock.fileno() == -1


def test_make_socket_speaks_tls_without_checking_the_host_name(tls_daemon):
    tls = {"pemfile": str(TLS_DATA / "client1.pem"),
           "cacert": str(TLS_DATA / "localhost-ca.cert")}
    # 127.0.0.1 is not the certificate's name: 0.7 did not check it either.
    handler = make("test-app", "127.0.0.1", tls_daemon.tls_port, ssl_info=tls)
    sock = handler.makeSocket()
    with sock:
        assert isinstance(sock, ssl.SSLSocket)
        sock.sendall(handler._encode(record("through TLS makeSocket")))
    lines = tls_daemon.wait_lines("test-app/root.log", 1)
    assert bodies(lines) == ["INFO - through TLS makeSocket"]
    handler.close()


def test_make_socket_with_no_server_returns_and_prints_on_request(capfd):
    handler = make("test-app", "127.0.0.1", free_port(), print_debug=True)
    sock = handler.makeSocket(timeout=2)
    sock.close()
    assert "refused" in capfd.readouterr().out.lower()
    handler.close()


def test_send_queues_frames_in_order_with_records(daemon, make_logger):
    handler = make("test-app", "127.0.0.1", daemon.tcp_port)
    log = make_logger(handler)
    log.info("first")
    handler.send(handler._encode(record("second")))
    handler.send(handler._encode(record("third")) + handler._encode(record("fourth")))
    log.info("fifth")
    lines = daemon.wait_lines("test-app/root.log", 5)
    assert bodies(lines) == ["INFO - %s" % w for w in ["first", "second", "third", "fourth", "fifth"]]


def test_send_over_udp_and_bad_bytes_lose_nothing_else(daemon, make_logger):
    handler = make("test-app", "127.0.0.1", daemon.udp_port, stream=False)
    log = make_logger(handler)
    frame = handler._encode(record("by datagram"))
    with pytest.raises(ValueError, match="not whole LogHog frames"):
        handler.send(frame[:-1])
    with pytest.raises(ValueError, match="less than a header"):
        handler.send(frame + b"\x00\x00")
    handler.send(frame)
    assert poll(lambda: handler.pending == 0)
    log.info("after")
    lines = daemon.wait_lines("test-app/root.log", 2)
    assert bodies(lines) == ["INFO - by datagram", "INFO - after"]
    assert handler.dropped == 0


def test_buffer_holds_the_queued_frames_while_the_server_is_away():
    handler = make("test-app", "127.0.0.1", free_port(), max_buffer_size=2)
    records = [record("r%d" % i) for i in range(3)]
    for r in records:
        handler.handle(r)
    assert poll(lambda: handler.dropped == 1)
    assert handler.buffer == tuple(handler._encode(r) for r in records[1:])
    # send() queues too, with the server away: it never waits for it.
    extra = handler._encode(record("sent"))
    handler.send(extra)
    assert handler.buffer == (handler._encode(records[2]), extra)
    assert handler.dropped == 2
    handler.close_timeout = 0.1
    handler.close()


def test_make_pickle_is_the_loghog_frame():
    handler = make("test-app", hostname="athens")
    rec = record(created=1700000000.25)
    assert handler.makePickle(rec) == handler._encode(rec)
    handler.close()
