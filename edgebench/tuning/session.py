"""``edgebench tune``: build the candidates, drop those over the quality budget, then let
successive halving (:mod:`edgebench.tuning.strategy`) spend device time on the rest.

Everything measurable is done by the parts ``edgebench run`` uses: the candidates are a
suite written into the run directory (``candidates.yaml``) and built by the same child
process and cache as any variant; jobs are planned by ``run.plan_jobs`` and measured by
``fleet.run_fleet`` on every device in parallel.  A rung only shortens the benchmark
settings of the job spec (and leaves on-device evaluation to the final).  The final
measurements, with the suite's own stopping rule, are the run's journal (results.jsonl,
summary.csv, report.md, run.json: a run like any other, for ``report``, ``compare`` and
the store); the rungs' short ones go to ``RUN_DIR/rungs/results.jsonl``.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Optional

import yaml

from edgebench.config import DeviceSpec, SuiteSpec, load_devices, load_suite, select_devices
from edgebench.errors import UsageError
from edgebench.fleet import Job, run_fleet
from edgebench.results.journal import RunDir
from edgebench.results.record import JobRecord
from edgebench.tuning.devicetime import KeptTarget, inventory_seconds, job_seconds, timed_target
from edgebench.tuning.space import OBJECTIVES, Budget, candidate_variants, default_budget, within_budget
from edgebench.tuning.strategy import FINAL, Group, GroupResult, Measurement
from edgebench.units import as_number

Say = Callable[[str], None]


@dataclass
class Candidate:
    """One built (model, variant, format) and whether it may spend device time."""

    model: str
    variant: str
    format: str
    steps: list[dict[str, Any]]
    size_bytes: Optional[int] = None
    quality: str = ""  # the figure the budget was judged on
    status: str = "ok"  # ok | over_budget | build_failed
    reason: str = ""


@dataclass
class Ledger:
    """Device-seconds per stage and device: what the tuning cost (:mod:`.devicetime`)."""

    by_stage: dict[str, float] = field(default_factory=dict)
    by_device: dict[str, float] = field(default_factory=dict)
    jobs_by_stage: dict[str, int] = field(default_factory=dict)
    inventory_s: dict[str, float] = field(default_factory=dict)  # device -> its first inventory

    def bill(self, stage: str, device: str, seconds: float) -> None:
        self.by_stage[stage] = self.by_stage.get(stage, 0.0) + seconds
        self.by_device[device] = self.by_device.get(device, 0.0) + seconds

    @property
    def total_s(self) -> float:
        return sum(self.by_stage.values())


@dataclass
class TuneOutcome:
    run_id: str
    run_dir: Path
    exit_code: int  # 0: a winner on every device; 1: some device has none
    objective: str
    budgets: dict[str, str]
    candidates: list[Candidate]
    results: dict[Any, GroupResult]
    ledger: Ledger
    exhaustive_estimate_s: float
    winners: list[dict[str, Any]] = field(default_factory=list)
    tuned_suite: Optional[Path] = None
    records: list[JobRecord] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)  # the summary, as printed

    @property
    def device_s(self) -> float:
        return self.ledger.total_s


def write_candidate_suite(suite: SuiteSpec, run_dir: Path, models: Optional[list[str]]) -> SuiteSpec:
    """The search space as a suite file in the run directory, built like any suite."""
    data = suite.model_dump(mode="json", by_alias=True, exclude_unset=True,
                            exclude={"path", "sha256", "search", "variants"})
    variants: dict[str, dict[str, Any]] = {}
    for model in suite.models:
        if models and model.name not in models:
            continue
        for v in candidate_variants(model, suite.search):
            variants.setdefault(v.name, v.model_dump(mode="json", exclude_none=True))
    data["variants"] = list(variants.values())
    if suite.search is not None and suite.search.runtimes is not None:
        data["runtimes"] = suite.search.runtimes
        for m in data["models"]:
            m.pop("runtimes", None)
    path = run_dir / "candidates.yaml"
    path.write_text("# written by edgebench tune: the candidates of " + suite.path + "\n"
                    + yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return load_suite(path)


def judge_candidates(artifacts: list[Any], budget: Optional[Budget]
                     ) -> tuple[list[Any], list[Candidate], dict[str, Budget]]:
    """Artifacts that may spend device time, every candidate's verdict, the budget per model."""
    budgets: dict[str, Budget] = {}
    for art in artifacts:
        if art.variant == "fp32" and not art.error:
            budgets.setdefault(art.model, budget or default_budget(art.manifest or {}))
    keep, verdicts = [], []
    for art in artifacts:
        manifest = art.manifest or {}
        cand = Candidate(art.model, art.variant, art.format, list(manifest.get("recipe") or []),
                         manifest.get("size_bytes"))
        if art.error or art.path is None:
            cand.status, cand.reason = "build_failed", str(art.error)
        elif art.variant == "fp32":
            cand.quality = "baseline"
            keep.append(art)
        elif art.model not in budgets:
            cand.status, cand.reason = "over_budget", "fp32 did not build: nothing to judge against"
        else:
            ok, cand.quality = within_budget(manifest, budgets[art.model])
            if ok:
                keep.append(art)
            else:
                cand.status = "over_budget"
                cand.reason = f"{cand.quality} (budget {budgets[art.model].text()})"
        verdicts.append(cand)
    return keep, verdicts, budgets


