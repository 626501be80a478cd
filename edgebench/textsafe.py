"""Names and messages made safe for a terminal.

Device, model and variant names come from YAML files that anyone in a lab can edit, and
error messages quote them (and the runtimes' own text).  Written raw, a name holding
``\\e]0;…\\a\\e[2J`` retitles the operator's terminal and clears it, and a right-to-left
override reorders what a table seems to say.  Every name that reaches a terminal goes
through :func:`printable`: control characters become visible escapes (``\\x1b``), so the
text still identifies the thing and can be searched for in the YAML.
"""

from __future__ import annotations

import re
from typing import Any

#: C0 and C1 controls, DEL, and the bidirectional overrides/isolates (Trojan Source).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escape(match: "re.Match[str]") -> str:
    char = match.group()
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: Any) -> str:
    """``text`` with every control character written as an escape; None becomes ''."""
    if text is None:
        return ""
    return _UNSAFE.sub(_escape, str(text))


def plain(text: Any) -> str:
    """:func:`printable`, and also safe inside rich markup (a name like ``[red]x`` must be
    shown as written, not as red text)."""
    from rich.markup import escape

    return escape(printable(text))
