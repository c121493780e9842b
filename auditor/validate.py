"""`auditor validate`: the pre-flight, and what a person should check before committing cluster time.

Everything here reads the config and a bounded sample of the input files
(pyarrow, the csv and json modules); no Spark session is started.
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from auditor.spec import AuditConfig
from auditor.errors import AuditInputError
from auditor.preflight import InputOverview, partition_folders, sample_records, preflight, sample_values
from auditor.vocabulary import RejectReason

SHOWN_VALUES = 6  # most common values listed per segment column
# More than this share of sampled rows rejected stops validate: the audit would have (next to) nothing to compare.
REJECTED_STOP_SHARE = 0.5
# Ingest's rules (auditor/ingest.py), in Python: blank edges, a plain decimal number, a timestamp that starts
# with a year and that Spark's cast reads (fromisoformat, with the forms Spark also takes written out).
_BLANK = " \t\n\r\f\x0b\u00a0\u3000"
_DECIMAL = re.compile(r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$")


def summary(config: AuditConfig, config_path: Path | str, sample_rows: int = 10_000,
            started: float | None = None) -> str:
    """A short text a person can check: files, columns per role, sampled segment values, the comparisons."""
    started = time.perf_counter() if started is None else started
    overview = preflight(config)
    checked = time.perf_counter() - started
    lines = [f"config: {config_path} ({config.name}, {config.platform})", _input_line(overview)]
    lines += _column_lines(config)
    if not overview.remote and overview.format != "table":
        lines += _value_check(overview, config, sample_rows)
    if not overview.remote:
        lines += _segment_value_lines(overview, config, sample_rows)
    lines += _comparison_lines(config)
    lines.append(f"ok: the audit would start (config and pre-flight checks took {checked:.2f} s)")
    return "\n".join(lines)


def _input_line(overview: InputOverview) -> str:
    """The input's files and bytes, or why they are not counted here."""
    if overview.remote:
        return (f"input: {overview.path} ({overview.format}): remote, so its files and columns are "
                "checked by Spark when the audit starts")
    count = len(overview.files)
    return (f"input: {overview.path} ({overview.format}): {count:,} file{'s' if count != 1 else ''}, "
            f"{_size(overview.bytes)}; {len(overview.columns)} columns")


def _column_lines(config: AuditConfig) -> list[str]:
    """The column for each role, match key, bin and segment, aligned."""
    cols, match = config.columns, config.match
    rows = [(role, getattr(cols, role)) for role in ("transaction_id", "user_id", "timestamp", "price")]
    rows += [(f"{part}", getattr(config.parts, part)) for part in ("list_price", "discount", "net_price")
             if getattr(config.parts, part)]
    rows += [("match exact", ", ".join(match.exact))] if match.exact else []
    rows += [("match bins", ", ".join(f"{name} (width {width:g})" for name, width in match.bins))] if match.bins else []
    rows += [("time bucket", f"{match.time_bucket} of {cols.timestamp}")] if match.time_bucket else []
    rows += [(f"segment {seg.name}", f"{seg.column} ({seg.kind})") for seg in config.segments]
    if config.steering:
        rows.append(("steering", f"{config.steering.column} within {', '.join(config.steering.context)}"))
    width = max(len(label) for label, _ in rows)
    return ["columns:"] + [f"  {label:<{width}}  {value}" for label, value in rows]


def _segment_value_lines(overview: InputOverview, config: AuditConfig, sample_rows: int) -> list[str]:
    """The most common values of each segment column in the sample, and configured values it lacks."""
    groups = [s for s in config.segments if s.kind == "group"]
    if not groups:
        return []
    sampled, counts = sample_values(overview, list(dict.fromkeys(s.column for s in groups)), sample_rows,
                                    config.input.csv_delimiter)
    lines = [f"segment values in the first {sampled:,} rows:"]
    for seg in groups:
        values = counts[seg.column]
        common = ", ".join(f"{'(blank)' if v is None else v} {n:,}" for v, n in values.most_common(SHOWN_VALUES))
        more = f", and {len(values) - SHOWN_VALUES:,} more values" if len(values) > SHOWN_VALUES else ""
        lines.append(f"  {seg.column}: {common}{more}")
        absent = [v for v in (seg.reference, *seg.groups) if values[v] == 0]
        if absent:
            lines.append(f"    not in the sample: {', '.join(repr(v) for v in absent)} "
                         "(the audit stops if a configured value never occurs; check spelling and case)")
    return lines


