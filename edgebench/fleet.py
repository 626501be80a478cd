"""Jobs x devices: all devices at once, one job at a time on each, every job accounted for.

A device is a measuring instrument, so its jobs run strictly one after another; devices
run in parallel (one thread each: the work is waiting on processes and sockets).  Every
job ends in exactly one :class:`JobRecord` -- ok, failed with the reason, or skipped with
the reason -- handed to ``sink`` (which journals it) before the device's next job starts.
A device that cannot be reached fails its own jobs and no others.

Stopping (Ctrl-C sets ``stop``; see :mod:`edgebench.interrupt`): workers check the event
before each job and each retry, and :func:`run_fleet` interrupts every device's target --
killing the agent in flight and refusing to start another -- until the workers are gone.
A job whose agent was killed is not recorded (``--resume`` redoes it); one that finished
before the kill is.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from edgebench.results.record import JobRecord, utc_now
from edgebench.results.rows import fingerprint, summary_row

from .agent.backends import CLASSIC_RUNTIME
from .agent.schema import validate_result
from .errors import DeviceError, EdgebenchError, HostKeyError, PushError
from .handoff import deliver
from .interrupt import POLL_S, note_stranded, request_stop
from .targets.base import JobOutcome, Target

#: After a stop, how long run_fleet keeps killing and waiting for device workers before it
#: leaves the stragglers behind; together with the bookkeeping the run must end within 2 s.
STOP_DEADLINE_S = 1.0


@dataclass
class Job:
    job_id: str
    model: str
    variant: str
    format: str
    device: Any  # DeviceSpec
    artifact: Any  # variants.Artifact
    spec: dict[str, Any]  # JobSpec dict; paths are filled in after the push
    timeout_s: float
    runtime: str = ""  # registry name; '' = the format's classic runtime
    # planned by ``runtimes: all``: runs only where the device has the runtime (dropped,
    # not skipped, elsewhere -- see DeviceWorker._drop_absent)
    optional: bool = False

    @property
    def runtime_name(self) -> str:
        return self.runtime or CLASSIC_RUNTIME.get(self.format, "")


@dataclass
class DeviceReport:
    name: str
    jobs: int = 0
    ok: int = 0
    failed: int = 0
    skipped: int = 0
    bytes_pushed: int = 0
    error: Optional[str] = None
    wall_s: float = 0.0
    inventory: dict[str, Any] = field(default_factory=dict)
    not_on_device: list[str] = field(default_factory=list)  # optional jobs dropped here
    node: Optional[str] = None  # --cluster: the Ray node that served it last (edgebench.cluster)


Sink = Callable[[JobRecord], None]
Progress = Callable[[str, JobRecord, DeviceReport], None]


def _record(job: Job, run_id: str, status: str, *, error: Optional[str] = None,
            error_kind: Optional[str] = None, result: Optional[dict[str, Any]] = None,
            started_at: Optional[str] = None, attempts: int = 1) -> JobRecord:
    art = job.artifact
    artifact = {"path": str(art.path) if art.path else None, "manifest": art.manifest or {},
                "size_bytes": (art.manifest or {}).get("size_bytes")}
    rec = JobRecord(run_id=run_id, job_id=job.job_id, model=job.model, variant=job.variant,
                    format=job.format, runtime=job.runtime_name, device=job.device.name,
                    status=status, error=error,
                    error_kind=error_kind, started_at=started_at or utc_now(),
                    attempts=attempts, artifact=artifact, result=result)
    rec.fingerprint = fingerprint(result if status == "ok" else None, job.device.name)
    rec.summary = summary_row(rec)
    return rec



def outcome_to_record(job: Job, run_id: str, outcome: JobOutcome, started_at: str,
                      attempts: int) -> JobRecord:
    """Judge one agent answer: the agent's own verdict only counts if the JSON is valid."""
    def failed(kind: str, msg: str, result: Optional[dict[str, Any]] = None) -> JobRecord:
        return _record(job, run_id, "failed", error=msg, error_kind=kind, result=result,
                       started_at=started_at, attempts=attempts)

    if outcome.timed_out:
        return failed("timeout", f"job ran past its {job.timeout_s:g} s timeout; "
                                 "its process group was killed")
    if outcome.result is None:
        rc = outcome.returncode
        if rc is not None and rc < 0:
            how = f"was killed by signal {-rc}"
        elif rc is not None and 128 < rc < 160:  # a POSIX shell reports death by signal N as 128+N
            how = f"was killed by signal {rc - 128} (exit status {rc})"
        else:
            how = f"exited with {rc}"
        tail = [ln for ln in outcome.stderr_tail.strip().splitlines() if ln.strip()][-1:]
        return failed("agent_crashed", f"agent {how} and wrote no result"
                      + (f": {tail[0].strip()[:300]}" if tail else ""))
    problems = validate_result(outcome.result)
    if problems:
        return failed("protocol", "agent result rejected: " + "; ".join(problems[:3]))
    if outcome.result["status"] != "ok":
        err = outcome.result.get("error") or {}
        return failed(str(err.get("kind", "failed")), str(err.get("message", "failed")), outcome.result)
    return _record(job, run_id, "ok", result=outcome.result, started_at=started_at, attempts=attempts)


