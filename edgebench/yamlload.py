"""Bounded YAML loading for devices.yaml and suites: one parse, hostile input refused in one line.

A config file is user input, and YAML lets a few hundred bytes describe gigabytes: nested
aliases ("billion laughs") made a 561-byte suite run 143 s and take 7.8 GB before a
MemoryError, 500 nested brackets overflowed PyYAML's recursive composer, and
``edgebench run /dev/zero`` read until memory ran out.  So every config file goes through
:func:`load_yaml`, which bounds each of those costs before anything expensive runs:

* **size**: at most :data:`MAX_FILE_BYTES` are read (limit + 1, to tell "too big" from "exactly
  the limit"); devices, FIFOs, sockets and directories are refused before reading, so a
  path like ``/dev/zero`` cannot stream forever;
* **nesting**: at most :data:`MAX_DEPTH` levels of mappings/sequences, aliases included;
* **expansion**: at most :data:`MAX_NODES` values *as if every alias were expanded*, the
  size pydantic and error messages would otherwise walk (aliases stay shared objects, so
  the count is kept per anchor, never by expanding);
* **duplicate keys**: an error naming both lines, never "the last one wins" silently;
* **NUL characters** (``"\\0"``) in any value: no path, argv or environment can hold one.

The event stream comes from libyaml when PyYAML has it (its parser is about 20x faster than
PyYAML's pure-Python one) and is composed into nodes here, iteratively, with those checks;
the node tree is kept for line numbers and constructed once with PyYAML's safe constructor.
"""

from __future__ import annotations

import hashlib
import os
import reprlib
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Optional, Union

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.events import (
    AliasEvent,
    CollectionStartEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
)
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .errors import ConfigError

#: A real suite is a few KB and a 1,000-device registry about 130 KB; 4 MiB leaves room for
#: generated files.  Denser files stop at MAX_NODES first, so the worst case stays ~1 s.
MAX_FILE_BYTES = 4 * 1024 * 1024
#: Real files nest about 7 levels (suite > variants > [i] > steps > [j] > step > params).
MAX_DEPTH = 64
#: Values after alias expansion.  The biggest shipped file has a few hundred; a 100-device
#: registry about 2,000; 100,000 (some 4,800 devices) loads in about a second.
MAX_NODES = 100_000
#: How much of a value an error message shows.
MAX_SHOWN_CHARS = 80

_MERGE_TAG = "tag:yaml.org,2002:merge"
_STR_TAG = "tag:yaml.org,2002:str"
_PARSER: Any = getattr(yaml, "CSafeLoader", None) or yaml.SafeLoader


@dataclass(frozen=True)
class YamlDoc:
    """A loaded config file: plain data, its node tree (for lines) and the bytes' sha256."""

    data: Any
    node: Optional[Node]
    sha256: str


def shorten(text: str, limit: int = MAX_SHOWN_CHARS) -> str:
    """``text`` cut to ``limit`` characters with a trailing '…' when it was longer."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother = 3, 2 * MAX_SHOWN_CHARS, 2 * MAX_SHOWN_CHARS
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 6


def show(value: Any) -> str:
    """A bounded repr for error messages, at most MAX_SHOWN_CHARS long and cut with '…': a
    huge or deeply nested value costs no more than a small one (reprlib stops early)."""
    if isinstance(value, str):
        return shorten(repr(value[: MAX_SHOWN_CHARS + 1]))
    return shorten(_REPR.repr(value))


def printable(text: str) -> str:
    """``text`` with every non-printable character escaped (``\\x1b``), for one-line errors."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def key_path(loc: Iterable[Union[int, str]]) -> str:
    """``("models", 0, "name")`` -> ``models[0].name``, the spelling every error uses."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + printable(shorten(str(part)))
    return out


def read_bounded(path: Path, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes, else a ConfigError.

    Opened non-blocking so a FIFO without a writer cannot hang the open; anything that is
    not a regular file is refused before a byte is read; at most ``limit + 1`` bytes are
    read, so a file that grows while being read (or lies in st_size) is still bounded.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError as exc:
        raise ConfigError("file not found", file=str(path),
                          hint="check the path; suites live in suites/") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read file: {exc.strerror or exc}", file=str(path)) from exc
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise ConfigError("is a directory, not a YAML file", file=str(path))
        if not stat.S_ISREG(mode):
            raise ConfigError("not a regular file (a device, FIFO or socket): config must be a YAML file",
                              file=str(path))
        chunks, total = [], 0
        while total <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    except OSError as exc:
        raise ConfigError(f"cannot read file: {exc.strerror or exc}", file=str(path)) from exc
    finally:
        os.close(fd)
    if total > limit:
        raise ConfigError(f"file is larger than {limit // (1024 * 1024)} MiB, the limit for a config file",
                          file=str(path), hint="a suite or devices.yaml is normally a few KB")
    return b"".join(chunks)


class _Constructor(SafeConstructor):
    """PyYAML's safe constructor; a scalar it cannot build (``2020-13-45``, a 5,000-digit
    int) becomes a YAML error at that scalar's line instead of a bare ValueError."""

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError, OverflowError) as exc:
            what = f" {show(node.value)}" if isinstance(node, ScalarNode) else ""
            raise ConstructorError(None, None, f"cannot read value{what}: {shorten(str(exc).split(';')[0], 200)}",
                                   node.start_mark) from exc


