"""Findings: one verdict per comparison, multiple-testing control, self-checks, findings.json."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from scipy import stats

from auditor.config import AuditConfig
from auditor.estimate import BAND, DOSE, PLACEBO, SHARE_OUTCOMES, STEERING, ComparisonData, EvidenceCell
from auditor.ingest import DataQuality, InputFile
from auditor.stats.multiple import bh_qvalues
from auditor.vocabulary import KIND_OUTCOME
from auditor.stats.premium import (PremiumEstimate, cluster_robust, equivalence_p, jackknife, minimum_detectable,
                                   raw_premium)

SCHEMA_VERSION = 1

# Verdicts, most serious first (the report lists findings in this order).
VERDICTS = ("flagged", "significant_below_materiality", "inconclusive", "cleared", "insufficient_data")


@dataclass(frozen=True)
class Finding:
    """The outcome of one comparison (a group vs its reference, a dose slope, or a steering test)."""

    segment: str
    column: str
    group: str
    reference: str
    kind: str  # group | dose | steering
    outcome: str  # what the premium is measured on
    scale: str  # "ratio": premium = exp(beta) - 1; "difference": premium = difference in shares
    premium: float  # calibrated (jackknife) headline: exp(beta) - 1
    ci_low: float
    ci_high: float
    p_value: float
    q_value: float
    method: str
    se_log: float
    dof: int
    analytic: dict  # the simple CR1 result, shown beside the calibrated one
    raw_premium: float
    flagged: bool
    verdict: str
    mde: float  # smallest premium detectable at the configured power
    tost_p_value: float  # equivalence within ±materiality
    rank_test: dict | None
    cells: int
    rows_group: int
    rows_reference: int
    rows_group_all: int
    rows_reference_all: int
    users: int
    coverage: float
    clusters: int
    pooled_clusters: bool
    decomposition: dict | None
    evidence: tuple[dict, ...] = ()
    evidence_suppressed: int = 0
    extra: dict = field(default_factory=dict)  # kind-specific fields (dose bands, steering tier shift)

    def to_json(self) -> dict:
        out = {k: v for k, v in self.__dict__.items() if k != "extra"}
        out["evidence"] = list(self.evidence)
        out.update(self.extra)
        return _clean(out)


@dataclass(frozen=True)
class AuditRecord:
    """Provenance: what ran, on what, with which config, when."""

    name: str
    platform: str
    period: str | None
    config_path: str | None
    config_sha256: str
    config_text: str
    inputs: tuple[InputFile, ...]
    input_format: str
    match: str
    alpha: float
    materiality: float
    confidence: float
    spark_version: str
    spark_master: str
    auditor_version: str
    python_version: str
    started_at: str
    finished_at: str
    command: str
    language: str = "en"
    min_cell_size: int = 10
    timings: dict = field(default_factory=dict)
    labels: dict = field(default_factory=dict)  # display names for the report ([labels], see config.Labels)

    def to_json(self) -> dict:
        out = dict(self.__dict__)
        out["inputs"] = [f.to_json() for f in self.inputs]
        return out


@dataclass(frozen=True)
class AuditFindings:
    """Everything findings.json holds."""

    audit: AuditRecord
    data_quality: DataQuality
    findings: tuple[Finding, ...]
    placebo: dict | None = None
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict:
        return _clean({
            "schema_version": SCHEMA_VERSION,
            "audit": self.audit.to_json(),
            "data_quality": self.data_quality.to_json(),
            "findings": [f.to_json() for f in self.findings],
            "placebo": self.placebo,
            "notes": list(self.notes),
        })

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=2, ensure_ascii=False, allow_nan=False) + "\n",
                        encoding="utf-8")


def _clean(value):
    """NaN and infinity are not JSON: undefined numbers are written as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def decide(estimate: PremiumEstimate, q_value: float, tost_p: float, sufficient: bool,
           materiality: float, alpha: float) -> str:
    """Exactly one verdict per comparison.

    flagged: q < alpha and |premium| >= materiality. significant_below_materiality:
    q < alpha, smaller. cleared: equivalence within ±materiality shown (TOST p < alpha).
    inconclusive: neither. insufficient_data: too few matched cells or users.
    """
    if not sufficient or not estimate.defined:
        return "insufficient_data"
    if q_value < alpha:
        return "flagged" if abs(estimate.premium) >= materiality else "significant_below_materiality"
    if tost_p < alpha:
        return "cleared"
    return "inconclusive"


