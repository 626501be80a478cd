"""Microcontroller budgets of a ``.tflite`` file: flash footprint and tensor-arena estimate.

On a Cortex-M the model file is linked into flash as a C array and TFLite Micro runs it in
place; activations live in one static *tensor arena* in RAM that the application sizes.
So the two numbers that decide "does it fit" are:

* ``flash_bytes``: the file's size (all of it is stored; TFLM reads the flatbuffer in
  place).  ``weights_bytes``: the bytes of constant tensors (each buffer once), the part
  compression shrinks.
* ``arena_bytes``: the peak of the activation memory plan that TFLM's
  ``GreedyMemoryPlanner`` makes for the main subgraph:

  1. every non-constant, non-variable tensor is a buffer of ``bytes`` rounded up to 16
     (``MicroArenaBufferAlignment``);
  2. its lifetime runs from the op that first produces it to the last op that reads it
     (op indices in file order); model inputs live from op 0, model outputs to the last
     op; an output nobody reads lives during its producing op;
  3. buffers are sorted by size, largest first (ties keep tensor index order: TFLM's
     bubble sort is stable), and each is placed at the lowest offset where it does not
     overlap any already placed buffer whose lifetime overlaps its own (lifetimes
     inclusive at both ends);
  4. the arena estimate is the highest ``offset + size``.

What this leaves out (so it is a lower bound of the arena TFLM asks for): TFLM's
persistent allocations in the same arena (TfLiteEvalTensor structs, node and
quantization data, a few hundred bytes to a few KB), kernel scratch buffers (e.g.
CMSIS-NN's im2col for int8 convs), offline-planned offsets in the file's metadata,
variable tensors (reported as ``variable_bytes``), and subgraphs other than the first
(control flow).  Figures are per the file as built: a different op version or fusion in
another converter changes them.  Method and validation: docs/wearables.md.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

TFLM_BUFFER_ALIGNMENT = 16  # MicroArenaBufferAlignment() in TFLite Micro

#: The suite's ``mcu_budgets:`` default: name -> (flash bytes, RAM bytes).
DEFAULT_BUDGETS: dict[str, dict[str, int]] = {
    "cortex-m4": {"flash_bytes": 256 * 1024, "ram_bytes": 64 * 1024},
    "cortex-m7": {"flash_bytes": 1024 * 1024, "ram_bytes": 512 * 1024},
}

# bytes per element of schema.TensorType names (INT4 is packed two per byte: handled apart)
_DTYPE_BYTES = {"FLOAT32": 4, "FLOAT16": 2, "BFLOAT16": 2, "FLOAT64": 8, "INT32": 4,
                "UINT32": 4, "INT64": 8, "UINT64": 8, "INT16": 2, "UINT16": 2, "INT8": 1,
                "UINT8": 1, "BOOL": 1, "COMPLEX64": 8, "COMPLEX128": 16}


@dataclass(frozen=True)
class Buffer:
    """One activation tensor as the planner sees it (lifetime in op indices, inclusive)."""

    tensor: int
    size_bytes: int  # already aligned
    first_op: int
    last_op: int

    def overlaps(self, other: "Buffer") -> bool:
        return not (self.last_op < other.first_op or self.first_op > other.last_op)


def greedy_plan(buffers: Sequence[Buffer]) -> dict[int, int]:
    """tensor -> arena offset, as TFLM's GreedyMemoryPlanner places them (module docstring)."""
    order = sorted(buffers, key=lambda b: (-b.size_bytes, b.tensor))
    placed: list[tuple[int, Buffer]] = []  # (offset, buffer), kept sorted by offset
    offsets: dict[int, int] = {}
    for buf in order:
        candidate = 0
        for offset, other in placed:
            if not buf.overlaps(other):
                continue
            if offset - candidate >= buf.size_bytes:
                break  # the gap before `other` holds it
            candidate = max(candidate, offset + other.size_bytes)
        offsets[buf.tensor] = candidate
        placed.append((candidate, buf))
        placed.sort(key=lambda item: item[0])
    return offsets


def arena_peak(buffers: Sequence[Buffer], offsets: dict[int, int]) -> int:
    return max((offsets[b.tensor] + b.size_bytes for b in buffers), default=0)


