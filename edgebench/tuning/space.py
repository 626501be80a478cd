"""The recipe space ``edgebench tune`` searches, and the quality budget a candidate must meet.

A suite's ``search:`` section (:class:`edgebench.suite_settings.SearchSpec`) lists the
parameter mappings to try per step; a step it leaves out takes the default below for the
model's source kind.  Built-in, PyTorch and Keras models can be retrained, so their default
space has pruning, clustering and distillation and the combinations ``X -> int8``; an
``.onnx`` / ``.tflite`` file only gets the quantizers (retraining needs the framework model).
Quantizer keys that only one format's quantizer knows (``calibrate_method`` is ONNX
Runtime's, ``int16x8`` LiteRT's) restrict the candidate to that format: built in the other
format it would be a byte-identical copy of a plainer candidate, measured twice for nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from edgebench.compressors.params import QuantizeParams
from edgebench.errors import UsageError
from edgebench.quality import MIN_COSINE
from edgebench.recipes import ModelSpec, VariantSpec
from edgebench.suite_settings import SEARCH_STEPS, SearchSpec

#: objective -> (summary.csv column, unit) -- smaller is better for all of them
OBJECTIVES: dict[str, tuple[str, str]] = {
    "latency": ("latency_p50_s", "s"),
    "energy": ("energy_per_inference_j", "J"),
    "size": ("size_bytes", "B"),
    "peak_memory": ("peak_rss_bytes", "B"),
}
#: the int8 step a ``combine``d training step is followed by
INT8 = {"quantize": {"mode": "static"}}
_QUANTIZE: list[dict[str, Any]] = [{"mode": "dynamic"}, {"mode": "static"},
             {"mode": "static", "calibrate_method": "entropy"},
             {"mode": "static", "calibrate_method": "percentile"},
             {"mode": "static", "per_channel": True}, {"mode": "static", "reduce_range": True},
             {"mode": "static", "quant_format": "qdq"}, {"mode": "fp16"}, {"mode": "int16x8"}]
#: the default space per source kind ('trainable': builtin, torch, keras)
DEFAULT_SPACE: dict[str, dict[str, list[dict[str, Any]]]] = {
    "trainable": {
        "quantize": _QUANTIZE,
        "prune": [{"kind": "structured", "sparsity": 0.25}, {"kind": "structured", "sparsity": 0.5},
                  {"kind": "unstructured", "sparsity": 0.5}],
        "cluster": [{"clusters": 16}],
        "distill": [{"width": 0.5}, {"width": 0.75}],
    },
    "file": {"quantize": _QUANTIZE, "prune": [], "cluster": [], "distill": []},
}


@dataclass(frozen=True)
class Budget:
    """``accuracy``: at most ``value`` points below fp32; ``fidelity``: cosine to fp32 >= value."""

    kind: str
    value: float

    def text(self) -> str:
        return f"{self.kind}:{self.value:g}"


def parse_budget(text: Optional[str]) -> Optional[Budget]:
    """``accuracy:1`` / ``fidelity:0.99`` (``--budget``); None = the model's default."""
    if text is None:
        return None
    kind, _, value = text.partition(":")
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    ok = (kind == "accuracy" and 0 <= number <= 100) or (kind == "fidelity" and 0 < number <= 1)
    if not ok:
        raise UsageError(f"--budget {text!r}: give accuracy:POINTS (0-100, e.g. accuracy:1) or "
                         "fidelity:COSINE (0-1, e.g. fidelity:0.99)")
    return Budget(kind, number)


def check_objective(name: str) -> str:
    if name not in OBJECTIVES:
        raise UsageError(f"--objective {name!r}: choose one of {', '.join(OBJECTIVES)}")
    return name


def source_class(model: ModelSpec) -> str:
    return "file" if model.source_kind in ("onnx", "tflite") else "trainable"


