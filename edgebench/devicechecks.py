"""Checks of devices.yaml values that are not a type: env variable names and values, the
known_hosts file.  A leaf: config.py's DeviceSpec validators call them."""

from __future__ import annotations

import base64
import os
import re
from pathlib import Path

from .yamlload import show

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_KEY_TYPE = re.compile(r"^(ssh-|ecdsa-|sk-)[A-Za-z0-9@._-]+$")


def env_name(value: str) -> str:
    if not _ENV_NAME.match(value):
        raise ValueError(f"{show(value)} is not an environment variable name "
                         "(letters, digits and '_', not starting with a digit)")
    return value


def env_value(value: str) -> str:
    if "\0" in value:
        raise ValueError("contains a NUL character, which no environment value can hold")
    return value


def check_known_hosts(value: str) -> None:
    """Refuse a ``known_hosts`` setting the SSH layer would misread or misuse.

    An existing file must look like known_hosts (``[@marker] HOSTS KEYTYPE BASE64``): any
    other file (``/etc/passwd``) would silently act as an empty one, every key would be
    "unknown", and ``edgebench devices trust`` would append to it.  A missing file is fine
    (nothing trusted yet) if ``devices trust`` could create it.  Only the first 64 KiB are
    checked: enough to tell the format, cheap for a huge file.  Lines are never echoed.
    """
    path = Path(value).expanduser()
    if path.exists():
        if not path.is_file():
            raise ValueError(f"{show(str(path))} is not a file")
        try:
            with path.open("rb") as fh:
                head = fh.read(64 * 1024 + 1)
        except OSError as exc:
            raise ValueError(f"cannot read {show(str(path))}: {exc.strerror or exc}") from None
        lines = head[: 64 * 1024].split(b"\n")
        if len(head) > 64 * 1024:
            lines = lines[:-1]  # cut mid-line
        for number, raw in enumerate(lines, 1):
            line = raw.strip()
            if line and not line.startswith(b"#") and not _known_hosts_line(line):
                raise ValueError(f"{show(str(path))} is not a known_hosts file (line {number} is not "
                                 "'HOSTS KEYTYPE BASE64-KEY')")
        return
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir() or not os.access(ancestor, os.W_OK | os.X_OK):
        raise ValueError(f"{show(str(path))} does not exist and cannot be created "
                         f"({show(str(ancestor))} is not a writable directory), so no host key "
                         "could ever be trusted")


def _known_hosts_line(line: bytes) -> bool:
    """Is this one OpenSSH known_hosts entry (key type and base64 blob agreeing)?"""
    fields = line.split()
    if fields and fields[0].startswith(b"@"):
        fields = fields[1:]
    if len(fields) < 3:
        return False
    try:
        key_type = fields[1].decode("ascii")
        blob = base64.b64decode(fields[2], validate=True)
    except (UnicodeDecodeError, ValueError):
        return False
    if not _KEY_TYPE.match(key_type) or len(blob) < 4:
        return False
    size = int.from_bytes(blob[:4], "big")
    return blob[4:4 + size] == key_type.encode("ascii")