def _align(n: int, alignment: int) -> int:
    return -(-n // alignment) * alignment


def _type_names(schema: Any) -> dict[int, str]:
    return {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}


def tensor_bytes(tensor: Any, type_names: dict[int, str]) -> int:
    """Bytes of one tensor from its static shape (dynamic dims are stored as 1)."""
    n = 1
    for d in (tensor.shape if tensor.shape is not None else []):
        n *= max(int(d), 1)
    name = type_names.get(int(tensor.type), "")
    if name == "INT4":
        return (n + 1) // 2
    return n * _DTYPE_BYTES.get(name, 4)


def _buffer_bytes(buf: Any) -> int:
    if buf is None:
        return 0
    if buf.data is not None and len(buf.data):
        return int(len(buf.data))
    return int(buf.size or 0) if (buf.offset or 0) > 1 else 0


def plan_tflite(path: Path, *, alignment: int = TFLM_BUFFER_ALIGNMENT) -> dict[str, Any]:
    """The buffers, lifetimes and greedy offsets of ``path``'s main subgraph, plus the
    footprint figures (:func:`footprint` is the manifest's short form)."""
    from ai_edge_litert import schema_py_generated as schema

    raw = Path(path).read_bytes()
    model = schema.ModelT.InitFromPackedBuf(raw, 0)
    names = _type_names(schema)
    buffers = model.buffers or []
    graph = model.subgraphs[0]
    tensors = graph.tensors or []
    ops = graph.operators or []

    def constant(i: int) -> bool:
        b = tensors[i].buffer
        return 0 < b < len(buffers) and _buffer_bytes(buffers[b]) > 0

    first: dict[int, int] = {}
    last: dict[int, int] = {}
    graph_inputs = [int(i) for i in (graph.inputs if graph.inputs is not None else [])]
    graph_outputs = [int(i) for i in (graph.outputs if graph.outputs is not None else [])]
    for i in graph_inputs:
        first[i] = 0
        last[i] = max(last.get(i, 0), 0)
    for index, op in enumerate(ops):
        for i in (int(t) for t in (op.inputs if op.inputs is not None else []) if t >= 0):
            last[i] = index
        for i in (int(t) for t in (op.outputs if op.outputs is not None else []) if t >= 0):
            first.setdefault(i, index)
            last[i] = max(last.get(i, index), index)
    end = max(len(ops) - 1, 0)
    for i in graph_outputs:
        first.setdefault(i, 0)
        last[i] = end
    planned: list[Buffer] = []
    variable_bytes = 0
    for i in sorted(first):
        t = tensors[i]
        if constant(i):
            continue
        size = tensor_bytes(t, names)
        if t.isVariable:
            variable_bytes += size
            continue
        if size == 0:
            continue
        planned.append(Buffer(i, _align(size, alignment), first[i], max(last.get(i, first[i]), first[i])))
    offsets = greedy_plan(planned)
    weight_buffers = {tensors[i].buffer for i in range(len(tensors)) if constant(i)}
    return {
        "flash_bytes": len(raw),
        "weights_bytes": sum(_buffer_bytes(buffers[b]) for b in weight_buffers),
        "arena_bytes": arena_peak(planned, offsets),
        "activations_sum_bytes": sum(b.size_bytes for b in planned),  # no reuse at all
        "variable_bytes": variable_bytes,
        "alignment_bytes": alignment,
        "subgraphs": len(model.subgraphs),
        "ops": len(ops),
        "buffers": [dict(asdict(b), offset=offsets[b.tensor]) for b in planned],
    }


def footprint(path: Path) -> dict[str, Any]:
    """The manifest's ``mcu`` entry: flash, weights and arena bytes, and what was planned."""
    plan = plan_tflite(path)
    out = {k: plan[k] for k in ("flash_bytes", "weights_bytes", "arena_bytes",
                                "activations_sum_bytes", "variable_bytes", "alignment_bytes")}
    out["method"] = ("TFLM GreedyMemoryPlanner over the main subgraph's activation tensors; "
                     "excludes TFLM persistent data and kernel scratch buffers")
    if plan["subgraphs"] > 1:
        out["warning"] = (f"{plan['subgraphs']} subgraphs: only the first is planned; "
                          "control-flow subgraphs need more arena")
    return out


def fits(footprint_: dict[str, Any], budgets: dict[str, dict[str, int]]) -> dict[str, dict[str, Any]]:
    """Per named budget: does the file fit flash and the arena estimate fit RAM."""
    out: dict[str, dict[str, Any]] = {}
    flash, arena = footprint_.get("flash_bytes"), footprint_.get("arena_bytes")
    for name, budget in budgets.items():
        f_ok = flash is not None and flash <= budget["flash_bytes"]
        r_ok = arena is not None and arena <= budget["ram_bytes"]
        out[name] = {"flash_bytes": budget["flash_bytes"], "ram_bytes": budget["ram_bytes"],
                     "fits_flash": f_ok, "fits_ram": r_ok, "fits": f_ok and r_ok}
    return out


def fit_text(fit: Optional[dict[str, dict[str, Any]]]) -> str:
    """'cortex-m4: no (flash), cortex-m7: yes' -- the summary's ``mcu_fit`` cell."""
    if not fit:
        return ""
    parts = []
    for name, f in fit.items():
        why = [what for what, ok in (("flash", f["fits_flash"]), ("RAM", f["fits_ram"])) if not ok]
        parts.append(f"{name}: yes" if f["fits"] else f"{name}: no ({', '.join(why)})")
    return ", ".join(parts)


def litert_arena_span(path: Path) -> dict[str, int]:
    """Where LiteRT's own interpreter put the same activation tensors (no delegates, so
    its ArenaPlanner owns them): the span from the lowest to the highest byte of every
    non-constant tensor after ``allocate_tensors``.  For validating the estimate: LiteRT
    aligns to 64 bytes and may run some ops in place, TFLM to 16 and never in place."""
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interp = Interpreter(model_path=str(path), num_threads=1,
                         experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interp.allocate_tensors()
    plan = plan_tflite(path)
    lo, hi = None, None
    for b in plan["buffers"]:
        try:
            arr = interp.tensor(b["tensor"])()
        except ValueError:
            continue
        start = int(arr.__array_interface__["data"][0])
        stop = start + int(np.asarray(arr).nbytes)
        lo = start if lo is None else min(lo, start)
        hi = stop if hi is None else max(hi, stop)
    return {"span_bytes": 0 if lo is None or hi is None else hi - lo, "tensors": len(plan["buffers"])}
