"""Findings: one verdict per comparison, multiple-testing control, self-checks, findings.json."""

from __future__ import annotations

import math
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np

from auditor.findings.document import Finding, SelfCheckResult
from auditor.findings.model import (Analytic, ClusterWeight, Decomposition, Dose, DoseBand, DoseRange, Evidence,
                                    RankTest, Share, Steering)
from auditor.spec import AuditConfig
from auditor.summaries import BAND, DOSE, GROUP, SHARE_OUTCOMES, STEERING, ComparisonData, EvidenceCell
from auditor.stats.multiple import bh_level, bh_qvalues
from auditor.stats.placebo import PlaceboPairs, SelfCheck, calibrated_p, self_check, split_salts, split_tests
from auditor.stats.premium import (PremiumEstimate, cluster_robust, equivalence_p, jackknife, material_interval,
                                   minimum_flaggable, raw_premium)
from auditor.stats.wild import cluster_diagnostics
from auditor.vocabulary import KIND_OUTCOME, InsufficientReason, Scale, Verdict

# Below four effective users (G* = (sum B)^2 / sum B^2, see ComparisonSummary.effective_clusters)
# the comparison is withheld. The t(G* - 1) reference still holds the level there, but only
# by being conservative: in the simulation with G* about 3.6 (docs/validation.md, *Few and
# unequal users*) it rejects 1.6 % of nulls at 5 % and finds a planted 3 % premium no more
# often than a null one, so a verdict would be one or two users' behaviour, not the group's.
MIN_EFFECTIVE_USERS = 4.0

# A finding says in words that a few users carry it when the largest user holds at least
# this share of the comparison's weight, or the top five at least TOP5_SHARE_NOTED.
TOP_SHARE_NOTED = 0.2
TOP5_SHARE_NOTED = 0.5


def decide(estimate: PremiumEstimate, q_value: float, tost_p: float, sufficient: bool,
           materiality: float, alpha: float, rule: str = "estimate") -> str:
    """Exactly one verdict per comparison, whatever the numbers (NaN included).

    flagged: q < alpha and the premium reaches materiality — its estimate (rule
    "estimate", |premium| >= materiality) or its whole interval (rule "interval").
    significant_below_materiality: q < alpha, not material by the rule. cleared:
    equivalence within ±materiality shown (TOST p < alpha). inconclusive: neither.
    insufficient_data: too few matched cells or users, or no estimate.
    """
    if not sufficient or not estimate.defined:
        return Verdict.INSUFFICIENT_DATA
    if q_value < alpha:
        material = (bool(material_interval(estimate, materiality)) if rule == "interval"
                    else abs(estimate.premium) >= materiality)
        return Verdict.FLAGGED if material else Verdict.SIGNIFICANT_BELOW_MATERIALITY
    if tost_p < alpha:
        return Verdict.CLEARED
    return Verdict.INCONCLUSIVE


def insufficient_reason(d: ComparisonData, est: PremiumEstimate, test) -> str | None:
    """Why a comparison cannot be judged (None when it can)."""
    return insufficient(d.primary, est, test, min_effective=MIN_EFFECTIVE_USERS)


def insufficient(summary, est: PremiumEstimate, test, min_effective: float = 0.0) -> str | None:
    """The audit's rules for whether an estimate can be judged, in the order they are told: common
    support, users on each side (or in all, for a dose), cells, effective users, an estimate at all.
    A re-estimate under a changed rule (findings.sensitivity) applies them without the effective-users
    floor, which guards the verdict, not a check on it."""
    if summary.cells == 0:
        return InsufficientReason.NO_COMMON_SUPPORT
    if summary.users_group is not None and summary.users_group < test.min_users:
        return InsufficientReason.TOO_FEW_USERS_GROUP
    if summary.users_reference is not None and summary.users_reference < test.min_users:
        return InsufficientReason.TOO_FEW_USERS_REFERENCE
    if summary.users_group is None and summary.users < test.min_users:
        return InsufficientReason.TOO_FEW_USERS
    if summary.cells < test.min_cells:
        return InsufficientReason.TOO_FEW_CELLS
    if min_effective and summary.clusters and summary.effective_clusters < min_effective:
        return InsufficientReason.TOO_FEW_EFFECTIVE_USERS
    return None if est.defined else InsufficientReason.NOT_ESTIMABLE


