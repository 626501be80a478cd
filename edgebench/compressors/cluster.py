"""``cluster``: k-means weight sharing -- each Conv/Dense kernel keeps at most ``clusters`` values.

Keras uses tensorflow-model-optimization (``cluster_weights`` -> fine-tune the centroids ->
``strip_clustering``); PyTorch uses per-layer 1-D k-means (Lloyd, linear init), an optional
fine-tune, then re-snaps to k-means centroids so sharing survives training.  Tensors keep
their shape and dtype, so the file only shrinks after compression (``size_gzip_bytes``) or
a following quantize step; the report gives the distinct values per layer as proof.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgebench.compressors.params import ClusterParams
from edgebench.compressors.prune import finetune, framework_accuracy, weight_tensors
from edgebench.errors import CompressionError

LLOYD_ITERATIONS = 25


def cluster(state: Any, params: dict[str, Any], ctx: Any) -> Any:
    from edgebench.compressors.stepbase import validate_params

    p = validate_params(ClusterParams, params, "cluster")
    fw = state.kind
    before = _distinct(state.obj, fw)
    if not before:
        raise CompressionError("no Conv/Dense weights to cluster")
    if max(before) <= p.clusters:
        state.noop_reasons.append(f"cluster: every kernel already has <= {p.clusters} distinct values")
    if fw == "torch":
        _torch_cluster(state.obj, p, ctx)
    else:
        state.obj = _keras_cluster(state.obj, p, ctx)
    state.reports.append({"step": "cluster", "params": p.model_dump(), "framework": fw,
                          "distinct_values_before": before,
                          "distinct_values_after": _distinct(state.obj, fw),
                          "accuracy_after": framework_accuracy(state.obj, fw, ctx)})
    return state


def _distinct(model: Any, fw: str) -> list[int]:
    arrays = [t.detach().numpy() if fw == "torch" else t.numpy() for t in weight_tensors(model, fw)]
    return [int(np.unique(a).size) for a in arrays]


def kmeans_1d(values: np.ndarray, k: int, init: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(centroids, assignment) of a 1-D k-means; deterministic for a given seed."""
    flat = values.ravel().astype(np.float64)
    k = min(k, np.unique(flat).size)
    rng = np.random.default_rng(seed)
    if init == "linear":
        centroids = np.linspace(flat.min(), flat.max(), k)
    elif init == "random":
        centroids = np.sort(rng.choice(flat, k, replace=False))
    else:  # kmeans++
        picked = [rng.choice(flat)]
        for _ in range(k - 1):
            d2 = np.min(np.abs(flat[:, None] - np.array(picked)[None]), axis=1) ** 2
            picked.append(rng.choice(flat, p=d2 / d2.sum()) if d2.sum() else rng.choice(flat))
        centroids = np.sort(np.array(picked))
    def nearest(c: np.ndarray) -> np.ndarray:  # sorted centroids: O(n log k), no n x k matrix
        return np.searchsorted((c[1:] + c[:-1]) / 2.0, flat)

    for _ in range(LLOYD_ITERATIONS):
        centroids = np.sort(centroids)
        assign = nearest(centroids)
        sums = np.bincount(assign, weights=flat, minlength=k)
        counts = np.bincount(assign, minlength=k)
        centroids = np.where(counts > 0, sums / np.maximum(counts, 1), centroids)
    centroids = np.sort(centroids)
    assign = nearest(centroids)
    return centroids.astype(np.float32), assign.reshape(values.shape)


def _torch_cluster(model: Any, p: ClusterParams, ctx: Any) -> None:
    import torch

    def snap() -> None:
        with torch.no_grad():
            for t in weight_tensors(model, "torch"):
                centroids, assign = kmeans_1d(t.detach().numpy(), p.clusters, p.init)
                t.copy_(torch.from_numpy(centroids[assign]))

    snap()
    if p.finetune_epochs and ctx.x("train") is not None:
        finetune(model, "torch", ctx, p.finetune_epochs, p.lr, [])
        snap()


def _keras_cluster(model: Any, p: ClusterParams, ctx: Any) -> Any:
    from edgebench.models.train import keras_env

    keras_env()
    import tensorflow_model_optimization as tfmot

    init = {"linear": "LINEAR", "random": "RANDOM", "kmeans++": "KMEANS_PLUS_PLUS"}[p.init]
    cc = tfmot.clustering.keras
    try:
        wrapped = cc.cluster_weights(
            model, number_of_clusters=p.clusters,
            cluster_centroids_init=getattr(cc.CentroidInitialization, init))
    except Exception as exc:  # noqa: BLE001 - tfmot rejects unsupported layers with ValueError
        raise CompressionError(f"tfmot clustering failed: {type(exc).__name__}: {exc}") from exc
    if p.finetune_epochs and ctx.x("train") is not None:
        finetune(wrapped, "keras", ctx, p.finetune_epochs, p.lr, [])
    return cc.strip_clustering(wrapped)
