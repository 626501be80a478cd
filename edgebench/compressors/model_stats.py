"""What a built model file really contains: parameters, zeros, MACs, and which ops are quantized.

These figures come from the *file*, not from the recipe that produced it, so a quantizer
that skipped every operator or a pruner that removed nothing shows up as such.

* ``params``: elements of weight/bias tensors (quantization scales / zero points and int64
  shape constants excluded); ``nonzero_params``: those whose stored value is not 0.
* ``macs``: multiply-accumulates of Conv / depthwise Conv / Gemm / MatMul / FC at batch 1,
  from the file's static shapes (ONNX: after shape inference; dynamic dims count as 1).
* ``quantized_ops``: compute ops running on integer data, by op type (QOperator ops such
  as ``QLinearConv``/``MatMulInteger``, QDQ-wrapped ops as ``Conv(qdq)``, TFLite ops with
  int8/int16 weights as ``CONV_2D(int8)``); ``fp16_ops``: ops with float16 weights.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import numpy as np

# ONNX ops that carry quantized weights, and which inputs are weights (not scales/zps).
_ONNX_QOPS: dict[str, tuple[int, ...]] = {
    "QLinearConv": (3, 8), "QLinearMatMul": (0, 3), "ConvInteger": (0, 1),
    "MatMulInteger": (0, 1), "QGemm": (3, 6), "DynamicQuantizeMatMul": (1, 4),
    "MatMulIntegerToFloat": (0, 1, 6),
}
_ONNX_QOP_PREFIXES = ("QLinear",)
_ONNX_QDQ = ("QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear")
_ONNX_COMPUTE = ("Conv", "ConvTranspose", "Gemm", "MatMul", "LSTM", "GRU", "Attention")
_SUBGRAPH_OPS = ("If", "Loop", "Scan")


def _graphs(graph: Any) -> Iterator[Any]:
    """A graph and, recursively, every subgraph of If / Loop / Scan nodes."""
    yield graph
    for node in graph.node:
        for attr in node.attribute:
            if attr.g is not None and attr.g.node:
                yield from _graphs(attr.g)
            for g in attr.graphs:
                yield from _graphs(g)


def _graph_constants(graph: Any) -> dict[str, Any]:
    """A graph's initializers and Constant nodes' tensors, by output name."""
    inits = {t.name: t for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value" and attr.t is not None and attr.t.dims is not None:
                    inits[node.output[0]] = attr.t
    return inits


def onnx_stats(path: Path) -> dict[str, Any]:
    """Parameter, MAC and op statistics of an ONNX file (external data resolved if present)."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    op_counts: Counter[str] = Counter()
    quantized: Counter[str] = Counter()
    fp16: Counter[str] = Counter()
    float_compute = 0
    params = nonzero = 0
    subgraph_nodes = 0
    for g_index, graph in enumerate(_graphs(model.graph)):
        inits = _graph_constants(graph)
        producers = {o: n for n in graph.node for o in n.output}
        used: set[str] = set()
        for node in graph.node:
            op_counts[node.op_type] += 1
            if g_index > 0:
                subgraph_nodes += 1
            weight_idx, is_float = _onnx_node_kind(node, producers, inits, quantized, fp16)
            float_compute += is_float
            for i in weight_idx:
                if i < len(node.input) and node.input[i] in inits and node.input[i] not in used:
                    t = inits[node.input[i]]
                    if t.data_type in (onnx.TensorProto.INT64,) or _numel(t.dims) <= 1:
                        continue  # shapes and quantization parameters are not weights
                    used.add(node.input[i])
                    arr = numpy_helper.to_array(t)
                    params += int(arr.size)
                    nonzero += int(np.count_nonzero(arr))
    return {
        "params": params,
        "nonzero_params": nonzero,
        "macs": onnx_macs(model),
        "op_counts": dict(op_counts),
        "quantized_ops": dict(quantized),
        "fp16_ops": dict(fp16),
        "float_compute_ops": float_compute,
        "subgraph_nodes": subgraph_nodes,
        "has_control_flow": any(op in op_counts for op in _SUBGRAPH_OPS),
        "opset": max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
                     default=None),
    }


