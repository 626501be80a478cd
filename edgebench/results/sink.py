"""The live sink: each finished job's record into the results store as it lands.

One class for every command that runs jobs (``run``, ``nightly``, and later ``tune``).  The
journal stays the source of truth, so the store is only a follower: a database problem is
reported once and never stops the run.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional

if TYPE_CHECKING:
    from edgebench.results.journal import RunDir
    from edgebench.results.record import JobRecord
    from edgebench.store import Store


class LiveSink:
    """Ingests each record into the store as it lands (``on_record`` of ``run_suite``).

    It is called on the devices' threads, after the journal append: any exception out of
    it (a driver's, SQLite's, a bug's) would end that device's thread and lose its
    remaining jobs, so every exception is caught here, warned about once, and live
    ingest stops.  :meth:`finish` re-ingests the whole journal even after a live failure,
    so a transient problem costs nothing at the end; a lasting one leaves the journal for
    ``edgebench ingest``.

    Calls are serialised: two threads opening a fresh SQLite file at once both tried to
    create its tables, one failed, and the store was then skipped for the rest of the run.

    ``store`` is an open :class:`~edgebench.store.Store` (the caller keeps it: :meth:`close`
    leaves it open) or a URL / ``None`` (the default database under ``results_dir``),
    opened by :meth:`open` and closed by :meth:`close`.
    """

    def __init__(self, store: "Store | str | Path | None", results_dir: Path,
                 warn: Callable[[str], None]) -> None:
        self.results_dir, self.warn = Path(results_dir), warn
        self._owned = store is None or isinstance(store, (str, Path))
        self.url: str | None = str(store) if isinstance(store, (str, Path)) else None
        self.store: Any = None if self._owned else store
        self.failed = False
        self.warned = False
        self._lock = threading.Lock()

    def open(self) -> "LiveSink":
        """Open the store now; :class:`~edgebench.errors.StoreConfigError` if it cannot be."""
        with self._lock:
            self._open()
        return self

    def _open(self) -> Any:
        if self.store is None:
            from edgebench.store import Store

            self.store = Store(self.url, results_dir=self.results_dir)
        return self.store

    def __call__(self, run_meta: dict[str, Any], record: Any) -> None:
        self.many(run_meta, [record])

    def many(self, run_meta: dict[str, Any], records: list[Any]) -> None:
        """Several records in one store transaction (the Ray driver's group commit); the
        same promise as one: nothing it raises escapes."""
        with self._lock:
            if self.failed or not records:
                return
            try:
                self._open().ingest_records(run_meta, records)
            except Exception as exc:  # noqa: BLE001 - a follower must never cost a job
                self.failed = True
                first = getattr(records[0], "job_id", None) or dict(records[0]).get("job_id")
                where = self.results_dir / str(run_meta.get("run_id", "RUN_ID"))
                self._warn_once(f"warning: results store stopped taking results (live ingest "
                                f"stopped at {first!r}), the run goes on journal-only: "
                                f"{one_line(exc)} (its journal is ingested at the end; if that "
                                f"fails too: 'edgebench ingest {where}')")

    def _warn_once(self, text: str) -> None:
        if not self.warned:
            self.warned = True
            self.warn(text)

    def finish(self, run_dir: Path) -> bool:
        """Ingest the whole journal (idempotent; also records the final run.json); False,
        warned about once, when that fails too."""
        with self._lock:
            try:
                self._open().ingest_dir(run_dir)
            except Exception as exc:  # noqa: BLE001 - the run's results are on disk already
                self._warn_once(f"warning: could not ingest {run_dir} into the results store: "
                                f"{one_line(exc)} (load it later with 'edgebench ingest "
                                f"{run_dir}')")
                return False
            if self.failed:  # the warning said journal-only: say it caught up after all
                self.warn(f"results store caught up: all of {run_dir.name} is stored")
            self.failed = False
            return True

    def close(self) -> None:
        """Close the store if this sink opened it."""
        if self.store is not None and self._owned:
            self.store.close()
            self.store = None


def one_line(exc: BaseException) -> str:
    """An edgebench error's own line; anything else as ``Type: first line``."""
    from edgebench.errors import EdgebenchError

    if isinstance(exc, EdgebenchError):
        return exc.one_line()
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300]}" if text else type(exc).__name__


class JournalSink:
    """A run's sink: the journal first (on disk before the device's next job starts), then
    ``on_record`` (the live store).  ``many`` is the group commit the Ray driver uses for
    every record that came back at once: one write and fsync, one store transaction."""

    def __init__(self, run_dir: "RunDir", meta: dict[str, Any],
                 on_record: Optional[Callable[[dict[str, Any], "JobRecord"], None]]) -> None:
        self.run_dir, self.meta, self.on_record = run_dir, meta, on_record

    def __call__(self, rec: "JobRecord") -> None:
        self.many([rec])

    def many(self, records: "list[JobRecord]") -> None:
        self.run_dir.append_many(records)
        if self.on_record is None:
            return
        batch = getattr(self.on_record, "many", None)
        if batch is not None:
            batch(self.meta, records)
            return
        for rec in records:
            self.on_record(self.meta, rec)
