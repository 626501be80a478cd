"""Table layout of the results store, and the forward migrations between its versions.

The store outlives any one edgebench version: a nightly database accumulates months of
history, so a newer edgebench must open an older file and upgrade it in place instead of
refusing it (or worse, misreading it).  Every layout change bumps :data:`SCHEMA_VERSION`
and adds one function to :data:`MIGRATIONS`; :func:`migrate` runs them in order inside a
transaction and records the result in the ``meta`` table.

Version history
---------------
* **0** -- the prototype layout: ``runs`` and ``jobs`` tables only, no ``meta`` table, no
  fingerprint hash, no device snapshots, no raw latency samples.
* **1** -- ``meta``; ``jobs.fingerprint_hash`` / ``jobs.fingerprint_json`` /
  ``jobs.extra_json``; ``devices`` (inventory snapshot per run); ``samples``.
* **2** -- ``job_blocks``: a job's result blocks the report shows beyond the summary
  (:data:`STORED_BLOCKS`: the operator profile, the sustained bins) as JSON, so a report
  rebuilt from the store has the sections the run-directory report has.  Jobs ingested
  before v2 have none until their run directory is ingested again.
"""

from __future__ import annotations

from typing import Callable

import sqlalchemy as sa

from edgebench.results import columns as C

SCHEMA_VERSION = 2

metadata = sa.MetaData()