def _onnx_node_kind(node: Any, producers: dict[str, Any], inits: dict[str, Any],
                    quantized: Counter[str], fp16: Counter[str]) -> tuple[tuple[int, ...], bool]:
    """Which of ``node``'s inputs can hold weights, and whether it is float compute; counts
    it in ``quantized`` or ``fp16`` when it is either."""
    import onnx

    if node.op_type in _ONNX_QOPS or node.op_type.startswith(_ONNX_QOP_PREFIXES):
        quantized[node.op_type] += 1
        return _ONNX_QOPS.get(node.op_type, tuple(range(len(node.input)))), False
    if node.op_type in _ONNX_QDQ:
        return (0,), False
    if node.op_type == "Mul" and any(
            (p := producers.get(i)) is not None and p.op_type == "DynamicQuantizeLinear"
            and i == p.output[1] for i in node.input):
        return (), False  # activation scale x weight scale: a quantization parameter
    weight_idx = tuple(range(len(node.input)))
    from_dq = [producers.get(i) for i in node.input]
    if any(p is not None and p.op_type == "DequantizeLinear" for p in from_dq):
        quantized[f"{node.op_type}(qdq)"] += 1
    elif any(inits[i].data_type == onnx.TensorProto.FLOAT16 for i in node.input if i in inits):
        fp16[node.op_type] += 1
    elif node.op_type in _ONNX_COMPUTE:
        return weight_idx, True
    return weight_idx, False


def _numel(dims: Any) -> int:
    return int(np.prod(list(dims))) if len(dims) else 1


def onnx_macs(model: Any) -> int | None:
    """MACs at batch 1 of the main graph's Conv/Gemm/MatMul (and their quantized forms)."""
    import onnx

    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # noqa: BLE001 - contrib ops can defeat inference; MACs are best effort
        return None
    g = inferred.graph
    shapes: dict[str, list[int]] = {t.name: list(t.dims) for t in g.initializer}
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        dims = vi.type.tensor_type.shape.dim
        shapes[vi.name] = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else 1
                           for d in dims]
    producers = {o: n for n in g.node for o in n.output}

    def shape(name: str) -> list[int] | None:
        if name in shapes:
            return shapes[name]
        p = producers.get(name)
        if p is not None and p.op_type == "DequantizeLinear":
            return shape(p.input[0])
        return None

    total = 0
    for node in g.node:
        op = node.op_type
        w_idx = {"Conv": 1, "ConvInteger": 1, "QLinearConv": 3}.get(op)
        out = shape(node.output[0]) if node.output else None
        if w_idx is not None:
            w = shape(node.input[w_idx])
            if w is None or out is None:
                continue
            total += int(np.prod(out)) * int(np.prod(w[1:]))
        elif op in ("Gemm", "MatMul", "MatMulInteger", "QLinearMatMul", "QGemm"):
            a_idx = 0
            a = shape(node.input[a_idx])
            if a is None or out is None or not a:
                continue
            trans_a = any(at.name == "transA" and at.i for at in node.attribute)
            k = a[-2] if trans_a else a[-1]
            total += int(np.prod(out)) * int(k)
    return total


_TFLITE_WEIGHT_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV",
                      "BATCH_MATMUL", "CONV_3D")


def _tflite_weight_op(name: str, ins: list[int], op: dict[str, Any], tensors: dict[int, Any],
                      quantized: Counter[str]) -> tuple[int, bool]:
    """A weighted op's MACs and whether it computes in float; counted in ``quantized``
    (as ``OP(activation/weight dtype)``) when its weights are integers."""
    w = tensors[ins[1]]
    x = tensors[ins[0]]
    out = tensors[op["outputs"][0]]
    wt = np.dtype(w["dtype"]).name
    is_float = wt not in ("int8", "uint8", "int16", "int4")
    if not is_float:
        act = np.dtype(x["dtype"]).name
        quantized[f"{name}({act}/{wt})" if act != wt else f"{name}({wt})"] += 1
    on = int(np.prod(out["shape"]))
    ws = list(w["shape"])
    if name == "CONV_2D":
        return on * int(np.prod(ws[1:])), is_float
    if name == "DEPTHWISE_CONV_2D":
        return on * int(np.prod(ws[1:3])), is_float
    if name in ("FULLY_CONNECTED", "BATCH_MATMUL"):
        return on * int(ws[-1] if name == "FULLY_CONNECTED" else ws[-2]), is_float
    if name == "TRANSPOSE_CONV":
        return int(np.prod(x["shape"])) * int(np.prod(ws[:3])), is_float
    return 0, is_float


