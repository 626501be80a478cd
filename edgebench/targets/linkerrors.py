"""What a failing SSH link raises (paramiko's errors, the socket's, a transport closed
under a read), in one tuple, and the usual mapping of it to a :class:`DeviceError`."""

from __future__ import annotations

import contextlib
import socket
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


def connect_failure_reason(exc: BaseException) -> str:
    """paramiko's reason for a failed handshake, in words a user can act on.

    "Error reading SSH protocol banner" means the peer closed the connection (or stayed
    silent) before saying ``SSH-2.0-...``: what answers on that port is not an SSH
    server -- or an sshd at its MaxStartups limit, which drops new connections the same way.
    """
    text = str(exc) or type(exc).__name__
    if text.startswith("Error reading SSH protocol banner"):
        cause = exc.__context__
        if isinstance(cause, (socket.timeout, TimeoutError)):
            return "not an SSH server (no SSH banner before the connect timeout)"
        return ("not an SSH server (no SSH banner: the connection was closed without one; "
                "an sshd at its MaxStartups limit does this too)")
    if text.startswith("Indecipherable protocol version"):
        return f"not an SSH server (no SSH banner; it answered {text.partition(' version ')[2][:80]})"
    return text


def dropped_before_banner(exc: BaseException) -> bool:
    """The server closed the connection before saying ``SSH-2.0-…`` (not a timeout)."""
    return (str(exc).startswith("Error reading SSH protocol banner")
            and not isinstance(exc.__context__, (socket.timeout, TimeoutError)))
