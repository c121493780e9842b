"""The audit config's frozen types: what a validated audit.toml is.

Every later step trusts these objects; `auditor.spec.parse` builds them from the TOML text.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from auditor.spec.labels import Labels

FORMATS = ("parquet", "csv", "json")
ROLES = ("transaction_id", "user_id", "timestamp", "price")

# A catalog table's input format: the table's own (Parquet, ORC, Delta, ...) comes from the catalog.
TABLE = "table"


@dataclass(frozen=True)
class InputSpec:
    """Where the log is and how to read it: files (path and format) or a catalog table (table, where)."""

    path: str | None  # absolute path, folder or glob; None for a catalog table
    format: str  # parquet | csv | json, or "table"
    timezone: str = "UTC"
    csv_delimiter: str = ","
    table: str | None = None  # a catalog table, e.g. "db.rides"
    where: str | None = None  # a Spark SQL predicate applied at the table's scan (partition pruning)

    @property
    def typed(self) -> bool:
        """Columns arrive typed (Parquet, catalog tables), not as text to parse (CSV, JSON)."""
        return self.format in ("parquet", TABLE)

    @property
    def description(self) -> str:
        """What is read, in words, for progress lines and errors."""
        if self.table:
            return f"table {self.table}" + (f" where {self.where}" if self.where else "")
        return f"{self.format} from {self.path}"


@dataclass(frozen=True)
class Baseline:
    """An earlier audit's findings.json this audit is compared with."""

    findings: str  # absolute path


@dataclass(frozen=True)
class Columns:
    """The platform's column for each role the audit needs."""

    transaction_id: str
    user_id: str
    timestamp: str
    price: str
    # A per-purchase flag that the price shown was personalised and the consumer was told (optional):
    # the personalisation analysis then reads undisclosed and disclosed purchases apart.
    disclosed: str | None = None


# [personalisation] split: "auto" splits by week when the log holds enough users with shared cells in two
# weeks, else by day (with a note); "week", "day" and "cell" split by that unit whatever the data.
SPLITS = ("auto", "week", "day", "cell")

# Values of [columns] disclosed read as "disclosed" (case and blanks ignored); any other value,
# or none, is read as undisclosed: the rules ask the platform to show that it told the consumer.
DISCLOSED_VALUES = ("true", "1", "yes", "y", "t")


@dataclass(frozen=True)
class MatchSpec:
    """What makes two purchases comparable: equal keys, same time bucket, same bins."""

    exact: tuple[str, ...]
    time_bucket: str | None = None
    time_bucket_seconds: int | None = None
    bins: tuple[tuple[str, float], ...] = ()

    @property
    def description(self) -> str:
        """The matching rule in words, for reports."""
        parts = list(self.exact)
        if self.time_bucket:
            parts.append(f"time ({self.time_bucket} buckets)")
        parts += [f"{name} (bins of {width:g})" for name, width in self.bins]
        return ", ".join(parts)


@dataclass(frozen=True)
class Segment:
    """A user attribute compared across its values.

    kind "group": each group is compared with the reference group.
    kind "dose": a numeric attribute (e.g. prior orders); the premium per doubling
    of (1 + value), and a curve over bands of the value against the lowest band.
    """

    name: str
    column: str
    reference: str = ""
    groups: tuple[str, ...] = ()
    kind: str = "group"
    bands: tuple[float, ...] = ()  # dose: lower edges of the bands, the first is the reference band

    def band_label(self, i: int) -> str:
        """Integer edges (counts) name the values a band holds: 1, 2–3, 16+. Fractional edges (a share)
        name its edges, the upper one excluded: 0–0.05, 0.05–0.1, 0.5+."""
        low = self.bands[i]
        if i + 1 < len(self.bands):
            high = self.bands[i + 1]
            if float(low).is_integer() and float(high).is_integer():
                return f"{low:g}" if high - low == 1 else f"{low:g}–{high - 1:g}"
            return f"{low:g}–{high:g}"
        return f"{low:g}+"


@dataclass(frozen=True)
class PriceParts:
    """Optional price components: any two of list price, discount and net price imply the third."""

    list_price: str | None = None
    discount: str | None = None
    net_price: str | None = None

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(c for c in (self.list_price, self.discount, self.net_price) if c)

    @property
    def complete(self) -> bool:
        return len(self.columns) >= 2


@dataclass(frozen=True)
class Quotes:
    """A log of quotes and purchases: conversion and quote-to-final drift by segment."""

    event_column: str
    quote_value: str
    purchase_value: str
    quoted_price: str | None = None
    request_id: str | None = None


@dataclass(frozen=True)
class Adjustment:
    """A declared, lawful price factor (e.g. a published new-user promotion)."""

    name: str
    column: str
    value: str


@dataclass(frozen=True)
class Sensitivity:
    """Re-estimates of flagged findings under reasonable changes."""

    leave_out: str | None = None  # a match key whose values are left out one at a time
    bins: bool = True  # numeric bins halved and doubled


@dataclass(frozen=True)
class Steering:
    """The option column whose tiers (cheapest first) are compared within the same request context."""

    column: str
    order: tuple[str, ...]
    context: tuple[str, ...]


