"""The inputs of a model file, by name: one resolution of shapes and values for every use.

Calibration, the controller's fidelity and accuracy, the device's timed loop and its
evaluation must all feed a model the same thing; when each guessed on its own, a
detector with input ``[1, 3, ?, ?]`` was calibrated and judged on 1x1 images while the
device timed 640x640, and a recurrent model's ``sr`` got a random value that took the
wrong branch.  So every model input gets one :class:`InputPlan` here (resolved shape,
dtype, where its values come from) and samples are built from the plans only.

Samples are a ``dict`` input name -> array ``[N, *shape]``: N samples stacked on a new
leading axis, each sample exactly the input's resolved shape (batch dimension included;
a 0-d input gives ``[N]``).  That is also the layout of a user's ``.npz`` keyed by input
names and of the ``<file>.input.npz`` the device reads.

Dynamic dims resolve from the suite (model ``input_shapes`` / ``input_shape``, then
``benchmark.input_shapes``), then the data, then the model; a dynamic leading dim of a
rank >= 2 input is the batch and defaults to 1; any other dim that stays unknown is an
error naming the input and the key to set.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from edgebench.errors import ModelError

#: Fills a suite may give instead of a literal value (``inputs: {state: zeros}``).
FILLS = ("zeros", "ones", "random")
#: Seeded integer inputs stay in [0, this): most wide integer inputs are indices (token ids).
INDEX_LIKE_HIGH = 100

Samples = dict[str, np.ndarray]


@dataclass
class InputPlan:
    """How one model input is fed: its resolved shape, dtype and the source of its values."""

    name: str
    dtype: str
    shape: list[int]  # resolved, the model's full input shape (batch dim included)
    source: str  # 'data' | 'value' | 'zeros' | 'ones' | 'random'
    shape_from: str  # 'model' | 'suite' | 'data' | 'value' (+ 'batch=1' when defaulted)
    value: Any = None  # the literal for source 'value'
    scale: float = 0.0  # TFLite quantized input: float samples are quantized with these
    zero_point: int = 0

    def to_dict(self) -> dict[str, Any]:
        out = {"name": self.name, "dtype": self.dtype, "shape": list(self.shape),
               "source": self.source, "shape_from": self.shape_from}
        if self.source == "value":
            out["value"] = np.asarray(self.value).tolist()
        return out


def model_inputs(path: Path, fmt: str) -> list[dict[str, Any]]:
    """Inputs of a model file: name, shape (None for a dynamic dim), dtype, quantization."""
    if fmt == "onnx":
        from edgebench.compressors.model_stats import onnx_io

        return [{"name": i["name"], "dtype": i["dtype"] or "float32",
                 "shape": [d if isinstance(d, int) and d > 0 else None for d in i["shape"]]}
                for i in onnx_io(path)["inputs"]]
    if fmt == "pte":
        from edgebench.compressors.pte import pte_io

        return [dict(i) for i in pte_io(path)["inputs"]]
    from ai_edge_litert.interpreter import Interpreter

    out = []
    for d in Interpreter(model_path=str(path)).get_input_details():
        sig = d.get("shape_signature")
        dims = list(sig if sig is not None and len(sig) else d["shape"])
        scale, zp = d.get("quantization", (0.0, 0))
        out.append({"name": d["name"], "dtype": np.dtype(d["dtype"]).name,
                    "shape": [int(x) if x > 0 else None for x in dims],
                    "scale": float(scale), "zero_point": int(zp)})
    return out


def named_data(x: Union[np.ndarray, Samples, None], inputs: list[dict[str, Any]],
               where: str = "data") -> Optional[Samples]:
    """Data split as samples by input name.  A one-input model's ``x`` may hold rows
    without the batch dim (``[N, 64]`` for input ``[1, 64]``) or whole samples."""
    if x is None:
        return None
    names = [i["name"] for i in inputs]
    if isinstance(x, dict):
        unknown = sorted(set(x) - set(names))
        if unknown:
            raise ModelError(f"{where}: arrays {', '.join(map(repr, unknown))} match no model input "
                             f"(inputs: {', '.join(names)}); key the .npz by input name (and 'y')")
        return dict(x)
    if len(inputs) != 1:
        raise ModelError(f"{where} has one 'x' array but the model has {len(inputs)} inputs "
                         f"({', '.join(names)}): give an .npz with one array per input name")
    rank = len(inputs[0]["shape"])
    arr = np.asarray(x)
    if arr.ndim == rank:  # rows without the batch dim: each row is a batch of one
        arr = arr[:, None]
    elif arr.ndim != rank + 1:
        raise ModelError(f"{where}: 'x' has shape {list(arr.shape)}; input {names[0]!r} has rank "
                         f"{rank} {_show(inputs[0]['shape'])}: give [N, *input shape]")
    return {names[0]: arr}


def resolve(inputs: list[dict[str, Any]], *, shapes: dict[str, list[int]],
            values: dict[str, Any], data: Optional[Samples],
            suite_keys: tuple[str, ...] = ("input_shapes",)) -> list[InputPlan]:
    """One :class:`InputPlan` per model input (see the module doc for the order of sources).

    ``shapes`` and ``values`` come from the suite; names that match no input are errors
    that list the model's real inputs."""
    names = [i["name"] for i in inputs]
    for what, given in (("input_shapes", shapes), ("inputs", values)):
        unknown = sorted(set(given) - set(names))
        if unknown:
            raise ModelError(f"'{what}' names {', '.join(map(repr, unknown))}, but the model's "
                             f"inputs are {', '.join(map(repr, names))}")
    plans = []
    for info in inputs:
        name, dims = info["name"], list(info["shape"])
        value = values.get(name)
        source = "data" if data is not None and name in data else "random"
        literal = None
        if value is not None:
            if isinstance(value, str):
                if value not in FILLS:
                    raise ModelError(f"inputs: {name}: {value!r} is not a number, a list or "
                                     f"one of {', '.join(FILLS)}")
                source = value
            else:
                source, literal = "value", np.asarray(value)
        if name in shapes:
            shape, shape_from = _check(name, dims, [int(d) for d in shapes[name]], "input_shapes"), "suite"
        elif literal is not None and literal.ndim == len(dims):
            shape, shape_from = _check(name, dims, list(literal.shape), "inputs"), "value"
        elif source == "data":
            assert data is not None  # source "data" is only chosen when data is given
            shape = _check(name, dims, list(np.asarray(data[name]).shape[1:]), "data")
            shape_from = "data"
        else:
            shape, shape_from = list(dims), "model"
        if any(d is None for d in shape):
            if shape[0] is None and len(shape) >= 2:
                shape[0] = 1
                shape_from += ", batch=1"
            missing = [i for i, d in enumerate(shape) if d is None]
            if missing:
                raise ModelError(
                    f"input {name!r} {_show(dims)}: dim {', '.join(map(str, missing))} is dynamic "
                    f"and nothing sets it: give 'input_shapes: {{{name}: [...]}}' on the model "
                    f"(or benchmark.input_shapes), or data with a {name!r} array")
        if literal is not None and literal.ndim and list(literal.shape) != shape:
            try:
                np.broadcast_to(literal, shape)
            except ValueError:
                raise ModelError(f"inputs: {name}: value of shape {list(literal.shape)} does not "
                                 f"fit the input's shape {shape}") from None
        plans.append(InputPlan(name, info["dtype"], [int(d) for d in shape], source, shape_from,
                               literal, float(info.get("scale") or 0.0),
                               int(info.get("zero_point") or 0)))
    return plans


