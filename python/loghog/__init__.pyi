import logging
from typing import Mapping, Optional, Union

__all__ = ["LoghogHandler"]
__version__: str

class LoghogHandler(logging.Handler):
    flush_timeout: float
    close_timeout: float
    app_name: str
    host: str
    port: int
    stream: bool
    compression: bool
    hostname: str
    ssl_info: Optional[Mapping[str, str]]
    max_buffer_size: int
    print_debug: bool
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
    ) -> None: ...
    def emit(self, record: logging.LogRecord) -> None: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...
    @property
    def dropped(self) -> int: ...
    @property
    def delivered(self) -> int: ...
    @property
    def pending(self) -> int: ...
    @property
    def last_error(self) -> Optional[str]: ...
