"""Calibration data for static quantization, shared by the ONNX and both TFLite quantizers
(a leaf: each quantizer imports it, not another quantizer), and the quieting of their
libraries' advice on stdout."""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from edgebench.compressors.params import QuantizeParams
from edgebench.errors import CompressionError


def calibration_feeds(p: QuantizeParams, ctx: Any, model_path: Path,
                      state: Any) -> tuple[dict[str, np.ndarray], str]:
    """Calibration samples by input name for a model file, resolved like every other feed
    (:meth:`Context.feeds`): real data; seeded inputs only with ``calibration: random``."""
    if p.calibration == "data" and ctx.x("calib") is None:
        raise CompressionError(
            "static quantization needs real calibration samples: give the model a 'data:' "
            "(.npz with x, or one array per input name) or set 'calibration: random' to "
            "accept a meaningless calibration")
    samples, _, warnings = ctx.feeds("calib", model_path, p.calibration_samples,
                                     use_data=p.calibration == "data")
    samples = {k: v[: p.calibration_samples] for k, v in samples.items()}
    if p.calibration == "random" or ctx.data is None:
        state.warnings.append("quantize: calibration on RANDOM inputs (calibration: random): "
                              "activation ranges are not those of real data")
        return samples, "random"
    state.warnings.extend(f"quantize: {w}" for w in warnings)
    if ctx.data.synthetic:
        state.warnings.append("quantize: calibrated on synthetic (random) inputs: this "
                              "built-in has no dataset; judge it by fidelity to fp32")
    return samples, ctx.data.name


def calibration_samples(p: QuantizeParams, ctx: Any, model_path: Path | None,
                        state: Any) -> tuple[np.ndarray, str]:
    """Real calibration rows in this format's layout (Keras converter: one input);
    random ones only when asked (warned)."""
    x = ctx.x("calib")
    if p.calibration == "data":
        if x is None:
            raise CompressionError(
                "static quantization needs real calibration samples: give the model a 'data:' "
                "(.npz with x) or set 'calibration: random' to accept a meaningless calibration")
        if ctx.data is not None and ctx.data.synthetic:
            state.warnings.append("quantize: calibrated on synthetic (random) inputs: this "
                                  "built-in has no dataset; judge it by fidelity to fp32")
        return x[: p.calibration_samples], ctx.data.name
    shape = ctx.input_shape
    if ctx.fmt == "tflite" and len(shape) == 3:
        shape = (*shape[1:], shape[0])
    state.warnings.append("quantize: calibration on RANDOM inputs (calibration: random): "
                          "activation ranges are not those of real data")
    rng = np.random.default_rng(0)
    return rng.standard_normal((p.calibration_samples, *shape)).astype(np.float32), "random"


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """onnxruntime.quantization logs advice through the root logger and prints; keep stdout clean."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        root.setLevel(level)
