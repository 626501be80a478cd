"""One finished job handed on: sink (journal, then its followers), count, progress.

Shared by the threaded fleet (:class:`edgebench.fleet.DeviceWorker`) and the Ray driver
(:mod:`edgebench.cluster.driver`), so both keep the same promise: nothing the sink or the
progress display raises ever costs a device its remaining jobs.
"""

from __future__ import annotations

from typing import Any

from .errors import EdgebenchError
from .results.record import JobRecord


def deliver(rec: JobRecord, sink: Any, progress: Any, report: Any, device_name: str,
            sink_failed: bool) -> bool:
    """Sink (journal, then followers), count and report one finished job of a device: the one
    way the threaded fleet and the Ray driver hand a record on.  Whatever the sink raises is
    logged once per device (``sink_failed`` in, the new value out) and never escapes."""
    import logging

    try:
        if sink is not None:  # None: the caller journaled it already (a group commit)
            sink(rec)
    except Exception as exc:  # noqa: BLE001 - a follower's failure must never cost jobs
        if not sink_failed:
            sink_failed = True
            text = " ".join((exc.one_line() if isinstance(exc, EdgebenchError)
                             else f"{type(exc).__name__}: {exc}").split())[:500]
            logging.getLogger(__name__).error(
                "edgebench: device %r: recording job %s failed: %s (further failures of this "
                "device not shown)", device_name, rec.job_id, text)
    setattr(report, rec.status, getattr(report, rec.status) + 1)
    if progress:
        try:
            progress(device_name, rec, report)
        except Exception:  # noqa: BLE001 - a display problem must not stop measuring
            logging.getLogger(__name__).debug("progress callback failed", exc_info=True)
    return sink_failed
