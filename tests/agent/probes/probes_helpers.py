"""Constants and device stand-ins shared by the probe tests (imported by module name)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Callable, Optional

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures"
FAKEBIN = HERE / "fakebin"


def write_atomic(path: Path, text: str) -> None:
    """Replace a file in one step, as the kernel presents a sysfs value: never half-written."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text + "\n")
    os.replace(tmp, path)


class LiveDevice:
    """A thread that plays a sensor: writes ``value_at(t)`` to a file every ``period_s``.

    ``value_at`` gets ``time.perf_counter()`` seconds, the clock the probes use, so a
    test knows the truth at any instant.
    """

    def __init__(self, path: Path, value_at: Callable[[float], int], period_s: float = 0.002) -> None:
        self.path = path
        self.value_at = value_at
        self.period_s = period_s
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def __enter__(self) -> "LiveDevice":
        write_atomic(self.path, str(self.value_at(time.perf_counter())))
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.period_s):
            write_atomic(self.path, str(self.value_at(time.perf_counter())))

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join()
