"""Sensitivity of flagged findings: does the premium survive reasonable changes?

Each flagged group finding is re-estimated with the same method

- leaving out, in turn, each of the most common values of one declared match
  key (e.g. each city): arithmetic on the main pass's per-user table, no pass
  over the purchases;
- with every numeric bin halved and doubled, and the time bucket halved and
  doubled: one lean pass for all of them;

and checked for balance inside its matched cells: whether group and reference
purchases sit at the same place within their time bucket and within each bin.
Coarse matching hides a confounder there (a group that buys at peak hours,
matched by day, pays peak prices), and the standardized mean difference of
that position shows it (|SMD| > 0.1 is the matching literature's usual
warning; Austin 2009).

A finding is robust when it keeps its flag under every change, its premium
stays inside its own interval when the time bucket is halved, and its cells are
balanced; otherwise findings.json says why (`robust_reasons`).
"""

from __future__ import annotations

import dataclasses
import math

from auditor.config import AuditConfig
from auditor.findings import Finding, decide
from auditor.stats.premium import ComparisonSummary, jackknife
from auditor.summaries import GROUP, TIME_POSITION, Comparison

MAX_VALUES = 12  # values of the left-out key tried, most common first
SMD_LIMIT = 0.1  # |standardized mean difference| above this: the matched cells are not balanced


def sensitivity(engine, config: AuditConfig, items: tuple[Comparison, ...],
                findings: tuple[Finding, ...]) -> tuple[Finding, ...]:
    """Attach a sensitivity table, balance checks and a robustness verdict to every flagged group finding.

    `engine` is the estimate engine of the main pass (auditor.engine.estimate.SparkEngine).
    """
    flagged = {(f.segment, f.group, f.outcome) for f in findings if f.flagged and f.kind == GROUP}
    targets = [c for c in items if c.kind == GROUP and (c.segment, c.group, c.outcome) in flagged]
    if not targets:
        return findings
    tables: dict[tuple, list] = {}
    key = config.sensitivity.leave_out
    if key:
        values = engine.common_values(key, MAX_VALUES)
        for left in engine.left_out(tuple(targets), values):
            _row(tables, config, left.comparison, left.summary,
                 change={"change": f"without {key} = {left.value}", "kind": "leave_out",
                         "left_out": {"column": key, "value": left.value}})

    variants = _variants(config, targets, max(c.id for c in items) + 1)
    data = engine.variants(tuple(v for _, _, v in variants)) if variants else {}
    for change, original, variant in variants:
        _row(tables, config, original, data[variant.id].primary, change=change)
    balance = _balance(engine.balance(tuple(targets)), targets)

    out = []
    for f in findings:
        key3 = (f.segment, f.group, f.outcome)
        rows = tables.get(key3)
        if rows is None and key3 not in balance:
            out.append(f)
            continue
        rows = rows or []
        checks_of = balance.get(key3, [])
        reasons = _reasons(f, rows, checks_of)
        extra = dict(f.extra, sensitivity=rows, balance=checks_of, robust=not reasons, robust_reasons=reasons)
        out.append(dataclasses.replace(f, extra=extra))
    return tuple(out)


def _variants(config: AuditConfig, targets: list[Comparison], next_id: int):
    """The lean pass's comparisons: (change, original, variant) for each change of the matching rule."""
    match = config.match
    changes = []
    if config.sensitivity.bins and match.bins:
        for factor, label, kind in ((0.5, "bins halved", "bins_halved"), (2.0, "bins doubled", "bins_doubled")):
            changes.append(({"change": label, "kind": kind, "bins_factor": factor},
                            dataclasses.replace(match, bins=tuple((n, w * factor) for n, w in match.bins))))
    if match.time_bucket_seconds:
        width = match.time_bucket_seconds
        for factor, label, kind in ((0.5, "time bucket halved", "time_bucket_halved"),
                                    (2.0, "time bucket doubled", "time_bucket_doubled")):
            seconds = int(round(width * factor))
            if seconds >= 1:
                changes.append(({"change": label, "kind": kind, "time_bucket_factor": factor,
                                 "time_bucket_seconds": seconds},
                                dataclasses.replace(match, time_bucket=f"{seconds}s", time_bucket_seconds=seconds)))
    variants = []
    for c in targets:
        for change, rule in changes:
            variants.append((change, c, dataclasses.replace(c, id=next_id, match=rule)))
            next_id += 1
    return variants


def _flagged(config: AuditConfig, est) -> bool:
    # The flag is judged by the audit's rule at the finding's own level, without re-running the BH family.
    test = config.test
    return decide(est, est.p_value, math.nan, True, test.materiality, test.alpha, test.flag_rule) == "flagged"


def _row(tables: dict, config: AuditConfig, original: Comparison, summary: ComparisonSummary, change: dict) -> None:
    """One sensitivity row: what changed (words, kind and the change as data, for the report's labels)
    and the re-estimate."""
    est = jackknife(summary, config.test.confidence)
    tables.setdefault((original.segment, original.group, original.outcome), []).append({
        **change, "premium": est.premium, "ci_low": est.ci_low,
        "ci_high": est.ci_high, "p_value": est.p_value, "rows": summary.rows,
        "flagged": _flagged(config, est)})


def _balance(found: dict, targets: list[Comparison]) -> dict[tuple, list]:
    """Standardized mean difference of each position measure, within the matched cells.

    The difference is the cell-fixed-effects difference of the position between
    group and reference (weighted as the premium is); it is standardized by the
    pooled standard deviation of the position over the matched rows (Austin
    2009), and the variance ratio is reported beside it.
    """
    out: dict[tuple, list] = {}
    for c in targets:
        for b in found.get(c.id, []):
            var_g, var_r = b.variances
            pooled = math.sqrt((var_g + var_r) / 2) if var_g + var_r > 0 else math.nan
            smd = b.difference / pooled if pooled > 0 else math.nan
            out.setdefault((c.segment, c.group, c.outcome), []).append({
                "measure": "time_bucket" if b.measure == TIME_POSITION else b.measure,
                "mean_group": b.mean_group, "mean_reference": b.mean_reference,
                "difference": b.difference, "smd": smd, "variance_ratio": var_g / var_r if var_r > 0 else math.nan,
                # Positions that do not vary at all cannot be unbalanced.
                "balanced": not (math.isfinite(smd) and abs(smd) > SMD_LIMIT)})
    return out


def _reasons(f: Finding, rows: list[dict], balance: list[dict]) -> list[dict]:
    """Why a flagged finding is not robust (empty when it is)."""
    reasons = []
    lost = [r["change"] for r in rows if not r["flagged"]]
    if lost:
        reasons.append({"reason": "loses_flag", "changes": lost})
    for r in rows:
        moved = math.isfinite(r["premium"]) and not (f.ci_low <= r["premium"] <= f.ci_high)
        if r["kind"] == "time_bucket_halved" and moved:
            reasons.append({"reason": "time_bucket_moves", "premium": r["premium"],
                            "ci_low": f.ci_low, "ci_high": f.ci_high})
    for check in balance:
        if not check["balanced"]:
            reasons.append({"reason": "imbalance", "measure": check["measure"], "smd": check["smd"]})
    return reasons
