"""LogHog client: ``LoghogHandler``, a drop-in for the 0.7 client's handler.

Records are formatted on the caller's thread and queued in a bounded buffer;
a background thread written in Rust (``loghog._native``) delivers them to
``loghogd``, reconnecting with back-off. ``emit()`` never waits on the
network, and a handler created before ``os.fork()`` works in every child.
"""

import hashlib
import logging
import logging.handlers
import os
import random
import socket
import ssl
import sys
import weakref

from loghog._native import Sender as _Sender
from loghog._native import encode_frame as _encode_frame

__all__ = ["LoghogHandler"]
__version__ = "1.0.0"

# Every live handler, so that a forked child can give each a sender of its own
# right after the fork (the parent's sender thread does not exist there).
_handlers = weakref.WeakSet()


def _after_fork_in_child():
    for handler in list(_handlers):
        try:
            handler._sender.after_fork()
        except Exception:  # a broken handler must not break the fork
            pass


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class _Option:
    """An option of the 0.7 handler, kept as an attribute: readable always,
    settable until the handler has queued its first record (the native
    sender is rebuilt with the new value)."""

    def __init__(self, doc):
        self.__doc__ = doc

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, handler, owner=None):
        if handler is None:
            return self
        return handler._options[self.name]

    def __set__(self, handler, value):
        handler._configure(**{self.name: value})


