"""The thread both background probes (energy meter, thermal monitor) run on.

One lifecycle for both: a daemon thread started once, stopped by an event that also
wakes its sleep, joined with a bound so a stuck read never hangs the job; and the
context-manager protocol, so a probe is always stopped when the timed block ends.
"""

from __future__ import annotations

import threading
from typing import Any, Optional


class BackgroundSampler:
    """Subclasses implement ``_loop`` (sleep with ``self._stop.wait``) and ``start``."""

    JOIN_TIMEOUT_S = 5.0

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def __enter__(self) -> Any:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        """Stop sampling (idempotent); what was collected stays readable."""
        self._stop_thread()

    def _loop(self) -> None:
        raise NotImplementedError

    def _start_thread(self, name: str) -> None:
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def _stop_thread(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.JOIN_TIMEOUT_S)
            self._thread = None