def _comparison_lines(config: AuditConfig) -> list[str]:
    """What the audit will compare, on which outcomes, and when it flags."""
    lines = ["the audit will compare, within cells of " + config.match.description + ":"]
    for seg in config.segments:
        if seg.kind == "group":
            lines.append(f"  {seg.name}: {', '.join(seg.groups)} against {seg.reference} ({seg.column})")
        else:
            lines.append(f"  {seg.name}: price per doubling of 1 + {seg.column}, and by bands from "
                         f"{seg.band_label(0)}")
    lines.append(f"  outcomes: {', '.join(_outcomes(config))}")
    if config.steering:
        lines.append(f"  steering: offered {config.steering.column} tier ({' < '.join(config.steering.order)})")
    lines.append(f"  flagged when q < {config.test.alpha:g} and |premium| >= {config.test.materiality:g}")
    return lines


def _outcomes(config: AuditConfig) -> list[str]:
    """The outcomes compared for each group, in words, given the columns the log has."""
    outcomes = ["price paid"]
    if config.parts.complete:
        outcomes += ["list price", "coupon incidence and amount"]
    if config.quotes:
        outcomes.append("prices on quote rows")
        outcomes += ["quote-to-final drift"] if config.quotes.quoted_price else []
        outcomes += ["conversion"] if config.quotes.request_id else []
    if config.adjustments:
        outcomes.append("price without declared adjustments (" + ", ".join(a.name for a in config.adjustments) + ")")
    return outcomes


def _size(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:,.1f} TiB"


def _number(value, typed: bool) -> float | None:
    if typed and isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    else:
        text = str(value).strip(_BLANK)
        if not _DECIMAL.match(text):
            return None
        number = float(text)
    return number if math.isfinite(number) else None


def _timestamp_ok(value, typed: bool) -> bool:
    if typed and (isinstance(value, (datetime, date)) or (isinstance(value, (int, float))
                                                          and not isinstance(value, bool))):
        return True  # a typed timestamp, or epoch seconds
    text = str(value).strip(_BLANK)
    if not re.match(r"^[0-9]{4}-", text):
        return False  # ingest's rule: Spark would turn 'yesterday' or 'now' into a time
    # Spark also takes one-digit months and days and a month alone: written out as fromisoformat wants them.
    text = re.sub(r"^([0-9]{4})-([0-9]{1,2})(?:-([0-9]{1,2}))?(?![0-9])",
                  lambda m: f"{m[1]}-{int(m[2]):02d}-{int(m[3] or 1):02d}", text)
    for candidate in (text, re.sub(r"\s*[A-Za-z][A-Za-z0-9_/+-]*$", "", text)):  # a zone name, e.g. Asia/Shanghai
        try:
            datetime.fromisoformat(candidate)
            return True
        except ValueError:
            continue
    return False


def _missing(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip(_BLANK))


@dataclass(frozen=True)
class _IngestRules:
    """The columns ingest reads and checks, as the sample can show them (partition folders aside: Spark adds
    those columns, and a row read from the file alone has none)."""

    required: tuple[str, ...]  # blank: missing_value
    numbers: tuple[str, ...]  # not a plain decimal: unparseable_number
    parts: tuple[str, ...]  # price parts: unparseable when not blank and not a number
    timestamp: str | None  # None: a partition folder
    price: str | None
    typed: bool  # Parquet: values come typed

    @classmethod
    def of(cls, overview: InputOverview, config: AuditConfig) -> _IngestRules:
        cols = config.columns
        numbers = [cols.price, *(name for name, _ in config.match.bins)]
        parts = [c for c in config.parts.columns if c not in numbers]
        required = [*config.required_columns, *(c for c in (config.parts.list_price, config.parts.net_price) if c)]
        folders = set(partition_folders(overview.files, overview.path))

        def read(columns):
            return tuple(c for c in columns if c not in folders)

        return cls(read(required), read(numbers), read(parts), None if cols.timestamp in folders else cols.timestamp,
                   None if cols.price in folders else cols.price, overview.format == "parquet")

    def wanted(self, timestamp: str) -> list[str]:
        return list(dict.fromkeys([*self.required, *self.numbers, *self.parts, timestamp]))

    def reject(self, record: dict) -> tuple[str, str] | None:
        """The first reason ingest would reject the row for (its order), and the column at fault."""
        blank = next((c for c in self.required if _missing(record.get(c))), None)
        if blank is not None:
            return RejectReason.MISSING_VALUE.value, blank
        bad = next((c for c in self.numbers if _number(record.get(c), self.typed) is None), None)
        bad = bad or next((c for c in self.parts if not _missing(record.get(c))
                           and _number(record.get(c), self.typed) is None), None)
        if bad is not None:
            return RejectReason.UNPARSEABLE_NUMBER.value, bad
        if self.timestamp is not None and not _timestamp_ok(record.get(self.timestamp), self.typed):
            return RejectReason.UNPARSEABLE_TIMESTAMP.value, self.timestamp
        if self.price is not None and _number(record.get(self.price), self.typed) <= 0:
            return RejectReason.NONPOSITIVE_PRICE.value, self.price
        return None