def build_findings(data: dict[int, ComparisonData], config: AuditConfig, placebo: PlaceboPairs | None = None
                   ) -> tuple[tuple[Finding, ...], SelfCheckResult | None]:
    """Estimate each comparison, adjust across the audit's family (BH), decide; run the self-check on the
    placebo population's (cell, user) sums (auditor.engine.placebos), when there are any."""
    test = config.test
    check = _self_check(placebo, config)
    failed = check if check is not None and check.warning else None  # p-values are calibrated against it
    family = [d for d in sorted(data.values(), key=lambda d: d.comparison.id) if d.comparison.in_family]
    headline = {d.comparison.id: _headline(d, test.confidence) for d in family}
    p_values = [headline[d.comparison.id].p_value for d in family]
    q_values = bh_qvalues(p_values)
    # The level at which BH would flag each comparison, the others' p-values as observed.
    levels = [bh_level(p_values[:i] + p_values[i + 1:], test.alpha) for i in range(len(family))]
    findings = [_finding(d, headline[d.comparison.id], float(q), level, data, config, failed)
                for d, q, level in zip(family, q_values, levels)]
    return tuple(findings), _placebo_json(check, placebo, config)


def _finding(d: ComparisonData, est: PremiumEstimate, q: float, level: float, data: dict[int, ComparisonData],
             config: AuditConfig, check: SelfCheck | None) -> Finding:
    """One comparison's finding: its verdict from its estimate and q-value, what it could have flagged at
    the BH `level` it faced, its checks and evidence; `check` a failed self-check, to calibrate against."""
    c = d.comparison
    test = config.test
    reason = insufficient_reason(d, est, test)
    dose = _dose_range(est, config.segments[c.segment_index].bands, test.materiality) if c.kind == DOSE else None
    # A dose is material over its stated range (lowest to highest band), not per doubling.
    materiality = dose.materiality_per_doubling if dose else test.materiality
    tost = equivalence_p(est, materiality)
    verdict = decide(est, q, tost, reason is None, materiality, test.alpha, test.flag_rule)
    mde = minimum_flaggable(est, level, materiality, test.power, test.flag_rule, test.confidence)
    analytic = _analytic(d, test.confidence)
    return Finding(
        segment=c.segment, column=c.column, group=c.group, reference=c.reference, kind=c.kind,
        outcome=_outcome_name(d), scale=_scale(d),
        premium=est.premium, ci_low=est.ci_low, ci_high=est.ci_high, p_value=est.p_value, q_value=q,
        method=est.method, se_log=est.se, dof=round(est.dof, 2),
        analytic=Analytic(analytic.method, analytic.premium, analytic.se, analytic.p_value, analytic.ci_low,
                          analytic.ci_high),
        raw_premium=_raw(d),
        flagged=verdict == Verdict.FLAGGED, verdict=verdict,
        mde=mde, tost_p_value=tost,
        rank_test=_rank(d, est, test) if c.kind != STEERING else None,
        cells=d.primary.cells, rows_group=d.rows_group, rows_reference=d.rows_reference,
        rows_group_all=d.rows_group_all, rows_reference_all=d.rows_reference_all,
        users=d.primary.users, users_group=d.primary.users_group, users_reference=d.primary.users_reference,
        material_interval=material_interval(est, materiality),
        insufficient_reason=reason if verdict == Verdict.INSUFFICIENT_DATA else None,
        cluster_weight=cluster_weight(d.secondary if c.kind == STEERING else d.primary),
        coverage=d.coverage, clusters=d.primary.clusters,
        pooled_clusters=d.pooled_clusters,
        decomposition=_decomposition(d) if c.kind == GROUP and c.outcome not in SHARE_OUTCOMES else None,
        evidence=tuple(_evidence_json(e, config) for e in published_evidence(d.evidence, config.report.min_cell_size)),
        evidence_suppressed=sum(1 for e in d.evidence if not _publishable(e, config.report.min_cell_size)),
        calibrated_p_value=calibrated_p(est.beta / est.se if est.se else math.copysign(math.inf, est.beta),
                                        check.t) if check is not None else None,
        **_kind_parts(d, data, est, config, dose),
    )


