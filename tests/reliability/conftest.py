"""Print what the reliability tests tried (cases, faults, figures) at the end of the session."""

from __future__ import annotations

import json
from typing import Any

from tests.reliability.helpers import FIGURES, TALLY


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if TALLY or FIGURES:
        terminalreporter.write_sep("-", "edgebench reliability")
        for key in sorted(TALLY):
            terminalreporter.write_line(f"{key}: {TALLY[key]}")
        for key in sorted(FIGURES):
            terminalreporter.write_line(f"{key}: {json.dumps(FIGURES[key])}")
