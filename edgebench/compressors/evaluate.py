"""Run a built file on the controller (onnxruntime / LiteRT) and score it.

Quality is always measured on the *file* that ships, with the runtime that will run it:
accuracy on labelled evaluation data (percent), ``accuracy_delta`` to the fp32 variant of
the same model and format (points, negative = lost), ``top1_agreement`` (fraction of
samples whose argmax matches fp32) and ``cosine`` (mean per-sample cosine similarity of
the raw outputs to fp32).  Integer I/O models get inputs quantized and outputs
dequantized with the tensors' own scale and zero point.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np

from edgebench.agent.evaluate import presence_scores
from edgebench.errors import ModelError

__all__ = ["presence_scores", "quality", "run_model", "run_onnx", "run_tflite"]

ONNX_BATCH = 256
_ORT_DTYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16,
               "tensor(double)": np.float64, "tensor(int64)": np.int64, "tensor(int32)": np.int32,
               "tensor(int8)": np.int8, "tensor(uint8)": np.uint8, "tensor(bool)": np.bool_}


def run_onnx(path: Path, x: np.ndarray, output: Optional[str] = None) -> np.ndarray:
    """Output ``output`` (default: the first) of ``path`` for every row of ``x`` (batched
    when the batch dim is dynamic)."""
    import onnxruntime as ort

    try:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.log_severity_level = 3
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        inp = sess.get_inputs()[0]
        dtype = _ORT_DTYPES.get(inp.type, np.float32)
        batch = inp.shape[0] if inp.shape else None
        step = ONNX_BATCH if not isinstance(batch, int) else max(1, batch)
        names = [o.name for o in sess.get_outputs()]
        fetch = [names[pick_output(names, output, path)]]
        outs = []
        for start in range(0, len(x), step):
            chunk = x[start:start + step].astype(dtype)
            if isinstance(batch, int) and len(chunk) != batch:
                break  # fixed batch > 1: the remainder is not scored (quality() truncates)
            outs.append(np.asarray(sess.run(fetch, {inp.name: chunk})[0], dtype=np.float32))
    except ModelError:
        raise
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own untyped errors
        raise ModelError(f"onnxruntime cannot run {Path(path).name}: {_one_line(exc)}") from exc
    stacked = np.concatenate(outs)
    return stacked.reshape(len(stacked), -1)


def run_tflite(path: Path, x: np.ndarray, output: Optional[str] = None) -> np.ndarray:
    """Output ``output`` (default: the first) of ``path`` for every row of ``x``, one
    invoke per sample (batch 1)."""
    from ai_edge_litert.interpreter import Interpreter

    try:
        interp = Interpreter(model_path=str(path), num_threads=1)
        interp.allocate_tensors()
        inp = interp.get_input_details()[0]
        details = interp.get_output_details()
        out = details[pick_output([d["name"] for d in details], output, path)]
        results = []
        for row in x:
            interp.set_tensor(inp["index"], quantize_input(row[None], inp))
            interp.invoke()
            results.append(dequantize_output(interp.get_tensor(out["index"]), out))
    except ModelError:
        raise
    except Exception as exc:  # noqa: BLE001 - LiteRT raises RuntimeError/ValueError
        raise ModelError(f"LiteRT cannot run {Path(path).name}: {_one_line(exc)}") from exc
    return np.stack(results).reshape(len(results), -1)


def quantize_input(x: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    """Float input -> the tensor's dtype (int8/uint8/int16 use its scale and zero point)."""
    dtype = np.dtype(detail["dtype"])
    if dtype.kind in "iu":
        scale, zp = detail["quantization"]
        info = np.iinfo(dtype)
        q = np.round(x / (scale or 1.0) + zp)
        return np.clip(q, info.min, info.max).astype(dtype)
    return x.astype(dtype)


def dequantize_output(y: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    dtype = np.dtype(detail["dtype"])
    if dtype.kind in "iu":
        scale, zp = detail["quantization"]
        return ((y.astype(np.float32) - zp) * (scale or 1.0)).astype(np.float32)
    return y.astype(np.float32)


def pick_output(names: list[str], output: Optional[str], path: Path) -> int:
    """Index of the judged output: by name, or the first when none is named."""
    if output is None:
        return 0
    if output not in names:
        raise ModelError(f"the model has no output {output!r} (outputs: {', '.join(names)}); "
                         "fix the model's 'output:' in the suite")
    return names.index(output)


def run_model(path: Path, fmt: str, x: np.ndarray, output: Optional[str] = None) -> np.ndarray:
    """The judged output of ``path`` on every row of ``x``, flattened per sample, with the
    runtime the variant ships to (quality is measured on the file, never on a framework)."""
    return run_onnx(path, x, output) if fmt == "onnx" else run_tflite(path, x, output)


def quality(outputs: np.ndarray, *, y: Optional[np.ndarray], ref: Optional[np.ndarray],
            ref_accuracy: Optional[float], classification: bool,
            presence: bool = False) -> dict[str, Any]:
    """Accuracy and fidelity figures; a figure that cannot be measured is None, never guessed.

    ``presence``: ``outputs`` are a detector's per-anchor logits; the sample's score is
    :func:`presence_scores`, the decision ``score > 0.5``, accuracy is against 1/0 labels
    and ``top1_agreement`` is the fraction of samples whose decision matches fp32.
    """
    n = len(outputs)
    y = None if y is None else np.asarray(y)[:n]
    ref = None if ref is None else ref[:n]
    q: dict[str, Any] = {"eval_samples": int(n), "accuracy": None,
                         "accuracy_delta": None, "top1_agreement": None, "cosine": None,
                         "max_abs_diff": None}
    if presence:
        decided = presence_scores(outputs) > 0.5
        if y is not None and not np.isin(y, (0, 1)).all():
            raise ModelError("task 'presence' needs labels 1 (present) / 0 (absent); the data "
                             f"has {', '.join(map(str, np.unique(y)[:8]))}: use task: classification")
        if y is not None:
            q["accuracy"] = float(np.mean(decided == (y > 0)) * 100.0)
            if ref_accuracy is not None:
                q["accuracy_delta"] = q["accuracy"] - ref_accuracy
        if ref is not None and ref.shape == outputs.shape:
            q["top1_agreement"] = float(np.mean(decided == (presence_scores(ref) > 0.5)))
        classification = False  # the argmax figures below do not apply to anchor logits
    if classification and y is not None and outputs.shape[1] > 1:
        q["accuracy"] = float(np.mean(outputs.argmax(1) == np.asarray(y)) * 100.0)
        if ref_accuracy is not None:
            q["accuracy_delta"] = q["accuracy"] - ref_accuracy
    if ref is not None and ref.shape == outputs.shape:
        if classification and outputs.shape[1] > 1:
            q["top1_agreement"] = float(np.mean(outputs.argmax(1) == ref.argmax(1)))
        num = np.sum(outputs * ref, axis=1)
        den = np.linalg.norm(outputs, axis=1) * np.linalg.norm(ref, axis=1)
        q["cosine"] = float(np.mean(num / np.maximum(den, 1e-12)))
        q["max_abs_diff"] = float(np.max(np.abs(outputs - ref)))
    return q


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300] or type(exc).__name__
