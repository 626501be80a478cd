"""One line of ``results.jsonl``: a job's identity, its status and everything measured.

``results.jsonl`` is the crash-safe journal of a run: one :class:`JobRecord` per finished
job, appended and fsync'd before the next job starts.  The flat ``summary`` dict is what
``summary.csv``, the report tables and the store are built from; the full agent result is
kept beside it so nothing measured (raw latencies, probe samples) is ever thrown away.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import asdict, dataclass, field
from typing import Any

RECORD_SCHEMA_VERSION = 1

#: Columns of summary.csv, in order.  Empty where a job did not measure a thing.
SUMMARY_COLUMNS: tuple[str, ...] = (
    "run_id", "model", "variant", "device", "format", "runtime", "runtime_version",
    "threads", "status", "error", "size_bytes", "size_gzip_bytes", "load_s",
    "first_inference_s", "runs", "latency_mean_s", "latency_std_s", "latency_min_s",
    "latency_p50_s", "latency_p90_s", "latency_p99_s", "latency_es_p90_s",
    "latency_p50_ci_low_s", "latency_p50_ci_high_s", "latency_p90_ci_low_s", "latency_p90_ci_high_s",
    "peak_rss_bytes", "accuracy", "accuracy_delta", "top1_agreement", "cosine",
    "device_accuracy", "device_top1_agreement", "device_cosine",
    "params", "nonzero_params", "macs", "noop", "recipe",
    "energy_per_inference_j", "net_energy_per_inference_j", "mean_power_w", "energy_probe",
    "throttled", "temp_rise_c",
    "target_precision", "precision_reached", "processes", "within_process_rel_mad",
    "between_process_cv", "mode", "burst_p50_s", "sustained_p50_s", "slowdown_onset_s",
    "start_temp_c", "loadavg_1m", "foreign_cpu_cores", "started_hot", "foreign_load",
    "governor", "fingerprint", "job_id",
    # from the manifest: added for synergy; microcontroller figures of .tflite files
    # (edgebench.compressors.mcu), kept in the store's extra_json (no table change)
    "auto_added", "flash_bytes", "weights_bytes", "arena_bytes", "mcu_fit",
    # memory that agrees with the OS (docs/memory.md): USS / PSS from smaps_rollup, and what
    # the model's load and its inference added to RSS; kept in the store's extra_json
    "uss_bytes", "pss_bytes", "model_load_bytes", "inference_extra_bytes",
)

STATUSES = ("ok", "failed", "skipped")


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


@dataclass
class JobRecord:
    """A finished job, whatever its status; ``error`` says why when it is not ``ok``."""

    run_id: str
    job_id: str
    model: str
    variant: str
    format: str
    device: str
    status: str
    error: str | None = None
    # the registry name of the runtime the job was planned for ('' in records written
    # before runtimes were chosen: the format's classic runtime)
    runtime: str = ""
    error_kind: str | None = None  # e.g. 'runtime_rejected', 'timeout', 'unreachable'
    started_at: str = field(default_factory=utc_now)
    finished_at: str = field(default_factory=utc_now)
    attempts: int = 1
    artifact: dict[str, Any] = field(default_factory=dict)  # path, sha256, size, manifest
    result: dict[str, Any] | None = None  # the agent's validated JSON result
    summary: dict[str, Any] = field(default_factory=dict)  # flat row, SUMMARY_COLUMNS
    # What must be equal for two latencies to be comparable (hardware, OS, runtime and
    # version, numpy, threads, governor, provider/delegate, agent version); summary
    # carries its short hash in the 'fingerprint' column.
    fingerprint: dict[str, Any] = field(default_factory=dict)
    schema_version: int = RECORD_SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "JobRecord":
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})
