"""The bytes on the wire, read by a plain socket receiver written here (not
loghogd): the fields the 0.7 client sent, the time split as LogRecord.created
says, and the SPEC's HMAC-MD5 signature computed independently."""

import hashlib
import hmac
import json
import logging
import socket
import struct
import zlib

from conftest import poll
from loghog import LoghogHandler


def receive_frames(server, n):
    conn, _ = server.accept()
    conn.settimeout(20)
    data = b""
    frames = []
    with conn:
        while len(frames) < n:
            chunk = conn.recv(65536)
            assert chunk, "connection closed after %d frames" % len(frames)
            data += chunk
            while len(data) >= 8:
                length, flags = struct.unpack(">II", data[:8])
                if len(data) < 8 + length:
                    break
                frames.append((flags, data[8 : 8 + length]))
                data = data[8 + length :]
    return frames


def send_records(records, **options):
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(20)
    with server:
        handler = LoghogHandler("my-first-app", "127.0.0.1", server.getsockname()[1], **options)
        handler.setFormatter(logging.Formatter("%(levelname)s - %(message)s"))
        for fields in records:
            handler.handle(logging.makeLogRecord(fields))
        frames = receive_frames(server, len(records))
        handler.close()
    return frames


def test_fields_and_time_as_the_07_client_sent_them():
    created = 1358363502.012043
    (flags, payload), = send_records(
        [{"name": "web.requests", "msg": "Hello world!", "levelname": "INFO", "created": created}],
        hostname="athens",
    )
    assert flags == 0
    message = json.loads(payload)
    assert message == {
        "version": 1,
        "app_id": "my-first-app",
        "module": "web.requests",
        "stamp": 1358363502,
        "nsecs": message["nsecs"],
        "hostname": "athens",
        "body": "INFO - Hello world!",
    }
    # Same second, and the nanoseconds agree with created to well under a
    # microsecond (a float's precision at this magnitude).
    assert abs(message["stamp"] + message["nsecs"] / 1e9 - created) < 1e-6
    assert abs(message["nsecs"] - 12043000) < 1000


def test_signature_is_hmac_md5_of_the_spec_fields_and_zlib_is_flag_1():
    (flags, payload), = send_records(
        [{"name": "root", "msg": "héllo\nworld", "levelname": "WARNING", "created": 1700000000.5}],
        secret="my-big-secret",
        compression=True,
    )
    assert flags == 1
    message = json.loads(zlib.decompress(payload))
    signed = "%s%s%d%d%s" % (
        message["app_id"],
        message["module"],
        message["stamp"],
        message["nsecs"],
        message["body"],
    )
    want = hmac.new(b"my-big-secret", signed.encode("utf-8"), hashlib.md5).hexdigest()
    assert message["signature"] == want
    assert (message["stamp"], message["nsecs"]) == (1700000000, 500000000)
    assert message["body"] == "WARNING - héllo\nworld"


def test_records_arrive_in_order_in_one_connection():
    frames = send_records(
        [{"name": "x", "msg": "n%d" % i, "levelname": "INFO"} for i in range(1000)]
    )
    assert [json.loads(p)["body"] for _, p in frames] == ["INFO - n%d" % i for i in range(1000)]


def test_udp_sends_one_frame_per_datagram():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind(("127.0.0.1", 0))
        server.settimeout(20)
        handler = LoghogHandler("my-first-app", "127.0.0.1", server.getsockname()[1], stream=False)
        for i in range(3):
            handler.handle(logging.makeLogRecord({"name": "u", "msg": "d%d" % i}))
        got = []
        for _ in range(3):
            datagram = server.recv(65536)
            length, flags = struct.unpack(">II", datagram[:8])
            assert length == len(datagram) - 8 and flags == 0
            got.append(json.loads(datagram[8:])["body"])
        assert poll(lambda: handler.pending == 0)
        handler.close()
    assert got == ["d0", "d1", "d2"]