def candidate_key(job: Job) -> str:
    return f"{job.variant}/{job.format}:{job.runtime_name}"


def rung_benchmark(suite: SuiteSpec, fraction: float) -> dict[str, Any]:
    """The job spec's benchmark settings for a short measurement: ``fraction`` of the
    suite's timed minimum (at least 20 ms), warm-up scaled alike, no precision target."""
    b = suite.benchmark
    duration = max(0.02, b.min_duration_s * fraction)
    return {"warmup_runs": min(b.warmup_runs, 5), "warmup_min_s": b.warmup_min_s * fraction,
            "min_runs": max(10, round(b.min_runs * fraction)), "min_duration_s": duration,
            "max_duration_s": max(duration, b.max_duration_s * fraction),
            "target_precision": None, "processes": 1, "mode": "fixed", "profile": False}


def measurement(rec: JobRecord, objective: str, device_s: float) -> Measurement:
    """The objective of one finished job, with its 99 % interval where it has one."""
    if rec.status != "ok":
        return Measurement(None, error=f"{rec.status}: {rec.error}", device_s=device_s)
    s = rec.summary or {}
    value = as_number(s.get(OBJECTIVES[objective][0]))
    if value is None:
        return Measurement(None, error=f"{objective} not measured on {rec.device}",
                           device_s=device_s)
    low = high = None
    if objective == "latency":
        low, high = as_number(s.get("latency_p50_ci_low_s")), as_number(s.get("latency_p50_ci_high_s"))
    elif objective == "size":
        low = high = value  # a file's size is exact
    return Measurement(value, low, high, device_s=device_s)



