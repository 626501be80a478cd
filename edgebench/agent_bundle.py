"""Package the on-device agent so it can run where edgebench is not installed.

The agent (``edgebench/agent/``) uses only relative imports, so its directory can be
copied under another name.  We ship it as the top-level package ``edgebench_agent``,
content-addressed by the SHA-256 of its files: a device keeps one copy per agent
version, and a changed agent can never be mistaken for the one already there.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

AGENT_PACKAGE = "edgebench_agent"
_AGENT_SRC = Path(__file__).resolve().parent / "agent"


@dataclass(frozen=True)
class AgentBundle:
    """The agent's files, keyed by path relative to the directory that holds the package."""

    sha256: str
    files: tuple[tuple[str, bytes], ...]

    @property
    def short_hash(self) -> str:
        return self.sha256[:12]

    @property
    def dirname(self) -> str:
        """Directory name on the device: ``agent-<hash>``; put it on PYTHONPATH."""
        return f"agent-{self.short_hash}"

    def write_to(self, root: Path) -> Path:
        """Materialise the bundle under ``root/agent-<hash>/``; idempotent and atomic."""
        final = root / self.dirname
        if (final / AGENT_PACKAGE / "__main__.py").is_file():
            return final
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".agent-", dir=root))
        for rel, data in self.files:
            path = tmp / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        try:
            os.rename(tmp, final)
        except OSError:  # another process won the race: theirs is identical
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
        return final


@lru_cache(maxsize=1)
def bundle() -> AgentBundle:
    """Collect the agent's ``.py`` files (sorted, so the hash is stable)."""
    digest = hashlib.sha256()
    files: list[tuple[str, bytes]] = []
    for path in sorted(_AGENT_SRC.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        rel = f"{AGENT_PACKAGE}/{path.relative_to(_AGENT_SRC).as_posix()}"
        data = path.read_bytes()
        digest.update(rel.encode() + b"\0" + data + b"\0")
        files.append((rel, data))
    return AgentBundle(sha256=digest.hexdigest(), files=tuple(files))