meta = sa.Table(
    "meta", metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

runs = sa.Table(
    "runs", metadata,
    sa.Column("run_id", sa.String(128), primary_key=True),
    sa.Column("suite", sa.String(256), index=True),
    sa.Column("suite_path", sa.Text),
    sa.Column("suite_sha256", sa.String(64)),
    sa.Column("started_at", sa.String(40), index=True),
    sa.Column("finished_at", sa.String(40)),
    sa.Column("complete", sa.Boolean, nullable=False, default=False),
    sa.Column("count_ok", sa.Integer),
    sa.Column("count_failed", sa.Integer),
    sa.Column("count_skipped", sa.Integer),
    sa.Column("devices_json", sa.Text),
    sa.Column("controller_json", sa.Text),
    sa.Column("run_json", sa.Text),
)

devices = sa.Table(
    "devices", metadata,
    sa.Column("run_id", sa.String(128), primary_key=True),
    sa.Column("device", sa.String(256), primary_key=True),
    sa.Column("machine_json", sa.Text),
    sa.Column("recorded_at", sa.String(40)),
)


#: The SQL type of each catalogue kind (edgebench.results.columns).
_SQL_TYPES: dict[str, type[sa.types.TypeEngine]] = {
    "text": sa.Text, "bool": sa.Boolean, "int": sa.BigInteger, "float": sa.Float}


def _summary_column(name: str) -> sa.Column:
    return sa.Column(name, _SQL_TYPES[C.BY_NAME[name].kind])


jobs = sa.Table(
    "jobs", metadata,
    sa.Column("run_id", sa.String(128), primary_key=True),
    sa.Column("job_id", sa.String(256), primary_key=True),
    *[_summary_column(c) for c in C.DB_COLUMNS],
    sa.Column("error_kind", sa.String(64)),
    sa.Column("started_at", sa.String(40)),
    sa.Column("finished_at", sa.String(40)),
    sa.Column("attempts", sa.Integer),
    sa.Column("fingerprint_hash", sa.String(64), index=True),
    sa.Column("fingerprint_json", sa.Text),
    sa.Column("extra_json", sa.Text),  # summary keys this layout has no column for
)
sa.Index("ix_jobs_identity", jobs.c.model, jobs.c.variant, jobs.c.device)

samples = sa.Table(
    "samples", metadata,
    sa.Column("run_id", sa.String(128), primary_key=True),
    sa.Column("job_id", sa.String(256), primary_key=True),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("dtype", sa.String(8), nullable=False),  # '<f8': little-endian float64
    sa.Column("latencies_s", sa.LargeBinary, nullable=False),
)

#: Result blocks (``record["result"][name]``) kept whole in ``job_blocks``.
STORED_BLOCKS = ("profile", "sustained")

job_blocks = sa.Table(
    "job_blocks", metadata,
    sa.Column("run_id", sa.String(128), primary_key=True),
    sa.Column("job_id", sa.String(256), primary_key=True),
    sa.Column("name", sa.String(64), primary_key=True),  # one of STORED_BLOCKS
    sa.Column("block_json", sa.Text, nullable=False),
)


def _migrate_0_to_1(conn: sa.Connection) -> None:
    """Prototype DB -> v1: add the new job columns and create the new tables."""
    import hashlib
    import json

    have = {c["name"] for c in sa.inspect(conn).get_columns("jobs")}
    for col in jobs.columns:
        if col.name not in have:
            ddl_type = col.type.compile(dialect=conn.dialect)
            conn.execute(sa.text(f'ALTER TABLE jobs ADD COLUMN "{col.name}" {ddl_type}'))
    have_runs = {c["name"] for c in sa.inspect(conn).get_columns("runs")}
    for col in runs.columns:
        if col.name not in have_runs:
            ddl_type = col.type.compile(dialect=conn.dialect)
            conn.execute(sa.text(f'ALTER TABLE runs ADD COLUMN "{col.name}" {ddl_type}'))
    metadata.create_all(conn, tables=[meta, devices, samples])  # job_blocks: 1 -> 2
    # The prototype kept only the short hash in 'fingerprint'; carry it over.
    if "fingerprint" in have:
        conn.execute(sa.text(
            "UPDATE jobs SET fingerprint_hash = fingerprint WHERE fingerprint_hash IS NULL"))
    rows = conn.execute(sa.text(
        "SELECT run_id, job_id FROM jobs WHERE fingerprint_hash IS NULL")).fetchall()
    for run_id, job_id in rows:  # unknown environment: hash of 'nothing known'
        conn.execute(
            jobs.update().where(jobs.c.run_id == run_id, jobs.c.job_id == job_id)
            .values(fingerprint_hash=hashlib.sha256(json.dumps({}).encode()).hexdigest()[:16]))


def _migrate_1_to_2(conn: sa.Connection) -> None:
    """v1 -> v2: the ``job_blocks`` table (empty: a v1 store never kept the blocks)."""
    metadata.create_all(conn, tables=[job_blocks])


def add_summary_columns(conn: sa.Connection) -> None:
    """Add the summary columns a store lacks (new nullable columns, e.g. the p50 interval).

    Additive, so no version bump: an older edgebench still reads the file (it selects the
    columns it knows), and old rows read as "not measured" in the new columns.
    """
    have = {c["name"] for c in sa.inspect(conn).get_columns("jobs")}
    for col in jobs.columns:
        if col.name not in have:
            ddl_type = col.type.compile(dialect=conn.dialect)
            conn.execute(sa.text(f'ALTER TABLE jobs ADD COLUMN "{col.name}" {ddl_type}'))


#: MIGRATIONS[v] upgrades a version-v database to version v + 1.
MIGRATIONS: dict[int, Callable[[sa.Connection], None]] = {0: _migrate_0_to_1, 1: _migrate_1_to_2}


def current_version(conn: sa.Connection) -> int | None:
    """The stored schema version; 0 for a prototype DB, None for an empty one."""
    names = set(sa.inspect(conn).get_table_names())
    if "meta" in names:
        value = conn.execute(sa.select(meta.c.value).where(meta.c.key == "schema_version")).scalar()
        return int(value) if value is not None else 0
    if "jobs" in names or "runs" in names:
        return 0
    return None


def set_version(conn: sa.Connection, version: int) -> None:
    conn.execute(meta.delete().where(meta.c.key == "schema_version"))
    conn.execute(meta.insert().values(key="schema_version", value=str(version)))
