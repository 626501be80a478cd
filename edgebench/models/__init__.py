"""Built-in source models: definitions in PyTorch and tf_keras, trained once and cached.

A built-in is a pair of factories taking a width multiplier (students and structured
pruning rebuild the architecture narrower), the data it is judged on, and how long to
train it.  Reference models without a dataset (MLPerf Tiny ones) keep their seeded
initial weights and are judged by fidelity to their own fp32 outputs.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, cast

import numpy as np

from edgebench.datasets import (
    Dataset,
    load_basic_motions_dataset,
    load_digits_dataset,
    load_japanese_vowels_dataset,
    synthetic_dataset,
    to_layout,
)
from edgebench.errors import ModelError


@dataclass(frozen=True)
class BuiltinModel:
    name: str
    input_shape: tuple[int, ...]  # channels first, without batch ((channels, steps) for 1-D)
    task: str  # 'classification' | 'regression'
    torch_factory: Callable[[float], Any]
    keras_factory: Callable[[float], Any]
    dataset: Callable[[], Dataset]
    train_epochs: int = 0  # 0: keep the seeded initial weights
    lr: float = 3e-3
    input_dtype: str = "float32"  # int64 for token-id models

    def keras_input_shape(self) -> tuple[int, ...]:
        s = self.input_shape
        return (*s[1:], s[0]) if len(s) in (2, 3) else s


def _registry() -> dict[str, BuiltinModel]:
    from edgebench.models import digits, minilm
    from edgebench.models import mlperf_tiny as mt
    from edgebench.models import timeseries as ts

    return {
        "digits-cnn": BuiltinModel("digits-cnn", digits.INPUT_SHAPE, "classification",
                                   digits.torch_model, digits.keras_model, load_digits_dataset,
                                   digits.TRAIN_EPOCHS, digits.LR),
        **{name: BuiltinModel(name, spec.input_shape, spec.task, spec.torch_factory,
                              spec.keras_factory,
                              functools.partial(synthetic_dataset, name, spec.input_shape))
           for name, spec in mt.SPECS.items()},
        "all-minilm-l6-v2": BuiltinModel("all-minilm-l6-v2", minilm.INPUT_SHAPE, "embedding",
                                         minilm.torch_model, minilm.keras_model, minilm.dataset,
                                         input_dtype="int64"),
        **{spec.name: BuiltinModel(spec.name, spec.input_shape, "classification", torch_f,
                                   keras_f, data, spec.train_epochs, spec.lr)
           for spec, torch_f, keras_f, data in (
               (ts.HAR, ts.har_torch, ts.har_keras, load_basic_motions_dataset),
               (ts.SPEECH, ts.speech_torch, ts.speech_keras, load_japanese_vowels_dataset))},
    }


def get_builtin(name: str) -> BuiltinModel:
    reg = _registry()
    if name not in reg:
        raise ModelError(f"unknown built-in model {name!r}; known: {', '.join(sorted(reg))}")
    return reg[name]


def _weights_key(model: BuiltinModel, framework: str, versions: dict[str, str]) -> str:
    blob = json.dumps({"name": model.name, "fw": framework, "epochs": model.train_epochs,
                       "lr": model.lr, "versions": versions, "rev": 2}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def trained_torch(model: BuiltinModel, cache_dir: Path, versions: dict[str, str],
                  *, no_cache: bool = False) -> tuple[Any, Path]:
    """The trained fp32 PyTorch module and the cached state_dict it came from."""
    import torch

    from edgebench.models.train import torch_fit

    path = Path(cache_dir) / "weights" / f"{model.name}-torch-{_weights_key(model, 'torch', versions)}.pt"
    net = model.torch_factory(1.0)
    if path.exists() and not no_cache:
        net.load_state_dict(torch.load(path, weights_only=True))
        return net.eval(), path
    data = model.dataset()
    if model.train_epochs:
        torch_fit(net, _single(data.x_train), data.y_train, epochs=model.train_epochs, lr=model.lr,
                  task=model.task)
    else:
        recalibrate_bn_torch(net, data.x_train)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(net.state_dict(), tmp)
    tmp.replace(path)
    return net.eval(), path


def _single(x: Any) -> np.ndarray:
    """A built-in model's inputs: one array (only a user's .npz keys inputs by name)."""
    return cast(np.ndarray, x)


def trained_keras(model: BuiltinModel, cache_dir: Path, versions: dict[str, str],
                  *, no_cache: bool = False) -> tuple[Any, Path]:
    """The trained fp32 tf_keras model and the cached weights file it came from."""
    from edgebench.models.train import keras_fit

    path = Path(cache_dir) / "weights" / f"{model.name}-keras-{_weights_key(model, 'keras', versions)}.weights.h5"
    net = model.keras_factory(1.0)
    if path.exists() and not no_cache:
        net.load_weights(str(path))
        return net, path
    data = model.dataset()
    if model.train_epochs:
        keras_fit(net, to_layout(_single(data.x_train), "tflite"), data.y_train,
                  epochs=model.train_epochs, lr=model.lr, task=model.task)
    else:
        recalibrate_bn_keras(net, to_layout(_single(data.x_train), "tflite"))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name.replace(".weights.h5", ".tmp.weights.h5"))
    net.save_weights(str(tmp))
    tmp.replace(path)
    return net, path


def recalibrate_bn_torch(net: Any, x: Any) -> None:
    """Set BatchNorm statistics from the (synthetic) data in one pass.

    Untrained reference models keep seeded weights, but identity BatchNorm statistics let
    activations shrink layer after layer until outputs are ~0 and fidelity is meaningless
    (measured: MobileNetV1 0.25 logits of exactly 0).  Batch statistics fix the scale.
    """
    import torch
    from torch import nn

    bns = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average: one pass gives the batch statistics
    net.train()
    with torch.no_grad():
        net(torch.from_numpy(x))
    for m, momentum in zip(bns, saved, strict=False):
        m.momentum = momentum
    net.eval()


def recalibrate_bn_keras(net: Any, x: Any) -> None:
    """Keras counterpart of :func:`recalibrate_bn_torch` (momentum 0 for one training call)."""
    bns = [layer for layer in net.layers if type(layer).__name__ == "BatchNormalization"]
    if not bns:
        return
    saved = [layer.momentum for layer in bns]
    for layer in bns:
        layer.momentum = 0.0
    net(x, training=True)
    for layer, momentum in zip(bns, saved, strict=False):
        layer.momentum = momentum
