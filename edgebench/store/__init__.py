"""Results store (SQLite by default, any SQLAlchemy URL): see :mod:`edgebench.store.core`."""

from edgebench.results.journal import Journal, parse_journal, read_run_json
from edgebench.results.rows import fingerprint_hash
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

__all__ = ["IngestCounts", "Journal", "RunInfo", "SCHEMA_VERSION", "Store", "display_url",
           "fingerprint_hash", "open_existing", "open_store", "parse_journal", "read_run_json",
           "require_existing", "resolve_url"]
