"""The audit config: one TOML file, parsed once into frozen, validated objects.

Every later step trusts these objects. Anything wrong in the file stops here
with an `AuditConfigError` that names the key and says how to fix it.

The tables' readers live beside this module: keys and values (auditor.spec.keys), where the audit reads
from (auditor.spec.inputs) and what it compares (auditor.spec.comparisons).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from auditor.errors import AuditConfigError
from auditor.spec.comparisons import _match, _segments, _sensitivity, _steering, parse_duration  # noqa: F401
from auditor.spec.inputs import _baseline, _input
from auditor.spec.keys import _check_keys, _number, _string, _table
from auditor.spec.labels import Labels, labels_from_table
from auditor.spec.types import (FLAG_RULES, ROLES, SPLITS, Adjustment, AuditConfig, Columns, Personalisation,
                                PriceParts, Quotes, ReportSpec, TestSpec)
from auditor.vocabulary import LANGUAGES


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
    _check_disclosed(config, roles, match_cols)
    _check_segment_columns(config, roles, match_cols)
    for col in match_cols:
        if col in roles:
            raise AuditConfigError(f"[match] {col!r} is the {roles[col]} column and cannot be a match key")


def _check_disclosed(config: AuditConfig, roles: dict[str, str], match_cols: set[str]) -> None:
    """[columns] disclosed flags each purchase; it cannot be a role, a match key or a segment."""
    disclosed = config.columns.disclosed
    if disclosed and (disclosed in roles or disclosed in match_cols or disclosed in config.segment_columns):
        what = (f"the {roles[disclosed]} column" if disclosed in roles else
                "a match key" if disclosed in match_cols else "a segment's column")
        raise AuditConfigError(
            f"[columns] disclosed = {disclosed!r} is {what}: name the column that flags, per purchase, that the "
            f"price shown was personalised and the consumer was told (true, 1 or yes), or remove disclosed")


def _check_segment_columns(config: AuditConfig, roles: dict[str, str], match_cols: set[str]) -> None:
    """A segment's column is one kind of segment, and neither a match key nor a role."""
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
