"""Shared by the fault scripts (rotation storm, kill -9, disk full): a real
loghogd in a directory of the caller's choosing, v1 frames with numbered
records, and a reader that checks every line of every log file, rotated
and compressed ones included. Python 3 standard library only.

The daemon listens on 127.0.0.1 port 0; the port is read from the last
`listening` line of its own log, so a restart on the same directory finds
its new port.
"""

import atexit
import bz2
import gzip
import lzma
import os
import re
import signal
import struct
import subprocess
import time

DECOMPRESS = {".xz": lzma.open, ".gz": gzip.open, ".bz2": bz2.open}
# A rotated name: {live}.{%Y-%m-%d-%H-%M-%S-%f}[-N][.ext]
ROTATED = re.compile(
    r"^(?P<live>.+\.log)\.(?P<stamp>\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d-\d{6})"
    r"(?:-(?P<seq>\d{1,3}))?(?P<ext>\.xz|\.gz|\.bz2)?$"
)
# A whole line as loghogd writes it, body `SEQ <conn> <n> <padding>`.
LINE = re.compile(
    rb"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} - [A-Za-z0-9.-]+ - "
    rb"SEQ (?P<conn>[a-z]\d{2,3}) (?P<n>\d{9}) x*$"
)


def frames(app, conn, first, count, pad, host="fault-host", vary=0):
    """`count` frames of numbered records `first`.. of `conn`. With `vary`
    0 all are the same size (the stamp has ten digits, nsecs is 0); else
    record n gets `pad + (n * 7919) % (vary + 1)` x's, so that sizes do not
    line up with a rotation limit. A template, not json.dumps, so that
    Python keeps up with the daemon."""
    head = ('{"version":1,"app_id":"%s","module":"","stamp":%d,"nsecs":0,'
            '"hostname":"%s","body":"SEQ %s ' % (app, int(time.time()), host, conn)).encode()
    if not vary:
        tail = (" %s\"}" % ("x" * pad)).encode()
        size = struct.pack(">II", len(head) + 9 + len(tail), 0)
        return b"".join(size + head + b"%09d" % n + tail for n in range(first, first + count))
    out = []
    for n in range(first, first + count):
        tail = b" " + b"x" * (pad + (n * 7919) % (vary + 1)) + b'"}'
        out.append(struct.pack(">II", len(head) + 9 + len(tail), 0) + head + b"%09d" % n + tail)
    return b"".join(out)


class Daemon:
    """loghogd on a config written into `root`, its log files in `logdir`."""

    def __init__(self, binary, root, logdir, facilities, compressor="", main_extra=""):
        self.binary = binary
        self.root = root
        self.logdir = logdir
        self.own_log = os.path.join(root, "loghogd.log")
        self.conf = os.path.join(root, "loghogd.conf")
        self.proc = None
        os.makedirs(root, exist_ok=True)
        with open(os.path.join(root, "facilities.conf"), "w") as f:
            f.write(facilities)
        with open(self.conf, "w") as f:
            f.write(
                "[main]\nworkdir = work\nlogdir = %s\nrundir = run\n"
                "facilities_config = facilities.conf\n%s\n"
                "[log]\nfilename = loghogd.log\nlevel = INFO\n\n"
                "[compressor]\n%s\n\n"
                "[server]\nlisten_ipv4 = 127.0.0.1:0\nlisten_ipv6 =\n"
                % (logdir, main_extra, compressor)
            )

    def log_text(self):
        try:
            with open(self.own_log, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def start(self, timeout=30):
        """Starts the daemon and returns its (tcp, udp) addresses."""
        before = self.log_text().count("loghogd started")
        err = open(os.path.join(self.root, "stderr.txt"), "a")
        self.proc = subprocess.Popen(
            [self.binary, "-c", self.conf],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        err.close()
        # A script that fails half-way must not leave a daemon behind (nor
        # a busy tmpfs that cannot be unmounted).
        atexit.register(self._reap, self.proc)
        deadline = time.time() + timeout
        while self.log_text().count("loghogd started") <= before:
            if self.proc.poll() is not None or time.time() > deadline:
                raise SystemExit("loghogd did not start:\n" + self.log_text()[-4000:])
            time.sleep(0.05)
        text = self.log_text()

        def last(proto):
            found = re.findall(r"proto=%s addr=(\S+):(\d+) listening" % proto, text)
            return (found[-1][0], int(found[-1][1]))

        return last("tcp"), last("udp")

    @staticmethod
    def _reap(proc):
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    def signal(self, sig):
        self.proc.send_signal(sig)

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self, timeout=120):
        """SIGTERM; the exit status, or None if it had to be killed."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None


def log_files(app_dir):
    """The files of one app directory in write order: rotated files by
    their start stamp (and uniqueness suffix), each live file last. A
    rotated file present both plain and compressed (compression done, the
    plain one not yet removed) is listed once, compressed. Temp archives
    (`.tmp`) are returned separately: they are never a log file."""
    names = set(os.listdir(app_dir))
    rotated, live, temps = [], [], []
    for name in names:
        if name.endswith(".tmp"):
            temps.append(name)
            continue
        m = ROTATED.match(name)
        if m is None:
            live.append(name)
            continue
        if m.group("ext") is None and any(name + e in names for e in DECOMPRESS):
            continue
        rotated.append(((m.group("live"), m.group("stamp"), int(m.group("seq") or 0)), name))
    rotated.sort()
    return [n for _, n in rotated] + sorted(live), sorted(temps)


def read_file(path):
    """The decompressed bytes of one log file, and None, or None and the
    error if it does not decompress fully (truncated or corrupt archive)."""
    ext = os.path.splitext(path)[1]
    opener = DECOMPRESS.get(ext, open)
    try:
        with opener(path, "rb") as f:
            return f.read(), None
    except (OSError, EOFError, lzma.LZMAError) as e:
        return None, "%s: %s" % (os.path.basename(path), e)


class Check:
    """Reads every log file of one app and checks the numbered records:
    each line whole and well-formed, no record twice, each connection's
    records in order."""

    def __init__(self, app_dir):
        self.files, self.temps = log_files(app_dir) if os.path.isdir(app_dir) else ([], [])
        self.seen = {}  # conn -> list of n in file order
        self.torn = []
        self.corrupt = []
        self.sizes = []  # (name, decompressed bytes, lines, longest line)
        for name in self.files:
            data, err = read_file(os.path.join(app_dir, name))
            if err:
                self.corrupt.append(err)
                continue
            lines = data.split(b"\n")
            if lines and lines[-1] == b"":
                lines.pop()
            elif lines:
                self.torn.append((name, "no newline at end", lines[-1][-120:]))
            longest = 0
            offset = 0
            for line in lines:
                longest = max(longest, len(line) + 1)
                m = LINE.match(line)
                if m is None:
                    self.torn.append((name, "malformed line at byte %d" % offset, line[:200]))
                    offset += len(line) + 1
                    continue
                offset += len(line) + 1
                self.seen.setdefault(m.group("conn").decode(), []).append(int(m.group("n")))
            self.sizes.append((name, len(data), len(lines), longest))

    def per_conn(self):
        """conn -> (found set, duplicates, order breaks)."""
        out = {}
        for conn, ns in self.seen.items():
            found = set(ns)
            dups = len(ns) - len(found)
            breaks = sum(1 for a, b in zip(ns, ns[1:]) if b <= a)
            out[conn] = (found, dups, breaks)
        return out
