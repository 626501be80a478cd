"""What a failing SSH link raises (paramiko's errors, the socket's, a transport closed
under a read), in one tuple, and the usual mapping of it to a :class:`DeviceError`."""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator, Optional

import paramiko

from edgebench.errors import DeviceError

#: paramiko's own errors, the socket's (OSError, timeouts) and EOFError (a closed transport).
LINK_ERRORS: tuple[type[BaseException], ...] = (paramiko.SSHException, OSError, EOFError)


@contextlib.contextmanager
def link_errors(doing: str, device: str, drop: Optional[Callable[[], None]] = None) -> Iterator[None]:
    """:data:`LINK_ERRORS` in the block become ``DeviceError("cannot DOING: reason")``, after
    ``drop()`` (forget the connection: the next call reconnects)."""
    try:
        yield
    except LINK_ERRORS as exc:
        if drop is not None:
            drop()
        raise DeviceError(f"cannot {doing}: {exc}", device=device) from exc
