"""Operator profile (agent/profile.py), USS/PSS (agent/memory.py), int8/bf16 CPU flags.

Real runtimes throughout: the ORT profile comes from a real profiled session, the LiteRT
delegation from a real interpreter.  No timing thresholds: only structure and sums that
hold by construction (node shares add up to the kernel coverage).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from edgebench.agent.memory import attributable_bytes, smaps_rollup_bytes
from edgebench.agent.profile import delegated_ops, parse_ort_profile
from edgebench.agent.runner import run_job
from edgebench.agent.schema import JobSpec
from edgebench.agent.sysinfo import cpu_flags, int8_bf16_flags

QUICK = {"warmup_runs": 2, "warmup_min_s": 0.0, "min_runs": 20, "min_duration_s": 0.0,
         "max_duration_s": 5.0}


def _node(name: str, op: str, ts: int, dur: int) -> dict:
    return {"cat": "Node", "name": f"{name}_kernel_time", "ts": ts, "dur": dur,
            "args": {"op_name": op, "provider": "CPUExecutionProvider", "mem_arena_held": "4096"}}


def test_parse_ort_profile_drops_session_events_and_warmup_runs() -> None:
    events = [
        {"cat": "Session", "name": "model_loading_uri", "ts": 0, "dur": 5000},
        {"cat": "Session", "name": "session_initialization", "ts": 5000, "dur": 4000},
        # warm-up run (skipped)
        _node("conv", "Conv", 10000, 900), {"cat": "Session", "name": "model_run", "ts": 9990, "dur": 1000},
        # two counted runs: Conv 6 + 8, Relu 2 + 2, run 10 + 12 us
        _node("conv", "Conv", 20001, 6), _node("relu", "Relu", 20008, 2),
        {"cat": "Node", "name": "conv_fence_before", "ts": 20000, "dur": 1, "args": {}},
        {"cat": "Session", "name": "model_run", "ts": 20000, "dur": 10},
        _node("conv", "Conv", 30001, 8), _node("relu", "Relu", 30010, 2),
        {"cat": "Session", "name": "model_run", "ts": 30000, "dur": 12},
        # a preempted run (> 3 x the median): left out of the means, counted
        _node("conv", "Conv", 40001, 990), {"cat": "Session", "name": "model_run", "ts": 40000, "dur": 1000},
    ]
    prof = parse_ort_profile(events, skip_runs=1)
    assert prof["runs"] == 2 and prof["runs_excluded_slow"] == 1
    assert prof["inference_mean_s"] == pytest.approx(11e-6)
    assert prof["inference_p50_s"] == pytest.approx(12e-6)  # the median of all three
    types = {t["op_type"]: t for t in prof["by_op_type"]}
    assert set(types) == {"Conv", "Relu"}
    assert types["Conv"]["mean_s"] == pytest.approx(7e-6) and types["Relu"]["mean_s"] == pytest.approx(2e-6)
    assert types["Conv"]["share"] == pytest.approx(7 / 11)
    assert prof["kernel_sum_mean_s"] == pytest.approx(9e-6)
    assert prof["outside_kernels_mean_s"] == pytest.approx(2e-6)
    assert prof["arena_held_bytes"] == 4096
    # spans: from the previous kernel's end (the run's start for the first) to this end
    assert types["Conv"]["span_mean_s"] == pytest.approx(8e-6)  # (7 + 9) / 2
    assert types["Relu"]["span_mean_s"] == pytest.approx(3e-6)  # (3 + 3) / 2
    assert types["Conv"]["span_share"] == pytest.approx(8 / 11)
    assert prof["span_sum_mean_s"] == pytest.approx(11e-6) and prof["span_coverage"] == pytest.approx(1.0)
    assert prof["dispatch_gaps_mean_s"] == pytest.approx(2e-6)
    assert prof["before_first_kernel_mean_s"] == pytest.approx(1e-6)
    assert prof["after_last_kernel_mean_s"] == pytest.approx(0.0)


def test_spans_of_overlapping_kernels_never_count_wall_time_twice() -> None:
    """A parallel executor's kernels overlap: spans are ordered by end, so their sum is
    the run's wall time up to the last kernel, and the tail is the run's post work."""
    events = [_node("a", "Conv", 101, 10), _node("b", "Conv", 103, 4), _node("c", "Add", 112, 3),
              {"cat": "Session", "name": "model_run", "ts": 100, "dur": 20}]
    prof = parse_ort_profile(events)
    spans = {n["name"]: n["span_mean_s"] for n in prof["nodes"]}
    assert spans == pytest.approx({"b": 7e-6, "a": 4e-6, "c": 4e-6})  # ends 107, 111, 115
    assert prof["kernel_sum_mean_s"] == pytest.approx(17e-6)  # more than the spans: overlap
    assert prof["span_sum_mean_s"] == pytest.approx(15e-6)
    assert prof["after_last_kernel_mean_s"] == pytest.approx(5e-6)


def test_ort_job_profile_is_real_and_separate_from_the_timed_loop(mlp_onnx: Path) -> None:
    spec = JobSpec.from_dict({"job_id": "p", "model_path": str(mlp_onnx), "format": "onnx",
                              "benchmark": {**QUICK, "profile": True, "profile_runs": 20}})
    res = run_job(spec)
    assert res["status"] == "ok", res.get("error")
    prof = res["profile"]
    assert "error" not in prof, prof
    assert prof["runs"] + prof["runs_excluded_slow"] == 20 and prof["runtime"] == "onnxruntime"
    types = {t["op_type"] for t in prof["by_op_type"]}
    assert "MatMul" in types or "Gemm" in types or "FusedMatMul" in types, types
    assert all(t["providers"] == ["CPUExecutionProvider"] for t in prof["by_op_type"])
    # the op-type totals are the node totals, and both are the kernel sum (by construction)
    assert sum(t["mean_s"] for t in prof["by_op_type"]) == pytest.approx(prof["kernel_sum_mean_s"])
    assert 0 < prof["kernel_sum_mean_s"] <= prof["inference_mean_s"]
    # the timed loop's latencies are the unprofiled session's: as many as it ran, no more
    assert res["stats"]["count"] == len(res["timing"]["latencies_s"])


def test_profile_off_by_default(mlp_onnx: Path) -> None:
    res = run_job(JobSpec.from_dict({"job_id": "n", "model_path": str(mlp_onnx), "format": "onnx",
                                     "benchmark": QUICK}))
    assert res["status"] == "ok" and "profile" not in res


def test_profile_settings_are_strict() -> None:
    with pytest.raises(ValueError):
        JobSpec.from_dict({"job_id": "x", "model_path": "m", "format": "onnx",
                           "benchmark": {"profile": "yes"}})
    with pytest.raises(ValueError):
        JobSpec.from_dict({"job_id": "x", "model_path": "m", "format": "onnx",
                           "benchmark": {"profile_runs": 0}})


def test_delegated_ops_walks_each_partition() -> None:
    # t0 -> A -> t1 -> B -> t2 -> C(custom, not delegated) -> t3 ; DELEGATE took A and B
    ops = [{"index": 0, "op_name": "CONV_2D", "inputs": [0, 10], "outputs": [1]},
           {"index": 1, "op_name": "RELU", "inputs": [1], "outputs": [2]},
           {"index": 2, "op_name": "CUSTOM", "inputs": [2], "outputs": [3]},
           {"index": 3, "op_name": "DELEGATE", "inputs": [0, 10], "outputs": [2]}]
    out = delegated_ops(ops)
    assert [n["delegated"] for n in out["nodes"]] == [True, True, False]
    assert out["delegated_nodes"] == 2 and out["model_nodes"] == 3 and out["delegate_partitions"] == 1


def test_litert_job_says_which_ops_xnnpack_took(tiny_tflite: Path) -> None:
    spec = JobSpec.from_dict({"job_id": "t", "model_path": str(tiny_tflite), "format": "tflite",
                              "benchmark": {**QUICK, "profile": True}})
    res = run_job(spec)
    assert res["status"] == "ok", res.get("error")
    prof = res["profile"]
    assert "error" not in prof, prof
    assert prof["delegate"] == "XNNPACK" and prof["timing"] is None
    assert prof["model_nodes"] >= 1 and prof["delegated_nodes"] == prof["model_nodes"]
    assert any(t["op_type"] == "FULLY_CONNECTED" and t["delegated"] for t in prof["by_op_type"])


def test_litert_without_xnnpack_delegates_nothing(tiny_tflite: Path) -> None:
    spec = JobSpec.from_dict({"job_id": "t", "model_path": str(tiny_tflite), "format": "tflite",
                              "use_xnnpack": False, "benchmark": {**QUICK, "profile": True}})
    prof = run_job(spec)["profile"]
    if prof.get("delegate_partitions"):
        pytest.skip("this LiteRT applies XNNPACK even without the default-delegate resolver")
    assert prof["delegated_nodes"] == 0


def _independent_smaps(pid: int) -> tuple[int, int]:
    """USS and PSS summed over every mapping of /proc/PID/smaps (not the rollup)."""
    uss = pss = 0
    with open(f"/proc/{pid}/smaps") as fh:
        for line in fh:
            key, _, rest = line.partition(":")
            if key in ("Private_Clean", "Private_Dirty"):
                uss += int(rest.split()[0]) * 1024
            elif key == "Pss":
                pss += int(rest.split()[0]) * 1024
    return uss, pss


@pytest.mark.skipif(not os.path.exists("/proc/self/smaps_rollup"), reason="needs Linux smaps_rollup")
def test_uss_pss_agree_with_an_independent_proc_read() -> None:
    ballast = np.ones(32 * 1024 * 1024 // 8)  # 32 MiB private, so the figures are not tiny
    ours = smaps_rollup_bytes()
    uss, pss = _independent_smaps(os.getpid())
    rollup = _rollup_of(os.getpid())
    assert ours["uss_bytes"] == pytest.approx(uss, rel=0.02)
    assert ours["pss_bytes"] == pytest.approx(pss, rel=0.02)
    assert ours["uss_bytes"] == pytest.approx(rollup[0], rel=0.02)
    assert ours["pss_bytes"] == pytest.approx(rollup[1], rel=0.02)
    assert ours["uss_bytes"] >= ballast.nbytes


def _rollup_of(pid: int) -> tuple[int, int]:
    fields = {}
    with open(f"/proc/{pid}/smaps_rollup") as fh:
        for line in fh:
            parts = line.split()
            if len(parts) == 3 and parts[2] == "kB":
                fields[parts[0].rstrip(":")] = int(parts[1]) * 1024
    return fields["Private_Clean"] + fields["Private_Dirty"], fields["Pss"]


def test_smaps_rollup_on_a_fixture_and_missing_file(tmp_path: Path) -> None:
    f = tmp_path / "smaps_rollup"
    f.write_text("00400000-7ffd [rollup]\nRss:  1000 kB\nPss:  600 kB\nPss_Anon:  300 kB\n"
                 "Shared_Clean:  500 kB\nPrivate_Clean:  100 kB\nPrivate_Dirty:  350 kB\n")
    assert smaps_rollup_bytes(path=str(f)) == {"uss_bytes": 450 * 1024, "pss_bytes": 600 * 1024,
                                               "rss_rollup_bytes": 1000 * 1024}
    assert smaps_rollup_bytes(path=str(tmp_path / "none"))["uss_bytes"] is None
    assert attributable_bytes(100, 350, 400) == {"rss_after_warmup_bytes": 400, "model_load_bytes": 250,
                                                 "inference_extra_bytes": 50}
    assert attributable_bytes(None, 350, 400)["model_load_bytes"] is None


X86_CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse4_2 avx avx2 fma f16c avx512f avx512bw avx512_vnni avx_vnni avx512_bf16 amx_bf16 amx_tile amx_int8
"""
ARM_CPUINFO = """processor\t: 0
BogoMIPS\t: 108.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp i8mm bf16
CPU implementer\t: 0x41
"""


