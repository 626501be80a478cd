"""SSH host-key checking: reject anything not in known_hosts, explain it like OpenSSH does.

A benchmark controller that silently trusts new host keys would happily send models (and
the agent it executes) to whatever answers on a device's address.  So the policy is
paramiko's RejectPolicy, with messages a user can act on: the ``host:port``, key type and
the ``SHA256:`` fingerprint that ``ssh-keygen -lf`` prints, plus the exact command that
records the key after the user has checked it (``edgebench devices trust NAME``).
"""

from __future__ import annotations

import base64
import hashlib
import os
import socket
from pathlib import Path
from typing import Any

import paramiko

from edgebench.errors import DeviceError, HostKeyError
from edgebench.targets.linkerrors import LINK_ERRORS


def fingerprint_sha256(key: paramiko.PKey) -> str:
    """OpenSSH's fingerprint format: ``SHA256:`` + unpadded base64 of the key blob's hash."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def known_hosts_name(host: str, port: int) -> str:
    """The name OpenSSH writes in known_hosts: bare host on 22, ``[host]:port`` otherwise."""
    return host if port == 22 else f"[{host}]:{port}"


def load_known_hosts(path: str | os.PathLike[str]) -> paramiko.HostKeys:
    """Read a known_hosts file (hashed entries work); a missing file is an empty one."""
    keys = paramiko.HostKeys()
    file = Path(path).expanduser()
    if file.is_file():
        try:
            keys.load(str(file))
        except (OSError, paramiko.SSHException) as exc:
            raise HostKeyError(f"cannot read known_hosts file {file}: {exc}") from exc
    return keys


class RejectUnknownHostKey(paramiko.MissingHostKeyPolicy):
    """paramiko's RejectPolicy, but raising a :class:`HostKeyError` that says what to do."""

    def __init__(self, device: str, host: str, port: int, known_hosts: str) -> None:
        self.device = device
        self.host = host
        self.port = port
        self.known_hosts = known_hosts

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        raise HostKeyError(
            f"unknown host key for {self.host}:{self.port}: {key.get_name()} "
            f"{fingerprint_sha256(key)} (not in {self.known_hosts})",
            device=self.device,
            hint=f"check the fingerprint on the device (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub), "
            f"then run: edgebench devices trust {self.device}",
            fingerprint=fingerprint_sha256(key),
            key_type=key.get_name(),
            reason="unknown",
        )


def changed_host_key_error(
    device: str, host: str, port: int, offered: paramiko.PKey, expected: paramiko.PKey, known_hosts: str
) -> HostKeyError:
    """The error for paramiko's BadHostKeyException: name the device and both fingerprints."""
    return HostKeyError(
        f"HOST KEY CHANGED for {host}:{port}: known_hosts ({known_hosts}) has "
        f"{expected.get_name()} {fingerprint_sha256(expected)}, the server offered "
        f"{offered.get_name()} {fingerprint_sha256(offered)} -- possible man-in-the-middle, "
        "or the device was re-installed",
        device=device,
        hint=f"if the device was re-imaged, remove the old entry (ssh-keygen -R '{known_hosts_name(host, port)}' "
        f"-f {known_hosts}) and run: edgebench devices trust {device}",
        expected_fingerprint=fingerprint_sha256(expected),
        offered_fingerprint=fingerprint_sha256(offered),
        reason="changed",
    )


def fetch_host_key(
    host: str,
    port: int = 22,
    *,
    timeout_s: float = 10.0,
    sock: Any = None,
    device: str | None = None,
) -> paramiko.PKey:
    """Do the SSH key exchange only (no authentication) and return the server's host key.

    ``sock`` may be a channel through a jump host.  Used by ``edgebench devices trust``;
    the caller shows the fingerprint and lets the user decide.
    """
    own_sock = sock is None
    transport: paramiko.Transport | None = None
    try:
        if own_sock:
            sock = socket.create_connection((host, port), timeout=timeout_s)
        transport = paramiko.Transport(sock)
        transport.banner_timeout = timeout_s
        transport.start_client(timeout=timeout_s)
        return transport.get_remote_server_key()
    except LINK_ERRORS as exc:
        raise DeviceError(
            f"cannot fetch host key from {host}:{port}: {exc or type(exc).__name__}", device=device
        ) from exc
    finally:
        if transport is not None:
            transport.close()
        elif own_sock and sock is not None:
            sock.close()


def add_known_host(
    path: str | os.PathLike[str], host: str, port: int, key: paramiko.PKey, *, replace: bool = False
) -> bool:
    """Append ``key`` for host:port to a known_hosts file; False if it was already there.

    A *different* key of the same type already recorded is refused unless ``replace``:
    trusting over a changed key must be a deliberate act, as with ``ssh-keygen -R``.
    """
    file = Path(path).expanduser()
    name = known_hosts_name(host, port)
    known = load_known_hosts(file)
    entry = known.lookup(name) or {}
    existing = entry.get(key.get_name()) if entry else None
    if existing is not None and existing.asbytes() == key.asbytes():
        return False
    if existing is not None and not replace:
        raise changed_host_key_error(name, host, port, key, existing, str(file))
    file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    line = f"{name} {key.get_name()} {key.get_base64()}\n"
    if existing is not None:  # rewrite without the old entry of this type for this host
        kept = []
        for raw in file.read_text().splitlines(keepends=True):
            parts = raw.split()
            if len(parts) >= 3 and parts[1] == key.get_name() and _names_match(parts[0], name):
                continue
            kept.append(raw)
        _atomic_write(file, "".join(kept) + line)
        return True
    fd = os.open(file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a") as fh:
        if file.stat().st_size and not file.read_bytes().endswith(b"\n"):
            fh.write("\n")
        fh.write(line)
    return True


def _names_match(field: str, name: str) -> bool:
    """Does a known_hosts host field (plain list or hashed ``|1|``) name ``name``?"""
    for pattern in field.split(","):
        if pattern.startswith("|1|"):
            if paramiko.HostKeys.hash_host(name, pattern) == pattern:
                return True
        elif pattern == name:
            return True
    return False


def _atomic_write(file: Path, text: str) -> None:
    tmp = file.with_name(f".{file.name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, file)