def _tflite_interpreter(path: Path) -> Any:
    """The LiteRT interpreter of ``path``, or a :class:`ModelError` naming the file."""
    from ai_edge_litert.interpreter import Interpreter

    from edgebench.errors import ModelError

    try:
        return Interpreter(model_path=str(path))
    except (ValueError, RuntimeError) as exc:  # custom ops LiteRT lacks, corrupt files
        raise ModelError(f"LiteRT cannot load {Path(path).name}: "
                         f"{' '.join(str(exc).split())[:200]}") from exc


def tflite_stats(path: Path) -> dict[str, Any]:
    """Parameter, MAC and op statistics of a TFLite file, read through the LiteRT interpreter."""
    interp = _tflite_interpreter(path)
    ops = interp._get_ops_details()  # noqa: SLF001 - the only public-ish op listing
    tensors = {t["index"]: t for t in interp.get_tensor_details()}
    produced = {o for op in ops for o in op["outputs"]}
    graph_inputs = {d["index"] for d in interp.get_input_details()}
    const = {i for op in ops for i in op["inputs"]
             if i >= 0 and i not in produced and i not in graph_inputs}
    try:
        interp.allocate_tensors()
    except Exception:  # noqa: BLE001 - custom ops: counts without values
        pass
    op_counts: Counter[str] = Counter()
    quantized: Counter[str] = Counter()
    fp16: Counter[str] = Counter()
    float_compute = 0
    params = nonzero = macs = 0
    seen: set[int] = set()
    for op in ops:
        name = op["op_name"]
        op_counts[name] += 1
        ins = [i for i in op["inputs"] if i >= 0]
        for pos, i in enumerate(ins):
            if i not in const or i in seen:
                continue
            t = tensors[i]
            if t["dtype"] in (np.int32, np.int64) and not (name in _TFLITE_WEIGHT_OPS and pos >= 1):
                continue
            seen.add(i)
            n = int(np.prod(t["shape"])) if len(t["shape"]) else 1
            params += n
            try:
                nonzero += int(np.count_nonzero(interp.get_tensor(i)))
            except Exception:  # noqa: BLE001
                nonzero += n
        if name == "DEQUANTIZE" and ins and tensors[ins[0]]["dtype"] == np.float16:
            fp16[name] += 1
        if name in _TFLITE_WEIGHT_OPS and len(ins) >= 2:
            op_macs, is_float = _tflite_weight_op(name, ins, op, tensors, quantized)
            macs += op_macs
            float_compute += is_float
    return {
        "params": params,
        "nonzero_params": nonzero,
        "macs": macs,
        "op_counts": dict(op_counts),
        "quantized_ops": dict(quantized),
        "fp16_ops": dict(fp16),
        "float_compute_ops": float_compute,
        "has_signature": bool(interp.get_signature_list()),
        "io": tflite_io(interp),
    }


def tflite_io(interp: Any) -> dict[str, Any]:
    """Input/output names, shapes, dtypes and (scale, zero_point), for the on-device agent."""
    def describe(d: dict[str, Any]) -> dict[str, Any]:
        scale, zp = d.get("quantization", (0.0, 0))
        return {"name": d["name"], "shape": [int(s) for s in d["shape"]],
                "dtype": np.dtype(d["dtype"]).name, "scale": float(scale), "zero_point": int(zp)}

    return {"inputs": [describe(d) for d in interp.get_input_details()],
            "outputs": [describe(d) for d in interp.get_output_details()]}


def gzip_size(path: Path) -> int:
    """The file's size gzipped at level 9 (what a device update would download)."""
    import gzip

    return len(gzip.compress(Path(path).read_bytes(), compresslevel=9, mtime=0))


def onnx_io(path: Path) -> dict[str, Any]:
    """The graph inputs (not initializers) and outputs of an ONNX file: name, shape, dtype."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    inits = {t.name for t in model.graph.initializer}

    def describe(vi: Any) -> dict[str, Any]:
        tt = vi.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or -1) for d in tt.shape.dim]
        return {"name": vi.name, "shape": dims,
                "dtype": onnx.helper.tensor_dtype_to_np_dtype(tt.elem_type).name if tt.elem_type else None}

    return {"inputs": [describe(v) for v in model.graph.input if v.name not in inits],
            "outputs": [describe(v) for v in model.graph.output]}
