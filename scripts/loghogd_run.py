"""A real loghogd in a temp dir, for the soak and measurement scripts.

Starts the binary on 127.0.0.1 with a port the OS picks (read back from
the daemon's own log), and offers the wire format (frames, signing) and a
reader for every log file of an app, rotated and compressed ones included.
Python 3 standard library only.
"""

import bz2
import gzip
import hashlib
import hmac
import json
import lzma
import os
import re
import signal
import struct
import subprocess
import tempfile
import time

FLAG_ZLIB = 0x01
OPENERS = {".gz": gzip.open, ".xz": lzma.open, ".bz2": bz2.open}


def frame(payload, flags=0):
    """An 8-byte header (length, flags; big-endian) and the payload."""
    return struct.pack(">II", len(payload), flags) + payload


def sign(secret, msg):
    """The v1 signature: hex HMAC-MD5 over app_id, module, stamp, nsecs, body."""
    text = "%s%s%d%d%s" % (msg["app_id"], msg["module"], msg["stamp"], msg["nsecs"], msg["body"])
    return hmac.new(secret.encode(), text.encode("utf-8"), hashlib.md5).hexdigest()


def message(app, module, body, hostname="soak-host"):
    now = time.time()
    msg = {
        "version": 1,
        "app_id": app,
        "module": module,
        "stamp": int(now),
        "nsecs": int((now % 1) * 1e9),
        "body": body,
    }
    if hostname is not None:
        msg["hostname"] = hostname
    return msg


def payload_of(msg):
    return json.dumps(msg).encode()


class Daemon:
    """loghogd started in a fresh temp dir; `stop()` ends it."""

    def __init__(self, binary, facilities, server_extra="", level="INFO", compressor=""):
        self.dir = tempfile.mkdtemp(prefix="loghogd-")
        self.logdir = os.path.join(self.dir, "logs")
        self.own_log = os.path.join(self.dir, "loghogd.log")
        with open(os.path.join(self.dir, "facilities.conf"), "w") as f:
            f.write(facilities)
        with open(os.path.join(self.dir, "loghogd.conf"), "w") as f:
            f.write(
                "[main]\nworkdir = work\nlogdir = logs\nrundir = run\n"
                "facilities_config = facilities.conf\n\n"
                "[log]\nfilename = loghogd.log\nlevel = %s\n\n"
                "[compressor]\n%s\n\n"
                "[server]\nlisten_ipv4 = 127.0.0.1:0\nlisten_ipv6 =\n%s\n"
                % (level, compressor, server_extra)
            )
        self.stderr = open(os.path.join(self.dir, "stderr.txt"), "w")
        self.proc = subprocess.Popen(
            [binary, "-c", os.path.join(self.dir, "loghogd.conf")],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self.stderr,
        )
        deadline = time.time() + 30
        while "loghogd started" not in self.log_text():
            if self.proc.poll() is not None or time.time() > deadline:
                raise SystemExit("loghogd did not start:\n" + self.log_text())
            time.sleep(0.05)
        text = self.log_text()
        self.tcp = self._addr(text, "tcp")
        self.udp = self._addr(text, "udp")

    @staticmethod
    def _addr(text, proto):
        m = re.search(r"proto=%s addr=(\S+):(\d+) listening" % proto, text)
        return (m.group(1), int(m.group(2)))

    def log_text(self):
        try:
            with open(self.own_log, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def alive(self):
        return self.proc.poll() is None

    def rss(self):
        """(current, peak) resident set size in bytes, from /proc."""
        fields = {}
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                key, _, value = line.partition(":")
                fields[key] = value.split()
        return int(fields["VmRSS"][0]) * 1024, int(fields["VmHWM"][0]) * 1024

    def open_fds(self):
        return len(os.listdir("/proc/%d/fd" % self.proc.pid))

    def stop(self, timeout=60):
        """SIGTERM, then the exit status (None if it had to be killed)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return None
        return self.proc.returncode

    def app_text(self, app):
        """Everything written for `app`: live files and rotated ones,
        decompressed; a rotated file present both plain and compressed (a
        compression that finished but did not yet remove the original) is
        read once. While the daemon runs, a file can be rotated or
        compressed between listing and reading: then the listing is read
        again."""
        for _ in range(100):
            try:
                return self._app_text_once(app)
            except FileNotFoundError:
                time.sleep(0.05)
        return self._app_text_once(app)

    def _app_text_once(self, app):
        out = []
        d = os.path.join(self.logdir, app)
        if not os.path.isdir(d):
            return ""
        names = set(os.listdir(d))
        for name in sorted(names):
            path = os.path.join(d, name)
            if name.endswith(".tmp"):
                continue
            base, ext = os.path.splitext(name)
            opener = OPENERS.get(ext)
            if opener is not None and base in names:
                continue
            opener = opener or open
            with opener(path, "rb") as f:
                out.append(f.read().decode("utf-8", "replace"))
        return "".join(out)
