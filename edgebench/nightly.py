"""The nightly loop: run the suite, store it, compare with a baseline, publish, and say
with the exit code whether anything got worse.

Exit codes (what cron / CI act on): 0 no regression, 1 regressions (listed on stdout and
in ``<run_dir>/regressions.json``), 2 error (the run could not be made, stored or compared).
The runner is injectable so the loop is tested without devices; in production it is
``edgebench.run.run_suite``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from edgebench.errors import EdgebenchError
from edgebench.quality import LATENCY_FACTOR

if TYPE_CHECKING:
    from edgebench.report.compare import Comparison
    from edgebench.store import Store

#: run_suite(suite_path, *, devices_path, out_dir, on_record) -> object with run_id, run_dir,
#: records, exit_code (edgebench.run.RunOutcome); on_record(run_meta, JobRecord)
Runner = Callable[..., Any]

EXIT_OK, EXIT_REGRESSION, EXIT_ERROR = 0, 1, 2


@dataclass
class NightlyOutcome:
    run_id: str
    run_dir: Path
    suite: str | None
    baseline_run_id: str | None
    comparison: "Comparison | None"
    exit_code: int
    regressions_path: Path
    site_paths: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def default_runner() -> Runner:
    """``edgebench.run.run_suite``, imported late (it pulls in device/transport code)."""
    try:
        from edgebench.run import run_suite
    except ImportError as exc:
        raise EdgebenchError("edgebench.run.run_suite is not available in this install",
                             hint="update edgebench; nightly needs the run module") from exc
    return run_suite


def _run(runner: Runner | None, suite_path: Path, devices_path: Path | None, out_dir: Path,
         on_record: Any, *, capture: bool, cluster: str | None = None) -> Any:
    """The night's run; with the default runner, third-party fd 1/2 output goes to the
    run's toolchain.log (a custom runner -- tests, an embedding app -- runs as given)."""
    on_cluster = {"cluster": cluster} if cluster else {}  # a custom runner need not know it
    if runner is not None:
        return runner(suite_path, devices_path=devices_path, out_dir=out_dir, on_record=on_record,
                      **on_cluster)
    from edgebench.progress import ConsoleProgress
    from edgebench.toolchain_log import ToolchainCapture

    with ToolchainCapture(out_dir, enabled=capture) as log:
        progress = ConsoleProgress(log.terminal, quiet=True, on_run_dir=log.place)
        return default_runner()(suite_path, devices_path=devices_path, out_dir=out_dir,
                                on_record=on_record, progress=progress, **on_cluster)


def run_nightly(suite_path: Path, *, baseline: str | None = None,
                devices_path: Path | None = None, out_dir: Path = Path("results"),
                store: "Store | str | Path | None" = None, site_dir: Path | None = None,
                runner: Runner | None = None, metric: str = "p50", factor: float = LATENCY_FACTOR,
                force: bool = False, capture_toolchain: bool = True,
                cluster: str | None = None) -> NightlyOutcome:
    """Run -> ingest -> compare -> regressions.json -> publish.  Raises EdgebenchError on
    errors; the command turns that into exit 2.

    ``capture_toolchain``: the toolchains' own output (TensorFlow, the TFLite converter,
    ONNX Runtime) goes to ``RUN_DIR/toolchain.log``, as in ``edgebench run``, so the cron
    mail holds the night's verdict and not hundreds of converter lines.  ``cluster``: run
    the jobs on that Ray cluster (``run_suite``'s ``cluster``; docs/scaling.md)."""
    from edgebench.report.compare import compare_runs
    from edgebench.results.journal import read_run_json, write_atomic
    from edgebench.results.sink import LiveSink
    from edgebench.store import open_store

    out_dir = Path(out_dir)
    st = open_store(store, results_dir=out_dir)
    notes: list[str] = []

    # live ingest, a follower of the journal (its failure is one note; the directory
    # ingest below retries it all)
    on_record = LiveSink(st, out_dir, notes.append)
    outcome = _run(runner, Path(suite_path), devices_path, out_dir, on_record,
                   capture=capture_toolchain, cluster=cluster)
    run_dir = Path(outcome.run_dir)
    counts = st.ingest_dir(run_dir)
    if counts.bad_lines:
        notes += [f"results.jsonl line {n}: {why}" for n, why in counts.bad_lines]
    meta = read_run_json(run_dir)
    suite = (meta.get("suite") or {}).get("name") if isinstance(meta.get("suite"), dict) else None
    run_id = str(meta["run_id"])
    if baseline:
        st.run(baseline)  # UsageError for an unknown id
        base_id: str | None = baseline
    else:
        base = st.last_complete_run(suite, before=run_id)
        base_id = base.run_id if base else None
        if base_id is None:
            notes.append(f"no earlier complete run of suite {suite!r}: nothing to compare")
    comparison = (compare_runs(st, base_id, run_id, metric=metric, factor=factor, force=force)
                  if base_id else None)
    run_exit = int(getattr(outcome, "exit_code", 0) or 0)
    if not meta.get("complete"):
        notes.append("the run is not complete")
    exit_code = EXIT_REGRESSION if comparison and comparison.regressions else EXIT_OK
    if run_exit == 1:  # not a regression by itself, but never a silent night
        notes.append("some jobs failed or were skipped tonight (the run exited 1): "
                     "see the run's report; jobs failing in both runs are not compared")
    if run_exit >= EXIT_ERROR:
        notes.append(f"the run itself exited {run_exit}")
        exit_code = EXIT_ERROR
    payload = {
        "schema_version": 1, "run_id": run_id, "suite": suite, "baseline_run_id": base_id,
        "exit_code": exit_code, "metric": metric, "factor": factor, "notes": notes,
        "regressions": [], "improvements": [], "incomparable": [],
    }
    if comparison is not None:
        full = comparison.to_dict()
        for key in ("regressions", "improvements", "incomparable"):
            payload[key] = full[key]
    if comparison is not None:  # the run's report, now with history and the verdict
        from edgebench.report import write_run_report

        write_run_report(run_dir, store=st,
                         regressions=[{"message": p.message()} for p in comparison.regressions])
    regressions_path = write_atomic(run_dir / "regressions.json",
                                    json.dumps(payload, indent=1, default=str, allow_nan=False))
    site_paths: list[Path] = []
    if site_dir is not None:
        from edgebench.report.site import publish

        site_paths = publish(st, Path(site_dir), factor=factor, metric=metric)
    return NightlyOutcome(run_id=run_id, run_dir=run_dir, suite=suite, baseline_run_id=base_id,
                          comparison=comparison, exit_code=exit_code,
                          regressions_path=regressions_path, site_paths=site_paths, notes=notes)
