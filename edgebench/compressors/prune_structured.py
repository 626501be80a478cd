"""Structured pruning: physically remove the lowest-L1 output channels / units.

Works on plain ``Sequential`` stacks (Conv 2-D or 1-D / depthwise Conv / BatchNorm / Dense with
parameter-free layers between them), in PyTorch and tf_keras.  Every Conv/Dense except
the output layer keeps ``round(n * (1 - sparsity))`` outputs (at least 1); the following
layer's inputs are sliced to match, through depthwise convs, BatchNorm and Flatten (whose
index order differs: channel-major in PyTorch, channel-minor in Keras).  Anything else
(residual blocks, reshapes, custom layers) is a clear per-variant error, never a guess.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgebench.errors import CompressionError

_TORCH_PASS = ("ReLU", "ReLU6", "LeakyReLU", "Hardswish", "Sigmoid", "Tanh", "MaxPool2d",
               "AvgPool2d", "AdaptiveAvgPool2d", "Dropout", "Identity", "MaxPool1d", "AvgPool1d",
               "AdaptiveAvgPool1d")
_KERAS_PASS = ("ReLU", "Activation", "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D",
               "GlobalMaxPooling2D", "Dropout", "ZeroPadding2D", "InputLayer", "LeakyReLU",
               "MaxPooling1D", "AveragePooling1D", "GlobalAveragePooling1D",
               "GlobalMaxPooling1D")  # 1-D: har-1dcnn, speech-1dcnn


def prune_structured(model: Any, fw: str, sparsity: float, ctx: Any) -> tuple[Any, dict[str, int]]:
    return (_torch(model, sparsity, ctx) if fw == "torch" else _keras(model, sparsity))


def _keep(importance: np.ndarray, sparsity: float) -> np.ndarray:
    n = max(1, int(round(len(importance) * (1.0 - sparsity))))
    return np.sort(np.argsort(-importance, kind="stable")[:n])


def _rebuilt(m: Any, w: Any, b: Any) -> Any:
    """A Linear / Conv layer like ``m`` with weight ``w`` and bias ``b`` (channels pruned)."""
    from torch import nn

    new: Any
    if isinstance(m, nn.Linear):
        new = nn.Linear(w.shape[1], w.shape[0], bias=b is not None)
    else:
        new = type(m)(w.shape[1], w.shape[0], m.kernel_size, m.stride, m.padding,
                      m.dilation, 1, b is not None, m.padding_mode)
    new.weight.copy_(w)
    if b is not None:
        new.bias.copy_(b)
    return new


def _depthwise_kept(m: Any, keep: np.ndarray) -> Any:
    """A depthwise Conv2d with only the ``keep`` channels of ``m``."""
    import torch
    from torch import nn

    k = torch.as_tensor(keep)
    new: Any = nn.Conv2d(len(keep), len(keep), m.kernel_size, m.stride, m.padding,
                    m.dilation, len(keep), m.bias is not None, m.padding_mode)
    new.weight.copy_(m.weight[k])
    if m.bias is not None:
        new.bias.copy_(m.bias[k])
    return new


def _batchnorm_kept(m: Any, keep: np.ndarray) -> Any:
    """A BatchNorm1d/2d with only the ``keep`` channels of ``m``."""
    import torch

    k = torch.as_tensor(keep)
    new = type(m)(len(keep), eps=m.eps, momentum=m.momentum, affine=m.affine)
    new.running_mean.copy_(m.running_mean[k])
    new.running_var.copy_(m.running_var[k])
    if m.affine:
        new.weight.copy_(m.weight[k])
        new.bias.copy_(m.bias[k])
    return new


def _torch(model: Any, sparsity: float, ctx: Any) -> tuple[Any, dict[str, int]]:
    import torch
    from torch import nn

    if not isinstance(model, nn.Sequential):
        raise CompressionError(f"structured pruning needs an nn.Sequential stack, got "
                               f"{type(model).__name__}")
    layers: list[Any] = list(model)
    shapes: dict[int, tuple[int, ...]] = {}
    hooks = [m.register_forward_pre_hook(lambda mod, inp, i=i: shapes.__setitem__(i, tuple(inp[0].shape)))
             for i, m in enumerate(layers)]
    with torch.no_grad():
        model(torch.zeros((1, *ctx.input_shape)))
    for h in hooks:
        h.remove()
    producers = [i for i, m in enumerate(layers)
                 if isinstance(m, nn.Linear)
                 or (isinstance(m, (nn.Conv2d, nn.Conv1d)) and m.groups == 1)]
    if len(producers) < 2:
        raise CompressionError("structured pruning needs at least two Conv/Linear layers")
    last = producers[-1]
    keep = None
    removed: dict[str, int] = {}
    new_layers = []
    with torch.no_grad():
        for i, m in enumerate(layers):
            kind = type(m).__name__
            if i in producers:
                w = m.weight.detach().clone()
                if keep is not None:
                    w = w[:, torch.as_tensor(keep)]
                b = None if m.bias is None else m.bias.detach().clone()
                if i != last:
                    new_keep = _keep(w.abs().reshape(w.shape[0], -1).sum(1).numpy(), sparsity)
                    removed[f"{i}:{kind}"] = int(w.shape[0] - len(new_keep))
                    w = w[torch.as_tensor(new_keep)]
                    b = None if b is None else b[torch.as_tensor(new_keep)]
                    keep = new_keep
                else:
                    keep = None
                new_layers.append(_rebuilt(m, w, b))
            elif isinstance(m, nn.Conv2d) and m.groups == m.in_channels == m.out_channels:
                new_layers.append(m if keep is None else _depthwise_kept(m, keep))
            elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
                new_layers.append(m if keep is None else _batchnorm_kept(m, keep))
            elif isinstance(m, nn.Flatten):
                if keep is not None:
                    spatial = int(np.prod(shapes[i][2:]))
                    keep = np.array([c * spatial + s for c in keep for s in range(spatial)])
                new_layers.append(m)
            elif kind in _TORCH_PASS:
                new_layers.append(m)
            else:
                raise CompressionError(f"structured pruning cannot handle layer {i} ({kind})")
    return nn.Sequential(*new_layers).eval(), removed


def _keras(model: Any, sparsity: float) -> tuple[Any, dict[str, int]]:
    from edgebench.models.train import keras_env

    keras_env()
    import tf_keras as keras

    if not isinstance(model, keras.Sequential):
        raise CompressionError(f"structured pruning needs a keras.Sequential stack, got "
                               f"{type(model).__name__}")
    layers = model.layers
    producers = [i for i, layer in enumerate(layers)
                 if type(layer).__name__ in ("Conv2D", "Conv1D", "Dense")]
    if len(producers) < 2:
        raise CompressionError("structured pruning needs at least two Conv2D/Dense layers")
    last = producers[-1]
    keep = None
    removed: dict[str, int] = {}
    new_weights: dict[str, list[np.ndarray]] = {}
    sizes: dict[str, dict[str, int]] = {}
    for i, layer in enumerate(layers):
        kind = type(layer).__name__
        weights = [np.asarray(w) for w in layer.get_weights()]
        if i in producers:
            kernel = weights[0]
            if keep is not None:
                kernel = np.take(kernel, keep, axis=-2)
            rest = weights[1:]
            if i != last:
                new_keep = _keep(np.abs(kernel).reshape(-1, kernel.shape[-1]).sum(0), sparsity)
                removed[f"{i}:{kind}"] = int(kernel.shape[-1] - len(new_keep))
                kernel = np.take(kernel, new_keep, axis=-1)
                rest = [np.take(b, new_keep, axis=-1) for b in rest]
                keep = new_keep
                sizes[layer.name] = {"units" if kind == "Dense" else "filters": len(new_keep)}
            else:
                keep = None
            new_weights[layer.name] = [kernel, *rest]
        elif kind in ("DepthwiseConv2D", "BatchNormalization"):
            if kind == "DepthwiseConv2D" and layer.depth_multiplier != 1:
                raise CompressionError(f"layer {layer.name}: depth_multiplier != 1 is not supported")
            axis = -2 if kind == "DepthwiseConv2D" else -1
            new_weights[layer.name] = ([np.take(weights[0], keep, axis=axis),
                                        *[np.take(w, keep, axis=-1) for w in weights[1:]]]
                                       if keep is not None else weights)
        elif kind == "Flatten":
            if keep is not None:
                shape = layer.input_shape[1:]
                channels, spatial = int(shape[-1]), int(np.prod(shape[:-1]))
                keep = np.array([s * channels + c for s in range(spatial) for c in keep])
        elif kind not in _KERAS_PASS or weights:
            raise CompressionError(f"structured pruning cannot handle layer {layer.name} ({kind})")
    config = model.get_config()
    for entry in config["layers"]:
        entry["config"].update(sizes.get(entry["config"].get("name"), {}))
    new = keras.Sequential.from_config(config)
    for layer in new.layers:
        if layer.name in new_weights:
            layer.set_weights(new_weights[layer.name])
    return new, removed