def _check(name: str, model: list[Optional[int]], given: list[int], key: str) -> list[int]:
    if len(given) != len(model):
        raise ModelError(f"input {name!r}: {key} gives shape {given} (rank {len(given)}), the "
                         f"model's input is {_show(model)} (rank {len(model)})")
    for want, have in zip(model, given, strict=False):
        if want is not None and want != have:
            raise ModelError(f"input {name!r}: {key} gives shape {given}, the model's input is "
                             f"{_show(model)}")
    return list(given)


def _show(dims: list[Optional[int]]) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in dims) + "]"


def build(plans: list[InputPlan], data: Optional[Samples], n_random: int, seed: int = 0) -> Samples:
    """Samples for every input: the data's where it has them, the suite's values, else
    seeded random ones (floats Gaussian, integers in [0, 100), bools 0/1)."""
    n = len(next(iter(data.values()))) if data else n_random
    rng = np.random.default_rng(seed)
    out: Samples = {}
    for p in plans:
        dtype = np.dtype(p.dtype)
        if p.source == "data":
            assert data is not None  # plans read "data" only when data is given
            arr = np.asarray(data[p.name])
            if arr.dtype == np.float64:
                arr = arr.astype(np.float32)
        elif p.source == "value":
            arr = np.broadcast_to(np.asarray(p.value).astype(dtype), (n, *p.shape)).copy()
        elif p.source in ("zeros", "ones"):
            arr = (np.zeros if p.source == "zeros" else np.ones)((n, *p.shape), dtype=dtype)
        elif dtype.kind == "f" or p.scale:
            arr = rng.standard_normal((n, *p.shape)).astype(np.float32)
        elif dtype.kind == "b":
            arr = rng.integers(0, 2, size=(n, *p.shape)).astype(bool)
        else:
            arr = rng.integers(0, INDEX_LIKE_HIGH, size=(n, *p.shape)).astype(dtype)
        out[p.name] = arr
    lengths = {k: len(v) for k, v in out.items()}
    if len(set(lengths.values())) > 1:
        raise ModelError("data arrays have different sample counts: "
                         + ", ".join(f"{k} {v}" for k, v in lengths.items()))
    return out


