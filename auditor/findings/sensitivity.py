"""Sensitivity of flagged findings: does the premium survive reasonable changes?

Each flagged group finding is re-estimated with the same method

- leaving out, in turn, each of the most common values of one declared match
  key (e.g. each city): arithmetic on the main pass's per-user table, no pass
  over the purchases;
- with every numeric bin halved and doubled, and the time bucket halved and
  doubled; and the time bucket halved again and again (the timing curve): one
  lean pass for all of them, all flagged findings together;

and checked for balance inside its matched cells: whether group and reference
purchases sit at the same place within their time bucket and within each bin.
Coarse matching hides a confounder there (a group that buys at peak hours,
matched by day, pays peak prices), and the standardized mean difference of
that position shows it (|SMD| > 0.1 is the matching literature's usual
warning; Austin 2009).

A change that leaves nothing to compare (leaving out the only city where a
membership is sold) is *unestimable*: it is reported with the reason and is
not counted as a loss of the flag. Robustness is judged on the changes that
could be estimated. A finding is robust when no estimable change both loses
its flag and moves its premium out of the finding's own interval, its premium stays inside its own interval when the time
bucket is halved, it neither falls below materiality nor shrinks at every
halving (out of its finest window's interval) as the window narrows, and its
cells are balanced; otherwise findings.json says why
(`robust_reasons`) and its verdict becomes `flagged_not_robust`.

Where the self-check failed (random splits of the same users are significant
more often than the audit's level allows), any flag, of any kind, whose
calibrated p-value (against those splits) is not below the level is not robust
either: it is significant only by the reference the self-check refuted.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

from auditor.spec import AuditConfig
from auditor.findings.build import decide, insufficient
from auditor.findings.document import Finding
from auditor.findings.model import BalanceCheck, CurveStep, LeftOut, RobustReason, Robustness, SensitivityRow
from auditor.stats.premium import ComparisonSummary, PremiumEstimate, jackknife
from auditor.summaries import GROUP, TIME_POSITION, Comparison
from auditor.vocabulary import InsufficientReason, RobustnessReason, Verdict

if TYPE_CHECKING:  # the findings know the engine by its protocol only, and import no Spark
    from auditor.engine import Engine

MAX_VALUES = 12  # values of the left-out key tried, most common first
SMD_LIMIT = 0.1  # |standardized mean difference| above this: the matched cells are not balanced

# The timing curve: the time bucket halved up to CURVE_HALVINGS times (1 h -> 30 min -> ... -> 14 s),
# never below one second. A step counts while its matched coverage is at least CURVE_MIN_COVERAGE of
# the finding's own: below that, the finer window compares a different, thinner set of purchases than
# the verdict rests on, and its estimate says little about the same comparison. The curve also ends
# where a finer window changes nothing (the same rows in the same cells: the timestamps' resolution).
CURVE_HALVINGS = 8
CURVE_MIN_COVERAGE = 0.5
# Steps of the curve asked in the first lean pass (the first is the table's halved bucket); the rest,
# if the curve is still going after them, in a second. On a log of small cells coverage falls within
# two or three halvings, and the steps past it would only be computed to be dropped.
CURVE_FIRST_ROUND = 3


def sensitivity(engine: Engine, config: AuditConfig, items: tuple[Comparison, ...],
                findings: tuple[Finding, ...]) -> tuple[Finding, ...]:
    """Attach a sensitivity table, timing curve, balance checks and a robustness verdict to every flagged
    group finding; a flag that does not survive them becomes `flagged_not_robust`.

    `engine` is the engine of the main pass, which kept what the leave-outs read.
    """
    flagged = {_key(f) for f in findings if f.flagged and f.kind == GROUP}
    targets = [c for c in items if c.kind == GROUP and _key(c) in flagged]
    alpha = config.test.alpha
    if not targets:
        return tuple(calibration(f, alpha) for f in findings)
    by_key = {_key(f): f for f in findings}
    tables: dict[tuple, list] = {}
    _leave_out_rows(engine, config, targets, by_key, tables)
    curves = _changed_rules(engine, config, items, targets, by_key, tables)
    balance = _balance(engine.balance(tuple(targets)), targets)
    return tuple(_checked(f, config, tables, balance, curves) for f in findings)


def _leave_out_rows(engine: Engine, config: AuditConfig, targets: list[Comparison], by_key: dict,
                    tables: dict) -> None:
    """A row for each of the most common values of the left-out key: the finding without it."""
    key = config.sensitivity.leave_out
    if not key:
        return
    values = engine.common_values(key, MAX_VALUES)
    for left in engine.left_out(tuple(targets), values):
        c = left.comparison
        _row(tables, config, c, left.summary, by_key[_key(c)].scale,
             change={"change": f"without {key} = {left.value}", "kind": "leave_out",
                     "left_out": LeftOut(key, left.value)})


def _changed_rules(engine: Engine, config: AuditConfig, items: tuple[Comparison, ...], targets: list[Comparison],
                   by_key: dict, tables: dict) -> dict[tuple, list]:
    """The rows for each change of the matching rule, and each finding's timing-curve steps (seconds, data).

    The curve's first step is the table's "time bucket halved" variant itself: asked once, or its rows
    would be counted twice. The curve is asked in two rounds (CURVE_FIRST_ROUND): most curves end at
    their second or third step, where coverage falls, and every step asked is another copy of the
    finding's rows in the lean pass; the second round asks only the steps of curves still going. A
    curve ends at its first step that fails, so one that ended in the first round is the curve every
    step would have given."""
    variants = _variants(config, targets, max(c.id for c in items) + 1)
    curve_steps = _curve_variants(config, targets, variants, max([c.id for c in items]
                                                                 + [v.id for _, _, v in variants]) + 1)
    step_of: dict[tuple, list] = {}
    for seconds, original, variant in curve_steps:
        step_of.setdefault(_key(original), []).append((seconds, variant))
    first_round = {k: steps[:CURVE_FIRST_ROUND] for k, steps in step_of.items()}
    asked = tuple(dict.fromkeys([v for _, _, v in variants] + [v for s in first_round.values() for _, v in s]))
    data = engine.variants(asked) if asked else {}  # one lean pass for every change of every finding
    for change, original, variant in variants:
        _row(tables, config, original, data[variant.id].primary, by_key[_key(original)].scale, change=change)
    curves = {k: [(seconds, data[v.id]) for seconds, v in steps] for k, steps in first_round.items()}
    _second_round(engine, config, by_key, step_of, curves)
    return curves


def _second_round(engine: Engine, config: AuditConfig, by_key: dict, step_of: dict, curves: dict) -> None:
    """The remaining steps of the curves still going after the first round, asked in one more lean pass."""
    going = [k for k, steps in step_of.items() if len(steps) > len(curves[k])
             and timing_curve(by_key[k], config, curves[k])[1] == "limit"]
    if not going:
        return
    data = engine.variants(tuple(v for k in going for _, v in step_of[k][len(curves[k]):]))
    for k in going:
        curves[k] += [(seconds, data[v.id]) for seconds, v in step_of[k][len(curves[k]):]]


def _checked(f: Finding, config: AuditConfig, tables: dict, balance: dict, curves: dict) -> Finding:
    """The finding with its checks and robustness verdict, or judged against the self-check alone when it
    has none."""
    key = _key(f)
    rows = tables.get(key)
    if rows is None and key not in balance and key not in curves:
        return calibration(f, config.test.alpha)
    curve, stop = timing_curve(f, config, curves.get(key, []))
    return judge(f, rows or [], balance.get(key, []), curve, stop, config.test.materiality, alpha=config.test.alpha)


def _key(c) -> tuple:
    """A comparison's or a finding's identity across passes: segment, group, outcome."""
    return (c.segment, c.group, c.outcome)


def judge(f: Finding, rows: list[SensitivityRow], balance: list[BalanceCheck], curve: list[CurveStep],
          curve_stop: str | None, materiality: float, *, alpha: float) -> Finding:
    """The finding with its checks attached, and its verdict: `flagged` if it survives them all,
    `flagged_not_robust` (with the reasons, most telling first) if not."""
    reasons = _calibration_reasons(f, alpha) + _reasons(f, rows, balance, curve, materiality)
    estimable = sum(1 for r in rows if r.estimable)
    checks = Robustness(sensitivity=tuple(rows), balance=tuple(balance), robust=not reasons,
                        robust_reasons=tuple(reasons), variants_estimable=estimable,
                        variants_unestimable=len(rows) - estimable, time_curve=tuple(curve),
                        time_curve_stop=curve_stop if curve else None,
                        time_curve_min_coverage=CURVE_MIN_COVERAGE if curve else None)
    verdict = f.verdict
    if f.verdict == Verdict.FLAGGED and reasons:
        verdict = Verdict.FLAGGED_NOT_ROBUST
    return dataclasses.replace(f, robustness=checks, verdict=verdict)


def calibration(f: Finding, alpha: float) -> Finding:
    """A flag without sensitivity checks (a dose, a steering test, a group finding not re-estimated),
    judged against the self-check alone: `flagged_not_robust` when the self-check failed and the
    calibrated p-value is not below the level; unchanged otherwise."""
    reasons = _calibration_reasons(f, alpha)
    if not reasons or f.verdict != Verdict.FLAGGED:
        return f
    return dataclasses.replace(f, robustness=Robustness(robust=False, robust_reasons=tuple(reasons)),
                               verdict=Verdict.FLAGGED_NOT_ROBUST)


def _calibration_reasons(f: Finding, alpha: float) -> list[RobustReason]:
    # The calibrated p-value exists only where the self-check failed (findings.build). It is compared
    # with the level itself, not a BH level: with 200 splits it cannot go below 1/201, and a BH step
    # over a large family would refuse every flag for the splits' resolution, not for the data.
    p = f.calibrated_p_value
    if p is None or not math.isfinite(p) or p < alpha:
        return []
    return [RobustReason(RobustnessReason.NOT_SIGNIFICANT_CALIBRATED, calibrated_p_value=p, alpha=alpha)]


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


def curve_windows(width: int) -> list[int]:
    """The timing curve's windows in seconds, finer than `width`: halved up to CURVE_HALVINGS times,
    never below one second."""
    windows = []
    for k in range(1, CURVE_HALVINGS + 1):
        seconds = int(round(width / 2 ** k))
        if seconds < 1 or (windows and seconds == windows[-1]):
            break
        windows.append(seconds)
    return windows


def _curve_variants(config: AuditConfig, targets: list[Comparison], variants, next_id: int):
    """(seconds, original, variant) for each step of each finding's timing curve. The first halving is
    the sensitivity table's own "time bucket halved" variant, not estimated twice."""
    match = config.match
    if not match.time_bucket_seconds:
        return []
    halved = {(original.id, change.get("time_bucket_seconds")): variant for change, original, variant in variants
              if change.get("kind") == "time_bucket_halved"}
    steps = []
    for c in targets:
        for seconds in curve_windows(match.time_bucket_seconds):
            variant = halved.get((c.id, seconds))
            if variant is None:
                rule = dataclasses.replace(match, time_bucket=f"{seconds}s", time_bucket_seconds=seconds)
                variant = dataclasses.replace(c, id=next_id, match=rule)
                next_id += 1
            steps.append((seconds, c, variant))
    return steps


