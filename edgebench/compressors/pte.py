"""ExecuTorch ``.pte`` files from the PyTorch sources: export, int8, statistics, outputs.

fp32: ``torch.export`` -> ``to_edge_transform_and_lower`` with the XNNPACK partitioner ->
``to_executorch``.  int8 (``quantize: {mode: static}``): PT2E -- the exported module is
prepared with ExecuTorch's ``XNNPACKQuantizer`` (symmetric, per-channel weights unless
``per_channel: false``), calibrated on the suite's calibration data, converted, then
exported and lowered the same way; ``mode: dynamic`` uses the quantizer's dynamic config
(int8 weights, activations quantized per inference).  The batch dimension is fixed at 1:
a ``.pte`` method has static, memory-planned shapes.

Statistics are read from the file (:mod:`edgebench.agent.backends.executorch_program`):
weights from the XNNPACK payload's constant data, node types and datatypes from its
graph.  Quality is measured on the file too, through ``executorch.runtime``.
"""

from __future__ import annotations

import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from edgebench.errors import CompressionError, ModelError

MODES = ("static", "dynamic")
#: quantize keys the XNNPACK quantizer uses; any other set key is warned about
PTE_KEYS = ("mode", "calibration", "calibration_samples", "per_channel")


def _example(input_shape: tuple[int, ...], input_dtype: str) -> Any:
    import torch

    return torch.ones((1, *input_shape), dtype=getattr(torch, input_dtype))


def lower_to_pte(module: Any, example: Any, path: Path) -> dict[str, Any]:
    """Export ``module`` on ``example``, delegate to XNNPACK, write the program; returns
    how much was delegated (``delegated_nodes``, ``portable_nodes``)."""
    import torch
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.devtools.backend_debug import get_delegation_info
    from executorch.exir import to_edge_transform_and_lower

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        edge = to_edge_transform_and_lower(torch.export.export(module, (example,)),
                                           partitioner=[XnnpackPartitioner()])
        delegation = get_delegation_info(edge.exported_program().graph_module)
        program = edge.to_executorch()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(program.buffer)
    return {"delegate": "XnnpackBackend", "delegated_nodes": int(delegation.num_delegated_nodes),
            "portable_nodes": int(delegation.num_non_delegated_nodes)}


def torch_to_pte(module: Any, input_shape: tuple[int, ...], path: Path,
                 input_dtype: str = "float32") -> dict[str, Any]:
    """The fp32 program of ``module`` (eval mode) for input ``[1, *input_shape]``."""
    module.eval()
    try:
        return lower_to_pte(module, _example(input_shape, input_dtype), Path(path))
    except Exception as exc:  # noqa: BLE001 - torch.export / exir raise many untyped errors
        raise CompressionError(f"ExecuTorch export failed: {type(exc).__name__}: "
                               f"{' '.join(str(exc).split())[:300]}") from exc


def quantize_pte(state: Any, params: dict[str, Any], ctx: Any, out_path: Path) -> Any:
    """``quantize`` for the pte format: PT2E with the XNNPACK quantizer, then lowering."""
    from edgebench.compressors.calibration import calibration_samples
    from edgebench.compressors.params import QuantizeParams
    from edgebench.compressors.stepbase import validate_params

    p = validate_params(QuantizeParams, params, "quantize")
    if state.kind != "torch":
        raise CompressionError(f"a .pte variant is quantized from the PyTorch model, not from "
                               f"a .{state.kind} file: put 'quantize' last and only once")
    if p.mode not in MODES:
        raise CompressionError(f"mode {p.mode!r} is not available for pte (XNNPACK quantizer): "
                               f"use {' or '.join(MODES)}")
    for key in sorted(set(p.model_fields_set) - set(PTE_KEYS)):
        state.warnings.append(f"quantize: '{key}' does not apply to pte (XNNPACK quantizer) "
                              "and was not used")
    per_channel = p.per_channel if "per_channel" in p.model_fields_set else True
    report: dict[str, Any] = {"step": "quantize", "format": "pte", "params": p.model_dump(),
                              "quantizer": "XNNPACKQuantizer (PT2E)", "per_channel": per_channel}
    calib = None
    if p.mode == "static":
        calib, source = calibration_samples(p, ctx, None, state)
        report["calibration"] = {"source": source, "samples": len(calib)}
    try:
        report.update(_pt2e(state.obj, ctx, calib, per_channel, p.mode == "dynamic", out_path))
    except CompressionError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise CompressionError(f"ExecuTorch quantization ({p.mode}) failed: "
                               f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}") from exc
    state.reports.append(report)
    state.kind, state.obj = "pte", out_path
    return state


