"""The controller's side of a variant build process (``python -m
edgebench.compressors.build_worker``): start it with its task, read its messages, say how
it died.  A toolchain crash (a segfault in a converter) then fails one variant only."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Optional


def start_worker(task: tuple) -> tuple[subprocess.Popen, "queue.Queue[Any]"]:
    """``python -m edgebench.compressors.build_worker`` fed ``task``; its messages arrive on
    the queue (None when its stream ends)."""
    import pickle

    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])  # this edgebench, not another install
    env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [env.get("PYTHONPATH")])])
    env["EDGEBENCH_PARENT_PID"] = str(os.getpid())  # the worker dies with us (Ctrl-C, kill)
    proc = subprocess.Popen([sys.executable, "-m", "edgebench.compressors.build_worker"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
    messages: "queue.Queue[Any]" = queue.Queue()

    stdin, stdout = proc.stdin, proc.stdout
    assert stdin is not None and stdout is not None  # both are PIPEs

    def read() -> None:
        try:
            while True:
                messages.put(pickle.load(stdout))
        except (EOFError, OSError, pickle.UnpicklingError):
            messages.put(None)
        except Exception:  # noqa: BLE001 - a torn message: the child died mid-write
            messages.put(None)

    threading.Thread(target=read, name="edgebench-build-reader", daemon=True).start()
    try:
        pickle.dump([os.path.abspath(p) if p else os.getcwd() for p in sys.path], stdin)
        pickle.dump(task, stdin, protocol=pickle.HIGHEST_PROTOCOL)
        stdin.close()
    except OSError:
        pass  # the child is already gone: its exit status tells why
    return proc, messages


def death(exitcode: Optional[int]) -> str:
    """How a build process ended, for the variant's error: a signal by name."""
    if exitcode is None:
        return "did not exit"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = "unknown signal"
        hint = " (out of memory?)" if -exitcode == signal.SIGKILL else ""
        return f"killed by signal {-exitcode} ({name}){hint}"
    return f"exited with status {exitcode}"
