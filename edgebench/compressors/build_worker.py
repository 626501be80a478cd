"""``python -m edgebench.compressors.build_worker``: builds variants in a child process.

The controller (:func:`edgebench.variants.build_group`) writes one pickled task to
stdin and reads pickled progress messages from stdout.  A subprocess, not
``multiprocessing``: spawn re-imports the caller's main script, which breaks any
unguarded script using the Python API, and fork is unsafe once torch / TensorFlow have
started threads.  Library chatter printed to stdout is moved to stderr so it cannot
corrupt the message stream.
"""

from __future__ import annotations

import os
import pickle
import sys
from typing import Any, BinaryIO


class _Channel:
    """What :func:`edgebench.variants._worker` sends its messages through."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream

    def send(self, message: Any) -> None:
        pickle.dump(message, self._stream, protocol=pickle.HIGHEST_PROTOCOL)
        self._stream.flush()

    def close(self) -> None:
        self._stream.flush()


def main() -> None:
    parent = os.environ.get("EDGEBENCH_PARENT_PID")
    if parent and parent.isdigit():  # a stopped or killed run must not leave a build training
        from edgebench.child import _die_with_parent

        _die_with_parent(int(parent))
    channel = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # fd 1 is stderr from here on: prints of the toolchain stay out of the stream
    # the caller's import path first (a test's or a notebook's sys.path additions, where a
    # suite's 'torch: mypkg:factory' or 'package:' lives), then the task that may need it
    paths = pickle.load(sys.stdin.buffer)
    sys.path[:0] = [p for p in paths if p not in sys.path]
    task = pickle.load(sys.stdin.buffer)
    from edgebench.variants import _worker

    _worker(_Channel(channel), *task)


if __name__ == "__main__":
    main()