def step_name(step: dict[str, Any]) -> str:
    """A short, stable name for one step: ``int8``, ``int8-entropy-pc``, ``prune-st50``..."""
    (name, params), = step.items()
    params = dict(params or {})
    if name == "quantize":
        mode = params.pop("mode", "dynamic")
        parts: list[str] = [{"static": "int8", "dynamic": "dyn"}.get(mode, str(mode))]
        short = {"per_channel": "pc", "reduce_range": "rr"}
        for key, value in sorted(params.items()):
            if key in short and value is True:
                parts.append(short[key])
            elif key in ("calibrate_method", "quant_format"):
                parts.append(str(value))
            else:
                parts.append(f"{key}={value}")
        return "-".join(parts)
    if name == "prune":
        kind = "st" if params.pop("kind", "unstructured") == "structured" else "un"
        base = f"prune-{kind}{round(100 * params.pop('sparsity', 0.5))}"
    elif name == "cluster":
        base = f"cluster{params.pop('clusters', 16)}"
    elif name == "distill":
        base = f"distill{round(100 * params.pop('width', 0.5))}"
    else:
        base = name
    return "-".join([base] + [f"{k}={v}" for k, v in sorted(params.items())])


def _formats(steps: list[dict[str, Any]], model_formats: list[str]) -> Optional[list[str]]:
    """The formats a recipe means something in (None: all the model's)."""
    allowed = set(model_formats)
    for step in steps:
        (name, params), = step.items()
        if name != "quantize":
            continue
        params = params or {}
        if params.get("mode") == "int16x8" or any(k in params for k in QuantizeParams.TFLITE_ONLY):
            allowed &= {"tflite"}
        if any(k in params for k in QuantizeParams.ONNX_ONLY):
            allowed &= {"onnx"}
    return None if allowed == set(model_formats) else sorted(allowed)


def step_options(model: ModelSpec, search: Optional[SearchSpec]) -> dict[str, list[dict[str, Any]]]:
    """Per step, the parameter mappings to try: the suite's list, else the default."""
    default = DEFAULT_SPACE[source_class(model)]
    options = {}
    for name in SEARCH_STEPS:
        given = getattr(search, name, None) if search is not None else None
        options[name] = list(default[name] if given is None else given)
    if source_class(model) == "file" and any(options[n] for n in ("prune", "cluster", "distill")):
        raise UsageError(f"model {model.name!r} is a {model.source_kind} file: search: prune, "
                         "cluster and distill retrain a framework model; give them [] or tune a "
                         "builtin / torch / keras model")
    return options


def candidate_variants(model: ModelSpec, search: Optional[SearchSpec]) -> list[VariantSpec]:
    """fp32, each step option alone, and (``combine``) each training step then int8."""
    options = step_options(model, search)
    formats = model.resolved_formats()
    recipes: list[list[dict[str, Any]]] = [[]]
    for name in SEARCH_STEPS:
        recipes += [[{name: dict(p)}] for p in options[name]]
    if search is None or search.combine:
        singles = [[{n: dict(p)}] for n in ("prune", "cluster", "distill") for p in options[n]]
        recipes += [s + [INT8] for s in singles]
    out: list[VariantSpec] = []
    seen: set[str] = set()
    for steps in recipes:
        name = "+".join(step_name(s) for s in steps) or "fp32"
        fmts = _formats(steps, formats)
        if name in seen or fmts == []:
            continue  # the same recipe twice, or one no format of this model can build
        seen.add(name)
        out.append(VariantSpec(name=name, steps=steps, formats=fmts))  # type: ignore[arg-type]
    return out


def default_budget(manifest: dict[str, Any]) -> Budget:
    """Accuracy (1 point) where the data has labels, else fidelity (cosine 0.99)."""
    quality = manifest.get("quality") or {}
    if quality.get("accuracy") is not None:
        return Budget("accuracy", 1.0)
    return Budget("fidelity", MIN_COSINE)


def within_budget(manifest: dict[str, Any], budget: Budget) -> tuple[bool, str]:
    """Whether a built candidate may spend device time, and the figure that says so."""
    quality = manifest.get("quality") or {}
    if budget.kind == "accuracy":
        delta = quality.get("accuracy_delta")
        if delta is None:
            return False, "no accuracy measured (data without labels: use --budget fidelity:0.99)"
        return delta >= -budget.value, f"accuracy {delta:+.2f} pts vs fp32"
    cosine = quality.get("cosine")
    if cosine is None:
        return False, "no fidelity measured"
    return cosine >= budget.value, f"cosine {cosine:.4f} to fp32"
