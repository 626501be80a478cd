"""Resident memory of the agent process: the kernel's high-water mark and a sampler.

Two peaks, both labelled, because they answer different questions: the kernel's
``VmHWM`` / ``ru_maxrss`` never misses a spike but covers the whole process life (imports
included); the sampler sees only what happened while it ran, at its interval.  Each job
runs in a fresh process, so both are per job.
"""

from __future__ import annotations

import os
import resource
import sys
import threading
from typing import Any, Dict, Optional

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def current_rss_bytes() -> Optional[int]:
    """RSS now, from /proc (Linux); None where that file does not exist."""
    try:
        with open("/proc/self/statm", "rb") as fh:
            return int(fh.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return None


def kernel_peak_rss_bytes() -> Dict[str, Optional[int]]:
    """VmHWM from /proc/self/status and ru_maxrss (KiB on Linux, bytes on macOS)."""
    hwm: Optional[int] = None
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    hwm = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    maxrss_bytes = maxrss if sys.platform == "darwin" else maxrss * 1024
    return {"vmhwm_bytes": hwm, "ru_maxrss_bytes": maxrss_bytes}


class RssSampler:
    """Background thread polling RSS; a context manager returning the peak and samples."""

    def __init__(self, interval_s: float = 0.05) -> None:
        self.interval_s = interval_s
        self.peak_bytes: Optional[int] = current_rss_bytes()
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            rss = current_rss_bytes()
            if rss is None:
                return
            self.samples += 1
            if self.peak_bytes is None or rss > self.peak_bytes:
                self.peak_bytes = rss

    def __enter__(self) -> "RssSampler":
        if self.interval_s > 0:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        rss = current_rss_bytes()
        if rss is not None and (self.peak_bytes is None or rss > self.peak_bytes):
            self.peak_bytes = rss

    def result(self) -> Dict[str, Any]:
        return {"peak_rss_sampled_bytes": self.peak_bytes, "sampler_interval_s": self.interval_s,
                "sampler_samples": self.samples}
