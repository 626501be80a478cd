"""Model files inside installed packages, judging a named output, and presence scoring.

Real parts: a real package directory on ``sys.path`` found by importlib, real ONNX files
run by onnxruntime, real suites parsed by the config loader.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from ebhelpers import build, ok

from edgebench.compressors.evaluate import presence_scores, quality
from edgebench.config import load_suite
from edgebench.errors import ConfigError
from tests.conftest import two_output_onnx


@pytest.fixture
def fake_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A package 'ebfakepkg' with data/two.onnx, importable from a temporary sys.path entry."""
    pkg = tmp_path / "site" / "ebfakepkg"
    (pkg / "data").mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise RuntimeError('edgebench must not import me')\n")
    two_output_onnx(pkg / "data" / "two.onnx")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    return pkg


def test_model_file_found_inside_a_package_without_importing_it(eb_cache: Path, fake_package: Path,
                                                                tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.standard_normal((40, 4)).astype(np.float32))
    arts = build(eb_cache, [{"name": "fp32"}], name="pk", package="ebfakepkg",
                 path="data/two.onnx", data=str(tmp_path / "d.npz"), output="second")
    m = ok(arts[("fp32", "onnx")])
    assert m["judged_output"] == "second"
    assert m["source_sha256"] == __import__("hashlib").sha256(
        (fake_package / "data" / "two.onnx").read_bytes()).hexdigest()
    assert m["cosine"] == pytest.approx(1.0) and m["quality"]["eval_samples"] == 20
    with np.load(arts[("fp32", "onnx")].eval_npz) as ev:
        assert ev["ref"].shape == (20, 3)  # the outputs of 'second', not of the first output


def test_judged_output_is_the_named_one(eb_cache: Path, fake_package: Path, tmp_path: Path) -> None:
    from edgebench.compressors.evaluate import run_model

    x = np.ones((2, 4), np.float32)
    path = fake_package / "data" / "two.onnx"
    assert run_model(path, "onnx", x).shape == (2, 4)  # default: the first output
    np.testing.assert_allclose(run_model(path, "onnx", x, "second"),
                               x @ (np.arange(12, dtype=np.float32).reshape(4, 3) - 5.0))


def test_unknown_output_is_a_per_variant_error_naming_the_outputs(eb_cache: Path, fake_package: Path) -> None:
    arts = build(eb_cache, [{"name": "fp32"}], name="pk2", package="ebfakepkg",
                 path="data/two.onnx", output="scores")
    assert arts[("fp32", "onnx")].error == ("the model has no output 'scores' (outputs: first, "
                                            "second); fix the model's 'output:' in the suite")


def test_missing_package_or_file_fails_that_model_only(eb_cache: Path, fake_package: Path) -> None:
    arts = build(eb_cache, [{"name": "fp32"}], name="gone", package="eb_no_such_pkg",
                 path="data/two.onnx")
    assert arts[("fp32", "onnx")].error.startswith(
        "Python package 'eb_no_such_pkg' is not installed in this environment; install")
    arts = build(eb_cache, [{"name": "fp32"}], name="nofile", package="ebfakepkg",
                 path="data/three.onnx")
    assert "package 'ebfakepkg' has no file 'data/three.onnx'" in arts[("fp32", "onnx")].error


@pytest.mark.parametrize("model, problem", [
    ("package: ebfakepkg\n    path: /etc/passwd.onnx", "with 'package', 'path' is relative to the package folder"),
    ("package: ebfakepkg\n    path: ../x.onnx", "with 'package', 'path' is relative to the package folder"),
    ("package: 'not a package'\n    path: m.onnx", "not an importable package name"),
    ("package: ebfakepkg\n    builtin: digits-cnn", "'package' names where a model file lives"),
    ("builtin: digits-cnn\n    task: presence", "task 'presence' applies to .onnx / .tflite detector files"),
])
def test_package_config_errors_name_the_key(tmp_path: Path, model: str, problem: str) -> None:
    suite = tmp_path / "s.yaml"
    suite.write_text(f"name: s\nmodels:\n  - name: m\n    {model}\n")
    with pytest.raises(ConfigError) as err:
        load_suite(suite)
    line = err.value.one_line()
    assert f"{suite}:" in line and problem in line, line