def timing_curve(f: Finding, config: AuditConfig, steps: list) -> tuple[list[CurveStep], str | None]:
    """The finding's premium as the time window narrows: the audit's own window, then each halving
    while the matched coverage holds (see CURVE_MIN_COVERAGE), and why the curve ends there.

    `steps` are (seconds, ComparisonData) in the order of `curve_windows`. The reason is "coverage"
    (the next window's coverage fell below the share), "resolution" (the next window changes nothing:
    the timestamps are no finer), "unestimable" (the next window leaves no estimate) or "limit".
    """
    width = config.match.time_bucket_seconds
    if not width or not steps:
        return [], None
    curve = [CurveStep(width, f.premium, f.ci_low, f.ci_high, f.coverage, f.rows_group + f.rows_reference, f.cells,
                       audit=True)]
    previous = (f.rows_group + f.rows_reference, f.cells, f.premium)
    for seconds, d in steps:
        est = jackknife(d.primary, config.test.confidence, f.scale)
        rows = d.rows_group + d.rows_reference
        if (rows, d.primary.cells) == previous[:2] and _same(est.premium, previous[2]):
            return curve, "resolution"
        if not est.defined:
            return curve, "unestimable"
        if d.coverage < CURVE_MIN_COVERAGE * f.coverage:
            return curve, "coverage"
        curve.append(CurveStep(seconds, est.premium, est.ci_low, est.ci_high, d.coverage, rows, d.primary.cells,
                               audit=False))
        previous = (rows, d.primary.cells, est.premium)
    return curve, "limit"


