"""OpenVINO backend: runs ``.onnx`` files directly (``Core.read_model``), no conversion.

Named ``openvino_backend`` so it never shadows the ``openvino`` package.  Defaults are the
ones a latency benchmark wants: device ``CPU``, ``PERFORMANCE_HINT: LATENCY`` and
``INFERENCE_NUM_THREADS`` = the job's threads.

Precision: on CPUs with AMX or AVX-512 BF16, OpenVINO runs an fp32 model in bf16 unless
told otherwise -- faster, but not the fp32 the file says.  The result therefore records
the execution precision the compiled model reports (``INFERENCE_PRECISION_HINT``), and the
option ``inference_precision: f32`` forces fp32 (docs/runtimes.md).
"""

from __future__ import annotations

import sys
from typing import Any, Callable, Dict, List, Optional

import numpy as np

from ..inputs import to_input_dtype
from .base import Backend, BackendError, LoadedModel, TensorInfo, summarize_exception

#: runtime_options keys this backend takes, and the OpenVINO property each one sets
OPTION_KEYS = ("device", "performance_hint", "inference_precision", "num_streams")


def _openvino() -> Any:
    """``import openvino``, without its telemetry.

    Importing openvino imports its model converter, which starts Intel's usage telemetry:
    it writes ``~/intel/openvino_ga_cid`` and ``~/intel/stats`` in the device user's home
    and may send a network request -- during a benchmark, and outside the workdir the agent
    is allowed to touch.  The converter falls back to its own no-op stub when the
    ``openvino_telemetry`` module does not import, so the agent makes it not import (only
    if nothing imported it yet).
    """
    sys.modules.setdefault("openvino_telemetry", None)  # type: ignore[arg-type]
    import openvino

    return openvino


def _version(ov: Any) -> str:
    """'2026.4.1' from OpenVINO's build string '2026.4.1-22982-e213a147257-releases/...'."""
    return str(ov.get_version()).split("-")[0]


def runtime_version() -> Optional[Dict[str, Any]]:
    """What ``agent info`` reports; None when openvino does not import."""
    try:
        ov = _openvino()
        devices = list(ov.Core().available_devices)
    except Exception:  # noqa: BLE001 - any import failure means "not available"
        return None
    return {"module": "openvino", "version": _version(ov), "build": str(ov.get_version()),
            "devices": devices}


def _dims(pshape: Any) -> List[Optional[int]]:
    return [d.get_length() if d.is_static else None for d in pshape]


def _dtype(element_type: Any) -> str:
    try:
        return np.dtype(element_type.to_dtype()).name
    except Exception:  # noqa: BLE001 - a type numpy lacks (bf16, u4): reported by name
        return str(element_type)


