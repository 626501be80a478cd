"""LiteRT / TFLite backend.

Devices differ: a current board has ``ai_edge_litert``, an older Raspberry Pi image has
``tflite_runtime`` 2.14 (numpy<2), a dev box may only have TensorFlow.  We try them in that
order (or the one the spec names) and report which one ran, so a result always says what
produced it.  XNNPACK is the runtime's default CPU delegate; an external delegate (Coral's
``libedgetpu.so.1``) is loaded by library path.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from ..inputs import to_input_dtype
from .base import Backend, BackendError, LoadedModel, TensorInfo, summarize_exception

_CANDIDATES: Tuple[Tuple[str, str, str], ...] = (
    # (name in specs, interpreter module, module whose __version__ we report)
    ("ai_edge_litert", "ai_edge_litert.interpreter", "ai_edge_litert"),
    ("tflite_runtime", "tflite_runtime.interpreter", "tflite_runtime"),
    ("tensorflow", "tensorflow.lite", "tensorflow"),
)


def _import(choice: str) -> Tuple[str, Any, str]:
    errors = []
    for name, module, version_module in _CANDIDATES:
        if choice not in ("auto", name):
            continue
        try:
            mod = importlib.import_module(module)
            interp_mod = mod.Interpreter if hasattr(mod, "Interpreter") else None
            if interp_mod is None:
                raise ImportError(f"{module} has no Interpreter")
            version = getattr(importlib.import_module(version_module), "__version__", "unknown")
            return name, mod, str(version)
        except Exception as exc:  # noqa: BLE001 - broken installs raise anything
            errors.append(f"{module}: {type(exc).__name__}: {exc}")
    raise BackendError("no_runtime", "no TFLite runtime imports (" + "; ".join(errors) + ")")


def runtime_version(choice: str = "auto") -> Optional[Dict[str, Any]]:
    try:
        name, _mod, version = _import(choice)
    except BackendError:
        return None
    return {"module": name, "version": version}


def all_runtime_versions() -> Dict[str, Optional[str]]:
    """Every TFLite runtime present here, for inventory (a device may have several).

    The small runtimes are imported for real (a broken install must show); full TensorFlow
    takes seconds to import, so once a small runtime works it is only looked up by its
    package metadata -- ``auto`` would never pick it anyway.
    """
    found: Dict[str, Optional[str]] = {}
    for name, _module, _v in _CANDIDATES:
        if name == "tensorflow" and any(found.values()):
            found[name] = _installed_version(("tensorflow", "tensorflow-cpu"))
            continue
        info = runtime_version(name)
        found[name] = info["version"] if info else None
    return found


def _installed_version(dists: Tuple[str, ...]) -> Optional[str]:
    try:
        from importlib import metadata
    except ImportError:  # pragma: no cover - Python < 3.8
        return None
    for dist in dists:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None


class TFLiteBackend(Backend):
    name = "tflite"
    formats = ("tflite",)

    @classmethod
    def from_spec(cls, spec: Any) -> "TFLiteBackend":
        return cls(spec.threads, spec.tflite_runtime, spec.delegate_path,
                   spec.delegate_options, spec.use_xnnpack)

    def __init__(self, threads: int = 1, runtime: str = "auto", delegate_path: Optional[str] = None,
                 delegate_options: Optional[Dict[str, str]] = None, use_xnnpack: bool = True) -> None:
        self.threads = threads
        self.runtime_choice = runtime
        self.delegate_path = delegate_path
        self.delegate_options = delegate_options or {}
        self.use_xnnpack = use_xnnpack
        self.interp: Any = None
        self.inputs: List[TensorInfo] = []
        self._input_index: Dict[str, int] = {}
        self._output_index: List[int] = []
        self._output_quant: List[Tuple[float, int]] = []

    def load(self, path: str) -> LoadedModel:
        name, mod, version = _import(self.runtime_choice)
        self.chosen = {"name": name, "version": version, "threads": self.threads}
        kwargs: Dict[str, Any] = {"model_path": path, "num_threads": self.threads}
        delegate = "XNNPACK (default)" if self.use_xnnpack else "none"
        try:
            if self.delegate_path:
                kwargs["experimental_delegates"] = [
                    mod.load_delegate(self.delegate_path, self.delegate_options)]
                delegate = f"external:{self.delegate_path}"
            elif not self.use_xnnpack and hasattr(mod, "OpResolverType"):
                kwargs["experimental_op_resolver_type"] = (
                    mod.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
            self.interp = mod.Interpreter(**kwargs)
            self.interp.allocate_tensors()
        except Exception as exc:  # noqa: BLE001 - e.g. "Didn't find op for builtin opcode"
            raise BackendError("load_failed", summarize_exception(exc)) from exc
        self.inputs = [self._info(d) for d in self.interp.get_input_details()]
        self._input_index = {d["name"]: d["index"] for d in self.interp.get_input_details()}
        outs = self.interp.get_output_details()
        self._output_index = [d["index"] for d in outs]
        self._output_quant = [tuple(d.get("quantization", (0.0, 0))) for d in outs]
        return LoadedModel(self.inputs, [self._info(d) for d in outs], {
            "name": name, "version": version, "threads": self.threads, "delegate": delegate,
        })

    @staticmethod
    def _info(detail: Dict[str, Any]) -> TensorInfo:
        sig = detail.get("shape_signature")
        shape = list(sig if sig is not None and len(sig) else detail["shape"])
        scale, zero = detail.get("quantization", (0.0, 0))
        return TensorInfo(
            detail["name"], [int(d) if d > 0 else None for d in shape],
            np.dtype(detail["dtype"]).name,
            {"scale": float(scale), "zero_point": int(zero)} if scale else None,
        )

    def _set_inputs(self, feed: Dict[str, np.ndarray]) -> None:
        resized = False
        for info in self.inputs:
            arr = feed[info.name]
            current = self.interp.get_input_details()
            det = next(d for d in current if d["name"] == info.name)
            if list(det["shape"]) != list(arr.shape):
                self.interp.resize_tensor_input(det["index"], list(arr.shape), strict=False)
                resized = True
        if resized:
            self.interp.allocate_tensors()
        for info in self.inputs:
            self.interp.set_tensor(self._input_index[info.name], feed[info.name])

    def bind(self, feed: Dict[str, np.ndarray]) -> Callable[[], Any]:
        try:
            self._set_inputs(feed)
        except Exception as exc:  # noqa: BLE001
            raise BackendError("input_error", summarize_exception(exc)) from exc
        return self.interp.invoke

    def run(self, feed: Dict[str, np.ndarray]) -> List[np.ndarray]:
        try:
            by_name = {i.name: i for i in self.inputs}
            self._set_inputs({k: to_input_dtype(v, by_name[k]) for k, v in feed.items()})
            self.interp.invoke()
            outs = []
            for idx, (scale, zero) in zip(self._output_index, self._output_quant):
                out = self.interp.get_tensor(idx).astype(np.float32)
                if scale:
                    out = (out - zero) * scale
                outs.append(out)
            return outs
        except Exception as exc:  # noqa: BLE001
            raise BackendError("inference_failed", summarize_exception(exc)) from exc

    def profile(self, feed: Dict[str, np.ndarray], runs: int, model_path: str) -> Dict[str, Any]:
        """Which ops the delegate took (agent/profile.py); LiteRT's Python API has no
        per-op timer, so ``runs`` and ``feed`` go unused and the result says so."""
        from ..profile import profile_tflite

        delegate = (f"external:{self.delegate_path}" if self.delegate_path
                    else "XNNPACK" if self.use_xnnpack else "none")
        return profile_tflite(self.interp, delegate)

    def close(self) -> None:
        self.interp = None
