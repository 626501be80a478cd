"""Atomic file writes: a reader (browser, CI upload, the run) never sees half a file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from edgebench.errors import StoreError


def write_atomic(path: Path, data: str | bytes) -> Path:
    """Write ``data`` to a temp file beside ``path``, fsync, then ``os.replace``."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            # mkstemp makes 0600; reports and site pages are meant to be read by others
            # (web server, CI upload): keep an existing file's mode, else rw-r--r--.
            mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
            os.chmod(tmp, mode)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data.encode("utf-8") if isinstance(data, str) else data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
    except OSError as exc:
        raise StoreError(f"cannot write {path}: {exc}") from exc
    return path
