"""Reading sysfs files and running device tools, all through one replaceable root.

Every probe reads ``<root>/sys/...`` instead of ``/sys/...`` so tests can point a
probe at a fixture tree that mirrors a real device (``sysfs_root`` setting, else the
``EDGEBENCH_SYSFS_ROOT`` environment variable, else ``/``).  Device tools
(``vcgencmd``, ``tegrastats``, ``nvpmodel``) are looked up on ``PATH`` at call time,
so tests can put fake executables first on ``PATH``.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from typing import List, Optional, Sequence

ENV_ROOT = "EDGEBENCH_SYSFS_ROOT"

#: A device tool that takes longer than this is treated as failed: a hung ``vcgencmd``
#: must not hang the benchmark.
COMMAND_TIMEOUT_S = 5.0


class ProbeUnavailable(Exception):
    """A probe cannot run here; the message says why in words a user can act on."""


def resolve_root(sysfs_root: Optional[str] = None) -> str:
    """The directory that stands for ``/``: setting, then environment, then ``/``."""
    root = sysfs_root or os.environ.get(ENV_ROOT) or "/"
    return os.path.abspath(root)


class Sysfs:
    """Small-file reads under a root; paths are written as on the device (``/sys/...``)."""

    def __init__(self, root: Optional[str] = None) -> None:
        self.root = resolve_root(root)

    def path(self, device_path: str) -> str:
        """Map a device path (``/sys/class/...``) to the file under the root."""
        return os.path.join(self.root, device_path.lstrip("/"))

    def device_path(self, path: str) -> str:
        """Inverse of :meth:`path`, so reports name the path as it is on the device."""
        rel = os.path.relpath(path, self.root)
        return "/" + rel.replace(os.sep, "/")

    def glob(self, device_pattern: str) -> List[str]:
        """Sorted matches (host paths) with numeric parts ordered as numbers."""
        return sorted(glob.glob(self.path(device_pattern)), key=natural_key)

    def exists(self, device_path: str) -> bool:
        return os.path.exists(self.path(device_path))


def natural_key(text: str) -> List[object]:
    """Sort ``thermal_zone10`` after ``thermal_zone9``, as a person would."""
    parts: List[object] = []
    number = ""
    word = ""
    for char in text:
        if char.isdigit():
            if word:
                parts.append(word)
                word = ""
            number += char
        else:
            if number:
                parts.append(int(number))
                number = ""
            word += char
    if number:
        parts.append(int(number))
    if word:
        parts.append(word)
    # Mixed int/str comparisons would raise; tag each part with its kind.
    return [(0, p) if isinstance(p, int) else (1, p) for p in parts]


def read_text(path: str) -> str:
    """The stripped content of a small file (sysfs files are one short line)."""
    with open(path, "r", encoding="utf-8", errors="replace") as handle:
        return handle.read().strip()


def read_int(path: str) -> int:
    """An integer file such as ``energy_uj`` or ``temp``; raises ValueError on junk."""
    return int(read_text(path))


def try_read_text(path: str) -> Optional[str]:
    """Like :func:`read_text` but None when missing or unreadable (optional facts)."""
    try:
        return read_text(path)
    except (OSError, ValueError):
        return None


def try_read_int(path: str) -> Optional[int]:
    """Like :func:`read_int` but None when missing, unreadable or not a number."""
    try:
        return read_int(path)
    except (OSError, ValueError):
        return None


def explain_os_error(exc: OSError, device_path: str) -> str:
    """One line naming the file and the likely cause, for ``probe_errors``."""
    if isinstance(exc, PermissionError):
        return (
            f"permission denied reading {device_path} (root-only on many kernels; "
            "run the agent as root or grant read access)"
        )
    if isinstance(exc, FileNotFoundError):
        return f"{device_path} does not exist"
    return f"cannot read {device_path}: {exc.strerror or exc}"


def which(command: str) -> Optional[str]:
    """Find a device tool on the current ``PATH`` (read at call time, for tests)."""
    return shutil.which(command, path=os.environ.get("PATH"))


def run_command(argv: Sequence[str], timeout_s: float = COMMAND_TIMEOUT_S) -> str:
    """Run a tool and return its stdout; raise ProbeUnavailable with the reason."""
    if not argv:
        raise ProbeUnavailable("empty command")
    exe = which(argv[0]) if os.sep not in argv[0] else argv[0]
    if exe is None:
        raise ProbeUnavailable(f"{argv[0]} not found on PATH")
    try:
        proc = subprocess.run(
            [exe, *argv[1:]],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ProbeUnavailable(f"{' '.join(argv)} took longer than {timeout_s:g} s") from exc
    except OSError as exc:
        raise ProbeUnavailable(f"cannot run {' '.join(argv)}: {exc}") from exc
    out = proc.stdout.decode("utf-8", errors="replace")
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", errors="replace").strip() or out.strip()
        raise ProbeUnavailable(
            f"{' '.join(argv)} exited with status {proc.returncode}: {err[:200]}"
        )
    return out
