"""LiteRT CompiledModel backend (``ai_edge_litert.compiled_model``, ai-edge-litert 2.x).

The same ``.tflite`` file as the classic Interpreter (``tflite.py``), through LiteRT's newer
API: the model is compiled once for a set of hardware accelerators (CPU through XNNPACK,
GPU through ML Drift / WebGPU, NPU through a vendor dispatch library) and run on
pre-allocated TensorBuffers.  ``accelerator: cpu`` (the default) always works; ``gpu`` and
``npu`` fail at load with LiteRT's own reason where the device has none (no WebGPU
adapter, no vendor dispatch library) -- reported, never silently run on the CPU.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional

import numpy as np

from ..inputs import to_input_dtype
from .base import Backend, BackendError, LoadedModel, TensorInfo, summarize_exception

OPTION_KEYS = ("accelerator", "signature")
_ACCELERATORS = ("cpu", "gpu", "npu")


def runtime_version() -> Optional[Dict[str, Any]]:
    """What ``agent info`` reports; None when the CompiledModel API does not import."""
    try:
        import ai_edge_litert
        from ai_edge_litert import compiled_model  # noqa: F401 - the API itself must import
    except Exception:  # noqa: BLE001
        return None
    return {"module": "ai_edge_litert.compiled_model",
            "version": str(getattr(ai_edge_litert, "__version__", "unknown"))}


class LiteRtCompiledBackend(Backend):
    name = "litert-compiled"
    formats = ("tflite",)

    def __init__(self, threads: int = 1, options: Optional[Dict[str, Any]] = None) -> None:
        options = dict(options or {})
        unknown = sorted(set(options) - set(OPTION_KEYS))
        if unknown:
            raise BackendError("bad_spec", f"unknown litert-compiled option(s) {', '.join(unknown)} "
                               f"(known: {', '.join(OPTION_KEYS)})")
        accel = str(options.get("accelerator") or "cpu").lower()
        if accel not in _ACCELERATORS:
            raise BackendError("bad_spec", f"litert-compiled accelerator {accel!r} is not one of "
                               f"{', '.join(_ACCELERATORS)}")
        self.threads = threads
        self.accelerator = accel
        self.signature: Optional[str] = options.get("signature")
        self.model: Any = None
        self.inputs: List[TensorInfo] = []
        self.outputs: List[TensorInfo] = []
        self._in_keys: List[str] = []  # signature-local names, in TensorInfo order
        self._in_bufs: List[Any] = []
        self._out_bufs: List[Any] = []
        self._out_sizes: List[int] = []  # values per output

    @classmethod
    def from_spec(cls, spec: Any) -> "LiteRtCompiledBackend":
        return cls(spec.threads, spec.runtime_options)

    def load(self, path: str) -> LoadedModel:
        try:
            import ai_edge_litert
            from ai_edge_litert import compiled_model as cm
        except Exception as exc:  # noqa: BLE001
            raise BackendError("no_runtime", f"ai_edge_litert.compiled_model does not import: {exc}") from exc
        version = str(getattr(ai_edge_litert, "__version__", "unknown"))
        self.chosen = {"name": "litert-compiled", "version": version, "threads": self.threads,
                       "accelerator": self.accelerator}
        hw = {"cpu": cm.HardwareAccelerator.CPU, "gpu": cm.HardwareAccelerator.GPU,
              "npu": cm.HardwareAccelerator.NPU}[self.accelerator]
        try:
            opts = cm.Options(hardware_accelerators=hw,
                              cpu_options=cm.CpuOptions(num_threads=self.threads))
            self.model = cm.CompiledModel.from_file(path, options=opts)
        except Exception as exc:  # noqa: BLE001 - RuntimeError with LiteRT's trace
            kind = "load_failed" if self.accelerator == "cpu" else "no_runtime"
            raise BackendError(kind, f"{self.accelerator.upper()} accelerator: "
                               f"{summarize_exception(exc)}") from exc
        sigs = self.model.get_signature_list()
        if not sigs:
            raise BackendError("load_failed", "the model has no signature; the CompiledModel API "
                               "runs signatures only")
        key = self.signature or next(iter(sigs))
        if key not in sigs:
            raise BackendError("bad_spec", f"no signature {key!r} (has: {', '.join(sigs)})")
        index = self.model.get_signature_index(key)
        in_det = self.model.get_input_tensor_details(key)
        out_det = self.model.get_output_tensor_details(key)
        self._in_keys = list(sigs[key]["inputs"])
        # tensor names as the Interpreter reports them, so input/eval .npz files written
        # for the classic runtime feed this one too
        self.inputs = [self._info(in_det[k]) for k in self._in_keys]
        self.outputs = [self._info(out_det[k]) for k in sigs[key]["outputs"]]
        if any(np.dtype(t.dtype).kind in "iu" for t in self.inputs + self.outputs):
            self._add_quantization(path)
        self._in_bufs = self.model.create_input_buffers(index)
        self._out_bufs = self.model.create_output_buffers(index)
        self._index = index
        self._out_sizes = [int(np.prod([d or 1 for d in t.shape])) for t in self.outputs]
        return LoadedModel(self.inputs, self.outputs, {
            "name": "litert-compiled", "version": version, "threads": self.threads,
            "accelerator": self.accelerator, "signature": key,
            "fully_accelerated": bool(self.model.is_fully_accelerated()),
            "delegate": f"CompiledModel/{self.accelerator.upper()}",
        })

    @staticmethod
    def _info(det: Dict[str, Any]) -> TensorInfo:
        return TensorInfo(str(det["name"]), [int(d) if d > 0 else None for d in det["shape"]],
                          np.dtype(det["dtype"]).name)

    def _add_quantization(self, path: str) -> None:
        """The CompiledModel API reports no scale / zero point; integer-typed inputs and
        outputs get them from the classic Interpreter's view of the same file (not
        allocated, so no second model in memory)."""
        try:
            from ai_edge_litert.interpreter import Interpreter

            interp = Interpreter(model_path=path)
            quant = {d["name"]: d.get("quantization", (0.0, 0))
                     for d in interp.get_input_details() + interp.get_output_details()}
        except Exception:  # noqa: BLE001 - without them integer outputs stay raw codes
            return
        for t in self.inputs + self.outputs:
            scale, zero = quant.get(t.name, (0.0, 0))
            if scale:
                t.quantization = {"scale": float(scale), "zero_point": int(zero)}

    def _write(self, feed: Dict[str, np.ndarray]) -> None:
        for info, buf in zip(self.inputs, self._in_bufs):
            arr = np.ascontiguousarray(feed[info.name])
            want = [d for d in info.shape]
            if None in want or list(arr.shape) != want:
                raise BackendError("input_error", f"input {info.name!r}: shape {list(arr.shape)} "
                                   f"!= the compiled shape {want} (litert-compiled runs static "
                                   "shapes only)")
            buf.write(arr)

    def bind(self, feed: Dict[str, np.ndarray]) -> Callable[[], Any]:
        """Inputs are written to the TensorBuffers once; ``infer()`` is ``run_by_index``."""
        try:
            self._write(feed)
        except BackendError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise BackendError("input_error", summarize_exception(exc)) from exc
        run, index, ins, outs = self.model.run_by_index, self._index, self._in_bufs, self._out_bufs

        def infer() -> Any:
            return run(index, ins, outs)

        return infer

    def run(self, feed: Dict[str, np.ndarray]) -> List[np.ndarray]:
        try:
            by_name = {i.name: i for i in self.inputs}
            self._write({k: to_input_dtype(v, by_name[k]) for k, v in feed.items()})
            self.model.run_by_index(self._index, self._in_bufs, self._out_bufs)
            outs = []
            for info, buf, n in zip(self.outputs, self._out_bufs, self._out_sizes):
                out = buf.read(n, np.dtype(info.dtype)).reshape([d or 1 for d in info.shape])
                out = out.astype(np.float32)
                if info.quantization:
                    out = (out - info.quantization["zero_point"]) * info.quantization["scale"]
                outs.append(out)
            return outs
        except BackendError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise BackendError("inference_failed", summarize_exception(exc)) from exc

    def close(self) -> None:
        self._in_bufs, self._out_bufs = [], []
        if self.model is not None:
            self.model.close()
        self.model = None
