"""Built-in architectures and the digits data: same model in both frameworks, fixed splits."""

from __future__ import annotations

import numpy as np
import pytest

from edgebench.datasets import load_digits_dataset, load_npz_dataset, to_layout
from edgebench.errors import ConfigError, ModelError
from edgebench.models import get_builtin


def test_digits_splits_are_deterministic_and_disjoint() -> None:
    a, b = load_digits_dataset(), load_digits_dataset()
    assert a.fingerprint() == b.fingerprint()
    assert a.x_train.shape[1:] == (1, 8, 8) and a.x_train.dtype == np.float32
    assert len(a.x_eval) == 360 and len(a.x_train) == 1437 and len(a.x_calib) == 200
    assert 0.0 <= a.x_train.min() and a.x_train.max() <= 1.0  # pixels / 16
    train_rows = {r.tobytes() for r in a.x_train}
    assert sum(r.tobytes() in train_rows for r in a.x_eval) < 5  # sklearn digits has a few duplicates
    assert to_layout(a.x_eval, "tflite").shape[1:] == (8, 8, 1)


@pytest.mark.parametrize("name", ["digits-cnn", "ds-cnn", "resnet8", "mobilenet-v1-025", "autoencoder"])
def test_torch_and_keras_definitions_match(name: str) -> None:
    import torch

    b = get_builtin(name)
    net = b.torch_factory(1.0)
    keras_net = b.keras_factory(1.0)
    x = np.zeros((2, *b.input_shape), np.float32)
    with torch.no_grad():
        out_t = net.eval()(torch.from_numpy(x)).numpy()
    out_k = keras_net(to_layout(x, "tflite")).numpy()
    assert out_t.shape == out_k.shape
    trainable_t = sum(p.numel() for p in net.parameters())
    trainable_k = sum(int(np.prod(w.shape)) for w in keras_net.trainable_weights)
    assert trainable_t == trainable_k
    half = sum(p.numel() for p in b.torch_factory(0.5).parameters())
    assert half < 0.5 * trainable_t


def test_unknown_builtin_and_bad_npz(tmp_path) -> None:
    with pytest.raises(ModelError):
        get_builtin("nope")
    bad = tmp_path / "d.npz"
    np.savez(bad, y=np.zeros(3))
    with pytest.raises(ConfigError, match="npz has no input arrays: give 'x'"):
        load_npz_dataset(bad)
    good = tmp_path / "g.npz"
    np.savez(good, x=np.zeros((10, 4)), y=np.arange(10))
    ds = load_npz_dataset(good)
    assert len(ds.x_eval) == 5 and ds.x_eval.dtype == np.float32 and ds.labelled
