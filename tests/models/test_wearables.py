"""har-1dcnn and speech-1dcnn: aeon's data files read without importing aeon, the same
architecture in both frameworks, 1-D structured pruning, and trained test accuracy."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from edgebench.datasets import BUILTIN_DATASETS, load_dataset, to_layout
from edgebench.models import get_builtin
from tests.conftest import require_real


def test_basic_motions_splits_from_the_aeon_wheel() -> None:
    require_real("aeon")  # fails, not skips, under EDGEBENCH_REQUIRE_REAL=1
    data = load_dataset("basic-motions")
    assert data.x_train.shape == (40, 6, 100) and data.x_eval.shape == (40, 6, 100)
    assert data.x_train.dtype == np.float32 and len(data.x_calib) == 40
    assert np.bincount(data.y_train).tolist() == [10, 10, 10, 10]
    assert np.bincount(data.y_eval).tolist() == [10, 10, 10, 10]
    # standardised with the training split's statistics
    np.testing.assert_allclose(data.x_train.mean(axis=(0, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(data.x_train.std(axis=(0, 2)), 1.0, atol=1e-5)
    assert to_layout(data.x_eval, "tflite").shape == (40, 100, 6)
    assert data.fingerprint() == load_dataset("basic-motions").fingerprint()


def test_japanese_vowels_padded_to_29_frames() -> None:
    require_real("aeon")
    data = BUILTIN_DATASETS["japanese-vowels"]()
    assert data.x_train.shape == (270, 12, 29) and data.x_eval.shape == (370, 12, 29)
    assert np.bincount(data.y_train).tolist() == [30] * 9
    assert np.bincount(data.y_eval).tolist() == [31, 35, 88, 44, 29, 24, 40, 50, 29]
    # a case of 7..29 frames: its padding is exactly 0 (the channel mean after scaling)
    lengths = (np.abs(data.x_train).sum(axis=1) > 0).sum(axis=1)
    assert lengths.min() >= 7 and lengths.max() == 26  # the training split's longest case
    first_short = int(np.argmin(lengths))
    assert not data.x_train[first_short, :, lengths[first_short]:].any()


def test_aeon_is_never_imported() -> None:
    require_real("aeon")
    code = ("import sys; from edgebench.datasets import load_dataset; "
            "load_dataset('basic-motions'); load_dataset('japanese-vowels'); "
            "print('aeon' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("name, params", [("har-1dcnn", 15_604), ("speech-1dcnn", 33_609)])
def test_torch_and_keras_definitions_match(name: str, params: int) -> None:
    import torch

    b = get_builtin(name)
    net, keras_net = b.torch_factory(1.0), b.keras_factory(1.0)
    x = np.zeros((2, *b.input_shape), np.float32)
    with torch.no_grad():
        out_t = net.eval()(torch.from_numpy(x)).numpy()
    out_k = keras_net(to_layout(x, "tflite")).numpy()
    assert out_t.shape == out_k.shape == (2, {"har-1dcnn": 4, "speech-1dcnn": 9}[name])
    assert sum(p.numel() for p in net.parameters()) == params
    assert sum(int(np.prod(w.shape)) for w in keras_net.trainable_weights) == params
    assert b.keras_input_shape() == (b.input_shape[1], b.input_shape[0])


@pytest.mark.parametrize("name", ["har-1dcnn", "speech-1dcnn"])
def test_structured_pruning_rebuilds_1d_stacks_narrower(name: str) -> None:
    import torch

    from edgebench.compressors.prune_structured import prune_structured

    b = get_builtin(name)

    class Ctx:
        input_shape = b.input_shape

    x = np.random.default_rng(0).standard_normal((3, *b.input_shape)).astype(np.float32)
    pruned_t, removed_t = prune_structured(b.torch_factory(1.0), "torch", 0.5, Ctx())
    pruned_k, removed_k = prune_structured(b.keras_factory(1.0), "keras", 0.5, Ctx())
    half_t = sum(p.numel() for p in b.torch_factory(0.5).parameters())
    assert sum(p.numel() for p in pruned_t.parameters()) == half_t  # same widths as x0.5
    assert sum(int(np.prod(w.shape)) for w in pruned_k.trainable_weights) == half_t
    assert sorted(removed_t.values()) == sorted(removed_k.values())
    with torch.no_grad():
        assert pruned_t(torch.from_numpy(x)).shape == (3, b.torch_factory(1.0)[-1].out_features)
    assert pruned_k(to_layout(x, "tflite")).shape[0] == 3


@pytest.mark.slow
def test_har_trains_to_90_percent_on_the_test_split_in_both_frameworks(tmp_path) -> None:  # type: ignore[no-untyped-def]
    require_real("aeon")
    from edgebench.models import trained_keras, trained_torch
    from edgebench.models.train import keras_predict, torch_predict

    b = get_builtin("har-1dcnn")
    data = b.dataset()
    net, _ = trained_torch(b, tmp_path, {})
    keras_net, _ = trained_keras(b, tmp_path, {})
    acc_t = float((torch_predict(net, data.x_eval).argmax(1) == data.y_eval).mean())
    acc_k = float((keras_predict(keras_net, to_layout(data.x_eval, "tflite")).argmax(1)
                   == data.y_eval).mean())
    assert acc_t >= 0.9 and acc_k >= 0.9, (acc_t, acc_k)  # measured here: 1.0 and 1.0
