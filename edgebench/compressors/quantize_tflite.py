"""``quantize`` for TFLite: the converter's post-training modes, applied while converting Keras.

A source that is already a .tflite file cannot go back through the converter: it is
quantized by ai-edge-quantizer instead (:mod:`edgebench.compressors.quantize_tflite_file`,
same modes and params, ``pip install ai-edge-quantizer``).  For Keras sources:

* ``dynamic``: int8 weights, float activations (``Optimize.DEFAULT``, no data).
* ``static``: full integer int8 (``TFLITE_BUILTINS_INT8`` only, representative dataset of
  real samples); ``io_type: int8`` also makes the model's input/output int8.
* ``fp16``: float16 weights (dequantized to float32 at load time on CPU).
* ``int16x8``: int16 activations, int8 weights (``EXPERIMENTAL_..._INT16_WEIGHTS_INT8``).

``compat: tflite-runtime-2.14`` targets the old runtime: TF 2.21 quantizes dense layers
per channel, which needs FULLY_CONNECTED version 12 that tflite-runtime 2.14 does not
register; ``_experimental_disable_per_channel_quantization_for_dense_layers`` keeps dense
weights per tensor (FULLY_CONNECTED v9).  The manifest lists every op version, and the
step fails if one is above what 2.14 registers (table below), so an incompatible file
never ships under the compat label.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgebench.compressors import model_stats
from edgebench.compressors.params import QuantizeParams
from edgebench.compressors.tflite_compat import apply_compat, op_versions
from edgebench.errors import CompressionError


def quantize_tflite(state: Any, params: dict[str, Any], ctx: Any, out_path: Path) -> Any:
    from edgebench.compressors.export import keras_to_tflite
    from edgebench.compressors.stepbase import validate_params

    p = validate_params(QuantizeParams, params, "quantize")
    if state.kind == "tflite":  # a .tflite source: rewritten by ai-edge-quantizer
        from edgebench.compressors.quantize_tflite_file import quantize_tflite_file

        return quantize_tflite_file(state, p, ctx, out_path)
    if state.kind != "keras":
        raise CompressionError(f"TFLite quantization needs a Keras model, got {state.kind}")
    if p.io_type == "int8" and p.mode != "static":
        raise CompressionError("io_type: int8 needs mode: static (full integer)")
    for key in p.foreign_keys("tflite"):
        state.warnings.append(f"quantize: '{key}' applies to ONNX only and was not used for TFLite")
    report: dict[str, Any] = {"step": "quantize", "format": "tflite", "params": p.model_dump()}
    rep_data = None
    if p.mode in ("static", "int16x8"):
        from edgebench.compressors.calibration import calibration_samples

        samples, source = calibration_samples(p, ctx, None, state)
        report["calibration"] = {"source": source, "samples": int(len(samples))}
        rep_data = samples

    def setup(converter: Any) -> None:
        import tensorflow as tf

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if rep_data is not None:
            converter.representative_dataset = lambda: ([row[None].astype(np.float32)]
                                                        for row in rep_data)
        if p.mode == "static":
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            if p.io_type == "int8":
                converter.inference_input_type = tf.int8
                converter.inference_output_type = tf.int8
        elif p.mode == "int16x8":
            converter.target_spec.supported_ops = [
                tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
        elif p.mode == "fp16":
            converter.target_spec.supported_types = [tf.float16]
        if p.compat == "tflite-runtime-2.14":
            converter._experimental_disable_per_channel_quantization_for_dense_layers = True  # noqa: SLF001

    keras_to_tflite(state.obj, out_path, converter_setup=setup)
    after = model_stats.tflite_stats(out_path)
    versions = op_versions(out_path)
    report["op_versions"] = versions
    apply_compat(p, versions, state)
    key = "fp16_ops" if p.mode == "fp16" else "quantized_ops"
    report.update({"ops_converted": sum(after[key].values()), key: after[key],
                   "float_compute_ops_left": after["float_compute_ops"]})
    if not after[key]:
        state.noop_reasons.append(f"quantize ({p.mode}) converted no operator")
    elif after["float_compute_ops"] and p.mode != "fp16":  # fp16 weights compute in fp32 on CPU
        state.warnings.append(f"quantize ({p.mode}): {after['float_compute_ops']} compute ops "
                              "stayed float32")
    state.reports.append(report)
    state.kind, state.obj = "tflite", out_path
    return state