@dataclass
class FleetMeasure:
    """The strategy's ``measure``: one fleet pass per stage over the groups' candidates --
    on this controller's threads, or with ``cluster`` (its ClusterSession) from the lab nodes."""

    suite: SuiteSpec
    jobs: dict[Group, dict[str, Job]]  # group -> key -> the job with the suite's full rule
    objective: str
    run_id: str
    final_dir: RunDir
    rung_dir: RunDir
    rungs: dict[str, float]  # stage name -> fraction of min_duration_s
    stop: threading.Event
    ledger: Ledger = field(default_factory=Ledger)
    on_record: Optional[Callable[[JobRecord], None]] = None
    say: Say = lambda _m: None
    records: dict[str, list[JobRecord]] = field(default_factory=dict)  # stage -> records
    targets: dict[str, KeptTarget] = field(default_factory=dict)
    cluster: Optional[Any] = None  # --cluster: the tuning's ClusterSession (edgebench.cluster)
    # --cluster: run.json's "cluster" (address; nodes: device -> its last Ray node;
    # nodes_by_stage: stage -> device -> node), filled in as each stage ends
    placement: dict[str, Any] = field(default_factory=dict)

    def __call__(self, stage: str, todo: dict[Group, list[str]]) -> dict[Group, dict[str, Measurement]]:
        planned: list[Job] = []
        for group, keys in todo.items():
            for key in keys:
                planned.append(self._staged(self.jobs[group][key], stage))
        self.say(f"{stage}: {len(planned)} job(s) on {len({j.device.name for j in planned})} "
                 "device(s)" + ("" if stage == FINAL else
                                f", {rung_benchmark(self.suite, self.rungs[stage])['min_duration_s']:g} s each"))
        got: dict[Group, dict[str, Measurement]] = {}
        by_id = {j.job_id: j for j in planned}
        lock = threading.Lock()

        def sink(rec: JobRecord) -> None:  # one thread per device, or the cluster's driver
            spent = job_seconds(rec)
            with lock:
                self.ledger.bill(stage, rec.device, spent)
            (self.final_dir if stage == FINAL else self.rung_dir).append(rec)
            self.records.setdefault(stage, []).append(rec)
            if stage == FINAL:
                if self.on_record:
                    self.on_record(rec)
            got.setdefault((rec.model, rec.device), {})[candidate_key(by_id[rec.job_id])] = (
                measurement(rec, self.objective, spent))

        def progress(_device: str, rec: JobRecord, _report: Any) -> None:
            from edgebench.units import fmt_seconds

            p50 = as_number((rec.summary or {}).get("latency_p50_s"))
            said = f"p50 {fmt_seconds(p50)}" if rec.status == "ok" and p50 else str(rec.error)
            self.say(f"  [{stage}] {rec.job_id}: {rec.status} {said}"[:300])

        reports = self._fleet()(planned, sink=sink, progress=progress, stop=self.stop)
        if self.stop.is_set():
            raise KeyboardInterrupt
        for rep in reports:  # every device's inventory taken in this stage, billed to it
            spent = inventory_seconds(rep.inventory)
            self.ledger.bill(stage, rep.name, spent)
            if spent:
                self.ledger.inventory_s.setdefault(rep.name, spent)
        self.ledger.jobs_by_stage[stage] = len(planned)
        if self.cluster:
            nodes = {rep.name: rep.node for rep in reports}
            self.placement.setdefault("nodes", {}).update(nodes)
            self.placement.setdefault("nodes_by_stage", {})[stage] = nodes
        return got

    def _fleet(self) -> Callable[..., list[Any]]:
        """``run_fleet`` with this tuning's targets; on a cluster, its session's (the targets
        live on the lab nodes, built there by :func:`timed_target`, kept for every stage)."""
        if self.cluster is None:
            return functools.partial(run_fleet, make_target=self._target, run_id=self.run_id)
        return self.cluster.run_fleet

    def _target(self, device: DeviceSpec) -> Any:
        """One target per device for the whole tuning: its inventory is taken once."""
        if device.name not in self.targets:
            self.targets[device.name] = KeptTarget(timed_target(device))
        return self.targets[device.name]

    def _staged(self, job: Job, stage: str) -> Job:
        if stage == FINAL:
            return job
        spec = dict(job.spec, eval=None)  # quality was judged on the controller already
        spec["benchmark"] = {**job.spec["benchmark"], **rung_benchmark(self.suite, self.rungs[stage])}
        return replace(job, spec=spec)


def plan_groups(suite: SuiteSpec, devices: list[DeviceSpec], artifacts: list[Any]
                ) -> dict[Group, dict[str, Job]]:
    from edgebench.plan import plan_jobs

    groups: dict[Group, dict[str, Job]] = {}
    for job in plan_jobs(suite, devices, artifacts):
        groups.setdefault((job.model, job.device.name), {})[candidate_key(job)] = job
    return groups


def select(suite_path: "str | Path", devices_path: "str | Path | None",
           device_names: Optional[list[str]], models: Optional[list[str]]
           ) -> tuple[SuiteSpec, list[DeviceSpec], Optional[list[str]]]:
    """The suite, its devices and models, checked before anything is built."""
    from edgebench.variants import check_model_names

    suite = load_suite(suite_path)
    models = check_model_names(suite, models)
    devices = select_devices(suite, load_devices(devices_path), device_names)
    if not devices:
        raise UsageError("no device selected", hint="name one with --device")
    return suite, devices, models