class LoghogHandler(logging.handlers.SocketHandler):
    """A ``logging.Handler`` that sends each record to a LogHog server.

    The arguments are those of the 0.7 client, in the same order:

    * ``app_name``: the application (a section of the server's facilities.conf)
    * ``host``, ``port``: the server (every address ``host`` resolves to is
      tried, in random order)
    * ``stream``: TCP when true, UDP when false
    * ``secret``: signs every record (HMAC-MD5) when true (str or bytes);
      ``None`` or ``''`` sends unsigned records
    * ``compression``: zlib-compresses every record
    * ``hostname``: sent with each record; ``None`` or ``''`` sends
      ``socket.gethostname()``
    * ``ssl_info``: ``{'pemfile': client key+certificate, 'cacert': CA}`` for
      mutual TLS
    * ``max_buffer_size``: records held while the server is slow or away;
      past it the oldest is dropped and counted in ``dropped``
    * ``print_debug``: print connection errors to stdout

    Beyond 0.7, keyword arguments:

    * ``ack``: acknowledged delivery (protocol v2, TCP/TLS): records are
      kept until the server confirms them written (or refuses them, see
      ``rejected``) and resent after a reconnect, written once; ``flush()``
      and ``close()`` wait (bounded) for the acknowledgements, and records
      given up on are counted in ``dropped`` and reported on stderr. A
      server that does not answer gets plain v1 after 2 seconds.
    * ``signature``: ``'md5'`` (the default, what every server checks) or
      ``'sha256'`` (HMAC-SHA256; needs this version of loghogd)
    * ``replay_protection``: with a secret, adds a nonce and a record number
      under their own signature, for servers with ``replay_protection = yes``

    Like 0.7's, it is a ``logging.handlers.SocketHandler``; unlike it,
    ``emit()``, ``send()`` and ``close()`` never wait on the network beyond
    the ``flush_timeout``/``close_timeout`` bounds: the native sender does
    the writing.
    """

    #: The protocol version written in every message.
    VERSION = 1
    #: ``struct`` format of a frame: payload length and flags (both u32, big
    #: endian), then the payload (``FORMAT_PROTO % len(payload)``).
    FORMAT_PROTO = "!LL %ds"
    #: The digest of message signatures (HMAC-MD5).
    HMAC_DIGEST_ALGO = hashlib.md5
    _FLAGS_GZIP = 0x01

    #: Longest wait, in seconds, for ``flush()`` to deliver what is queued.
    flush_timeout = 1.0
    #: Longest wait, in seconds, for ``close()`` to deliver what is queued.
    close_timeout = 2.0

    app_name = _Option("The application: a section of the server's facilities.conf.")
    host = _Option("The server's host name or address.")
    port = _Option("The server's port.")
    use_stream = _Option("True: TCP (or TLS); False: UDP. Also spelt ``stream``.")
    secret = _Option("The signing secret as given; records are signed when it is true.")
    compression = _Option("True: every record is zlib-compressed (flag 0x01).")
    hostname = _Option("The host name sent with each record.")
    pemfile = _Option("The client's key and certificate (PEM) for TLS, or None.")
    cacert = _Option("The CA certificate that must have signed the server's, or None.")
    max_buffer_size = _Option("Records held while the server is away; past it the oldest goes.")
    print_debug = _Option("True: connection errors are printed to stdout.")
    ack = _Option("True: acknowledged delivery (protocol v2), resent until confirmed.")
    signature = _Option("'md5' or 'sha256': the HMAC of signed records.")
    replay_protection = _Option("True: signed records carry a nonce and a number.")

    def __init__(
        self,
        app_name,
        host="localhost",
        port=5566,
        stream=True,
        secret=None,
        compression=False,
        hostname=None,
        ssl_info=None,
        max_buffer_size=1024,
        print_debug=False,
        ack=False,
        signature="md5",
        replay_protection=False,
    ):
        # Not SocketHandler.__init__: its attributes are set here, and the
        # 0.7 options are properties that build the native sender.
        logging.Handler.__init__(self)
        self.sock = None
        self.closeOnError = False
        self.retryTime = None
        self.retryStart = 1.0
        self.retryMax = 30.0
        self.retryFactor = 2.0
        self._options = {}
        self._sender = None
        self._stale = False
        self._used = False
        pemfile = cacert = None
        if ssl_info:
            pemfile = ssl_info.get("pemfile")
            cacert = ssl_info.get("cacert")
        self._configure(
            _always=True,
            app_name=app_name,
            host=host,
            port=port,
            use_stream=stream,
            secret=secret,
            compression=compression,
            hostname=hostname,
            pemfile=pemfile,
            cacert=cacert,
            max_buffer_size=max_buffer_size,
            print_debug=print_debug,
            ack=ack,
            signature=signature,
            replay_protection=replay_protection,
        )
        _handlers.add(self)

    # -- options -----------------------------------------------------------

    def _configure(self, _always=False, **changes):
        """Applies option changes and rebuilds the native sender, unless the
        handler has queued records already (then AttributeError). Raises the
        sender's ValueError (bad TLS files) and keeps the old options then."""
        with self.lock:
            if self._used:
                raise AttributeError(
                    "LoghogHandler: %s cannot change after the handler has sent "
                    "records; make a new handler" % ", ".join(sorted(changes))
                )
            old, old_stale = self._options, self._stale
            options = dict(old)
            for name, value in changes.items():
                options[name] = self._normalise(name, value)
            self._options = options
            self._stale = True
            # Half of a TLS pair waits for the other half (set next, say);
            # using the handler before then raises the sender's ValueError.
            if _always or (options["pemfile"] is None) == (options["cacert"] is None):
                try:
                    self._rebuild()
                except Exception:
                    if old:
                        self._options, self._stale = old, old_stale
                    raise

    @staticmethod
    def _normalise(name, value):
        if name == "port":
            return int(value)
        if name in ("use_stream", "compression", "print_debug", "ack", "replay_protection"):
            return bool(value)
        if name == "signature":
            value = str(value).lower()
            if value not in ("md5", "sha256"):
                raise ValueError("signature must be 'md5' or 'sha256', not %r" % value)
            return value
        if name == "max_buffer_size":
            return int(value)
        if name == "hostname":
            # As 0.7: any false value means the machine's name.
            return value or socket.gethostname()
        if name in ("pemfile", "cacert"):
            return value or None
        return value

    def _secret_bytes(self):
        secret = self._options["secret"]
        if not secret:  # None or '' (or b''): unsigned, as in 0.7
            return None
        if isinstance(secret, str):
            return secret.encode("utf-8")
        return bytes(secret)

    def _rebuild(self):
        o = self._options
        sender = _Sender(
            o["app_name"],
            o["host"],
            o["port"],
            o["use_stream"],
            self._secret_bytes(),
            o["compression"],
            o["hostname"],
            o["pemfile"],
            o["cacert"],
            o["max_buffer_size"],
            o["print_debug"],
            o["ack"],
            o["signature"],
            o["replay_protection"],
        )
        old, self._sender = self._sender, sender
        self._stale = False
        if old is not None:
            # Nothing was ever queued on it, so this returns at once.
            old.close(0.0)

    def _sender_for_records(self):
        """The sender, marked as used: options are fixed from now on."""
        if self._used:
            return self._sender
        with self.lock:  # against a concurrent _configure
            if self._stale:
                self._rebuild()
            self._used = True
            return self._sender

    @property
    def stream(self):
        """Same as ``use_stream`` (the constructor's name for it)."""
        return self.use_stream

    @stream.setter
    def stream(self, value):
        self.use_stream = value

    @property
    def address(self):
        """``(host, port)``, as 0.7 and ``SocketHandler`` have it."""
        return (self.host, self.port)

    @address.setter
    def address(self, value):
        host, port = value
        self._configure(host=host, port=port)

    @property
    def ssl_info(self):
        """``{'pemfile': ..., 'cacert': ...}``, or None without TLS."""
        if self.pemfile is None and self.cacert is None:
            return None
        return {"pemfile": self.pemfile, "cacert": self.cacert}

    @ssl_info.setter
    def ssl_info(self, value):
        value = value or {}
        self._configure(pemfile=value.get("pemfile"), cacert=value.get("cacert"))

    @property
    def flags(self):
        """The frame flags of every record: 0x01 when compressed (set
        ``compression`` to change them)."""
        return self._FLAGS_GZIP if self.compression else 0

    @property
    def buffer(self):
        """The frames queued and not yet handed to the socket, oldest first:
        a snapshot (a tuple of ``bytes``), not a live view."""
        if self._sender is None:
            return ()
        return tuple(self._sender.queued_frames())

    # -- the logging.Handler interface --------------------------------------

    def _encode(self, record):
        """The frame for ``record``, exactly as the sender queues it: the
        8-byte header (payload length, flags) and the JSON or zlib payload,
        signed when a secret is set."""
        o = self._options
        return _encode_frame(
            o["app_name"],
            o["hostname"],
            self._secret_bytes(),
            o["compression"],
            record.name,
            self.format(record),
            record.created,
            o["signature"],
        )

    def makePickle(self, record):
        """What ``SocketHandler`` would send for ``record``: here, the LogHog
        frame (``_encode``)."""
        return self._encode(record)

    def emit(self, record):
        """Formats the record and queues it; never waits on the network."""
        try:
            sender = self._sender_for_records()
            sender.send(record.name, self.format(record), record.created)
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)

    def send(self, s):
        """Queues frame bytes (what ``_encode`` returns; several may follow
        each other) for the sender, in order with the handler's records.
        Never waits on the network. Raises ValueError, queueing nothing, if
        ``s`` is not whole frames."""
        self._sender_for_records().send_frames(bytes(s))

    def makeSocket(self, timeout=1.0):
        """A new socket connected to the server (TLS when ``pemfile`` is set,
        checking the server against ``cacert`` but not its host name), as 0.7
        made it. Each address ``host`` resolves to is tried in random order;
        if none connects, the error is printed when ``print_debug`` is set and
        the last (unconnected) socket is returned, as 0.7 did. The handler
        itself never uses it: records go through the native sender."""
        kind = socket.SOCK_STREAM if self.use_stream else socket.SOCK_DGRAM
        addresses = socket.getaddrinfo(self.host, self.port, 0, kind)
        random.shuffle(addresses)
        context = None
        if self.use_stream and self.pemfile:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_cert_chain(self.pemfile)
            context.load_verify_locations(self.cacert)
        s = None
        for family, socktype, proto, _, address in addresses:
            if s is not None:
                s.close()
            s = socket.socket(family, socktype, proto)
            s.settimeout(timeout)
            if context is not None:
                s = context.wrap_socket(s, server_hostname=self.host)
            try:
                s.connect(address)
                return s
            except Exception as e:
                if self.print_debug:
                    print(e)
        return s

    def flush(self):
        """Waits up to ``flush_timeout`` seconds for the queue to be sent."""
        if self._sender is not None:
            self._sender.flush(self.flush_timeout)

    def close(self):
        """Delivers what is queued within ``close_timeout`` seconds and stops
        the sender; records logged afterwards are dropped and counted. Also
        closes ``sock`` if the application made one (``createSocket()``)."""
        try:
            if self._sender is not None:
                before = self._sender.dropped
                self._sender.close(self.close_timeout)
                given_up = self._sender.dropped - before
                if given_up and self._options.get("ack"):
                    # Acknowledged delivery promised to account for every
                    # record: say so when some were not confirmed.
                    sys.stderr.write(
                        "loghog: %d record(s) for %s were not acknowledged within %ss "
                        "and were given up (last error: %s)\n"
                        % (given_up, self._sender.address, self.close_timeout,
                           self._sender.last_error)
                    )
        finally:
            sock, self.sock = self.sock, None
            try:
                if sock is not None:
                    sock.close()
            finally:
                logging.Handler.close(self)

    # -- beyond 0.7 ----------------------------------------------------------

    @property
    def dropped(self):
        """Records this process dropped: pushed out of a full buffer, or
        logged after ``close()``."""
        return self._sender.dropped

    @property
    def delivered(self):
        """Records this process has written to the server's socket."""
        return self._sender.delivered

    @property
    def rejected(self):
        """With ``ack=True``: how many records the server refused."""
        return self._sender.rejected[0]

    @property
    def last_rejection(self):
        """With ``ack=True``: the server's reason for the last refused record
        (``'unknown_app'``, ``'bad_signature'``...), or None."""
        return self._sender.rejected[1]

    @property
    def pending(self):
        """Records queued or being written."""
        return self._sender.pending

    @property
    def last_error(self):
        """The last connection or write error the sender saw, or None."""
        return self._sender.last_error

    def __repr__(self):
        level = logging.getLevelName(self.level)
        options = getattr(self, "_options", {})
        return "<%s %s -> %s:%s (%s)>" % (
            self.__class__.__name__,
            options.get("app_name", "?"),
            options.get("host", "?"),
            options.get("port", "?"),
            level,
        )
