"""Results store (SQLite by default, any SQLAlchemy URL): see :mod:`edgebench.store.core`."""

from edgebench.store.core import (
    IngestCounts,
    RunInfo,
    Store,
    display_url,
    open_existing,
    open_store,
    require_existing,
    resolve_url,
)
from edgebench.store.schema import SCHEMA_VERSION

__all__ = ["IngestCounts", "RunInfo", "SCHEMA_VERSION", "Store", "display_url",
           "open_existing", "open_store", "require_existing", "resolve_url"]
