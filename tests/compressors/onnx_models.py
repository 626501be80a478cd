"""Tiny hand-built ONNX graphs for the robustness cases (no exporter involved)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _w(shape: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def if_model(path: Path) -> Path:
    """All compute (two MatMuls) sits inside the branches of an If node.

    The condition depends on the input (sum(x) > 0) so no optimizer can fold the If away
    (a constant condition is inlined by quant_pre_process and then quantized normally).
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    def branch(name: str, seed: int) -> onnx.GraphProto:
        w = numpy_helper.from_array(_w((64, 64), seed), f"{name}_w")
        node = helper.make_node("MatMul", ["x", f"{name}_w"], [f"{name}_y"])
        out = helper.make_tensor_value_info(f"{name}_y", TensorProto.FLOAT, [1, 64])
        return helper.make_graph([node], name, [], [out], [w])

    zero = numpy_helper.from_array(np.array(0.0, dtype=np.float32), "zero")
    nodes = [helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0),
             helper.make_node("Greater", ["s", "zero"], ["cond"]),
             helper.make_node("If", ["cond"], ["y"], then_branch=branch("then", 1),
                              else_branch=branch("else", 2))]
    graph = helper.make_graph(
        nodes, "if_model", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 64])], [zero])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def constant_weight_model(path: Path, *, external: bool = False,
                          dtype: type = np.float32) -> Path:
    """MatMul -> Relu -> MatMul whose first weight is a Constant node, not an initializer.

    ``external``: store the initializer in a side file; ``dtype=np.float16``: fp16 weights.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    elem = TensorProto.FLOAT16 if dtype == np.float16 else TensorProto.FLOAT
    const = helper.make_node("Constant", [], ["w1"],
                             value=numpy_helper.from_array(_w((64, 128), 3).astype(dtype), "w1"))
    w2 = numpy_helper.from_array(_w((128, 10), 4).astype(dtype), "w2")
    nodes = [const, helper.make_node("MatMul", ["x", "w1"], ["h"]),
             helper.make_node("Relu", ["h"], ["r"]), helper.make_node("MatMul", ["r", "w2"], ["y"])]
    graph = helper.make_graph(
        nodes, "const_model", [helper.make_tensor_value_info("x", elem, ["batch", 64])],
        [helper.make_tensor_value_info("y", elem, ["batch", 10])], [w2])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    if external:
        onnx.save(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                  location=path.name + ".data", size_threshold=0)
    else:
        onnx.save(model, str(path))
    return path


def custom_op_model(path: Path) -> Path:
    """MatMul followed by an op from a domain onnxruntime does not know."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(_w((64, 64), 5), "w")
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"]),
             helper.make_node("Frobnicate", ["h"], ["y"], domain="com.example")]
    graph = helper.make_graph(
        nodes, "custom", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 64])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("com.example", 1)])
    onnx.save(model, str(path))
    return path


def dynamic_dims_model(path: Path) -> Path:
    """Input [batch, seq, 64] with two symbolic dims (sequence models look like this)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(_w((64, 32), 6), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])], "dyn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "seq", 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "seq", 32])], [w])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def strip_tflite_signatures(src: Path, dst: Path) -> Path:
    """Rewrite a .tflite without SignatureDefs (old converters / hand-made models)."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(src.read_bytes(), 0)
    model.signatureDefs = []
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    dst.write_bytes(bytes(builder.Output()))
    return dst
