"""The ``edgebench`` command: a thin adapter over the Python API.

Each subcommand lives in ``edgebench/commands/<name>.py`` and exposes
``add_parser(subparsers)``; handlers return an exit code.  ``main`` is the one place that
catches :class:`~edgebench.errors.EdgebenchError`: it prints one line plus a hint and
exits with the error's code (2 for config and usage errors) -- never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import threading
from typing import Optional

from . import __version__
from .errors import EdgebenchError
from .textsafe import printable

COMMANDS = ("run", "compress", "devices", "report", "compare", "nightly", "publish", "ingest",
            "profile", "tune")

EPILOG = """\
exit codes: 0 success; 1 some job failed / regression found / device unreachable;
            2 bad configuration or usage (the message names the file and key).
quickstart: edgebench run suites/quickstart.yaml
docs:       README.md (timing semantics in docs/timing.md)
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgebench",
        description="Benchmark compressed ML models (ONNX Runtime, LiteRT) on a fleet of edge "
                    "devices: size, latency, memory, energy and accuracy per variant and device.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"edgebench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"edgebench.commands.{name}").add_parser(sub)
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    """Run one subcommand; returns its exit code (130 after Ctrl-C, 143 after SIGTERM in ``run``).

    A process started with SIGINT ignored (a background job of a non-interactive shell)
    gets no KeyboardInterrupt from Python, so Ctrl-C and ``kill -INT`` would be lost:
    edgebench always stops on SIGINT, so Python's handler is put back first thing.
    ``argv=None`` means main() is the program itself: after Ctrl-C it then ends the
    process without the interpreter's teardown (see ``interrupt.exit_interrupted``).
    """
    if (threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) == signal.SIG_IGN):
        signal.signal(signal.SIGINT, signal.default_int_handler)
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # tfmot needs tf_keras, not Keras 3
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        code = int(args.func(args) or 0)
    except EdgebenchError as exc:
        print(f"edgebench: error: {printable(exc.one_line())}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:  # `run` says more itself (run id, resume command)
        print("edgebench: interrupted", file=sys.stderr)
        code = 130
    if code in (130, 143) and argv is None:  # main() is the program (console script, python -m)
        from .interrupt import exit_interrupted

        exit_interrupted(code)  # the interpreter's teardown alone can outlast the 2 s
    return code


if __name__ == "__main__":
    sys.exit(main())
