"""The JSON contract between the controller and the on-device agent.

Standard library only, Python 3.9+: this file is copied to devices.  The controller
builds a :class:`JobSpec`, the agent answers with a result dict whose shape is described
by :func:`validate_result`.  Bump :data:`SCHEMA_VERSION` on any incompatible change; the
controller refuses results of another version instead of misreading them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional

from .backends import CLASSIC_RUNTIME, FORMATS, RUNTIMES, resolve  # noqa: F401 - re-exported

SCHEMA_VERSION = 1
AGENT_VERSION = "0.1.0"

#: ``FORMATS``: the formats the agent can run; which runtimes run each is the registry's
#: business (backends/__init__.py, stdlib only like this file).
#: ``fixed``: the timed loop of docs/timing.md; ``sustained``: run for ``duration_s`` and
#: record latency, temperature and clock per ``bin_s`` (agent/sustained.py).
MODES = ("fixed", "sustained")
MAX_PROCESSES = 50


@dataclass
class BenchmarkSettings:
    """When to stop timing.  Defaults follow LiteRT's ``benchmark_model``."""

    warmup_runs: int = 5
    warmup_min_s: float = 0.5
    min_runs: int = 50
    min_duration_s: float = 1.0
    max_duration_s: float = 150.0
    memory_sample_interval_s: float = 0.05
    # Trust in the figures (docs/timing.md).  All optional: older specs stay valid.
    target_precision: Optional[float] = None  # stop when the p50's 99 % CI half-width <= this x p50
    processes: int = 1  # run the timed loop in this many fresh processes, samples pooled
    mode: str = "fixed"  # 'fixed' | 'sustained'
    duration_s: float = 600.0  # sustained: how long to run
    bin_s: float = 10.0  # sustained: latency / temperature / clock per bin of this length
    # Operator profile (agent/profile.py): after the timed loop, in a separate session
    profile: bool = False
    profile_runs: int = 100

    def validate(self) -> None:
        """ValueError for settings no loop can honour (the controller checks them too, but
        a hand-written spec reaches the agent directly)."""
        def number(value: Any) -> bool:
            return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value

        if self.target_precision is not None and not (
                number(self.target_precision) and 0.0 < self.target_precision < 1.0):
            raise ValueError(f"target_precision must be a number in (0, 1), got {self.target_precision!r}")
        for key in ("duration_s", "bin_s"):
            if not number(getattr(self, key)) or getattr(self, key) <= 0:
                raise ValueError(f"{key} must be a number > 0, got {getattr(self, key)!r}")
        if isinstance(self.processes, bool) or not isinstance(self.processes, int) \
                or not 1 <= self.processes <= MAX_PROCESSES:
            raise ValueError(f"processes must be a whole number in 1..{MAX_PROCESSES}, "
                             f"got {self.processes!r}")
        if not isinstance(self.profile, bool):
            raise ValueError(f"profile must be true or false, got {self.profile!r}")
        if isinstance(self.profile_runs, bool) or not isinstance(self.profile_runs, int) \
                or self.profile_runs < 1:
            raise ValueError(f"profile_runs must be a whole number >= 1, got {self.profile_runs!r}")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.mode == "sustained":
            if not 0.0 < self.bin_s <= self.duration_s:
                raise ValueError(f"sustained mode needs 0 < bin_s ({self.bin_s!r}) <= "
                                 f"duration_s ({self.duration_s!r})")
            if self.processes != 1 or self.target_precision is not None:
                raise ValueError("sustained mode runs one process for duration_s: it takes "
                                 "neither processes nor target_precision")


@dataclass
class InputSpec:
    """Where the inputs come from: seeded random data, or real samples from an ``.npz``."""

    seed: int = 0
    npz_path: Optional[str] = None  # keys = input names, or 'x' for a single-input model
    shapes: Dict[str, List[int]] = field(default_factory=dict)  # resolve dynamic dims
    default_dim: int = 1  # value for a dynamic dim not named in ``shapes``


@dataclass
class EvalSpec:
    """Optional on-device quality check on labelled / reference data."""

    npz_path: str = ""  # holds 'x', optional 'y' (labels) and optional 'ref' (fp32 outputs)
    max_samples: int = 0  # 0 = all
    output: str = ""  # name of the judged output ('' = the first)
    task: str = ""  # 'presence': outputs are per-anchor logits scored by presence_scores


