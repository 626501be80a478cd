"""Build every (model, format, variant) of a suite into files the run can benchmark.

Each artifact carries a manifest measured on the built file itself (size, params, zeros,
MACs, quantized ops, accuracy and fidelity to the fp32 variant of the same model and
format), so "nothing was quantized" or "pruning shrank nothing" is visible as ``noop``.
Files are cached content-addressed by source hash + recipe + the model's input settings +
toolchain versions; one failing variant becomes an :class:`Artifact` with ``error`` and
never stops the others.

Variants that are not cached are built in a child process (a fresh interpreter, not a
fork: torch / TensorFlow misbehave in a forked child), one per model and format so the
toolchain is imported once:
a quantizer that segfaults, hangs past ``EDGEBENCH_BUILD_TIMEOUT_S`` or is killed for
memory fails the variant it was building, named with its signal and step, and a fresh
child builds the rest.  ``EDGEBENCH_BUILD_ISOLATION=0`` builds in this process instead.
``build_groups`` hands those per-(model, format) builds (:class:`GroupTask`) to someone
else: ``--cluster`` runs them as Ray tasks (:mod:`edgebench.cluster.build`).
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from edgebench.compressors.build_process import death, start_worker
from edgebench.compressors.cachekey import cache_key, tool_versions
from edgebench.errors import EdgebenchError, ModelError
from edgebench.variant_notes import annotate, mark_identical

#: Longest one variant may build in its child process before it is killed.
BUILD_TIMEOUT_S = float(os.environ.get("EDGEBENCH_BUILD_TIMEOUT_S", "3600"))
LOAD_TIMEOUT_S = 3600.0  # loading a source in the child (a built-in may train first)

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


@dataclass
class GroupTask:
    """The uncached variants of one (model, format), built in order by one build process
    (:func:`build_group`); small and picklable, so a Ray task on another node can take it."""

    spec: Any  # the suite's ModelSpec
    fmt: str
    model: str  # the source's name
    suite_shapes: dict
    todo: list[tuple[str, list[dict]]]  # (variant, recipe steps); fp32 first when it is due
    baseline: Optional[Artifact]  # the cached fp32, when fp32 is not in todo
    cache_dir: Path
    versions: dict[str, str]


#: Builds the groups (their variants by name, in the groups' order), saying progress.
GroupBuilder = Callable[[list[GroupTask], Callable[[str], None]], list[dict[str, Artifact]]]


def build_variants(suite: Any, *, cache_dir: Path, no_cache: bool = False,
                   only_models: Optional[list[str]] = None,
                   progress: Optional[Callable[[str], None]] = None,
                   build_groups: Optional[GroupBuilder] = None) -> list[Artifact]:
    """Every variant of every model in every format it applies to; fp32 baselines first.

    ``build_groups``: None builds each (model, format) as soon as its cache is checked;
    given, it gets every group with uncached variants at once (e.g. to run them in parallel)."""
    from edgebench.recipes import DEFAULT_VARIANTS

    cache_dir = Path(cache_dir)
    versions = tool_versions()
    say = progress or (lambda _msg: None)
    variants = list(suite.variants) or list(DEFAULT_VARIANTS)
    from edgebench.report.synergy import auto_single_step_variants

    auto = auto_single_step_variants(variants)  # synergy needs each combined step alone
    variants += auto
    bench = getattr(suite, "benchmark", None)
    suite_shapes = dict(getattr(bench, "input_shapes", None) or {})
    groups: list[tuple[list[Any], dict[str, Artifact], Optional[GroupTask]]] = []
    for spec in suite.models:
        if only_models and spec.name not in only_models:
            continue
        for fmt in spec.resolved_formats():
            chosen = [v for v in variants if not v.formats or fmt in v.formats]
            if not chosen:
                continue
            built, task = _plan_model_format(spec, fmt, chosen, cache_dir, versions, no_cache, say,
                                             suite_shapes, strict=len(suite.models) == 1)
            if task is not None and build_groups is None:  # here and now, one group at a time
                built.update(build_group(task, say))
                task = None
            groups.append((chosen, built, task))
    waiting = [(built, task) for _, built, task in groups if task is not None]
    if waiting and build_groups is not None:
        for (built, _), result in zip(waiting, build_groups([t for _, t in waiting], say), strict=True):
            built.update(result)
    artifacts: list[Artifact] = []
    for chosen, built, _ in groups:
        artifacts.extend(mark_identical([built["fp32"] if not v.steps and v.name == "fp32"
                                          else built[v.name] for v in chosen]))
    annotate(artifacts, suite, {v.name for v in auto})
    return artifacts


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


def _plan_model_format(spec: Any, fmt: str, variants: list[Any], cache_dir: Path,
                       versions: dict[str, str], no_cache: bool,
                       say: Callable[[str], None], suite_shapes: Optional[dict] = None,
                       strict: bool = False) -> tuple[dict[str, Artifact], Optional[GroupTask]]:
    """The variants already built (cached, failed, or built here without isolation) by
    name, and the task that builds the others (None when there are none)."""
    from edgebench.compressors.sources import load_source

    say(f"{spec.name} [{fmt}]: loading source")
    try:
        source = load_source(spec, fmt, cache_dir, versions, no_cache=no_cache)
        _apply_suite_shapes(source, suite_shapes or {}, strict)
    except EdgebenchError as exc:
        return {v.name: _failed(spec.name, v.name, fmt, exc.one_line()) for v in variants}, None
    except Exception as exc:  # noqa: BLE001 - never crash the whole suite on one model
        return {v.name: _failed(spec.name, v.name, fmt, f"{type(exc).__name__}: {exc}") for v in variants}, None
    tasks = [("fp32", [])] + [(v.name, list(v.steps)) for v in variants
                              if v.steps or v.name != "fp32"]
    built: dict[str, Artifact] = {}
    todo = []
    for name, steps in tasks:
        cached = None if no_cache else _cached(source, name, steps, cache_dir, versions)
        if cached is not None:
            say(f"{source.name}/{name} [{fmt}]: cached")
            built[name] = cached
        else:
            todo.append((name, steps))
    if todo and os.environ.get("EDGEBENCH_BUILD_ISOLATION", "1") == "0":
        baseline = built.get("fp32")
        for name, steps in todo:
            built[name] = _build_one(source, name, steps, cache_dir, versions, True,
                                     None if name == "fp32" else baseline, say)
            if name == "fp32":
                baseline = built[name]
        todo = []
    task = GroupTask(spec, fmt, source.name, dict(source.suite_shapes or {}), todo, built.get("fp32"),
                     cache_dir, versions) if todo else None
    return built, task


def _apply_suite_shapes(source: Any, suite_shapes: dict[str, list[int]], strict: bool) -> None:
    """``benchmark.input_shapes`` apply to every model that has an input of that name; in a
    one-model suite a name the model lacks is a misspelling, and an error naming its inputs."""
    source.suite_shapes = dict(suite_shapes)
    if not (strict and suite_shapes and source.kind in ("onnx", "tflite")):
        return
    from edgebench.compressors.feeds import model_inputs

    names = [i["name"] for i in model_inputs(Path(source.model), source.fmt)]
    unknown = sorted(set(suite_shapes) - set(names))
    if unknown:
        raise ModelError(f"benchmark.input_shapes names {', '.join(map(repr, unknown))}, but the "
                         f"model's inputs are {', '.join(map(repr, names))}")


def _cached(source: Any, variant: str, steps: list[dict], cache_dir: Path,
            versions: dict[str, str]) -> Optional[Artifact]:
    out_path, manifest_path, key = _paths(source, variant, steps, cache_dir, versions)
    if not (out_path.exists() and manifest_path.exists()):
        return None
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        return None  # unreadable (e.g. half-written by a killed build): rebuild
    return _artifact(source, variant, out_path, manifest) if manifest.get("cache_key") == key else None


def build_group(task: GroupTask, say: Callable[[str], None]) -> dict[str, Artifact]:
    """Build ``task.todo`` in a child process; when it dies, fail the variant it was on
    (with the signal and the step) and go on with a fresh child for the rest."""
    fmt, baseline = task.fmt, task.baseline
    results: dict[str, Artifact] = {}
    pending = list(task.todo)
    while pending:
        proc, messages = start_worker((task.spec, fmt, task.cache_dir, task.versions, task.suite_shapes,
                                        pending, baseline))
        current, step, started = None, "load source", time.monotonic()
        timed_out = False
        while True:
            try:
                msg = messages.get(timeout=1.0)
            except queue.Empty:
                # the limit is per variant; loading the source (imports, training a
                # built-in) gets the longer of it and LOAD_TIMEOUT_S
                limit = BUILD_TIMEOUT_S if current is not None else max(BUILD_TIMEOUT_S, LOAD_TIMEOUT_S)
                if time.monotonic() - started > limit:
                    proc.kill()
                    timed_out = True
                    break
                continue
            if msg is None or msg[0] == "exit":  # stream closed: the child exited or died
                break
            if msg[0] == "say":
                say(msg[1])
            elif msg[0] == "start":
                current, step, started = msg[1], "start", time.monotonic()
            elif msg[0] == "step":
                step = msg[1]
            elif msg[0] == "done":
                results[msg[1]] = msg[2]
                pending = [t for t in pending if t[0] != msg[1]]
                if msg[1] == "fp32":
                    baseline = msg[2]
                current, step, started = None, "between variants", time.monotonic()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if not pending:
            break
        how = (f"timed out after {time.monotonic() - started:.0f} s (limit: EDGEBENCH_BUILD_TIMEOUT_S="
               f"{BUILD_TIMEOUT_S:g})" if timed_out
               else death(proc.returncode))
        if current is None:  # died loading the source or between variants: nothing to blame
            for name, _ in pending:
                results[name] = _failed(task.model, name, fmt, f"step {step}: build process {how}")
            break
        say(f"{task.model}/{current} [{fmt}]: build process {how} in step {step}")
        results[current] = _failed(task.model, current, fmt, f"step {step} {how}")
        pending = [t for t in pending if t[0] != current]
    return results


def _worker(conn: Any, spec: Any, fmt: str, cache_dir: Path, versions: dict[str, str],
            suite_shapes: dict, todo: list[tuple[str, list[dict]]],
            baseline: Optional[Artifact]) -> None:
    """Child process: load the source once, build ``todo`` in order, report each step."""
    from edgebench.compressors.sources import load_source

    def say(msg: str) -> None:
        conn.send(("say", msg))

    try:
        source = load_source(spec, fmt, cache_dir, versions, no_cache=False)
        source.suite_shapes = dict(suite_shapes)
    except Exception as exc:  # noqa: BLE001 - reported per variant
        line = exc.one_line() if isinstance(exc, EdgebenchError) else f"{type(exc).__name__}: {exc}"
        for name, _ in todo:
            conn.send(("done", name, _failed(spec.name, name, fmt, line)))
        conn.send(("exit",))
        return
    for name, steps in todo:
        conn.send(("start", name))
        art = _build_one(source, name, steps, cache_dir, versions, True,
                         None if name == "fp32" else baseline, say,
                         on_step=lambda step: conn.send(("step", step)))
        if name == "fp32":
            baseline = art
        conn.send(("done", name, art))
    conn.send(("exit",))
    conn.close()


def _failed(model: str, variant: str, fmt: str, error: str) -> Artifact:
    line = " ".join(error.split())
    return Artifact(model, variant, fmt, None, {"model": model, "variant": variant,
                                                "format": fmt, "error": line}, error=line)


def _paths(source: Any, variant: str, steps: list[dict], cache_dir: Path,
           versions: dict[str, str]) -> tuple[Path, Path, str]:
    """(variant file, its manifest, cache key)."""
    key = cache_key(source, steps, versions)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in variant)
    out_dir = cache_dir / "variants" / _safe(source.name) / source.fmt
    out_path = out_dir / f"{safe}-{key[:16]}.{source.fmt}"
    return out_path, Path(f"{out_path}.manifest.json"), key


def _build_one(source: Any, variant: str, steps: list[dict], cache_dir: Path,
               versions: dict[str, str], no_cache: bool, baseline: Optional[Artifact],
               say: Callable[[str], None],
               on_step: Optional[Callable[[str], None]] = None) -> Artifact:
    out_path, manifest_path, key = _paths(source, variant, steps, cache_dir, versions)
    if not no_cache:
        cached = _cached(source, variant, steps, cache_dir, versions)
        if cached is not None:
            say(f"{source.name}/{variant} [{source.fmt}]: cached")
            return cached
    say(f"{source.name}/{variant} [{source.fmt}]: building")
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="build-", dir=_mkdir(cache_dir / "tmp")))
    try:
        manifest = _build_and_measure(source, variant, steps, out_path, work, baseline, on_step)
    except EdgebenchError as exc:
        return _failed(source.name, variant, source.fmt, exc.one_line())
    except Exception as exc:  # noqa: BLE001 - a toolchain bug must not stop the suite
        return _failed(source.name, variant, source.fmt, f"{type(exc).__name__}: {exc!s}" if str(exc)
                       else repr(exc))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    manifest.update({"cache_key": key, "tool_versions": versions,
                     "build_seconds": time.monotonic() - started})
    tmp = manifest_path.with_name(manifest_path.name + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True, default=_json))
    tmp.replace(manifest_path)  # the manifest appears last and whole: it marks a complete build
    return _artifact(source, variant, out_path, manifest)


def _build_and_measure(source: Any, variant: str, steps: list[dict], out_path: Path,
                       work: Path, baseline: Optional[Artifact],
                       on_step: Optional[Callable[[str], None]] = None) -> dict[str, Any]:
    from edgebench.compressors.manifest import measure
    from edgebench.compressors.pipeline import Context, State, run_recipe

    kind, obj = source.fresh_state_obj()
    ctx = Context(source.name, source.fmt, source.input_shape, source.task, source.data, work,
                  builtin=source.builtin, teacher=source.model if kind in ("torch", "keras") else None,
                  input_dtype=source.input_dtype, output=source.output,
                  input_shapes=dict(source.input_shapes or {}),
                  suite_shapes=dict(source.suite_shapes or {}),
                  input_values=dict(source.input_values or {}),
                  single_shape=source.single_shape, on_step=on_step)
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


def _safe(name: str) -> str:
    """A file-name-safe form of a user-chosen name: no separators, never '.' or '..',
    and a short hash so two names that sanitise alike ('a/b', 'a_b') stay apart."""

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