def _same(a: float, b: float) -> bool:
    return math.isfinite(a) and math.isfinite(b) and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def _flagged(config: AuditConfig, est: PremiumEstimate) -> bool:
    # The flag is judged by the audit's rule at the finding's own level, without re-running the BH family.
    test = config.test
    return decide(est, est.p_value, math.nan, True, test.materiality, test.alpha, test.flag_rule) == Verdict.FLAGGED


def unestimable(summary: ComparisonSummary, est: PremiumEstimate, test) -> str | None:
    """Why a re-estimate cannot be judged (None when it can): no purchases of a side left in shared
    cells (a leave-out can empty one), then the audit's own rules for a comparison."""
    if summary.users_group == 0 or (summary.cells == 0 and summary.users_group is None):
        return InsufficientReason.NO_GROUP_ROWS
    if summary.users_reference == 0:
        return InsufficientReason.NO_REFERENCE_ROWS
    return insufficient(summary, est, test)


def _row(tables: dict, config: AuditConfig, original: Comparison, summary: ComparisonSummary, scale: str,
         change: dict) -> None:
    """One sensitivity row: what changed (words, kind and the change as data, for the report's labels)
    and the re-estimate, or why there is none."""
    est = jackknife(summary, config.test.confidence, scale)
    reason = unestimable(summary, est, config.test)
    tables.setdefault(_key(original), []).append(SensitivityRow(
        **change, premium=est.premium, ci_low=est.ci_low, ci_high=est.ci_high, p_value=est.p_value,
        rows=summary.rows, estimable=reason is None, unestimable_reason=reason,
        flagged=_flagged(config, est) if reason is None else None))


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
            out.setdefault(_key(c), []).append(BalanceCheck(
                measure="time_bucket" if b.measure == TIME_POSITION else b.measure,
                mean_group=b.mean_group, mean_reference=b.mean_reference,
                difference=b.difference, smd=smd, variance_ratio=var_g / var_r if var_r > 0 else math.nan,
                # Positions that do not vary at all cannot be unbalanced.
                balanced=not (math.isfinite(smd) and abs(smd) > SMD_LIMIT)))
    return out


