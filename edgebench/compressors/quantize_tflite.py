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

from edgebench.compressors import inspect
from edgebench.compressors.params import QuantizeParams
from edgebench.errors import CompressionError

# Highest op versions tflite-runtime 2.14.0 resolves, MEASURED here: every op code of
# edgebench's built-in models was rewritten to versions 1..15 and loaded with the 2.14.0
# wheel (``Didn't find op for builtin opcode`` = unsupported).  Ops not listed were not
# measured; the compat check names them instead of guessing.
TFLITE_2_14_MAX_VERSIONS = {
    "ADD": 5, "CONV_2D": 7, "DEPTHWISE_CONV_2D": 7, "DEQUANTIZE": 5, "FULLY_CONNECTED": 10,
    "MAX_POOL_2D": 3, "MEAN": 3, "QUANTIZE": 3, "RESHAPE": 1,
}


def quantize_tflite(state: Any, params: dict[str, Any], ctx: Any, out_path: Path) -> Any:
    from edgebench.compressors.export import keras_to_tflite
    from edgebench.compressors.pipeline import validate_params

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
        from edgebench.compressors.quantize_onnx import calibration_samples

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
    after = inspect.tflite_stats(out_path)
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


def op_versions(path: Path) -> dict[str, int]:
    """Highest version of each builtin op in a .tflite file (read from the flatbuffer)."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(Path(path).read_bytes(), 0)
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    out: dict[str, int] = {}
    for code in model.operatorCodes or []:
        name = names.get(max(code.builtinCode, code.deprecatedBuiltinCode), "CUSTOM")
        if code.customCode:
            name = f"CUSTOM:{code.customCode.decode() if isinstance(code.customCode, bytes) else code.customCode}"
        out[name] = max(out.get(name, 0), int(code.version))
    return out


def apply_compat(p: QuantizeParams, versions: dict[str, int], state: Any) -> None:
    """``compat: tflite-runtime-2.14``: fail on ops too new, warn on ops never measured."""
    if p.compat != "tflite-runtime-2.14":
        return
    check_compat_2_14(versions)
    unknown = sorted(set(versions) - set(TFLITE_2_14_MAX_VERSIONS))
    if unknown:
        state.warnings.append("compat tflite-runtime-2.14: not verified for "
                              + ", ".join(f"{op} v{versions[op]}" for op in unknown))


def check_compat_2_14(versions: dict[str, int]) -> None:
    """Refuse a file tflite-runtime 2.14 cannot load: ops newer than it registers, and
    custom ops -- the plain wheel registers none (MediaPipe's
    ``Convolution2DTransposeBias`` passed as "not verified", then every job failed)."""
    custom = sorted(op for op in versions if op.startswith("CUSTOM:"))
    if custom:
        raise CompressionError("compat tflite-runtime-2.14: the file needs custom op(s) "
                               f"{', '.join(custom)}, which tflite-runtime 2.14 does not "
                               "register: it cannot load this variant")
    too_new = [f"{op} v{v} (2.14 has v{TFLITE_2_14_MAX_VERSIONS[op]})"
               for op, v in versions.items()
               if op in TFLITE_2_14_MAX_VERSIONS and v > TFLITE_2_14_MAX_VERSIONS[op]]
    if too_new:
        raise CompressionError("compat tflite-runtime-2.14: ops too new for that runtime: "
                               + ", ".join(too_new))