def build_findings(data: dict[int, ComparisonData], config: AuditConfig) -> tuple[tuple[Finding, ...], dict | None]:
    """Estimate each comparison, adjust across the audit's family (BH), decide; run the placebos."""
    test = config.test
    family = [d for d in sorted(data.values(), key=lambda d: d.comparison.id) if d.comparison.in_family]
    headline = {d.comparison.id: _headline(d, test.confidence) for d in family}
    q_values = bh_qvalues([headline[d.comparison.id].p_value for d in family])
    findings = []
    for d, q in zip(family, q_values):
        c = d.comparison
        est = headline[c.id]
        sufficient = d.primary.cells >= test.min_cells and d.primary.users >= test.min_users
        tost = equivalence_p(est, test.materiality)
        verdict = decide(est, float(q), tost, sufficient, test.materiality, test.alpha)
        analytic = _analytic(d, test.confidence)
        findings.append(Finding(
            segment=c.segment, column=c.column, group=c.group, reference=c.reference, kind=c.kind,
            outcome=_outcome_name(d), scale=_scale(d),
            premium=est.premium, ci_low=est.ci_low, ci_high=est.ci_high, p_value=est.p_value, q_value=float(q),
            method=est.method, se_log=est.se, dof=est.dof,
            analytic={"method": analytic.method, "premium": analytic.premium, "se_log": analytic.se,
                      "p_value": analytic.p_value, "ci_low": analytic.ci_low, "ci_high": analytic.ci_high},
            raw_premium=_raw(d),
            flagged=verdict == "flagged", verdict=verdict,
            mde=minimum_detectable(est, test.alpha, test.power), tost_p_value=tost,
            rank_test=_rank(d, est, test) if c.kind != STEERING else None,
            cells=d.primary.cells, rows_group=d.rows_group, rows_reference=d.rows_reference,
            rows_group_all=d.rows_group_all, rows_reference_all=d.rows_reference_all,
            users=d.primary.users, coverage=d.coverage, clusters=d.primary.clusters,
            pooled_clusters=d.pooled_clusters,
            decomposition=_decomposition(d) if c.kind == "group" and c.outcome not in SHARE_OUTCOMES else None,
            evidence=tuple(_evidence_json(e, config) for e in d.evidence),
            evidence_suppressed=d.evidence_suppressed,
            extra=_extra(d, data, est, config),
        ))
    return tuple(findings), _placebo(data, config)


def _outcome_name(d: ComparisonData) -> str:
    return KIND_OUTCOME.get(d.comparison.kind, d.comparison.outcome)


def _scale(d: ComparisonData) -> str:
    return "difference" if d.comparison.outcome in SHARE_OUTCOMES else "ratio"


def _headline(d: ComparisonData, confidence: float) -> PremiumEstimate:
    """The calibrated estimate a verdict rests on.

    Steering: the test is on the offered tier (a stratified mean-score test) and the
    premium is the implied expected-price gap, so the interval comes from the tier's
    price and the p-value from the tier itself.
    """
    if d.comparison.kind == STEERING:
        tier = jackknife(d.primary, confidence)
        price = jackknife(d.secondary, confidence)
        return PremiumEstimate(price.beta, price.se, tier.dof, tier.p_value, price.ci_low, price.ci_high,
                               "cv3_jackknife")
    return jackknife(d.primary, confidence, _scale(d))


def _analytic(d: ComparisonData, confidence: float) -> PremiumEstimate:
    return cluster_robust(d.secondary if d.comparison.kind == STEERING else d.primary, confidence, _scale(d))


