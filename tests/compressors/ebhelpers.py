"""Helpers for compressor tests: build one model's variants into a shared cache."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from edgebench.recipes import ModelSpec, VariantSpec
from edgebench.variants import Artifact, build_variants


def build(cache: Path, variants: list[dict[str, Any]], *, formats: list[str] | None = None,
          **model: Any) -> dict[tuple[str, str], Artifact]:
    """Build ``variants`` (dicts as in a suite) for one model; keyed by (variant, format)."""
    if "builtin" not in model and "path" not in model and "torch" not in model:
        model["builtin"] = "digits-cnn"
    model.setdefault("name", model.get("builtin") or "m")
    spec = ModelSpec(formats=formats, **model)
    suite = SimpleNamespace(name="t", models=[spec], variants=[VariantSpec(**v) for v in variants])
    return {(a.variant, a.format): a for a in build_variants(suite, cache_dir=cache)}


def ok(art: Artifact) -> dict[str, Any]:
    assert art.error is None, art.error
    return art.manifest
