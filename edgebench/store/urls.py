"""Store URLs (a bare path is a SQLite file; passwords masked wherever a URL is shown) and
the third-party errors of opening and using a store, mapped to edgebench's own."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import sqlalchemy as sa

from edgebench.errors import StoreConfigError, StoreError
from edgebench.results.journal import path_error

DEFAULT_RESULTS_DIR = Path("results")
DEFAULT_DB_NAME = "edgebench.db"

#: What a store can raise that is not an edgebench bug: its driver (missing, or refusing a
#: URL), the database, the SQLite library, the file system.  Mapped once, here, so that no
#: caller has to know SQLAlchemy, and none lets a driver's ImportError through as a traceback.
THIRD_PARTY_ERRORS: tuple[type[BaseException], ...] = (
    ImportError, sa.exc.SQLAlchemyError, sqlite3.Error, OSError)

#: import name of a DBAPI driver -> what to pip install (they differ for the common ones).
_DRIVER_PACKAGES = {"psycopg": "'psycopg[binary]'", "psycopg2": "psycopg2-binary",
                    "MySQLdb": "mysqlclient", "pymysql": "PyMySQL", "asyncpg": "asyncpg",
                    "oracledb": "oracledb", "pyodbc": "pyodbc", "pymssql": "pymssql"}

_URL_HINT = "give --store an SQLAlchemy URL (sqlite:///file.db, postgresql+psycopg://...) or a file path"


def display_url(url: str | Path) -> str:
    """``url`` with its password masked: store URLs end up in errors, logs and reports."""
    text = str(url)
    try:
        return sa.engine.make_url(text).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not parseable: mask what looks like user:password@
        return re.sub(r"(://[^/@:]*:)[^/@]*@", r"\1***@", text)


def _password(url: str) -> str | None:
    try:
        return sa.engine.make_url(url).password or None
    except Exception:  # noqa: BLE001
        match = re.search(r"://[^/@:]*:([^/@]*)@", url)
        return match.group(1) if match else None


def _reason(exc: BaseException, url: str) -> str:
    """The driver's own one-line reason (a DBAPIError's text adds the SQL and a web link)."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    line = text.splitlines()[0].strip() if text else type(exc).__name__
    secret = _password(url)
    if secret:
        line = line.replace(secret, "***")
    return line[:300]


def store_error(exc: BaseException, url: str, doing: str, *, opening: bool) -> StoreError:
    """One of :data:`THIRD_PARTY_ERRORS` as the edgebench error a user can act on.

    Whatever stops a store from *opening* is the command line's fault or the machine's
    set-up (driver not installed, malformed URL, unwritable folder): a
    :class:`StoreConfigError` (exit 2), found before any job runs.  A failure later, with
    the store already open (disk full, file corrupted, server gone), is a plain
    :class:`StoreError`: the run's journal still holds every job.
    """
    shown = display_url(url)
    if isinstance(exc, ImportError):
        module = (exc.name or str(exc).rpartition(" ")[2].strip("'\"")) or "?"
        package = _DRIVER_PACKAGES.get(module.split(".")[0], module.split(".")[0])
        return StoreConfigError(
            f"cannot open results store {shown}: database driver {module!r} is not installed",
            hint=f"pip install {package} into edgebench's environment, or give --store a "
                 "SQLite file path")
    if isinstance(exc, sa.exc.NoSuchModuleError):
        scheme = shown.split("://", 1)[0]
        return StoreConfigError(f"cannot open results store {shown}: unknown database kind "
                                f"{scheme!r}", hint=_URL_HINT)
    if isinstance(exc, sa.exc.ArgumentError):
        return StoreConfigError(f"{shown} is not a valid results store URL: {_reason(exc, url)}",
                                hint=_URL_HINT)
    if opening:
        return StoreConfigError(
            f"cannot open results store {shown}: {_reason(exc, url)}",
            hint="check --store (or --out / --results for the default SQLite file): a "
                 "writable folder, a reachable server")
    return StoreError(f"cannot {doing} in results store {shown}: {_reason(exc, url)}")


def sqlite_file(url: str) -> Path | None:
    """The file behind a SQLite URL; None for other databases and in-memory SQLite."""
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        return None
    if parsed.get_backend_name() != "sqlite":
        return None
    db = parsed.database or ""
    if db in ("", ":memory:") or db.startswith("file:") or parsed.query.get("mode") == "memory":
        return None
    return Path(db)


def resolve_url(url: str | Path | None, results_dir: Path = DEFAULT_RESULTS_DIR, *,
                create: bool = True) -> str:
    """``None`` -> ``results/edgebench.db``; a bare path -> that SQLite file; else as given.

    ``create`` makes the SQLite file's folder; lookups pass False so that asking about a
    run creates nothing.  A folder that is a file, or cannot be made, is a
    :class:`StoreConfigError` naming it: the user gave that path.
    """
    if url is None:
        path = Path(results_dir) / DEFAULT_DB_NAME
    elif isinstance(url, Path) or "://" not in str(url):
        path = Path(url)
    else:
        return str(url)
    folder = path.parent
    if folder.exists() and not folder.is_dir():
        raise StoreConfigError(f"cannot use {folder} as the results folder: it is a file",
                               hint="point --out / --results (or --store) at a folder")
    if create:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise path_error(folder, exc, "create the results folder",
                             hint="point --out / --results (or --store) at a writable folder"
                             ) from exc
    return f"sqlite:///{path}"
