"""Row building for the store: summary cells to column values, and the upserts.

Kept apart from :class:`edgebench.store.core.Store` so the run-directory report
(:func:`edgebench.results.frame_from_records`) converts cells exactly as ingest does.
"""

from __future__ import annotations

import json
import math
from typing import Any

import sqlalchemy as sa

from edgebench.errors import StoreError
from edgebench.results import columns as C
from edgebench.results.rows import fingerprint_hash  # the run computes the same hash
from edgebench.store import schema as S


def clean_value(name: str, value: Any) -> Any:
    """Turn a summary cell (CSV-ish: '' for not measured) into the column's DB value."""
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if name in C.BOOL_COLUMNS:
        if isinstance(value, str):
            return value.strip().lower() in ("1", "true", "yes", "y")
        return bool(value)
    if name in C.TEXT_COLUMNS:
        return value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    number = float(value)  # ValueError handled by caller
    if name in C.INT_COLUMNS and number.is_integer():
        return int(number)
    return number


def _latencies(record: dict[str, Any]) -> list[float] | None:
    result = record.get("result") or {}
    lat = (result.get("timing") or {}).get("latencies_s") if isinstance(result, dict) else None
    if isinstance(lat, list) and lat:
        return [float(x) for x in lat]
    return None


def upsert_run(conn: sa.Connection, run_meta: dict[str, Any]) -> None:
    """Insert or update the run row with the keys ``run_meta`` has (partial meta is fine)."""
    run_id = run_meta.get("run_id")
    if not run_id:
        raise StoreError("run metadata has no run_id")
    suite = run_meta.get("suite") or {}
    counts = run_meta.get("counts") or {}
    values: dict[str, Any] = {}
    if isinstance(suite, dict):
        if suite.get("name") is not None:
            values["suite"] = suite["name"]
        if suite.get("path") is not None:
            values["suite_path"] = str(suite["path"])
        if suite.get("sha256") is not None:
            values["suite_sha256"] = suite["sha256"]
    elif isinstance(suite, str):
        values["suite"] = suite
    for key in ("started_at", "finished_at"):
        if key in run_meta:
            values[key] = run_meta[key]
    if "complete" in run_meta:
        values["complete"] = bool(run_meta["complete"])
    for key in ("ok", "failed", "skipped"):
        if key in counts:
            values[f"count_{key}"] = int(counts[key])
    if "devices" in run_meta:
        values["devices_json"] = json.dumps(run_meta["devices"])
    if "controller" in run_meta:
        values["controller_json"] = json.dumps(run_meta["controller"], sort_keys=True)
    values["run_json"] = json.dumps(run_meta, sort_keys=True, default=str)
    exists = conn.execute(sa.select(S.runs.c.run_id).where(S.runs.c.run_id == run_id)).first()
    if exists:
        conn.execute(S.runs.update().where(S.runs.c.run_id == run_id).values(**values))
    else:
        values.setdefault("complete", False)
        conn.execute(S.runs.insert().values(run_id=run_id, **values))

def job_row(record: dict[str, Any]) -> dict[str, Any]:
    """A journal record as its jobs-table row: summary cells converted by
    :func:`clean_value`, the cells without a column (or that do not convert) kept verbatim
    in ``extra_json``.  The one row builder: the store writes it, and a run directory's
    report reads it through :func:`frame_row`, so both show the same values."""
    summary = dict(record.get("summary") or {})
    for key in ("model", "variant", "format", "device", "status", "error"):
        if summary.get(key) in (None, "") and record.get(key) is not None:
            summary[key] = record[key]
    row: dict[str, Any] = {"run_id": record.get("run_id"), "job_id": record.get("job_id")}
    extra: dict[str, Any] = {}
    for name, value in summary.items():
        if name in C.SPECIAL_COLUMNS:
            continue
        if name not in S.jobs.c:
            extra[name] = value
            continue
        try:
            row[name] = clean_value(name, value)
        except (TypeError, ValueError):
            extra[name] = value  # kept verbatim, never coerced into a wrong number
            row[name] = None
    fp = record.get("fingerprint") or {}
    row["fingerprint_json"] = json.dumps(fp, sort_keys=True, default=str)
    row["fingerprint_hash"] = (str(summary.get("fingerprint") or "") or fingerprint_hash(fp))
    row["error_kind"] = record.get("error_kind")
    row["started_at"] = record.get("started_at")
    row["finished_at"] = record.get("finished_at")
    row["attempts"] = record.get("attempts")
    row["extra_json"] = json.dumps(extra, sort_keys=True, default=str) if extra else None
    return row


def frame_row(row: dict[str, Any]) -> dict[str, Any]:
    """A jobs-table row as :func:`edgebench.results.load` shows it: fingerprint,
    job_started_at, job_finished_at, and ``extra_json``'s cells as columns."""
    row = dict(row)
    row["fingerprint"] = row.pop("fingerprint_hash")
    row["job_started_at"] = row.pop("started_at")
    row["job_finished_at"] = row.pop("finished_at")
    extra = json.loads(row.pop("extra_json") or "{}")
    row.update({k: v for k, v in extra.items() if k not in row})
    for name in C.EXTRA_JSON_COLUMNS:  # summary columns kept in extra_json: '' -> None
        try:
            row[name] = clean_value(name, row.get(name))
        except (TypeError, ValueError):
            row[name] = None
    return row


def upsert_job(conn: sa.Connection, record: dict[str, Any]) -> bool:
    """Replace the job row, its samples and its device snapshot; True if it was new."""
    run_id, job_id = record["run_id"], record["job_id"]
    row = job_row(record)
    key = (S.jobs.c.run_id == run_id) & (S.jobs.c.job_id == job_id)
    existed = conn.execute(S.jobs.delete().where(key)).rowcount > 0
    conn.execute(S.jobs.insert().values(**row))
    conn.execute(S.samples.delete().where(
        (S.samples.c.run_id == run_id) & (S.samples.c.job_id == job_id)))
    latencies = _latencies(record)
    if latencies:
        import numpy as np

        blob = np.asarray(latencies, dtype="<f8").tobytes()
        conn.execute(S.samples.insert().values(
            run_id=run_id, job_id=job_id, count=len(latencies), dtype="<f8",
            latencies_s=blob))
    machine = (record.get("result") or {}).get("machine")
    if isinstance(machine, dict) and machine:
        dkey = (S.devices.c.run_id == run_id) & (S.devices.c.device == record["device"])
        conn.execute(S.devices.delete().where(dkey))
        conn.execute(S.devices.insert().values(
            run_id=run_id, device=record["device"],
            machine_json=json.dumps(machine, sort_keys=True, default=str),
            recorded_at=record.get("finished_at")))
    return not existed
