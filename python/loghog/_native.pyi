from os import PathLike
from typing import List, Optional, Tuple, Union

_Path = Union[str, PathLike[str]]

class Sender:
    def __init__(
        self,
        app_name: str,
        host: str,
        port: int,
        stream: bool,
        secret: Optional[bytes],
        compression: bool,
        hostname: Optional[str],
        pemfile: Optional[_Path],
        cacert: Optional[_Path],
        max_buffer_size: int,
        print_debug: bool,
        ack: bool = False,
        signature: str = "md5",
        replay_protection: bool = False,
    ) -> None: ...
    def send(self, module: object, body: object, created: float) -> None: ...
    def send_frames(self, frames: bytes) -> int: ...
    def queued_frames(self) -> List[bytes]: ...
    def flush(self, timeout: float) -> bool: ...
    def close(self, timeout: float) -> bool: ...
    def after_fork(self) -> None: ...
    @property
    def dropped(self) -> int: ...
    @property
    def delivered(self) -> int: ...
    @property
    def rejected(self) -> Tuple[int, Optional[str]]: ...
    @property
    def pending(self) -> int: ...
    @property
    def last_error(self) -> Optional[str]: ...
    @property
    def address(self) -> str: ...

def encode_frame(
    app_name: str,
    hostname: Optional[str],
    secret: Optional[bytes],
    compression: bool,
    module: object,
    body: object,
    created: float,
    signature: str = "md5",
) -> bytes: ...