@dataclass(frozen=True)
class TestSpec:
    """How findings are tested and when they are flagged."""

    alpha: float = 0.05  # false discovery rate across all comparisons
    materiality: float = 0.01  # smallest |premium| worth flagging
    confidence: float = 0.95  # level of the reported intervals
    max_clusters: int = 200_000  # user scores beyond this are pooled into hash buckets
    power: float = 0.8  # for the minimum detectable effect
    min_cells: int = 5  # fewer matched cells than this: insufficient data
    min_users: int = 30  # fewer matched users than this on either side (a dose: in all): insufficient data
    rank_test: bool = True  # the stratified (van Elteren) rank test beside the mean premium
    placebo_splits: int = 200  # self-check: users split at random by a seeded hash, tested alike (0: none)
    seed: int = 20260901  # seeds the placebo splits
    flag_rule: str = "estimate"  # one of FLAG_RULES: what must reach the materiality threshold


# What must reach materiality for a significant premium to be flagged: the point estimate
# ("estimate"), or the whole confidence interval ("interval").
FLAG_RULES = ("estimate", "interval")


@dataclass(frozen=True)
class Personalisation:
    """Is pricing personalised? (auditor/stats/personal.py): on unless switched off.

    `columns`: user-level columns to search beyond the segments and match keys (phone model,
    app version, city of registration...); `max_users`: the users whose purchases the attribute
    tests read (a seeded sample when there are more); `rounding`: price differences below this
    share of the price are rounding, not dispersion.
    """

    enabled: bool = True
    columns: tuple[str, ...] = ()
    max_users: int = 20_000
    rounding: float = 0.001
    split: str = "auto"  # what each user's purchases are split into halves by: auto, week, day or cell


@dataclass(frozen=True)
class ReportSpec:
    """How the HTML report is written."""

    language: str = "en"
    min_cell_size: int = 10  # fewest distinct users a published cell may hold


@dataclass(frozen=True)
class AuditConfig:
    """A whole audit, as described by its TOML file."""

    name: str
    platform: str
    input: InputSpec
    columns: Columns
    match: MatchSpec
    segments: tuple[Segment, ...]
    test: TestSpec = field(default_factory=TestSpec)
    report: ReportSpec = field(default_factory=ReportSpec)
    steering: Steering | None = None
    parts: PriceParts = field(default_factory=PriceParts)
    quotes: Quotes | None = None
    adjustments: tuple[Adjustment, ...] = ()
    sensitivity: Sensitivity = field(default_factory=Sensitivity)
    labels: Labels = field(default_factory=Labels)
    period: str | None = None
    baseline: Baseline | None = None
    personalisation: Personalisation = field(default_factory=Personalisation)
    source_path: str | None = None
    source_text: str = ""

    @property
    def sha256(self) -> str:
        """Fingerprint of the exact config text the audit ran with."""
        return hashlib.sha256(self.source_text.encode("utf-8")).hexdigest()

    @property
    def required_columns(self) -> tuple[str, ...]:
        """Columns a row must have a value in to be audited."""
        cols = [*(getattr(self.columns, r) for r in ROLES), *self.match.exact]
        cols += [name for name, _ in self.match.bins]
        return tuple(dict.fromkeys(cols))

    @property
    def segment_columns(self) -> tuple[str, ...]:
        cols = [s.column for s in self.segments]
        if self.steering:
            cols.append(self.steering.column)
        return tuple(dict.fromkeys(c for c in cols if c not in self.match.exact))

    @property
    def dose_columns(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s.column for s in self.segments if s.kind == "dose"))

    @property
    def context_columns(self) -> tuple[str, ...]:
        """Steering context columns not already read as match keys."""
        if not self.steering:
            return ()
        return tuple(c for c in self.steering.context if c not in self.required_columns)

    @property
    def optional_columns(self) -> tuple[str, ...]:
        """Columns read when present in a row but not required: price parts, quote fields, adjustments."""
        cols = [*self.parts.columns, *(a.column for a in self.adjustments)]
        if self.columns.disclosed and self.personalisation.enabled:
            cols.append(self.columns.disclosed)
        if self.quotes:
            cols += [c for c in (self.quotes.event_column, self.quotes.quoted_price, self.quotes.request_id) if c]
        return tuple(c for c in dict.fromkeys(cols) if c not in self.required_columns)

    @property
    def attribute_columns(self) -> tuple[str, ...]:
        """Columns the analyst lists for the personalisation search (`[personalisation] columns`): they must
        exist in the input; the search reads them, with every other candidate, from the input on its own."""
        if not self.personalisation.enabled:
            return ()
        return tuple(dict.fromkeys(self.personalisation.columns))

    @property
    def not_attributes(self) -> tuple[str, ...]:
        """Columns the personalisation search never scans: the roles, the price parts and quote fields, the
        match keys (the same for every purchase of a cell, so no user differs from the others on them)."""
        cols = [*(getattr(self.columns, r) for r in ROLES), *self.match.exact, *(n for n, _ in self.match.bins),
                *self.parts.columns, *([self.columns.disclosed] if self.columns.disclosed else [])]
        if self.quotes:
            cols += [c for c in (self.quotes.event_column, self.quotes.quoted_price, self.quotes.request_id) if c]
        return tuple(dict.fromkeys(cols))

    @property
    def used_columns(self) -> tuple[str, ...]:
        """Every input column the audit reads (all others are pruned at the scan)."""
        return tuple(dict.fromkeys(self.required_columns + self.segment_columns + self.context_columns
                                   + self.optional_columns))
