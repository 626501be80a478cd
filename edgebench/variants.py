"""Build every (model, format, variant) of a suite into files the run can benchmark.

Each artifact carries a manifest measured on the built file itself (size, params, zeros,
MACs, quantized ops, accuracy and fidelity to the fp32 variant of the same model and
format), so "nothing was quantized" or "pruning shrank nothing" is visible as ``noop``.
Files are cached content-addressed by source hash + recipe + toolchain versions; one
failing variant becomes an :class:`Artifact` with ``error`` and never stops the others.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import shutil
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from edgebench.errors import EdgebenchError

BUILD_REV = 1  # bump when a change here alters what a recipe builds
TOOLS = ("edgebench", "numpy", "torch", "onnx", "onnxruntime", "onnxscript", "tensorflow-cpu",
         "tensorflow", "tf-keras", "tensorflow-model-optimization", "ai-edge-litert", "scikit-learn",
         "scikit-image", "ai-edge-quantizer", "flatbuffers")


@dataclass
class Artifact:
    model: str
    variant: str
    format: str  # 'onnx' | 'tflite'
    path: Optional[Path]  # None when building failed
    manifest: dict
    error: Optional[str] = None
    eval_npz: Optional[Path] = None
    input_npz: Optional[Path] = None


def tool_versions() -> dict[str, str]:
    """Installed versions of the toolchain (metadata only: no heavy import)."""
    out = {}
    for name in TOOLS:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def build_variants(suite: Any, *, cache_dir: Path, no_cache: bool = False,
                   only_models: Optional[list[str]] = None,
                   progress: Optional[Callable[[str], None]] = None) -> list[Artifact]:
    """Every variant of every model in every format it applies to; fp32 baselines first."""
    from edgebench.recipes import DEFAULT_VARIANTS

    cache_dir = Path(cache_dir)
    versions = tool_versions()
    say = progress or (lambda _msg: None)
    variants = list(suite.variants) or list(DEFAULT_VARIANTS)
    from edgebench.report.synergy import auto_single_step_variants

    auto = auto_single_step_variants(variants)  # synergy needs each combined step alone
    variants += auto
    artifacts: list[Artifact] = []
    for spec in suite.models:
        if only_models and spec.name not in only_models:
            continue
        for fmt in spec.resolved_formats():
            chosen = [v for v in variants if not v.formats or fmt in v.formats]
            if not chosen:
                continue
            artifacts.extend(_build_model_format(spec, fmt, chosen, cache_dir, versions,
                                                 no_cache, say))
    _annotate(artifacts, suite, {v.name for v in auto})
    return artifacts


def _annotate(artifacts: list[Artifact], suite: Any, auto: set[str]) -> None:
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


def check_model_names(suite: Any, names: Optional[list[str]]) -> Optional[list[str]]:
    """``--model`` names, refused with the suite's model names when one is unknown."""
    from edgebench.errors import UsageError

    if not names:
        return None
    unknown = sorted(set(names) - {m.name for m in suite.models})
    if unknown:
        raise UsageError(f"no model named {', '.join(unknown)} in {getattr(suite, 'path', suite.name)}",
                         hint="models: " + ", ".join(m.name for m in suite.models))
    return list(names)


def _build_model_format(spec: Any, fmt: str, variants: list[Any], cache_dir: Path,
                        versions: dict[str, str], no_cache: bool,
                        say: Callable[[str], None]) -> list[Artifact]:
    from edgebench.compressors.sources import load_source

    say(f"{spec.name} [{fmt}]: loading source")
    try:
        source = load_source(spec, fmt, cache_dir, versions, no_cache=no_cache)
    except EdgebenchError as exc:
        return [_failed(spec.name, v.name, fmt, exc.one_line()) for v in variants]
    except Exception as exc:  # noqa: BLE001 - never crash the whole suite on one model
        return [_failed(spec.name, v.name, fmt, f"{type(exc).__name__}: {exc}") for v in variants]
    baseline = _build_one(source, "fp32", [], cache_dir, versions, no_cache, None, say)
    out = []
    for v in variants:
        if not v.steps and v.name == "fp32":
            out.append(baseline)
            continue
        out.append(_build_one(source, v.name, list(v.steps), cache_dir, versions, no_cache,
                              baseline, say))
    return out


