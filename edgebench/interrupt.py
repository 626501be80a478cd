"""Ctrl-C for a run: SIGINT becomes a stop request that every stage of the run honours.

Why not let ``KeyboardInterrupt`` propagate, as Python does by default:

* a process started with SIGINT ignored (a background job of a non-interactive shell, some
  CI runners) never gets Python's handler, so Ctrl-C -- or ``kill -INT`` -- was lost and
  the run finished as if nothing happened;
* the exception lands wherever the main thread happens to be: inside a toolchain that
  swallows it, in the middle of the bookkeeping that records the interruption (a second
  Ctrl-C 20 ms after the first left run.json without ``interrupted``), or nowhere for
  seconds while the main thread sits in one long C call of a variant build.

So a run installs :class:`StopOnSigint`: SIGINT only sets a :class:`threading.Event`.
Long stages (the variant build, the reports, the store ingest) run in a helper thread via
:func:`run_stage` while the main thread waits on the event, so the main thread notices a
Ctrl-C within :data:`POLL_S` whatever the stage is doing; the fleet kills the jobs in flight;
then the run writes its bookkeeping -- which no further SIGINT can break, since none raises
-- and the ``edgebench`` process ends at once (:func:`exit_interrupted`).
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any, Callable, Generic, NoReturn, Optional, TypeVar

T = TypeVar("T")

#: How often a waiting main thread looks at the stop event.  It never blocks on the event
#: itself (see StopOnSigint), so this is the main thread's reaction time to a Ctrl-C.
POLL_S = 0.05
#: After a stop, how long a stage thread may take to reach a point where it stops by itself
#: (the build checks between variants) before the run gives up on it and goes on without it.
STAGE_GRACE_S = 0.3
#: Test-only: ``EDGEBENCH_TEST_PAUSE_AT=<stage>`` makes that stage announce itself on stderr
#: and then hang like an uncooperative C call, so tests can interrupt it deterministically.
TEST_PAUSE_ENV = "EDGEBENCH_TEST_PAUSE_AT"

#: Helper threads a stopped run left running (daemons; see :func:`exit_interrupted`).
_STRANDED: list[threading.Thread] = []


class RunInterrupted(KeyboardInterrupt):
    """A run stopped by Ctrl-C (or its stop event) after writing its bookkeeping.

    A ``KeyboardInterrupt``, so callers of the Python API that catch that keep working;
    carries the run id and directory so the CLI can print the exact resume command.
    """

    def __init__(self, run_id: str, run_dir: Path) -> None:
        super().__init__(f"run {run_id} interrupted")
        self.run_id = run_id
        self.run_dir = Path(run_dir)


class StopOnSigint:
    """While active, SIGINT sets ``stop`` instead of raising ``KeyboardInterrupt``.

    ``only_replacing_default``: install only over Python's own default handler (the Python
    API: an application's own SIGINT handler, or a deliberate ``SIG_IGN``, is left alone).
    Without it (the ``edgebench run`` command) the handler is installed whatever was there,
    an inherited ``SIG_IGN`` included: a run must always be stoppable.  Only possible in the
    main thread; elsewhere this does nothing (and ``installed`` stays False).

    The handler must never touch the event's lock while the main thread might hold it
    (signal handlers run in the main thread, between two of its bytecodes), so the main
    thread of a run only ever reads the event with ``is_set()``, and a second SIGINT during
    the first one's ``set()`` returns at once on the ``signals`` counter (:meth:`request`).

    ``also_sigterm`` (the ``edgebench run`` command): SIGTERM -- what cron's timeout, a
    systemd stop or a CI runner's cancel sends -- stops the run the same way, so the jobs in
    flight are killed, run.json says ``interrupted`` and the resume command is printed,
    instead of the controller dying at once with orphaned agents on the devices.
    ``first_signal`` says which one came first (the exit code is 128 + it).
    """

    def __init__(self, stop: threading.Event, *, only_replacing_default: bool = False,
                 also_sigterm: bool = False) -> None:
        self.stop = stop
        self.only_replacing_default = only_replacing_default
        self.also_sigterm = also_sigterm
        self.signals = 0
        self.first_signal = int(signal.SIGINT)
        self.installed = False
        self._previous: Any = None
        self._previous_term: Any = None

    def request(self) -> None:
        """Set the event once; the count goes up first, so a SIGINT landing while the main
        thread is inside ``set()`` returns at once instead of waiting on the lock it holds."""
        self.signals += 1
        if self.signals == 1:
            self.stop.set()

    def _handler(self, signum: int, frame: Optional[FrameType]) -> None:
        if self.signals == 0:
            self.first_signal = signum
        self.request()

    @property
    def exit_code(self) -> int:
        """130 after Ctrl-C, 143 after SIGTERM: the shell's convention for a signalled end."""
        return 128 + self.first_signal

    def __enter__(self) -> "StopOnSigint":
        if threading.current_thread() is not threading.main_thread():
            return self
        current = signal.getsignal(signal.SIGINT)
        if self.only_replacing_default and current is not signal.default_int_handler:
            return self
        self._previous = current
        signal.signal(signal.SIGINT, self._handler)
        if self.also_sigterm:
            self._previous_term = signal.signal(signal.SIGTERM, self._handler)
        self.installed = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self.installed:
            signal.signal(signal.SIGINT, self._previous if self._previous is not None
                          else signal.default_int_handler)
            if self.also_sigterm:
                signal.signal(signal.SIGTERM, self._previous_term if self._previous_term is not None
                              else signal.SIG_DFL)
            self.installed = False


