"""The suite's measurement and runtime settings: how long to time, which runtime options,
which microcontroller budgets.  Split from :mod:`edgebench.config` (which loads and
validates the files) so each stays readable; ``config`` re-exports every name here."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Optional, Union

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator

from .recipes import Dim, StrictModel, _check_step_params, check_runtime_names


class BenchmarkSpec(StrictModel):
    """When to stop timing; defaults in the spirit of LiteRT's benchmark_model."""

    warmup_runs: int = Field(5, ge=0)
    warmup_min_s: float = Field(0.5, ge=0, le=86400)
    min_runs: int = Field(50, ge=1)
    min_duration_s: float = Field(1.0, ge=0, le=86400)
    max_duration_s: float = Field(150.0, gt=0, le=86400)
    threads: int = Field(1, ge=1, le=256)
    memory_sample_interval_s: float = Field(0.05, ge=0, le=60)
    job_timeout_s: Optional[float] = Field(None, gt=0, le=7 * 86400)  # overrides the device's
    seed: int = Field(0, ge=0, le=2**32 - 1)  # numpy's default_rng refuses negative seeds
    input_shapes: dict[str, list[Dim]] = Field(default_factory=dict)  # dims: positive ints only
    default_dim: Dim = 1
    evaluate_on_device: bool = False
    eval_samples: int = Field(0, ge=0)  # on-device evaluation: 0 = the whole eval subset
    energy_min_samples: int = Field(20, ge=1)
    energy_min_window_s: float = Field(1.0, ge=0, le=86400)
    # -- trust in the figures (docs/timing.md): stop on precision, processes, sustained --
    # stop when the p50's 99 % CI half-width <= target_precision x p50 (min runs/duration
    # stay floors, max_duration_s the cap); None = the fixed rule
    target_precision: Optional[float] = Field(None, gt=0, lt=1)
    processes: int = Field(1, ge=1, le=50)  # fresh agent processes per job, pooled
    mode: Literal["fixed", "sustained"] = "fixed"
    duration_s: float = Field(600.0, gt=0, le=86400)  # sustained: run this long
    bin_s: float = Field(10.0, gt=0, le=3600)  # sustained: one record per bin
    # -- operator profile (docs/profile.md): after the timed loop, in a separate session with
    # the runtime's profiler on, profile_runs inferences; never touches the headline figures
    profile: bool = False
    profile_runs: int = Field(100, ge=1, le=100000)

    @model_validator(mode="after")
    def _durations(self) -> "BenchmarkSpec":
        if self.max_duration_s < self.min_duration_s:
            raise ValueError(f"max_duration_s ({self.max_duration_s}) < min_duration_s "
                             f"({self.min_duration_s})")
        if self.mode == "sustained":
            if self.bin_s > self.duration_s:
                raise ValueError(f"bin_s ({self.bin_s}) > duration_s ({self.duration_s})")
            if self.processes != 1 or self.target_precision is not None:
                raise ValueError("mode: sustained runs one process for duration_s; drop "
                                 "processes / target_precision (they apply to mode: fixed)")
        return self


#: threads per runtime: None = benchmark.threads (one knob for the usual case)
RuntimeThreads = Optional[Annotated[int, Field(ge=1, le=1024)]]


class OnnxRuntimeSpec(StrictModel):
    threads: RuntimeThreads = None
    providers: list[str] = Field(default_factory=lambda: ["CPUExecutionProvider"], min_length=1)
    graph_optimization_level: Literal["disable", "basic", "extended", "all"] = "all"


class TFLiteSpec(StrictModel):
    threads: RuntimeThreads = None
    runtime: Literal["auto", "ai_edge_litert", "tflite_runtime", "tensorflow"] = "auto"
    delegate_path: Optional[str] = None
    delegate_options: dict[str, str] = Field(default_factory=dict)
    use_xnnpack: bool = True


class OpenVinoSpec(StrictModel):
    """OpenVINO's options (agent/backends/openvino_backend.py).  ``inference_precision``:
    None keeps OpenVINO's own choice (bf16 on CPUs with AMX / AVX-512 BF16), ``f32`` forces
    the precision the file was written in; the result records which one ran."""

    threads: RuntimeThreads = None
    device: str = Field("CPU", min_length=1, max_length=64, pattern=r"^[A-Z][A-Z0-9_.:,]*$")
    performance_hint: Literal["LATENCY", "THROUGHPUT", "CUMULATIVE_THROUGHPUT"] = "LATENCY"
    inference_precision: Optional[Literal["f32", "f16", "bf16"]] = None
    num_streams: Optional[Annotated[int, Field(ge=1, le=1024)]] = None

    def agent_options(self) -> dict[str, Any]:
        return self.model_dump(exclude={"threads"}, exclude_none=True)


