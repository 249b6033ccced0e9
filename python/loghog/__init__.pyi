import logging
import logging.handlers
import socket
from typing import Any, Callable, Mapping, Optional, Tuple, Union

__all__ = ["LoghogHandler"]
__version__: str

class LoghogHandler(logging.handlers.SocketHandler):
    VERSION: int
    FORMAT_PROTO: str
    HMAC_DIGEST_ALGO: Callable[..., Any]
    flush_timeout: float
    close_timeout: float
    app_name: str
    host: str
    port: int
    address: Tuple[str, int]  # type: ignore[assignment]
    stream: bool
    use_stream: bool
    secret: Optional[Union[str, bytes]]
    compression: bool
    hostname: str
    ssl_info: Optional[Mapping[str, str]]
    pemfile: Optional[str]
    cacert: Optional[str]
    max_buffer_size: int
    print_debug: bool
    ack: bool
    signature: str
    replay_protection: bool
    sock: Optional[socket.socket]
    def __init__(
        self,
        app_name: str,
        host: str = "localhost",
        port: int = 5566,
        stream: bool = True,
        secret: Optional[Union[str, bytes]] = None,
        compression: bool = False,
        hostname: Optional[str] = None,
        ssl_info: Optional[Mapping[str, str]] = None,
        max_buffer_size: int = 1024,
        print_debug: bool = False,
        ack: bool = False,
        signature: str = "md5",
        replay_protection: bool = False,
    ) -> None: ...
    @property
    def flags(self) -> int: ...
    @property
    def buffer(self) -> Tuple[bytes, ...]: ...
    def _encode(self, record: logging.LogRecord) -> bytes: ...
    def makePickle(self, record: logging.LogRecord) -> bytes: ...
    def makeSocket(self, timeout: float = 1.0) -> socket.socket: ...
    def send(self, s: bytes) -> None: ...
    def emit(self, record: logging.LogRecord) -> None: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...
    @property
    def dropped(self) -> int: ...
    @property
    def delivered(self) -> int: ...
    @property
    def rejected(self) -> int: ...
    @property
    def last_rejection(self) -> Optional[str]: ...
    @property
    def pending(self) -> int: ...
    @property
    def last_error(self) -> Optional[str]: ...
