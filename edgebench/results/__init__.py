"""Results as pandas DataFrames, for notebooks and for the report/compare code.

``load`` reads the store (many runs); :func:`frame_from_records` turns a run directory's
journal into the very same columns, so the report written at the end of a run and the
one rebuilt later from the store cannot disagree.

    >>> from edgebench import results
    >>> df = results.load(suite="nightly", since="2026-11-01")
    >>> df.pivot_table(index=["model", "variant"], columns="device", values="latency_p50_s")
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from edgebench.results.columns import BY_NAME, FRAME_DTYPES, LOAD_COLUMNS

if TYPE_CHECKING:
    import pandas as pd

    from edgebench.store import Store

#: The columns of :func:`load`, in order: the catalogue's (edgebench.results.columns).
COLUMNS = LOAD_COLUMNS


def _runs_filter(run: str | Iterable[str] | None) -> list[str] | None:
    if run is None:
        return None
    return [run] if isinstance(run, str) else list(run)


def _since_text(since: str | _dt.date | _dt.datetime | None) -> str | None:
    """ISO text comparable with stored ``started_at`` (UTC ISO-8601 strings)."""
    if since is None:
        return None
    if isinstance(since, _dt.datetime):
        if since.tzinfo is None:
            since = since.replace(tzinfo=_dt.timezone.utc)
        return since.astimezone(_dt.timezone.utc).isoformat()
    if isinstance(since, _dt.date):
        return since.isoformat()
    return str(since)


def load(store: "Store | str | Path | None" = None, run: str | Iterable[str] | None = None,
         suite: str | None = None, since: str | _dt.date | None = None) -> "pd.DataFrame":
    """One row per job (summary columns + run metadata) from the store, oldest run first.

    ``run`` is a run id or several, ``suite`` a suite name, ``since`` an ISO date/time or
    date: runs started at or after it.  Unknown run ids raise :class:`UsageError`, and so
    does a store that does not exist: reading never creates an empty database.
    """
    from edgebench.store import open_store

    st = open_store(store, create=False)  # a lookup: a store that is not there is an error
    runs = _runs_filter(run)
    if runs is not None and not runs:
        return _typed_frame([])
    if runs:
        for run_id in runs:
            st.run(run_id)  # UsageError for unknown ids
    rows = st.job_rows(runs or None, suite, _since_text(since))
    return _typed_frame(rows)


def frame_from_records(records: list[dict[str, Any]], run_meta: dict[str, Any]) -> "pd.DataFrame":
    """The :func:`load` columns for one run directory's journal records (no store needed)."""
    from edgebench.results.rows import frame_row, job_row

    suite = run_meta.get("suite") or {}
    rows = []
    for rec in records:
        row = frame_row(job_row(rec))
        row["suite"] = suite.get("name") if isinstance(suite, dict) else suite
        row["run_started_at"] = run_meta.get("started_at")
        row["run_finished_at"] = run_meta.get("finished_at")
        row["run_complete"] = bool(run_meta.get("complete"))
        rows.append(row)
    return _typed_frame(rows)


def _typed_frame(rows: list[dict[str, Any]]) -> "pd.DataFrame":
    """Stable column order and dtypes whatever the source (floats stay full precision)."""
    import pandas as pd

    frame = pd.DataFrame(rows)
    for col in COLUMNS:
        if col not in frame.columns:
            frame[col] = None
    extra = [c for c in frame.columns if c not in COLUMNS]
    frame = frame[list(COLUMNS) + extra]
    for col in COLUMNS:  # each column's dtype comes from its kind in the catalogue
        dtype = FRAME_DTYPES.get(BY_NAME[col].kind)
        if dtype == "boolean":
            frame[col] = frame[col].astype("boolean")
        elif dtype is not None:
            frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(dtype)
    return frame.reset_index(drop=True)


def load_samples(store: "Store | str | Path | None" = None,
                 run: str | Iterable[str] | None = None, suite: str | None = None,
                 since: str | _dt.date | None = None) -> "pd.DataFrame":
    """Raw latencies, long form: run_id, job_id, model, variant, format, device,
    sample (0-based run index), latency_s.  Jobs without samples have no rows."""
    import numpy as np
    import pandas as pd

    from edgebench.store import open_store

    st = open_store(store, create=False)
    jobs = load(st, run=run, suite=suite, since=since)
    parts = []
    ident = ["run_id", "job_id", "model", "variant", "format", "device"]
    for run_id, group in jobs.groupby("run_id", sort=False):
        arrays = st.samples(str(run_id), list(group["job_id"]))
        for _, job in group.iterrows():
            lat = arrays.get(job["job_id"])
            if lat is None:
                continue
            part = pd.DataFrame({"sample": np.arange(len(lat)), "latency_s": lat})
            for col in ident:
                part.insert(len(part.columns) - 2, col, job[col])
            parts.append(part)
    if not parts:
        return pd.DataFrame(columns=ident + ["sample", "latency_s"])
    return pd.concat(parts, ignore_index=True)[ident + ["sample", "latency_s"]]
