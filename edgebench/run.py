"""``edgebench run``: suite -> variants -> jobs -> devices -> results on disk.

The orchestration only; each stage lives in its own module (variants, fleet, journal,
summary, report).  Results reach the disk as they are measured: the journal line of a job
is fsync'd before that device's next job starts, and run.json says whether the run
completed, so an interrupted run can be resumed (``--resume RUN_ID``) without redoing
what is already ``ok``.  Ctrl-C stops a run at any stage within about a second (see
:mod:`edgebench.interrupt`), and run.json then says ``interrupted: true``.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import os
import platform
import secrets
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from edgebench.results.journal import RunDir, write_atomic
from edgebench.results.record import JobRecord, utc_now
from edgebench.results.rows import summary_csv
from edgebench.results.sink import JournalSink

from . import __version__
from .config import DeviceSpec, SuiteSpec, load_devices, load_suite, select_devices
from .errors import UsageError
from .fleet import DeviceReport, Job, run_fleet
from .interrupt import RunInterrupted, StopOnSigint, checkpoint, request_stop, run_stage
from .plan import plan_jobs
from .resume import resumed_devices

DEFAULT_OUT = Path("results")
DEFAULT_CACHE = Path(os.environ.get("EDGEBENCH_CACHE", "~/.cache/edgebench")).expanduser()


@dataclass
class RunOutcome:
    """``records`` are read back from the journal without their raw latencies
    (``result["timing"]["latencies_s"]``, see ``journal.drop_samples``); those stay in
    results.jsonl and the store's samples table."""

    run_id: str
    run_dir: Path
    records: list[JobRecord]
    exit_code: int  # 0 all ok, 1 some job not ok
    devices: list[DeviceReport] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        out = {"ok": 0, "failed": 0, "skipped": 0}
        for rec in self.records:
            out[rec.status] = out.get(rec.status, 0) + 1
        return out


def new_run_id(suite_name: str) -> str:
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{suite_name}-{secrets.token_hex(2)}"


def _git_commit() -> Optional[str]:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent, check=False)
        return out.stdout.strip() or None
    except (OSError, subprocess.TimeoutExpired):
        return None


def controller_info() -> dict[str, Any]:
    return {"hostname": socket.gethostname(), "python": platform.python_version(),
            "edgebench_version": __version__, "git_commit": _git_commit(),
            "platform": platform.platform(), "argv": sys.argv}


def make_target(device: DeviceSpec) -> Any:
    if device.kind == "local":
        from .targets.local import LocalTarget

        return LocalTarget(device)
    from .targets.ssh import SSHTarget

    return SSHTarget(device)


def run_suite(suite_path: "str | Path", *, devices_path: "str | Path | None" = None,
              device_names: Optional[list[str]] = None, out_dir: Path = DEFAULT_OUT,
              resume: Optional[str] = None, no_cache: bool = False,
              cache_dir: Optional[Path] = None,
              on_record: Optional[Callable[[dict[str, Any], JobRecord], None]] = None,
              progress: Optional[Any] = None, stop: Optional[threading.Event] = None,
              models: Optional[list[str]] = None,
              benchmark_overrides: Optional[dict[str, Any]] = None,
              cluster: Optional[str] = None) -> RunOutcome:
    """Run a suite end to end; the Python API behind ``edgebench run``.

    ``benchmark_overrides``: benchmark settings that replace the suite's (``edgebench
    profile SUITE`` sets ``profile: true``), validated like the suite's own.

    ``models``: only these models of the suite (``--model``); a resumed run keeps the
    selection it started with unless given a new one.

    ``cluster``: a Ray address (``ray://HEAD:10001``, ``auto``): uncached variants build as
    Ray tasks, jobs run on their devices' labs' nodes (docs/scaling.md); None: here, no Ray.

    ``stop``: set it (any thread) to stop the run: jobs in flight are killed, finished ones
    stay journaled, run.json says ``interrupted`` and :class:`RunInterrupted` (a
    ``KeyboardInterrupt``) is raised.  Called in the main thread with Python's default
    SIGINT handler in place, Ctrl-C sets it for the duration of the run.
    """
    from .variants import check_model_names

    suite = load_suite(suite_path)
    if benchmark_overrides:
        from .config import BenchmarkSpec

        bench = BenchmarkSpec.model_validate({**suite.benchmark.model_dump(), **benchmark_overrides})
        suite = suite.model_copy(update={"benchmark": bench})
    models = check_model_names(suite, models)
    registry = load_devices(devices_path)
    devices: list[DeviceSpec] = [] if resume else select_devices(suite, registry, device_names)
    out_dir = Path(out_dir)
    previous: dict[str, JobRecord] = {}
    resume_warnings: list[str] = []
    if resume:
        run_dir = RunDir.open(out_dir, resume)  # one plain folder under --out, or UsageError
        run_id = resume
        meta = run_dir.read_run_json()
        before = run_dir.read(keep_samples=False)  # a controller killed mid-append leaves a torn last line
        previous, resume_warnings = before.latest(), before.warnings
        started_with = check_model_names(suite, meta.get("models"))
        if models is not None and models != started_with:
            # summary.csv, the report and the counts are rebuilt from the run's selection;
            # another one would drop finished jobs of the other models from them
            raise UsageError(f"run {resume!r} was started with --model "
                             f"{' '.join(started_with) if started_with else '(all models)'}",
                             hint="resume without --model, or start a new run")
        models = started_with
        devices = resumed_devices(resume, meta, suite, registry, device_names)
    else:
        run_id = new_run_id(suite.name)
        run_dir = RunDir.create(out_dir, run_id)
        meta = {"schema_version": 1, "run_id": run_id, "started_at": utc_now()}
    if cluster:
        from .cluster.connect import check_cluster

        check_cluster(cluster, devices)  # before run.json says it started
    meta.update({
        "suite": {"name": suite.name, "path": suite.path, "sha256": suite.sha256},
        "devices": [d.name for d in devices], "models": models, "controller": controller_info(),
        "finished_at": None, "complete": False,
    })
    if resume:
        meta.setdefault("resumed_at", []).append(utc_now())
    run_dir.write_run_json(meta)
    if progress is not None and hasattr(progress, "run_dir_ready"):
        progress.run_dir_ready(run_dir.path)  # e.g. the CLI's toolchain.log moves there
    return _run_stages(suite, devices, models, run_dir, meta, previous, resume_warnings,
                       resumed=bool(resume), cache_dir=cache_dir or DEFAULT_CACHE,
                       no_cache=no_cache, on_record=on_record, progress=progress,
                       stop=stop if stop is not None else threading.Event(), cluster=cluster)


