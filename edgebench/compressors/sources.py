"""Load a suite's source model (built-in, PyTorch factory, Keras file, ONNX/TFLite file).

A :class:`Source` hands out a *fresh* trainable copy per variant (steps mutate models),
the fp32 teacher, the data to calibrate and evaluate with, and a content hash that keys
the cache.  Loading failures are :class:`ModelError`s, turned into per-variant errors.
"""

from __future__ import annotations

import copy
import hashlib
import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from edgebench.datasets import Dataset, load_dataset
from edgebench.errors import ModelError
from edgebench.pkgfiles import package_file


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    p = Path(path)
    files = sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else [p]
    for f in files:
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


@dataclass
class Source:
    name: str
    kind: str  # builtin | torch | keras | onnx | tflite
    fmt: str
    sha256: str
    input_shape: tuple[int, ...]  # canonical, without batch (may hold -1 for dynamic dims)
    task: str
    data: Optional[Dataset]
    model: Any = None  # trained fp32 framework model, or Path for files
    builtin: Any = None
    input_dtype: str = "float32"
    output: Optional[str] = None  # the output judged by quality figures (None: the first)
    # model files: the suite's per-input settings (edgebench.compressors.feeds)
    input_shapes: Optional[dict[str, list[int]]] = None
    input_values: Optional[dict[str, Any]] = None
    single_shape: Optional[list[int]] = None
    suite_shapes: Optional[dict[str, list[int]]] = None

    def input_settings(self) -> dict[str, Any]:
        """What the suite says about this model's inputs: part of every variant's cache
        key (a changed shape or value must rebuild, not reuse a file judged at another)."""
        return {"input_shapes": self.input_shapes or {}, "inputs": self.input_values or {},
                "input_shape": self.single_shape, "suite_shapes": self.suite_shapes or {}}

    def fresh_state_obj(self) -> tuple[str, Any]:
        """(state kind, object) to start a recipe from; trainable models are deep copies."""
        if self.kind in ("onnx", "tflite"):
            return self.kind, Path(self.model)
        if self.fmt in ("onnx", "pte"):
            return "torch", copy.deepcopy(self.model)
        from edgebench.models.train import keras_env

        keras_env()
        import tf_keras as keras

        clone = keras.models.clone_model(self.model)
        clone.set_weights(self.model.get_weights())
        return "keras", clone


def load_source(spec: Any, fmt: str, cache_dir: Path, versions: dict[str, str],
                *, no_cache: bool = False) -> Source:
    """Build or load the fp32 source of ``spec`` for output format ``fmt``."""
    from edgebench.recipes import BUILTIN_DATA

    kind = spec.source_kind
    data = load_dataset(spec.data) if spec.data else None
    if data is not None and spec.data not in BUILTIN_DATA and kind in ("onnx", "tflite", "keras"):
        data.layout = "model"  # a user .npz for a model file is in that file's own layout
    task = spec.task
    if kind == "builtin":
        from edgebench.models import get_builtin, trained_keras, trained_torch

        b = get_builtin(spec.builtin)
        if data is None:
            data = b.dataset()
        loader = trained_torch if fmt in ("onnx", "pte") else trained_keras
        model, weights = loader(b, cache_dir, versions, no_cache=no_cache)
        return Source(spec.name, kind, fmt, sha256_file(weights), tuple(b.input_shape),
                      b.task if task == "auto" else task, data, model, b, b.input_dtype)
    if kind == "torch":
        if fmt not in ("onnx", "pte"):
            raise ModelError("a PyTorch source can only produce ONNX or pte variants")
        if not spec.input_shape:
            raise ModelError("a 'torch' model needs 'input_shape' (batch first, e.g. [1, 3, 32, 32])")
        model = _torch_factory(spec.torch, spec.state_dict)
        h = hashlib.sha256(spec.torch.encode())
        if spec.state_dict:
            h.update(sha256_file(Path(spec.state_dict)).encode())
        return Source(spec.name, kind, fmt, h.hexdigest(), tuple(spec.input_shape[1:]),
                      _task(task, data), data, model)
    path = package_file(spec.package, spec.path) if spec.package else Path(spec.path)
    if kind == "keras":
        if fmt != "tflite":
            raise ModelError("a Keras source can only produce TFLite variants here")
        model = _load_keras(path)
        shape = tuple(int(d or 1) for d in model.input_shape[1:])
        shape = (shape[-1], *shape[:-1]) if len(shape) == 3 else shape
        return Source(spec.name, kind, fmt, sha256_file(path), shape, _task(task, data), data, model)
    if kind in ("onnx", "tflite"):
        if fmt != kind:
            raise ModelError(f"a .{kind} file can only produce {kind} variants (asked for {fmt})")
        return Source(spec.name, kind, fmt, sha256_file(path), (), _task(task, data), data, path,
                      output=spec.output, input_shapes=dict(spec.input_shapes),
                      input_values=dict(spec.inputs),
                      single_shape=list(spec.input_shape) if spec.input_shape else None)
    raise ModelError(f"cannot tell what kind of model {spec.path} is (.onnx, .tflite, .keras, SavedModel dir)")


def _task(task: str, data: Optional[Dataset]) -> str:
    if task != "auto":
        return task
    return "classification" if data is not None and data.labelled else "embedding"


def _torch_factory(target: str, state_dict: Optional[str]) -> Any:
    module_name, _, attr = target.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
        model = factory()
    except Exception as exc:  # noqa: BLE001 - user code
        raise ModelError(f"cannot build PyTorch model {target!r}: {type(exc).__name__}: {exc}") from exc
    if state_dict:
        import torch

        try:
            model.load_state_dict(torch.load(state_dict, map_location="cpu", weights_only=True))
        except Exception as exc:  # noqa: BLE001
            raise ModelError(f"cannot load state_dict {state_dict}: {exc}") from exc
    return model.eval()


def _load_keras(path: Path) -> Any:
    from edgebench.models.train import keras_env

    keras_env()
    import tf_keras as keras

    try:
        return keras.models.load_model(str(path), compile=False)
    except Exception as exc:  # noqa: BLE001
        raise ModelError(f"cannot load Keras model {path}: {type(exc).__name__}: {exc}") from exc
