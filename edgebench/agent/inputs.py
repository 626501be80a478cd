"""Inputs for a benchmark: seeded random data or real samples, shaped to the model.

Random data is reproducible (one seed per job) and spans each dtype's natural range:
floats in [0, 1), signed/unsigned 8/16-bit integers over their full range (a full-integer
model sees realistic codes), wider integers in [0, 100) because they are usually indices
(token ids, class ids) that must stay in range.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import numpy as np

from .backends.base import BackendError, TensorInfo

_INDEX_LIKE_HIGH = 100


def resolve_shape(info: TensorInfo, shapes: Dict[str, List[int]], default_dim: int) -> List[int]:
    """Fill dynamic dimensions: a full shape from the spec wins, else ``default_dim``."""
    if info.name in shapes:
        given = [int(d) for d in shapes[info.name]]
        if len(given) != len(info.shape):
            raise BackendError(
                "input_error",
                f"input {info.name!r}: spec shape {given} has rank {len(given)}, "
                f"model expects rank {len(info.shape)} {info.shape}",
            )
        for want, have in zip(info.shape, given):
            if want is not None and want != have:
                raise BackendError(
                    "input_error", f"input {info.name!r}: spec shape {given} != model shape {info.shape}")
        return given
    return [d if d is not None else default_dim for d in info.shape]


def random_array(shape: Sequence[int], dtype: str, rng: np.random.Generator) -> np.ndarray:
    dt = np.dtype(dtype)
    if dt.kind == "f":
        return rng.random(size=tuple(shape), dtype=np.float64).astype(dt)
    if dt.kind == "b":
        return rng.integers(0, 2, size=tuple(shape)).astype(bool)
    if dt.kind in "iu":
        if dt.itemsize <= 2:
            lim = np.iinfo(dt)
            return rng.integers(lim.min, int(lim.max) + 1, size=tuple(shape)).astype(dt)
        return rng.integers(0, _INDEX_LIKE_HIGH, size=tuple(shape)).astype(dt)
    raise BackendError("input_error", f"cannot generate inputs of dtype {dtype}")


def make_feed(inputs: List[TensorInfo], *, seed: int, shapes: Dict[str, List[int]],
              default_dim: int, npz_path: Optional[str] = None) -> Dict[str, np.ndarray]:
    """One input batch per model input, from the npz when given, else random."""
    rng = np.random.default_rng(seed)
    real = _load_npz(npz_path) if npz_path else {}
    feed: Dict[str, np.ndarray] = {}
    for info in inputs:
        shape = resolve_shape(info, shapes, default_dim)
        key = info.name if info.name in real else ("x" if len(inputs) == 1 and "x" in real else None)
        if npz_path and key is None:
            raise BackendError("input_error",
                               f"{npz_path}: no array named {info.name!r} (or 'x' for a single input); "
                               f"has {', '.join(sorted(real)) or 'nothing'}")
        if key is not None:
            feed[info.name] = _take(real[key], shape, info, npz_path or "")
        else:
            feed[info.name] = random_array(shape, info.dtype, rng)
    return feed


def _load_npz(path: str) -> Dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except Exception as exc:  # noqa: BLE001 - zipfile/ValueError/OSError
        raise BackendError("input_error", f"{path}: cannot read npz ({exc})") from exc


def _take(arr: np.ndarray, shape: List[int], info: TensorInfo, path: str) -> np.ndarray:
    """The model's input from an npz array.  Two layouts, told apart by rank:

    * samples stacked on a new leading axis (``arr.ndim == len(shape) + 1``: what the
      variant builder writes, and the only way to give a 0-d input): the first sample;
    * batch-first rows (``arr.ndim == len(shape)``): the first ``shape[0]`` rows, reused
      in order when the batch is larger than the rows.
    """
    arr = np.asarray(arr)
    if arr.ndim == len(shape) + 1:
        if arr.shape[0] == 0:
            raise BackendError("input_error", f"{path}: no samples for {info.name!r}")
        sample = np.asarray(arr[0])
        if list(sample.shape) != list(shape):
            raise BackendError(
                "input_error",
                f"{path}: samples for {info.name!r} have shape {list(sample.shape)}, "
                f"model expects {shape}",
            )
        return np.asarray(to_input_dtype(sample, info, path), order="C")  # 0-d stays 0-d
    if arr.ndim == 0 or len(shape) == 0:
        raise BackendError(
            "input_error",
            f"{path}: array for {info.name!r} has shape {list(arr.shape)}; the input has shape "
            f"{shape}: stack samples on a new leading axis ([N, *shape])",
        )
    if list(arr.shape[1:]) != list(shape[1:]):
        raise BackendError(
            "input_error",
            f"{path}: array for {info.name!r} has sample shape {list(arr.shape[1:])}, "
            f"model expects {shape[1:]}",
        )
    if arr.shape[0] == 0:
        raise BackendError("input_error", f"{path}: no samples for {info.name!r}")
    if arr.shape[0] < shape[0]:  # a batch larger than the samples: reuse them in order
        arr = np.take(arr, np.arange(shape[0]) % arr.shape[0], axis=0)
    return np.ascontiguousarray(to_input_dtype(arr[: shape[0]], info, path))


def to_input_dtype(x: np.ndarray, info: TensorInfo, where: str = "") -> np.ndarray:
    """Cast samples to the input's dtype; quantize float samples for integer-quantized inputs."""
    target = np.dtype(info.dtype)
    if x.dtype.kind not in "biuf" and x.dtype != target:
        # complex would silently lose its imaginary part, strings fail deep inside numpy
        raise BackendError("input_error", f"{where}: samples of dtype {x.dtype} cannot feed input "
                           f"{info.name!r} ({info.dtype})")
    if x.dtype.kind == "f" and target.kind in "iu":
        if not info.quantization:
            raise BackendError("input_error", f"{where}: float samples for integer input "
                               f"{info.name!r} ({info.dtype}) that has no quantization parameters")
        q = np.round(x / info.quantization["scale"] + info.quantization["zero_point"])
        lim = np.iinfo(target)
        return np.clip(q, lim.min, lim.max).astype(target)
    return x.astype(target, copy=False)
