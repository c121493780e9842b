"""Ingest's internal column names and reject reasons, shared by the engine's steps (auditor.engine.ingest)."""

from __future__ import annotations

from auditor.vocabulary import RejectReason

# Reject reasons (vocabulary.RejectReason), in the order they are checked: a row gets the first that applies.
REASONS = tuple(reason.value for reason in RejectReason)

# Internal names for the role columns (platform columns keep their own names).
TID, USER, TS, PRICE = "__tid", "__user", "__ts", "__price"
# Optional parts, present when configured: list price, discount, net price, quote fields, lawful factors.
LIST, DISCOUNT, NET, QUOTED, EVENT, REQUEST, DECLARED, DISCLOSED = (
    "__list", "__discount", "__net", "__quoted", "__event", "__request", "__declared", "__disclosed")
_CORRUPT, _FILE, _ORDER, _REASON = "__corrupt_record", "__source_file", "__order", "__reason"
_LINE, _LINE_SPLIT, _PARSED = "__line", "__line_split", "__parsed"
_FIRST, _COPIES = "__first_copy", "__copies"


def _q(name: str) -> str:
    """Quote a platform column name for Spark (names may hold dots or spaces)."""
    return "`" + name.replace("`", "``") + "`"
