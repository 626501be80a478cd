"""Run directories as the store reads them: the one journal reader lives in edgebench.journal.

Store ingest, the run report and the controller read results.jsonl through the same
parser, so they agree on what a run contains (a truncated last line is reported, never
parsed into a half record).
"""

from edgebench.journal import Journal, latest_records, read_run_json
from edgebench.journal import parse_journal as read_journal

__all__ = ["Journal", "latest_records", "read_journal", "read_run_json"]