def test_int8_bf16_flags_from_x86_and_arm_cpuinfo(tmp_path: Path) -> None:
    x86 = tmp_path / "x86"
    x86.write_text(X86_CPUINFO)
    arm = tmp_path / "arm"
    arm.write_text(ARM_CPUINFO)
    assert int8_bf16_flags(str(x86)) == ["avx2", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni",
                                         "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16"]
    assert int8_bf16_flags(str(arm)) == ["asimddp", "i8mm", "bf16"]
    assert {"asimddp", "i8mm", "bf16"} <= set(cpu_flags(str(arm)))
    assert int8_bf16_flags(str(tmp_path / "missing")) == []


def test_multi_process_job_profiles_once(mlp_onnx: Path) -> None:
    spec = JobSpec.from_dict({"job_id": "mp", "model_path": str(mlp_onnx), "format": "onnx",
                              "benchmark": {**QUICK, "processes": 2, "profile": True,
                                            "profile_runs": 10}})
    res = run_job(spec)
    assert res["status"] == "ok", res.get("error")
    # once, not once per process (20); a run preempted on a busy box is excluded, not lost
    prof = res["profile"]
    assert prof["runs"] + prof["runs_excluded_slow"] == 10 and res["memory"]["uss_bytes"]


@pytest.mark.skipif(not os.path.exists("/proc/self/smaps_rollup"), reason="needs Linux smaps_rollup")
def test_uss_pss_agree_with_another_process_reading_proc_pid(tmp_path: Path) -> None:
    """The agent's own figure vs the parent reading /proc/CHILD/smaps_rollup meanwhile."""
    import json
    import subprocess
    import sys

    code = ("import json, sys, numpy as np\n"
            "from edgebench.agent.memory import smaps_rollup_bytes\n"
            "b = np.ones(8 * 1024 * 1024)\n"
            "print(json.dumps(smaps_rollup_bytes()), flush=True)\n"
            "sys.stdin.readline()\n")
    root = Path(__file__).resolve().parents[2]
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": str(root)})
    try:
        ours = json.loads(child.stdout.readline())
        uss, pss = _rollup_of(child.pid)
    finally:
        child.communicate("\n", timeout=30)
    assert ours["uss_bytes"] == pytest.approx(uss, rel=0.02)
    assert ours["pss_bytes"] == pytest.approx(pss, rel=0.02)
