"""What a cached variant depends on: the source, the steps, the code that builds it
(:func:`code_fingerprint`), the toolchain's versions (:func:`tool_versions`)."""

from __future__ import annotations

import functools
import hashlib
import json
from importlib import metadata
from pathlib import Path
from typing import Any

BUILD_REV = 2  # bump when a change to variants.py alters what a recipe builds
TOOLS = ("edgebench", "numpy", "torch", "onnx", "onnxruntime", "onnxscript", "tensorflow-cpu",
         "tensorflow", "tf-keras", "tensorflow-model-optimization", "ai-edge-litert", "scikit-learn",
         "scikit-image", "ai-edge-quantizer", "flatbuffers", "executorch", "torchao")


def tool_versions() -> dict[str, str]:
    """Installed versions of the toolchain (metadata only: no heavy import)."""
    out = {}
    for name in TOOLS:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """Hash of the code that builds variants, so a changed default or fix rebuilds the cache.
    Computed once per process: the code cannot change under a running build, and the key
    is needed for every variant."""
    root = Path(__file__).parent.parent  # edgebench/
    h = hashlib.sha256()
    # agent/evaluate.py: presence_scores decides the accuracy written into manifests
    # agent/backends/executorch_program.py: reads the .pte statistics into manifests
    files = [root / "variants.py", root / "datasets.py", root / "agent" / "evaluate.py",
             root / "agent" / "backends" / "executorch_program.py",
             *sorted((root / "compressors").glob("*.py")), *sorted((root / "models").glob("*.py"))]
    for f in files:
        h.update(f.name.encode() + f.read_bytes())
    return h.hexdigest()


def cache_key(source: Any, steps: list[dict], versions: dict[str, str]) -> str:
    """What a built variant depends on, hashed: its cache entry's name."""
    settings = source.input_settings() if hasattr(source, "input_settings") else None
    blob = json.dumps({"source": source.sha256, "format": source.fmt, "steps": steps,
                       "code": code_fingerprint(), "inputs": settings,
                       "data": source.data.fingerprint() if source.data else None,
                       "task": source.task, "output": source.output,
                       "versions": versions, "rev": BUILD_REV},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()
