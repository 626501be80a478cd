"""edgebench: benchmark compressed ML models on a fleet of edge devices.

The public API is small and lazily imported (``import edgebench`` stays cheap: the CLI's
``--help`` must not pay for pandas, torch or TensorFlow).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

__all__ = [
    "__version__", "run_suite", "RunOutcome", "load_suite", "load_devices", "build_variants",
    "results", "tune", "TuneOutcome", "EdgebenchError", "ConfigError", "DeviceError", "ModelError",
]

_LAZY = {
    "run_suite": ("edgebench.run", "run_suite"),
    "RunOutcome": ("edgebench.run", "RunOutcome"),
    "load_suite": ("edgebench.config", "load_suite"),
    "load_devices": ("edgebench.config", "load_devices"),
    "build_variants": ("edgebench.variants", "build_variants"),
    "results": ("edgebench.results", None),
    "tune": ("edgebench.tuning.tuner", "tune"),
    "TuneOutcome": ("edgebench.tuning.session", "TuneOutcome"),
    "EdgebenchError": ("edgebench.errors", "EdgebenchError"),
    "ConfigError": ("edgebench.errors", "ConfigError"),
    "DeviceError": ("edgebench.errors", "DeviceError"),
    "ModelError": ("edgebench.errors", "ModelError"),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'edgebench' has no attribute {name!r}")
    module_name, attr = _LAZY[name]
    module = importlib.import_module(module_name)
    return module if attr is None else getattr(module, attr)
