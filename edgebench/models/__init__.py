"""Built-in source models: definitions in PyTorch and tf_keras, trained once and cached.

A built-in is a pair of factories taking a width multiplier (students and structured
pruning rebuild the architecture narrower), the data it is judged on, and how long to
train it.  Reference models without a dataset (MLPerf Tiny ones) keep their seeded
initial weights and are judged by fidelity to their own fp32 outputs.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from edgebench.datasets import Dataset, load_digits_dataset, synthetic_dataset, to_layout
from edgebench.errors import ModelError


@dataclass(frozen=True)
class BuiltinModel:
    name: str
    input_shape: tuple[int, ...]  # channels first, without batch
    task: str  # 'classification' | 'regression'
    torch_factory: Callable[[float], Any]
    keras_factory: Callable[[float], Any]
    dataset: Callable[[], Dataset]
    train_epochs: int = 0  # 0: keep the seeded initial weights
    lr: float = 3e-3

    def keras_input_shape(self) -> tuple[int, ...]:
        s = self.input_shape
        return (*s[1:], s[0]) if len(s) == 3 else s


def _registry() -> dict[str, BuiltinModel]:
    from edgebench.models import digits, mlperf_tiny as mt

    return {
        "digits-cnn": BuiltinModel("digits-cnn", digits.INPUT_SHAPE, "classification",
                                   digits.torch_model, digits.keras_model, load_digits_dataset,
                                   digits.TRAIN_EPOCHS, digits.LR),
        **{name: BuiltinModel(name, spec.input_shape, spec.task, spec.torch_factory,
                              spec.keras_factory,
                              (lambda n=name, s=spec.input_shape: synthetic_dataset(n, s)))
           for name, spec in mt.SPECS.items()},
    }


def get_builtin(name: str) -> BuiltinModel:
    reg = _registry()
    if name not in reg:
        raise ModelError(f"unknown built-in model {name!r}; known: {', '.join(sorted(reg))}")
    return reg[name]


def _weights_key(model: BuiltinModel, framework: str, versions: dict[str, str]) -> str:
    blob = json.dumps({"name": model.name, "fw": framework, "epochs": model.train_epochs,
                       "lr": model.lr, "versions": versions, "rev": 1}, sort_keys=True)
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
    if model.train_epochs:
        data = model.dataset()
        torch_fit(net, data.x_train, data.y_train, epochs=model.train_epochs, lr=model.lr,
                  task=model.task)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(net.state_dict(), tmp)
    tmp.replace(path)
    return net.eval(), path


def trained_keras(model: BuiltinModel, cache_dir: Path, versions: dict[str, str],
                  *, no_cache: bool = False) -> tuple[Any, Path]:
    """The trained fp32 tf_keras model and the cached weights file it came from."""
    from edgebench.models.train import keras_fit

    path = Path(cache_dir) / "weights" / f"{model.name}-keras-{_weights_key(model, 'keras', versions)}.weights.h5"
    net = model.keras_factory(1.0)
    if path.exists() and not no_cache:
        net.load_weights(str(path))
        return net, path
    if model.train_epochs:
        data = model.dataset()
        keras_fit(net, to_layout(data.x_train, "tflite"), data.y_train,
                  epochs=model.train_epochs, lr=model.lr, task=model.task)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name.replace(".weights.h5", ".tmp.weights.h5"))
    net.save_weights(str(tmp))
    tmp.replace(path)
    return net, path
