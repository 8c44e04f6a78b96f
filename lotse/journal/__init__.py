"""The call journal: every 115 call's journey in SQLite, for reports and audits.

The controller builds :mod:`~lotse.journal.records` and hands them to an open
:class:`~lotse.journal.store.Journal`; ``lotse report`` reads the file through
:mod:`~lotse.journal.report`.
"""

from lotse.journal.records import (
    Abandoned,
    Answered,
    CallArrived,
    Closed,
    Decided,
    Ended,
    FallbackUsed,
    Imported,
    Outcome,
    QueueJoined,
    Record,
    Spilled,
    SpillReason,
)
from lotse.journal.schema import SCHEMA_VERSION, JournalError, SchemaTooNew
from lotse.journal.store import Journal, JournalStats, OpenCall

__all__ = [
    "SCHEMA_VERSION",
    "Abandoned",
    "Answered",
    "CallArrived",
    "Closed",
    "Decided",
    "Ended",
    "FallbackUsed",
    "Imported",
    "Journal",
    "JournalError",
    "JournalStats",
    "OpenCall",
    "Outcome",
    "QueueJoined",
    "Record",
    "SchemaTooNew",
    "SpillReason",
    "Spilled",
]
