"""``tune()``: the Python API behind ``edgebench tune`` -- one tuning run, end to end.

Stages: select the suite's models and devices -> write and build the candidates (child
process, variant cache) -> drop those over the quality budget -> successive halving on
every device -> the run's bookkeeping (summary.csv, run.json, report.md) -> the tuning
outputs (tune.md, tune.json, pareto-*.svg, the tuned suite).  ``--cluster`` changes only
where the jobs run: :class:`~edgebench.tuning.session.FleetMeasure`, the one place that
runs them, hands each stage to the Ray cluster instead of this controller's threads.
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from typing import Any, Callable, Optional

from edgebench.interrupt import RunInterrupted, StageStopped, StopOnSigint, checkpoint
from edgebench.results.journal import RunDir
from edgebench.results.record import JobRecord, utc_now
from edgebench.tuning.session import (
    FleetMeasure,
    TuneOutcome,
    judge_candidates,
    plan_groups,
    select,
    write_candidate_suite,
)
from edgebench.tuning.space import check_objective, parse_budget
from edgebench.tuning.strategy import successive_halving


def tune(suite_path: "str | Path", *, devices_path: "str | Path | None" = None,
         device_names: Optional[list[str]] = None, models: Optional[list[str]] = None,
         budget: Optional[str] = None, objective: str = "latency",
         max_device_s: Optional[float] = None, out_dir: "str | Path" = "results",
         cache_dir: Optional[Path] = None, no_cache: bool = False,
         tuned_suite: "str | Path | None" = None,
         on_record: Optional[Callable[[dict[str, Any], JobRecord], None]] = None,
         say: Optional[Callable[[str], None]] = None,
         stop: Optional[threading.Event] = None,
         on_run_dir: Optional[Callable[[Path], None]] = None,
         cluster: Optional[str] = None) -> TuneOutcome:
    """Find the best recipe per device under a quality budget (docs/tune.md).

    ``budget``: ``accuracy:POINTS`` or ``fidelity:COSINE`` (default: accuracy:1 where the
    data has labels, else fidelity:0.99); ``objective``: latency, energy, size or
    peak_memory; ``max_device_s``: no new rung starts once this many device-seconds are
    spent; ``tuned_suite``: where the tuned suite goes (default: next to the suite,
    ``<suite>-tuned.yaml``).  ``on_record(run_meta, record)`` follows the final records
    (the store).  ``stop``: set it to stop; :class:`RunInterrupted` is raised.
    ``on_run_dir(path)``: called once the run directory exists.  ``cluster``: a Ray address
    (``ray://HEAD:10001``, ``HOST:6379``, ``auto``): every stage's jobs run on the nodes of
    their devices' labs (docs/scaling.md); None runs them here, without Ray.
    """
    from edgebench.run import DEFAULT_CACHE, controller_info, new_run_id

    parsed = parse_budget(budget)
    check_objective(objective)
    if max_device_s is not None and max_device_s <= 0:
        from edgebench.errors import UsageError

        raise UsageError(f"--max-device-s {max_device_s:g}: give a positive number of seconds")
    suite, devices, models = select(suite_path, devices_path, device_names, models)
    if cluster:
        from edgebench.cluster.connect import check_cluster

        check_cluster(cluster, devices)  # before the run directory exists
    say = say or (lambda _m: None)
    stop = stop if stop is not None else threading.Event()
    run_id = new_run_id(f"{suite.name}-tune")
    run_dir = RunDir.create(Path(out_dir), run_id)
    meta: dict[str, Any] = {
        "schema_version": 1, "run_id": run_id, "started_at": utc_now(), "kind": "tune",
        "suite": {"name": suite.name, "path": suite.path, "sha256": suite.sha256},
        "devices": [d.name for d in devices], "models": models, "controller": controller_info(),
        "finished_at": None, "complete": False}
    if cluster:  # what ran where: FleetMeasure fills in the nodes as each stage ends
        meta["cluster"] = {"address": cluster, "nodes": {}}
    run_dir.write_run_json(meta)
    if on_run_dir is not None:
        on_run_dir(run_dir.path)  # e.g. the CLI's toolchain.log moves there
    say(f"tune {run_id}: {run_dir.path}")
    with StopOnSigint(stop, only_replacing_default=True):
        try:
            with _cluster_session(cluster, run_id, devices) as session:
                return _tune(suite, devices, models, parsed, objective, max_device_s, run_dir,
                             meta, cache_dir or DEFAULT_CACHE, no_cache, tuned_suite, on_record,
                             say, stop, session)
        except (KeyboardInterrupt, StageStopped):
            meta.update(interrupted=True, finished_at=utc_now())
            run_dir.write_run_json(meta)
            raise RunInterrupted(run_id, run_dir.path) from None


def _cluster_session(address: Optional[str], run_id: str, devices: list[Any]) -> Any:
    """One Ray session for the whole tuning (none without ``--cluster``): the devices
    connect while the candidates build, and every stage finds them connected and
    inventoried once (``keep_devices``), each on the same lab node."""
    if not address:
        return contextlib.nullcontext()
    from edgebench.cluster import warmed_session
    from edgebench.tuning.devicetime import timed_target

    return warmed_session(address, run_id=run_id, make_target=timed_target, devices=devices,
                          keep_devices=True)


def _tune(suite: Any, devices: list[Any], models: Optional[list[str]], budget: Any,
          objective: str, max_device_s: Optional[float], run_dir: RunDir, meta: dict[str, Any],
          cache_dir: Path, no_cache: bool, tuned_suite: "str | Path | None",
          on_record: Optional[Callable[[dict[str, Any], JobRecord], None]],
          say: Callable[[str], None], stop: threading.Event,
          cluster: Optional[Any] = None) -> TuneOutcome:
    from edgebench.child import build_variants
    from edgebench.config import SearchSpec

    cand_suite = write_candidate_suite(suite, run_dir.path, models)
    say(f"building {len(cand_suite.variants)} candidate recipe(s) on the controller")
    artifacts = build_variants(cand_suite, cache_dir=cache_dir, no_cache=no_cache,
                               only_models=models, progress=checkpoint(stop, say))
    keep, candidates, budgets = judge_candidates(artifacts, budget)
    over = [c for c in candidates if c.status == "over_budget"]
    broken = [c for c in candidates if c.status == "build_failed"]
    say(f"{len(candidates)} candidate file(s): {len(over)} over the quality budget and "
        f"{len(broken)} failed to build, dropped before any device time; {len(keep)} go on")
    groups = plan_groups(cand_suite, devices, keep)
    exhaustive = plan_groups(cand_suite, devices, [a for a in artifacts if a.path and not a.error])
    search = suite.search or SearchSpec()
    rung_dir = RunDir(run_dir.path / "rungs")
    rung_dir.path.mkdir()
    stages = {f"rung{i + 1}": f for i, f in enumerate(search.rungs)}
    measure = FleetMeasure(cand_suite, groups, objective, meta["run_id"], run_dir, rung_dir,
                           stages, stop, say=say,
                           on_record=(lambda rec: on_record(meta, rec)) if on_record else None,
                           cluster=cluster, placement=meta.get("cluster", {}))
    keys = {k for jobs in groups.values() for k in jobs}

    def baseline_of(key: str) -> Optional[str]:
        base = "fp32/" + key.partition("/")[2]
        return base if base in keys else None

    results = successive_halving(
        {g: list(jobs) for g, jobs in groups.items()}, list(stages), measure,
        finalists=search.finalists, baseline_of=baseline_of, say=say,
        may_continue=lambda _jobs: max_device_s is None or measure.ledger.total_s < max_device_s)
    from edgebench.tuning.report import finish

    return finish(suite, cand_suite, devices, run_dir, meta, objective, budgets, candidates,
                  results, measure, exhaustive, tuned_suite, say)


__all__ = ["TuneOutcome", "tune"]
