"""Audits over time: each comparison of an earlier audit set against the same comparison now.

Pure functions over two findings.json documents (no Spark). The two audits are
independent samples (different months, or before and after a platform's fix),
so the change in log premium has variance se_old² + se_new², with Welch–
Satterthwaite degrees of freedom from each side's t degrees of freedom.
A comparison is compared only when it means the same thing in both audits:
the same column, reference, kind and scale, under the same matching keys and
materiality; otherwise it is listed as not comparable, with the reasons.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from scipy import stats

from auditor.errors import AuditInputError
from auditor.vocabulary import Scale


@dataclass(frozen=True)
class Change:
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

    def to_json(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class NotComparable:
    """A comparison in both audits whose definition changed, or whose premium is undefined in one."""

    segment: str
    group: str
    outcome: str
    reasons: tuple[dict, ...]  # {"field": "match", "before": "city", "after": "city, car_level"}

    def to_json(self) -> dict:
        return {"segment": self.segment, "group": self.group, "outcome": self.outcome,
                "reasons": [dict(r) for r in self.reasons]}


@dataclass(frozen=True)
class AuditChanges:
    """An audit compared with an earlier one."""

    before: dict  # name, period, started_at, config_sha256, path of the earlier audit
    after: dict
    confidence: float
    alpha: float
    changes: tuple[Change, ...]
    not_comparable: tuple[NotComparable, ...]
    only_before: tuple[dict, ...]  # {"segment", "group", "outcome"}
    only_after: tuple[dict, ...]

    def to_json(self) -> dict:
        return {"before": self.before, "after": self.after, "confidence": self.confidence, "alpha": self.alpha,
                "changes": [c.to_json() for c in self.changes],
                "not_comparable": [n.to_json() for n in self.not_comparable],
                "only_before": list(self.only_before), "only_after": list(self.only_after)}


def load_findings(path: str | Path, key: str = "[baseline] findings") -> dict:
    """An earlier findings.json, checked enough to compare with."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AuditInputError(f"{key}: {path} does not exist: name the earlier audit's findings.json") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AuditInputError(f"{key}: {path} is not a readable findings.json: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("findings"), list) or not isinstance(doc.get("audit"), dict):
        raise AuditInputError(f"{key}: {path} is not a findings.json (no audit and findings): name an audit's findings.json")
    return doc


def change_interval(before: float, se_before: float, dof_before: float, after: float, se_after: float,
                    dof_after: float, confidence: float) -> tuple[float, float, float, float, float]:
    """Difference after − before of two independent estimates: (difference, low, high, p, dof).

    Welch–Satterthwaite degrees of freedom; infinite dof (or undefined) falls back to the normal.
    """
    variance = se_before ** 2 + se_after ** 2
    difference = after - before
    if not variance > 0 or not math.isfinite(variance):
        return difference, math.nan, math.nan, math.nan, math.nan
    terms = [s ** 4 / d for s, d in ((se_before, dof_before), (se_after, dof_after)) if d and d > 0 and math.isfinite(d)]
    dof = variance ** 2 / sum(terms) if len(terms) == 2 and sum(terms) > 0 else math.inf
    se = math.sqrt(variance)
    quantile = stats.t.ppf(0.5 + confidence / 2, dof) if math.isfinite(dof) else stats.norm.ppf(0.5 + confidence / 2)
    p = 2 * (stats.t.sf(abs(difference) / se, dof) if math.isfinite(dof) else stats.norm.sf(abs(difference) / se))
    return difference, difference - quantile * se, difference + quantile * se, float(p), float(dof)


def compare(before: dict, after: dict, before_path: str | None = None, after_path: str | None = None) -> AuditChanges:
    """Set each comparison of `after` against the same comparison in `before` (two findings.json dicts)."""
    old_audit, new_audit = before["audit"], after["audit"]
    confidence = float(new_audit.get("confidence") or 0.95)
    alpha = float(new_audit.get("alpha") or 0.05)
    audit_reasons = []
    for field in ("match", "materiality"):
        if old_audit.get(field) != new_audit.get(field):
            audit_reasons.append({"field": field, "before": old_audit.get(field), "after": new_audit.get(field)})
    old = {_identity(f): f for f in before["findings"]}
    new = {_identity(f): f for f in after["findings"]}
    changes, not_comparable = [], []
    for key, f_new in new.items():
        f_old = old.get(key)
        if f_old is None:
            continue
        reasons = list(audit_reasons)
        for field in ("column", "reference", "kind", "scale"):
            if f_old.get(field) != f_new.get(field):
                reasons.append({"field": field, "before": f_old.get(field), "after": f_new.get(field)})
        if not all(_finite(f.get(k)) for f in (f_old, f_new) for k in ("premium", "se_log")):
            # An undefined estimate (e.g. no common support) has nothing to compare.
            reasons.append({"field": "premium", "before": f_old.get("premium"), "after": f_new.get("premium")})
        if reasons:
            not_comparable.append(NotComparable(*key, reasons=tuple(reasons)))
            continue
        changes.append(_change(f_old, f_new, confidence, alpha))
    only = lambda a, b: tuple({"segment": k[0], "group": k[1], "outcome": k[2]} for k in a if k not in b)  # noqa: E731
    return AuditChanges(
        before=_summary(old_audit, before_path), after=_summary(new_audit, after_path),
        confidence=confidence, alpha=alpha, changes=tuple(changes), not_comparable=tuple(not_comparable),
        only_before=only(old, new), only_after=only(new, old))


def same_audit(before: dict, after: dict) -> bool:
    """Both documents are one audit (the same run of the same config with the same findings): comparing
    them tests nothing, whatever the numbers say."""
    keys = ("started_at", "config_sha256", "finished_at")
    return all(before["audit"].get(k) == after["audit"].get(k) for k in keys) \
        and before.get("findings") == after.get("findings")


def _identity(finding: dict) -> tuple[str, str, str]:
    return (str(finding.get("segment")), str(finding.get("group")), str(finding.get("outcome")))


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _change(f_old: dict, f_new: dict, confidence: float, alpha: float) -> Change:
    ratio = f_new.get("scale", Scale.RATIO) == Scale.RATIO
    # Ratio premiums are compared on the log scale their standard errors are on.
    to_scale = (lambda p: math.log1p(p)) if ratio else (lambda p: p)
    back = (lambda d: math.expm1(d)) if ratio else (lambda d: d)
    difference, low, high, p, dof = change_interval(
        to_scale(f_old["premium"]), f_old["se_log"], _dof(f_old), to_scale(f_new["premium"]), f_new["se_log"],
        _dof(f_new), confidence)
    return Change(
        segment=str(f_new["segment"]), group=str(f_new["group"]), reference=str(f_new.get("reference")),
        outcome=str(f_new["outcome"]), scale=Scale.RATIO if ratio else Scale.DIFFERENCE,
        premium_before=f_old["premium"], premium_after=f_new["premium"],
        change=back(difference), ci_low=back(low) if _finite(low) else math.nan,
        ci_high=back(high) if _finite(high) else math.nan, p_value=p, dof=dof,
        significant=_finite(p) and p < alpha,
        verdict_before=str(f_old.get("verdict")), verdict_after=str(f_new.get("verdict")))


def _dof(finding: dict) -> float:
    dof = finding.get("dof")
    return float(dof) if _finite(dof) and dof > 0 else math.inf


def _summary(audit: dict, path: str | None) -> dict:
    return {"name": audit.get("name"), "period": audit.get("period"), "started_at": audit.get("started_at"),
            "config_sha256": audit.get("config_sha256"), "path": path}
