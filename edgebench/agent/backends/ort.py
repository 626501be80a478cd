"""ONNX Runtime backend.  Named ``ort`` so it never shadows the ``onnxruntime`` package."""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional

import numpy as np

from .base import Backend, BackendError, LoadedModel, TensorInfo, summarize_exception

_ORT_TYPES = {
    "tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64",
    "tensor(int8)": "int8", "tensor(uint8)": "uint8", "tensor(int16)": "int16",
    "tensor(uint16)": "uint16", "tensor(int32)": "int32", "tensor(int64)": "int64",
    "tensor(uint32)": "uint32", "tensor(uint64)": "uint64", "tensor(bool)": "bool",
}
_OPT_LEVELS = {"disable": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC",
               "extended": "ORT_ENABLE_EXTENDED", "all": "ORT_ENABLE_ALL"}


def runtime_version() -> Optional[Dict[str, Any]]:
    """What ``agent info`` reports; None when onnxruntime does not import."""
    try:
        import onnxruntime as ort
    except Exception:  # noqa: BLE001 - any import failure means "not available"
        return None
    return {"module": "onnxruntime", "version": ort.__version__,
            "providers": list(ort.get_available_providers())}


def _dims(shape: Any) -> List[Optional[int]]:
    return [d if isinstance(d, int) and d > 0 else None for d in (shape or [])]


class OrtBackend(Backend):
    name = "onnxruntime"
    formats = ("onnx",)

    @classmethod
    def from_spec(cls, spec: Any) -> "OrtBackend":
        return cls(spec.threads, spec.providers, spec.graph_optimization_level)

    def __init__(self, threads: int = 1, providers: Optional[List[str]] = None,
                 graph_optimization_level: str = "all") -> None:
        self.threads = threads
        self.providers = providers or ["CPUExecutionProvider"]
        self.level = graph_optimization_level
        self.session: Any = None
        self.output_names: List[str] = []

    def load(self, path: str) -> LoadedModel:
        try:
            import onnxruntime as ort
        except Exception as exc:  # noqa: BLE001
            raise BackendError("no_runtime", f"onnxruntime does not import: {exc}") from exc
        self.chosen = {"name": "onnxruntime", "version": ort.__version__, "threads": self.threads}
        available = ort.get_available_providers()
        missing = [p for p in self.providers if p not in available]
        if missing:
            raise BackendError(
                "no_runtime",
                f"execution provider(s) {', '.join(missing)} not available here "
                f"(available: {', '.join(available)})",
            )
        opts = self._session_options(ort)
        try:
            self.session = ort.InferenceSession(path, sess_options=opts, providers=self.providers)
        except Exception as exc:  # noqa: BLE001 - ORT raises several unrelated types
            raise BackendError("load_failed", summarize_exception(exc)) from exc
        inputs = [TensorInfo(i.name, _dims(i.shape), _ORT_TYPES.get(i.type, i.type))
                  for i in self.session.get_inputs()]
        outputs = [TensorInfo(o.name, _dims(o.shape), _ORT_TYPES.get(o.type, o.type))
                   for o in self.session.get_outputs()]
        for t in inputs:
            if t.dtype.startswith("tensor("):
                raise BackendError("input_error", f"input {t.name!r} has unsupported type {t.dtype}")
        self.output_names = [o.name for o in outputs]
        return LoadedModel(inputs, outputs, {
            "name": "onnxruntime", "version": ort.__version__, "threads": self.threads,
            "provider": self.session.get_providers()[0],
            "providers": self.session.get_providers(),
            "graph_optimization_level": self.level,
        })

    def bind(self, feed: Dict[str, np.ndarray]) -> Callable[[], Any]:
        run = self.session.run
        names = self.output_names

        def infer() -> Any:
            return run(names, feed)

        return infer

    def run(self, feed: Dict[str, np.ndarray]) -> List[np.ndarray]:
        try:
            return [np.asarray(o, dtype=np.float32) for o in self.session.run(self.output_names, feed)]
        except Exception as exc:  # noqa: BLE001
            raise BackendError("inference_failed", summarize_exception(exc)) from exc

    def profile(self, feed: Dict[str, np.ndarray], runs: int, model_path: str) -> Dict[str, Any]:
        """Per-op profile in a second session with profiling on (agent/profile.py): the
        timed session stays unprofiled, so the headline latency is never perturbed."""
        import onnxruntime as ort

        from ..profile import profile_ort

        return profile_ort(model_path, self._session_options(ort), self.providers, feed, self.output_names, runs)

    def _session_options(self, ort: Any) -> Any:
        """The timed session's options; the profiling session takes the same, so the profile
        explains the configuration that was measured."""
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.log_severity_level = 3
        opts.graph_optimization_level = getattr(ort.GraphOptimizationLevel, _OPT_LEVELS[self.level])
        return opts

    def close(self) -> None:
        self.session = None
