"""ExecuTorch backend: runs ``.pte`` programs (``torch.export`` + ``to_edge_transform_and_lower``
+ ``to_executorch``) through ``executorch.runtime``.

Caveat measured with executorch 1.5.1: its Python runtime is not lean -- importing
``executorch.runtime`` imports ``executorch.exir`` and with it **torch** (the pybindings
take torch tensors only, numpy arrays are refused), so a device needs torch beside the
runtime.  Inputs are converted to torch tensors once, in ``bind``; the timed ``infer()`` is
``Method.execute`` alone.  The controller has no ``.pte`` export step yet (docs/runtimes.md):
jobs come from hand-written specs or a future ``pte`` format in the variant builder.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional

import numpy as np

from .base import Backend, BackendError, LoadedModel, TensorInfo, summarize_exception

#: ExecuTorch ScalarType codes (c10) -> numpy dtype names
_SCALAR = {0: "uint8", 1: "int8", 2: "int16", 3: "int32", 4: "int64", 5: "float16",
           6: "float32", 7: "float64", 11: "bool"}
OPTION_KEYS = ("method",)


def _version() -> str:
    try:
        from importlib import metadata

        return metadata.version("executorch")
    except Exception:  # noqa: BLE001
        return "unknown"


def runtime_version() -> Optional[Dict[str, Any]]:
    """What ``agent info`` reports; None when ``executorch.runtime`` does not import."""
    try:
        from executorch.runtime import Runtime

        backends = list(Runtime.get().backend_registry.registered_backend_names)
    except Exception:  # noqa: BLE001
        return None
    return {"module": "executorch.runtime", "version": _version(), "backends": backends}


def _what_runs(path: str) -> Dict[str, Any]:
    """The program's delegates and the precision its XNNPACK part computes in
    (:mod:`.executorch_program`).  ``provider`` (part of the environment fingerprint) is
    the delegate alone: the precision follows the variant (an int8 program computes in
    int8), so it must not make an int8 job's environment differ from its fp32 baseline's.
    A program that cannot be inspected still runs: it says why."""
    from .executorch_program import describe

    try:
        info = describe(path)
    except Exception as exc:  # noqa: BLE001 - inspection must never fail the job
        return {"execution_precision": None, "inspect_error": summarize_exception(exc)}
    delegate = info["delegates"][0] if info["delegates"] else "portable"
    info["provider"] = delegate
    return info


class ExecuTorchBackend(Backend):
    name = "executorch"
    formats = ("pte",)

    def __init__(self, threads: int = 1, options: Optional[Dict[str, Any]] = None) -> None:
        options = dict(options or {})
        unknown = sorted(set(options) - set(OPTION_KEYS))
        if unknown:
            raise BackendError("bad_spec", f"unknown executorch option(s) {', '.join(unknown)} "
                               f"(known: {', '.join(OPTION_KEYS)})")
        self.threads = threads
        self.method_name = str(options.get("method") or "forward")
        self.method: Any = None
        self.inputs: List[TensorInfo] = []
        self.outputs: List[TensorInfo] = []
        self._torch: Any = None

    @classmethod
    def from_spec(cls, spec: Any) -> "ExecuTorchBackend":
        return cls(spec.threads, spec.runtime_options)

    def load(self, path: str) -> LoadedModel:
        try:
            import torch
            from executorch.runtime import Runtime
        except Exception as exc:  # noqa: BLE001
            raise BackendError("no_runtime", f"executorch.runtime does not import: {exc}") from exc
        self._torch = torch
        version = _version()
        self.chosen = {"name": "executorch", "version": version, "threads": self.threads}
        try:
            torch.set_num_threads(self.threads)
            runtime = Runtime.get()
            program = runtime.load_program(path)
            self.method = program.load_method(self.method_name)
            meta = self.method.metadata
        except Exception as exc:  # noqa: BLE001
            raise BackendError("load_failed", summarize_exception(exc)) from exc

        def info(kind: str, i: int) -> TensorInfo:
            m = getattr(meta, f"{kind}_tensor_meta")(i)
            return TensorInfo(f"{kind}_{i}", [int(d) for d in m.sizes()],
                              _SCALAR.get(int(m.dtype()), f"scalar_type_{int(m.dtype())}"))

        self.inputs = [info("input", i) for i in range(meta.num_inputs())]
        self.outputs = [info("output", i) for i in range(meta.num_outputs())]
        return LoadedModel(self.inputs, self.outputs, {
            "name": "executorch", "version": version, "threads": self.threads,
            "method": self.method_name,
            "backends": list(runtime.backend_registry.registered_backend_names),
            **_what_runs(path),
        })

    def _tensors(self, feed: Dict[str, np.ndarray]) -> List[Any]:
        return [self._torch.from_numpy(np.ascontiguousarray(feed[t.name])) for t in self.inputs]

    def bind(self, feed: Dict[str, np.ndarray]) -> Callable[[], Any]:
        try:
            args = self._tensors(feed)
        except Exception as exc:  # noqa: BLE001
            raise BackendError("input_error", summarize_exception(exc)) from exc
        execute = self.method.execute

        def infer() -> Any:
            return execute(args)

        return infer

    def run(self, feed: Dict[str, np.ndarray]) -> List[np.ndarray]:
        from ..inputs import to_input_dtype

        try:
            by_name = {i.name: i for i in self.inputs}
            outs = self.method.execute(self._tensors(
                {k: to_input_dtype(v, by_name[k]) for k, v in feed.items()}))
            return [np.asarray(o.detach().numpy(), dtype=np.float32) for o in outs]
        except BackendError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise BackendError("inference_failed", summarize_exception(exc)) from exc

    def close(self) -> None:
        self.method = None
