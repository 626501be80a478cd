"""Data that compression and evaluation need: training, calibration and evaluation splits.

Every split is deterministic (fixed seeds) so that a cached variant and a rebuilt one are
judged on the same samples, and calibration never sees the evaluation samples -- otherwise
an int8 accuracy figure would be optimistic.

Arrays are kept in the *canonical* layout, which is the PyTorch one (channels first, e.g.
``[N, 1, 8, 8]``); :func:`to_layout` gives the TFLite/Keras layout (channels last).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional, Union

import numpy as np

from edgebench.errors import ConfigError, ModelError

if TYPE_CHECKING:
    from edgebench.tsformat import TsData

DIGITS_SEED = 0
DIGITS_EVAL_FRACTION = 0.2
CALIBRATION_SAMPLES = 200


#: A split's inputs: one array (one-input models) or arrays keyed by input name, each
#: stacking N samples on a new leading axis (see :mod:`edgebench.compressors.feeds`).
Inputs = Union[np.ndarray, dict[str, np.ndarray]]


@dataclass
class Dataset:
    """Splits of one data source; ``y_*`` is None when the data has no labels."""

    name: str
    x_train: Inputs
    y_train: Optional[np.ndarray]
    x_calib: Inputs
    x_eval: Inputs
    y_eval: Optional[np.ndarray]
    synthetic: bool = False  # True: random inputs, judge by fidelity only
    # 'canonical': channels first, transposed for TFLite; 'model': already the model's layout
    layout: str = "canonical"

    @property
    def labelled(self) -> bool:
        return self.y_eval is not None

    def fingerprint(self) -> str:
        """Content hash of every split, so caches notice when the data changed."""
        h = hashlib.sha256()
        for arr in (self.x_train, self.y_train, self.x_calib, self.x_eval, self.y_eval):
            if isinstance(arr, dict):
                for key in sorted(arr):
                    h.update(key.encode() + str(arr[key].dtype).encode() + str(arr[key].shape).encode())
                    h.update(np.ascontiguousarray(arr[key]).tobytes())
            elif arr is not None:
                h.update(np.ascontiguousarray(arr).tobytes())
        return h.hexdigest()

    @property
    def named(self) -> bool:
        """True when the inputs are keyed by input name (a multi-input model's data)."""
        return isinstance(self.x_eval, dict)


def split_in_layout(data: Dataset, split: str, fmt: str) -> Inputs:
    """``x_<split>`` as the model of format ``fmt`` takes it."""
    x = getattr(data, f"x_{split}")
    if isinstance(x, dict):  # keyed by input name: always the model's own layout
        return x
    return to_layout(x, fmt) if data.layout == "canonical" else x


def to_layout(x: np.ndarray, fmt: str) -> np.ndarray:
    """Canonical channels-first arrays -> the layout of ``fmt`` ('onnx' keeps it, 'tflite' is NHWC)."""
    if fmt == "tflite" and x.ndim == 4:
        return np.ascontiguousarray(np.transpose(x, (0, 2, 3, 1)))
    if fmt == "tflite" and x.ndim == 3:  # 1-D signals: [N, channels, steps] -> [N, steps, channels]
        return np.ascontiguousarray(np.transpose(x, (0, 2, 1)))
    return x


def load_digits_dataset() -> Dataset:
    """scikit-learn's 8x8 digits (1797 images, bundled with sklearn: no download).

    Pixels are 0..16 and are divided by 16.  20 % (stratified, seed 0) is the evaluation
    split; the first 200 of the remaining samples double as calibration samples.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    x = (bunch.data.astype(np.float32) / 16.0).reshape(-1, 1, 8, 8)
    y = bunch.target.astype(np.int64)
    x_train, x_eval, y_train, y_eval = train_test_split(
        x, y, test_size=DIGITS_EVAL_FRACTION, random_state=DIGITS_SEED, stratify=y
    )
    return Dataset(
        name="digits",
        x_train=x_train,
        y_train=y_train,
        x_calib=x_train[:CALIBRATION_SAMPLES],
        x_eval=x_eval,
        y_eval=y_eval,
    )


def synthetic_dataset(name: str, input_shape: tuple[int, ...], *, n_train: int = 256,
                      n_eval: int = 64, seed: int = 0) -> Dataset:
    """Gaussian inputs for reference models that ship without data (fidelity only, no labels)."""
    rng = np.random.default_rng(seed)
    shape = tuple(input_shape)
    x = rng.standard_normal((n_train + n_eval, *shape)).astype(np.float32)
    return Dataset(
        name=f"synthetic:{name}",
        x_train=x[:n_train],
        y_train=None,
        x_calib=x[: min(n_train, CALIBRATION_SAMPLES)],
        x_eval=x[n_train:],
        y_eval=None,
        synthetic=True,
    )


def load_npz_dataset(path: str | Path, *, eval_fraction: float = 0.5, seed: int = 0) -> Dataset:
    """A user ``.npz``: ``x`` (model layout, batch first) or one array per input name
    (N samples stacked on a new leading axis, each exactly that input's shape: a 0-d
    input gives ``[N]``), and optional ``y`` labels.

    Half the samples (shuffled with ``seed``) calibrate, the other half evaluate, so a
    quantized model is never scored on the samples it was calibrated on.
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: np.asarray(data[k]) for k in data.files}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read data file: {exc}", file=str(path)) from exc
    y = arrays.pop("y", None)
    if not arrays:
        raise ConfigError("npz has no input arrays: give 'x' (one-input models) or one array "
                          "per input name", file=str(path))
    if "x" in arrays and len(arrays) == 1:
        single = arrays["x"]
        if single.ndim < 2 or len(single) < 2:
            raise ConfigError("'x' must be batch-first with at least 2 samples", file=str(path))
        x: Inputs = single.astype(np.float32) if single.dtype == np.float64 else single
        n = len(x)
    else:
        x = {k: v.astype(np.float32) if v.dtype == np.float64 else v for k, v in arrays.items()}
        lengths = {k: (len(v) if v.ndim else 0) for k, v in x.items()}
        if len(set(lengths.values())) != 1:
            raise ConfigError("arrays keyed by input name must stack the same number of samples "
                              "on their first axis; got " + ", ".join(f"{k} {v}" for k, v in
                                                                       lengths.items()), file=str(path))
        n = next(iter(lengths.values()))
        if n < 2:
            raise ConfigError("give at least 2 samples per input (first axis)", file=str(path))
    if y is not None and len(y) != n:
        raise ConfigError(f"'y' has {len(y)} rows but the inputs have {n}", file=str(path))
    order = np.random.default_rng(seed).permutation(n)
    n_eval = max(1, int(round(n * eval_fraction)))
    ev, tr = order[:n_eval], order[n_eval:]

    def rows(idx: np.ndarray, limit: Optional[int] = None) -> Inputs:
        if isinstance(x, dict):
            return {k: v[idx][:limit] for k, v in x.items()}
        return x[idx][:limit]

    return Dataset(
        name=f"npz:{Path(path).name}",
        x_train=rows(tr),
        y_train=None if y is None else y[tr],
        x_calib=rows(tr, CALIBRATION_SAMPLES),
        x_eval=rows(ev),
        y_eval=None if y is None else y[ev],
    )


