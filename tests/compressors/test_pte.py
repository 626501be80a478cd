"""ExecuTorch ``.pte`` variants (issue 15): export from the PyTorch source, int8 through
the PT2E XNNPACK quantizer, statistics read from the file, and the agent's account of
what the program computes in.  Skipped where executorch is not installed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ebhelpers import build, ok

pytest.importorskip("executorch.runtime")

PTE = [
    {"name": "fp32"},
    {"name": "int8-static", "steps": [{"quantize": {"mode": "static"}}]},
]


@pytest.fixture(scope="module")
def digits(eb_cache: Path) -> dict:
    return build(eb_cache, PTE, formats=["onnx", "pte"])


def test_fp32_pte_matches_torch_and_the_onnx_file(digits: dict, eb_cache: Path) -> None:
    """The .pte runs the same network as torch and as the .onnx export of it."""
    import torch

    from edgebench.compressors.cachekey import tool_versions
    from edgebench.compressors.evaluate import run_model
    from edgebench.datasets import load_dataset
    from edgebench.models import get_builtin, trained_torch

    pte, onnx = ok(digits[("fp32", "pte")]), ok(digits[("fp32", "onnx")])
    net, _ = trained_torch(get_builtin("digits-cnn"), eb_cache, tool_versions())
    x = load_dataset("digits").x_eval[:64].astype(np.float32)
    with torch.no_grad():
        ref = net.eval()(torch.from_numpy(x)).numpy()
    out = run_model(Path(pte["path"]), "pte", x)
    assert out.shape == ref.shape == (64, 10)
    assert float(np.abs(out - ref).max()) < 1e-4
    np.testing.assert_allclose(out, run_model(Path(onnx["path"]), "onnx", x), atol=1e-4)
    assert pte["accuracy"] == onnx["accuracy"] and pte["cosine"] == pytest.approx(1.0)
    assert pte["params"] == onnx["params"] == sum(p.numel() for p in net.parameters())
    assert pte["execution_precision"] == "fp32" and pte["delegates"] == ["XnnpackBackend"]
    assert pte["quantized_op_count"] == 0
    export = pte["steps"][0]
    assert export["step"] == "export" and export["delegated_nodes"] >= 5


def test_int8_pte_is_quantized_and_keeps_accuracy(digits: dict) -> None:
    fp32, int8 = ok(digits[("fp32", "pte")]), ok(digits[("int8-static", "pte")])
    assert int8["execution_precision"] == "int8" and int8["quantized_op_count"] >= 4
    assert int8["size_bytes"] <= 0.35 * fp32["size_bytes"]
    assert int8["params"] == fp32["params"]
    assert int8["accuracy_delta"] >= -1.0 and int8["top1_agreement"] >= 0.97
    step = int8["steps"][0]
    assert step["quantizer"] == "XNNPACKQuantizer (PT2E)" and step["per_channel"] is True
    assert step["calibration"] == {"source": "digits", "samples": 100}


def test_the_agent_reports_the_precision_the_delegate_computes_in(digits: dict) -> None:
    """fp32 and int8 programs both take float tensors: only the XNNPACK payload says
    which precision ran, and the result must carry it."""
    from edgebench.agent.runner import run_job
    from edgebench.agent.schema import JobSpec

    quick = {"warmup_runs": 1, "warmup_min_s": 0.0, "min_runs": 5, "min_duration_s": 0.0,
             "max_duration_s": 2.0}
    for variant, precision in (("fp32", "fp32"), ("int8-static", "int8")):
        art = digits[(variant, "pte")]
        res = run_job(JobSpec.from_dict({
            "job_id": "j", "model_path": str(art.path), "format": "pte", "benchmark": quick,
            "probes": {"enabled": False}, "eval": {"npz_path": str(art.eval_npz)}}))
        assert res["status"] == "ok", res.get("error")
        rt = res["runtime"]
        assert rt["execution_precision"] == precision and rt["delegates"] == ["XnnpackBackend"]
        assert rt["provider"] == "XnnpackBackend" and rt["portable_ops"] == []
        assert res["accuracy"]["accuracy"] == pytest.approx(art.manifest["accuracy"])


def test_pte_refuses_what_the_xnnpack_quantizer_cannot_do(eb_cache: Path) -> None:
    built = build(eb_cache, [{"name": "fp16", "steps": [{"quantize": {"mode": "fp16"}}]}],
                  formats=["pte"])
    err = built[("fp16", "pte")].error
    assert err and "mode 'fp16' is not available for pte" in err


def test_a_model_file_cannot_ask_for_pte(mlp_onnx: Path) -> None:
    from pydantic import ValidationError

    from edgebench.recipes import ModelSpec

    with pytest.raises(ValidationError, match="format pte .* is exported from a PyTorch model"):
        ModelSpec(name="m", path=str(mlp_onnx), formats=["pte"])


def test_edgebench_run_benchmarks_pte_variants_on_local(tmp_path: Path, eb_cache: Path) -> None:
    """End to end through the CLI: a trimmed suites/runtimes.yaml (digits-cnn, .onnx and
    .pte, fp32 and int8) runs on local, every job ok, the .pte rows on executorch with the
    precision that ran, and the report's table has one row per (variant, runtime)."""
    import csv
    import json
    import os
    import subprocess
    import sys

    import yaml

    suite = {
        "name": "pte-e2e", "devices": ["local"], "runtimes": ["onnxruntime", "executorch"],
        "models": [{"name": "digits-cnn", "builtin": "digits-cnn", "formats": ["onnx", "pte"],
                    "data": "digits"}],
        "variants": [{"name": "fp32", "steps": []},
                     {"name": "int8-static", "formats": ["pte"],
                      "steps": [{"quantize": {"mode": "static"}}]}],
        "benchmark": {"warmup_runs": 2, "warmup_min_s": 0.0, "min_runs": 20,
                      "min_duration_s": 0.05, "max_duration_s": 5.0, "evaluate_on_device": True},
    }
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False))
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-m", "edgebench", "run", str(path), "--out",
                           str(tmp_path / "r"), "--no-store"], capture_output=True, text=True,
                          timeout=900, cwd=root, env={**os.environ, "EDGEBENCH_CACHE": str(eb_cache)})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    run_dir = next((tmp_path / "r").iterdir())
    rows = {(r["variant"], r["format"], r["runtime"]): r
            for r in csv.DictReader((run_dir / "summary.csv").open())}
    assert sorted(rows) == [("fp32", "onnx", "onnxruntime"), ("fp32", "pte", "executorch"),
                            ("int8-static", "pte", "executorch")]
    assert all(r["status"] == "ok" for r in rows.values())
    results = {r["job_id"]: r for r in map(json.loads, (run_dir / "results.jsonl").open())}
    for variant, precision in (("fp32", "fp32"), ("int8-static", "int8")):
        res = results[f"digits-cnn/{variant}/pte@local"]["result"]
        assert res["runtime"]["execution_precision"] == precision
        assert res["accuracy"]["accuracy"] == pytest.approx(
            results[f"digits-cnn/{variant}/pte@local"]["artifact"]["manifest"]["accuracy"])
    report = (run_dir / "report.md").read_text()
    assert "int8-static (pte)" in report and "environment differs" not in report
