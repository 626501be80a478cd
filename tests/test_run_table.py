"""The warnings printed at the end of a run: what must never pass quietly."""

from __future__ import annotations

from edgebench.compressors.manifest import quality_warnings
from edgebench.results.record import JobRecord
from edgebench.run_table import measurement_warnings, slower_than_fp32


def rec(variant: str, p50: float | None, *, device: str = "pi", status: str = "ok",
        warnings: list[str] | None = None) -> JobRecord:
    return JobRecord(run_id="r", job_id=f"m/{variant}/onnx@{device}", model="m", variant=variant,
                     format="onnx", device=device, status=status,
                     artifact={"manifest": {"warnings": warnings or []}},
                     summary={"latency_p50_s": p50})


def test_int8_slower_than_fp32_on_the_same_device_is_a_warning() -> None:
    records = [rec("fp32", 0.002), rec("int8", 0.0084), rec("fp16", 0.0015), rec("noise", 0.00215),
               rec("fp32", 0.004, device="jetson"), rec("int8", 0.001, device="jetson"),
               rec("pruned", 0.5, status="failed")]
    assert slower_than_fp32(records) == [
        "m/int8/onnx@pi: SLOWER THAN FP32 -- p50 8.400 ms vs 2.000 ms (4.20x)"]


def test_no_fp32_on_a_device_means_no_comparison() -> None:
    assert slower_than_fp32([rec("int8", 0.01), rec("fp32", 0.001, device="other")]) == []


def test_quality_loss_reaches_the_run_warnings() -> None:
    loss = quality_warnings({"accuracy": 50.0, "accuracy_delta": -49.0, "cosine": 0.62}, 99.0)
    assert loss == ["QUALITY LOSS: accuracy 50.00 % vs 99.00 % for fp32 (-49.00 points, budget 1)"]
    assert measurement_warnings([rec("fp32", 0.002), rec("int8", 0.001, warnings=loss)]) == [
        "m/int8/onnx: " + loss[0]]


def test_quality_budget_edges() -> None:
    assert quality_warnings({"accuracy": 98.0, "accuracy_delta": -1.0, "cosine": 0.5}, 99.0) == []
    assert quality_warnings({"accuracy": None, "accuracy_delta": None, "cosine": 0.4314}, None) == [
        "QUALITY LOSS: outputs' cosine to fp32 is 0.4314 (< 0.99)"]
    assert quality_warnings({"accuracy": None, "accuracy_delta": None, "cosine": 0.995}, None) == []