def _failed(model: str, variant: str, fmt: str, error: str) -> Artifact:
    line = " ".join(error.split())
    return Artifact(model, variant, fmt, None, {"model": model, "variant": variant,
                                                "format": fmt, "error": line}, error=line)


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """Hash of the code that builds variants, so a changed default or fix rebuilds the cache.
    Computed once per process: the code cannot change under a running build, and the key
    is needed for every variant."""
    root = Path(__file__).parent
    h = hashlib.sha256()
    # agent/evaluate.py: presence_scores decides the accuracy written into manifests
    files = [root / "variants.py", root / "datasets.py", root / "agent" / "evaluate.py",
             *sorted((root / "compressors").glob("*.py")), *sorted((root / "models").glob("*.py"))]
    for f in files:
        h.update(f.name.encode() + f.read_bytes())
    return h.hexdigest()


def _cache_key(source: Any, steps: list[dict], versions: dict[str, str]) -> str:
    blob = json.dumps({"source": source.sha256, "format": source.fmt, "steps": steps,
                       "code": code_fingerprint(),
                       "data": source.data.fingerprint() if source.data else None,
                       "task": source.task, "output": source.output,
                       "versions": versions, "rev": BUILD_REV},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def _build_one(source: Any, variant: str, steps: list[dict], cache_dir: Path,
               versions: dict[str, str], no_cache: bool, baseline: Optional[Artifact],
               say: Callable[[str], None]) -> Artifact:
    key = _cache_key(source, steps, versions)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in variant)
    out_dir = cache_dir / "variants" / _safe(source.name) / source.fmt
    out_path = out_dir / f"{safe}-{key[:16]}.{source.fmt}"
    manifest_path = Path(f"{out_path}.manifest.json")
    if out_path.exists() and manifest_path.exists() and not no_cache:
        try:
            manifest = json.loads(manifest_path.read_text())
        except (OSError, ValueError):
            manifest = {}  # unreadable (e.g. half-written by a killed build): rebuild
        if manifest.get("cache_key") == key:
            say(f"{source.name}/{variant} [{source.fmt}]: cached")
            return _artifact(source, variant, out_path, manifest)
    say(f"{source.name}/{variant} [{source.fmt}]: building")
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="build-", dir=_mkdir(cache_dir / "tmp")))
    try:
        manifest = _build_and_measure(source, variant, steps, out_path, work, baseline)
    except EdgebenchError as exc:
        return _failed(source.name, variant, source.fmt, exc.one_line())
    except Exception as exc:  # noqa: BLE001 - a toolchain bug must not stop the suite
        return _failed(source.name, variant, source.fmt, f"{type(exc).__name__}: {exc}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    manifest.update({"cache_key": key, "tool_versions": versions,
                     "build_seconds": time.monotonic() - started})
    tmp = manifest_path.with_name(manifest_path.name + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True, default=_json))
    tmp.replace(manifest_path)  # the manifest appears last and whole: it marks a complete build
    return _artifact(source, variant, out_path, manifest)


def _build_and_measure(source: Any, variant: str, steps: list[dict], out_path: Path,
                       work: Path, baseline: Optional[Artifact]) -> dict[str, Any]:
    from edgebench.compressors.manifest import measure
    from edgebench.compressors.pipeline import Context, State, run_recipe

    kind, obj = source.fresh_state_obj()
    ctx = Context(source.name, source.fmt, source.input_shape, source.task, source.data, work,
                  builtin=source.builtin, teacher=source.model if kind in ("torch", "keras") else None,
                  input_dtype=source.input_dtype, output=source.output)
    state = run_recipe(State(kind, obj), steps, ctx, out_path)
    manifest = measure(state, ctx, out_path, baseline)
    manifest.update({"model": source.name, "variant": variant, "format": source.fmt,
                     "recipe": steps, "source_kind": source.kind,
                     "source_sha256": source.sha256})
    return manifest


def _artifact(source: Any, variant: str, path: Path, manifest: dict) -> Artifact:
    ev = Path(f"{path}.eval.npz")
    inp = Path(f"{path}.input.npz")
    return Artifact(source.name, variant, source.fmt, path, manifest, None,
                    ev if ev.exists() else None, inp if inp.exists() else None)


def gzip_size(path: Path) -> int:
    return len(gzip.compress(Path(path).read_bytes(), compresslevel=9, mtime=0))


def _safe(name: str) -> str:
    """A file-name-safe form of a user-chosen name: no separators, never '.' or '..',
    and a short hash so two names that sanitise alike ('a/b', 'a_b') stay apart."""
    import hashlib

    clean = "".join(c if c.isalnum() or c in "-_." else "_" for c in name).strip(".") or "_"
    if clean == name:
        return clean
    return f"{clean[:80]}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _json(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, Path):
        return str(value)
    return str(value)
