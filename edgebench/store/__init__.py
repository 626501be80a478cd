"""Results store (SQLite by default, any SQLAlchemy URL): see :mod:`edgebench.store.core`."""

from edgebench.store.core import (
    IngestCounts, RunInfo, Store, fingerprint_hash, open_store, resolve_url,
)
from edgebench.store.journal import Journal, read_journal, read_run_json
from edgebench.store.schema import SCHEMA_VERSION

__all__ = ["IngestCounts", "Journal", "RunInfo", "SCHEMA_VERSION", "Store",
           "fingerprint_hash", "open_store", "read_journal", "read_run_json", "resolve_url"]
