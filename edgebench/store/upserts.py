"""The store's upserts: a run's row, and a job's row (built by
:func:`edgebench.results.rows.job_row`), its samples and its device snapshot."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from edgebench.errors import StoreError
from edgebench.results.rows import job_row
from edgebench.store import schema as S


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
    _replace_blocks(conn, record)
    machine = (record.get("result") or {}).get("machine")
    if isinstance(machine, dict) and machine:
        dkey = (S.devices.c.run_id == run_id) & (S.devices.c.device == record["device"])
        conn.execute(S.devices.delete().where(dkey))
        conn.execute(S.devices.insert().values(
            run_id=run_id, device=record["device"],
            machine_json=json.dumps(machine, sort_keys=True, default=str),
            recorded_at=record.get("finished_at")))
    return not existed


def _replace_blocks(conn: sa.Connection, record: dict[str, Any]) -> None:
    """The job's :data:`~edgebench.store.schema.STORED_BLOCKS`, replaced like its row."""
    run_id, job_id = record["run_id"], record["job_id"]
    conn.execute(S.job_blocks.delete().where(
        (S.job_blocks.c.run_id == run_id) & (S.job_blocks.c.job_id == job_id)))
    result = record.get("result") or {}
    for name in S.STORED_BLOCKS:
        block = result.get(name) if isinstance(result, dict) else None
        if isinstance(block, dict):
            conn.execute(S.job_blocks.insert().values(
                run_id=run_id, job_id=job_id, name=name,
                block_json=json.dumps(block, sort_keys=True, default=str)))
