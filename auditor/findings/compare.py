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

import math
from pathlib import Path

from scipy import stats

from auditor.findings.changes import AuditChanges, AuditSummary, Change, ComparisonKey, Difference, NotComparable
from auditor.findings.document import AuditFindings, AuditRecord, Finding
from auditor.findings.reader import load
from auditor.vocabulary import Scale


def load_findings(path: str | Path, key: str = "[baseline] findings") -> AuditFindings:
    """An earlier findings.json, read into the model (any schema version); `key` names it in errors."""
    return load(Path(path), key)


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


def compare(before: AuditFindings | dict, after: AuditFindings | dict, before_path: str | None = None,
            after_path: str | None = None) -> AuditChanges:
    """Set each comparison of `after` against the same comparison in `before` (the model, or findings.json
    as a dict)."""
    before, after = load(before), load(after)
    old_audit, new_audit = before.audit, after.audit
    confidence = float(new_audit.confidence or 0.95)
    alpha = float(new_audit.alpha or 0.05)
    audit_reasons = [Difference(name, getattr(old_audit, name), getattr(new_audit, name))
                     for name in ("match", "materiality") if getattr(old_audit, name) != getattr(new_audit, name)]
    old = {_identity(f): f for f in before.findings}
    new = {_identity(f): f for f in after.findings}
    changes, not_comparable = [], []
    for key, f_new in new.items():
        f_old = old.get(key)
        if f_old is None:
            continue
        reasons = audit_reasons + _definition_changes(f_old, f_new)
        if reasons:
            not_comparable.append(NotComparable(*key, reasons=tuple(reasons)))
            continue
        changes.append(_change(f_old, f_new, confidence, alpha))
    only = lambda a, b: tuple(ComparisonKey(*k) for k in a if k not in b)  # noqa: E731
    return AuditChanges(
        before=_summary(old_audit, before_path), after=_summary(new_audit, after_path),
        confidence=confidence, alpha=alpha, changes=tuple(changes), not_comparable=tuple(not_comparable),
        only_before=only(old, new), only_after=only(new, old))


def _definition_changes(f_old: Finding, f_new: Finding) -> list[Difference]:
    """What makes one comparison mean something else in the two audits (or leaves nothing to compare)."""
    reasons = [Difference(name, getattr(f_old, name), getattr(f_new, name))
               for name in ("column", "reference", "kind", "scale") if getattr(f_old, name) != getattr(f_new, name)]
    if not all(_finite(getattr(f, k)) for f in (f_old, f_new) for k in ("premium", "se_log")):
        # An undefined estimate (e.g. no common support) has nothing to compare.
        reasons.append(Difference("premium", f_old.premium, f_new.premium))
    return reasons


def same_audit(before: AuditFindings | dict, after: AuditFindings | dict) -> bool:
    """Both documents are one audit (the same run of the same config with the same findings): comparing
    them tests nothing, whatever the numbers say."""
    before, after = load(before), load(after)
    keys = ("started_at", "config_sha256", "finished_at")
    return all(getattr(before.audit, k) == getattr(after.audit, k) for k in keys) \
        and before.findings == after.findings


def _identity(finding: Finding) -> tuple[str, str, str]:
    return (str(finding.segment), str(finding.group), str(finding.outcome))


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _change(f_old: Finding, f_new: Finding, confidence: float, alpha: float) -> Change:
    ratio = (f_new.scale or Scale.RATIO) == Scale.RATIO
    # Ratio premiums are compared on the log scale their standard errors are on.
    to_scale = (lambda p: math.log1p(p)) if ratio else (lambda p: p)
    back = (lambda d: math.expm1(d)) if ratio else (lambda d: d)
    difference, low, high, p, dof = change_interval(
        to_scale(f_old.premium), f_old.se_log, _dof(f_old), to_scale(f_new.premium), f_new.se_log,
        _dof(f_new), confidence)
    return Change(
        segment=str(f_new.segment), group=str(f_new.group), reference=str(f_new.reference),
        outcome=str(f_new.outcome), scale=Scale.RATIO if ratio else Scale.DIFFERENCE,
        premium_before=f_old.premium, premium_after=f_new.premium,
        change=back(difference), ci_low=back(low) if _finite(low) else math.nan,
        ci_high=back(high) if _finite(high) else math.nan, p_value=p, dof=dof,
        significant=_finite(p) and p < alpha,
        verdict_before=str(f_old.verdict), verdict_after=str(f_new.verdict))


def _dof(finding: Finding) -> float:
    dof = finding.dof
    return float(dof) if _finite(dof) and dof > 0 else math.inf


def _summary(audit: AuditRecord, path: str | None) -> AuditSummary:
    return AuditSummary(audit.name, audit.period, audit.started_at, audit.config_sha256, path)
