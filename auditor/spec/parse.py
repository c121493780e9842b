"""The audit config: one TOML file, parsed once into frozen, validated objects.

Every later step trusts these objects. Anything wrong in the file stops here
with an `AuditConfigError` that names the key and says how to fix it.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from auditor.errors import AuditConfigError
from auditor.spec.labels import Labels, labels_from_table
from auditor.spec.types import (FLAG_RULES, FORMATS, ROLES, SPLITS, TABLE, Adjustment, AuditConfig, Baseline, Columns,
                                InputSpec, MatchSpec, Personalisation, PriceParts, Quotes, ReportSpec, Segment,
                                Sensitivity, Steering, TestSpec)
from auditor.vocabulary import LANGUAGES

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

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


def check_placeholders(config: AuditConfig) -> None:
    """`auditor init` writes TODO for the audit's name and platform; a report must not be titled with one.
    (Checked by `run` and `validate`, not by parsing, so a starter config still loads for inspection.)"""
    for key in ("name", "platform"):
        value = getattr(config, key)
        if value.strip().upper().startswith("TODO"):
            raise AuditConfigError(f"[audit] {key} = {value!r} is still the starter's placeholder: write the "
                                   f"audit's {key} (the report's title page shows it)")


def load_config(path: str | Path) -> AuditConfig:
    """Read and validate an audit config file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AuditConfigError(f"config file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise AuditConfigError(f"config file {path} cannot be read: {exc}") from None
    return parse_config(text, base_dir=path.resolve().parent, source_path=str(path))


def parse_config(text: str, base_dir: Path | None = None, source_path: str | None = None) -> AuditConfig:
    """Validate config text; relative input paths are taken from `base_dir`."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise AuditConfigError(f"config is not valid TOML: {exc}") from None
    _check_keys(raw, "")
    audit = _table(raw, "audit")
    inp = _table(raw, "input")
    cols = _table(raw, "columns")
    match = _table(raw, "match")
    test = _table(raw, "test", required=False)
    report = _table(raw, "report", required=False)

    config = AuditConfig(
        name=_string(audit, "audit", "name"),
        platform=_string(audit, "audit", "platform"),
        period=_string(audit, "audit", "period", required=False),
        input=_input(inp, base_dir or Path.cwd()),
        columns=Columns(**{role: _string(cols, "columns", role, hint=_ROLE_HINT[role]) for role in ROLES},
                        disclosed=_disclosed(cols)),
        match=_match(match),
        segments=_segments(raw),
        test=_test(test),
        report=_report(report),
        steering=_steering(raw, match),
        parts=_parts(cols),
        quotes=_quotes(raw),
        adjustments=_adjustments(raw),
        sensitivity=_sensitivity(raw, match),
        baseline=_baseline(raw, base_dir or Path.cwd()),
        labels=parse_labels(raw),
        personalisation=_personalisation(_table(raw, "personalisation", required=False)),
        source_path=source_path,
        source_text=text,
    )
    _check_overlaps(config)
    return config


_ROLE_HINT = {
    "transaction_id": "the column that identifies each purchase or quote, e.g. transaction_id = \"order_no\"",
    "user_id": "the column that identifies the user, e.g. user_id = \"passenger_id\"",
    "timestamp": "the column with the purchase time, e.g. timestamp = \"req_time\"",
    "price": "the column with the price paid, e.g. price = \"fare_cny\"",
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


def _personalisation(table: dict) -> Personalisation:
    enabled = table.get("enabled", True)
    if not isinstance(enabled, bool):
        raise AuditConfigError(f"[personalisation] enabled must be true or false, got {enabled!r}")
    columns = table.get("columns", [])
    if not isinstance(columns, list) or not all(isinstance(c, str) and c.strip() for c in columns):
        raise AuditConfigError(f"[personalisation] columns must be a list of column names, e.g. columns = "
                               f"[\"phone_model\", \"app_version\"], got {columns!r}")
    max_users = table.get("max_users", 20_000)
    if isinstance(max_users, bool) or not isinstance(max_users, int) or max_users < 100:
        raise AuditConfigError(f"[personalisation] max_users must be an integer of at least 100, got {max_users!r}")
    rounding = _number(table, "personalisation", "rounding", 0.001, 0, 0.1, high_open=True)
    split = table.get("split", "auto")
    if split not in SPLITS:
        raise AuditConfigError(
            f"[personalisation] split must be one of {', '.join(SPLITS)} (auto: by week when the log allows, "
            f"else by day), got {split!r}")
    return Personalisation(enabled=enabled, columns=tuple(columns), max_users=max_users, rounding=rounding,
                           split=split)


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


def parse_duration(text: str) -> int:
    """'15m' -> 900 seconds. Units: s, m, h, d."""
    found = re.fullmatch(r"\s*(\d+)\s*([smhd])\s*", text)
    if not found or int(found[1]) == 0:
        raise ValueError(text)
    return int(found[1]) * _UNITS[found[2]]


def _match(table: dict) -> MatchSpec:
    exact = table.get("exact", [])
    if not isinstance(exact, list) or not all(isinstance(c, str) and c for c in exact):
        raise AuditConfigError('[match] exact must be a list of column names, e.g. exact = ["city", "car_level"]')
    if len(set(exact)) != len(exact):
        raise AuditConfigError(f"[match] exact lists a column twice: {exact}")
    bucket = table.get("time_bucket")
    seconds = None
    if bucket is not None:
        try:
            seconds = parse_duration(bucket) if isinstance(bucket, str) else None
        except ValueError:
            seconds = None
        if seconds is None:
            raise AuditConfigError(
                f"[match] time_bucket = {bucket!r} is not a duration: use a number and a unit s, m, h or d, e.g. \"15m\" or \"1h\"")
    bins = table.get("bins", {})
    if not isinstance(bins, dict):
        raise AuditConfigError("[match] bins must be a table of column = width, e.g. bins = { distance_m = 500 }")
    for name, width in bins.items():
        if isinstance(width, bool) or not isinstance(width, (int, float)) or not width > 0:
            raise AuditConfigError(f"[match] bins.{name} = {width!r}: a bin width must be a positive number")
        if name in exact:
            raise AuditConfigError(f"[match] column {name!r} is both an exact key and binned: keep one")
    if not exact and seconds is None and not bins:
        raise AuditConfigError(
            "[match] defines no comparability: set exact keys, a time_bucket or bins, "
            "otherwise every purchase would be compared with every other")
    return MatchSpec(exact=tuple(exact), time_bucket=bucket, time_bucket_seconds=seconds,
                     bins=tuple((name, float(width)) for name, width in bins.items()))


def _segments(raw: dict) -> tuple[Segment, ...]:
    items = raw.get("segments")
    if not items:
        raise AuditConfigError(
            "config has no [[segments]]: add at least one, e.g. [[segments]] name = \"Device\" "
            "column = \"os\" reference = \"android\" groups = [\"ios\"]")
    if not isinstance(items, list) or not all(isinstance(s, dict) for s in items):
        raise AuditConfigError("segments must be an array of tables: write each as [[segments]]")
    segments = []
    for i, item in enumerate(items):
        where = f"segments[{i}]"
        _check_keys(item, "segments")
        name = _string(item, where, "name")
        column = _string(item, where, "column")
        kind = item.get("kind", "group")
        if kind not in ("group", "dose"):
            raise AuditConfigError(f"[{where}] kind = {kind!r} is not known: use \"group\" (compare groups with a reference) or \"dose\" (a numeric attribute)")
        if kind == "dose":
            segments.append(_dose_segment(item, where, name, column))
            continue
        reference = item.get("reference")
        if reference is None or isinstance(reference, (bool, dict, list)):
            raise AuditConfigError(f"[{where}] reference is missing: name the group the others are compared with, e.g. reference = \"android\"")
        groups = item.get("groups")
        if not isinstance(groups, list) or not groups or any(isinstance(g, (bool, dict, list)) for g in groups):
            raise AuditConfigError(f"[{where}] groups must be a non-empty list of values, e.g. groups = [\"ios\"]")
        groups = [str(g) for g in groups]
        if str(reference) in groups:
            raise AuditConfigError(f"[{where}] the reference {reference!r} is also listed in groups: remove it from groups")
        if len(set(groups)) != len(groups):
            raise AuditConfigError(f"[{where}] groups lists a value twice: {groups}")
        segments.append(Segment(name=name, column=column, reference=str(reference), groups=tuple(groups)))
    names = [s.name for s in segments]
    if len(set(names)) != len(names):
        raise AuditConfigError(f"segment names must be unique, got {names}")
    return tuple(segments)


def _dose_segment(item: dict, where: str, name: str, column: str) -> Segment:
    for key in ("reference", "groups"):
        if key in item:
            raise AuditConfigError(f"[{where}] {key} is for kind = \"group\"; a dose segment uses bands instead (or none for the default)")
    bands = item.get("bands", [0, 1, 4, 16, 64, 256])
    if (not isinstance(bands, list) or len(bands) < 2 or any(isinstance(b, bool) or not isinstance(b, (int, float)) for b in bands)
            or any(b >= c for b, c in zip(bands, bands[1:])) or bands[0] < 0):
        raise AuditConfigError(f"[{where}] bands must be at least two increasing non-negative numbers (lower band edges), e.g. bands = [0, 1, 4, 16, 64]")
    return Segment(name=name, column=column, kind="dose", bands=tuple(float(b) for b in bands))


def _steering(raw: dict, match: dict) -> Steering | None:
    table = raw.get("steering")
    if table is None:
        return None
    if not isinstance(table, dict):
        raise AuditConfigError("[steering] must be a table with column, order and context")
    _check_keys(table, "steering")
    column = _string(table, "steering", "column", hint='the option offered or taken, e.g. column = "car_level"')
    order = table.get("order")
    if not isinstance(order, list) or len(order) < 2 or not all(isinstance(o, str) for o in order) or len(set(order)) != len(order):
        raise AuditConfigError('[steering] order must list the options cheapest first, at least two, e.g. order = ["economy", "comfort", "premium"]')
    default = [c for c in match.get("exact", []) if c != column]
    context = table.get("context", default)
    if not isinstance(context, list) or not all(isinstance(c, str) and c for c in context):
        raise AuditConfigError('[steering] context must be a list of columns that define the same request, e.g. context = ["city", "start_grid"]')
    if column in context:
        raise AuditConfigError(f"[steering] the option column {column!r} cannot be part of its own context: remove it from context")
    return Steering(column=column, order=tuple(order), context=tuple(context))


def _disclosed(cols: dict) -> str | None:
    value = cols.get("disclosed")
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise AuditConfigError(
            f"[columns] disclosed must be the name of the column that flags a price shown as personalised, "
            f"e.g. disclosed = \"price_notice_shown\" (true, 1 or yes on the purchases where the consumer was "
            f"told), got {value!r}")
    return value


def _parts(cols: dict) -> PriceParts:
    parts = PriceParts(**{k: _string(cols, "columns", k, required=False) for k in ("list_price", "discount", "net_price")})
    if len(parts.columns) == 1:
        raise AuditConfigError("[columns] list_price, discount and net_price: name at least two of them (any two imply the third), or none")
    return parts


def _quotes(raw: dict) -> Quotes | None:
    table = raw.get("quotes")
    if table is None:
        return None
    if not isinstance(table, dict):
        raise AuditConfigError("[quotes] must be a table with event_column, quote_value and purchase_value")
    _check_keys(table, "quotes")
    return Quotes(
        event_column=_string(table, "quotes", "event_column", hint='the column saying quote or purchase, e.g. event_column = "event"'),
        quote_value=_string(table, "quotes", "quote_value", hint='e.g. quote_value = "quote"'),
        purchase_value=_string(table, "quotes", "purchase_value", hint='e.g. purchase_value = "purchase"'),
        quoted_price=_string(table, "quotes", "quoted_price", required=False),
        request_id=_string(table, "quotes", "request_id", required=False),
    )


def _adjustments(raw: dict) -> tuple[Adjustment, ...]:
    items = raw.get("adjustments", [])
    if not isinstance(items, list) or not all(isinstance(a, dict) for a in items):
        raise AuditConfigError("adjustments must be an array of tables: write each as [[adjustments]] with name, column, value")
    out = []
    for i, item in enumerate(items):
        _check_keys(item, "adjustments")
        where = f"adjustments[{i}]"
        value = item.get("value")
        if value is None or isinstance(value, (bool, list, dict)):
            raise AuditConfigError(f"[{where}] value is missing: the value of the column that marks the lawful price factor")
        out.append(Adjustment(name=_string(item, where, "name"), column=_string(item, where, "column"), value=str(value)))
    return tuple(out)


def _sensitivity(raw: dict, match: dict) -> Sensitivity:
    table = raw.get("sensitivity", {})
    if not isinstance(table, dict):
        raise AuditConfigError("[sensitivity] must be a table")
    _check_keys(table, "sensitivity")
    exact = match.get("exact", [])
    leave_out = table.get("leave_out", exact[0] if exact else None)
    if leave_out is not None and leave_out not in exact:
        raise AuditConfigError(f"[sensitivity] leave_out = {leave_out!r} must be one of the exact match keys: {', '.join(exact)}")
    bins = table.get("bins", True)
    if not isinstance(bins, bool):
        raise AuditConfigError(f"[sensitivity] bins must be true or false, got {bins!r}")
    return Sensitivity(leave_out=leave_out, bins=bins)


def _test(table: dict) -> TestSpec:
    max_clusters = table.get("max_clusters", TestSpec.max_clusters)
    if isinstance(max_clusters, bool) or not isinstance(max_clusters, int) or max_clusters < 1000:
        raise AuditConfigError(f"[test] max_clusters must be an integer of at least 1000, got {max_clusters!r}")
    counts = {}
    for key, default, low in (("min_cells", 5, 1), ("min_users", 30, 2), ("placebo_splits", 200, 0), ("seed", 20260901, 0)):
        value = table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise AuditConfigError(f"[test] {key} must be an integer of at least {low}, got {value!r}")
        counts[key] = value
    rank_test = table.get("rank_test", True)
    if not isinstance(rank_test, bool):
        raise AuditConfigError(f"[test] rank_test must be true or false, got {rank_test!r}")
    flag_rule = table.get("flag_rule", "estimate")
    if flag_rule not in FLAG_RULES:
        raise AuditConfigError(f"[test] flag_rule must be one of {', '.join(repr(r) for r in FLAG_RULES)}, got {flag_rule!r}")
    return TestSpec(
        flag_rule=flag_rule,
        alpha=_number(table, "test", "alpha", 0.05, 0, 1, low_open=True, high_open=True),
        materiality=_number(table, "test", "materiality", 0.01, 0, 10),
        confidence=_number(table, "test", "confidence", 0.95, 0, 1, low_open=True, high_open=True),
        max_clusters=max_clusters,
        power=_number(table, "test", "power", 0.8, 0.5, 1, high_open=True),
        rank_test=rank_test,
        **counts,
    )


def _report(table: dict) -> ReportSpec:
    language = table.get("language", "en")
    if language not in LANGUAGES:
        raise AuditConfigError(f"[report] language = {language!r} is not available: use one of {', '.join(LANGUAGES)}")
    size = table.get("min_cell_size", 10)
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise AuditConfigError(f"[report] min_cell_size must be a positive integer, got {size!r}")
    return ReportSpec(language=language, min_cell_size=size)


def parse_labels(raw: dict) -> Labels:
    """The `[labels]` of a parsed TOML document (empty when there is none)."""
    return labels_from_table(_table(raw, "labels", required=False))


def _check_overlaps(config: AuditConfig) -> None:
    roles = {getattr(config.columns, r): r for r in ROLES}
    if len(roles) != len(ROLES):
        raise AuditConfigError("[columns] each role needs its own column: two roles name the same column")
    match_cols = set(config.match.exact) | {name for name, _ in config.match.bins}
    disclosed = config.columns.disclosed
    if disclosed and (disclosed in roles or disclosed in match_cols or disclosed in config.segment_columns):
        what = (f"the {roles[disclosed]} column" if disclosed in roles else
                "a match key" if disclosed in match_cols else "a segment's column")
        raise AuditConfigError(
            f"[columns] disclosed = {disclosed!r} is {what}: name the column that flags, per purchase, that the "
            f"price shown was personalised and the consumer was told (true, 1 or yes), or remove disclosed")
    kinds = {}
    for i, seg in enumerate(config.segments):
        if kinds.setdefault(seg.column, seg.kind) != seg.kind:
            raise AuditConfigError(f"[segments[{i}]] column {seg.column!r} is used both as a group and a dose segment: use one kind per column")
    for i, seg in enumerate(config.segments):
        if seg.column in match_cols:
            raise AuditConfigError(
                f"[segments[{i}]] column {seg.column!r} is also a match key: purchases are compared within cells "
                f"that fix the match keys, so a segment cannot be one; remove it from [match]")
        if seg.column in roles:
            raise AuditConfigError(f"[segments[{i}]] column {seg.column!r} is the {roles[seg.column]} column: segment by a user attribute instead")
    for col in match_cols:
        if col in roles:
            raise AuditConfigError(f"[match] {col!r} is the {roles[col]} column and cannot be a match key")

