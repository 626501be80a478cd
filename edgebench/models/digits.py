"""``digits-cnn``: a small CNN on scikit-learn's 8x8 digits, the same architecture in both frameworks.

conv3x3(16) -> ReLU -> conv3x3(32) -> ReLU -> maxpool2 -> flatten -> dense(64) -> ReLU -> dense(10).
Both are plain ``Sequential`` models on purpose: structured pruning and width-multiplied
students rebuild them layer by layer.  The PyTorch one is exported to ONNX (NCHW), the
tf_keras one converted to TFLite (NHWC); each is trained in its own framework with fixed
seeds (a few seconds), so both formats reach ~97-99 % test accuracy independently.
"""

from __future__ import annotations

from typing import Any

INPUT_SHAPE = (1, 8, 8)  # channels first, without batch
NUM_CLASSES = 10
TRAIN_EPOCHS = 10
LR = 5e-3


def _widths(width: float) -> tuple[int, int, int]:
    return max(1, round(16 * width)), max(1, round(32 * width)), max(1, round(64 * width))


def torch_model(width: float = 1.0) -> Any:
    """The PyTorch definition; ``width`` scales every hidden layer (students use < 1)."""
    import torch
    from torch import nn

    c1, c2, d = _widths(width)
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, c1, 3, padding=1), nn.ReLU(),
        nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(c2 * 4 * 4, d), nn.ReLU(),
        nn.Linear(d, NUM_CLASSES),
    )


def keras_model(width: float = 1.0) -> Any:
    """The tf_keras definition, NHWC input [N, 8, 8, 1]."""
    from edgebench.models.train import keras_env

    keras_env()
    import tf_keras as keras

    c1, c2, d = _widths(width)
    keras.utils.set_random_seed(0)  # python, numpy and TF seeds: initializers draw from all
    L = keras.layers
    return keras.Sequential([
        keras.Input((8, 8, 1), name="input"),
        L.Conv2D(c1, 3, padding="same", activation="relu"),
        L.Conv2D(c2, 3, padding="same", activation="relu"),
        L.MaxPooling2D(2), L.Flatten(),
        L.Dense(d, activation="relu"),
        L.Dense(NUM_CLASSES),
    ], name="digits_cnn")
