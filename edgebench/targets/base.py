"""What the controller needs from a device: run the agent there, one job at a time.

A :class:`Target` is modelled on fabric's ``Connection``: constructing one does no I/O,
the connection opens lazily on first use, and ``__exit__`` closes everything it opened
(channels, SFTP sessions, child processes).  The fleet runner holds one Target per device
and never runs two jobs on it at once -- a device is a measuring instrument.

Everything that crosses to the device is plain JSON for the agent
(``edgebench/agent/schema.py``); a Target only moves files and bytes.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class PushReport:
    """What one push cost: used for the run's "bytes pushed per device" line."""

    remote_path: str
    sha256: str
    size_bytes: int
    bytes_sent: int  # 0 when the blob was already on the device (verified by hash)


@dataclass
class JobOutcome:
    """The raw answer of one agent process, before the controller validates it."""

    result: dict[str, Any] | None  # the agent's JSON result, None if it produced none
    returncode: int | None
    stderr_tail: str = ""
    timed_out: bool = False
    wall_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


class Target(abc.ABC):
    """One device.  Subclasses: ``LocalTarget`` (subprocess) and ``SSHTarget`` (paramiko)."""

    name: str

    def __enter__(self) -> "Target":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @abc.abstractmethod
    def close(self) -> None:
        """Release everything opened so far; safe to call twice."""

    @abc.abstractmethod
    def inventory(self) -> dict[str, Any]:
        """Run ``agent info`` on the device: machine info, importable runtimes, probes, disk."""

    @abc.abstractmethod
    def push(self, local_path: Path) -> PushReport:
        """Put a file into the device's content-addressed blob store (skip if present)."""

    @abc.abstractmethod
    def run_job(self, spec: dict[str, Any], *, timeout_s: float) -> JobOutcome:
        """Run one agent job in a fresh process; kill its process group on timeout."""


def info_args(device: Any) -> list[str]:
    """Extra ``agent info`` arguments from the device's settings: the probes it reports must
    be the ones its jobs will use (a device with ``sysfs_root`` is probed there)."""
    root = getattr(device, "sysfs_root", None)
    return ["--sysfs-root", str(root)] if root else []