def random_warnings(plans: list[InputPlan], have_data: bool) -> list[str]:
    """Why a figure measured on seeded inputs may not mean what it seems."""
    out = []
    for p in plans:
        if p.source != "random" or np.dtype(p.dtype).kind == "f" or p.scale:
            continue
        out.append(f"input {p.name!r} ({p.dtype} {p.shape}) has no data and no value: seeded random "
                   f"integers in [0, {INDEX_LIKE_HIGH}) stand in; if it selects a mode (a sample "
                   f"rate, a flag), set it with 'inputs: {{{p.name}: VALUE}}' on the model")
    if have_data:
        rnd = [p.name for p in plans if p.source == "random"]
        if rnd:
            out.append(f"data has no array for input(s) {', '.join(rnd)}: seeded random values "
                       "used; give them in the .npz or with 'inputs:'")
    return out


def n_samples(samples: Samples) -> int:
    return len(next(iter(samples.values()))) if samples else 0


def take(samples: Samples, stop: int) -> Samples:
    return {k: v[:stop] for k, v in samples.items()}


def feed_for(samples: Samples, index: int, inputs: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Sample ``index`` as the model's feed (dtype of each input; float samples quantized
    for TFLite integer inputs with their scale and zero point)."""
    out = {}
    for info in inputs:
        arr = np.asarray(samples[info["name"]][index])
        out[info["name"]] = to_dtype(arr, info)
    return out


def to_dtype(arr: np.ndarray, info: dict[str, Any]) -> np.ndarray:
    target = np.dtype(info.get("dtype") or "float32")
    if arr.dtype.kind == "f" and target.kind in "iu" and info.get("scale"):
        q = np.round(arr / info["scale"] + info.get("zero_point", 0))
        lim = np.iinfo(target)
        return np.clip(q, lim.min, lim.max).astype(target)
    return np.ascontiguousarray(arr.astype(target, copy=False))
