"""An audit compared with an earlier one (findings.json `baseline`), as frozen types: each comparison in
both audits with its change, those whose definition changed, and those in only one. Built by
auditor.findings.compare, read back by auditor.findings.load."""

from __future__ import annotations

from dataclasses import dataclass

from auditor.findings.model import Plain, read, read_all


@dataclass(frozen=True)
class Change(Plain):
    """One comparison in both audits: its premium then and now, and the change with an interval."""

    segment: str
    group: str
    reference: str
    outcome: str
    scale: str  # "ratio": premiums exp(beta) - 1, change = exp(beta_new - beta_old) - 1; "difference": shares
    premium_before: float
    premium_after: float
    change: float
    ci_low: float
    ci_high: float
    p_value: float
    dof: float
    significant: bool  # p < alpha of the newer audit
    verdict_before: str
    verdict_after: str


@dataclass(frozen=True)
class Difference(Plain):
    """What makes a comparison not comparable: a field's value before and after."""

    field: str
    before: object
    after: object


@dataclass(frozen=True)
class NotComparable(Plain):
    """A comparison in both audits whose definition changed, or whose premium is undefined in one."""

    segment: str
    group: str
    outcome: str
    reasons: tuple[Difference, ...]  # e.g. field "match", before "city", after "city, car_level"

    @classmethod
    def from_json(cls, doc):
        return read(cls, doc, reasons=read_all(Difference, doc.get("reasons"))) if isinstance(doc, dict) else None


@dataclass(frozen=True)
class ComparisonKey(Plain):
    """A comparison by name: segment, group, outcome."""

    segment: str
    group: str
    outcome: str


@dataclass(frozen=True)
class AuditSummary(Plain):
    """Which audit: its name, period, when it ran, its config's SHA-256 and the file compared."""

    name: str | None = None
    period: str | None = None
    started_at: str | None = None
    config_sha256: str | None = None
    path: str | None = None


@dataclass(frozen=True)
class AuditChanges(Plain):
    """An audit compared with an earlier one."""

    before: AuditSummary
    after: AuditSummary
    confidence: float
    alpha: float
    changes: tuple[Change, ...]
    not_comparable: tuple[NotComparable, ...]
    only_before: tuple[ComparisonKey, ...]
    only_after: tuple[ComparisonKey, ...]

    @classmethod
    def from_json(cls, doc):
        if not isinstance(doc, dict):
            return None
        return cls(AuditSummary.from_json(doc.get("before")) or AuditSummary(),
                   AuditSummary.from_json(doc.get("after")) or AuditSummary(),
                   doc.get("confidence"), doc.get("alpha"), read_all(Change, doc.get("changes")),
                   read_all(NotComparable, doc.get("not_comparable")), read_all(ComparisonKey, doc.get("only_before")),
                   read_all(ComparisonKey, doc.get("only_after")))
