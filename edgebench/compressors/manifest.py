"""The manifest of a built variant: measured on the file, next to the file.

Besides the figures from :mod:`model_stats` and :mod:`evaluate` it writes two npz files beside
the model for the on-device run: ``<file>.eval.npz`` (``x`` in this file's input layout
*and dtype* -- already quantized for integer-input TFLite models --, ``y`` labels when
known, ``ref`` the fp32 variant's float outputs) and ``<file>.input.npz`` (a few real
samples keyed by input name).  Integer outputs must be dequantized with
``manifest['io']['outputs'][0]`` scale / zero point before comparing with ``ref``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from edgebench.compressors import evaluate, model_stats

INPUT_SAMPLES = 8
RANDOM_EVAL_SAMPLES = 32


def measure(state: Any, ctx: Any, path: Path, baseline: Any) -> dict[str, Any]:
    stats, io = _file_stats(state, ctx, path)
    warnings = list(state.warnings)
    ctx.step("measure")
    # every input gets samples (data, the suite's values, else seeded ones), so every
    # variant gets fidelity to fp32 on the same inputs, whatever its number of inputs
    samples, plans, feed_warnings = ctx.feeds("eval", path, RANDOM_EVAL_SAMPLES)
    y = ctx.y("eval")
    if ctx.x("eval") is None:
        warnings.append("no data given: fidelity measured on seeded random inputs, no accuracy")
    warnings.extend(feed_warnings)
    if ctx.task == "presence":
        _check_presence_output(io, ctx.output)
    q, ref, refs = _fidelity(ctx, path, baseline, samples, y, warnings)
    _write_npz(path, io, plans, samples, y, ref, refs if baseline is None else None)
    params, nonzero = stats["params"], stats["nonzero_params"]
    noop_reasons = list(state.noop_reasons)
    mcu = _mcu_footprint(path) if ctx.fmt == "tflite" else None
    return {
        "path": str(path),
        "sha256": _sha(path),
        "size_bytes": path.stat().st_size,
        "size_gzip_bytes": model_stats.gzip_size(path),
        **stats,
        "sparsity": (1.0 - nonzero / params) if params else None,
        "quantized_op_count": sum(stats["quantized_ops"].values()),
        "noop": bool(noop_reasons),
        "noop_reason": "; ".join(noop_reasons) or None,
        "steps": state.reports,
        "warnings": warnings,
        "io": io,
        "inputs": [p.to_dict() for p in plans],
        "task": ctx.task,
        "judged_output": ctx.output,  # None: the first output
        "eval_data": None if ctx.data is None else ctx.data.name,
        "quality": q,
        **{k: q.get(k) for k in ("accuracy", "accuracy_delta", "top1_agreement", "cosine")},
        **({"mcu": mcu} if mcu is not None else {}),
    }


def _pte_stats(path: Path) -> dict[str, Any]:
    from edgebench.compressors.pte import pte_stats  # executorch only when a .pte is built

    return pte_stats(path)


#: The format's inspector: what a built file contains (ops, weights, MACs, inputs).
_STATS: dict[str, Callable[[Path], dict[str, Any]]] = {
    "onnx": model_stats.onnx_stats, "tflite": model_stats.tflite_stats, "pte": _pte_stats}


def _file_stats(state: Any, ctx: Any, path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """What the built file contains (model_stats), and its inputs and outputs."""
    stats = _STATS[ctx.fmt](path)
    stats["macs_source"] = "file"
    if state.float_stats and state.float_stats.get("macs") is not None:
        # Quantization keeps the MACs; contrib ops (QLinearAdd, QGemm...) defeat ONNX shape
        # inference, so the float graph just before quantizing is the reliable count.
        stats["macs"] = state.float_stats["macs"]
        stats["macs_source"] = "float graph before quantization"
    io = stats.pop("io", None) or (model_stats.onnx_io(path) if ctx.fmt == "onnx" else {})
    return stats, io


def _fidelity(ctx: Any, path: Path, baseline: Any, samples: Any, y: Any,
              warnings: list[str]) -> tuple[dict[str, Any], Any, dict[str, Any]]:
    """The variant's outputs on ``samples`` judged against fp32's (``baseline``; None: this
    is fp32) and ``y``: the quality dict, the judged reference and every output's reference.
    Appends what the reader must know to ``warnings``."""
    all_outputs = evaluate.run_outputs(path, ctx.fmt, samples)
    names = list(all_outputs)
    judged = names[evaluate.pick_output(names, ctx.output, path)]
    outputs = all_outputs[judged].reshape(len(all_outputs[judged]), -1)
    if ctx.task == "presence" and outputs.size and outputs.min() >= 0.0 and outputs.max() <= 1.0:
        warnings.append("task presence: every judged output lies in [0, 1] -- if these are "
                        "probabilities, not logits, the sigmoid makes every sample 'present'")
    if baseline is None:
        refs, ref_acc, why = all_outputs, None, None
    else:
        refs, ref_acc, why = _baseline_refs(baseline)
    ref = refs.get(judged)
    ref = None if ref is None else ref.reshape(len(ref), -1)
    q = evaluate.quality(outputs, y=y, ref=ref, ref_accuracy=ref_acc,
                         classification=ctx.task == "classification", presence=ctx.task == "presence")
    q["outputs"] = {name: evaluate.fidelity(value, refs.get(name), why or f"fp32 has no output {name!r}")
                    for name, value in all_outputs.items()}
    q["judged_output"] = judged
    if q["cosine"] is None and q.get("relative_error") is None:
        q["fidelity_missing"] = why or q["outputs"][judged]["note"]
        warnings.append(f"fidelity to fp32 not measured: {q['fidelity_missing']}")
    if baseline is None and q.get("accuracy") is not None:
        q["accuracy_delta"] = 0.0
    warnings.extend(quality_warnings(q, ref_acc))
    return q, ref, refs


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
    :mod:`edgebench.quality`): the judged output, then every other output by fidelity
    (labels only cover the judged one; a recurrent model's state can collapse alone)."""
    from edgebench import quality

    delta, cosine = q.get("accuracy_delta"), q.get("cosine")
    out = []
    if ref_accuracy is not None and quality.accuracy_lost(delta):
        out.append(f"QUALITY LOSS: accuracy {q['accuracy']:.2f} % vs {ref_accuracy:.2f} % for fp32 "
                   f"({delta:+.2f} points, budget {quality.MAX_ACCURACY_DROP_PTS:g})")
    elif quality.fidelity_lost(q.get("accuracy"), cosine, q.get("relative_error")):
        out.append(_loss_line("outputs'", cosine, q.get("relative_error")))
    judged = q.get("judged_output")
    for name, f in (q.get("outputs") or {}).items():
        if name != judged and quality.fidelity_lost(None, f.get("cosine"), f.get("relative_error")):
            out.append(_loss_line(f"output {name!r}", f.get("cosine"), f.get("relative_error")))
    return out


