"""The config's keys and values as the parser reads them: the keys each table accepts, and a key's value
as a table, a string or a number in range, each error naming the key and the fix (auditor.spec.parse)."""

from __future__ import annotations

import difflib

from auditor.errors import AuditConfigError
from auditor.spec.types import ROLES

# Keys each table accepts; anything else is a typo we would rather name than ignore.
_KNOWN = {
    "": ("audit", "input", "columns", "match", "segments", "test", "report", "steering", "quotes", "adjustments",
         "sensitivity", "baseline", "labels", "personalisation"),
    "audit": ("name", "platform", "period"),
    "input": ("path", "format", "timezone", "csv_delimiter", "table", "where"),
    "baseline": ("findings",),
    "columns": (*ROLES, "list_price", "discount", "net_price", "disclosed"),
    "quotes": ("event_column", "quote_value", "purchase_value", "quoted_price", "request_id"),
    "adjustments": ("name", "column", "value"),
    "sensitivity": ("leave_out", "bins"),
    "match": ("exact", "time_bucket", "bins"),
    "segments": ("name", "column", "reference", "groups", "kind", "bands"),
    "test": ("alpha", "materiality", "confidence", "max_clusters", "power", "min_cells", "min_users",
             "rank_test", "placebo_splits", "seed", "flag_rule"),
    "steering": ("column", "order", "context"),
    "report": ("language", "min_cell_size"),
    "labels": ("columns", "values", "segments", "audit"),
    "personalisation": ("enabled", "columns", "max_users", "rounding", "split"),
}


def _check_keys(table: dict, where: str) -> None:
    known = _KNOWN[where]
    for key in table:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            fix = f"did you mean '{close[0]}'?" if close else f"known keys: {', '.join(known)}"
            name = f"[{where}] {key}" if where else f"[{key}]"
            raise AuditConfigError(f"unknown config key {name}: {fix}")


def _table(raw: dict, name: str, required: bool = True) -> dict:
    value = raw.get(name)
    if value is None:
        if required:
            raise AuditConfigError(f"config has no [{name}] table: add one (see README, 'The audit config')")
        return {}
    if not isinstance(value, dict):
        raise AuditConfigError(f"[{name}] must be a table, e.g. [{name}] on its own line followed by its keys")
    _check_keys(value, name)
    return value


def _string(table: dict, where: str, key: str, required: bool = True, hint: str | None = None) -> str | None:
    value = table.get(key)
    if value is None:
        if not required:
            return None
        fix = hint or f'set {key} = "..."'
        raise AuditConfigError(f"[{where}] {key} is missing: {fix}")
    if not isinstance(value, str) or not value.strip():
        raise AuditConfigError(f"[{where}] {key} must be a non-empty string, got {value!r}")
    return value


def _number(table: dict, where: str, key: str, default: float, low: float, high: float,
            low_open: bool = False, high_open: bool = False) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise AuditConfigError(f"[{where}] {key} must be a number, got {value!r}")
    too_low = value <= low if low_open else value < low
    too_high = value >= high if high_open else value > high
    if too_low or too_high:
        lo, hi = ("(" if low_open else "["), (")" if high_open else "]")
        raise AuditConfigError(f"[{where}] {key} = {value} is out of range: use a value in {lo}{low:g}, {high:g}{hi}")
    return float(value)