class DeviceWorker:
    """Runs one device's job list; owns the Target for the whole list."""

    def __init__(self, device: Any, jobs: list[Job], *, make_target: Callable[[Any], Target],
                 run_id: str, sink: Sink, progress: Optional[Progress], stop: threading.Event,
                 retry_backoff_s: float = 1.0) -> None:
        self.device, self.jobs, self.make_target = device, jobs, make_target
        self.run_id, self.sink, self.progress, self.stop = run_id, sink, progress, stop
        self.retry_backoff_s = retry_backoff_s
        self.report = DeviceReport(name=device.name, jobs=len(jobs))
        self.current_target: Optional[Target] = None

    def interrupt(self) -> None:
        """Kill this device's agent in flight (called from the main thread on a stop).

        Targets that can refuse new work for good (``LocalTarget.interrupt``) do so; the
        others are closed, which kills the job in flight, and run_fleet repeats this until
        the worker is gone, so a reconnect in the same instant is caught as well.
        """
        target = self.current_target
        if target is None:
            return
        try:
            getattr(target, "interrupt", target.close)()
        except Exception:  # noqa: BLE001 - stopping must reach the other devices' targets too
            pass

    def _emit(self, rec: JobRecord) -> None:
        """Hand a finished job to the sink (journal, then followers), count it, report it.

        This runs outside ``_run_one``'s per-job guard, on the device's thread: an
        exception escaping here used to end the thread, and with it every later job of the
        device, unrun and unrecorded.  The sink journals first and its followers (the
        store) come after, so whatever it raises, the device goes on with its next job; the
        failure is logged once per device (a journal that cannot be written shows up as a
        missing job in run.json's counts, ``complete: false`` and exit 1).
        """
        self._sink_failed = deliver(rec, self.sink, self.progress, self.report, self.device.name,
                                    getattr(self, "_sink_failed", False))

    def run(self) -> DeviceReport:
        start = time.perf_counter()
        target, down = self.open()
        try:
            for job in self.jobs:
                if self.stop.is_set():
                    break
                rec, down = self.step(target, job, down)
                if rec is None:  # interrupted: not finished, so not recorded (--resume redoes it)
                    break
                self._emit(rec)
        finally:
            if target is not None:
                target.close()
            self.report.wall_s = time.perf_counter() - start
        return self.report

    def open(self) -> tuple[Optional[Target], Optional[str]]:
        """Connect, take the inventory: (target or None, why it is down or None); a cluster's
        LabHost (:mod:`edgebench.cluster`) drives a device with open/step too."""
        down: Optional[str] = None
        try:
            target = self.make_target(self.device)
        except EdgebenchError as exc:
            target, down = None, exc.one_line()
        except Exception as exc:  # noqa: BLE001 - e.g. a setting the OS rejects: fail this device only
            target, down = None, f"internal error: {type(exc).__name__}: {exc}"
        self.current_target = target  # from here on a stop can kill what the target starts
        if target is not None:
            down = self._inventory(target)
        if not down:  # optional jobs on runtimes this device lacks: dropped, not run
            self._drop_absent()
        self.report.error = down
        return target, down

    def step(self, target: Optional[Target], job: Job,
             down: Optional[str]) -> tuple[Optional[JobRecord], Optional[str]]:
        """One job: its record (None if a stop killed it) and why the device is now down."""
        if down:
            return _record(job, self.run_id, "failed", error=f"device unreachable: {down}",
                           error_kind="unreachable"), down
        assert target is not None  # no target: down says why
        rec, lost = self._run_one(target, job)
        if lost:
            down = self.report.error = lost
        return rec, down

    def _inventory(self, target: Target) -> Optional[str]:
        """Inventory with the device's retries: a transient failure (a command that timed out
        on a busy device, a dropped handshake) must not write off every job of the device."""
        retries = getattr(self.device, "retries", 2)
        for attempt in range(1, retries + 2):
            if self.stop.is_set():
                return "stopped"
            try:
                self.report.inventory = target.inventory()
                return None
            except HostKeyError as exc:  # refused the same way every time
                return exc.one_line()
            except DeviceError as exc:
                why = exc.one_line()
                if attempt <= retries:
                    target.close()  # start the next try on a fresh connection
                    self.stop.wait(self.retry_backoff_s * 2 ** (attempt - 1))
            except EdgebenchError as exc:
                return exc.one_line()
            except Exception as exc:  # noqa: BLE001
                return f"internal error: {type(exc).__name__}: {exc}"
        return why

    def _drop_absent(self) -> None:
        """``runtimes: all`` means every runtime *this device has* for the format: its
        jobs on runtimes the inventory (or the device's allow-list) lacks are dropped, not
        skipped -- unless the device has no runtime at all for that file, when the classic
        runtime's job stays and is skipped with the reason, so a format never vanishes."""
        groups: dict[tuple[str, str, str], list[Job]] = {}
        for job in self.jobs:
            groups.setdefault((job.model, job.variant, job.format), []).append(job)
        dropped: set[str] = set()
        for group in groups.values():
            absent = [j for j in group if j.optional and self._skip_reason(j)]
            if len(absent) == len(group):
                absent = [j for j in absent if j.runtime_name != CLASSIC_RUNTIME.get(j.format)]
            dropped.update(j.job_id for j in absent)
        if dropped:
            self.jobs = [j for j in self.jobs if j.job_id not in dropped]
            self.report.not_on_device = sorted(dropped)
            self.report.jobs = len(self.jobs)

    def _skip_reason(self, job: Job) -> Optional[str]:
        allow = getattr(self.device, "runtimes", None)
        key = job.runtime_name
        if allow is not None and job.format not in allow and key not in allow:
            return (f"runtime {key} ({job.format}) excluded by the device's runtimes allow-list "
                    f"{allow}")
        runtimes = (self.report.inventory or {}).get("runtimes") or {}
        if key in runtimes and not runtimes[key]:
            have = [f"{n} {v.get('version')}" for n, v in runtimes.items()
                    if isinstance(v, dict) and n != "tflite_all"]
            return (f"runtime {key} is not available on this device (its inventory has: "
                    f"{', '.join(have) or 'no runtime'})")
        return None

    def _run_one(self, target: Target, job: Job) -> tuple[Optional[JobRecord], Optional[str]]:
        """Returns the record and, if the device was lost for good, why."""
        started = utc_now()
        if job.artifact.error or job.artifact.path is None:
            return _record(job, self.run_id, "failed", error=f"variant not built: {job.artifact.error}",
                           error_kind="build_failed", started_at=started), None
        reason = self._skip_reason(job)
        if reason:
            return _record(job, self.run_id, "skipped", error=reason, error_kind="unsupported",
                           started_at=started), None
        retries = getattr(self.device, "retries", 2)
        last_error = ""
        for attempt in range(1, retries + 2):
            if self.stop.is_set():
                break
            try:
                spec = self._push(target, job)
                outcome = target.run_job(spec, timeout_s=job.timeout_s)
                if self.stop.is_set() and (outcome.result is None or outcome.timed_out):
                    return None, None  # killed by the stop: not a result (an agent that
                    # wrote its result just before is a finished job and is kept)
                return outcome_to_record(job, self.run_id, outcome, started, attempt), None
            except HostKeyError as exc:  # refused the same way every time: never retried
                return (_record(job, self.run_id, "failed", error=exc.one_line(), error_kind="host_key",
                                started_at=started, attempts=attempt), exc.one_line())
            except PushError as exc:
                if "free_bytes" in exc.data:  # the device lacks room: this job fails, others may fit
                    return _record(job, self.run_id, "failed", error=exc.one_line(),
                                   error_kind="disk_full", started_at=started, attempts=attempt), None
                last_error = exc.one_line()
                if attempt <= retries:
                    self.stop.wait(self.retry_backoff_s * 2 ** (attempt - 1))
            except DeviceError as exc:
                last_error = exc.one_line()
                if attempt <= retries:
                    self.stop.wait(self.retry_backoff_s * 2 ** (attempt - 1))
            except EdgebenchError as exc:
                return _record(job, self.run_id, "failed", error=exc.one_line(), error_kind="controller",
                               started_at=started, attempts=attempt), None
            except Exception as exc:  # noqa: BLE001 - a bug must cost one job, never the device's list
                target.close()  # its state is unknown: the next job reconnects
                return _record(job, self.run_id, "failed", error_kind="controller", started_at=started,
                               error=f"internal error: {type(exc).__name__}: {exc}"[:500],
                               attempts=attempt), None
        if self.stop.is_set():
            return None, None
        msg = f"connection lost after {retries} retries: {last_error}" if last_error else "stopped"
        return (_record(job, self.run_id, "failed", error=msg, error_kind="connection",
                        started_at=started, attempts=retries + 1), last_error or None)

    def _push(self, target: Target, job: Job) -> dict[str, Any]:
        spec = dict(job.spec)
        report = target.push(Path(job.artifact.path))
        self.report.bytes_pushed += report.bytes_sent
        spec["model_path"] = report.remote_path
        for key in ("inputs", "eval"):
            part = spec.get(key)
            if part and part.get("npz_path"):
                pushed = target.push(Path(part["npz_path"]))
                self.report.bytes_pushed += pushed.bytes_sent
                spec[key] = {**part, "npz_path": pushed.remote_path}
        return spec


