"""TFLite op versions and the ``compat: tflite-runtime-2.14`` check, shared by the converter
(:mod:`quantize_tflite`) and ai-edge-quantizer (:mod:`quantize_tflite_file`): a leaf, so the
two quantizers do not import each other."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