@dataclass
class JobSpec:
    """One job: one model file on one runtime with one configuration."""

    job_id: str
    model_path: str
    format: str  # 'onnx' | 'tflite'
    threads: int = 1
    # Which runtime runs the file (backends.RUNTIMES); '' = the format's classic runtime
    # (CLASSIC_RUNTIME), so a spec from before runtimes were chosen means what it meant.
    runtime: str = ""
    # Options of runtimes that have no fields of their own below (openvino,
    # litert-compiled): e.g. {"performance_hint": "LATENCY", "inference_precision": "f32"}
    runtime_options: Dict[str, Any] = field(default_factory=dict)
    # ONNX Runtime: providers by name, graph optimisation level
    providers: List[str] = field(default_factory=lambda: ["CPUExecutionProvider"])
    graph_optimization_level: str = "all"  # disable | basic | extended | all
    # TFLite: 'auto' tries ai_edge_litert, tflite_runtime, tensorflow.lite in that order
    tflite_runtime: str = "auto"
    delegate_path: Optional[str] = None  # external delegate, e.g. libedgetpu.so.1
    delegate_options: Dict[str, str] = field(default_factory=dict)
    use_xnnpack: bool = True
    inputs: InputSpec = field(default_factory=InputSpec)
    benchmark: BenchmarkSettings = field(default_factory=BenchmarkSettings)
    eval: Optional[EvalSpec] = None
    probes: Dict[str, Any] = field(default_factory=dict)  # energy / thermal settings
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "JobSpec":
        data = dict(data)
        version = data.get("schema_version", SCHEMA_VERSION)
        if version != SCHEMA_VERSION:
            raise ValueError(
                f"job spec schema_version {version} != agent's {SCHEMA_VERSION}; "
                "push the agent that matches the controller"
            )
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown job spec keys: {', '.join(unknown)}")
        try:
            resolve(str(data.get("format", "")), data.get("runtime") or None)
        except ValueError as exc:
            raise ValueError(f"job spec: {exc}") from None
        data["inputs"] = InputSpec(**(data.get("inputs") or {}))
        data["benchmark"] = BenchmarkSettings(**(data.get("benchmark") or {}))
        data["benchmark"].validate()
        if data.get("eval"):
            data["eval"] = EvalSpec(**data["eval"])
        return cls(**data)


#: Keys every result has, with the type each must be.  ``validate_result`` checks these
#: on the controller so a truncated or foreign JSON is refused, not half-read.
RESULT_REQUIRED = {
    "schema_version": int,
    "agent_version": str,
    "job_id": str,
    "status": str,  # 'ok' | 'failed'
    "machine": dict,
}

#: Blocks newer agents add (run context, multi-process spread, sustained mode).
OPTIONAL_BLOCKS = ("context", "processes", "sustained", "profile")

RESULT_OK_REQUIRED = {
    "runtime": dict,
    "timing": dict,
    "stats": dict,
    "memory": dict,
    "model": dict,
}


def validate_result(data: Any) -> List[str]:
    """Return a list of problems (empty when the result is well-formed)."""
    problems: List[str] = []
    if not isinstance(data, dict):
        return [f"result is {type(data).__name__}, not an object"]
    required = dict(RESULT_REQUIRED)
    if data.get("status") == "ok":
        required.update(RESULT_OK_REQUIRED)
    for key, typ in required.items():
        if key not in data:
            problems.append(f"missing key {key!r}")
        elif not isinstance(data[key], typ):
            problems.append(f"key {key!r} is {type(data[key]).__name__}, expected {typ.__name__}")
    if data.get("schema_version") not in (None, SCHEMA_VERSION) and isinstance(
        data.get("schema_version"), int
    ):
        problems.append(f"schema_version {data['schema_version']} != {SCHEMA_VERSION}")
    if data.get("status") not in ("ok", "failed"):
        problems.append(f"status {data.get('status')!r} is not 'ok' or 'failed'")
    if data.get("status") == "failed" and not isinstance(data.get("error"), dict):
        problems.append("a failed result must carry an 'error' object")
    if data.get("status") == "ok":
        lat = data.get("timing", {}).get("latencies_s")
        if not isinstance(lat, list) or not lat:
            problems.append("timing.latencies_s must be a non-empty list")
        # optional blocks (newer agents): checked only when present, so old results stay valid
        for key in OPTIONAL_BLOCKS:
            if key in data and data[key] is not None and not isinstance(data[key], dict):
                problems.append(f"key {key!r} is {type(data[key]).__name__}, expected dict")
        bins = (data.get("sustained") or {}).get("bins") if isinstance(data.get("sustained"), dict) else None
        if bins is not None and not isinstance(bins, list):
            problems.append("sustained.bins must be a list")
    return problems