def request_stop(stop: threading.Event) -> None:
    """Set ``stop`` from the main thread (a KeyboardInterrupt was raised after all) without
    racing a :class:`StopOnSigint` handler that sets the same event."""
    owner = getattr(signal.getsignal(signal.SIGINT), "__self__", None)
    if isinstance(owner, StopOnSigint) and owner.stop is stop:
        owner.request()
    else:
        stop.set()


class StageStopped(BaseException):
    """Raised inside a stage thread at a point where it checks the stop event (the build,
    between variants).  A BaseException so that the stage's own ``except Exception``
    (one failing variant must not stop the others) does not turn it into a failed variant."""


class Stage(Generic[T]):
    """What :func:`run_stage` saw: ``done`` with ``result``, or stopped before the end."""

    def __init__(self, done: bool, result: Optional[T] = None) -> None:
        self.done = done
        self.result = result


def run_stage(name: str, fn: Callable[[], T], stop: threading.Event) -> Stage[T]:
    """Run ``fn`` in a helper thread; the calling thread waits until it ends or ``stop`` is set.

    Why a thread: the caller (the main thread) must react to Ctrl-C within a fraction of a
    second, and a stage may spend seconds in one C call (a TFLite conversion, a torch
    training step) during which the main thread could not run anything.  An exception
    raised by ``fn`` is re-raised here.  When ``stop`` wins, the thread gets
    :data:`STAGE_GRACE_S` to end on its own, then is left behind (see :func:`exit_interrupted`).
    """
    box: dict[str, Any] = {}

    def body() -> None:
        try:
            if os.environ.get(TEST_PAUSE_ENV) == name:
                from .toolchain_log import terminal

                print(f"edgebench: test pause at {name}", file=terminal(), flush=True)
                time.sleep(600)  # like a C call that never looks at the stop event
            box["result"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            box["error"] = exc

    thread = threading.Thread(target=body, name=f"edgebench-{name}", daemon=True)
    thread.start()
    while thread.is_alive() and not stop.is_set():
        thread.join(timeout=POLL_S)
    if thread.is_alive():
        thread.join(timeout=STAGE_GRACE_S)
    if thread.is_alive():
        _STRANDED.append(thread)
        return Stage(False)
    if "error" in box:
        if stop.is_set() and isinstance(box["error"], StageStopped):
            return Stage(False)
        raise box["error"]
    return Stage(True, box["result"])


def checkpoint(stop: threading.Event, say: Callable[[str], None]) -> Callable[[str], None]:
    """``say`` that first raises :class:`StageStopped` when the run was stopped: the variant
    build reports progress before every model and variant, so this ends it at the next one
    without a hook inside the build code."""
    def checked(message: str) -> None:
        if stop.is_set():
            raise StageStopped()
        say(message)
    return checked


def note_stranded(threads: list[threading.Thread]) -> None:
    """Threads a stopped stage gave up waiting for (e.g. a device worker stuck in I/O)."""
    _STRANDED.extend(t for t in threads if t.is_alive())


def exit_interrupted(code: int) -> NoReturn:
    """End the interrupted process now with ``code``, skipping the interpreter's teardown.

    Measured: with torch and TensorFlow loaded (any real suite) the C-level teardown after
    ``sys.exit`` took 3-8 s on the 2-core development machine -- longer than the whole stop
    -- and a helper thread a stopped stage left inside native code can crash or hang it
    (exit 134 or 139 instead of 130).  Everything worth keeping is on disk already, so:
    the Python ``atexit`` handlers (log flushing and the like; 10 ms there; skipped when a
    stranded thread might hold the locks they need), the standard streams, and out.
    """
    if not any(t.is_alive() for t in _STRANDED):
        atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)