def _sample(overview: InputOverview, config: AuditConfig, wanted: list[str], rows: int):
    """The first `rows` records of the input's files, with the `wanted` columns."""
    seen = 0
    for file in overview.files:
        if seen >= rows:
            break
        for record in sample_records(file, overview.format, wanted, rows - seen, config.input.csv_delimiter):
            seen += 1
            yield record


def sample_rejects(overview: InputOverview, config: AuditConfig, rows: int) -> tuple[int, Counter, dict]:
    """Rows of the first `rows` that ingest would reject, by reason, as ingest decides it (first reason that
    applies; duplicates aside), and one example value per reason: (rows sampled, counts, examples)."""
    rules = _IngestRules.of(overview, config)
    counts: Counter = Counter()
    examples: dict[str, tuple[str, object]] = {}
    seen = 0
    for record in _sample(overview, config, rules.wanted(config.columns.timestamp), rows):
        seen += 1
        rejected = rules.reject(record)
        if rejected is not None:
            reason, column = rejected
            counts[reason] += 1
            examples.setdefault(reason, (column, record.get(column)))
    return seen, counts, examples


def _value_check(overview: InputOverview, config: AuditConfig, rows: int) -> list[str]:
    """The sample's values parsed as ingest will parse them: a line when some rows would be rejected, and a
    stop (with the counts by reason) when most would be, since the audit would then have nothing to compare."""
    seen, counts, examples = sample_rejects(overview, config, rows)
    notes = _quote_check(overview, config, rows)
    if not seen or not counts:
        return ([f"values: all {seen:,} sampled rows parse as the audit reads them"] if seen else []) + notes
    total = sum(counts.values())
    reasons = ", ".join(f"{reason} {n:,} (e.g. {examples[reason][0]} = {examples[reason][1]!r})"
                        for reason, n in counts.most_common())
    if total > REJECTED_STOP_SHARE * seen:
        raise AuditInputError(
            f"[columns] {total:,} of the first {seen:,} rows would be rejected ({reasons}): the audit would have "
            "next to nothing to compare; check the columns named and their values")
    return [f"values: {total:,} of the first {seen:,} rows would be rejected ({reasons}); "
            "the audit keeps them in rejected/ with their reason"] + notes


def _quote_check(overview: InputOverview, config: AuditConfig, rows: int) -> list[str]:
    """A quote log's event and quoted-price columns, as the estimate reads them: rows whose event is neither
    the quote nor the purchase value take part in no quote comparison, and a purchase row whose quoted price
    is not a positive number has no drift. Said in a line each, with counts; they stop nothing."""
    quotes = config.quotes
    if quotes is None:
        return []
    typed = overview.format == "parquet"
    wanted = [c for c in (quotes.event_column, quotes.quoted_price) if c]
    events: Counter = Counter()
    unpriced = purchases = 0
    for record in _sample(overview, config, wanted, rows):
        event = _event(record.get(quotes.event_column))
        events[event] += 1
        if quotes.quoted_price and event == quotes.purchase_value:
            purchases += 1
            unpriced += not _positive(record.get(quotes.quoted_price), typed)
    return [*_other_events_line(events, quotes), *([
        f"quotes: {unpriced:,} of {purchases:,} sampled purchase rows have no positive "
        f"{quotes.quoted_price} (no quote-to-final drift for them)"] if unpriced else [])]


def _event(value) -> str | None:
    return None if value is None else str(value).strip()


def _positive(value, typed: bool) -> bool:
    """Whether a sampled value parses as ingest parses it, to a positive number."""
    number = None if _missing(value) else _number(value, typed)
    return number is not None and number > 0


def _other_events_line(events: Counter, quotes) -> list[str]:
    """A line when some sampled rows have an event that is neither the quote nor the purchase value."""
    known = (quotes.quote_value, quotes.purchase_value)
    other = sum(n for e, n in events.items() if e not in known)
    if not other:
        return []
    shown = ", ".join(f"{'(blank)' if e is None else repr(e)} {n:,}" for e, n in events.most_common(4) if e not in known)
    return [f"quotes: {other:,} of the first {sum(events.values()):,} rows have an event other than "
            f"{quotes.quote_value!r} or {quotes.purchase_value!r} ({shown}): they take part in no quote comparison"]
