"""One job, start to finish: load -> first inference -> warm-up -> timed loop -> evaluate.

Timing semantics (docs/timing.md says the same for users):

* ``load_s``: wall time of creating the session / interpreter (file read, graph
  optimisation, tensor allocation);
* ``first_inference_s``: the first, cold inference, reported alone and never in the stats;
* warm-up: at least ``warmup_runs`` runs **and** at least ``warmup_min_s`` seconds;
* timed loop: until at least ``min_runs`` runs **and** ``min_duration_s`` seconds (and the
  energy probe's window is full), or ``max_duration_s`` passes, whichever ends it first;
  each run is timed alone with ``time.perf_counter_ns`` around the runtime call and every
  raw latency is kept;
* with ``target_precision``, the timed loop goes on past those floors until the p50's 99 %
  confidence interval is that narrow (or ``max_duration_s``); ``processes: N`` runs the
  whole job in N fresh processes (agent/multiproc.py); ``mode: sustained`` replaces the
  timed loop by a fixed-duration loop recorded per time bin (agent/sustained.py).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

from .backends.base import Backend, BackendError, summarize_exception
from .memory import RssSampler, attributable_bytes, current_rss_bytes, kernel_peak_rss_bytes, smaps_rollup_bytes
from .schema import AGENT_VERSION, SCHEMA_VERSION, BenchmarkSettings, JobSpec
from .stats import p50_rel_half_width_ns, summarize
from .sysinfo import machine_info


def make_backend(spec: JobSpec) -> Backend:
    """The backend the registry names for (format, runtime); each builds itself from the
    spec (``Backend.from_spec``), so a new runtime never touches this file."""
    from .backends import resolve

    try:
        entry = resolve(spec.format, spec.runtime or None)
    except ValueError as exc:
        raise BackendError("bad_spec", str(exc)) from exc
    return entry.backend_class().from_spec(spec)


def file_info(path: str) -> Dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise BackendError("model_missing", f"cannot read model file {path}: {exc.strerror}") from exc
    return {"path": path, "size_bytes": len(data),
            "size_gzip_bytes": len(gzip.compress(data, compresslevel=9, mtime=0)),
            "sha256": hashlib.sha256(data).hexdigest()}


def warm_up(infer: Callable[[], Any], settings: BenchmarkSettings) -> Dict[str, Any]:
    start = time.perf_counter()
    cap = start + settings.max_duration_s
    runs = 0
    while runs < settings.warmup_runs or time.perf_counter() - start < settings.warmup_min_s:
        infer()
        runs += 1
        if time.perf_counter() >= cap:
            break
    return {"warmup_runs": runs, "warmup_s": time.perf_counter() - start}


#: The stopping rule checks the interval every ``max(PRECISION_CHECK_MIN_RUNS, n // 20)``
#: runs once the floors are met: the check is O(n) (numpy.partition), so a geometric
#: schedule keeps its total cost linear, and stopping at most ~5 % later than needed.
PRECISION_CHECK_MIN_RUNS = 50


@dataclass
class TimedLoop:
    """The timed loop's raw latencies and why it stopped."""

    latencies_ns: List[int]
    reason: str  # 'floors' (min runs and duration met) | 'precision' | 'max_duration'
    target_precision: Optional[float] = None
    rel_half_width: Optional[float] = None  # at the last check (None: never checked)
    checks: int = 0
    extra: Dict[str, Any] = field(default_factory=dict)

    def stop_info(self) -> Dict[str, Any]:
        info: Dict[str, Any] = {"reason": self.reason}
        if self.target_precision is not None:
            info.update(target_precision=self.target_precision,
                        reached=self.reason == "precision",
                        rel_half_width_at_stop=self.rel_half_width, checks=self.checks)
        return info


