"""The package's shape: no import cycles, SQL only in the store, one journal reader and one
row builder (issue 14).  Everything here reads the source, nothing is imported."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "edgebench"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def _resolve(module: str, is_package: bool, level: int, target: str | None) -> str:
    """The absolute name of ``from <.level><target> import ...`` written in ``module``."""
    if level == 0:
        return target or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def _known(name: str, modules: dict[str, Path]) -> str | None:
    """``name`` or its nearest enclosing package that is an edgebench module."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def import_graph() -> dict[str, set[str]]:
    """edgebench module -> the edgebench modules it imports, at any level (lazy imports
    inside functions too); ``from pkg import sub`` counts as importing ``pkg.sub``."""
    modules = _modules()
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for mod, path in modules.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(mod, is_package, node.level, node.module)
                subs = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in modules]
                # names that are not submodules come from the package (module) itself
                targets = subs if len(subs) == len(node.names) else [base, *subs]
            for t in targets:
                found = _known(t, modules)
                if found is not None and found != mod:
                    graph[mod].add(found)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start)
            if found:
                return found
    return None


def test_the_graph_sees_lazy_relative_and_submodule_imports() -> None:
    graph = import_graph()
    assert "edgebench.errors" in graph["edgebench.cli"]
    assert graph["edgebench.agent.runner"] & {"edgebench.agent.schema", "edgebench.agent.stats"}
    assert "edgebench.store.core" in graph["edgebench.store"]


def test_find_cycle_reports_the_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


_SQL = re.compile(r"sqlalchemy|sqlite3|\bsa\.select\b|\bSELECT |\bINSERT INTO\b")
#: ``.execute(`` is SQL only where a database module is in reach: ExecuTorch's
#: ``method.execute(...)`` runs a model
_EXECUTE = re.compile(r"\.execute\(")


def test_no_sql_outside_the_store() -> None:
    offenders = []
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG)
        if rel.parts[0] == "store":
            continue
        text = path.read_text()
        database = bool(_SQL.search(text))
        for lineno, line in enumerate(text.splitlines(), 1):
            if _SQL.search(line) or (database and _EXECUTE.search(line)):
                offenders.append(f"{rel}:{lineno}: {line.strip()}")
    assert not offenders, "SQL outside edgebench/store/:\n" + "\n".join(offenders)


def _definitions(name: str) -> list[str]:
    """Where ``name`` is defined in edgebench/, or another function is imported as it."""
    out = []
    for path in sorted(PKG.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
                out.append(f"{path.relative_to(ROOT)}:{node.lineno}")
            elif isinstance(node, ast.ImportFrom) and any(
                    a.asname == name and a.name != name for a in node.names):
                out.append(f"{path.relative_to(ROOT)}:{node.lineno} (an alias)")
    return out


@pytest.mark.parametrize("name", ["read_journal", "parse_journal", "job_row", "frame_row", "summary_row",
                                  "latest_records", "fmt_seconds", "fmt_bytes"])
def test_one_definition(name: str) -> None:
    found = _definitions(name)
    assert len(found) == 1, f"{name} is defined {len(found)} times: {found}"


MAX_LINES = 400


def test_no_module_over_400_lines() -> None:
    long = {str(p.relative_to(ROOT)): n for p in sorted(PKG.rglob("*.py"))
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines (split them): {long}"


MAX_FUNCTION_LINES = 60
#: The layers held to short functions (issue 14): the results layer and the compressors.
SHORT_FUNCTION_PACKAGES = ("results", "compressors")


def long_functions(root: Path, limit: int = MAX_FUNCTION_LINES) -> dict[str, int]:
    """``path:line name`` -> lines, for every function (or method) under ``root`` longer
    than ``limit`` lines, counted from its ``def`` to its last line."""
    long: dict[str, int] = {}
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > limit:
                    where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
                    long[f"{where}:{node.lineno} {node.name}"] = lines
    return long


def test_long_functions_counts_def_to_last_line(tmp_path: Path) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(59))
    (tmp_path / "m.py").write_text(f"def short():\n{body}\n\n\ndef long():\n{body}\n"
                                   f"    y = 1\n    return y\n")
    assert long_functions(tmp_path) == {"m.py:63 long": 62}


@pytest.mark.parametrize("package", SHORT_FUNCTION_PACKAGES)
def test_no_function_over_60_lines(package: str) -> None:
    long = long_functions(PKG / package)
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines (split them): {long}"
