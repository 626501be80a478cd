"""One line of ``results.jsonl``: a job's identity, its status and everything measured.

``results.jsonl`` is the crash-safe journal of a run: one :class:`JobRecord` per finished
job, appended and fsync'd before the next job starts.  The flat ``summary`` dict is what
``summary.csv``, the report tables and the store are built from; the full agent result is
kept beside it so nothing measured (raw latencies, probe samples) is ever thrown away.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field, fields
from typing import Any

RECORD_SCHEMA_VERSION = 1

STATUSES = ("ok", "failed", "skipped")


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


@dataclass
class JobRecord:
    """A finished job, whatever its status; ``error`` says why when it is not ``ok``."""

    run_id: str
    job_id: str
    model: str
    variant: str
    format: str
    device: str
    status: str
    error: str | None = None
    # the registry name of the runtime the job was planned for ('' in records written
    # before runtimes were chosen: the format's classic runtime)
    runtime: str = ""
    error_kind: str | None = None  # e.g. 'runtime_rejected', 'timeout', 'unreachable'
    started_at: str = field(default_factory=utc_now)
    finished_at: str = field(default_factory=utc_now)
    attempts: int = 1
    artifact: dict[str, Any] = field(default_factory=dict)  # path, sha256, size, manifest
    result: dict[str, Any] | None = None  # the agent's validated JSON result
    summary: dict[str, Any] = field(default_factory=dict)  # flat row, columns.SUMMARY_COLUMNS
    # What must be equal for two latencies to be comparable (hardware, OS, runtime and
    # version, numpy, threads, governor, provider/delegate, agent version); summary
    # carries its short hash in the 'fingerprint' column.
    fingerprint: dict[str, Any] = field(default_factory=dict)
    schema_version: int = RECORD_SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        """The record as the journal's JSON object; the nested values are shared, not copied.

        ``dataclasses.asdict`` deep-copies element by element: with a job's raw latencies
        (13,000 floats in benchmarks/bench_scale.py) it took 45 % of a cluster driver's CPU
        (py-spy), on the one thread that journals every job.  Every caller (journal, live
        sink, store) only reads the dict.
        """
        return {f.name: getattr(self, f.name) for f in _FIELDS}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "JobRecord":
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


_FIELDS = fields(JobRecord)