def run_fleet(jobs: list[Job], *, make_target: Callable[[Any], Target], run_id: str, sink: Sink,
              progress: Optional[Progress] = None, stop: Optional[threading.Event] = None,
              retry_backoff_s: float = 1.0) -> list[DeviceReport]:
    """Run every job; returns one report per device (failures included, never raises)."""
    stop = stop or threading.Event()
    by_device: dict[str, list[Job]] = {}
    devices: dict[str, Any] = {}
    for job in jobs:
        by_device.setdefault(job.device.name, []).append(job)
        devices[job.device.name] = job.device
    workers = [DeviceWorker(devices[name], js, make_target=make_target, run_id=run_id, sink=sink,
                            progress=progress, stop=stop, retry_backoff_s=retry_backoff_s)
               for name, js in by_device.items()]
    threads = [threading.Thread(target=w.run, name=f"device-{w.device.name}", daemon=True)
               for w in workers]
    for t in threads:
        t.start()
    try:
        # the main thread only polls the event (see StopOnSigint: a SIGINT handler sets it)
        while not stop.is_set():
            alive = [t for t in threads if t.is_alive()]
            if not alive:
                break
            alive[0].join(timeout=POLL_S)
        if stop.is_set():
            _stop_workers(workers, threads)
    except KeyboardInterrupt:  # Python's own SIGINT handler (an API caller that kept it)
        request_stop(stop)
        _stop_workers(workers, threads)
        raise
    return [w.report for w in workers]


def _stop_workers(workers: list[DeviceWorker], threads: list[threading.Thread]) -> None:
    """Kill the jobs in flight (finished ones are already journaled) and wait, briefly, for
    the workers to notice the stop; one still stuck at the deadline is left behind.

    One killer thread per device: closing an SSH target waits for the remote kill command
    (seconds on a slow link), which must not hold up the other devices or the exit."""
    deadline = time.monotonic() + STOP_DEADLINE_S

    def kill(worker: DeviceWorker, thread: threading.Thread) -> None:
        while True:  # again and again: catches an agent started or a reconnect in the instant
            worker.interrupt()
            if not thread.is_alive() or time.monotonic() >= deadline:
                return
            thread.join(timeout=POLL_S)

    killers = [threading.Thread(target=kill, args=(w, t), name=f"stop-{w.device.name}", daemon=True)
               for w, t in zip(workers, threads, strict=False)]
    for k in killers:
        k.start()
    for t in killers + threads:
        t.join(timeout=max(0.0, deadline - time.monotonic()))
    note_stranded(killers + threads)
