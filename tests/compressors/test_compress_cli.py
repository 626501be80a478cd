"""``edgebench compress``: table on stdout, NOOP and failures called out, exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest
from onnx_models import if_model

from edgebench.cli import main

SUITE = """\
name: cli-test
models:
  - name: digits-cnn
    builtin: digits-cnn
    formats: [onnx]
    data: digits
  - name: if-model
    path: if.onnx
variants:
  - name: fp32
  - name: int8-dynamic
    steps: [{quantize: {mode: dynamic}}]
"""


def test_compress_prints_table_and_flags_noop(eb_cache: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    if_model(tmp_path / "if.onnx")
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE)
    rc = main(["compress", str(suite), "--cache", str(eb_cache)])
    out, err = capsys.readouterr()
    assert rc == 0
    assert "int8-dynamic" in out and "NOOP" in out and "38,282" in out
    assert "NOOP if-model/int8-dynamic [onnx]" in err and "If/Loop/Scan" in err


def test_compress_failed_variant_exit_1_and_unknown_model_exit_2(
        eb_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE.replace("  - name: if-model\n    path: if.onnx\n", "")
                     + "  - name: bad\n    steps: [{quantize: {mode: int16x8}}]\n")
    assert main(["compress", str(suite), "--cache", str(eb_cache)]) == 1
    assert "TFLite-only" in capsys.readouterr().err
    assert main(["compress", str(suite), "--cache", str(eb_cache), "--model", "nope"]) == 2


def test_compress_shouts_a_quality_loss(eb_cache: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE.replace("  - name: if-model\n    path: if.onnx\n", "")
                     + "  - name: crushed\n    steps: [{prune: {kind: structured, sparsity: 0.9, "
                       "finetune_epochs: 0}}]\n")
    assert main(["compress", str(suite), "--cache", str(eb_cache), "--model", "digits-cnn"]) == 0
    err = capsys.readouterr().err
    assert "LOSS digits-cnn/crushed [onnx]: QUALITY LOSS: accuracy " in err, err
    assert "LOSS digits-cnn/int8-dynamic" not in err  # within the 1-point budget
