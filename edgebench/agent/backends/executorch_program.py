"""What a ``.pte`` program really runs: its delegates, the operators left to ExecuTorch's
portable kernels, and the datatypes the XNNPACK delegate computes in.

A ``.pte`` says nothing about precision in its header: an int8 program and an fp32 one
both take and return float tensors.  The truth is inside the XNNPACK delegate's payload,
an ``XNNGraph`` flatbuffer whose every value has an XNNPACK datatype (``fp32``, ``fp16``,
``qint8``, ``qcint8`` ...).  The payload is converted to JSON with the ``flatc`` and the
schema that ship inside the executorch wheel -- the same files its serializer writes with
-- so the agent reports what the delegate was handed, not what the suite asked for.

Standard library + numpy + executorch (imported inside functions), Python 3.9+: this
module travels to devices with the agent.  Used by the ExecuTorch backend (result
``runtime``) and by the controller's variant builder (file statistics).
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Tuple

import numpy as np

#: XNNPACK datatypes -> numpy dtypes of their constant data
XNN_NUMPY = {"xnn_datatype_fp32": "float32", "xnn_datatype_fp16": "float16",
             "xnn_datatype_qint8": "int8", "xnn_datatype_quint8": "uint8",
             "xnn_datatype_qint32": "int32", "xnn_datatype_qcint8": "int8",
             "xnn_datatype_qcint32": "int32", "xnn_datatype_qdint8": "int8"}
_INT8 = ("qint8", "quint8", "qcint8", "qdint8", "qcint4", "qbint4")


def load_pte(path: str) -> Any:
    """The deserialized program (``PTEFile``: program, named data)."""
    from executorch.exir._serialize._program import deserialize_pte_binary

    return deserialize_pte_binary(Path(path).read_bytes())


def delegate_blobs(pte: Any) -> List[Tuple[str, bytes]]:
    """(backend id, processed payload) of every delegate in the first execution plan."""
    program = pte.program
    out = []
    for d in program.execution_plan[0].delegates:
        inline = d.processed.location == 0  # INLINE; SEGMENT payloads live in segments
        blob = program.backend_delegate_data[d.processed.index].data if inline else b""
        out.append((d.id, bytes(blob)))
    return out


def xnnpack_graph(blob: bytes) -> Dict[str, Any]:
    """An XNNPACK payload (``XH00`` header + XNNGraph flatbuffer) as a dict, via flatc."""
    from executorch.backends.xnnpack import serialization
    from executorch.exir._serialize._flatbuffer import _get_flatc_path

    if blob[4:8] != b"XH00":
        raise ValueError("not an XNNPACK payload (no XH00 header)")
    offset = int.from_bytes(blob[10:14], "little")
    size = int.from_bytes(blob[14:18], "little")
    schema = Path(list(serialization.__path__)[0]) / "schema.fbs"
    with tempfile.TemporaryDirectory() as tmp:
        fb = Path(tmp) / "graph.bin"
        fb.write_bytes(blob[offset:offset + size])
        done = subprocess.run([_get_flatc_path(), "--json", "--raw-binary", "--strict-json",
                               "-o", tmp, str(schema), "--", str(fb)],
                              capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise ValueError(f"flatc: {done.stderr.strip()[:200]}")
        text = (Path(tmp) / "graph.json").read_text()
    # flatc writes inf / nan for clamp bounds; Python's json reads Infinity / NaN
    return json.loads(re.sub(r"(:\s*-?)(inf|nan)\b",
                             lambda m: m.group(1) + ("Infinity" if m.group(2) == "inf" else "NaN"),
                             text))


def tensor_value(xvalue: Dict[str, Any]) -> Dict[str, Any]:
    """The plain tensor fields of an XValue (quantized values wrap them)."""
    union = xvalue.get("xvalue_union") or {}
    return union.get("tensor_value", union)


def precision_of(datatypes: Counter) -> str:
    """One word for the datatypes a delegate computes in: int8, fp16, fp32, or mixed."""
    kinds = {"int8" if t.replace("xnn_datatype_", "") in _INT8 else
             "fp16" if t.endswith("fp16") else "fp32" if t.endswith("fp32") else "int32"
             for t in datatypes}
    kinds.discard("int32")  # int32 tensors are int8 biases, never a compute precision
    if "int8" in kinds:
        return "int8"  # fp32 values at the edges are the float I/O being converted
    if kinds == {"fp16"}:
        return "fp16"
    return "fp32" if kinds <= {"fp32"} else "mixed"


def describe(path: str) -> Dict[str, Any]:
    """What the program runs: delegates, portable (non-delegated) operators, XNNPACK
    node types and datatypes, and the execution precision of the delegated part."""
    pte = load_pte(path)
    plan = pte.program.execution_plan[0]
    info: Dict[str, Any] = {"delegates": [], "portable_ops": sorted({o.name for o in plan.operators})}
    datatypes: Counter = Counter()
    nodes: Counter = Counter()
    for backend, blob in delegate_blobs(pte):
        info["delegates"].append(backend)
        if backend == "XnnpackBackend" and blob:
            graph = xnnpack_graph(blob)
            datatypes.update(str(tensor_value(v).get("datatype")) for v in graph.get("xvalues", []))
            nodes.update(str(n.get("xnode_union_type")) for n in graph.get("xnodes", []))
    info["xnnpack_datatypes"] = dict(datatypes)
    info["xnnpack_ops"] = dict(nodes)
    if datatypes:
        precision = precision_of(datatypes)
        info["execution_precision"] = precision if not info["portable_ops"] else f"{precision}+portable"
    else:
        info["execution_precision"] = "portable" if info["portable_ops"] else None
    return info


def constant_arrays(path: str) -> List[np.ndarray]:
    """Every constant tensor (weights, biases) the XNNPACK delegates hold, decoded."""
    pte = load_pte(path)
    named = pte.named_data
    arrays = []
    for backend, blob in delegate_blobs(pte):
        if backend != "XnnpackBackend" or not blob:
            continue
        graph = xnnpack_graph(blob)
        consts = graph.get("constant_data") or []
        for xvalue in graph.get("xvalues", []):
            t = tensor_value(xvalue)
            idx = int(t.get("constant_buffer_idx") or 0)
            dtype = XNN_NUMPY.get(str(t.get("datatype")))
            if not idx or dtype is None or named is None:
                continue
            entry = named.pte_data.get(consts[idx].get("named_key", ""))
            if entry is None:
                continue
            raw = bytes(named.buffers[entry.buffer_index])
            arrays.append(np.frombuffer(raw, dtype=dtype)[: int(np.prod(t.get("dims") or [1]))])
    return arrays
