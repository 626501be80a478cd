"""The public Python API: pinned, lazy, and working."""

from __future__ import annotations

import importlib
import subprocess
import sys

import edgebench


def test_all_is_pinned_and_every_name_resolves() -> None:
    assert edgebench.__all__ == [
        "__version__", "run_suite", "RunOutcome", "load_suite", "load_devices", "build_variants",
        "results", "tune", "TuneOutcome", "EdgebenchError", "ConfigError", "DeviceError",
        "ModelError",
    ]
    for name in edgebench.__all__:
        assert getattr(edgebench, name) is not None, name
    assert issubclass(edgebench.ConfigError, edgebench.EdgebenchError)
    assert edgebench.ConfigError("x").exit_code == 2
    importlib.import_module("edgebench.tuning.space")  # a submodule must not shadow the API
    assert callable(edgebench.tune) and edgebench.tune.__name__ == "tune"


def test_import_is_cheap() -> None:
    code = ("import sys, edgebench, edgebench.cli; heavy = [m for m in ('pandas', 'torch', 'tensorflow', "
            "'onnxruntime', 'sqlalchemy') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
