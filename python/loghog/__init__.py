"""LogHog client: ``LoghogHandler``, a drop-in for the 0.7 client's handler.

Records are formatted on the caller's thread and queued in a bounded buffer;
a background thread written in Rust (``loghog._native``) delivers them to
``loghogd``, reconnecting with back-off. ``emit()`` never waits on the
network, and a handler created before ``os.fork()`` works in every child.
"""

import logging
import os
import socket
import weakref

from loghog._native import Sender as _Sender

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


class LoghogHandler(logging.Handler):
    """A ``logging.Handler`` that sends each record to a LogHog server.

    The arguments are those of the 0.7 client, in the same order:

    * ``app_name``: the application (a section of the server's facilities.conf)
    * ``host``, ``port``: the server (every address ``host`` resolves to is
      tried, in random order)
    * ``stream``: TCP when true, UDP when false
    * ``secret``: signs every record (HMAC-MD5) when given (str or bytes)
    * ``compression``: zlib-compresses every record
    * ``hostname``: sent with each record (default ``socket.gethostname()``)
    * ``ssl_info``: ``{'pemfile': client key+certificate, 'cacert': CA}`` for
      mutual TLS
    * ``max_buffer_size``: records held while the server is slow or away;
      past it the oldest is dropped and counted in ``dropped``
    * ``print_debug``: print connection errors to stdout
    """

    #: Longest wait, in seconds, for ``flush()`` to deliver what is queued.
    flush_timeout = 1.0
    #: Longest wait, in seconds, for ``close()`` to deliver what is queued.
    close_timeout = 2.0

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
    ):
        logging.Handler.__init__(self)
        if isinstance(secret, str):
            secret = secret.encode("utf-8")
        pemfile = cacert = None
        if ssl_info:
            pemfile = ssl_info.get("pemfile")
            cacert = ssl_info.get("cacert")
        self.app_name = app_name
        self.host = host
        self.port = int(port)
        self.stream = bool(stream)
        self.compression = bool(compression)
        self.hostname = hostname if hostname is not None else socket.gethostname()
        self.ssl_info = ssl_info
        self.max_buffer_size = int(max_buffer_size)
        self.print_debug = bool(print_debug)
        self._sender = _Sender(
            app_name,
            host,
            self.port,
            self.stream,
            secret,
            self.compression,
            self.hostname,
            pemfile,
            cacert,
            self.max_buffer_size,
            self.print_debug,
        )
        _handlers.add(self)

    def emit(self, record):
        """Formats the record and queues it; never waits on the network."""
        try:
            self._sender.send(record.name, self.format(record), record.created)
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)

    def flush(self):
        """Waits up to ``flush_timeout`` seconds for the queue to be sent."""
        self._sender.flush(self.flush_timeout)

    def close(self):
        """Delivers what is queued within ``close_timeout`` seconds and stops
        the sender; records logged afterwards are dropped and counted."""
        try:
            self._sender.close(self.close_timeout)
        finally:
            logging.Handler.close(self)

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
    def pending(self):
        """Records queued or being written."""
        return self._sender.pending

    @property
    def last_error(self):
        """The last connection or write error the sender saw, or None."""
        return self._sender.last_error

    def __repr__(self):
        level = logging.getLevelName(self.level)
        return "<%s %s -> %s:%s (%s)>" % (
            self.__class__.__name__,
            getattr(self, "app_name", "?"),
            getattr(self, "host", "?"),
            getattr(self, "port", "?"),
            level,
        )
