"""Reader for the ``.ts`` time-series format of the UCR/UEA archive (sktime / aeon).

edgebench reads the data files that the ``aeon`` wheel ships (BasicMotions,
JapaneseVowels) *without importing aeon*: importing it pulls numba, scikit-learn's
estimators and a deprecation machinery that take seconds, and aeon's loader is only a
text parser.  This module is that parser, written against the format's definition:

* ``#`` lines are comments; header tags come before ``@data``: ``@problemName NAME``,
  ``@timeStamps true|false``, ``@missing true|false``, ``@univariate true|false``,
  ``@dimensions N``, ``@equalLength true|false``, ``@seriesLength N``,
  ``@classLabel true L1 L2 ...`` (or ``false``), ``@targetLabel true|false``.  Tags are
  case-insensitive (aeon's own ``_eq`` files write ``@timestamps``).
* After ``@data``, one line per case: dimensions separated by ``:``, values within a
  dimension by ``,``; the class label (or regression target) is the last ``:`` field
  when the header says so.  ``?`` is a missing value (NaN here).  With
  ``@timeStamps true`` a value is ``(timestamp,value)``; the timestamps are dropped and the
  values kept in file order (nothing is resampled).
* With ``@equalLength false`` cases, and dimensions within a case, may differ in length.

Errors are :class:`TsFormatError` (a :class:`ModelError`: a bad data file fails the
variants of the model that needs it, not the whole suite) naming the file and line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from edgebench.errors import ModelError

_TRUE_FALSE = {"true": True, "false": False}
_TIMESTAMPED = re.compile(r"\(([^(),]*),([^()]*)\)")


class TsFormatError(ModelError):
    """A ``.ts`` file that does not follow the format (message names file and line)."""


@dataclass
class TsData:
    """One parsed ``.ts`` file: the header as declared and every case as read."""

    problem_name: Optional[str] = None
    timestamps: bool = False
    missing: Optional[bool] = None
    univariate: Optional[bool] = None
    dimensions: Optional[int] = None
    equal_length: Optional[bool] = None
    series_length: Optional[int] = None
    class_labels: Optional[list[str]] = None  # declared labels, in header order
    target_label: bool = False  # regression target as the last field
    series: list[list[np.ndarray]] = field(default_factory=list)  # per case, per dimension: float64
    labels: list[str] = field(default_factory=list)  # class label (or target text) per case
    missing_values: int = 0  # '?' values read (padding of unequal lengths is not counted)

    @property
    def lengths(self) -> list[int]:
        """Length of the longest dimension of each case."""
        return [max(len(d) for d in case) for case in self.series]

    def label_indices(self) -> np.ndarray:
        """Labels as int64 indices into the declared ``@classLabel`` list (header order)."""
        if not self.class_labels:
            raise TsFormatError(f"{self.problem_name or '.ts data'} declares no class labels")
        index = {name: i for i, name in enumerate(self.class_labels)}
        return np.asarray([index[label] for label in self.labels], dtype=np.int64)

    def to_array(self, length: Optional[int] = None, *, pad_value: float = 0.0) -> np.ndarray:
        """Every case as ``[N, dims, length]`` float32, channels first.

        Shorter series (and shorter dimensions of a case) are padded at the end with
        ``pad_value``; longer ones are cut to
        ``length`` (default: the longest case, so nothing is cut).  Missing values stay NaN.
        """
        length = max(self.lengths, default=0) if length is None else int(length)
        dims = max((len(case) for case in self.series), default=0)
        out = np.full((len(self.series), dims, length), pad_value, dtype=np.float32)
        for i, case in enumerate(self.series):
            for j, values in enumerate(case):
                n = min(length, len(values))
                out[i, j, :n] = values[:n]
        return out


def read_ts(path: str | Path) -> TsData:
    """Parse a ``.ts`` file (UTF-8)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TsFormatError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return parse_ts(text, source=str(path))


def parse_ts(text: str, *, source: str = "<ts>") -> TsData:
    """Parse ``.ts`` text; ``source`` names it in error messages."""
    data = TsData()
    in_data = False
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{source}:{lineno}"
        if not in_data:
            if not line.startswith("@"):
                raise TsFormatError(f"{where}: data before @data (expected a header tag)")
            in_data = _header(data, line, where)
            continue
        _case(data, line, where)
    if not in_data:
        raise TsFormatError(f"{source}: no @data section")
    _check(data, source)
    return data


def _flag(value: str, tag: str, where: str) -> bool:
    word = value.split()[0].lower() if value.split() else ""
    if word not in _TRUE_FALSE:
        raise TsFormatError(f"{where}: {tag} must be true or false, got {value!r}")
    return _TRUE_FALSE[word]


