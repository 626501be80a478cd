"""The run's heavy one-shot work -- building variants, writing the report -- in a child process.

The controller lives for the whole run with one thread and one SSH transport per device,
so whatever it imports stays resident for all of it.  Building a variant imports the
toolchain (onnx + onnxruntime ~40 MB, torch ~270 MB, TensorFlow more; a cached builtin
model still loads its trained torch/keras source to hash it) and the report imports
pandas + pyarrow (~100 MB).  None of that memory comes back after use: it was 142.5 MB of
the controller's peak at 64 devices (RELIABILITY.md).  Run here, it is returned to the OS
when the child exits and the controller never maps those libraries at all.

Protocol: the child reads one JSON request from stdin (``{"call": NAME, "kwargs": {...}}``)
and writes JSON lines to the file descriptor named on its command line --
``{"progress": text}`` any number of times, then ``{"result": ...}`` or ``{"error": ...}``.
Its stdout and stderr stay the controller's, so toolchain warnings show as before.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Optional

from . import errors

#: The directory that holds the ``edgebench`` package the controller runs: the child
#: imports the same code even when it is not the installed one (a checkout, a worktree).
_CODE_ROOT = str(Path(__file__).resolve().parents[1])
_BOOT = ("import sys; sys.path.insert(0, sys.argv[1]); "
         "from edgebench.child import _child_main; sys.exit(_child_main(int(sys.argv[2]), int(sys.argv[3])))")

Progress = Optional[Callable[[str], None]]


def build_variants(suite: Any, *, cache_dir: Path, no_cache: bool = False,
                   only_models: Optional[list[str]] = None, progress: Progress = None,
                   cluster: Optional[str] = None) -> list[Any]:
    """:func:`edgebench.variants.build_variants` of the suite file ``suite.path``, in a child.

    The child loads the suite again from its file and refuses to build if the file
    changed since the controller read it (``suite.sha256``): the run records that hash.
    ``cluster``: a Ray address; the child connects there and builds the uncached variants
    as Ray tasks (:mod:`edgebench.cluster.build`).
    """
    from .variants import Artifact

    answer = call("build_variants", {"suite_path": suite.path, "suite_sha256": suite.sha256,
                                     "cache_dir": str(cache_dir), "no_cache": no_cache,
                                     "only_models": only_models, "cluster": cluster}, progress=progress)
    out = []
    for a in answer:
        out.append(Artifact(a["model"], a["variant"], a["format"], _path(a["path"]), a["manifest"],
                            a["error"], _path(a["eval_npz"]), _path(a["input_npz"])))
    return out


def write_run_report(run_dir: Path) -> list[Path]:
    """:func:`edgebench.report.write_run_report` (md + html) of ``run_dir``, in a child."""
    return [Path(p) for p in call("write_run_report", {"run_dir": str(run_dir)})]


def _path(value: Optional[str]) -> Optional[Path]:
    return None if value is None else Path(value)


def call(name: str, kwargs: dict[str, Any], *, progress: Progress = None) -> Any:
    """Run ``_CALLS[name](**kwargs)`` in a fresh interpreter; return its JSON result.

    An :class:`~edgebench.errors.EdgebenchError` raised there is raised here with the same
    class, message and hint (so the CLI's exit code and one-line message are unchanged);
    anything else is a bug, whose traceback the child has printed on stderr.  Ctrl-C
    reaches both processes (one process group): the child exits quietly and the
    controller raises KeyboardInterrupt as it would have in-process.
    """
    read_fd, write_fd = os.pipe()
    try:
        proc = subprocess.Popen([sys.executable, "-c", _BOOT, _CODE_ROOT, str(write_fd), str(os.getpid())],
                                stdin=subprocess.PIPE, pass_fds=(write_fd,))
    except BaseException:
        os.close(read_fd)
        os.close(write_fd)
        raise
    os.close(write_fd)  # the child holds the only write end: EOF here when it exits
    answer: Optional[dict[str, Any]] = None
    try:
        assert proc.stdin is not None
        with proc.stdin:
            proc.stdin.write(json.dumps({"call": name, "kwargs": kwargs}).encode())
        with os.fdopen(read_fd, "rb") as messages:
            read_fd = -1
            for line in messages:
                msg = json.loads(line)
                if "progress" in msg:
                    if progress is not None:
                        progress(str(msg["progress"]))
                else:
                    answer = msg
        returncode = proc.wait()
    except BaseException:  # Ctrl-C, or a progress callback that raised: do not leave it running
        if read_fd >= 0:
            os.close(read_fd)
        proc.kill()
        proc.wait()
        raise
    if answer is not None and "result" in answer:
        return answer["result"]
    if answer is not None and "error" in answer:
        raise _rebuild(answer["error"])
    if returncode in (130, -signal.SIGINT):
        raise KeyboardInterrupt
    raise RuntimeError(f"edgebench child process for {name} exited with {returncode} and no answer "
                       "(its stderr is above)")


def _rebuild(error: dict[str, Any]) -> BaseException:
    """The child's exception as one of ours, same class, message, hint and exit code."""
    cls = getattr(errors, str(error.get("class")), None)
    if not (isinstance(cls, type) and issubclass(cls, errors.EdgebenchError)):
        return RuntimeError(f"{error.get('class')}: {error.get('message')} (in an edgebench child process; "
                            "its traceback is above)")
    exc = cls.__new__(cls)
    errors.EdgebenchError.__init__(exc, str(error.get("message")), hint=error.get("hint"))
    for attr in ("file", "key", "line", "device"):
        if attr in error:
            setattr(exc, attr, error[attr])
    return exc


# -- the child's side ---------------------------------------------------------------

def _call_build_variants(*, suite_path: str, suite_sha256: str, cache_dir: str, no_cache: bool,
                         only_models: Optional[list[str]], progress: Callable[[str], None],
                         cluster: Optional[str] = None) -> Any:
    from .config import load_suite
    from .variants import build_variants as build

    suite = load_suite(suite_path)
    if suite.sha256 != suite_sha256:
        raise errors.ConfigError("changed while the run was starting; start the run again",
                                 file=suite_path)
    build_groups = None
    if cluster:  # uncached variants build as Ray tasks; Ray is imported only then
        from .cluster.build import cluster_builder

        build_groups = cluster_builder(cluster)
    built = build(suite, cache_dir=Path(cache_dir), no_cache=no_cache, only_models=only_models,
                  progress=progress, build_groups=build_groups)
    return [{"model": a.model, "variant": a.variant, "format": a.format,
             "path": None if a.path is None else str(a.path), "manifest": a.manifest,
             "error": a.error, "eval_npz": None if a.eval_npz is None else str(a.eval_npz),
             "input_npz": None if a.input_npz is None else str(a.input_npz)}
            for a in built]


def _call_write_run_report(*, run_dir: str, progress: Callable[[str], None]) -> Any:
    from .report import write_run_report as write

    return [str(p) for p in write(Path(run_dir))]


_CALLS: dict[str, Callable[..., Any]] = {
    "build_variants": _call_build_variants,
    "write_run_report": _call_write_run_report,
}


def _die_with_parent(parent_pid: int) -> None:
    """Linux: get SIGTERM when the controller dies (a SIGKILLed controller would otherwise
    leave a build training on for minutes); elsewhere the next progress write fails."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent_pid:  # the parent died before prctl: nobody waits for us
        os._exit(1)


def _json_default(value: Any) -> Any:
    """Manifests hold numpy scalars and Paths: numbers stay numbers, the rest becomes text,
    as the variant cache writes them (so a fresh build reads like a cached one)."""
    if type(value).__module__ == "numpy" and getattr(value, "ndim", None) == 0:
        return value.item()
    return str(value)


def _child_main(fd: int, parent_pid: int) -> int:
    _die_with_parent(parent_pid)
    out = os.fdopen(fd, "w", encoding="utf-8")

    def send(msg: dict[str, Any]) -> None:
        out.write(json.dumps(msg, default=_json_default) + "\n")
        out.flush()

    try:
        request = json.loads(sys.stdin.buffer.read())
        result = _CALLS[request["call"]](**request["kwargs"],
                                         progress=lambda text: send({"progress": text}))
        send({"result": result})
    except KeyboardInterrupt:
        return 130
    except errors.EdgebenchError as exc:
        send({"error": {"class": type(exc).__name__, "message": exc.message, "hint": exc.hint,
                        **{a: getattr(exc, a) for a in ("file", "key", "line", "device")
                           if hasattr(exc, a)}}})
    except Exception as exc:  # noqa: BLE001 - a bug: its traceback goes to stderr, as in-process
        import traceback

        traceback.print_exc()
        send({"error": {"class": type(exc).__name__, "message": str(exc)}})
    finally:
        out.close()
    return 0
