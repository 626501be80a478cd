"""The one row builder: a job record as its summary row (summary.csv), as the store's jobs
row (:func:`job_row`) and as :func:`edgebench.results.load` shows it (:func:`frame_row`);
and the fingerprint that says what is comparable.

The row is derived, never stored as the source of truth: the agent's full result stays in
the journal, so a new column can be computed for old runs.  The fingerprint holds every
fact that changes latency without changing the model (hardware, OS, runtime and version,
numpy, threads, governor, provider/delegate, agent version); two latencies are comparable
only when their fingerprints are equal.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from typing import Any, Iterable, Optional

from edgebench.results import columns as C
from edgebench.results.columns import SUMMARY_COLUMNS
from edgebench.results.record import JobRecord


def _get(data: Optional[dict[str, Any]], *path: str) -> Any:
    cur: Any = data
    for key in path:
        if not isinstance(cur, dict):
            return None
        cur = cur.get(key)
    return cur


def fingerprint(result: Optional[dict[str, Any]], device: str) -> dict[str, Any]:
    if not result:
        return {}
    machine = result.get("machine") or {}
    runtime = result.get("runtime") or {}
    governors = _get(result, "thermal", "governors")
    return {
        "device": device,
        "arch": machine.get("arch"), "cpu_model": machine.get("cpu_model"),
        "cores": machine.get("cores"), "ram_bytes": machine.get("ram_bytes"),
        "board": machine.get("board"), "os": machine.get("os"), "kernel": machine.get("kernel"),
        "numpy": machine.get("numpy"), "python": machine.get("python"),
        "runtime": runtime.get("name"), "runtime_version": runtime.get("version"),
        "threads": runtime.get("threads"),
        "provider": runtime.get("provider") or runtime.get("delegate"),
        "governor": ",".join(sorted(governors)) if isinstance(governors, list) else governors,
        "agent_version": result.get("agent_version"),
    }


def fingerprint_hash(fp: dict[str, Any]) -> str:
    if not fp:
        return ""
    return hashlib.sha256(json.dumps(fp, sort_keys=True).encode()).hexdigest()[:12]


def summary_row(record: JobRecord) -> dict[str, Any]:
    """The summary.csv row for one record (empty string where nothing was measured)."""
    r = record.result if record.status == "ok" else None
    manifest = record.artifact.get("manifest") or {}
    row: dict[str, Any] = {
        "run_id": record.run_id, "job_id": record.job_id, "model": record.model,
        "variant": record.variant, "device": record.device, "format": record.format,
        # a failed job's result still says which runtime refused the file; a skipped one
        # has no result: the registry name it was planned for
        "runtime": _get(record.result, "runtime", "name") or record.runtime or None,
        "runtime_version": _get(record.result, "runtime", "version"),
        "execution_precision": (_get(r, "runtime", "execution_precision")
                                or _get(r, "runtime", "inference_precision")),
        "threads": _get(r, "runtime", "threads"), "status": record.status, "error": record.error,
        "size_bytes": _get(r, "model", "size_bytes") or record.artifact.get("size_bytes"),
        "size_gzip_bytes": _get(r, "model", "size_gzip_bytes") or manifest.get("size_gzip_bytes"),
        "load_s": _get(r, "timing", "load_s"),
        "first_inference_s": _get(r, "timing", "first_inference_s"),
        "peak_rss_bytes": _peak_rss(r),
        "governor": record.fingerprint.get("governor"),
        "fingerprint": fingerprint_hash(record.fingerprint),
        **_latency_cells(r),
        **_model_cells(manifest, r),
        **_condition_cells(r),
        **_mcu_cells(manifest),
        **_os_memory_cells(r),
    }
    return {col: row.get(col) for col in SUMMARY_COLUMNS}


def _latency_cells(r: Optional[dict[str, Any]]) -> dict[str, Any]:
    """The latency statistics and their confidence intervals (agent/stats.py)."""
    stats = _get(r, "stats") or {}
    stop = _get(r, "timing", "stop") or {}
    procs = _get(r, "processes") or {}
    sustained = _get(r, "sustained") or {}
    return {
        "runs": stats.get("count"), "latency_mean_s": stats.get("mean_s"),
        "latency_std_s": stats.get("std_s"), "latency_min_s": stats.get("min_s"),
        "latency_p50_s": stats.get("p50_s"), "latency_p90_s": stats.get("p90_s"),
        "latency_p99_s": stats.get("p99_s"), "latency_es_p90_s": stats.get("early_stopping_p90_s"),
        "latency_p50_ci_low_s": stats.get("p50_ci_low_s"),
        "latency_p50_ci_high_s": stats.get("p50_ci_high_s"),
        "latency_p90_ci_low_s": stats.get("p90_ci_low_s"),
        "latency_p90_ci_high_s": stats.get("p90_ci_high_s"),
        "target_precision": stop.get("target_precision"), "precision_reached": stop.get("reached"),
        "processes": procs.get("processes") or (1 if r else None),
        "within_process_rel_mad": procs.get("within_process_rel_mad"),
        "between_process_cv": procs.get("between_process_cv"),
        "mode": ("sustained" if sustained else "fixed") if r else None,
        "burst_p50_s": sustained.get("burst_p50_s"), "sustained_p50_s": sustained.get("sustained_p50_s"),
        "slowdown_onset_s": sustained.get("onset_s"),
    }


def _model_cells(manifest: dict[str, Any], r: Optional[dict[str, Any]]) -> dict[str, Any]:
    """What the variant is (the build manifest) and how faithful it is, at build time and
    on the device."""
    quality = manifest.get("quality") or {}
    device_q = _get(r, "accuracy") or {}
    return {
        "accuracy": quality.get("accuracy"), "accuracy_delta": quality.get("accuracy_delta"),
        "top1_agreement": quality.get("top1_agreement"), "cosine": quality.get("cosine"),
        "device_accuracy": device_q.get("accuracy"),
        "device_top1_agreement": device_q.get("top1_agreement"),
        "device_cosine": device_q.get("cosine"),
        "params": manifest.get("params"), "nonzero_params": manifest.get("nonzero_params"),
        "macs": manifest.get("macs"), "noop": manifest.get("noop"),
        "recipe": json.dumps(manifest["recipe"]) if "recipe" in manifest else None,
    }


def _condition_cells(r: Optional[dict[str, Any]]) -> dict[str, Any]:
    """Energy, heat and the machine's state around the job (probes, context)."""
    energy = _get(r, "energy") or {}
    thermal = _get(r, "thermal") or {}
    context = _get(r, "context") or {}
    return {
        "energy_per_inference_j": energy.get("energy_per_inference_j"),
        "net_energy_per_inference_j": energy.get("net_energy_per_inference_j"),
        "mean_power_w": energy.get("mean_power_w"), "energy_probe": energy.get("probe"),
        "throttled": thermal.get("throttled"), "temp_rise_c": thermal.get("temp_rise_c"),
        "start_temp_c": context.get("temp_start_c"),
        "loadavg_1m": (context.get("loadavg") or [None])[0],
        "foreign_cpu_cores": context.get("foreign_cpu_cores"),
        "started_hot": context.get("started_hot"), "foreign_load": context.get("foreign_load"),
    }