class LiteRtCompiledSpec(StrictModel):
    """LiteRT CompiledModel options (agent/backends/litert_compiled.py)."""

    threads: RuntimeThreads = None
    accelerator: Literal["cpu", "gpu", "npu"] = "cpu"
    signature: Optional[str] = None

    def agent_options(self) -> dict[str, Any]:
        return self.model_dump(exclude={"threads"}, exclude_none=True)


class ExecuTorchSpec(StrictModel):
    """ExecuTorch options (agent/backends/executorch_backend.py): ``threads`` sets torch's
    intra-op threads in the agent (XNNPACK's threadpool is sized by ExecuTorch itself)."""

    threads: RuntimeThreads = None
    method: str = Field("forward", min_length=1, max_length=200, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")

    def agent_options(self) -> dict[str, Any]:
        return self.model_dump(exclude={"threads"}, exclude_none=True)


#: the step lists of a ``search:`` section, in the order candidates are named
SEARCH_STEPS = ("quantize", "prune", "cluster", "distill")


class SearchSpec(StrictModel):
    """``search:`` -- the recipe space ``edgebench tune`` explores (docs/tune.md).

    Each step key lists parameter mappings, validated like a variant's step; a key left out
    takes the default for the model's source kind (``edgebench.tuning.space``), ``[]`` drops
    the step.  ``combine``: each prune / cluster / distill option is also tried followed by
    int8 static quantization.  ``finalists``: at most this many candidates per device get
    the suite's full stopping rule; ``rungs``: the short measurements before that, as
    fractions of ``benchmark.min_duration_s``.
    """

    quantize: Optional[list[dict[str, Any]]] = None
    prune: Optional[list[dict[str, Any]]] = None
    cluster: Optional[list[dict[str, Any]]] = None
    distill: Optional[list[dict[str, Any]]] = None
    combine: bool = True
    runtimes: Optional[Union[Literal["all"], list[str]]] = None  # None: the suite's own
    finalists: int = Field(3, ge=1, le=50)
    rungs: list[Annotated[float, Field(gt=0, lt=1)]] = Field(
        default_factory=lambda: [0.05, 0.2], max_length=6)

    @field_validator(*SEARCH_STEPS)
    @classmethod
    def _step_params(cls, options: Optional[list[dict[str, Any]]], info: ValidationInfo
                     ) -> Optional[list[dict[str, Any]]]:
        for i, params in enumerate(options or []):
            try:
                _check_step_params(i, str(info.field_name), params)
            except ValueError as exc:
                raise ValueError(str(exc).replace(f"step {i} ", f"option {i} ", 1)) from None
        return options

    @field_validator("runtimes")
    @classmethod
    def _runtimes(cls, value: Any) -> Any:
        return check_runtime_names(value)

    @field_validator("rungs")
    @classmethod
    def _growing(cls, rungs: list[float]) -> list[float]:
        if list(rungs) != sorted(set(rungs)):
            raise ValueError(f"rungs must grow, each longer than the last (got {list(rungs)})")
        return rungs


class McuBudget(StrictModel):
    """A microcontroller's flash and RAM (for the tensor arena), in bytes."""

    flash_bytes: int = Field(gt=0)
    ram_bytes: int = Field(gt=0)


def _default_mcu_budgets() -> dict[str, McuBudget]:
    from edgebench.compressors.mcu import DEFAULT_BUDGETS

    return {name: McuBudget(**b) for name, b in DEFAULT_BUDGETS.items()}


def with_model_options(block: StrictModel, override: Optional[dict[str, Any]]) -> Any:
    """A suite's options block with a model's ``runtime_options`` for it laid over."""
    if not override:
        return block
    return type(block).model_validate({**block.model_dump(), **override})


def check_model_runtime_options(suite: Any) -> None:
    """Every model's ``runtime_options`` must name a runtime the model runs on and make a
    valid block: one line naming the model, runtime and key, before anything is built."""
    for m in suite.models:
        used = {r for fmt in m.resolved_formats() for r in suite.model_runtimes(m, fmt)}
        for runtime in m.runtime_options:
            if runtime not in used:
                raise ValueError(f"model {m.name!r}: runtime_options.{runtime}: the model does "
                                 f"not run on {runtime} (it runs on: {', '.join(sorted(used))})")
            try:
                suite.runtime_settings(runtime, m.name)
            except ValidationError as exc:
                e = exc.errors()[0]
                where = ".".join(str(p) for p in e["loc"])
                msg = "unknown key" if e["type"] == "extra_forbidden" else e["msg"]
                raise ValueError(f"model {m.name!r}: runtime_options.{runtime}.{where}: "
                                 f"{msg}") from None
