"""The backend contract: load a model file, describe its tensors, run it.

A backend is chosen by the job's (format, runtime) through the registry
(``backends/__init__.py``); each declares the formats it loads and builds itself from the
job spec (:meth:`Backend.from_spec`).  It hands
the runner a zero-argument ``infer`` callable with the inputs already bound, so the timed
loop measures the runtime and nothing of ours (see ``runner.timed_loop``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

import numpy as np


class BackendError(Exception):
    """A runtime problem with a category the controller can report (``kind``)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind  # no_runtime | load_failed | input_error | inference_failed
        self.message = message


@dataclass
class TensorInfo:
    name: str
    shape: List[Optional[int]]  # None for a dynamic dimension
    dtype: str  # numpy dtype name, e.g. 'float32', 'int8'
    quantization: Optional[Dict[str, float]] = None  # TFLite: scale and zero_point

    def to_dict(self) -> Dict[str, Any]:
        return {"name": self.name, "shape": self.shape, "dtype": self.dtype,
                "quantization": self.quantization}


@dataclass
class LoadedModel:
    inputs: List[TensorInfo]
    outputs: List[TensorInfo]
    runtime_info: Dict[str, Any] = field(default_factory=dict)


class Backend:
    """Subclasses implement the four methods; all runtime exceptions become BackendError."""

    name = "base"
    #: formats this backend loads (the registry line repeats them so that the controller
    #: can plan without importing the backend)
    formats: tuple = ()
    #: which runtime (name, version) ``load`` chose, set before it tries the file: a model the
    #: runtime refuses must still say which runtime and version refused it
    chosen: Dict[str, Any] = {}

    @classmethod
    def from_spec(cls, spec: Any) -> "Backend":
        """The backend configured from a JobSpec: threads and this runtime's options."""
        raise NotImplementedError

    def load(self, path: str) -> LoadedModel:
        raise NotImplementedError

    def bind(self, feed: Dict[str, np.ndarray]) -> Callable[[], Any]:
        """Bind inputs (resizing where the runtime needs it) and return ``infer()``."""
        raise NotImplementedError

    def run(self, feed: Dict[str, np.ndarray]) -> List[np.ndarray]:
        """One inference returning outputs as float arrays (dequantized where needed)."""
        raise NotImplementedError

    def close(self) -> None:
        pass


def summarize_exception(exc: BaseException, limit: int = 400) -> str:
    """First meaningful line(s) of a runtime's message: they can be pages long."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"{type(exc).__name__}: {text}"