def _int(value: str, tag: str, where: str) -> int:
    try:
        number = int(value.strip())
    except ValueError:
        raise TsFormatError(f"{where}: {tag} must be an integer, got {value!r}") from None
    if number < 1:
        raise TsFormatError(f"{where}: {tag} must be >= 1, got {number}")
    return number


def _header(data: TsData, line: str, where: str) -> bool:
    """Apply one header line; True when it is ``@data``."""
    tag, _, value = line.partition(" ")
    tag, value = tag.lower(), value.strip()
    if tag == "@data":
        return True
    if tag == "@problemname":
        data.problem_name = value
    elif tag == "@timestamps":
        data.timestamps = _flag(value, "@timeStamps", where)
    elif tag == "@missing":
        data.missing = _flag(value, "@missing", where)
    elif tag == "@univariate":
        data.univariate = _flag(value, "@univariate", where)
    elif tag == "@dimensions":
        data.dimensions = _int(value, "@dimensions", where)
    elif tag == "@equallength":
        data.equal_length = _flag(value, "@equalLength", where)
    elif tag == "@serieslength":
        data.series_length = _int(value, "@seriesLength", where)
    elif tag == "@classlabel":
        parts = value.split()
        if _flag(value, "@classLabel", where):
            if len(parts) < 2:
                raise TsFormatError(f"{where}: @classLabel true needs the label names")
            data.class_labels = parts[1:]
    elif tag == "@targetlabel":
        data.target_label = _flag(value, "@targetLabel", where)
    else:
        raise TsFormatError(f"{where}: unknown header tag {tag!r}")
    return False


def _values(data: TsData, field_text: str, where: str) -> np.ndarray:
    if data.timestamps:
        pairs = _TIMESTAMPED.findall(field_text)
        if not pairs and field_text.strip():
            raise TsFormatError(f"{where}: @timeStamps true but no (timestamp,value) pairs")
        items = [v for _, v in pairs]
    else:
        items = field_text.split(",")
    out = np.empty(len(items), dtype=np.float64)
    for i, item in enumerate(items):
        item = item.strip()
        if item == "?" or item.lower() == "nan":
            out[i] = np.nan
            data.missing_values += 1
            continue
        try:
            out[i] = float(item)
        except ValueError:
            raise TsFormatError(f"{where}: value {i + 1} is not a number: {item!r}") from None
    return out


def _split_fields(line: str, timestamps: bool) -> list[str]:
    """Split a case on ':' -- outside parentheses, where timestamps carry their own colons."""
    if not timestamps:
        return line.split(":")
    fields: list[str] = []
    current: list[str] = []
    depth = 0
    for ch in line:
        depth += (ch == "(") - (ch == ")")
        if ch == ":" and depth == 0:
            fields.append("".join(current))
            current = []
        else:
            current.append(ch)
    fields.append("".join(current))
    return fields


def _case(data: TsData, line: str, where: str) -> None:
    fields = _split_fields(line, data.timestamps)
    if data.class_labels is not None or data.target_label:
        if len(fields) < 2:
            raise TsFormatError(f"{where}: a case needs its label after the last ':'")
        label = fields.pop().strip()
        if data.class_labels is not None and label not in data.class_labels:
            raise TsFormatError(f"{where}: class label {label!r} is not declared in @classLabel "
                                f"({' '.join(data.class_labels)})")
        data.labels.append(label)
    expected = 1 if data.univariate else data.dimensions
    if expected is not None and len(fields) != expected:
        raise TsFormatError(f"{where}: {len(fields)} dimension(s), the header declares {expected}")
    dims = [_values(data, f, where) for f in fields]
    length = max(len(d) for d in dims)
    if data.equal_length and len({len(d) for d in dims}) > 1:
        raise TsFormatError(f"{where}: @equalLength true but the dimensions of this case have "
                            f"lengths {[len(d) for d in dims]}")
    if data.equal_length and data.series_length is not None and length != data.series_length:
        raise TsFormatError(f"{where}: series of length {length}, the header declares "
                            f"@seriesLength {data.series_length}")
    data.series.append(dims)


def _check(data: TsData, source: str) -> None:
    if not data.series:
        raise TsFormatError(f"{source}: @data holds no cases")
    dims = {len(case) for case in data.series}
    if len(dims) > 1:
        raise TsFormatError(f"{source}: cases have different numbers of dimensions {sorted(dims)}")
    if data.equal_length and len(set(data.lengths)) > 1:
        raise TsFormatError(f"{source}: @equalLength true but lengths range "
                            f"{min(data.lengths)}..{max(data.lengths)}")
    if data.missing is False and data.missing_values:
        raise TsFormatError(f"{source}: @missing false but the data holds "
                            f"{data.missing_values} '?' value(s)")