def _mcu_cells(manifest: dict[str, Any]) -> dict[str, Any]:
    """auto_added and the microcontroller columns (empty for ONNX files)."""
    from edgebench.compressors.mcu import fit_text

    mcu = manifest.get("mcu") or {}
    return {"auto_added": True if manifest.get("auto_added") else None,
            "flash_bytes": mcu.get("flash_bytes"), "weights_bytes": mcu.get("weights_bytes"),
            "arena_bytes": mcu.get("arena_bytes"), "mcu_fit": fit_text(mcu.get("fits")) or None}


def _os_memory_cells(result: Optional[dict[str, Any]]) -> dict[str, Any]:
    """USS, PSS and model-attributable memory (agent/memory.py); empty for older agents."""
    mem = _get(result, "memory") or {}
    return {k: mem.get(k) for k in ("uss_bytes", "pss_bytes", "model_load_bytes",
                                    "inference_extra_bytes")}


def _peak_rss(result: Optional[dict[str, Any]]) -> Optional[int]:
    """The kernel's high-water mark when known (it never misses a spike), else the sampler's."""
    mem = _get(result, "memory") or {}
    return mem.get("vmhwm_bytes") or mem.get("ru_maxrss_bytes") or mem.get("peak_rss_sampled_bytes")


def summary_csv(rows: Iterable[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(SUMMARY_COLUMNS), extrasaction="ignore",
                            lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return buf.getvalue()


def clean_value(name: str, value: Any) -> Any:
    """Turn a summary cell (CSV-ish: '' for not measured) into the column's DB value."""
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if name in C.BOOL_COLUMNS:
        if isinstance(value, str):
            return value.strip().lower() in ("1", "true", "yes", "y")
        return bool(value)
    if name in C.TEXT_COLUMNS:
        return value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    number = float(value)  # ValueError handled by caller
    if name in C.INT_COLUMNS and number.is_integer():
        return int(number)
    return number


def job_row(record: dict[str, Any]) -> dict[str, Any]:
    """A journal record as its jobs-table row: summary cells converted by
    :func:`clean_value`, the cells without a column (or that do not convert) kept verbatim
    in ``extra_json``.  The one row builder: the store writes it, and a run directory's
    report reads it through :func:`frame_row`, so both show the same values."""
    summary = dict(record.get("summary") or {})
    for key in ("model", "variant", "format", "device", "status", "error"):
        if summary.get(key) in (None, "") and record.get(key) is not None:
            summary[key] = record[key]
    row: dict[str, Any] = {"run_id": record.get("run_id"), "job_id": record.get("job_id")}
    extra: dict[str, Any] = {}
    for name, value in summary.items():
        if name in C.SPECIAL_COLUMNS:
            continue
        if name not in C.DB_COLUMNS:
            extra[name] = value
            continue
        try:
            row[name] = clean_value(name, value)
        except (TypeError, ValueError):
            extra[name] = value  # kept verbatim, never coerced into a wrong number
            row[name] = None
    fp = record.get("fingerprint") or {}
    row["fingerprint_json"] = json.dumps(fp, sort_keys=True, default=str)
    row["fingerprint_hash"] = (str(summary.get("fingerprint") or "") or fingerprint_hash(fp))
    row["error_kind"] = record.get("error_kind")
    row["started_at"] = record.get("started_at")
    row["finished_at"] = record.get("finished_at")
    row["attempts"] = record.get("attempts")
    row["extra_json"] = json.dumps(extra, sort_keys=True, default=str) if extra else None
    return row


def frame_row(row: dict[str, Any]) -> dict[str, Any]:
    """A jobs-table row as :func:`edgebench.results.load` shows it: fingerprint,
    job_started_at, job_finished_at, and ``extra_json``'s cells as columns."""
    row = dict(row)
    row["fingerprint"] = row.pop("fingerprint_hash")
    row["job_started_at"] = row.pop("started_at")
    row["job_finished_at"] = row.pop("finished_at")
    extra = json.loads(row.pop("extra_json") or "{}")
    row.update({k: v for k, v in extra.items() if k not in row})
    for name in C.EXTRA_JSON_COLUMNS:  # summary columns kept in extra_json: '' -> None
        try:
            row[name] = clean_value(name, row.get(name))
        except (TypeError, ValueError):
            row[name] = None
    return row
