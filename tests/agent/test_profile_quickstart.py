"""The operator profile of the quickstart's own ONNX variants accounts for the inference.

Issue #16's acceptance: every ONNX job's op-type times sum to within 10 % of the profiled
mean inference.  The kernels alone do not (at batch 1 the executor's ~3 µs per node between
kernels is half of a profiled inference of this tiny CNN), so the profile attributes each
node's *span* -- its kernel plus the dispatch gap before it -- and keeps the pure kernel
time next to it.  Real variants, built by edgebench's own recipes (fp32 and int8-dynamic,
ONNX only), run through the real agent with ONNX Runtime.  The 10 % is a ratio of two
times of the same runs, not a speed threshold.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from edgebench.agent.runner import run_job
from edgebench.agent.schema import JobSpec

VARIANTS = [{"name": "fp32"}, {"name": "int8-dynamic", "steps": [{"quantize": {"mode": "dynamic"}}]}]


@pytest.fixture(scope="module")
def quickstart_onnx(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from types import SimpleNamespace

    from edgebench.recipes import ModelSpec, VariantSpec
    from edgebench.variants import build_variants

    model = ModelSpec(name="digits-cnn", builtin="digits-cnn", formats=["onnx"], data="digits")
    suite = SimpleNamespace(name="quickstart", models=[model],
                            variants=[VariantSpec(**v) for v in VARIANTS])
    arts = build_variants(suite, cache_dir=tmp_path_factory.mktemp("ebcache"))
    for a in arts:
        assert a.error is None, a.error
    return {a.variant: Path(a.path) for a in arts}


def _profile(path: Path) -> dict:
    res = run_job(JobSpec.from_dict({
        "job_id": path.stem, "model_path": str(path), "format": "onnx", "threads": 1,
        "probes": {"enabled": False},
        "benchmark": {"warmup_runs": 5, "warmup_min_s": 0.0, "min_runs": 50, "min_duration_s": 0.0,
                      "max_duration_s": 5.0, "profile": True, "profile_runs": 200}}))
    assert res["status"] == "ok", res.get("error")
    assert "error" not in res["profile"], res["profile"]
    return res["profile"]


@pytest.mark.parametrize("variant", ["fp32", "int8-dynamic"])
def test_op_type_spans_account_for_the_profiled_inference(quickstart_onnx: dict[str, Path],
                                                          variant: str) -> None:
    prof = _profile(quickstart_onnx[variant])
    inference = prof["inference_mean_s"]
    types = prof["by_op_type"]
    span_sum = sum(t["span_mean_s"] for t in types)
    # the acceptance figure: op-type spans within 10 % of the profiled mean inference
    assert span_sum == pytest.approx(inference, rel=0.10), (span_sum, inference)
    assert span_sum == pytest.approx(prof["span_sum_mean_s"])
    assert prof["span_coverage"] == pytest.approx(span_sum / inference)
    # what the spans leave out is the run's work after its last kernel, measured
    assert span_sum + prof["after_last_kernel_mean_s"] == pytest.approx(inference, rel=1e-3)
    # the pure kernel time stays next to it, and is the smaller figure
    kernel_sum = sum(t["mean_s"] for t in types)
    assert kernel_sum == pytest.approx(prof["kernel_sum_mean_s"]) and 0 < kernel_sum < span_sum
    assert prof["dispatch_gaps_mean_s"] == pytest.approx(span_sum - kernel_sum)
    for t in types:  # sequential executor: a span holds its kernel (1 µs trace rounding per node)
        assert t["span_mean_s"] >= t["mean_s"] - 1e-6 * t["nodes"], t
    # the profiler's cost is measured, not assumed: both sessions timed the same way
    assert prof["unprofiled_call_p50_s"] > 0 and prof["profiled_call_p50_s"] > 0
    assert prof["profiler_slowdown_p50"] == pytest.approx(
        prof["profiled_call_p50_s"] / prof["unprofiled_call_p50_s"])
    if variant == "int8-dynamic":
        names = {t["op_type"] for t in types}
        assert {"DynamicQuantizeLinear", "ConvInteger"} <= names, names


def test_openvino_counters_are_running_means_counted_by_difference() -> None:
    """OpenVINO reports each layer's running mean since the request's first (cold)
    inference in whole µs: the counted runs' mean comes from two readings."""
    from edgebench.agent.profile_openvino import counted_means, parse_counters

    # cold run 1000 µs + 4 warm runs of 10 µs: mean 208 after 5; then 100 runs of 4 µs
    before = {"conv": ("Convolution", "brgconv_avx512_f32", 208.0), "fc": ("FullyConnected", "ref_f32", 0.0)}
    after = {"conv": ("Convolution", "brgconv_avx512_f32", 1440 / 105),
             "fc": ("FullyConnected", "ref_f32", 0.0)}
    assert counted_means(before, after, 5, 100)["conv"] == pytest.approx(4.0)  # (1440 - 1040) / 100
    prof = parse_counters(before, after, 5, [20_000] * 100)
    assert prof["inference_mean_s"] == pytest.approx(20e-6) and prof["runs"] == 100
    assert [t["op_type"] for t in prof["by_op_type"]] == ["Convolution"]  # fc never ran
    assert prof["by_op_type"][0]["providers"] == ["brgconv_avx512_f32"]
    assert prof["kernel_coverage"] == pytest.approx(4.0 / 20) and prof["layers_not_run"] == 1
    assert prof["counter_error_bound_s"] == pytest.approx(1.1e-6)


def test_openvino_job_has_per_layer_counters(quickstart_onnx: dict[str, Path]) -> None:
    pytest.importorskip("openvino")
    res = run_job(JobSpec.from_dict({
        "job_id": "ov", "model_path": str(quickstart_onnx["int8-dynamic"]), "format": "onnx",
        "threads": 1, "runtime": "openvino", "probes": {"enabled": False},
        "benchmark": {"warmup_runs": 5, "warmup_min_s": 0.0, "min_runs": 50, "min_duration_s": 0.0,
                      "max_duration_s": 5.0, "profile": True, "profile_runs": 100}}))
    assert res["status"] == "ok", res.get("error")
    prof = res["profile"]
    assert prof["runtime"] == "openvino" and prof["runs"] == 100, prof
    types = {t["op_type"]: t for t in prof["by_op_type"]}
    assert "Convolution" in types and all(t["providers"] for t in types.values())
    bound = prof["counter_error_bound_s"] * len(prof["nodes"])
    assert 0 < prof["kernel_sum_mean_s"] <= prof["inference_mean_s"] + bound
    assert prof["kernel_sum_mean_s"] == pytest.approx(sum(t["mean_s"] for t in types.values()))
    assert prof["profiler_slowdown_p50"] == pytest.approx(
        prof["profiled_call_p50_s"] / prof["unprofiled_call_p50_s"])