def _loss_line(what: str, cosine: Optional[float], relative_error: Optional[float]) -> str:
    from edgebench import quality

    if cosine is not None:
        return f"QUALITY LOSS: {what} cosine to fp32 is {cosine:.4f} (< {quality.MIN_COSINE:g})"
    return (f"QUALITY LOSS: {what} error relative to fp32 is {relative_error:.4f} "
            f"(> {quality.MAX_RELATIVE_ERROR:g}; one value per sample, so no cosine)")


def _baseline_refs(baseline: Any) -> tuple[dict[str, np.ndarray], Optional[float], Optional[str]]:
    """fp32's outputs by name (same inputs), its accuracy, and why they are missing."""
    if baseline is None:
        return {}, None, "no fp32 baseline"
    if baseline.error:
        return {}, None, f"the fp32 baseline was not built ({baseline.error[:160]})"
    if baseline.eval_npz is None:
        return {}, None, "the fp32 baseline has no saved outputs (rebuild it with --no-cache)"
    with np.load(baseline.eval_npz) as data:
        refs = {k[len("ref:"):]: data[k] for k in data.files if k.startswith("ref:")}
        if not refs and "ref" in data:  # written before per-output references
            first = (baseline.manifest.get("io", {}).get("outputs") or [{}])[0].get("name")
            refs = {baseline.manifest.get("judged_output") or first: data["ref"]}
    return refs, baseline.manifest.get("accuracy"), None


def _write_npz(path: Path, io: dict[str, Any], plans: list[Any], samples: dict[str, np.ndarray],
               y: Optional[np.ndarray], ref: Optional[np.ndarray],
               refs: Optional[dict[str, np.ndarray]]) -> None:
    """``<file>.eval.npz`` (``input:<name>`` samples in the model's dtype, ``x`` as well for
    one-input models with a batch of one, ``y``, ``ref`` the judged fp32 output and, for
    the fp32 file, ``ref:<output>`` for every output) and ``<file>.input.npz`` (the first
    samples by input name, for the device's timed loop)."""
    from edgebench.compressors.feeds import to_dtype

    infos = {i["name"]: i for i in io.get("inputs") or []}
    model = {p.name: to_dtype(samples[p.name], {**infos.get(p.name, {}), "dtype": p.dtype,
                                                "scale": p.scale, "zero_point": p.zero_point})
             for p in plans}
    arrays: dict[str, np.ndarray] = {f"input:{k}": v for k, v in model.items()}
    if len(model) == 1:
        only = next(iter(model.values()))
        if only.ndim >= 2 and only.shape[1] == 1:
            arrays["x"] = only[:, 0]  # the layout agents before per-input samples read
    if y is not None:
        arrays["y"] = np.asarray(y)
    if ref is not None:
        arrays["ref"] = ref.astype(np.float32)
    for name, value in (refs or {}).items():
        arrays[f"ref:{name}"] = value.astype(np.float32)
    # numpy's stub: mypy matches **dict[str, ndarray] against the allow_pickle: bool keyword
    np.savez_compressed(f"{path}.eval.npz", **arrays)  # type: ignore[arg-type]
    np.savez_compressed(f"{path}.input.npz",
                        **{k: v[:INPUT_SAMPLES] for k, v in model.items()})  # type: ignore[arg-type]


def _sha(path: Path) -> str:
    from edgebench.compressors.sources import sha256_file

    return sha256_file(path)
