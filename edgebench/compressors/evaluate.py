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

__all__ = ["cosine_rows", "fidelity", "presence_scores", "quality", "run_model", "run_onnx",
           "run_outputs", "run_tflite"]

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
        if not isinstance(batch, int) and _couples_the_batch(path):
            step = 1  # as the device runs it: dynamic quantization scales each call's tensor
        names = [o.name for o in sess.get_outputs()]
        fetch = [names[pick_output(names, output, path)]]
        outs = []
        for start in range(0, len(x), step):
            chunk: np.ndarray = x[start:start + step].astype(dtype)
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


def run_outputs(path: Path, fmt: str, samples: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every output of ``path`` for every sample of ``samples`` (input name -> ``[N, *shape]``,
    see :mod:`edgebench.compressors.feeds`): output name -> ``[N, *output shape]`` float32
    (integer outputs dequantized).  ONNX runs several samples per call when every input and
    output has a dynamic leading (batch) dim and each sample is a batch of one."""
    try:
        if fmt == "onnx":
            return _onnx_outputs(path, samples)
        if fmt == "pte":
            from edgebench.compressors.pte import pte_outputs

            return pte_outputs(path, samples)
        return _tflite_outputs(path, samples)
    except ModelError:
        raise
    except Exception as exc:  # noqa: BLE001 - runtimes raise their own untyped errors
        runtime = {"onnx": "onnxruntime", "pte": "executorch"}.get(fmt, "LiteRT")
        raise ModelError(f"{runtime} cannot run {Path(path).name}: {_one_line(exc)}") from exc


def _stack(rows: dict[str, list[np.ndarray]]) -> dict[str, np.ndarray]:
    out = {}
    for name, values in rows.items():
        shapes = {v.shape for v in values}
        if len(shapes) > 1:  # e.g. a detector's variable number of boxes
            raise ModelError(f"output {name!r} changes shape from sample to sample "
                             f"({', '.join(map(str, sorted(shapes)[:3]))}): judge another output "
                             "with 'output:'")
        out[name] = np.stack(values) if values else np.zeros((0,), np.float32)
    return out


def _onnx_outputs(path: Path, samples: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    import onnxruntime as ort

    from edgebench.compressors.feeds import feed_for, n_samples, to_dtype

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    inputs = [{"name": i.name, "dtype": np.dtype(_ORT_DTYPES.get(i.type, np.float32)).name}
              for i in sess.get_inputs()]
    names = [o.name for o in sess.get_outputs()]
    n = n_samples(samples)
    batchable = all(i.shape and not isinstance(i.shape[0], int) for i in sess.get_inputs()) and all(
        o.shape and not isinstance(o.shape[0], int) for o in sess.get_outputs()) and all(
        samples[i["name"]].ndim >= 2 and samples[i["name"]].shape[1] == 1 for i in inputs) and not (
        _couples_the_batch(path))
    rows: dict[str, list[np.ndarray]] = {k: [] for k in names}
    if batchable:
        for start in range(0, n, ONNX_BATCH):
            feed = {i["name"]: to_dtype(samples[i["name"]][start:start + ONNX_BATCH, 0], i)
                    for i in inputs}
            for name, value in zip(names, sess.run(names, feed), strict=False):
                rows[name].extend(np.asarray(value, dtype=np.float32)[:, None])
        return _stack(rows)
    for index in range(n):
        for name, value in zip(names, sess.run(names, feed_for(samples, index, inputs)), strict=False):
            rows[name].append(np.asarray(value, dtype=np.float32))
    return _stack(rows)


#: ops whose result for one sample depends on the others in its batch: dynamic
#: quantization takes one scale over the whole tensor, so a batch of 16 is quantized
#: differently from the batch of one a device runs (MiniLM int8: cosine 0.9407 vs 0.9415)
BATCH_COUPLED_OPS = frozenset({"DynamicQuantizeLinear", "DynamicQuantizeMatMul"})


def _couples_the_batch(path: Path) -> bool:
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    return any(node.op_type in BATCH_COUPLED_OPS for node in graph.node)


def _tflite_outputs(path: Path, samples: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    from ai_edge_litert.interpreter import Interpreter

    from edgebench.compressors.feeds import n_samples, to_dtype

    interp = Interpreter(model_path=str(path), num_threads=1)
    interp.allocate_tensors()
    details = interp.get_input_details()
    infos = [{"name": d["name"], "dtype": np.dtype(d["dtype"]).name,
              "scale": float(d.get("quantization", (0.0, 0))[0]),
              "zero_point": int(d.get("quantization", (0.0, 0))[1])} for d in details]
    missing = [i["name"] for i in infos if i["name"] not in samples]
    if missing:
        raise ModelError(f"no samples for input(s) {', '.join(missing)}")
    resized = False
    for d in details:
        shape = list(samples[d["name"]].shape[1:])
        if list(d["shape"]) != shape:
            interp.resize_tensor_input(d["index"], shape, strict=False)
            resized = True
    if resized:
        interp.allocate_tensors()
    outs = interp.get_output_details()
    rows: dict[str, list[np.ndarray]] = {o["name"]: [] for o in outs}
    for index in range(n_samples(samples)):
        for d, info in zip(details, infos, strict=False):
            interp.set_tensor(d["index"], to_dtype(np.asarray(samples[d["name"]][index]), info))
        interp.invoke()
        for o in outs:
            rows[o["name"]].append(dequantize_output(interp.get_tensor(o["index"]), o))
    return _stack(rows)


def cosine_rows(outputs: np.ndarray, ref: np.ndarray) -> float:
    """Mean per-sample cosine similarity.  Degenerate rows are defined, not divided by
    zero: two all-zero rows are identical (1.0), a zero row against a non-zero one has
    nothing in common (0.0) -- an all-zeros output once read "cosine 0.0000" against itself."""
    o = outputs.reshape(len(outputs), -1).astype(np.float64)
    r = ref.reshape(len(ref), -1).astype(np.float64)
    no, nr = np.linalg.norm(o, axis=1), np.linalg.norm(r, axis=1)
    both = (no > 0) & (nr > 0)
    cos = np.where(both, (o * r).sum(axis=1) / np.where(both, no * nr, 1.0),
                   np.where((no == 0) & (nr == 0), 1.0, 0.0))
    return float(np.mean(cos)) if len(cos) else 1.0


def fidelity(outputs: np.ndarray, ref: Optional[np.ndarray],
             why_no_ref: str = "no fp32 reference") -> dict[str, Any]:
    """Fidelity of one output to fp32 on the same inputs.

    ``cosine``: mean per-sample cosine (:func:`cosine_rows`); with one value per sample a
    cosine is always +-1, so there it is None and ``relative_error`` (max abs error / max
    abs fp32 value) judges instead.  ``max_abs_diff``, ``mean_abs_diff``: absolute errors.
    A figure that cannot be computed is None and ``note`` says why."""
    res: dict[str, Any] = {"cosine": None, "max_abs_diff": None, "mean_abs_diff": None,
                           "relative_error": None, "values_per_sample": None, "note": None}
    o = np.asarray(outputs, dtype=np.float64)
    o = o.reshape(len(o), -1)
    res["values_per_sample"] = int(o.shape[1])
    if ref is None:
        res["note"] = why_no_ref
        return res
    r = np.asarray(ref, dtype=np.float64)
    r = r.reshape(len(r), -1)[: len(o)]
    if r.shape != o.shape:
        res["note"] = f"output shape {list(o.shape)} differs from fp32's {list(r.shape)}"
        return res
    diff = np.abs(o - r)
    res["max_abs_diff"] = float(diff.max()) if diff.size else 0.0
    res["mean_abs_diff"] = float(diff.mean()) if diff.size else 0.0
    scale = float(np.abs(r).max()) if r.size else 0.0
    res["relative_error"] = (res["max_abs_diff"] / scale if scale > 0
                             else (0.0 if res["max_abs_diff"] == 0 else float("inf")))
    if o.shape[1] <= 1:
        res["note"] = "one value per sample: judged by relative error, not cosine"
    else:
        res["cosine"] = cosine_rows(o, r)
    return res


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
    if fmt == "pte":
        from edgebench.compressors.pte import run_pte

        return run_pte(path, x, output)
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
    f = fidelity(outputs, ref)
    q.update(cosine=f["cosine"], max_abs_diff=f["max_abs_diff"], relative_error=f["relative_error"],
             fidelity_note=f["note"])
    return q


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300] or type(exc).__name__
