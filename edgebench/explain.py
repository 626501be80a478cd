"""Why is a compressed variant slower than fp32?  The operator profiles say.

A quantized ONNX model is not the fp32 graph with smaller numbers: dynamic quantization
adds ``DynamicQuantizeLinear`` before every quantized layer, replaces ``Conv`` / ``MatMul``
by ``ConvInteger`` / ``MatMulInteger`` and adds ``Cast`` / ``Mul`` to rescale the int32
result, and every extra node costs the executor time between kernels too.  On a CPU
without int8 dot products (no VNNI / asimddp) the integer kernels widen in software.
Comparing per-op-type totals between the variant's and fp32's profiles (agent/profile.py,
same device and runtime) names the op types that account for the difference, each with its
measured share of the variant's profiled inference.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edgebench.units import fmt_signed_seconds, terminal_seconds

#: Op types whose added time is listed, at most (the rest are summed).
MAX_NAMED = 8


@dataclass
class OpDelta:
    """One op type's mean time per profiled inference in the variant and in fp32."""

    op_type: str
    variant_s: float
    fp32_s: float
    variant_share: float  # of the variant's profiled mean inference
    variant_nodes: int
    fp32_nodes: int

    @property
    def delta_s(self) -> float:
        return self.variant_s - self.fp32_s


@dataclass
class Explanation:
    """The difference between two profiles, op type by op type."""

    variant_inference_s: float
    fp32_inference_s: float
    deltas: list[OpDelta]  # op types that got slower (or are new), largest first
    outside_kernels_delta_s: float
    variant_nodes: int
    fp32_nodes: int
    removed: list[OpDelta] = field(default_factory=list)  # fp32 op types the variant lacks

    @property
    def difference_s(self) -> float:
        return self.variant_inference_s - self.fp32_inference_s

    def text(self) -> str:
        """One line for the terminal and the report."""
        parts = []
        for d in self.deltas[:MAX_NAMED]:
            where = "new" if d.fp32_nodes == 0 else f"fp32 {terminal_seconds(d.fp32_s)}"
            parts.append(f"{d.op_type} {terminal_seconds(d.variant_s)} = {d.variant_share * 100:.1f} % "
                         f"({where})")
        lines = "; ".join(parts) if parts else "no op type is slower"
        if self.removed:
            lines += "; gone from fp32: " + ", ".join(f"{d.op_type} {terminal_seconds(d.fp32_s)}"
                                                      for d in self.removed[:MAX_NAMED])
        return (f"profiled {terminal_seconds(self.variant_inference_s)} "
                f"vs fp32 {terminal_seconds(self.fp32_inference_s)} "
                f"(+{terminal_seconds(self.difference_s)}): {lines}; time outside kernels "
                f"{fmt_signed_seconds(self.outside_kernels_delta_s)} ({self.variant_nodes} nodes vs "
                f"{self.fp32_nodes})")






def has_timings(profile: Any) -> bool:
    """True for a profile with per-op times (ONNX Runtime), not a delegation-only one."""
    return (isinstance(profile, dict) and "error" not in profile
            and isinstance(profile.get("by_op_type"), list)
            and isinstance(profile.get("inference_mean_s"), (int, float)))


def explain(variant: Any, fp32: Any) -> Explanation | None:
    """Per-op-type comparison of a variant's profile against fp32's; None when either has
    no per-op times."""
    if not (has_timings(variant) and has_timings(fp32)):
        return None
    v_types = {t["op_type"]: t for t in variant["by_op_type"]}
    f_types = {t["op_type"]: t for t in fp32["by_op_type"]}
    deltas = []
    removed = []
    for op in set(v_types) | set(f_types):
        v, f = v_types.get(op) or {}, f_types.get(op) or {}
        d = OpDelta(op, float(v.get("mean_s") or 0.0), float(f.get("mean_s") or 0.0),
                    float(v.get("share") or 0.0), int(v.get("nodes") or 0), int(f.get("nodes") or 0))
        if d.delta_s > 0:
            deltas.append(d)
        elif d.variant_nodes == 0:
            removed.append(d)
    deltas.sort(key=lambda d: -d.delta_s)
    removed.sort(key=lambda d: -d.fp32_s)
    return Explanation(
        variant_inference_s=float(variant["inference_mean_s"]),
        fp32_inference_s=float(fp32["inference_mean_s"]),
        deltas=deltas, removed=removed,
        outside_kernels_delta_s=float(variant.get("outside_kernels_mean_s") or 0.0)
        - float(fp32.get("outside_kernels_mean_s") or 0.0),
        variant_nodes=sum(int(t.get("nodes") or 0) for t in variant["by_op_type"]),
        fp32_nodes=sum(int(t.get("nodes") or 0) for t in fp32["by_op_type"]))


def delegation_text(profile: Any) -> str | None:
    """'XNNPACK took 6 / 6 ops (CONV_2D 2/2, ...)' for a LiteRT profile; None otherwise."""
    if not isinstance(profile, dict) or "delegated_nodes" not in profile:
        return None
    types = ", ".join(f"{t['op_type']} {t['delegated']}/{t['nodes']}"
                      for t in profile.get("by_op_type") or [])
    return (f"{profile.get('delegate') or 'delegate'} took {profile['delegated_nodes']} / "
            f"{profile['model_nodes']} ops ({types})")