def _reasons(f: Finding, rows: list[SensitivityRow], balance: list[BalanceCheck], curve: list[CurveStep],
             materiality: float) -> list[RobustReason]:
    """Why a flagged finding is not robust (empty when it is), most telling first (vocabulary.RobustnessReason).

    Only changes that could be estimated count: a leave-out with nothing left says nothing about
    the flag. A premium is explained by timing when, at a finer window with enough coverage, it
    falls below materiality and its interval there excludes the audit's own estimate (a drop the
    finer window's noise cannot explain).
    """
    reasons = []
    estimable = [r for r in rows if r.estimable]
    # A change loses the flag when its estimate leaves the finding's own interval as well: one that
    # only has less data to go on (leaving out a large city) widens the interval without moving the
    # premium, and says nothing against it.
    lost = [r.change for r in estimable if not r.flagged and not (f.ci_low <= r.premium <= f.ci_high)]
    if lost:
        reasons.append(RobustReason(RobustnessReason.LOSES_FLAG, changes=tuple(lost)))
    for r in estimable:
        moved = math.isfinite(r.premium) and not (f.ci_low <= r.premium <= f.ci_high)
        if r.kind == "time_bucket_halved" and moved:
            reasons.append(RobustReason(RobustnessReason.TIME_BUCKET_MOVES, premium=r.premium,
                                        original_premium=f.premium, ci_low=f.ci_low, ci_high=f.ci_high))
    reasons += _timing_reasons(f, curve, materiality)
    for check in balance:
        if not check.balanced:
            reasons.append(RobustReason(RobustnessReason.IMBALANCE, measure=check.measure, smd=check.smd))
    order = {name: i for i, name in enumerate(RobustnessReason)}
    return sorted(reasons, key=lambda r: order.get(r.reason, len(order)))


def _timing_reasons(f: Finding, curve: list[CurveStep], materiality: float) -> list[RobustReason]:
    """Explained by timing (a finer window's premium below materiality, apart from the audit's), or, if not,
    shrinking at every halving of the window."""
    for step in curve:
        if step.audit:
            continue
        below = abs(step.premium) < materiality or math.copysign(1, step.premium) != math.copysign(1, f.premium)
        apart = not (step.ci_low <= f.premium <= step.ci_high)
        if below and apart:
            return [RobustReason(RobustnessReason.EXPLAINED_BY_TIMING, time_bucket_seconds=step.time_bucket_seconds,
                                 premium=step.premium, ci_low=step.ci_low, ci_high=step.ci_high,
                                 original_premium=f.premium)]
    if len(curve) >= 3:
        # Smaller at every halving, and at the finest window its interval no longer holds the audit's
        # estimate: purchases compared closer in time differ less, so timing explains part of the gap.
        sizes = [abs(step.premium) for step in curve]
        last = curve[-1]
        if all(b < a for a, b in zip(sizes, sizes[1:])) and not (last.ci_low <= f.premium <= last.ci_high):
            return [RobustReason(RobustnessReason.SHRINKS_WITH_WINDOW, time_bucket_seconds=last.time_bucket_seconds,
                                 premium=last.premium, ci_low=last.ci_low, ci_high=last.ci_high,
                                 original_premium=f.premium)]
    return []