def run_timed(infer: Callable[[], Any], settings: BenchmarkSettings,
              window_ready: Optional[Callable[[], bool]] = None,
              precision: Callable[[List[int]], Optional[float]] = p50_rel_half_width_ns
              ) -> TimedLoop:
    """Per-run latencies in ns, and the stop reason.  Kept minimal: this loop *is* the
    measurement; the precision check runs between two timed runs, never inside one."""
    perf = time.perf_counter_ns
    latencies: List[int] = []
    append = latencies.append
    ready = window_ready or (lambda: True)
    min_runs = settings.min_runs
    target = settings.target_precision
    next_check = 0
    checks = 0
    rel: Optional[float] = None
    start = perf()
    min_end = start + int(settings.min_duration_s * 1e9)
    max_end = start + int(settings.max_duration_s * 1e9)
    n = 0
    while True:
        t0 = perf()
        infer()
        t1 = perf()
        append(t1 - t0)
        n += 1
        if t1 >= max_end:
            return TimedLoop(latencies, "max_duration", target, rel, checks)
        if n >= min_runs and t1 >= min_end and ready():
            if target is None:
                return TimedLoop(latencies, "floors")
            if n >= next_check:
                checks += 1
                rel = precision(latencies)
                if rel is not None and rel <= target:
                    return TimedLoop(latencies, "precision", target, rel, checks)
                next_check = n + max(PRECISION_CHECK_MIN_RUNS, n // 20)


def timed_loop(infer: Callable[[], Any], settings: BenchmarkSettings,
               window_ready: Optional[Callable[[], bool]] = None) -> List[int]:
    """Per-run latencies in ns (:func:`run_timed` without the stop reason)."""
    return run_timed(infer, settings, window_ready).latencies_ns


def _context(spec: JobSpec) -> Any:
    """The run context probe (agent/context.py), reading through the probes' sysfs root."""
    from .context import ContextProbe
    from .probes.sysfs import Sysfs

    return ContextProbe(Sysfs(spec.probes.get("sysfs_root")),
                        cooldown_below_c=spec.probes.get("cooldown_below_c"))


def _probe_session(spec: JobSpec) -> Any:
    if spec.probes.get("enabled") is False:
        return None
    from .probes import ProbeSession

    settings = {k: v for k, v in spec.probes.items() if k != "enabled"}
    return ProbeSession(settings, n_threads_hint=spec.threads)


def run_job(spec: JobSpec, *, part: bool = False) -> Dict[str, Any]:
    """Run the job; every failure is captured in the result, never raised.

    ``part``: this process is one of a multi-process job's children (``run-part``): it
    measures, and the parent does the probes and the run context.
    """
    if spec.benchmark.processes > 1 and not part:
        from .multiproc import run_processes

        return run_processes(spec, context_fn=_context)
    result: Dict[str, Any] = {
        "schema_version": SCHEMA_VERSION, "agent_version": AGENT_VERSION, "job_id": spec.job_id,
        "status": "failed", "error": None, "machine": machine_info(), "pid": os.getpid(),
    }
    backend: Optional[Backend] = None
    probes = None
    context = None
    try:
        result["model"] = file_info(spec.model_path)
        backend = make_backend(spec)
        try:
            probes = _probe_session(spec)
        except (ImportError, ValueError) as exc:  # a bad probe setting must not cost the latency
            result["probe_errors"] = [summarize_exception(exc)]
        if probes is not None:
            probes.before_job()
        if not part:
            context = _context(spec)
            context.start()
        rss_before = current_rss_bytes()
        t0 = time.perf_counter()
        loaded = backend.load(spec.model_path)
        load_s = time.perf_counter() - t0
        rss_after = current_rss_bytes()
        result["runtime"] = loaded.runtime_info
        result["model"]["inputs"] = [t.to_dict() for t in loaded.inputs]
        result["model"]["outputs"] = [t.to_dict() for t in loaded.outputs]
        from .inputs import make_feed

        feed = make_feed(loaded.inputs, seed=spec.inputs.seed, shapes=spec.inputs.shapes,
                         default_dim=spec.inputs.default_dim, npz_path=spec.inputs.npz_path)
        result["model"]["input_shapes"] = {k: list(v.shape) for k, v in feed.items()}
        infer = backend.bind(feed)
        settings = spec.benchmark
        with RssSampler(settings.memory_sample_interval_s) as sampler:
            t0 = time.perf_counter()
            try:
                infer()
            except Exception as exc:  # noqa: BLE001 - the runtime's own error types
                raise BackendError("inference_failed", summarize_exception(exc)) from exc
            first_s = time.perf_counter() - t0
            warm = warm_up(infer, settings)
            # the model's steady state, before the timed loop's own latency list grows
            rss_warm, os_memory = current_rss_bytes(), smaps_rollup_bytes()
            if probes is not None:
                probes.start_window()
            t_loop = time.perf_counter()
            if settings.mode == "sustained":
                from .probes.sysfs import Sysfs
                from .sustained import EnvReader, sustained_loop

                env = EnvReader(probes.fs if probes is not None else Sysfs(spec.probes.get("sysfs_root")))
                latencies_ns, raw_bins, env0 = sustained_loop(infer, settings.duration_s,
                                                              settings.bin_s, env)
                stop: Dict[str, Any] = {"reason": "duration"}
            else:
                loop = run_timed(infer, settings, probes.window_ready if probes else None)
                latencies_ns, stop = loop.latencies_ns, loop.stop_info()
            timed_s = time.perf_counter() - t_loop
            if probes is not None:
                probes.stop_window(len(latencies_ns))
        if probes is not None:
            probes.after_job()
        latencies_s = [ns / 1e9 for ns in latencies_ns]
        result["timing"] = {"load_s": load_s, "first_inference_s": first_s, **warm,
                            "timed_s": timed_s, "latencies_s": latencies_s,
                            "clock": "time.perf_counter_ns", "stop": stop}
        result["stats"] = summarize(latencies_s)
        if settings.mode == "sustained":
            from .sustained import analyse

            result["sustained"] = analyse(latencies_s, raw_bins, env0, settings.duration_s,
                                          settings.bin_s)
        result["memory"] = {"rss_before_load_bytes": rss_before, "rss_after_load_bytes": rss_after,
                            **kernel_peak_rss_bytes(), **sampler.result(), **os_memory,
                            **attributable_bytes(rss_before, rss_after, rss_warm)}
        if settings.profile:  # after the timed loop and the memory figures: never perturbs them
            from .profile import run_profile

            result["profile"] = run_profile(backend, feed, settings.profile_runs, spec.model_path,
                                            result["stats"])
        if spec.eval is not None and spec.eval.npz_path:
            from .evaluate import evaluate

            result["accuracy"] = evaluate(backend, loaded.inputs, spec.eval, loaded.outputs)
        result["status"] = "ok"
    except BackendError as exc:
        result["error"] = {"kind": exc.kind, "message": exc.message}
    except Exception as exc:  # noqa: BLE001 - a bug must still produce a result
        result["error"] = {"kind": "agent_error", "message": summarize_exception(exc),
                           "traceback": traceback.format_exc()[-4000:]}
    finally:
        _finish(result, backend, context, probes)
    return result


def _finish(result: Dict[str, Any], backend: Optional[Backend], context: Any, probes: Any) -> None:
    """run_job's cleanup, success or not: which runtime refused the file, the run context and
    the probes' figures into ``result``; the probes and the backend closed."""
    if result["status"] != "ok" and "runtime" not in result and backend is not None and backend.chosen:
        result["runtime"] = dict(backend.chosen)  # which runtime refused the file
    if context is not None:
        try:
            result["context"] = context.finish()
        except Exception as exc:  # noqa: BLE001 - context must never cost the figures
            result.setdefault("probe_errors", []).append(f"context: {summarize_exception(exc)}")
    if probes is not None:
        try:
            result.update(probes.result())
        except Exception as exc:  # noqa: BLE001
            result["probe_errors"] = [summarize_exception(exc)]
        probes.close()
    if backend is not None:
        backend.close()
