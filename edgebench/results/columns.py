"""The column catalogue: every column of the results, its type and its unit, in one table.

``summary.csv``'s header, the store's ``jobs`` columns (:mod:`edgebench.store.schema`) and
the dtypes of :func:`edgebench.results.load` are all derived from :data:`CATALOGUE`, so a
new measured figure is one line here and cannot be typed differently in three places.

``kind`` is the value type (text, int, float, bool); ``unit`` is what a number counts
(``s``, ``bytes``, ``J``, ``W``, ``C`` for degrees Celsius, ``ratio`` for a dimensionless
fraction or factor, ``count``; empty for text and flags); ``where`` says where the store
keeps it: ``jobs`` (a column of the jobs table), ``extra`` (the row's ``extra_json``, no
migration needed) or ``key`` (a key, or stored under another name).
"""

from __future__ import annotations

from dataclasses import dataclass

KINDS = ("text", "int", "float", "bool")
PLACES = ("jobs", "extra", "key", "load")


@dataclass(frozen=True)
class Column:
    """One column: its name (with the unit in it, e.g. ``latency_p50_s``), type and unit."""

    name: str
    kind: str
    unit: str = ""
    where: str = "jobs"


def _c(name: str, kind: str, unit: str = "", where: str = "jobs") -> Column:
    return Column(name, kind, unit, where)


#: The summary columns, in summary.csv order.  Empty where a job did not measure a thing.
CATALOGUE: tuple[Column, ...] = (
    _c("run_id", "text", where="key"), _c("model", "text"), _c("variant", "text"),
    _c("device", "text"), _c("format", "text"), _c("runtime", "text"),
    _c("runtime_version", "text"), _c("threads", "int", "count"), _c("status", "text"),
    _c("error", "text"), _c("size_bytes", "int", "bytes"), _c("size_gzip_bytes", "int", "bytes"),
    _c("load_s", "float", "s"), _c("first_inference_s", "float", "s"), _c("runs", "int", "count"),
    _c("latency_mean_s", "float", "s"), _c("latency_std_s", "float", "s"),
    _c("latency_min_s", "float", "s"), _c("latency_p50_s", "float", "s"),
    _c("latency_p90_s", "float", "s"), _c("latency_p99_s", "float", "s"),
    _c("latency_es_p90_s", "float", "s"),
    _c("latency_p50_ci_low_s", "float", "s"), _c("latency_p50_ci_high_s", "float", "s"),
    _c("latency_p90_ci_low_s", "float", "s"), _c("latency_p90_ci_high_s", "float", "s"),
    _c("peak_rss_bytes", "int", "bytes"), _c("accuracy", "float", "ratio"),
    _c("accuracy_delta", "float", "ratio"), _c("top1_agreement", "float", "ratio"),
    _c("cosine", "float", "ratio"), _c("device_accuracy", "float", "ratio"),
    _c("device_top1_agreement", "float", "ratio"), _c("device_cosine", "float", "ratio"),
    _c("params", "int", "count"), _c("nonzero_params", "int", "count"),
    _c("macs", "int", "count"), _c("noop", "bool"), _c("recipe", "text"),
    _c("energy_per_inference_j", "float", "J"), _c("net_energy_per_inference_j", "float", "J"),
    _c("mean_power_w", "float", "W"), _c("energy_probe", "text"),
    _c("throttled", "bool"), _c("temp_rise_c", "float", "C"),
    _c("target_precision", "float", "ratio"), _c("precision_reached", "bool"),
    _c("processes", "int", "count"), _c("within_process_rel_mad", "float", "ratio"),
    _c("between_process_cv", "float", "ratio"), _c("mode", "text"),
    _c("burst_p50_s", "float", "s"), _c("sustained_p50_s", "float", "s"),
    _c("slowdown_onset_s", "float", "s"), _c("start_temp_c", "float", "C"),
    _c("loadavg_1m", "float", "count"), _c("foreign_cpu_cores", "float", "count"),
    _c("started_hot", "bool"), _c("foreign_load", "bool"), _c("governor", "text"),
    _c("fingerprint", "text", where="key"), _c("job_id", "text", where="key"),
    # from the manifest: added for synergy; microcontroller figures of .tflite files
    # (edgebench.compressors.mcu), kept in the store's extra_json (no table change)
    _c("auto_added", "bool", where="extra"), _c("flash_bytes", "int", "bytes", "extra"),
    _c("weights_bytes", "int", "bytes", "extra"), _c("arena_bytes", "int", "bytes", "extra"),
    _c("mcu_fit", "text", where="extra"),
    # memory that agrees with the OS (docs/memory.md): USS / PSS from smaps_rollup, and what
    # the model's load and its inference added to RSS; kept in the store's extra_json
    _c("uss_bytes", "int", "bytes", "extra"), _c("pss_bytes", "int", "bytes", "extra"),
    _c("model_load_bytes", "int", "bytes", "extra"),
    _c("inference_extra_bytes", "int", "bytes", "extra"),
    # the precision the runtime really computed in, where it says (OpenVINO's
    # INFERENCE_PRECISION_HINT: bf16 for an fp32 file on AMX/AVX-512 BF16 CPUs; ExecuTorch's
    # XNNPACK payload); empty for runtimes that run the file's own types
    _c("execution_precision", "text", where="extra"),
)

#: What :func:`edgebench.results.load` adds after the summary columns: the job's and the
#: run's bookkeeping from the store (not in summary.csv).
LOAD_CATALOGUE: tuple[Column, ...] = (
    _c("error_kind", "text", where="load"), _c("attempts", "int", "count", "load"),
    _c("job_started_at", "text", where="load"), _c("job_finished_at", "text", where="load"),
    _c("fingerprint_json", "text", where="load"),
    _c("suite", "text", where="load"), _c("run_started_at", "text", where="load"),
    _c("run_finished_at", "text", where="load"), _c("run_complete", "bool", where="load"),
)

BY_NAME: dict[str, Column] = {c.name: c for c in CATALOGUE + LOAD_CATALOGUE}

#: summary.csv's header, in order.
SUMMARY_COLUMNS: tuple[str, ...] = tuple(c.name for c in CATALOGUE)
#: The columns of :func:`edgebench.results.load`, in order.
LOAD_COLUMNS: tuple[str, ...] = SUMMARY_COLUMNS + tuple(c.name for c in LOAD_CATALOGUE)


def _names(*, kind: str | None = None, where: str | None = None) -> frozenset[str]:
    return frozenset(c.name for c in CATALOGUE
                     if (kind is None or c.kind == kind) and (where is None or c.where == where))


#: Summary columns that become keys or are stored under another name.
SPECIAL_COLUMNS = _names(where="key")
#: Summary columns without a ``jobs`` column: stored in ``extra_json``, read back by load.
EXTRA_JSON_COLUMNS = _names(where="extra")
#: Summary columns kept as text (keys aside); the rest are numbers or flags.
TEXT_COLUMNS = _names(kind="text") - SPECIAL_COLUMNS
BOOL_COLUMNS = _names(kind="bool")
INT_COLUMNS = _names(kind="int")
#: Summary columns that are columns of the store's jobs table, in order.
DB_COLUMNS: tuple[str, ...] = tuple(c.name for c in CATALOGUE if c.where == "jobs")

#: The pandas dtype of each kind in :func:`edgebench.results.load` (text stays object).
FRAME_DTYPES = {"bool": "boolean", "int": "Int64", "float": "float64"}


def unit_of(name: str) -> str:
    """The unit of column ``name`` ('' for text, flags and unknown columns)."""
    col = BY_NAME.get(name)
    return col.unit if col else ""
