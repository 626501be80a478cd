"""Facts about a suite's built variants that no single build knows: which variants wrote
the very same file, which were added for synergy, and whether each fits the suite's MCU
budgets.  Set on the in-memory manifests, never in the cached manifest files: one cached
file serves any suite (:mod:`edgebench.variants`)."""

from __future__ import annotations

from typing import Any


def mark_identical(artifacts: list[Any]) -> list[Any]:
    """A variant whose file is byte-identical to another's says so: ``per_channel: true``
    once wrote the very bytes of per-tensor, silently."""
    first: dict[str, str] = {}
    for art in artifacts:
        sha = None if art.error else art.manifest.get("sha256")
        if not sha:
            continue
        if sha in first:
            art.manifest = dict(art.manifest, identical_to=first[sha])
            art.manifest["warnings"] = list(art.manifest.get("warnings") or []) + [
                f"byte-identical to variant {first[sha]!r}: this recipe built the same file"]
        else:
            first[sha] = art.variant
    return artifacts


def annotate(artifacts: list[Any], suite: Any, auto: set[str]) -> None:
    """Suite-dependent facts, kept out of the cached manifest file (the same file serves
    any suite): which variants were added for synergy, and the MCU budget verdicts."""
    from edgebench.compressors.mcu import DEFAULT_BUDGETS, fits

    budgets = {name: (b.model_dump() if hasattr(b, "model_dump") else dict(b)) for name, b in
               (getattr(suite, "mcu_budgets", None) or DEFAULT_BUDGETS).items()}
    for art in artifacts:
        if art.variant in auto:
            art.manifest["auto_added"] = ("single step of a combination the suite lacked; "
                                          "built to measure the combination's synergy")
        footprint = art.manifest.get("mcu")
        if isinstance(footprint, dict) and "arena_bytes" in footprint:
            footprint["fits"] = fits(footprint, budgets)
