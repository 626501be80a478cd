"""1D-CNN reference models for wearable sensors and speech: ``har-1dcnn`` and ``speech-1dcnn``.

The shapes of the field's own cases (human-activity recognition from an IMU, speaker
identification from short LPC frames) at the size a Cortex-M runs: one-dimensional
convolutions over time, channels = sensor axes or LPC coefficients.

* ``har-1dcnn`` on BasicMotions (6 channels: 3-axis accelerometer + gyroscope of a smart
  watch, 100 steps, 4 activities): conv1d(16, k5) -> ReLU -> maxpool2 -> conv1d(32, k5)
  -> ReLU -> maxpool2 -> conv1d(64, k5) -> ReLU -> global average pool -> dense(32) ->
  ReLU -> dense(4).
* ``speech-1dcnn`` on JapaneseVowels (12 LPC cepstrum coefficients, 7..29 frames padded to
  29, 9 speakers): conv1d(32, k3) -> ReLU -> conv1d(32, k3) -> ReLU -> maxpool2 ->
  flatten -> dense(64) -> ReLU -> dense(9).

Like ``digits-cnn``: plain ``Sequential`` stacks in PyTorch (NCW input, exported to ONNX)
and tf_keras (NWC input, converted to TFLite; the converter lowers Conv1D to CONV_2D),
each trained in its own framework with fixed seeds in a few seconds.  ``same`` padding
and the flatten order differ between the frameworks only in layout, which structured
pruning already handles.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Conv1dSpec:
    """One 1D-CNN: input (channels, steps), conv widths and kernels, pools, dense width."""

    name: str
    channels: int
    steps: int
    convs: tuple[tuple[int, int, bool], ...]  # (filters, kernel, maxpool-2 after it)
    dense: int
    classes: int
    train_epochs: int
    lr: float
    global_pool: bool = False  # global average over time instead of flattening it

    @property
    def input_shape(self) -> tuple[int, int]:
        return (self.channels, self.steps)

    def widths(self, width: float) -> tuple[list[int], int]:
        return ([max(1, round(f * width)) for f, _, _ in self.convs],
                max(1, round(self.dense * width)))

    def flat_steps(self) -> int:
        steps = self.steps
        for _, _, pool in self.convs:
            steps = steps // 2 if pool else steps
        return steps


# Global average pooling over time, not flatten + dense: with 40 training cases the
# flattened variant (54,612 params) reached 100 % in PyTorch but 92.5 % in tf_keras and
# its distilled students 87.5-95 %; the pooled one reached 100 % in both, students too.
HAR = Conv1dSpec("har-1dcnn", channels=6, steps=100,
                 convs=((16, 5, True), (32, 5, True), (64, 5, False)), dense=32, classes=4,
                 train_epochs=100, lr=3e-3, global_pool=True)
# JapaneseVowels' cases are 7..29 frames long (both splits): padded to the longest
SPEECH_STEPS = 29
SPEECH = Conv1dSpec("speech-1dcnn", channels=12, steps=SPEECH_STEPS,
                    convs=((32, 3, False), (32, 3, True)), dense=64, classes=9,
                    train_epochs=40, lr=3e-3)


def torch_model(spec: Conv1dSpec, width: float = 1.0) -> Any:
    """PyTorch definition, input ``[N, channels, steps]``; ``width`` scales hidden layers."""
    import torch
    from torch import nn

    convs, dense = spec.widths(width)
    torch.manual_seed(0)
    layers: list[Any] = []
    cin = spec.channels
    for cout, (_, kernel, pool) in zip(convs, spec.convs, strict=False):
        layers += [nn.Conv1d(cin, cout, kernel, padding=kernel // 2), nn.ReLU()]
        if pool:
            layers.append(nn.MaxPool1d(2))
        cin = cout
    if spec.global_pool:
        layers += [nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(cin, dense)]
    else:
        layers += [nn.Flatten(), nn.Linear(cin * spec.flat_steps(), dense)]
    layers += [nn.ReLU(), nn.Linear(dense, spec.classes)]
    return nn.Sequential(*layers)


def keras_model(spec: Conv1dSpec, width: float = 1.0) -> Any:
    """tf_keras definition, input ``[N, steps, channels]`` (channels last)."""
    from edgebench.models.train import keras_env

    keras_env()
    import tf_keras as keras

    convs, dense = spec.widths(width)
    keras.utils.set_random_seed(0)
    L = keras.layers
    layers: list[Any] = [keras.Input((spec.steps, spec.channels), name="input")]
    for cout, (_, kernel, pool) in zip(convs, spec.convs, strict=False):
        layers.append(L.Conv1D(cout, kernel, padding="same", activation="relu"))
        if pool:
            layers.append(L.MaxPooling1D(2))
    layers += [L.GlobalAveragePooling1D() if spec.global_pool else L.Flatten(),
               L.Dense(dense, activation="relu"), L.Dense(spec.classes)]
    return keras.Sequential(layers, name=spec.name.replace("-", "_"))


def har_torch(width: float = 1.0) -> Any:
    return torch_model(HAR, width)


def har_keras(width: float = 1.0) -> Any:
    return keras_model(HAR, width)


def speech_torch(width: float = 1.0) -> Any:
    return torch_model(SPEECH, width)


def speech_keras(width: float = 1.0) -> Any:
    return keras_model(SPEECH, width)
