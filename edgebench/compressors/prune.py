"""``prune``: magnitude pruning (unstructured) or channel removal (structured), then fine-tune.

Unstructured pruning zeroes the smallest-magnitude Conv/Dense weights (one global
threshold, or ``scope: layer`` for the same sparsity in every layer).  The exported model
keeps its shape: only ``nonzero_params`` and ``size_gzip_bytes`` shrink (dense runtimes
do not skip zeros -- the report says so).  Structured pruning (:mod:`prune_structured`)
rebuilds the model narrower, so params and MACs in the exported file really drop.
Fine-tuning uses the model's data (labels when known, the fp32 teacher otherwise) with
pruned weights held at zero.  A prune that zeroes / removes nothing is a ``noop``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgebench.compressors.params import PruneParams
from edgebench.errors import CompressionError


def prune(state: Any, params: dict[str, Any], ctx: Any) -> Any:
    from edgebench.compressors.stepbase import validate_params

    p = validate_params(PruneParams, params, "prune")
    fw = state.kind
    before = count_weights(state.obj, fw)
    report: dict[str, Any] = {"step": "prune", "params": p.model_dump(), "framework": fw,
                              "params_before": before[0], "nonzero_before": before[1]}
    if p.kind == "structured":
        from edgebench.compressors.prune_structured import prune_structured

        state.obj, removed = prune_structured(state.obj, fw, p.sparsity, ctx)
        report["channels_removed"] = removed
        masks: list = []
    else:
        masks = _magnitude_masks(state.obj, fw, p)
    report["accuracy_before_finetune"] = framework_accuracy(state.obj, fw, ctx)
    if p.finetune_epochs:
        finetune(state.obj, fw, ctx, p.finetune_epochs, p.lr, masks)
        report["accuracy_after_finetune"] = framework_accuracy(state.obj, fw, ctx)
    after = count_weights(state.obj, fw)
    report.update({"params_after": after[0], "nonzero_after": after[1],
                   "weight_sparsity": 1 - after[1] / after[0] if after[0] else None})
    if after[0] >= before[0] and after[1] >= before[1]:
        state.noop_reasons.append(f"prune ({p.kind}, sparsity {p.sparsity}) removed and "
                                  "zeroed nothing")
    if p.kind == "unstructured":
        state.warnings.append("prune: unstructured zeros keep tensor shapes; dense runtimes "
                              "run the same MACs (see size_gzip_bytes for the storage gain)")
    state.reports.append(report)
    return state


def weight_tensors(model: Any, fw: str) -> list[Any]:
    """Conv / Dense kernels (not biases, not depthwise) as framework variables/parameters."""
    if fw == "torch":
        from torch import nn

        return [m.weight for m in model.modules()
                if isinstance(m, (nn.Conv2d, nn.Linear, nn.Conv1d))]
    return [layer.kernel for layer in _keras_layers(model)
            if type(layer).__name__ in ("Conv2D", "Dense", "Conv1D") and hasattr(layer, "kernel")]


def _keras_layers(model: Any) -> list[Any]:
    out = []
    for layer in model.layers:
        out.extend(_keras_layers(layer) if hasattr(layer, "layers") else [layer])
    return out


def _to_np(t: Any, fw: str) -> np.ndarray:
    return t.detach().numpy() if fw == "torch" else t.numpy()


def count_weights(model: Any, fw: str) -> tuple[int, int]:
    """(elements, nonzero elements) of every trainable weight, biases included."""
    if fw == "torch":
        arrays = [p.detach().numpy() for p in model.parameters()]
    else:
        arrays = [np.asarray(w) for w in model.get_weights()]
    return int(sum(a.size for a in arrays)), int(sum(np.count_nonzero(a) for a in arrays))


def _magnitude_masks(model: Any, fw: str, p: PruneParams) -> list[tuple[Any, Any]]:
    """Zero the smallest weights in place; return (tensor, mask) pairs for fine-tuning."""
    tensors = weight_tensors(model, fw)
    if not tensors:
        raise CompressionError("no Conv/Dense weights to prune")
    values = [np.abs(_to_np(t, fw)) for t in tensors]
    if p.scope == "global":
        flat = np.concatenate([v.ravel() for v in values])
        k = int(round(p.sparsity * flat.size))
        thresholds = [np.partition(flat, k - 1)[k - 1] if k else -1.0] * len(values)
    else:
        thresholds = []
        for v in values:
            k = int(round(p.sparsity * v.size))
            thresholds.append(np.partition(v.ravel(), k - 1)[k - 1] if k else -1.0)
    pairs = []
    for t, v, thr in zip(tensors, values, thresholds, strict=False):
        mask = (v > thr).astype(np.float32)
        if fw == "torch":
            import torch

            mt = torch.from_numpy(mask)
            with torch.no_grad():
                t.mul_(mt)
            pairs.append((t, mt))
        else:
            t.assign(t.numpy() * mask)
            pairs.append((t, mask))
    return pairs


def finetune(model: Any, fw: str, ctx: Any, epochs: int, lr: float,
             masks: list[tuple[Any, Any]]) -> None:
    """Short fine-tune on the model's data: labels if any, else match the fp32 teacher."""
    from edgebench.models import train

    x, y = ctx.x("train"), ctx.y("train")
    if x is None:
        raise CompressionError("fine-tuning needs data: give the model 'data:' or set "
                               "finetune_epochs: 0")
    teacher = ctx.teacher if y is None else None
    if y is None and teacher is None:
        raise CompressionError("fine-tuning without labels needs the fp32 model as teacher")
    fit = train.torch_fit if fw == "torch" else train.keras_fit
    task = "classification" if ctx.task == "classification" else "regression"
    fit(model, x, y, epochs=epochs, lr=lr, teacher=teacher, task=task, masks=masks)


def framework_accuracy(model: Any, fw: str, ctx: Any) -> float | None:
    """Accuracy (percent) of the in-framework model on the eval split, when labelled."""
    from edgebench.models import train

    x, y = ctx.x("eval"), ctx.y("eval")
    if x is None or y is None or ctx.task != "classification":
        return None
    pred = (train.torch_predict if fw == "torch" else train.keras_predict)(model, x)
    return float(np.mean(pred.argmax(1) == y) * 100.0)
