"""A pydantic validation error -> one ``FILE:LINE: key.path: problem (allowed: ...)`` line.

Kept apart from the specs in :mod:`edgebench.config`: this is about YAML node marks and
pydantic's error locations, not about what a device or a suite may contain.  The line
comes from PyYAML's nodes, because a user fixes a YAML file by line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Union

import yaml
from pydantic import ValidationError

from .errors import ConfigError
from .recipes import StrictModel
from .yamlload import key_path, show

#: Keys the loader adds to a top-level mapping itself (the suite's path and hash): never
#: offered as "allowed" to a user who mistyped a key.
HIDDEN_KEYS = ("path", "sha256")


def line_of(node: Optional[yaml.Node], loc: tuple[Union[int, str], ...]) -> Optional[int]:
    """Walk the YAML node tree along pydantic's error location; return a 1-based line."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if part == "[key]":  # pydantic's marker for "the key itself": the key's line is right
            return line
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if key_node.value == str(part):
                    line, node = key_node.start_mark.line + 1, value_node
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _submodel(annotation: Any) -> Optional[type[StrictModel]]:
    """The StrictModel inside an annotation such as ``Optional[list[ModelSpec]]``."""
    if isinstance(annotation, type) and issubclass(annotation, StrictModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _submodel(arg)
        if found is not None:
            return found
    return None


def _allowed_keys(model: type[StrictModel], loc: tuple[Union[int, str], ...]) -> list[str]:
    """The field names of the mapping that holds the unknown key at ``loc``."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(current, type) and issubclass(current, StrictModel):
            field = current.model_fields.get(str(part))
            current = field.annotation if field is not None else current
        else:  # list index or dict key: step into the container's element model
            current = _submodel(current)
    parent = _submodel(current)
    fields = parent.model_fields if parent is not None else {}
    hidden = HIDDEN_KEYS if parent is model else ()
    return sorted(k for k in fields if k not in hidden)


def raise_validation(exc: ValidationError, path: Path, node: Optional[yaml.Node],
                      model: type[StrictModel]) -> None:
    errors = exc.errors()
    first = errors[0]
    loc = tuple(first["loc"])
    key = key_path(p for p in loc if p != "[key]")
    msg = first["msg"]
    hint = None
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
        allowed = _allowed_keys(model, loc)
        if allowed:
            msg += f" (allowed: {', '.join(allowed)})"
    elif first["type"] == "missing":
        msg = "required key is missing"
    elif first["type"] in ("literal_error", "enum"):
        msg = f"invalid value {show(first.get('input'))}: {first['msg']}"
    else:
        if first.get("input") is not None and not isinstance(first.get("input"), (dict, list)):
            shown = show(first["input"])
            if shown not in msg:  # a validator's own message may quote the value already
                msg = f"{msg} (got {shown})"
    msg = msg.replace("Value error, ", "")
    if len(msg) > 400:  # a validator may quote a value; the message stays one readable line
        msg = msg[:399] + "…"
    if len(errors) > 1:
        msg += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    raise ConfigError(msg, file=str(path), key=key or None, line=line_of(node, loc), hint=hint) from exc


def check_unique_names(entries: Any, section: str, path: Path, node: Optional[yaml.Node]) -> None:
    """Two models (or variants) with one name would overwrite each other's results: name
    both lines.  (SuiteSpec checks too, for suites built in Python, but cannot know lines.)"""
    if not isinstance(entries, list):
        return
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        name = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(name, str):
            continue
        if name in seen:
            first = seen[name]
            raise ConfigError(f"duplicate {section[:-1]} name {show(name)} (first at line "
                              f"{line_of(node, (section, first, 'name'))}, {section}[{first}])",
                              file=str(path), key=f"{section}[{index}].name",
                              line=line_of(node, (section, index, "name")),
                              hint=f"each {section[:-1]} needs its own name")
        seen[name] = index