class OpenVinoBackend(Backend):
    name = "openvino"
    formats = ("onnx",)

    def __init__(self, threads: int = 1, options: Optional[Dict[str, Any]] = None) -> None:
        options = dict(options or {})
        unknown = sorted(set(options) - set(OPTION_KEYS))
        if unknown:
            raise BackendError("bad_spec", f"unknown openvino option(s) {', '.join(unknown)} "
                               f"(known: {', '.join(OPTION_KEYS)})")
        self.threads = threads
        self.device = str(options.get("device") or "CPU")
        self.hint = str(options.get("performance_hint") or "LATENCY")
        self.precision: Optional[str] = options.get("inference_precision")
        self.num_streams = options.get("num_streams")
        self.compiled: Any = None
        self.request: Any = None
        self.inputs: List[TensorInfo] = []

    @classmethod
    def from_spec(cls, spec: Any) -> "OpenVinoBackend":
        return cls(spec.threads, spec.runtime_options)

    def _config(self) -> Dict[str, Any]:
        config: Dict[str, Any] = {"PERFORMANCE_HINT": self.hint}
        if self.device.startswith("CPU"):
            config["INFERENCE_NUM_THREADS"] = self.threads
        if self.precision:
            config["INFERENCE_PRECISION_HINT"] = self.precision
        if self.num_streams is not None:
            config["NUM_STREAMS"] = str(self.num_streams)
        return config

    def load(self, path: str) -> LoadedModel:
        try:
            ov = _openvino()
        except Exception as exc:  # noqa: BLE001
            raise BackendError("no_runtime", f"openvino does not import: {exc}") from exc
        version = _version(ov)
        self.chosen = {"name": "openvino", "version": version, "threads": self.threads,
                       "device": self.device}
        core = ov.Core()
        if self.device.split(".")[0] not in [d.split(".")[0] for d in core.available_devices]:
            raise BackendError("no_runtime", f"OpenVINO device {self.device} not available here "
                               f"(available: {', '.join(core.available_devices)})")
        try:
            model = core.read_model(path)
            self.compiled = core.compile_model(model, self.device, self._config())
            self.request = self.compiled.create_infer_request()
        except Exception as exc:  # noqa: BLE001 - OpenVINO raises RuntimeError for most things
            raise BackendError("load_failed", summarize_exception(exc)) from exc
        self.inputs = [TensorInfo(p.get_any_name(), _dims(p.get_partial_shape()),
                                  _dtype(p.get_element_type())) for p in self.compiled.inputs]
        outputs = [TensorInfo(p.get_any_name(), _dims(p.get_partial_shape()),
                              _dtype(p.get_element_type())) for p in self.compiled.outputs]
        info: Dict[str, Any] = {
            "name": "openvino", "version": version, "threads": self.threads,
            "device": self.device, "performance_hint": self.hint,
            # the precision the CPU plugin really computes in, whatever the file says
            "inference_precision": self._property("INFERENCE_PRECISION_HINT"),
            "inference_precision_forced": self.precision is not None,
            "inference_num_threads": self._property("INFERENCE_NUM_THREADS"),
            "num_streams": self._property("NUM_STREAMS"),
            "provider": f"{self.device}/{self._property('INFERENCE_PRECISION_HINT')}",
        }
        full_name = self._device_name(core)
        if full_name:
            info["device_name"] = full_name
        return LoadedModel(self.inputs, outputs, info)

    def _property(self, key: str) -> Optional[str]:
        try:
            value = self.compiled.get_property(key)
            # element types print as "<Type: 'bfloat16'>"; their short name is 'bf16'
            return str(value.get_type_name() if hasattr(value, "get_type_name") else value)
        except Exception:  # noqa: BLE001 - a device plugin without this property
            return None

    def _device_name(self, core: Any) -> Optional[str]:
        try:
            return str(core.get_property(self.device, "FULL_DEVICE_NAME"))
        except Exception:  # noqa: BLE001
            return None

    def _set_inputs(self, feed: Dict[str, np.ndarray], request: Any = None) -> None:
        ov = _openvino()

        for info in self.inputs:
            arr = np.ascontiguousarray(feed[info.name])
            (request or self.request).set_tensor(info.name, ov.Tensor(arr))

    def profile(self, feed: Dict[str, np.ndarray], runs: int, model_path: str) -> Dict[str, Any]:
        """Per-layer performance counters of a second compiled model, same device and
        config plus ``PERF_COUNT`` (agent/profile_openvino.py); the timed one stays
        uncounted, so the headline latency is never perturbed."""
        ov = _openvino()

        from ..profile_openvino import profile_openvino

        core = ov.Core()
        return profile_openvino(
            lambda: core.compile_model(core.read_model(model_path), self.device,
                                       {**self._config(), "PERF_COUNT": True}),
            lambda request: self._set_inputs(feed, request), runs)

    def bind(self, feed: Dict[str, np.ndarray]) -> Callable[[], Any]:
        """Inputs are set once (like LiteRT's ``set_tensor``); ``infer()`` is the runtime's
        synchronous inference and nothing else."""
        try:
            self._set_inputs(feed)
        except Exception as exc:  # noqa: BLE001
            raise BackendError("input_error", summarize_exception(exc)) from exc
        return self.request.infer

    def run(self, feed: Dict[str, np.ndarray]) -> List[np.ndarray]:
        try:
            by_name = {i.name: i for i in self.inputs}
            self._set_inputs({k: to_input_dtype(v, by_name[k]) for k, v in feed.items()})
            self.request.infer()
            return [np.array(self.request.get_output_tensor(i).data, dtype=np.float32)
                    for i in range(len(self.compiled.outputs))]
        except BackendError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise BackendError("inference_failed", summarize_exception(exc)) from exc

    def close(self) -> None:
        self.request = None
        self.compiled = None