def _run_stages(suite: SuiteSpec, devices: list[DeviceSpec], models: Optional[list[str]],
                run_dir: RunDir, meta: dict[str, Any], previous: dict[str, JobRecord],
                resume_warnings: list[str], *, resumed: bool, cache_dir: Path, no_cache: bool,
                on_record: Optional[Callable[[dict[str, Any], JobRecord], None]],
                progress: Optional[Any], stop: threading.Event,
                cluster: Optional[str] = None) -> RunOutcome:
    """Build, run the fleet, write the bookkeeping and reports -- stoppable at every step.

    ``stop`` is checked between the stages; the long ones run under :func:`run_stage`, so
    a Ctrl-C is seen within a fraction of a second.  Once stopped, run.json gets
    ``interrupted``, ``counts`` and ``finished_at`` -- written by this thread, which no
    further SIGINT interrupts -- and :class:`RunInterrupted` is raised."""
    # the build and the report run in child processes: the toolchains (torch, TensorFlow)
    # and pandas never load into the controller, which holds one thread per device
    from .child import build_variants, write_run_report

    run_id = meta["run_id"]
    say = progress.message if progress else (lambda _m: None)
    # on a cluster, the lab nodes connect to their devices while the variants build
    with StopOnSigint(stop, only_replacing_default=True), \
            _cluster_session(cluster, run_id, devices) as session:
        say(f"run {run_id}: {run_dir.path}")
        jobs: Optional[list[Job]] = None
        reports: list[DeviceReport] = []
        try:
            if not stop.is_set():
                n_models = len(models) if models else len(suite.models)
                say(f"building variants for suite {suite.name!r} ({n_models} model(s) x "
                    f"{len(suite.variants)} variant(s))")
                built = run_stage("build", lambda: build_variants(
                    suite, cache_dir=cache_dir, no_cache=no_cache, progress=checkpoint(stop, say),
                    only_models=models, cluster=cluster), stop)
                if built.done and not stop.is_set():
                    jobs = plan_jobs(suite, devices, built.result or [])
            if jobs is not None:
                reports = _run_jobs(jobs, previous, resume_warnings, resumed=resumed,
                                    run_dir=run_dir, meta=meta, on_record=on_record,
                                    progress=progress, stop=stop, cluster=session)
                jobs = _without_absent(jobs, reports, meta, say)
        except KeyboardInterrupt:  # Python's own handler was kept (e.g. not the main thread)
            request_stop(stop)
        finally:
            if progress:
                progress.stop()
        read = run_dir.read(keep_samples=False)  # raw latencies stay in the journal: 100+ MB at 256 jobs
        latest = read.latest()
        if jobs is None:  # stopped before the jobs were planned: what the journal holds
            records = list(latest.values())
        else:
            records = [latest[j.job_id] for j in jobs if j.job_id in latest]
        complete = jobs is not None and len(records) == len(jobs)
        write_atomic(run_dir.path / "summary.csv", summary_csv(r.summary for r in records))
        counts = {s: sum(r.status == s for r in records) for s in ("ok", "failed", "skipped")}
        meta.update(finished_at=utc_now(), complete=complete, counts=counts,
                    jobs_planned=None if jobs is None else len(jobs), interrupted=stop.is_set(),
                    bytes_pushed={r.name: r.bytes_pushed for r in reports})
        run_dir.write_run_json(meta)
        if not stop.is_set():
            run_stage("report", lambda: write_run_report(run_dir.path), stop)
        if stop.is_set():
            if not meta["interrupted"]:  # stopped while the reports were written
                meta.update(interrupted=True, finished_at=utc_now())
                run_dir.write_run_json(meta)
            raise RunInterrupted(run_id, run_dir.path)
    assert jobs is not None  # not stopped, so the jobs were planned and run
    exit_code = 0 if complete and counts["ok"] == len(jobs) else 1
    # what resuming found first (e.g. "truncated last line"); the same line read again now
    # sits mid-file and would only say "corrupt line"
    seen = {w.split(": ", 1)[0] for w in resume_warnings}
    warnings = resume_warnings + [w for w in read.warnings if w.split(": ", 1)[0] not in seen]
    return RunOutcome(run_id, run_dir.path, records, exit_code, reports, warnings)