def _rank(d: ComparisonData, est: PremiumEstimate, test) -> dict | None:
    """Van Elteren's stratified rank test, with the same user-clustered jackknife."""
    if d.secondary is None:
        return None
    rank = jackknife(d.secondary, test.confidence)
    if not rank.defined:
        return {"p_value": math.nan, "effect": math.nan, "agrees": None}
    mean_sig, rank_sig = est.p_value < test.alpha, rank.p_value < test.alpha
    agrees = mean_sig == rank_sig and (not mean_sig or math.copysign(1, est.beta) == math.copysign(1, rank.beta))
    return {"p_value": rank.p_value, "effect": rank.beta, "agrees": agrees}


def _raw(d: ComparisonData) -> float:
    if d.comparison.kind in (DOSE, STEERING):  # no raw price comparison: a slope, or tiers
        return math.nan
    if d.comparison.outcome in SHARE_OUTCOMES:
        return d.mean_group_all - d.mean_reference_all
    return raw_premium(d.mean_group_all, d.mean_reference_all)


def _decomposition(d: ComparisonData) -> dict:
    """Kitagawa–Oaxaca split of the raw gap in log points: unmatched + mix + price."""
    raw = d.mean_group_all - d.mean_reference_all
    matched = d.mean_group_matched - d.mean_reference_matched
    return {"raw": raw, "unmatched": raw - matched, "mix": matched - d.price_gap_matched, "price": d.price_gap_matched}


def _evidence_json(cell: EvidenceCell, config: AuditConfig) -> dict:
    bucket = None
    if cell.time_bucket is not None:
        bucket = datetime.fromtimestamp(cell.time_bucket, ZoneInfo(config.input.timezone)).isoformat(timespec="minutes")
    return {"keys": cell.keys, "time_bucket": bucket, "rows_group": cell.rows_group, "rows_reference": cell.rows_reference,
            "users_group": cell.users_group, "users_reference": cell.users_reference,
            "median_group": cell.median_group, "median_reference": cell.median_reference,
            "weight_share": cell.weight_share}


def _extra(d: ComparisonData, data: dict[int, ComparisonData], est: PremiumEstimate, config: AuditConfig) -> dict:
    c = d.comparison
    if c.kind == DOSE:
        bands = [b for b in sorted(data.values(), key=lambda b: b.comparison.id)
                 if b.comparison.kind == BAND and b.comparison.segment_index == c.segment_index]
        curve = []
        for b in bands:
            e = jackknife(b.primary, config.test.confidence)
            curve.append({"band": b.comparison.group, "reference_band": b.comparison.reference, "premium": e.premium,
                          "ci_low": e.ci_low, "ci_high": e.ci_high, "rows": b.rows_group, "users": b.primary.users})
        return {"per_doubling": est.premium, "bands": curve}
    if c.outcome in SHARE_OUTCOMES:
        return {"odds_ratio": d.odds_ratio, "share_group": d.mean_group_matched, "share_reference": d.mean_reference_matched}
    if c.kind == STEERING:
        tier = jackknife(d.primary, config.test.confidence)
        return {"tier_shift": tier.beta, "tier_shift_se": tier.se, "tier_order": list(config.steering.order),
                "option_column": config.steering.column}
    return {}


def _placebo(data: dict[int, ComparisonData], config: AuditConfig) -> dict | None:
    """Self-check: random user splits must not reject more often than the level allows."""
    splits = [d for d in sorted(data.values(), key=lambda d: d.comparison.id) if d.comparison.kind == PLACEBO]
    if not splits:
        return None
    alpha = config.test.alpha
    p_values = [jackknife(d.primary, config.test.confidence).p_value for d in splits]
    tested = [p for p in p_values if not math.isnan(p)]
    rejections = sum(p < alpha for p in tested)
    # Chance of this many rejections or more if the method holds its level.
    chance = float(stats.binom.sf(rejections - 1, len(tested), alpha)) if tested else math.nan
    return {"splits": len(splits), "tested": len(tested), "p_values": p_values, "rejections": rejections,
            "expected": alpha * len(tested), "chance": chance,
            "warning": bool(tested) and rejections > 0 and chance < 0.05,
            "population": f"{splits[0].comparison.column} = {splits[0].comparison.reference.removesuffix(' users')}"}
