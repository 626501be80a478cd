"""``quantize`` for ONNX with onnxruntime.quantization: dynamic, static (QDQ/QOperator), fp16.

Before quantizing, the model is normalised so the quantizer sees what it expects:
external data is inlined (single file), ``Constant`` nodes become initializers (the
quantizer only quantizes initializer weights), and ``quant_pre_process`` runs (shape
inference + graph fusions; skipped with a warning when it fails, e.g. on custom ops).
The result is inspected: if no operator ended up quantized the variant is ``noop`` --
this is what happens when the compute lives inside ``If``/``Loop`` subgraphs, which
onnxruntime's quantizer leaves in float.  fp16 uses onnxruntime's bundled float16
converter (``onnxruntime.transformers.float16``, the same code as onnxconverter-common)
with ``keep_io_types=True`` so inputs and outputs stay float32.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from edgebench.compressors import model_stats
from edgebench.compressors.calibration import calibration_feeds
from edgebench.compressors.calibration import quiet as _quiet
from edgebench.compressors.params import QuantizeParams
from edgebench.errors import CompressionError

_MAX_SINGLE_FILE_BYTES = 2 * 1024**3 - 1


def quantize_onnx(state: Any, params: dict[str, Any], ctx: Any, out_path: Path) -> Any:
    from edgebench.compressors.stepbase import validate_params

    p = validate_params(QuantizeParams, params, "quantize")
    if p.mode == "int16x8":
        raise CompressionError("mode 'int16x8' is TFLite-only; use 'static' for ONNX")
    src = Path(state.obj)
    before = model_stats.onnx_stats(src)
    state.float_stats = state.float_stats or before
    if already_quantized(before, p.mode):
        # quantizing int8 again (or casting it to fp16) rewrites nothing worth shipping:
        # the file goes on unchanged and the variant says NOOP with the reason
        state.noop_reasons.append(f"quantize ({p.mode}): the source is already quantized "
                                  f"({sum(before['quantized_ops'].values())} quantized ops, no "
                                  "float compute op left); the file is kept as it is")
        state.reports.append({"step": "quantize", "format": "onnx", "params": p.model_dump(),
                              "skipped": "source already quantized"})
        return state
    prepared = _normalise(src, ctx.work_dir / f"{out_path.stem}-in.onnx", state)
    report: dict[str, Any] = {"step": "quantize", "format": "onnx", "params": p.model_dump()}
    for key in p.foreign_keys("onnx"):
        state.warnings.append(f"quantize: '{key}' applies to TFLite only and was not used for ONNX")
    try:
        with _quiet():
            if p.mode == "fp16":
                _fp16(prepared, out_path)
            else:
                if p.preprocess:
                    prepared = _preprocess(prepared, state)
                if p.mode == "dynamic":
                    _dynamic(prepared, out_path, p)
                else:
                    _static(prepared, out_path, p, ctx, state, report)
    except CompressionError:
        raise
    except Exception as exc:  # noqa: BLE001 - onnxruntime.quantization raises anything
        msg = " ".join(str(exc).split())[:300]
        raise CompressionError(f"onnxruntime quantization ({p.mode}) failed: "
                               f"{type(exc).__name__}: {msg}") from exc
    if p.compact_names:
        from edgebench.compressors.export import compact_onnx_names

        compact_onnx_names(out_path)
    after = model_stats.onnx_stats(out_path)
    _judge(p, before, after, state, report)
    state.reports.append(report)
    state.obj = out_path
    return state


def already_quantized(stats: dict[str, Any], mode: str) -> bool:
    """A file with quantized ops and no float compute op left: nothing to quantize (fp16
    of an int8 model would dequantize its weights into a bigger file)."""
    return bool(stats["quantized_ops"]) and stats["float_compute_ops"] == 0 and mode in (
        "dynamic", "static", "fp16", "int16x8")


def _judge(p: QuantizeParams, before: dict, after: dict, state: Any, report: dict) -> None:
    """noop when nothing new is quantized; a warning when float compute ops remain."""
    key = "fp16_ops" if p.mode == "fp16" else "quantized_ops"
    n_before, n_after = sum(before[key].values()), sum(after[key].values())
    report.update({"ops_converted": n_after - n_before, key: after[key],
                   "float_compute_ops_left": after["float_compute_ops"]})
    if n_after <= n_before:
        reason = f"quantize ({p.mode}) converted no operator"
        if before["subgraph_nodes"]:
            reason += (f"; {before['subgraph_nodes']} nodes sit inside If/Loop/Scan subgraphs, "
                       "which onnxruntime's quantizer does not touch")
        elif before["float_compute_ops"] == 0:
            reason += "; the model has no float Conv/Gemm/MatMul left to convert"
        state.noop_reasons.append(reason)
    elif after["float_compute_ops"]:
        state.warnings.append(f"quantize ({p.mode}): {after['float_compute_ops']} compute ops "
                              "stayed float32")


def _normalise(src: Path, dst: Path, state: Any) -> Path:
    """Inline external data and turn Constant nodes into initializers; single-file output."""
    import onnx

    model = onnx.load(str(src))  # resolves external data relative to src
    graph = model.graph
    moved = 0
    for node in list(graph.node):
        if node.op_type == "Constant" and len(node.attribute) == 1 and node.attribute[0].name == "value":
            t = onnx.TensorProto()
            t.CopyFrom(node.attribute[0].t)
            t.name = node.output[0]
            graph.initializer.append(t)
            graph.node.remove(node)
            moved += 1
    if moved:
        state.warnings.append(f"quantize: {moved} Constant nodes turned into initializers")
    if model.ByteSize() > _MAX_SINGLE_FILE_BYTES:
        raise CompressionError("model is over 2 GB: cannot be quantized as a single file")
    onnx.save(model, str(dst), save_as_external_data=False)
    return dst


def _preprocess(src: Path, state: Any) -> Path:
    from onnxruntime.quantization.shape_inference import quant_pre_process

    src = src.resolve()
    dst = src.with_name(src.stem + "-pre.onnx")
    try:
        with _scratch_cwd():
            quant_pre_process(str(src), str(dst), skip_symbolic_shape=False)
        return dst
    except Exception as exc:  # noqa: BLE001 - symbolic shape inference fails on many models
        state.warnings.append(f"quantize: quant_pre_process skipped ({reason(exc)})")
        return src


def reason(exc: BaseException, limit: int = 160) -> str:
    """One line naming what went wrong; a bare ``assert`` has an empty str(), so the
    exception's type and where it was raised stand in ("AssertionError: " said nothing)."""
    text = " ".join(str(exc).split())[:limit]
    if text:
        return f"{type(exc).__name__}: {text}"
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    where = (f" at {Path(tb.tb_frame.f_code.co_filename).name}:{tb.tb_lineno} "
             f"in {tb.tb_frame.f_code.co_name}" if tb is not None else "")
    return f"{exc!r}{where}"


