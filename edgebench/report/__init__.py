"""Run reports: per-model tables, Pareto fronts, recommendations, compatibility matrix,
environment and comparability warnings, in md/html/csv/parquet/json/pytest-benchmark.

The run calls :func:`write_run_report` once at its end; ``edgebench report RUN_ID``
rebuilds the same report from the store (:func:`report_from_store`) later.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    import pandas as pd

    from edgebench.report.tables import ReportData
    from edgebench.store import Store

HISTORY_RUNS = 30


def report_from_dir(run_dir: Path, *, store: "Store | str | Path | None" = None,
                    objective: str = "latency", max_accuracy_drop_pts: float = 1.0,
                    with_samples: bool = True) -> "ReportData":
    """Build a report straight from ``results.jsonl`` + ``run.json`` (no store needed).

    ``with_samples=False`` leaves out the raw latencies, which only the pytest-benchmark
    format shows: they are most of a big run's journal (see ``journal.drop_samples``)."""
    from edgebench.report.tables import ReportWarning, build_report
    from edgebench.results import frame_from_records
    from edgebench.results.journal import latest_records, parse_journal, read_run_json

    run_dir = Path(run_dir)
    meta = read_run_json(run_dir)
    journal = parse_journal(run_dir / "results.jsonl", keep_samples=with_samples)
    records = latest_records(journal.records)
    machines: dict[str, dict[str, Any]] = {}
    samples: dict[str, Any] = {}
    sustained: dict[str, Any] = {}
    profiles: dict[str, Any] = {}
    for rec in records:
        result = rec.get("result") or {}
        if isinstance(result.get("machine"), dict):
            machines[rec["device"]] = result["machine"]
        lat = (result.get("timing") or {}).get("latencies_s")
        if isinstance(lat, list) and lat:
            samples[rec["job_id"]] = lat
        if isinstance(result.get("sustained"), dict):
            sustained[rec["job_id"]] = result["sustained"]
        if isinstance(result.get("profile"), dict):
            profiles[rec["job_id"]] = result["profile"]
    history = None
    if store is not None:
        history = _history(store, meta, extra_run=frame_from_records(records, meta))
    return build_report(frame_from_records(records, meta), meta, machines=machines,
                        samples=samples, sustained=sustained, profiles=profiles, history=history,
                        objective=objective,
                        max_accuracy_drop_pts=max_accuracy_drop_pts,
                        extra_warnings=[ReportWarning("journal", w) for w in journal.warnings()])


def report_from_store(store: "Store | str | Path | None", run_id: str, *,
                      objective: str = "latency", max_accuracy_drop_pts: float = 1.0,
                      with_samples: bool = True) -> "ReportData":
    """Rebuild a run's report from the store (UsageError for an unknown run id)."""
    from edgebench import results
    from edgebench.report.tables import build_report
    from edgebench.store import open_store

    st = open_store(store)
    st.run(run_id)
    meta = st.run_meta(run_id)
    frame = results.load(st, run=run_id)
    samples = st.samples(run_id) if with_samples else {}
    return build_report(frame, meta, machines=st.device_snapshots(run_id), samples=samples,
                        sustained=st.job_blocks(run_id, "sustained"),
                        profiles=st.job_blocks(run_id, "profile"),
                        history=_history(st, meta), objective=objective,
                        max_accuracy_drop_pts=max_accuracy_drop_pts)


def _history(store: "Store | str | Path | None", meta: dict[str, Any],
             extra_run: "pd.DataFrame | None" = None) -> "pd.DataFrame":
    """p50 per (run, model, variant, format, device) for this run and the runs of its
    suite before it (at most HISTORY_RUNS): a page about an old run shows no later ones."""
    import pandas as pd

    from edgebench import results
    from edgebench.store import open_store

    st = open_store(store)
    suite = (meta.get("suite") or {}).get("name") if isinstance(meta.get("suite"), dict) else None
    started = meta.get("started_at") or "9999"
    ids = [r.run_id for r in st.runs(suite)
           if (r.started_at or "") <= started or r.run_id == meta.get("run_id")]
    ids = ids[-HISTORY_RUNS:]
    frame = results.load(st, run=ids) if ids else results.load(st, run=[])
    if extra_run is not None and meta.get("run_id") not in set(frame["run_id"]):
        frame = pd.concat([frame, extra_run], ignore_index=True)
    frame = frame[frame["status"].eq("ok")]
    cols = ["run_id", "run_started_at", "model", "variant", "format", "device", "latency_p50_s"]
    return frame[cols].reset_index(drop=True)


def write_run_report(run_dir: Path, *, store: "Store | str | Path | None" = None,
                     formats: Sequence[str] = ("md", "html"), objective: str = "latency",
                     max_accuracy_drop_pts: float = 1.0,
                     regressions: list[dict[str, Any]] | None = None) -> list[Path]:
    """Write ``report.md`` and ``report.html`` (and any other ``formats``) into the run
    directory from its journal; with ``store``, the HTML also charts the suite's history;
    ``regressions`` (``{"message": ...}`` dicts, from nightly) are listed at the top.
    Returns the written paths.  Called by the run at its end."""
    from edgebench.report.formats import write_formats

    report = report_from_dir(Path(run_dir), store=store, objective=objective,
                             max_accuracy_drop_pts=max_accuracy_drop_pts,
                             with_samples="pytest-benchmark" in formats)
    report.regressions = list(regressions or [])
    return write_formats(report, Path(run_dir), list(formats))


__all__ = ["report_from_dir", "report_from_store", "write_run_report"]