def cluster_weight(summary) -> ClusterWeight | None:
    """The `summclust` diagnostics of a comparison, for findings.json and the report.

    effective_users is G* (the t reference's degrees of freedom are min(G_min, G*) - 1);
    top_share and top5_share are the largest and five largest users' shares of the
    comparison's weight (sum of B_i, the within-cell variance of the group indicator each
    user brings: what the premium is an average over); top_pull is the largest change one
    user's deletion makes to the premium, in standard errors; few_users_carry says the
    report should say so in words.
    """
    if summary is None:
        return None
    d = cluster_diagnostics(summary)
    few = bool(d.top_share >= TOP_SHARE_NOTED or d.top5_share >= TOP5_SHARE_NOTED) if d.users else False
    return ClusterWeight(d.effective_users, d.top_share, d.top5_share, d.top_pull, few)


def _outcome_name(d: ComparisonData) -> str:
    return KIND_OUTCOME.get(d.comparison.kind, d.comparison.outcome)


def _scale(d: ComparisonData) -> str:
    return Scale.DIFFERENCE if d.comparison.outcome in SHARE_OUTCOMES else Scale.RATIO


def _headline(d: ComparisonData, confidence: float) -> PremiumEstimate:
    """The calibrated estimate a verdict rests on.

    Steering: the premium, its interval, p-value, equivalence test and verdict all come
    from one model, the implied price gap (the offered tier's mean log price in its
    context); the test on the tier itself is reported beside it (`tier_p_value`).
    """
    if d.comparison.kind == STEERING:
        return jackknife(d.secondary, confidence)
    return jackknife(d.primary, confidence, _scale(d))


def _analytic(d: ComparisonData, confidence: float) -> PremiumEstimate:
    return cluster_robust(d.secondary if d.comparison.kind == STEERING else d.primary, confidence, _scale(d))


def _rank(d: ComparisonData, est: PremiumEstimate, test) -> RankTest | None:
    """Van Elteren's stratified rank test, with the same user-clustered jackknife."""
    if d.secondary is None:
        return None
    rank = jackknife(d.secondary, test.confidence)
    if not rank.defined:
        return RankTest(math.nan, math.nan, None)
    mean_sig, rank_sig = est.p_value < test.alpha, rank.p_value < test.alpha
    agrees = mean_sig == rank_sig and (not mean_sig or math.copysign(1, est.beta) == math.copysign(1, rank.beta))
    return RankTest(rank.p_value, rank.beta, agrees)


def _raw(d: ComparisonData) -> float:
    if d.comparison.kind in (DOSE, STEERING):  # no raw price comparison: a slope, or tiers
        return math.nan
    if d.comparison.outcome in SHARE_OUTCOMES:
        return d.mean_group_all - d.mean_reference_all
    return raw_premium(d.mean_group_all, d.mean_reference_all)


def _decomposition(d: ComparisonData) -> Decomposition:
    """Kitagawa–Oaxaca split of the raw gap in log points: unmatched + mix + price.

    The price part is the within-cell gap weighted by the group's rows in each cell
    (sum_c n_gc (mean_gc - mean_rc) / n_g), so it answers "what did the group's own
    purchases cost more", and differs from the headline premium, whose cells are
    weighted by their within-cell variance of the group indicator. Its name says so.
    """
    raw = d.mean_group_all - d.mean_reference_all
    matched = d.mean_group_matched - d.mean_reference_matched
    return Decomposition(raw, raw - matched, matched - d.price_gap_matched, d.price_gap_matched)


EVIDENCE_PUBLISHED = 5  # evidence cells shown per finding


def _publishable(cell: EvidenceCell, min_cell_size: int) -> bool:
    return min(cell.users_group, cell.users_reference) >= min_cell_size


def published_evidence(cells: tuple[EvidenceCell, ...], min_cell_size: int) -> tuple[EvidenceCell, ...]:
    """The heaviest candidate cells that may be published: report.min_cell_size distinct users on each
    side, so no published cell singles anyone out; the others are counted as withheld."""
    return tuple(c for c in cells if _publishable(c, min_cell_size))[:EVIDENCE_PUBLISHED]


