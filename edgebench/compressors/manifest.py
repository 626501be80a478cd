"""The manifest of a built variant: measured on the file, next to the file.

Besides the figures from :mod:`inspect` and :mod:`evaluate` it writes two npz files beside
the model for the on-device run: ``<file>.eval.npz`` (``x`` in this file's input layout
*and dtype* -- already quantized for integer-input TFLite models --, ``y`` labels when
known, ``ref`` the fp32 variant's float outputs) and ``<file>.input.npz`` (a few real
samples keyed by input name).  Integer outputs must be dequantized with
``manifest['io']['outputs'][0]`` scale / zero point before comparing with ``ref``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np

from edgebench.compressors import evaluate, inspect

INPUT_SAMPLES = 8
RANDOM_EVAL_SAMPLES = 32


def measure(state: Any, ctx: Any, path: Path, baseline: Any) -> dict[str, Any]:
    from edgebench.variants import gzip_size

    stats = inspect.onnx_stats(path) if ctx.fmt == "onnx" else inspect.tflite_stats(path)
    stats["macs_source"] = "file"
    if state.float_stats and state.float_stats.get("macs") is not None:
        # Quantization keeps the MACs; contrib ops (QLinearAdd, QGemm...) defeat ONNX shape
        # inference, so the float graph just before quantizing is the reliable count.
        stats["macs"] = state.float_stats["macs"]
        stats["macs_source"] = "float graph before quantization"
    io = stats.pop("io", None) or (onnx_io(path) if ctx.fmt == "onnx" else {})
    warnings = list(state.warnings)
    x, y = ctx.x("eval"), ctx.y("eval")
    if x is None:
        x = random_inputs(io, RANDOM_EVAL_SAMPLES)
        if x is not None:
            warnings.append("no data given: fidelity measured on random inputs, no accuracy")
    classification = ctx.task == "classification"
    q: dict[str, Any] = {}
    outputs = None
    if ctx.task == "presence":
        _check_presence_output(io, ctx.output)
    if x is not None:
        outputs = evaluate.run_model(path, ctx.fmt, x, ctx.output)
        if ctx.task == "presence" and outputs.size and outputs.min() >= 0.0 and outputs.max() <= 1.0:
            warnings.append("task presence: every judged output lies in [0, 1] -- if these are "
                            "probabilities, not logits, the sigmoid makes every sample 'present'")
        ref, ref_acc = (outputs, None) if baseline is None else _baseline_ref(baseline)
        q = evaluate.quality(outputs, y=y, ref=ref, ref_accuracy=ref_acc,
                             classification=classification, presence=ctx.task == "presence")
        if baseline is None and q.get("accuracy") is not None:
            q["accuracy_delta"] = 0.0
        warnings.extend(quality_warnings(q, ref_acc))
        _write_npz(path, io, x, y, ref)
    params, nonzero = stats["params"], stats["nonzero_params"]
    noop_reasons = list(state.noop_reasons)
    mcu = _mcu_footprint(path) if ctx.fmt == "tflite" else None
    return {
        "path": str(path),
        "sha256": _sha(path),
        "size_bytes": path.stat().st_size,
        "size_gzip_bytes": gzip_size(path),
        **stats,
        "sparsity": (1.0 - nonzero / params) if params else None,
        "quantized_op_count": sum(stats["quantized_ops"].values()),
        "noop": bool(noop_reasons),
        "noop_reason": "; ".join(noop_reasons) or None,
        "steps": state.reports,
        "warnings": warnings,
        "io": io,
        "task": ctx.task,
        "judged_output": ctx.output,  # None: the first output
        "eval_data": None if ctx.data is None else ctx.data.name,
        "quality": q,
        **{k: q.get(k) for k in ("accuracy", "accuracy_delta", "top1_agreement", "cosine")},
        **({"mcu": mcu} if mcu is not None else {}),
    }


def _mcu_footprint(path: Path) -> dict[str, Any]:
    """Flash and tensor-arena figures of a .tflite file (:mod:`edgebench.compressors.mcu`);
    a file the estimator cannot read says so instead of failing the variant."""
    from edgebench.compressors.mcu import footprint

    try:
        return footprint(path)
    except Exception as exc:  # noqa: BLE001 - an estimate must never fail a built variant
        return {"flash_bytes": path.stat().st_size,
                "error": f"arena not estimated: {type(exc).__name__}: {exc}"}


def _check_presence_output(io: dict[str, Any], output: Optional[str]) -> None:
    """A detector has boxes and scores: guessing 'the first output' judged BlazeFace on its
    box regressors, so with several outputs the suite must name the scores."""
    from edgebench.errors import ModelError

    names = [o.get("name") for o in io.get("outputs") or []]
    if output is None and len(names) > 1:
        raise ModelError(f"task 'presence' on a model with {len(names)} outputs ({', '.join(map(str, names))}): "
                         "name the score logits with 'output:'")


def quality_warnings(q: dict[str, Any], ref_accuracy: Optional[float]) -> list[str]:
    """'QUALITY LOSS' lines for a variant worse than fp32 beyond the budget (rules:
    :mod:`edgebench.quality`)."""
    from edgebench import quality

    delta, cosine = q.get("accuracy_delta"), q.get("cosine")
    if ref_accuracy is not None and quality.accuracy_lost(delta):
        return [f"QUALITY LOSS: accuracy {q['accuracy']:.2f} % vs {ref_accuracy:.2f} % for fp32 "
                f"({delta:+.2f} points, budget {quality.MAX_ACCURACY_DROP_PTS:g})"]
    if quality.fidelity_lost(q.get("accuracy"), cosine):
        return [f"QUALITY LOSS: outputs' cosine to fp32 is {cosine:.4f} (< {quality.MIN_COSINE:g})"]
    return []


def _baseline_ref(baseline: Any) -> tuple[Optional[np.ndarray], Optional[float]]:
    if baseline is None or baseline.error or baseline.eval_npz is None:
        return None, None
    with np.load(baseline.eval_npz) as data:
        ref = data["ref"] if "ref" in data else None
    return ref, baseline.manifest.get("accuracy")


def onnx_io(path: Path) -> dict[str, Any]:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    inits = {t.name for t in model.graph.initializer}

    def describe(vi: Any) -> dict[str, Any]:
        tt = vi.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or -1) for d in tt.shape.dim]
        return {"name": vi.name, "shape": dims,
                "dtype": onnx.helper.tensor_dtype_to_np_dtype(tt.elem_type).name if tt.elem_type else None}

    return {"inputs": [describe(v) for v in model.graph.input if v.name not in inits],
            "outputs": [describe(v) for v in model.graph.output]}


def random_inputs(io: dict[str, Any], n: int) -> Optional[np.ndarray]:
    """Gaussian inputs of the first input's shape (dynamic dims = 1), for fidelity only."""
    inputs = io.get("inputs") or []
    if len(inputs) != 1:
        return None
    is_float = (inputs[0].get("dtype") or "").startswith("float")
    if not is_float and not inputs[0].get("scale"):
        return None  # integer ids / tokens: random floats would be meaningless
    shape = [d if isinstance(d, int) and d > 0 else 1 for d in inputs[0]["shape"]][1:]
    return np.random.default_rng(0).standard_normal((n, *shape)).astype(np.float32)


def _write_npz(path: Path, io: dict[str, Any], x: np.ndarray, y: Optional[np.ndarray],
               ref: Optional[np.ndarray]) -> None:
    first = (io.get("inputs") or [{}])[0]
    name = first.get("name") or "input"
    x_model = x
    if "scale" in first:  # TFLite: feed the dtype the interpreter expects
        detail = {"dtype": np.dtype(first["dtype"]),
                  "quantization": (first["scale"], first["zero_point"])}
        x_model = evaluate.quantize_input(x, detail)
    arrays: dict[str, np.ndarray] = {"x": x_model}
    if y is not None:
        arrays["y"] = np.asarray(y)
    if ref is not None:
        arrays["ref"] = ref.astype(np.float32)
    np.savez_compressed(f"{path}.eval.npz", **arrays)
    np.savez_compressed(f"{path}.input.npz", **{name: x_model[:INPUT_SAMPLES]})


def _sha(path: Path) -> str:
    from edgebench.compressors.sources import sha256_file

    return sha256_file(path)
