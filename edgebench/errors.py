"""The one exception family edgebench raises.

Every error a user can cause or meet (bad YAML, a missing model, an unreachable device,
a model the runtime rejects) is an :class:`EdgebenchError`.  Third-party exceptions are
translated at the boundary where they happen (``raise ConfigError(...) from exc``) so that
``edgebench.cli.main`` can catch this family once, print one line plus a hint, and exit
with :attr:`EdgebenchError.exit_code` -- never a traceback.

The tree::

    EdgebenchError                 exit 1   anything edgebench knows how to explain
    +-- ConfigError                exit 2   devices.yaml / suite / CLI input is wrong
    |   +-- UsageError             exit 2   command-line misuse (unknown run id, ...)
    +-- ModelError                 exit 1   a model file is missing, corrupt or unsupported
    |   +-- CompressionError       exit 1   a recipe step failed on a model
    +-- DeviceError                exit 1   a device cannot be reached or used
    |   +-- HostKeyError           exit 1   unknown or changed SSH host key (never auto-trusted)
    |   +-- PushError              exit 1   copying the agent or a model to a device failed
    +-- JobError                   exit 1   one benchmark job failed on a device
    |   +-- JobTimeoutError        exit 1   ... because it ran past its timeout
    +-- AgentProtocolError         exit 1   the agent's JSON answer is missing or malformed
    +-- StoreError                 exit 1   the results store / run directory is unusable
        +-- StoreConfigError       exit 2   ... and it was named that way on the command line
                                            (driver not installed, bad URL, --out is a file)
"""

from __future__ import annotations

from typing import Any


class EdgebenchError(Exception):
    """Base of every error edgebench explains to a user.

    ``message`` is one line that names the file / key / device at fault; ``hint`` says
    what to do about it.  Extra keyword data is kept on ``.data`` so callers (reports,
    tests) can inspect it without parsing the message.
    """

    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None, **data: Any) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.data = data

    def one_line(self) -> str:
        """The text ``main()`` prints: message, then the hint, on one line."""
        text = " ".join(self.message.split())
        if self.hint:
            text += f" (hint: {' '.join(self.hint.split())})"
        return text


class ConfigError(EdgebenchError):
    """devices.yaml, a suite, or another user-written input is invalid."""

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        key: str | None = None,
        line: int | None = None,
        hint: str | None = None,
        **data: Any,
    ) -> None:
        where = ""
        if file:
            where = str(file)
            if line is not None:
                where += f":{line}"
        if key:
            where = f"{where}: {key}" if where else key
        super().__init__(f"{where}: {message}" if where else message, hint=hint, **data)
        self.file = file
        self.key = key
        self.line = line


class UsageError(ConfigError):
    """The command line asks for something that does not exist or does not fit."""


class ModelError(EdgebenchError):
    """A model file is missing, unreadable, or not something edgebench can use."""


class CompressionError(ModelError):
    """A compression recipe step could not be applied to a model."""


class DeviceError(EdgebenchError):
    """A device cannot be reached, authenticated or used."""

    def __init__(self, message: str, *, device: str | None = None, **data: Any) -> None:
        super().__init__(f"device {device!r}: {message}" if device else message, **data)
        self.device = device


class HostKeyError(DeviceError):
    """An SSH host key is unknown or changed; edgebench never trusts one silently."""


class PushError(DeviceError):
    """Copying the agent or a model file to a device failed."""


class JobError(EdgebenchError):
    """One benchmark job failed; the run goes on with the others."""


class JobTimeoutError(JobError):
    """A job ran past its timeout and its process group was killed."""


class AgentProtocolError(EdgebenchError):
    """The on-device agent answered with something that is not a valid result."""


class StoreError(EdgebenchError):
    """The results store or a run directory cannot be read or written."""


class StoreConfigError(StoreError, ConfigError):
    """The store or an output folder named on the command line cannot be used at all.

    A missing database driver, a malformed URL or an ``--out`` that is a file is the
    user's input, found before any job runs: exit 2 like any configuration error, yet
    still a :class:`StoreError` so code that guards store access catches it too.
    """