def test_presence_scores_are_the_sigmoid_of_the_best_anchor() -> None:
    logits = np.array([[-10.0, 2.0, -1.0], [-3.0, -4.0, -5.0], [1e6, 0.0, 0.0], [-1e6, -1e6, -1e6]])
    with np.errstate(over="raise"):
        p = presence_scores(logits)
    np.testing.assert_allclose(p[:2], 1 / (1 + np.exp([-2.0, 3.0])))
    assert p[2] == pytest.approx(1.0) and p[3] == pytest.approx(1 / (1 + np.exp(80.0)))


def test_presence_quality_scores_decisions_not_argmax() -> None:
    # 4 samples x 3 anchors; decisions (p > 0.5): yes, no, yes, no
    out = np.array([[-5.0, 3.0, -5.0], [-2.0, -1.0, -3.0], [0.5, -9.0, -9.0], [-0.1, -7.0, -7.0]])
    ref = np.array([[-5.0, 3.0, -5.0], [-2.0, -1.0, -3.0], [-0.5, -9.0, -9.0], [-0.1, -7.0, -7.0]])
    q = quality(out, y=np.array([1, 0, 0, 1]), ref=ref, ref_accuracy=75.0, classification=False,
                presence=True)
    assert q["accuracy"] == 50.0  # right on samples 0 and 1
    assert q["accuracy_delta"] == -25.0
    assert q["top1_agreement"] == 0.75  # sample 2 flipped from "no" (fp32) to "yes"
    assert 0.9 < q["cosine"] < 1.0


def test_package_model_in_a_suite_file(tmp_path: Path, fake_package: Path) -> None:
    shutil.copy(fake_package / "data" / "two.onnx", tmp_path / "unused.onnx")
    suite = tmp_path / "s.yaml"
    suite.write_text("name: s\nmodels:\n  - name: m\n    package: ebfakepkg\n    path: data/two.onnx\n"
                     "    output: second\n")
    spec = load_suite(suite).models[0]
    assert (spec.package, spec.path, spec.output, spec.source_kind) == (
        "ebfakepkg", "data/two.onnx", "second", "onnx")


def test_dotted_package_is_a_folder_and_nothing_is_imported(eb_cache: Path, fake_package: Path) -> None:
    sub = fake_package / "models" / "face"
    sub.mkdir(parents=True)
    shutil.copy(fake_package / "data" / "two.onnx", sub / "det.onnx")
    (fake_package / "models" / "__init__.py").write_text("raise RuntimeError('imported!')\n")
    arts = build(eb_cache, [{"name": "fp32"}], name="dotted", package="ebfakepkg.models",
                 path="face/det.onnx")
    assert ok(arts[("fp32", "onnx")])["params"] == 12


def test_presence_needs_binary_labels_and_a_named_output(eb_cache: Path, fake_package: Path,
                                                         tmp_path: Path) -> None:
    x = np.random.default_rng(0).standard_normal((40, 4)).astype(np.float32)
    np.savez(tmp_path / "multi.npz", x=x, y=np.arange(40) % 4)
    arts = build(eb_cache, [{"name": "fp32"}], name="p1", package="ebfakepkg", path="data/two.onnx",
                 data=str(tmp_path / "multi.npz"), task="presence", output="second")
    assert arts[("fp32", "onnx")].error == ("task 'presence' needs labels 1 (present) / 0 (absent); "
                                            "the data has 0, 1, 2, 3: use task: classification")
    np.savez(tmp_path / "binary.npz", x=x, y=np.arange(40) % 2)
    arts = build(eb_cache, [{"name": "fp32"}], name="p2", package="ebfakepkg", path="data/two.onnx",
                 data=str(tmp_path / "binary.npz"), task="presence")
    assert arts[("fp32", "onnx")].error == ("task 'presence' on a model with 2 outputs (first, second): "
                                            "name the score logits with 'output:'")
    arts = build(eb_cache, [{"name": "fp32"}], name="p3", package="ebfakepkg", path="data/two.onnx",
                 data=str(tmp_path / "binary.npz"), task="presence", output="second")
    m = ok(arts[("fp32", "onnx")])
    assert m["accuracy"] is not None and m["top1_agreement"] == 1.0


def test_output_is_refused_where_it_cannot_apply(tmp_path: Path) -> None:
    suite = tmp_path / "s.yaml"
    suite.write_text("name: s\nmodels:\n  - name: m\n    builtin: digits-cnn\n    output: logits\n")
    with pytest.raises(ConfigError) as err:
        load_suite(suite)
    assert "'output' picks an output of an .onnx / .tflite file" in err.value.one_line()
