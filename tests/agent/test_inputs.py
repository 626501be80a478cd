"""Input generation per dtype, dynamic dims, and real samples from .npz."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgebench.agent.backends.base import BackendError, TensorInfo
from edgebench.agent.inputs import make_feed, random_array, resolve_shape, to_input_dtype


@pytest.mark.parametrize("dtype, lo, hi", [
    ("float32", 0.0, 1.0), ("float16", 0.0, 1.0), ("float64", 0.0, 1.0),
    ("int8", -128, 127), ("uint8", 0, 255), ("int16", -32768, 32767),
    ("int32", 0, 99), ("int64", 0, 99), ("uint32", 0, 99),
])
def test_random_array_dtype_and_range(dtype: str, lo: float, hi: float) -> None:
    arr = random_array([4, 1000], dtype, np.random.default_rng(0))
    assert arr.dtype == np.dtype(dtype) and arr.shape == (4, 1000)
    assert arr.min() >= lo and arr.max() <= hi
    if np.dtype(dtype).kind in "iu" and np.dtype(dtype).itemsize == 1:
        assert arr.min() == lo and arr.max() == hi  # full range is exercised


def test_bool_and_unsupported() -> None:
    arr = random_array([100], "bool", np.random.default_rng(0))
    assert arr.dtype == bool and 0 < arr.sum() < 100
    with pytest.raises(BackendError, match="cannot generate inputs of dtype complex64"):
        random_array([2], "complex64", np.random.default_rng(0))


def test_seeded_inputs_are_reproducible() -> None:
    info = [TensorInfo("x", [None, 8], "float32")]
    a = make_feed(info, seed=7, shapes={}, default_dim=1)["x"]
    b = make_feed(info, seed=7, shapes={}, default_dim=1)["x"]
    c = make_feed(info, seed=8, shapes={}, default_dim=1)["x"]
    assert a.shape == (1, 8) and np.array_equal(a, b) and not np.array_equal(a, c)


def test_dynamic_dims_from_spec_or_default() -> None:
    info = TensorInfo("tokens", [None, None], "int64")
    assert resolve_shape(info, {}, 1) == [1, 1]
    assert resolve_shape(info, {"tokens": [2, 128]}, 1) == [2, 128]
    with pytest.raises(BackendError, match="rank 1"):
        resolve_shape(info, {"tokens": [5]}, 1)
    with pytest.raises(BackendError, match="!= model shape"):
        resolve_shape(TensorInfo("x", [1, 3], "float32"), {"x": [1, 4]}, 1)


def test_npz_samples_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, x=np.arange(40, dtype=np.float32).reshape(5, 8))
    feed = make_feed([TensorInfo("input", [None, 8], "float32")], seed=0, shapes={}, default_dim=2,
                     npz_path=str(path))
    assert np.array_equal(feed["input"], np.arange(16, dtype=np.float32).reshape(2, 8))
    big = make_feed([TensorInfo("input", [12, 8], "float32")], seed=0, shapes={}, default_dim=1,
                    npz_path=str(path))["input"]  # 5 samples fill a batch of 12 in order
    assert big.shape == (12, 8) and np.array_equal(big[5], big[0]) and np.array_equal(big[11], big[1])
    with pytest.raises(BackendError, match="sample shape \\[8\\], model expects \\[9\\]"):
        make_feed([TensorInfo("input", [None, 9], "float32")], seed=0, shapes={}, default_dim=1,
                  npz_path=str(path))
    with pytest.raises(BackendError, match="no array named 'a'"):
        make_feed([TensorInfo("a", [1, 8], "float32"), TensorInfo("b", [1, 8], "float32")],
                  seed=0, shapes={}, default_dim=1, npz_path=str(path))
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(BackendError, match="cannot read npz"):
        make_feed([TensorInfo("x", [1, 8], "float32")], seed=0, shapes={}, default_dim=1, npz_path=str(bad))


def test_float_samples_are_quantized_for_integer_inputs() -> None:
    info = TensorInfo("x", [1, 3], "int8", {"scale": 0.5, "zero_point": -10})
    q = to_input_dtype(np.array([[0.0, 1.0, 1000.0]], dtype=np.float32), info)
    assert q.dtype == np.int8 and q.tolist() == [[-10, -8, 127]]
    with pytest.raises(BackendError, match="no quantization parameters"):
        to_input_dtype(np.zeros((1, 3), np.float32), TensorInfo("x", [1, 3], "int32"))


def test_stacked_samples_feed_0d_int64_and_bool_inputs(tmp_path: Path) -> None:
    """Samples stacked on a new leading axis (what the variant builder writes): a 0-d input
    gives shape [N] and is fed as a 0-d array, not an IndexError."""
    path = tmp_path / "in.npz"
    np.savez(path, sr=np.full(4, 16000, np.int64), flag=np.ones((4, 1), bool),
             state=np.arange(4 * 2 * 3, dtype=np.float32).reshape(4, 2, 3))
    infos = [TensorInfo("sr", [], "int64"), TensorInfo("flag", [1], "bool"),
             TensorInfo("state", [2, 3], "float32")]
    feed = make_feed(infos, seed=0, shapes={}, default_dim=1, npz_path=str(path))
    assert feed["sr"].shape == () and feed["sr"].dtype == np.int64 and int(feed["sr"]) == 16000
    assert feed["flag"].dtype == bool and feed["flag"].shape == (1,)
    np.testing.assert_array_equal(feed["state"], np.arange(6, dtype=np.float32).reshape(2, 3))


def test_a_bare_scalar_for_a_0d_input_is_refused_with_the_layout(tmp_path: Path) -> None:
    path = tmp_path / "in.npz"
    np.savez(path, sr=np.array(16000, np.int64))
    with pytest.raises(BackendError, match=r"stack samples on a new leading axis"):
        make_feed([TensorInfo("sr", [], "int64")], seed=0, shapes={}, default_dim=1, npz_path=str(path))