def _without_absent(jobs: list[Job], reports: list[DeviceReport], meta: dict[str, Any],
                    say: Callable[[str], None]) -> list[Job]:
    """The planned jobs less those ``runtimes: all`` dropped on devices that lack the
    runtime; run.json lists them (``not_on_device``) so nothing disappears unsaid."""
    absent = {r.name: r.not_on_device for r in reports if r.not_on_device}
    if not absent:
        return jobs
    meta["not_on_device"] = absent
    for device, ids in absent.items():
        say(f"{device}: {len(ids)} job(s) not planned there (runtimes: all, runtime not on "
            f"the device): {', '.join(ids[:4])}{' ...' if len(ids) > 4 else ''}")
    gone = {i for ids in absent.values() for i in ids}
    return [j for j in jobs if j.job_id not in gone]


def _run_jobs(jobs: list[Job], previous: dict[str, JobRecord], resume_warnings: list[str], *,
              resumed: bool, run_dir: RunDir, meta: dict[str, Any],
              on_record: Optional[Callable[[dict[str, Any], JobRecord], None]],
              progress: Optional[Any], stop: threading.Event,
              cluster: Optional[Any] = None) -> list[DeviceReport]:
    """The jobs not already ``ok``, on the fleet (``cluster``: its session); each record
    journaled as it lands."""
    say = progress.message if progress else (lambda _m: None)
    todo = [j for j in jobs if previous.get(j.job_id) is None or previous[j.job_id].status != "ok"]
    if resumed:
        for warning in resume_warnings:
            say(f"warning: {warning}")
        say(f"resuming {meta['run_id']}: {len(jobs) - len(todo)} job(s) already ok, "
            f"{len(todo)} to run")

    sink = JournalSink(run_dir, meta, on_record)
    if progress:
        progress.start(todo)
    fleet: Callable[..., list[DeviceReport]] = functools.partial(
        run_fleet, make_target=make_target, run_id=meta["run_id"])
    if cluster is not None:  # a ClusterSession (edgebench.cluster): the lab nodes run them
        fleet = cluster.run_fleet
    reports = fleet(todo, sink=sink, progress=progress.job_done if progress else None, stop=stop)
    if cluster is not None:  # what ran where (run.json): each device's last Ray node
        meta["cluster"] = {"address": cluster.address, "nodes": {r.name: r.node for r in reports}}
    return reports


def _cluster_session(address: Optional[str], run_id: str, devices: list[DeviceSpec]) -> Any:
    """The run's Ray session (none without ``--cluster``: Ray is imported only here)."""
    if not address:
        return contextlib.nullcontext()
    from .cluster import warmed_session

    return warmed_session(address, run_id=run_id, make_target=make_target, devices=devices)


def mark_interrupted(run_dir: Path) -> None:
    """Record in run.json that the run was stopped after its own bookkeeping was written
    (a Ctrl-C during the store ingest): ``--resume`` then finishes what was left."""
    rd = RunDir(Path(run_dir))
    meta = rd.read_run_json()
    if not meta.get("interrupted"):
        meta.update(interrupted=True, finished_at=utc_now())
        rd.write_run_json(meta)
