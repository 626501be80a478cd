"""The results store: every run's jobs, environments and raw latencies, queryable later.

Run directories are the crash-safe truth of one run; the store is where runs meet, so
that ``compare``, ``nightly`` and ``publish`` can ask "what did this (model, variant,
device) measure last week".  SQLite by default (one file beside the run directories), any
SQLAlchemy URL otherwise.  Every write is idempotent on (run_id, job_id), so the run can
ingest each record as it finishes and ``edgebench ingest DIR`` can be re-run safely.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

import sqlalchemy as sa

from edgebench.errors import StoreError, UsageError
from edgebench.store import schema as S
from edgebench.store.journal import latest_records, read_journal, read_run_json
from edgebench.store.rows import fingerprint_hash, upsert_job, upsert_run

DEFAULT_RESULTS_DIR = Path("results")
DEFAULT_DB_NAME = "edgebench.db"


@dataclass
class RunInfo:
    """One row of ``runs``: what ``edgebench compare`` / ``nightly`` pick baselines from."""

    run_id: str
    suite: str | None
    started_at: str | None
    finished_at: str | None
    complete: bool
    counts: dict[str, int] = field(default_factory=dict)
    devices: list[str] = field(default_factory=list)


@dataclass
class IngestCounts:
    """What ``ingest_dir`` did; ``new == 0`` on a second ingest of the same directory."""

    run_id: str
    records: int = 0
    new: int = 0
    replaced: int = 0
    bad_lines: list[tuple[int, str]] = field(default_factory=list)
    truncated: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def resolve_url(url: str | Path | None, results_dir: Path = DEFAULT_RESULTS_DIR) -> str:
    """``None`` -> ``results/edgebench.db``; a bare path -> that SQLite file; else as given."""
    if url is None:
        path = Path(results_dir) / DEFAULT_DB_NAME
    elif isinstance(url, Path) or "://" not in str(url):
        path = Path(url)
    else:
        return str(url)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create {path.parent}: {exc}") from exc
    return f"sqlite:///{path}"


class Store:
    """Open (creating or migrating forward) the store at ``url``."""

    def __init__(self, url: str | Path | None = None, *,
                 results_dir: Path = DEFAULT_RESULTS_DIR) -> None:
        self.url = resolve_url(url, results_dir)
        try:
            connect_args = {"timeout": 30} if self.url.startswith("sqlite") else {}
            self.engine = sa.create_engine(self.url, connect_args=connect_args)
            if self.url.startswith("sqlite"):
                sa.event.listen(self.engine, "connect", _sqlite_pragmas)
            self._ensure_schema()
        except sa.exc.SQLAlchemyError as exc:
            raise StoreError(f"cannot open store {self.url}: {exc}",
                             hint="check --store (an SQLAlchemy URL or a file path)") from exc

    # -- schema -------------------------------------------------------------------
    def _ensure_schema(self) -> None:
        with self.engine.begin() as conn:
            version = S.current_version(conn)
            if version is None:
                S.metadata.create_all(conn)
                S.set_version(conn, S.SCHEMA_VERSION)
                return
            if version > S.SCHEMA_VERSION:
                raise StoreError(
                    f"store {self.url} has schema version {version}, this edgebench knows "
                    f"up to {S.SCHEMA_VERSION}", hint="upgrade edgebench to read this store")
            while version < S.SCHEMA_VERSION:
                S.MIGRATIONS[version](conn)
                version += 1
                S.set_version(conn, version)
            S.metadata.create_all(conn)  # tables added without a migration step: none yet
            S.add_summary_columns(conn)  # summary columns added since the file was made

    def schema_version(self) -> int:
        with self.engine.connect() as conn:
            return int(S.current_version(conn) or 0)

    def close(self) -> None:
        self.engine.dispose()

    def _begin(self) -> Iterator[sa.Connection]:
        return self.engine.begin()  # type: ignore[return-value]

    # -- writes -------------------------------------------------------------------
    def ingest_record(self, run_meta: dict[str, Any], record: dict[str, Any] | Any) -> bool:
        """Store one finished job (and its run row); True when it was not stored before.

        The run calls this after each job; calling it twice for the same (run_id, job_id)
        replaces the row, so a retried job's final record is the one kept.
        """
        if hasattr(record, "to_dict"):
            record = record.to_dict()
        try:
            with self.engine.begin() as conn:
                upsert_run(conn, run_meta)
                return upsert_job(conn, record)
        except sa.exc.SQLAlchemyError as exc:
            raise StoreError(f"cannot store job {record.get('job_id')!r}: {exc}") from exc

    def finish_run(self, run_meta: dict[str, Any]) -> None:
        """Record the final run.json state (finished_at, complete, counts)."""
        try:
            with self.engine.begin() as conn:
                upsert_run(conn, run_meta)
        except sa.exc.SQLAlchemyError as exc:
            raise StoreError(f"cannot store run {run_meta.get('run_id')!r}: {exc}") from exc

    def ingest_dir(self, run_dir: Path) -> IngestCounts:
        """Load a whole run directory; safe to repeat (nothing is stored twice)."""
        run_dir = Path(run_dir)
        if not run_dir.is_dir():
            raise StoreError(f"{run_dir} is not a run directory")
        meta = read_run_json(run_dir)
        journal = read_journal(run_dir / "results.jsonl")
        records = latest_records(journal.records)
        counts = IngestCounts(run_id=meta["run_id"], records=len(records),
                              bad_lines=journal.bad_lines, truncated=journal.truncated)
        try:
            with self.engine.begin() as conn:
                upsert_run(conn, meta)
                for record in records:
                    if record.get("run_id") != meta["run_id"]:
                        raise StoreError(
                            f"{run_dir}/results.jsonl: job {record['job_id']!r} belongs to run "
                            f"{record.get('run_id')!r}, not {meta['run_id']!r}")
                    if upsert_job(conn, record):
                        counts.new += 1
                    else:
                        counts.replaced += 1
        except sa.exc.SQLAlchemyError as exc:
            raise StoreError(f"cannot ingest {run_dir}: {exc}") from exc
        return counts

    # -- reads --------------------------------------------------------------------
    def runs(self, suite: str | None = None) -> list[RunInfo]:
        """All runs (of ``suite``), oldest first."""
        query = sa.select(S.runs).order_by(S.runs.c.started_at, S.runs.c.run_id)
        if suite is not None:
            query = query.where(S.runs.c.suite == suite)
        try:
            with self.engine.connect() as conn:
                rows = conn.execute(query).mappings().all()
        except sa.exc.SQLAlchemyError as exc:
            raise StoreError(f"cannot read runs from {self.url}: {exc}") from exc
        return [_run_info(r) for r in rows]

    def run(self, run_id: str) -> RunInfo:
        """The run ``run_id``; :class:`UsageError` naming the known ones when absent."""
        for info in self.runs():
            if info.run_id == run_id:
                return info
        known = [r.run_id for r in self.runs()][-5:]
        raise UsageError(f"unknown run id {run_id!r} in store {self.url}",
                         hint=f"latest runs: {', '.join(known) or 'none (run edgebench ingest)'}")

    def last_complete_run(self, suite: str | None, before: str | None = None) -> RunInfo | None:
        """Newest complete run of ``suite`` started before ``before`` (a run id or time)."""
        candidates = [r for r in self.runs(suite) if r.complete]
        if before is not None:
            limit = before
            for r in self.runs():
                if r.run_id == before:
                    limit = r.started_at or ""
            candidates = [r for r in candidates if r.run_id != before
                          and (r.started_at or "") < limit]
        return candidates[-1] if candidates else None

    def samples(self, run_id: str, job_ids: list[str] | None = None) -> dict[str, Any]:
        """{job_id: float64 array of raw latencies in seconds} for one run."""
        import numpy as np

        query = sa.select(S.samples).where(S.samples.c.run_id == run_id)
        if job_ids is not None:
            query = query.where(S.samples.c.job_id.in_(job_ids))
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return {r["job_id"]: np.frombuffer(r["latencies_s"], dtype=r["dtype"]).astype(float)
                for r in rows}

    def device_snapshots(self, run_id: str) -> dict[str, dict[str, Any]]:
        """{device: machine info dict} as recorded in ``run_id``."""
        query = sa.select(S.devices).where(S.devices.c.run_id == run_id)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return {r["device"]: json.loads(r["machine_json"] or "{}") for r in rows}


def _run_info(row: Any) -> RunInfo:
    counts = {k: row[f"count_{k}"] for k in ("ok", "failed", "skipped")
              if row[f"count_{k}"] is not None}
    return RunInfo(run_id=row["run_id"], suite=row["suite"], started_at=row["started_at"],
                   finished_at=row["finished_at"], complete=bool(row["complete"]),
                   counts=counts, devices=json.loads(row["devices_json"] or "[]"))


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    """WAL lets ``publish`` read while a run writes; busy timeout rides out short locks."""
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def open_store(store: "Store | str | Path | None",
               results_dir: Path = DEFAULT_RESULTS_DIR) -> Store:
    """Accept a Store, a URL, a path or None (the default file) wherever a store is taken."""
    return store if isinstance(store, Store) else Store(store, results_dir=results_dir)