LFW_SIDE = 128
LFW_EVAL_FRACTION = 0.5


def load_lfw_faces_dataset(side: int = LFW_SIDE) -> Dataset:
    """scikit-image's ``lfw_subset()``: 100 LFW face crops, then 100 non-face crops (25x25).

    Shipped inside the scikit-image wheel (no download).  Labels: 1 face, 0 non-face.
    Each grey crop is resized to ``side`` x ``side`` (bilinear, the whole crop: the face
    fills the frame, which is the short-range detector's use), copied to 3 channels and
    scaled from [0, 1] to [-1, 1] -- BlazeFace's input convention.  Layout NHWC, the
    detector's own.  Half of each class (stratified, seed 0) evaluates; the other half
    calibrates, so an int8 figure is never scored on its calibration images.
    """
    try:
        from skimage.data import lfw_subset
        from skimage.transform import resize
    except ImportError as exc:
        raise ModelError("data 'lfw-faces' needs scikit-image: pip install scikit-image") from exc
    from sklearn.model_selection import train_test_split

    crops = lfw_subset()
    y = np.r_[np.ones(100), np.zeros(len(crops) - 100)].astype(np.int64)
    grey = np.stack([resize(c, (side, side), order=1, anti_aliasing=False) for c in crops])
    x = (np.repeat(grey[..., None], 3, axis=3) * 2.0 - 1.0).astype(np.float32)
    x_train, x_eval, y_train, y_eval = train_test_split(
        x, y, test_size=LFW_EVAL_FRACTION, random_state=0, stratify=y)
    return Dataset(name="lfw-faces", x_train=x_train, y_train=y_train,
                   x_calib=x_train[:CALIBRATION_SAMPLES], x_eval=x_eval, y_eval=y_eval,
                   layout="model")


