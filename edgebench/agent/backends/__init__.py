"""The runtime registry: every runtime the agent can run, by name, in one table.

A model file's *format* (``onnx``, ``tflite``) and the *runtime* that runs it are two
things: the same ``.onnx`` runs on ONNX Runtime and on OpenVINO, the same ``.tflite`` on
LiteRT's classic Interpreter and on its CompiledModel API.  A job names both; an old spec
without ``runtime`` gets the format's classic runtime (:data:`CLASSIC_RUNTIME`).

Adding a backend is one new module in this package (a :class:`~.base.Backend` subclass
with ``from_spec`` and a module-level ``runtime_version()``) plus one line in
:data:`RUNTIMES` (docs/runtimes.md).  Modules are imported lazily, by name: the controller
imports this table to plan jobs without importing any runtime, and a device that lacks a
runtime can still run the others.

Standard library only, Python 3.9+: this package is copied to devices.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple


@dataclass(frozen=True)
class RuntimeEntry:
    """One registered runtime: where its backend lives and which formats it loads."""

    name: str  # the name suites, job specs, job ids and the inventory use
    module: str  # module in this package (never the runtime's own package name)
    cls: str  # the Backend subclass in that module
    formats: Tuple[str, ...]
    description: str = ""

    def backend_class(self) -> Any:
        """The backend class (imports its module, not yet the runtime itself)."""
        mod = importlib.import_module(f"{__name__}.{self.module}")
        return getattr(mod, self.cls)

    def detect(self) -> Optional[Dict[str, Any]]:
        """What ``agent info`` reports: ``{"version": ..., ...}``, or None when the runtime
        does not import here.  Never raises: inventory must answer on a broken device."""
        try:
            mod = importlib.import_module(f"{__name__}.{self.module}")
            return mod.runtime_version()
        except Exception:  # noqa: BLE001 - a broken install is "not available"
            return None


#: name -> runtime.  One line per backend.
RUNTIMES: Dict[str, RuntimeEntry] = {e.name: e for e in (
    RuntimeEntry("onnxruntime", "ort", "OrtBackend", ("onnx",), "ONNX Runtime (execution providers)"),
    RuntimeEntry("openvino", "openvino_backend", "OpenVinoBackend", ("onnx",),
                 "Intel OpenVINO, reading .onnx directly"),
    RuntimeEntry("tflite", "tflite", "TFLiteBackend", ("tflite",),
                 "LiteRT classic Interpreter (ai_edge_litert, tflite_runtime or tf.lite)"),
    RuntimeEntry("litert-compiled", "litert_compiled", "LiteRtCompiledBackend", ("tflite",),
                 "LiteRT CompiledModel API (ai_edge_litert 2.x) with its accelerators"),
    RuntimeEntry("executorch", "executorch_backend", "ExecuTorchBackend", ("pte",),
                 "ExecuTorch .pte programs (executorch.runtime; imports torch)"),
)}

#: The runtime a format ran on before runtimes were chosen: a spec or suite that names no
#: runtime gets this one, so old job specs, job ids and resumed runs stay as they were.
CLASSIC_RUNTIME: Dict[str, str] = {"onnx": "onnxruntime", "tflite": "tflite", "pte": "executorch"}

#: Every format some runtime loads.
FORMATS: Tuple[str, ...] = tuple(sorted({f for e in RUNTIMES.values() for f in e.formats}))


def runtimes_for(fmt: str) -> Tuple[str, ...]:
    """Registered runtimes that load ``fmt``, the classic one first."""
    classic = CLASSIC_RUNTIME.get(fmt)
    names = [n for n, e in RUNTIMES.items() if fmt in e.formats]
    return tuple(sorted(names, key=lambda n: n != classic))


def resolve(fmt: str, runtime: Optional[str]) -> RuntimeEntry:
    """The entry for (format, runtime); ValueError for an unknown pair."""
    name = runtime or CLASSIC_RUNTIME.get(fmt, "")
    entry = RUNTIMES.get(name)
    if entry is None:
        raise ValueError(f"unknown runtime {name!r} (known: {', '.join(RUNTIMES)})")
    if fmt not in entry.formats:
        raise ValueError(f"runtime {name!r} does not load {fmt!r} files "
                         f"(it loads: {', '.join(entry.formats)})")
    return entry


def inventory() -> Dict[str, Optional[Dict[str, Any]]]:
    """Every registered runtime on this device: name -> version info, or None if absent."""
    return {name: entry.detect() for name, entry in RUNTIMES.items()}