@contextlib.contextmanager
def _scratch_cwd() -> Iterator[None]:
    """onnxruntime's symbolic shape inference dumps ``sym_shape_infer_temp.onnx`` (and its
    external data) into the *current directory* when it gives up; keep that litter out of
    the user's working tree.  Variants are built before any device thread starts, so
    changing the process's cwd for the duration is safe."""
    old = os.getcwd()
    scratch = tempfile.mkdtemp(prefix="eb-quant-")
    os.chdir(scratch)
    try:
        yield
    finally:
        os.chdir(old)
        shutil.rmtree(scratch, ignore_errors=True)


def _qtype(name: str) -> Any:
    from onnxruntime.quantization import QuantType

    return QuantType.QInt8 if name == "int8" else QuantType.QUInt8


def _dynamic(src: Path, dst: Path, p: QuantizeParams) -> None:
    from onnxruntime.quantization import quantize_dynamic

    quantize_dynamic(str(src), str(dst), weight_type=_qtype(p.weight_type),
                     per_channel=p.per_channel, reduce_range=p.reduce_range,
                     op_types_to_quantize=p.op_types)


def _static(src: Path, dst: Path, p: QuantizeParams, ctx: Any, state: Any, report: dict) -> None:
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, quantize_static

    from edgebench.compressors.feeds import feed_for, model_inputs

    samples, source = calibration_feeds(p, ctx, src, state)
    inputs = model_inputs(src, "onnx")
    n = len(next(iter(samples.values())))
    report["calibration"] = {"source": source, "samples": int(n)}

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter(range(n))

        def get_next(self) -> dict[str, np.ndarray] | None:
            index = next(self._it, None)
            return None if index is None else feed_for(samples, index, inputs)

    method = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
              "percentile": CalibrationMethod.Percentile}[p.calibrate_method]
    quantize_static(str(src), str(dst), Reader(),
                    quant_format=QuantFormat.QDQ if p.quant_format == "qdq" else QuantFormat.QOperator,
                    op_types_to_quantize=p.op_types, per_channel=p.per_channel,
                    reduce_range=p.reduce_range, activation_type=_qtype(p.activation_type),
                    weight_type=_qtype(p.weight_type), calibrate_method=method)


def _fp16(src: Path, dst: Path) -> None:
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(str(src)), keep_io_types=True)
    onnx.save(model, str(dst), save_as_external_data=False)


