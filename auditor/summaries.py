"""What the estimate engine is asked and what it answers, with no engine in sight.

The audit's comparisons (the plan) go in; per-comparison summaries come out.
Everything here is plain Python and NumPy, so findings, statistics and the
report can be read and tested without Spark (the engine lives in
auditor.engine.estimate).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from auditor import vocabulary
from auditor.spec import AuditConfig, MatchSpec
from auditor.stats.premium import ComparisonSummary

# Comparison kinds (vocabulary.Kind) as the plan's plain strings. Only group, dose and steering
# enter the audit's multiple-testing family; bands draw the dose curve, placebos check the method.
GROUP, DOSE, BAND, STEERING, PLACEBO = (k.value for k in (vocabulary.Kind.GROUP, vocabulary.Kind.DOSE,
                                                          vocabulary.Kind.BAND, vocabulary.Kind.STEERING,
                                                          vocabulary.Kind.PLACEBO))

# Outcomes compared for each group. Shares (0/1 outcomes) are compared as differences in
# percentage points; the others as ratios (differences in logs). The vocabulary says which.
SHARE_OUTCOMES = vocabulary.SHARE_OUTCOMES

# A balance check measures a row's position within its time bucket (this measure) or within
# a binned column's bin (the column's name): 0 at the start, 1 at the end.
TIME_POSITION = "time"


@dataclass(frozen=True)
class Comparison:
    """One thing compared: a group with its reference, a dose slope, a band, a steering or placebo split."""

    id: int
    kind: str
    segment: str
    column: str
    group: str
    reference: str
    segment_index: int = -1
    outcome: str = "price"
    exclude: tuple[str, str] | None = None  # (column, value) left out, for sensitivity re-estimates
    placebo_split: int = 0  # placebo: which seeded split of the reference users (1, 2, ...)
    match: MatchSpec | None = None  # cells under another matching rule (sensitivity); None: the audit's

    @property
    def in_family(self) -> bool:
        """Whether the comparison counts in the audit's false-discovery-rate family."""
        return self.kind in (GROUP, DOSE, STEERING)

    @property
    def ranked(self) -> bool:
        """Whether the comparison needs within-cell ranks (the rank test of group and dose findings,
        steering's tier price); bands, placebos and sensitivity variants need only the mean."""
        return self.kind in (GROUP, DOSE, STEERING) and self.match is None and self.exclude is None


@dataclass(frozen=True)
class EvidenceCell:
    """A matched cell that carries much of a comparison's weight (for the report)."""

    keys: dict
    time_bucket: int | None  # epoch seconds of the bucket start
    rows_group: int
    rows_reference: int
    users_group: int
    users_reference: int
    median_group: float
    median_reference: float
    weight_share: float


@dataclass(frozen=True)
class ComparisonData:
    """All the engine computed for one comparison."""

    comparison: Comparison
    primary: ComparisonSummary  # log price (steering: tier index)
    secondary: ComparisonSummary | None  # within-cell rank (steering: tier's mean log price)
    rows_group: int  # group rows in cells with support (dose: all rows in such cells)
    rows_reference: int
    rows_group_all: int
    rows_reference_all: int
    mean_group_all: float  # mean outcome of all group rows (raw comparison)
    mean_reference_all: float
    mean_group_matched: float  # the same, over cells with support only
    mean_reference_matched: float
    price_gap_matched: float  # Kitagawa price part: group-weighted within-cell gap
    pooled_clusters: bool
    odds_ratio: float = math.nan  # Mantel–Haenszel, for 0/1 outcomes
    evidence: tuple[EvidenceCell, ...] = field(default=())  # candidates, heaviest first; none withheld yet

    @property
    def coverage(self) -> float:
        """Share of the compared rows that fall in cells with support."""
        total = self.rows_group_all + self.rows_reference_all
        return (self.rows_group + self.rows_reference) / total if total else 0.0


@dataclass(frozen=True)
class LeftOut:
    """A comparison re-estimated without the cells of one value of a match key."""

    comparison: Comparison
    value: str
    summary: ComparisonSummary


@dataclass(frozen=True)
class Balance:
    """Where a comparison's group and reference purchases sit within their time bucket or bin (0 to 1),
    over the cells holding both sides."""

    measure: str  # TIME_POSITION or a binned column
    difference: float  # within-cell difference in mean position, weighted as the premium is
    mean_group: float
    mean_reference: float
    square_group: float  # mean squared position, for the variance
    square_reference: float

    @property
    def variances(self) -> tuple[float, float]:
        return (self.square_group - self.mean_group ** 2, self.square_reference - self.mean_reference ** 2)


@dataclass(frozen=True)
class InputFile:
    """One input file, fingerprinted for the report's provenance section."""

    path: str
    bytes: int
    sha256: str | None  # None for remote files the driver cannot read

    def to_json(self) -> dict:
        return {"path": self.path, "bytes": self.bytes, "sha256": self.sha256}


@dataclass(frozen=True)
class DataQuality:
    """What happened to every row read."""

    rows_read: int
    rows_accepted: int
    rows_rejected: int
    rejected_by_reason: dict[str, int]

    def to_json(self) -> dict:
        return {
            "rows_read": self.rows_read,
            "rows_accepted": self.rows_accepted,
            "rows_rejected": self.rows_rejected,
            "rejected_by_reason": dict(self.rejected_by_reason),
        }


def plan(config: AuditConfig) -> tuple[Comparison, ...]:
    """The audit's comparisons, numbered in config order."""
    items: list[dict] = []
    for i, seg in enumerate(config.segments):
        common = dict(segment=seg.name, column=seg.column, segment_index=i)
        if seg.kind == "dose":
            items.append(dict(kind=DOSE, group="per doubling", reference=f"log2(1 + {seg.column})", **common))
            items += [dict(kind=BAND, group=seg.band_label(j), reference=seg.band_label(0), **common)
                      for j in range(1, len(seg.bands))]
        else:
            items += [dict(kind=GROUP, group=g, reference=seg.reference, outcome=o, **common)
                      for g in seg.groups for o in outcomes(config)]
    if config.steering:
        for i, seg in enumerate(config.segments):
            if seg.kind == "group":
                items += [dict(kind=STEERING, segment=seg.name, column=seg.column, group=g, reference=seg.reference,
                               segment_index=i) for g in seg.groups]
    first = next((i for i, s in enumerate(config.segments) if s.kind == "group"), None)
    if first is not None:
        seg = config.segments[first]
        items += [dict(kind=PLACEBO, segment="Placebo", column=seg.column, group=f"split {s + 1}",
                       reference=f"{seg.reference} users", segment_index=first, placebo_split=s + 1)
                  for s in range(config.test.placebo_splits)]
    return tuple(Comparison(id=i, **item) for i, item in enumerate(items))


def outcomes(config: AuditConfig) -> tuple[str, ...]:
    """What is compared for each group, given the columns the log has."""
    out = ["price"]
    if config.parts.complete:
        out += ["list_price", "coupon_incidence", "coupon_amount"]
    if config.adjustments:
        out.append("price_undeclared")
    if config.quotes and config.quotes.quoted_price:
        out.append("quote_drift")
    if config.quotes and config.quotes.request_id:
        out.append("conversion")
    return tuple(out)
