"""Small hand-built ONNX graphs shaped like the models users bring (issue 13).

* :func:`stateful_model`: a recurrent step like Silero VAD: ``input`` [1, N] float32 (N
  dynamic), ``state`` [2, 1, 128] float32, ``sr`` int64 scalar whose value picks a branch
  (``Where(sr == 16000)``), outputs ``output`` [1, 8] and ``stateN`` [2, 1, 128].  Its
  input projection has one huge weight that only feeds a unit no output reads: per-tensor
  int8 zeroes every other weight, so dynamic int8 collapses (a real failure mode of
  weights with outliers) while fp16 stays faithful.
* :func:`transformer_model`: ``input_ids``, ``attention_mask``, ``token_type_ids`` (int64
  [batch, seq]) -> embedding sum -> masked mean -> MatMul.
* :func:`fcn_model`: a fully convolutional NCHW model with dynamic H and W.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

HIDDEN = 128
FRAME = 64


def _w(shape: tuple[int, ...], seed: int, scale: float = 0.1) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32)


def stateful_model(path: Path) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w_in = _w((FRAME, HIDDEN), 1, 0.5)
    w_in[0, HIDDEN - 1] = 1000.0  # the outlier: unit HIDDEN-1 is read by no output
    w_out = _w((HIDDEN, 8), 3, 1.0)
    w_out[HIDDEN - 1, :] = 0.0
    inits = [numpy_helper.from_array(w_in, "w_in"), numpy_helper.from_array(_w((HIDDEN, HIDDEN), 2), "w_h"),
             numpy_helper.from_array(w_out, "w_out"),
             numpy_helper.from_array(np.array([-1, FRAME], np.int64), "frames_shape"),
             numpy_helper.from_array(np.array(16000, np.int64), "sr16k"),
             numpy_helper.from_array(np.array(1.0, np.float32), "one"),
             numpy_helper.from_array(np.array(-1.0, np.float32), "minus_one"),
             numpy_helper.from_array(np.array([0], np.int64), "axis0"),
             numpy_helper.from_array(np.array([1, HIDDEN], np.int64), "row_shape")]
    nodes = [
        helper.make_node("Reshape", ["input", "frames_shape"], ["frames"]),           # [F, 64]
        helper.make_node("ReduceMean", ["frames"], ["feat"], axes=[0], keepdims=1),  # [1, 64]
        helper.make_node("MatMul", ["feat", "w_in"], ["xin"]),                       # [1, 128]
        helper.make_node("Gather", ["state", "axis0"], ["s0"], axis=0),              # [1, 1, 128]
        helper.make_node("Reshape", ["s0", "row_shape"], ["s0r"]),                    # [1, 128]
        helper.make_node("MatMul", ["s0r", "w_h"], ["hs"]),
        helper.make_node("Add", ["xin", "hs"], ["pre"]),
        helper.make_node("Tanh", ["pre"], ["h"]),
        helper.make_node("Equal", ["sr", "sr16k"], ["is16k"]),
        helper.make_node("Where", ["is16k", "one", "minus_one"], ["gain"]),          # the branch
        helper.make_node("MatMul", ["h", "w_out"], ["logits"]),
        helper.make_node("Mul", ["logits", "gain"], ["output"]),
        helper.make_node("Unsqueeze", ["h", "axis0"], ["h3"]),                        # [1, 1, 128]
        helper.make_node("Concat", ["h3", "s0"], ["stateN"], axis=0),                  # [2, 1, 128]
    ]
    graph = helper.make_graph(nodes, "stateful", [
        helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, "samples"]),
        helper.make_tensor_value_info("state", TensorProto.FLOAT, [2, 1, HIDDEN]),
        helper.make_tensor_value_info("sr", TensorProto.INT64, []),
    ], [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 8]),
        helper.make_tensor_value_info("stateN", TensorProto.FLOAT, [2, 1, HIDDEN])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def stateful_data(path: Path, n: int = 16, samples: int = 512, sr: int = 16000) -> Path:
    """An .npz keyed by input name: ``input`` [n, 1, samples], ``state`` [n, 2, 1, 128],
    ``sr`` [n] (0-d input: one value per sample)."""
    rng = np.random.default_rng(5)
    np.savez(path, input=rng.standard_normal((n, 1, samples)).astype(np.float32),
             state=(rng.standard_normal((n, 2, 1, HIDDEN)) * 0.05).astype(np.float32),
             sr=np.full(n, sr, np.int64))
    return path


def transformer_model(path: Path, vocab: int = 100, dim: int = 32) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    inits = [numpy_helper.from_array(_w((vocab, dim), 7, 1.0), "tok_emb"),
             numpy_helper.from_array(_w((2, dim), 8, 1.0), "type_emb"),
             numpy_helper.from_array(_w((dim, 16), 9, 0.5), "w"),
             numpy_helper.from_array(np.array([1], np.int64), "axis1"),
             numpy_helper.from_array(np.array([-1], np.int64), "axis_last")]
    nodes = [
        helper.make_node("Gather", ["tok_emb", "input_ids"], ["te"]),
        helper.make_node("Gather", ["type_emb", "token_type_ids"], ["ty"]),
        helper.make_node("Add", ["te", "ty"], ["emb"]),
        helper.make_node("Cast", ["attention_mask"], ["maskf"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["maskf", "axis_last"], ["mask3"]),
        helper.make_node("Mul", ["emb", "mask3"], ["masked"]),
        helper.make_node("ReduceSum", ["masked", "axis1"], ["summed"], keepdims=0),
        helper.make_node("ReduceSum", ["mask3", "axis1"], ["count"], keepdims=0),
        helper.make_node("Div", ["summed", "count"], ["pooled"]),
        helper.make_node("MatMul", ["pooled", "w"], ["embedding"]),
    ]
    ins = [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "seq"])
           for n in ("input_ids", "attention_mask", "token_type_ids")]
    graph = helper.make_graph(nodes, "tiny_bert", ins,
                              [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", 16])],
                              inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def transformer_data(path: Path, n: int = 12, seq: int = 16) -> Path:
    rng = np.random.default_rng(11)
    ids = rng.integers(1, 100, size=(n, 1, seq)).astype(np.int64)
    mask = np.ones((n, 1, seq), np.int64)
    mask[:, :, seq - 4:] = 0  # padding
    np.savez(path, input_ids=ids, attention_mask=mask,
             token_type_ids=np.zeros((n, 1, seq), np.int64))
    return path


def fcn_model(path: Path) -> Path:
    """x [1, 3, H, W] (H, W dynamic) -> Conv 3x3 (8) -> Relu -> Conv 1x1 (4): y [1, 4, H, W]."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    inits = [numpy_helper.from_array(_w((8, 3, 3, 3), 12, 0.3), "w1"),
             numpy_helper.from_array(_w((8,), 13), "b1"),
             numpy_helper.from_array(_w((4, 8, 1, 1), 14, 0.3), "w2")]
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("Conv", ["r1", "w2"], ["y"])]
    graph = helper.make_graph(nodes, "fcn",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, "H", "W"])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, "H", "W"])],
                              inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def ort_outputs(path: Path, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
    """A direct onnxruntime run, to check edgebench's figures against."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, feed)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.reshape(len(a), -1).astype(np.float64), b.reshape(len(b), -1).astype(np.float64)
    return float(np.mean((a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))))
