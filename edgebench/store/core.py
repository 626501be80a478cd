"""The results store: every run's jobs, environments and raw latencies, queryable later.

Run directories are the crash-safe truth of one run; the store is where runs meet, so
that ``compare``, ``nightly`` and ``publish`` can ask "what did this (model, variant,
device) measure last week".  SQLite by default (one file beside the run directories), any
SQLAlchemy URL otherwise.  Every write is idempotent on (run_id, job_id), so the run can
ingest each record as it finishes and ``edgebench ingest DIR`` can be re-run safely.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

import sqlalchemy as sa

from edgebench.errors import EdgebenchError, StoreConfigError, UsageError
from edgebench.results.journal import latest_records, parse_journal, read_run_json
from edgebench.results.rows import frame_row
from edgebench.store import schema as S
from edgebench.store.upserts import upsert_job, upsert_run
from edgebench.store.urls import (
    DEFAULT_RESULTS_DIR,
    THIRD_PARTY_ERRORS,
    display_url,
    resolve_url,
    sqlite_file,
    store_error,
)


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


class Store:
    """Open (creating or migrating forward) the store at ``url``.

    Every method maps the driver's, SQLAlchemy's, sqlite3's and the file system's errors
    into :class:`StoreError` (see :func:`store_error`), so callers guard one family.
    ``create=False`` (lookups) neither makes the SQLite folder nor the tables: an empty
    database then has ``empty`` set, see :func:`open_existing`.
    """

    def __init__(self, url: str | Path | None = None, *,
                 results_dir: Path = DEFAULT_RESULTS_DIR, create: bool = True) -> None:
        self.url = resolve_url(url, results_dir, create=create)
        self.empty = False
        self.engine: Any = None
        with self.mapped("open", opening=True):
            connect_args = {"timeout": 30} if self.url.startswith("sqlite") else {}
            self.engine = sa.create_engine(self.url, connect_args=connect_args)
            if self.url.startswith("sqlite"):
                sa.event.listen(self.engine, "connect", _sqlite_pragmas)
            self._ensure_schema(create=create)

    @property
    def shown_url(self) -> str:
        """The URL as printed: password masked."""
        return display_url(self.url)

    @contextlib.contextmanager
    def mapped(self, doing: str, *, opening: bool = False) -> Iterator[None]:
        """The store boundary: third-party errors in, one :class:`StoreError` out."""
        try:
            yield
        except EdgebenchError:
            raise
        except THIRD_PARTY_ERRORS as exc:
            if opening and self.engine is not None:
                with contextlib.suppress(Exception):
                    self.engine.dispose()
            raise store_error(exc, self.url, doing, opening=opening) from exc

    # -- schema -------------------------------------------------------------------
    def _ensure_schema(self, *, create: bool = True) -> None:
        with self.engine.begin() as conn:
            version = S.current_version(conn)
            if version is None and not create:
                self.empty = True  # a lookup found no edgebench tables: write nothing
                return
            if version is None:
                S.metadata.create_all(conn)
                S.set_version(conn, S.SCHEMA_VERSION)
                return
            if version > S.SCHEMA_VERSION:
                raise StoreConfigError(
                    f"store {self.shown_url} has schema version {version}, this edgebench knows "
                    f"up to {S.SCHEMA_VERSION}", hint="upgrade edgebench to read this store")
            while version < S.SCHEMA_VERSION:
                S.MIGRATIONS[version](conn)
                version += 1
                S.set_version(conn, version)
            S.metadata.create_all(conn)  # tables added without a migration step: none yet
            S.add_summary_columns(conn)  # summary columns added since the file was made

    def schema_version(self) -> int:
        with self.mapped("read the schema version"), self.engine.connect() as conn:
            return int(S.current_version(conn) or 0)

    def close(self) -> None:
        """Release connections; never raises (it runs in ``finally`` blocks after errors)."""
        if self.engine is not None:
            with contextlib.suppress(Exception):
                self.engine.dispose()

    def _begin(self) -> Iterator[sa.Connection]:
        return self.engine.begin()

    # -- writes -------------------------------------------------------------------
    def ingest_record(self, run_meta: dict[str, Any], record: dict[str, Any] | Any) -> bool:
        """Store one finished job (and its run row); True when it was not stored before.

        The run calls this after each job; calling it twice for the same (run_id, job_id)
        replaces the row, so a retried job's final record is the one kept.
        """
        return self.ingest_records(run_meta, [record])[0]

    def ingest_records(self, run_meta: dict[str, Any], records: list[Any]) -> list[bool]:
        """:meth:`ingest_record` for several jobs in one transaction (one commit, one fsync):
        the Ray driver's group commit."""
        if not records:
            return []
        rows = [r.to_dict() if hasattr(r, "to_dict") else r for r in records]
        with self.mapped(f"store job {rows[0].get('job_id')!r}"), self.engine.begin() as conn:
            upsert_run(conn, run_meta)
            return [upsert_job(conn, row) for row in rows]

    def finish_run(self, run_meta: dict[str, Any]) -> None:
        """Record the final run.json state (finished_at, complete, counts)."""
        with self.mapped(f"store run {run_meta.get('run_id')!r}"), self.engine.begin() as conn:
            upsert_run(conn, run_meta)

    def ingest_dir(self, run_dir: Path) -> IngestCounts:
        """Load a whole run directory; safe to repeat (nothing is stored twice)."""
        run_dir = Path(run_dir)
        if not run_dir.is_dir():
            raise StoreConfigError(f"{run_dir} is not a run directory")
        meta = read_run_json(run_dir)
        journal = parse_journal(run_dir / "results.jsonl", keep_samples=False)
        records = latest_records(journal.records)
        counts = IngestCounts(run_id=meta["run_id"], records=len(records),
                              bad_lines=journal.bad_lines, truncated=journal.truncated)
        with self.mapped(f"ingest {run_dir}"), self.engine.begin() as conn:
            upsert_run(conn, meta)
            for record in journal.whole(records):  # one job's raw latencies at a time
                if record.get("run_id") != meta["run_id"]:  # input the user pointed at: exit 2
                    raise StoreConfigError(
                        f"{run_dir}/results.jsonl: job {record['job_id']!r} belongs to run "
                        f"{record.get('run_id')!r}, not {meta['run_id']!r}")
                if upsert_job(conn, record):
                    counts.new += 1
                else:
                    counts.replaced += 1
        return counts

    # -- reads --------------------------------------------------------------------
    def runs(self, suite: str | None = None) -> list[RunInfo]:
        """All runs (of ``suite``), oldest first."""
        query = sa.select(S.runs).order_by(S.runs.c.started_at, S.runs.c.run_id)
        if suite is not None:
            query = query.where(S.runs.c.suite == suite)
        with self.mapped("read runs"), self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [_run_info(r) for r in rows]

    def run(self, run_id: str) -> RunInfo:
        """The run ``run_id``; :class:`UsageError` naming the known ones when absent."""
        for info in self.runs():
            if info.run_id == run_id:
                return info
        known = [r.run_id for r in self.runs()][-5:]
        raise UsageError(f"unknown run id {run_id!r} in store {self.shown_url}",
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
        with self.mapped(f"read samples of run {run_id!r}"), self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return {r["job_id"]: np.frombuffer(r["latencies_s"], dtype=r["dtype"]).astype(float)
                for r in rows}

    def device_snapshots(self, run_id: str) -> dict[str, dict[str, Any]]:
        """{device: machine info dict} as recorded in ``run_id``."""
        query = sa.select(S.devices).where(S.devices.c.run_id == run_id)
        with self.mapped(f"read devices of run {run_id!r}"), self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return {r["device"]: json.loads(r["machine_json"] or "{}") for r in rows}

    def job_blocks(self, run_id: str, name: str) -> dict[str, dict[str, Any]]:
        """{job_id: result block} of one run, for a block in ``schema.STORED_BLOCKS``
        (``"profile"``, ``"sustained"``); {} for runs ingested before schema v2."""
        t = S.job_blocks
        query = sa.select(t.c.job_id, t.c.block_json).where(t.c.run_id == run_id, t.c.name == name)
        with self.mapped(f"read {name} blocks of run {run_id!r}"), self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return {job_id: json.loads(text) for job_id, text in rows}

    def run_meta(self, run_id: str) -> dict[str, Any]:
        """The run.json the run ``run_id`` was ingested with ({"run_id": ...} if none)."""
        query = sa.select(S.runs.c.run_json).where(S.runs.c.run_id == run_id)
        with self.engine.connect() as conn:
            run_json = conn.execute(query).scalar()
        return json.loads(run_json or "{}") or {"run_id": run_id}

    def job_rows(self, runs: list[str] | None = None, suite: str | None = None,
                 since: str | None = None) -> list[dict[str, Any]]:
        """One dict per job: its columns (fingerprint, job_started_at, job_finished_at,
        extra_json's summary columns unpacked) and its run's suite, started_at,
        finished_at and complete as run_*; oldest run first.  ``runs``: only these run
        ids; ``since``: runs started at or after this ISO text."""
        j, r = S.jobs, S.runs
        query = (sa.select(j, r.c.suite, r.c.started_at.label("run_started_at"),
                           r.c.finished_at.label("run_finished_at"),
                           r.c.complete.label("run_complete"))
                 .join(r, r.c.run_id == j.c.run_id)
                 .order_by(r.c.started_at, j.c.run_id, j.c.job_id))
        if runs:
            query = query.where(j.c.run_id.in_(runs))
        if suite is not None:
            query = query.where(r.c.suite == suite)
        if since is not None:
            query = query.where(r.c.started_at >= since)
        with self.mapped("read jobs"), self.engine.connect() as conn:
            rows = [dict(m) for m in conn.execute(query).mappings().all()]
        return [frame_row(row) for row in rows]


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
               results_dir: Path = DEFAULT_RESULTS_DIR, *, create: bool = True) -> Store:
    """Accept a Store, a URL, a path or None (the default file) wherever a store is taken.

    ``create=False`` is for lookups: a store that does not exist is a :class:`UsageError`
    naming it (see :func:`require_existing`), and nothing is created.
    """
    if isinstance(store, Store):
        return store
    if not create:
        return require_existing(store, results_dir)
    return Store(store, results_dir=results_dir)


def open_existing(url: "str | Path | None",
                  results_dir: Path = DEFAULT_RESULTS_DIR) -> Store | None:
    """The store at ``url`` when one exists there; None, having created nothing, otherwise.

    ``report``, ``compare`` and ``publish`` only look things up: asking about a run id
    that is not there used to leave an empty ``results/edgebench.db`` (and its folder)
    behind, which the next command then took for a real, empty history.
    """
    resolved = resolve_url(url, results_dir, create=False)
    path = sqlite_file(resolved)
    if path is not None and not path.is_file():
        return None
    store = Store(resolved, create=False)
    if store.empty:
        store.close()
        return None
    return store


def require_existing(url: "str | Path | None",
                     results_dir: Path = DEFAULT_RESULTS_DIR) -> Store:
    """:func:`open_existing`, or a :class:`UsageError` naming where no store was found."""
    store = open_existing(url, results_dir)
    if store is None:
        where = display_url(resolve_url(url, results_dir, create=False))
        raise UsageError(f"no results store at {where}: nothing has been stored there",
                         hint="check --store / --results, or load run directories with "
                              "'edgebench ingest DIR'")
    return store
