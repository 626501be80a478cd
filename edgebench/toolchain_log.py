"""Third-party chatter goes to ``<run_dir>/toolchain.log``; the terminal keeps edgebench's lines.

TensorFlow, absl, oneDNN, the TFLite converter (``fully_quantize: 0, inference_type: 6``),
LiteRT (``Created TensorFlow Lite XNNPACK delegate``) and ONNX Runtime (``[E:onnxruntime:…]``)
write to file descriptors 1 and 2 from C++ -- below Python, so redirecting ``sys.stderr``
does not catch them, and they interleave with the progress a person is reading.  While a
run works, :class:`ToolchainCapture` points fds 1 and 2 at a log file and hands edgebench
its own stream to the terminal (a duplicate of the original fd 2, taken first).  The log is
kept with the run, because the day a conversion misbehaves its text is the evidence; the
one-line errors still quote the library message they need.

The log starts as a hidden file in the results root (the run directory does not exist yet
when a suite is loaded) and is renamed to ``<run_dir>/toolchain.log`` once it does: a rename
keeps the open descriptors, so nothing written in between is lost.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from types import TracebackType
from typing import Optional, TextIO

LOG_NAME = "toolchain.log"
_active: "list[TextIO]" = []  # the terminal streams of captures in force, innermost last


def terminal() -> TextIO:
    """Where a line of edgebench's own must go to reach the person: the terminal while a
    capture holds fds 1 and 2, else ``sys.stderr``."""
    return _active[-1] if _active else sys.stderr


class ToolchainCapture:
    """Context manager; ``terminal`` is the stream for edgebench's own progress lines."""

    def __init__(self, results_root: Path, *, enabled: bool = True) -> None:
        self.results_root = Path(results_root)
        self.enabled = enabled
        self.terminal: TextIO = sys.stderr
        self.path: Optional[Path] = None
        self._placed = False
        self._saved: dict[int, int] = {}
        self._handler: logging.Handler = logging.NullHandler()

    def __enter__(self) -> "ToolchainCapture":
        if not self.enabled:
            return self
        try:
            self.results_root.mkdir(parents=True, exist_ok=True)
            self.path = self.results_root / f".{LOG_NAME}.{os.getpid()}"
            log_fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        except OSError:
            self.enabled = False  # an unwritable results root is reported by the run itself
            self.path = None
            return self
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        self._saved = {fd: os.dup(fd) for fd in (1, 2)}
        self.terminal = os.fdopen(os.dup(self._saved[2]), "w", buffering=1,
                                  encoding=getattr(sys.stderr, "encoding", None) or "utf-8",
                                  errors="backslashreplace")
        for fd in (1, 2):
            os.dup2(log_fd, fd)
        os.close(log_fd)
        _active.append(self.terminal)
        # edgebench's own log records (a device thread's warning) are edgebench's lines too
        self._handler = logging.StreamHandler(self.terminal)
        self._handler.setLevel(logging.WARNING)
        self._handler.setFormatter(logging.Formatter("%(message)s"))
        logging.getLogger("edgebench").addHandler(self._handler)
        return self

    def place(self, run_dir: Path) -> None:
        """The run directory exists: the log becomes ``run_dir/toolchain.log``."""
        if not self.enabled or self.path is None or self._placed:
            return
        target = Path(run_dir) / LOG_NAME
        try:
            if target.exists():  # a resumed run: keep the earlier nights' text, then ours
                with open(self.path, "rb") as src, open(target, "ab") as dst:
                    dst.write(src.read())
                    self._repoint(target)
                self.path.unlink()
            else:
                os.replace(self.path, target)
        except OSError:
            return
        self.path, self._placed = target, True

    def _repoint(self, target: Path) -> None:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        fd = os.open(target, os.O_WRONLY | os.O_APPEND)
        for out in (1, 2):
            os.dup2(fd, out)
        os.close(fd)

    def __exit__(self, exc_type: Optional[type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        if not self.enabled or not self._saved:
            return
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        for fd, saved in self._saved.items():
            os.dup2(saved, fd)
            os.close(saved)
        self._saved = {}
        if self.terminal in _active:
            _active.remove(self.terminal)
        logging.getLogger("edgebench").removeHandler(self._handler)
        try:
            self.terminal.close()
        except OSError:
            pass
        self.terminal = sys.stderr
        if self.path is not None and not self._placed:
            try:  # no run directory was made (e.g. a config error): nothing worth keeping
                self.path.unlink()
            except OSError:
                pass
