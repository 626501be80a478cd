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
import io
import logging
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from edgebench.compressors import inspect
from edgebench.compressors.params import QuantizeParams
from edgebench.errors import CompressionError

_MAX_SINGLE_FILE_BYTES = 2 * 1024**3 - 1


def quantize_onnx(state: Any, params: dict[str, Any], ctx: Any, out_path: Path) -> Any:
    from edgebench.compressors.pipeline import validate_params

    p = validate_params(QuantizeParams, params, "quantize")
    if p.mode == "int16x8":
        raise CompressionError("mode 'int16x8' is TFLite-only; use 'static' for ONNX")
    src = Path(state.obj)
    before = inspect.onnx_stats(src)
    state.float_stats = state.float_stats or before
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
    after = inspect.onnx_stats(out_path)
    _judge(p, before, after, state, report)
    state.reports.append(report)
    state.obj = out_path
    return state


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
        state.warnings.append(f"quantize: quant_pre_process skipped ({type(exc).__name__}: "
                              f"{' '.join(str(exc).split())[:120]})")
        return src


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
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                          quantize_static)

    samples, source = calibration_samples(p, ctx, src, state)
    report["calibration"] = {"source": source, "samples": int(len(samples))}
    name = _input_name(src)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter(samples)

        def get_next(self) -> dict[str, np.ndarray] | None:
            row = next(self._it, None)
            if row is None:
                return None
            return {name: row[None] if row.dtype.kind in "iub" else row[None].astype(np.float32)}

    method = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
              "percentile": CalibrationMethod.Percentile}[p.calibrate_method]
    quantize_static(str(src), str(dst), Reader(),
                    quant_format=QuantFormat.QDQ if p.quant_format == "qdq" else QuantFormat.QOperator,
                    op_types_to_quantize=p.op_types, per_channel=p.per_channel,
                    reduce_range=p.reduce_range, activation_type=_qtype(p.activation_type),
                    weight_type=_qtype(p.weight_type), calibrate_method=method)


def calibration_samples(p: QuantizeParams, ctx: Any, model_path: Path | None,
                        state: Any) -> tuple[np.ndarray, str]:
    """Real calibration rows in this format's layout; random ones only when asked (warned)."""
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
    shape = ctx.input_shape if ctx.input_shape else _file_input_shape(model_path)
    if ctx.fmt == "tflite" and len(shape) == 3 and ctx.input_shape:
        shape = (*shape[1:], shape[0])
    state.warnings.append("quantize: calibration on RANDOM inputs (calibration: random): "
                          "activation ranges are not those of real data")
    rng = np.random.default_rng(0)
    return rng.standard_normal((p.calibration_samples, *shape)).astype(np.float32), "random"


def _file_input_shape(path: Path | None) -> tuple[int, ...]:
    """First input's shape without batch, read from the .onnx / .tflite file itself."""
    from edgebench.compressors.manifest import onnx_io

    if path is None:
        raise CompressionError("cannot make random calibration data: unknown input shape")
    if Path(path).suffix == ".tflite":  # a .tflite source: its own (NHWC) shape
        from ai_edge_litert.interpreter import Interpreter

        detail = Interpreter(model_path=str(path)).get_input_details()[0]
        dims = [int(d) for d in detail.get("shape_signature", detail["shape"])][1:]
    else:
        dims = onnx_io(path)["inputs"][0]["shape"][1:]
    return tuple(d if isinstance(d, int) and d > 0 else 1 for d in dims)


def _input_name(path: Path) -> str:
    from edgebench.compressors.manifest import onnx_io

    inputs = onnx_io(path)["inputs"]
    if len(inputs) != 1:
        raise CompressionError(f"static quantization supports one-input models (this one has "
                               f"{len(inputs)}); use mode: dynamic")
    return inputs[0]["name"]


def _fp16(src: Path, dst: Path) -> None:
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(str(src)), keep_io_types=True)
    onnx.save(model, str(dst), save_as_external_data=False)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
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
