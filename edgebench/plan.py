"""A suite's jobs: one per (model, variant, format, runtime, device), each with the agent's spec.

What the fleet runs, derived from the suite, the devices and the built variants alone,
so ``run``, ``tune`` and the tests plan identically.
"""

from __future__ import annotations

from typing import Any, Optional

from .config import DeviceSpec, SuiteSpec
from .fleet import Job


def job_spec(suite: SuiteSpec, device: DeviceSpec, artifact: Any, job_id: str,
             runtime: str = "") -> dict[str, Any]:
    """The agent's JobSpec as a dict; file paths are local until the fleet pushes them.
    ``runtime``: a registry name ('' = the format's classic runtime)."""
    from .agent.backends import CLASSIC_RUNTIME

    b = suite.benchmark
    runtime = runtime or CLASSIC_RUNTIME[artifact.format]
    rt = suite.runtime_settings(runtime, artifact.model)  # the model's options over the suite's
    ort, tfl = suite.runtime_settings("onnxruntime", artifact.model), suite.runtime_settings(
        "tflite", artifact.model)
    probes = device.probe_settings()
    probes.update(min_samples=b.energy_min_samples, min_window_s=b.energy_min_window_s)
    spec: dict[str, Any] = {
        "job_id": job_id, "model_path": str(artifact.path), "format": artifact.format,
        "runtime": runtime,
        "runtime_options": rt.agent_options() if hasattr(rt, "agent_options") else {},
        "threads": rt.threads or b.threads, "providers": list(ort.providers),
        "graph_optimization_level": ort.graph_optimization_level,
        "tflite_runtime": tfl.runtime, "delegate_path": tfl.delegate_path,
        "delegate_options": dict(tfl.delegate_options), "use_xnnpack": tfl.use_xnnpack,
        "inputs": {"seed": b.seed, "npz_path": suite.input_npz or _real_inputs(artifact),
                   "shapes": {**dict(b.input_shapes), **_resolved_shapes(artifact)},
                   "default_dim": b.default_dim},
        "benchmark": {"warmup_runs": b.warmup_runs, "warmup_min_s": b.warmup_min_s,
                      "min_runs": b.min_runs, "min_duration_s": b.min_duration_s,
                      "max_duration_s": b.max_duration_s,
                      "memory_sample_interval_s": b.memory_sample_interval_s,
                      "target_precision": b.target_precision, "processes": b.processes,
                      "mode": b.mode, "duration_s": b.duration_s, "bin_s": b.bin_s,
                      "profile": b.profile, "profile_runs": b.profile_runs},
        "eval": None, "probes": probes,
    }
    if b.evaluate_on_device and getattr(artifact, "eval_npz", None):
        manifest = getattr(artifact, "manifest", None) or {}
        spec["eval"] = {"npz_path": str(artifact.eval_npz), "max_samples": b.eval_samples,
                        "output": manifest.get("judged_output") or "",
                        "task": "presence" if manifest.get("task") == "presence" else ""}
    return spec


def _resolved_shapes(artifact: Any) -> dict[str, list[int]]:
    """The input shapes the variant was calibrated and judged at (suite, data, model:
    ``manifest['inputs']``), so the device times the very same shapes."""
    manifest = getattr(artifact, "manifest", None) or {}
    return {i["name"]: list(i["shape"]) for i in manifest.get("inputs") or []
            if i.get("name") and isinstance(i.get("shape"), list)}


def _real_inputs(artifact: Any) -> Optional[str]:
    """Real samples the variant builder saved in this format's layout and dtype, if any:
    token-id models need real ids, and a quantized model should see realistic codes."""
    path = getattr(artifact, "input_npz", None)
    return str(path) if path else None


def job_timeout_s(suite: SuiteSpec, device: DeviceSpec) -> float:
    """The configured per-job budget is for one process and a bounded timed loop: a job of
    ``processes: N`` gets it N times, and a sustained run gets its duration on top."""
    b = suite.benchmark
    timeout = b.job_timeout_s or device.job_timeout_s
    if b.mode == "sustained":
        return timeout + b.duration_s
    return timeout * b.processes


def job_id_for(model: str, variant: str, fmt: str, runtime: str, device: str) -> str:
    """``model/variant/format@device`` on the format's classic runtime -- the id every job
    had before runtimes were chosen, so old runs resume and compare as they did -- and
    ``model/variant/format:runtime@device`` on any other runtime."""
    from .agent.backends import CLASSIC_RUNTIME

    on = "" if runtime in ("", CLASSIC_RUNTIME.get(fmt)) else f":{runtime}"
    return f"{model}/{variant}/{fmt}{on}@{device}"


def plan_jobs(suite: SuiteSpec, devices: list[DeviceSpec], artifacts: list[Any]) -> list[Job]:
    """Devices x artifacts x the runtimes the suite picks for each (model, format)."""
    by_name = {m.name: m for m in suite.models}
    jobs = []
    for device in devices:
        timeout = job_timeout_s(suite, device)
        for art in artifacts:
            model = by_name.get(art.model)
            runtimes = (suite.model_runtimes(model, art.format) if model is not None
                        else [""])
            selection = (model.runtimes if model is not None and model.runtimes is not None
                         else suite.runtimes)
            for runtime in runtimes:
                job_id = job_id_for(art.model, art.variant, art.format, runtime, device.name)
                jobs.append(Job(job_id=job_id, model=art.model, variant=art.variant,
                                format=art.format, runtime=runtime, device=device, artifact=art,
                                spec=job_spec(suite, device, art, job_id, runtime),
                                timeout_s=timeout, optional=selection == "all"))
    return jobs
