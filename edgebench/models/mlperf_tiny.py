"""MLPerf Tiny reference architectures in PyTorch and tf_keras (no datasets shipped).

* ``ds-cnn``: keyword spotting DS-CNN (small), input 49x10 MFCC, 12 classes.
* ``resnet8``: image classification ResNet-8, input 32x32x3, 10 classes.
* ``mobilenet-v1-025``: visual wake words MobileNetV1 alpha 0.25, input 96x96x3, 2 classes.
* ``autoencoder``: anomaly detection FC autoencoder, 640 inputs -> 8 -> 640.

Weights are the seeded initial ones (no data to train on); variants are judged by
fidelity to the fp32 outputs on synthetic inputs.  All but ResNet-8 are plain
``Sequential`` stacks so structured pruning can rebuild them; ResNet-8 has residual adds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class Spec:
    input_shape: tuple[int, ...]  # channels first, without batch
    task: str
    torch_factory: Callable[[float], Any]
    keras_factory: Callable[[float], Any]


def _c(n: int, width: float) -> int:
    return max(1, int(round(n * width)))


def _keras() -> tuple[Any, Any]:
    from edgebench.models.train import keras_env

    keras_env()
    import tf_keras as keras

    keras.utils.set_random_seed(0)  # python, numpy and TF seeds: initializers draw from all
    return keras, keras.layers


# ---- DS-CNN ---------------------------------------------------------------------------
def ds_cnn_torch(width: float = 1.0) -> Any:
    import torch
    from torch import nn

    torch.manual_seed(0)
    c = _c(64, width)
    layers: list[Any] = [nn.Conv2d(1, c, (10, 4), (2, 2), (5, 1)), nn.BatchNorm2d(c), nn.ReLU()]
    for _ in range(4):
        layers += [nn.Conv2d(c, c, 3, 1, 1, groups=c), nn.BatchNorm2d(c), nn.ReLU(),
                   nn.Conv2d(c, c, 1), nn.BatchNorm2d(c), nn.ReLU()]
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, 12)]
    return nn.Sequential(*layers).eval()


def ds_cnn_keras(width: float = 1.0) -> Any:
    keras, L = _keras()
    c = _c(64, width)
    layers: list[Any] = [keras.Input((49, 10, 1), name="input"),
                         L.Conv2D(c, (10, 4), (2, 2), padding="same"), L.BatchNormalization(), L.ReLU()]
    for _ in range(4):
        layers += [L.DepthwiseConv2D(3, padding="same"), L.BatchNormalization(), L.ReLU(),
                   L.Conv2D(c, 1), L.BatchNormalization(), L.ReLU()]
    layers += [L.GlobalAveragePooling2D(), L.Dense(12)]
    return keras.Sequential(layers, name="ds_cnn")


# ---- ResNet-8 -------------------------------------------------------------------------
def resnet8_torch(width: float = 1.0) -> Any:
    import torch
    from torch import nn

    torch.manual_seed(0)

    class Block(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
            self.bn2 = nn.BatchNorm2d(cout)
            self.short = nn.Conv2d(cin, cout, 1, stride) if stride != 1 or cin != cout else nn.Identity()

        def forward(self, x: Any) -> Any:
            y = torch.relu(self.bn1(self.conv1(x)))
            return torch.relu(self.bn2(self.conv2(y)) + self.short(x))

    a, b, c = _c(16, width), _c(32, width), _c(64, width)
    return nn.Sequential(nn.Conv2d(3, a, 3, 1, 1), nn.BatchNorm2d(a), nn.ReLU(),
                         Block(a, a, 1), Block(a, b, 2), Block(b, c, 2),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, 10)).eval()


def resnet8_keras(width: float = 1.0) -> Any:
    keras, L = _keras()
    a, b, c = _c(16, width), _c(32, width), _c(64, width)
    inp = keras.Input((32, 32, 3), name="input")
    x = L.ReLU()(L.BatchNormalization()(L.Conv2D(a, 3, padding="same")(inp)))
    for cout, stride, cin in ((a, 1, a), (b, 2, a), (c, 2, b)):
        y = L.ReLU()(L.BatchNormalization()(L.Conv2D(cout, 3, stride, padding="same")(x)))
        y = L.BatchNormalization()(L.Conv2D(cout, 3, padding="same")(y))
        short = L.Conv2D(cout, 1, stride)(x) if stride != 1 or cin != cout else x
        x = L.ReLU()(L.Add()([y, short]))
    x = L.Dense(10)(L.GlobalAveragePooling2D()(x))
    return keras.Model(inp, x, name="resnet8")


# ---- MobileNetV1 0.25 -----------------------------------------------------------------
_MOBILENET = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1),
              (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))


def mobilenet_torch(width: float = 1.0) -> Any:
    import torch
    from torch import nn

    torch.manual_seed(0)
    alpha = 0.25 * width
    cin = _c(32, alpha)
    layers: list[Any] = [nn.Conv2d(3, cin, 3, 2, 1, bias=False), nn.BatchNorm2d(cin), nn.ReLU()]
    for cout, stride in _MOBILENET:
        cout = _c(cout, alpha)
        layers += [nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False), nn.BatchNorm2d(cin),
                   nn.ReLU(), nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]
        cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, 2)]
    return nn.Sequential(*layers).eval()


def mobilenet_keras(width: float = 1.0) -> Any:
    keras, L = _keras()
    alpha = 0.25 * width
    layers: list[Any] = [keras.Input((96, 96, 3), name="input"),
                         L.Conv2D(_c(32, alpha), 3, 2, padding="same", use_bias=False),
                         L.BatchNormalization(), L.ReLU()]
    for cout, stride in _MOBILENET:
        layers += [L.DepthwiseConv2D(3, stride, padding="same", use_bias=False),
                   L.BatchNormalization(), L.ReLU(),
                   L.Conv2D(_c(cout, alpha), 1, use_bias=False), L.BatchNormalization(), L.ReLU()]
    layers += [L.GlobalAveragePooling2D(), L.Dense(2)]
    return keras.Sequential(layers, name="mobilenet_v1_025")


# ---- FC AutoEncoder -------------------------------------------------------------------
_AE = (128, 128, 128, 128, 8, 128, 128, 128, 128)


def autoencoder_torch(width: float = 1.0) -> Any:
    import torch
    from torch import nn

    torch.manual_seed(0)
    layers: list[Any] = []
    cin = 640
    for units in _AE:
        units = _c(units, width)
        layers += [nn.Linear(cin, units), nn.BatchNorm1d(units), nn.ReLU()]
        cin = units
    layers.append(nn.Linear(cin, 640))
    return nn.Sequential(*layers).eval()


def autoencoder_keras(width: float = 1.0) -> Any:
    keras, L = _keras()
    layers: list[Any] = [keras.Input((640,), name="input")]
    for units in _AE:
        layers += [L.Dense(_c(units, width)), L.BatchNormalization(), L.ReLU()]
    layers.append(L.Dense(640))
    return keras.Sequential(layers, name="autoencoder")


SPECS = {
    "ds-cnn": Spec((1, 49, 10), "classification", ds_cnn_torch, ds_cnn_keras),
    "resnet8": Spec((3, 32, 32), "classification", resnet8_torch, resnet8_keras),
    "mobilenet-v1-025": Spec((3, 96, 96), "classification", mobilenet_torch, mobilenet_keras),
    "autoencoder": Spec((640,), "regression", autoencoder_torch, autoencoder_keras),
}