class _Open:
    """A mapping or sequence being composed: its node, expanded size, height, pending key."""

    __slots__ = ("height", "key", "keys", "node", "part", "size")

    def __init__(self, node: Node, part: Union[int, str]) -> None:
        self.node = node
        self.part = part
        self.size = 1
        self.height = 0
        self.key: Optional[Node] = None  # mapping: the key whose value comes next
        self.keys: dict[Any, int] = {}  # mapping: constructed key -> its line


class _Composer:
    """Events -> node tree, iteratively, with the depth / expansion / duplicate-key checks."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.resolver = yaml.resolver.Resolver()
        self.keys = _Constructor()
        self.stack: list[_Open] = []
        self.anchors: dict[str, Node] = {}
        self.measure: dict[int, tuple[int, int]] = {}  # id(anchored node) -> (size, height)
        self.total = 0
        self.aliases = 0
        self.root: Optional[Node] = None

    def fail(self, message: str, mark: Any, *, key: bool = True, hint: Optional[str] = None,
             last: tuple[Union[int, str], ...] = ()) -> ConfigError:
        parts = [*(o.part for o in self.stack[1:]), *last] if key else []
        return ConfigError(message, file=str(self.path), line=mark.line + 1 if mark else None,
                           key=key_path(parts) or None, hint=hint)

    def compose(self, events: Iterable[yaml.Event]) -> Optional[Node]:
        documents = 0
        for event in events:
            if isinstance(event, DocumentStartEvent):
                documents += 1
                if documents > 1:
                    raise self.fail("invalid YAML: expected a single document, found another one",
                                    event.start_mark, key=False, hint="remove the '---' line")
            elif isinstance(event, AliasEvent):
                self.alias(event)
            elif isinstance(event, ScalarEvent):
                if "\0" in event.value:
                    part = self.part()
                    raise self.fail("contains a NUL character (\\0), which no name, path, argument or "
                                    "environment value can hold", event.start_mark,
                                    last=(event.value if part == "?" else part,) if self.stack else ())
                tag = event.tag
                if tag is None or tag == "!":
                    tag = self.resolver.resolve(ScalarNode, event.value, event.implicit)
                node = ScalarNode(tag, event.value, event.start_mark, event.end_mark, style=event.style)
                self.anchor(event, node)
                self.count(1, 0, event.start_mark)
                self.add(node, 1, 0)
            elif isinstance(event, CollectionStartEvent):
                self.start(event)
            elif isinstance(event, (SequenceEndEvent, MappingEndEvent)):
                done = self.stack.pop()
                done.node.end_mark = event.end_mark
                height = done.height + 1
                if id(done.node) in self.measure:
                    self.measure[id(done.node)] = (done.size, height)
                self.add(done.node, done.size, height)
        return self.root

    def part(self) -> Union[int, str]:
        """Where the next node goes, for error key paths: an index, a key, or '?' (a key)."""
        if not self.stack:
            return ""
        parent = self.stack[-1]
        if isinstance(parent.node, SequenceNode):
            return len(parent.node.value)
        if parent.key is None:
            return "?"
        return str(parent.key.value) if isinstance(parent.key, ScalarNode) else "?"

    def count(self, size: int, height: int, mark: Any) -> None:
        self.total += size
        if self.total > MAX_NODES:
            if self.aliases:
                raise self.fail(f"more than {MAX_NODES:,} values once aliases are expanded "
                                "(an alias bomb?)", mark, key=False,
                                hint="a config file needs far fewer; do not nest aliases of aliases")
            raise self.fail(f"more than {MAX_NODES:,} values", mark, key=False,
                            hint="a config file needs far fewer; split it")
        if len(self.stack) + height > MAX_DEPTH:
            raise self.fail(f"nested deeper than {MAX_DEPTH} levels (aliases included)", mark, key=False,
                            hint="a config file nests about 7 levels")

    def anchor(self, event: Any, node: Node) -> None:
        if event.anchor is None:
            return
        if event.anchor in self.anchors:
            raise self.fail(f"invalid YAML: anchor &{shorten(printable(event.anchor))} is defined twice",
                            event.start_mark, key=False)
        self.anchors[event.anchor] = node
        self.measure[id(node)] = (1, 0)

    def start(self, event: Any) -> None:
        cls = MappingNode if isinstance(event, MappingStartEvent) else SequenceNode
        tag = event.tag
        if tag is None or tag == "!":
            tag = self.resolver.resolve(cls, None, event.implicit)
        node = cls(tag, [], event.start_mark, None, flow_style=event.flow_style)
        self.count(1, 1, event.start_mark)
        self.anchor(event, node)
        self.stack.append(_Open(node, self.part()))

    def alias(self, event: AliasEvent) -> None:
        node = self.anchors.get(event.anchor)
        if node is None:
            raise self.fail(f"invalid YAML: alias *{shorten(printable(event.anchor))} has no anchor before it",
                            event.start_mark, key=False)
        if any(o.node is node for o in self.stack):
            raise self.fail(f"alias *{shorten(printable(event.anchor))} refers to a value that contains it "
                            "(a recursive alias)", event.start_mark, key=False)
        size, height = self.measure[id(node)]
        self.aliases += 1
        self.count(size, height, event.start_mark)
        self.add(node, size, height)

    def add(self, node: Node, size: int, height: int) -> None:
        """Attach a finished node (or an alias's target) to the open collection above it."""
        if not self.stack:
            self.root = node
            return
        parent = self.stack[-1]
        parent.size += size
        if height > parent.height:
            parent.height = height
        if isinstance(parent.node, SequenceNode):
            parent.node.value.append(node)
        elif parent.key is None:
            parent.key = node
            self.check_duplicate(parent, node)
        else:
            parent.node.value.append((parent.key, node))
            parent.key = None

    def check_duplicate(self, parent: _Open, key: Node) -> None:
        """Two equal keys in one mapping: YAML would keep the last silently; refuse instead.

        Keys are compared as constructed values (``yes`` and ``true`` are the same key);
        merge keys (``<<``) are allowed to repeat, as their values are merged, not replaced.
        """
        if not isinstance(key, ScalarNode) or key.tag == _MERGE_TAG:
            return
        if key.tag == _STR_TAG:
            value: Any = key.value  # the common case, 5x faster than constructing
        else:
            try:
                value = self.keys.construct_object(key, deep=True)
                hash(value)
            except (yaml.YAMLError, TypeError):
                return  # the real construction reports it, with its line
            finally:
                self.keys.constructed_objects.clear()
        line = key.start_mark.line + 1
        if value in parent.keys:
            first = parent.keys[value]
            where = f"twice on line {line}" if first == line else f"first at line {first}, again at line {line}"
            raise self.fail(f"duplicate key ({where}; YAML would silently keep only the last)",
                            key.start_mark, hint="remove one of them", last=(str(key.value),))
        parent.keys[value] = line


def _yaml_error(exc: yaml.YAMLError, path: Path, raw: bytes, text: str) -> ConfigError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = mark.line + 1 if mark else None
    position = getattr(exc, "position", None)  # a ReaderError (control character) has no mark
    if line is None and isinstance(position, int):  # libyaml counts bytes, PyYAML characters
        line = (raw[:position].count(b"\n") if _PARSER is not yaml.SafeLoader
                else text[:position].count("\n")) + 1
    problem = getattr(exc, "problem", None) or (str(exc).splitlines() or ["?"])[0]
    if "maximum nesting depth" in problem:  # libyaml scans ahead and stops at its own 1,000
        return ConfigError(f"nested deeper than {MAX_DEPTH} levels", file=str(path), line=line,
                           hint="a config file nests about 7 levels")
    return ConfigError(f"invalid YAML: {shorten(printable(problem), 200)}", file=str(path),
                       line=line, hint="fix the YAML syntax at that line")


def load_yaml(path: Union[str, Path]) -> YamlDoc:
    """Read, bound, compose once and construct a config file; every failure is a ConfigError."""
    path = Path(path)
    raw = read_bounded(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text (byte {raw[exc.start]:#04x} at offset {exc.start})",
                          file=str(path), hint="save the file as UTF-8") from exc
    composer = _Composer(path)
    try:
        node = composer.compose(yaml.parse(text, Loader=_PARSER))
        data = _Constructor().construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, path, raw, text) from exc
    return YamlDoc(data=data, node=node, sha256=hashlib.sha256(raw).hexdigest())
