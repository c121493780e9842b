"""Where the audit reads from: [input] (files or a catalog table, its time zone) and [baseline] (an earlier
audit's findings) (auditor.spec.parse)."""

from __future__ import annotations

import re
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from auditor.errors import AuditConfigError
from auditor.spec.keys import _check_keys, _string
from auditor.spec.types import FORMATS, TABLE, Baseline, InputSpec


def _input(table: dict, base_dir: Path) -> InputSpec:
    if "table" in table:
        return _table_input(table)
    if "where" in table:
        raise AuditConfigError('[input] where filters a catalog table: use it with table = "db.name", not with path')
    path = _string(table, "input", "path", hint='the log file, folder or glob, e.g. path = "data/rides.parquet", '
                                                 'or a catalog table, e.g. table = "db.rides"')
    fmt = _string(table, "input", "format", hint=f"one of {', '.join(FORMATS)}")
    if fmt not in FORMATS:
        raise AuditConfigError(f"[input] format = {fmt!r} is not supported: use one of {', '.join(FORMATS)}")
    resolved = path if Path(path).is_absolute() or "://" in path else str(base_dir / path)
    timezone = _timezone(table)
    delimiter = table.get("csv_delimiter", ",")
    if not isinstance(delimiter, str) or len(delimiter) != 1:
        raise AuditConfigError(f"[input] csv_delimiter must be one character, got {delimiter!r}")
    return InputSpec(path=resolved, format=fmt, timezone=timezone, csv_delimiter=delimiter)


def _timezone(table: dict) -> str:
    timezone = table.get("timezone", "UTC")
    try:
        ZoneInfo(timezone)
    except (TypeError, ValueError, ZoneInfoNotFoundError):
        raise AuditConfigError(
            f"[input] timezone = {timezone!r} is not a known time zone: use an IANA name such as \"UTC\" or \"Asia/Shanghai\"") from None
    return timezone


def _table_input(table: dict) -> InputSpec:
    """A catalog table: its name, and optionally a predicate (checked against the table before the scan)."""
    for key in ("path", "format", "csv_delimiter"):
        if key in table:
            raise AuditConfigError(
                f"[input] {key} is for files; a catalog table's location and format come from the catalog: "
                f"remove {key}, or remove table to read files")
    name = _string(table, "input", "table")
    if not re.fullmatch(r"(`[^`]+`|[A-Za-z_][\w$]*)(\.(`[^`]+`|[A-Za-z_][\w$]*)){0,2}", name.strip()):
        raise AuditConfigError(
            f"[input] table = {name!r} is not a table name: use name, db.name or catalog.db.name "
            "(quote odd names with backticks)")
    where = _string(table, "input", "where", required=False)
    return InputSpec(path=None, format=TABLE, timezone=_timezone(table), table=name.strip(),
                     where=where.strip() if where else None)


def _baseline(raw: dict, base_dir: Path) -> Baseline | None:
    table = raw.get("baseline")
    if table is None:
        return None
    if not isinstance(table, dict):
        raise AuditConfigError('[baseline] must be a table, e.g. [baseline] findings = "../2026-08/findings.json"')
    _check_keys(table, "baseline")
    path = _string(table, "baseline", "findings",
                   hint='the earlier audit\'s findings.json, e.g. findings = "../2026-08/findings.json"')
    resolved = path if Path(path).is_absolute() else str(base_dir / path)
    return Baseline(findings=resolved)
