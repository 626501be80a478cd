"""Short, deterministic training loops shared by built-in training, fine-tuning and distillation.

One loop per framework: PyTorch feeds ONNX variants, tf_keras feeds TFLite variants.
With labels the loss is cross-entropy; with a teacher it is Hinton distillation
``alpha * CE + (1 - alpha) * KL(softmax(t/T) || softmax(s/T)) * T^2``; without labels the
student matches the teacher only (alpha is forced to 0), which is how unlabelled reference
models are fine-tuned.  A regression task uses MSE to the target (or to the teacher).
"""

from __future__ import annotations

import os
from typing import Any, Optional

import numpy as np

SEED = 0


TRAIN_THREADS = 1  # measured: 2 threads on 2 shared cores made digits training 5-20x slower


def keras_env() -> None:
    """tfmot needs legacy Keras 2; the variable must be set before TensorFlow is imported."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def tf_single_thread() -> None:
    """One TF thread for these tiny models (process-wide; only possible before TF runs ops)."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(TRAIN_THREADS)
        tf.config.threading.set_inter_op_parallelism_threads(TRAIN_THREADS)
    except RuntimeError:
        pass  # TF already initialised by the caller: keep its setting


def torch_fit(model: Any, x: np.ndarray, y: Optional[np.ndarray], *, epochs: int,
              lr: float = 5e-3, batch: int = 64, teacher: Any = None, alpha: float = 0.5,
              temperature: float = 4.0, task: str = "classification",
              seed: int = SEED, masks: Optional[list[tuple[Any, Any]]] = None) -> Any:
    """Train ``model`` in place (Adam) and return it in eval mode.

    ``masks``: (parameter, 0/1 tensor) pairs re-applied after every step, so pruned
    weights stay exactly zero while the others fine-tune.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(TRAIN_THREADS)
    try:
        return _torch_fit(model, x, y, epochs=epochs, lr=lr, batch=batch, teacher=teacher,
                          alpha=alpha, temperature=temperature, task=task, seed=seed,
                          masks=masks or [])
    finally:
        torch.set_num_threads(threads)


def _torch_fit(model: Any, x: np.ndarray, y: Optional[np.ndarray], *, epochs: int, lr: float,
               batch: int, teacher: Any, alpha: float, temperature: float, task: str,
               seed: int, masks: list[tuple[Any, Any]]) -> Any:
    import torch
    import torch.nn.functional as F

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    yt: Any = None if y is None else torch.from_numpy(np.asarray(y))  # None: a teacher gives the targets
    if teacher is not None:
        teacher.eval()
        with torch.no_grad():
            t_out = teacher(xt)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(xt), generator=gen)
        for start in range(0, len(xt), batch):
            idx = order[start:start + batch]
            out = model(xt[idx])
            if task == "regression":
                target = t_out[idx] if teacher is not None else yt[idx].float()
                loss = F.mse_loss(out, target)
            else:
                loss = torch.zeros(())
                a = alpha if (teacher is not None and yt is not None) else (0.0 if teacher is not None else 1.0)
                if a > 0:
                    loss = loss + a * F.cross_entropy(out, yt[idx].long())
                if teacher is not None and a < 1:
                    T = temperature
                    kl = F.kl_div(F.log_softmax(out / T, dim=1), F.softmax(t_out[idx] / T, dim=1),
                                  reduction="batchmean")
                    loss = loss + (1 - a) * kl * T * T
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                for param, mask in masks:
                    param.mul_(mask)
    model.eval()
    return model


def torch_predict(model: Any, x: np.ndarray) -> np.ndarray:
    import torch

    model.eval()
    with torch.no_grad():
        return model(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))).numpy()


def keras_fit(model: Any, x: np.ndarray, y: Optional[np.ndarray], *, epochs: int,
              lr: float = 5e-3, batch: int = 64, teacher: Any = None, alpha: float = 0.5,
              temperature: float = 4.0, task: str = "classification",
              seed: int = SEED, masks: Optional[list[tuple[Any, Any]]] = None) -> Any:
    """Same loss (and ``masks``) as :func:`torch_fit`, with a GradientTape loop (x is NHWC)."""
    keras_env()
    import tensorflow as tf

    tf_single_thread()
    tf.keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    x = np.ascontiguousarray(x, dtype=np.float32)
    t_out = teacher.predict(x, verbose=0, batch_size=256) if teacher is not None else None
    opt = tf.keras.optimizers.Adam(learning_rate=lr)
    T = float(temperature)

    a = alpha if (t_out is not None and y is not None) else (0.0 if t_out is not None else 1.0)
    yy = np.zeros(len(x), np.int64) if y is None else np.asarray(y)
    if task == "regression":
        target_all = (t_out if t_out is not None else yy).astype(np.float32)
    else:
        target_all = t_out if t_out is not None else np.zeros((len(x), 1), np.float32)

    def loss_fn(out: Any, yb: Any, tb: Any) -> Any:
        if task == "regression":
            return tf.reduce_mean(tf.square(out - tb))
        loss = tf.constant(0.0)
        if a > 0:
            loss += a * tf.reduce_mean(tf.keras.losses.sparse_categorical_crossentropy(
                yb, out, from_logits=True))
        if t_out is not None and a < 1:
            p_t = tf.nn.softmax(tb / T)
            log_p_s = tf.nn.log_softmax(out / T)
            kl = tf.reduce_mean(tf.reduce_sum(p_t * (tf.math.log(p_t + 1e-12) - log_p_s), axis=1))
            loss += (1 - a) * kl * T * T
        return loss

    keras_masks = [(v, tf.constant(m, dtype=v.dtype)) for v, m in (masks or [])]

    @tf.function(reduce_retracing=True)
    def step(xb: Any, yb: Any, tb: Any) -> Any:
        with tf.GradientTape() as tape:
            loss = loss_fn(model(xb, training=True), yb, tb)
        variables = model.trainable_variables
        grads = tape.gradient(loss, variables)
        opt.apply_gradients([(g, v) for g, v in zip(grads, variables, strict=False) if g is not None])
        for var, mask in keras_masks:
            var.assign(var * mask)
        return loss

    for _ in range(epochs):
        order = rng.permutation(len(x))
        for start in range(0, len(x), batch):
            idx = order[start:start + batch]
            step(x[idx], yy[idx], target_all[idx])
    return model


def keras_predict(model: Any, x: np.ndarray) -> np.ndarray:
    return np.asarray(model.predict(np.ascontiguousarray(x, dtype=np.float32), verbose=0,
                                    batch_size=256))