def _evidence_json(cell: EvidenceCell, config: AuditConfig) -> Evidence:
    bucket = None
    if cell.time_bucket is not None:
        bucket = datetime.fromtimestamp(cell.time_bucket, ZoneInfo(config.input.timezone)).isoformat(timespec="minutes")
    return Evidence(cell.keys, bucket, cell.rows_group, cell.rows_reference, cell.users_group, cell.users_reference,
                    cell.median_group, cell.median_reference, cell.weight_share)


def _dose_range(est: PremiumEstimate, bands: tuple[float, ...], materiality: float) -> DoseRange:
    """A dose slope stated over the dose's range, from the lowest band's lower edge to the highest's.

    The slope is per doubling of (1 + dose); over the range it compounds: 0.9 % per
    doubling is 7.4 % from 0 to 255 orders. Materiality is judged over the range, so
    per doubling it is (1 + materiality)^(1 / doublings) - 1.
    """
    low, high = bands[0], bands[-1]
    doublings = math.log2(1 + high) - math.log2(1 + low)

    def over(beta_scale_premium):
        return math.expm1(math.log1p(beta_scale_premium) * doublings)

    return DoseRange(low, high, doublings, math.expm1(math.log1p(materiality) / doublings), over(est.premium),
                     over(est.ci_low), over(est.ci_high))


def _kind_parts(d: ComparisonData, data: dict[int, ComparisonData], est: PremiumEstimate, config: AuditConfig,
                dose: DoseRange | None = None) -> dict:
    """The finding's kind-specific part: a dose's range and bands, a share's odds ratio, steering's tier shift."""
    c = d.comparison
    if c.kind == DOSE:
        bands = [b for b in sorted(data.values(), key=lambda b: b.comparison.id)
                 if b.comparison.kind == BAND and b.comparison.segment_index == c.segment_index]
        curve = []
        for b in bands:
            e = jackknife(b.primary, config.test.confidence)
            curve.append(DoseBand(b.comparison.group, b.comparison.reference, e.premium, e.ci_low, e.ci_high,
                                  b.rows_group, b.primary.users))
        return {"dose": Dose(est.premium, dose, tuple(curve))}
    if c.outcome in SHARE_OUTCOMES:
        return {"share": Share(d.odds_ratio, d.mean_group_matched, d.mean_reference_matched)}
    if c.kind == STEERING:
        tier = jackknife(d.primary, config.test.confidence)
        return {"steering": Steering(tier.beta, tier.se, tier.p_value, tuple(config.steering.order),
                                     config.steering.column)}
    return {}


def _self_check(placebo: PlaceboPairs | None, config: AuditConfig) -> SelfCheck | None:
    """`test.placebo_splits` random splits of the placebo population, each tested as a finding is."""
    if placebo is None or config.test.placebo_splits == 0:
        return None
    tests = split_tests(placebo, split_salts(config.test.seed, config.test.placebo_splits))
    return self_check(tests, config.test.alpha, config.test.confidence)


def _placebo_json(check: SelfCheck | None, placebo: PlaceboPairs | None, config: AuditConfig
                  ) -> SelfCheckResult | None:
    """findings.json's `placebo`: the rejection rate at alpha with its exact interval, the population and,
    when the engine sampled cells, how much."""
    if check is None:
        return None
    column, reference = next((s.column, s.reference) for s in config.segments if s.kind == "group")
    return SelfCheckResult(
        splits=check.splits, tested=check.tested, rejections=check.rejections, rate=check.rate,
        rate_low=check.rate_low, rate_high=check.rate_high, alpha=check.alpha, confidence=check.confidence,
        expected=check.expected, warning=check.warning, calibrated=check.warning,
        population=f"{column} = {reference}", seed=config.test.seed, method="cv3_jackknife",
        users=int(np.unique(placebo.user_hash).size), cells=placebo.cells, pairs=int(placebo.cell.size),
        cells_total=placebo.cells_total, pairs_total=placebo.pairs_total, sampled=placebo.sampled)
