"""Realistic run directories for the history tests.

Every job has raw per-run latencies drawn from a seeded lognormal around a per-(device,
variant) centre, and its summary row is computed from those samples exactly as the run
would, so a store built from these directories behaves like one built from real nights.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgebench.results.columns import SUMMARY_COLUMNS

DEVICES = {  # name -> base fp32 p50 latency (s) of a 1.0-cost model
    "rpi4": 0.040,
    "jetson-nano": 0.012,
}


@dataclass
class VariantSpec:
    name: str
    recipe: list[str]
    latency_factor: float
    size_factor: float
    accuracy_drop: float  # percentage points, like accuracy_delta
    noop: bool = False


VARIANTS = [
    VariantSpec("fp32", [], 1.0, 1.0, 0.0),
    VariantSpec("int8", ["quantize_int8"], 0.45, 0.26, 0.4),
    VariantSpec("pruned50", ["prune:0.5"], 0.80, 0.55, 2.1),
    VariantSpec("fp16", ["cast_fp16"], 1.0, 1.0, 0.0, noop=True),
]


@dataclass
class RunSpec:
    run_id: str
    suite: str = "nightly"
    seed: int = 0
    started_at: str = "2026-11-20T02:00:00.000+00:00"
    models: dict[str, float] = field(default_factory=lambda: {"mobilenet_v2": 1.0,
                                                              "resnet18": 2.5})
    devices: dict[str, float] = field(default_factory=lambda: dict(DEVICES))
    formats: tuple[str, ...] = ("onnx",)
    #: (model, variant, device) -> multiplier on latency samples (regression injection)
    slow: dict[tuple[str, str, str], float] = field(default_factory=dict)
    samples: int = 120
    complete: bool = True
    fingerprint_extra: dict[str, dict[str, Any]] = field(default_factory=dict)  # per device
    failed: dict[tuple[str, str, str], str] = field(default_factory=lambda: {
        ("resnet18", "int8", "jetson-nano"): "runtime_rejected: ConvInteger not supported"})
    skipped: dict[tuple[str, str, str], str] = field(default_factory=dict)
    throttled: set[tuple[str, str, str]] = field(default_factory=set)
    governor: dict[str, str] = field(default_factory=dict)


def _fingerprint(device: str, fmt: str, extra: dict[str, Any]) -> dict[str, Any]:
    fp = {"device": device, "cpu": f"{device}-cpu", "os": "Linux 6.1", "runtime": fmt,
          "runtime_version": "1.17.3", "numpy": "1.26.4", "threads": 1,
          "governor": "performance", "provider": "CPUExecutionProvider", "agent": "0.1.0"}
    fp.update(extra)
    return fp


def _summary(spec: RunSpec, model: str, v: VariantSpec, device: str, fmt: str,
             lat: np.ndarray | None, status: str, error: str | None,
             fp: dict[str, Any], job_id: str) -> dict[str, Any]:
    row: dict[str, Any] = {c: "" for c in SUMMARY_COLUMNS}
    size = int(14_000_000 * spec.models[model] * v.size_factor)
    base_acc = 71.8 if model == "mobilenet_v2" else 69.7  # percent, as evaluate.py writes
    row.update(run_id=spec.run_id, model=model, variant=v.name, device=device, format=fmt,
               runtime="onnxruntime", runtime_version="1.17.3", threads=1, status=status,
               error=error or "", size_bytes=size, size_gzip_bytes=int(size * 0.92),
               recipe=json.dumps(v.recipe), noop=v.noop, job_id=job_id,
               fingerprint=hashlib.sha256(json.dumps(fp, sort_keys=True).encode())
               .hexdigest()[:16],
               params=int(3_500_000 * spec.models[model]), macs=int(3e8 * spec.models[model]))
    if lat is not None:
        row.update(
            runs=len(lat), latency_mean_s=float(lat.mean()), latency_std_s=float(lat.std(ddof=1)),
            latency_min_s=float(lat.min()), latency_p50_s=float(np.percentile(lat, 50)),
            latency_p90_s=float(np.percentile(lat, 90)),
            latency_p99_s=float(np.percentile(lat, 99)),
            latency_es_p90_s=float(lat[lat >= np.percentile(lat, 90)].mean()),
            load_s=0.21, first_inference_s=float(lat.max() * 3),
            peak_rss_bytes=int(60_000_000 + size * 1.4),
            accuracy=base_acc - v.accuracy_drop, accuracy_delta=-v.accuracy_drop,
            top1_agreement=1.0 - v.accuracy_drop / 50, cosine=0.9995,
            energy_per_inference_j=float(np.percentile(lat, 50)) * 3.1,
            net_energy_per_inference_j=float(np.percentile(lat, 50)) * 1.9, mean_power_w=3.1,
            energy_probe="ina219",
            throttled=(model, v.name, device) in spec.throttled,
            temp_rise_c=2.5, governor=spec.governor.get(device, "performance"))
    return row


def make_run(root: Path, spec: RunSpec) -> Path:
    """Write ``root/<run_id>/`` with run.json, results.jsonl and summary.csv."""
    rng = np.random.default_rng(spec.seed)
    run_dir = root / spec.run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    start = dt.datetime.fromisoformat(spec.started_at)
    lines, rows = [], []
    counts = {"ok": 0, "failed": 0, "skipped": 0}
    n = 0
    for model, cost in spec.models.items():
        for v in VARIANTS:
            for fmt in spec.formats:
                for device, base in spec.devices.items():
                    n += 1
                    key = (model, v.name, device)
                    job_id = f"{model}.{v.name}.{fmt}.{device}"
                    fp = _fingerprint(device, fmt, spec.fingerprint_extra.get(device, {}))
                    status, error, lat, result = "ok", None, None, None
                    if key in spec.failed:
                        status, error = "failed", spec.failed[key]
                    elif key in spec.skipped:
                        status, error = "skipped", spec.skipped[key]
                    else:
                        centre = base * cost * v.latency_factor * spec.slow.get(key, 1.0)
                        lat = centre * rng.lognormal(0.0, 0.04, size=spec.samples)
                        result = {
                            "schema_version": 1, "agent_version": "0.1.0", "job_id": job_id,
                            "status": "ok",
                            "machine": {"hostname": device, "arch": "aarch64", "cores": 4,
                                        "os": "Linux 6.1", "cpu": f"{device}-cpu"},
                            "runtime": {"name": "onnxruntime", "version": "1.17.3"},
                            "timing": {"latencies_s": lat.tolist()},
                            "stats": {}, "memory": {}, "model": {},
                        }
                    counts[status] += 1
                    finished = (start + dt.timedelta(seconds=30 * n)).isoformat(
                        timespec="milliseconds")
                    summary = _summary(spec, model, v, device, fmt, lat, status, error, fp,
                                       job_id)
                    record = {
                        "run_id": spec.run_id, "job_id": job_id, "model": model,
                        "variant": v.name, "format": fmt, "device": device, "status": status,
                        "error": error, "error_kind": error.split(":")[0] if error else None,
                        "started_at": finished, "finished_at": finished, "attempts": 1,
                        "artifact": {}, "result": result, "summary": summary,
                        "fingerprint": fp, "schema_version": 1,
                    }
                    lines.append(json.dumps(record))
                    rows.append(summary)
    (run_dir / "results.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with (run_dir / "summary.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(SUMMARY_COLUMNS))
        writer.writeheader()
        writer.writerows(rows)
    run_json = {
        "schema_version": 1, "run_id": spec.run_id,
        "suite": {"name": spec.suite, "path": f"suites/{spec.suite}.yaml", "sha256": "ab" * 32},
        "devices": list(spec.devices),
        "controller": {"hostname": "ci-controller", "python": "3.11.2",
                       "edgebench_version": "0.1.0", "git_commit": "deadbeef",
                       "platform": "Linux-6.1-x86_64"},
        "started_at": spec.started_at,
        "finished_at": (start + dt.timedelta(seconds=30 * n + 5)).isoformat(
            timespec="milliseconds") if spec.complete else None,
        "complete": spec.complete, "counts": counts,
    }
    (run_dir / "run.json").write_text(json.dumps(run_json, indent=2), encoding="utf-8")
    return run_dir