def load_dataset(spec: str) -> Dataset:
    """A built-in data set's name (:data:`BUILTIN_DATASETS`) or a path to an ``.npz`` file."""
    loader = BUILTIN_DATASETS.get(spec)
    return loader() if loader is not None else load_npz_dataset(spec)


# --- UEA time-series data shipped in the ``aeon`` wheel (read, never imported) -------------

AEON_DATA = "datasets/data"  # folder inside the aeon package
AEON_HINT = "pip install --no-deps aeon==1.6.0 (edgebench reads only its data files)"


def _aeon_split(problem: str, split: str) -> "TsData":
    """Parse ``<problem>_<split>.ts`` from the installed aeon package without importing aeon
    (its import pulls numba and takes seconds; the file is plain text)."""
    from edgebench.pkgfiles import package_file
    from edgebench.tsformat import read_ts

    try:
        path = package_file("aeon", f"{AEON_DATA}/{problem}/{problem}_{split}.ts")
    except ModelError as exc:
        raise ModelError(f"data {problem!r}: {exc.message}", hint=AEON_HINT) from exc
    return read_ts(path)


def load_uea_dataset(name: str, problem: str, length: Optional[int] = None) -> Dataset:
    """A UEA problem's own TRAIN / TEST files as train / evaluation splits.

    Channels are standardised with the mean and standard deviation of the *training*
    split's real values (not the padding), then cases shorter than ``length`` are padded
    at the end with 0 -- the channel mean after standardising -- and longer ones cut
    (default: the longest case of both splits, so none is).  Labels are indices into the
    header's ``@classLabel`` order.  Layout: channels first ``[N, channels, steps]``.
    The whole training split (up to 200 cases) is the calibration pool, so int8 is never
    calibrated on the samples it is scored on.
    """
    train, test = _aeon_split(problem, "TRAIN"), _aeon_split(problem, "TEST")
    steps = length or max(max(train.lengths), max(test.lengths))
    x_train = train.to_array(steps, pad_value=np.nan)
    x_eval = test.to_array(steps, pad_value=np.nan)
    mean = np.nanmean(x_train, axis=(0, 2), keepdims=True)
    std = np.nanstd(x_train, axis=(0, 2), keepdims=True)
    std = np.where(std > 0, std, 1.0)

    def standardise(x: np.ndarray) -> np.ndarray:
        return np.nan_to_num((x - mean) / std, nan=0.0).astype(np.float32)

    x_train, x_eval = standardise(x_train), standardise(x_eval)
    return Dataset(name=name, x_train=x_train, y_train=train.label_indices(),
                   x_calib=x_train[:CALIBRATION_SAMPLES], x_eval=x_eval,
                   y_eval=test.label_indices())


def load_basic_motions_dataset() -> Dataset:
    """BasicMotions (UEA): 6-axis smart-watch IMU, 100 steps, 4 activities, 40 / 40 cases."""
    return load_uea_dataset("basic-motions", "BasicMotions")


def load_japanese_vowels_dataset() -> Dataset:
    """JapaneseVowels (UEA): 12 LPC coefficients, 7..29 frames padded to 29, 9 speakers,
    270 training / 370 test cases."""
    from edgebench.models.timeseries import SPEECH_STEPS

    return load_uea_dataset("japanese-vowels", "JapaneseVowels", SPEECH_STEPS)


#: Built-in data sets by the name a suite's ``data:`` uses (recipes.BUILTIN_DATA lists them).
BUILTIN_DATASETS: dict[str, Callable[[], Dataset]] = {
    "digits": load_digits_dataset,
    "lfw-faces": load_lfw_faces_dataset,
    "basic-motions": load_basic_motions_dataset,
    "japanese-vowels": load_japanese_vowels_dataset,
}