def _pt2e(module: Any, ctx: Any, calib: Any, per_channel: bool, dynamic: bool,
          out_path: Path) -> dict[str, Any]:
    import torch
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    module.eval()
    example = _example(ctx.input_shape, ctx.input_dtype)
    quantizer = XNNPACKQuantizer().set_global(
        get_symmetric_quantization_config(is_per_channel=per_channel, is_dynamic=dynamic))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prepared = prepare_pt2e(torch.export.export(module, (example,)).module(), quantizer)
        rows = [example] if calib is None else [
            torch.from_numpy(np.ascontiguousarray(row[None], dtype=np.float32)) for row in calib]
        with torch.no_grad():
            for row in rows:
                prepared(row)
        converted = convert_pt2e(prepared)
    return lower_to_pte(converted, example, out_path)


def pte_stats(path: Path) -> dict[str, Any]:
    """File statistics in the shape of ``model_stats.onnx_stats``: weights from the XNNPACK
    constant data (scalars are quantization parameters, not weights), nodes from its graph."""
    from edgebench.agent.backends.executorch_program import constant_arrays, describe

    weights = [a for a in constant_arrays(str(path)) if a.size > 1]
    info = describe(str(path))
    ops: Counter = Counter({f"xnnpack.{k}": v for k, v in info["xnnpack_ops"].items()})
    ops.update({f"portable.{k}": 1 for k in info["portable_ops"]})
    quantized: Counter = Counter()
    if info["execution_precision"] and info["execution_precision"].startswith("int8"):
        quantized = Counter({k: v for k, v in ops.items() if k.startswith("xnnpack.")
                             and k.split(".", 1)[1] not in ("XNNConvert",)})
    return {"params": int(sum(a.size for a in weights)),
            "nonzero_params": int(sum(np.count_nonzero(a) for a in weights)),
            "macs": None, "op_counts": dict(ops), "quantized_ops": dict(quantized),
            "fp16_ops": {}, "float_compute_ops": 0 if quantized else sum(
                v for k, v in ops.items() if k.startswith("xnnpack.")),
            "execution_precision": info["execution_precision"],
            "delegates": info["delegates"], "io": pte_io(path)}


def pte_io(path: Path) -> dict[str, Any]:
    """Inputs and outputs of the ``forward`` method (names as the agent gives them)."""
    method = _method(path)
    meta = method.metadata
    from edgebench.agent.backends.executorch_backend import _SCALAR

    def describe(kind: str, i: int) -> dict[str, Any]:
        m = getattr(meta, f"{kind}_tensor_meta")(i)
        return {"name": f"{kind}_{i}", "shape": [int(d) for d in m.sizes()],
                "dtype": _SCALAR.get(int(m.dtype()), "float32")}

    return {"inputs": [describe("input", i) for i in range(meta.num_inputs())],
            "outputs": [describe("output", i) for i in range(meta.num_outputs())]}


def _method(path: Path) -> Any:
    from executorch.runtime import Runtime

    return Runtime.get().load_program(str(path)).load_method("forward")


def pte_outputs(path: Path, samples: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every output for every sample (each ``[1, ...]``, static shapes), float32."""
    import torch

    method = _method(path)
    names = [i["name"] for i in pte_io(path)["inputs"]]
    missing = [n for n in names if n not in samples]
    if missing:
        raise ModelError(f"no samples for .pte input(s) {', '.join(missing)}")
    n = len(samples[names[0]])
    rows: dict[str, list[np.ndarray]] = {}
    for i in range(n):
        args = [torch.from_numpy(np.ascontiguousarray(samples[k][i])) for k in names]
        for j, out in enumerate(method.execute(args)):
            rows.setdefault(f"output_{j}", []).append(np.asarray(out.numpy(), dtype=np.float32))
    return {k: np.stack(v) for k, v in rows.items()}


def run_pte(path: Path, x: np.ndarray, output: Any = None) -> np.ndarray:
    """The judged output on every row of ``x`` (rows without the batch dim), flattened."""
    outs = pte_outputs(path, {"input_0": np.asarray(x)[:, None]})
    if output is not None and output not in outs:
        raise ModelError(f"the model has no output {output!r} (outputs: {', '.join(outs)})")
    judged = outs[output or next(iter(outs))]
    return judged.reshape(len(judged), -1)
