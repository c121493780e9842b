"""One finding's card in the report: its title, numbers, evidence cells, decomposition and checks, in words."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from auditor import vocabulary
from auditor.findings.document import Finding
from auditor.findings.model import Decomposition, Evidence
from auditor.report.checks import change_label, robustness, unestimable_words
from auditor.report.formats import Formats, finite, translations
from auditor.report.legal import provisions
from auditor.report.words import Words, key_value
from auditor.vocabulary import Kind, Scale, Verdict

# Most serious first: the report lists findings in this order (the vocabulary's ranks).
VERDICT_ORDER = tuple(sorted(vocabulary.VERDICTS, key=lambda v: vocabulary.VERDICTS[v].rank))
EVIDENCE_SHOWN = 10  # cells per flagged finding; the rest are counted, not listed


def _cell_view(cell: Evidence, width: timedelta | None, formats: Formats, words: Words, bins: dict) -> dict:
    start = datetime.fromisoformat(cell.time_bucket) if cell.time_bucket else None
    when = None
    if start is not None:
        when = formats.day(start)
        if width is not None and width < timedelta(days=1):
            when += f" {formats.clock(start)}–{formats.clock(start + width)}"
        elif width is None:
            when += f" {formats.clock(start)}"
    median_group, median_reference = cell.median_group, cell.median_reference
    ratio = (median_group / median_reference - 1) if finite(median_group) and finite(median_reference) \
        and median_reference > 0 else None
    return {
        "conditions": [(words.column(k), key_value(k, v, bins, formats, words)) for k, v in cell.keys.items()],
        "when": when,
        "rows_group": cell.rows_group, "rows_reference": cell.rows_reference,
        "users_group": cell.users_group, "users_reference": cell.users_reference,
        "median_group": median_group, "median_reference": median_reference,
        "ratio": ratio, "weight_share": cell.weight_share,
    }


def _publishable(cell: Evidence, min_cell_size: int) -> bool:
    """Each side's median is published, so each side must hold at least min_cell_size distinct users."""
    users = (cell.users_group, cell.users_reference)
    return all(isinstance(u, int) and u >= min_cell_size for u in users)


def _tenths(value: float) -> int:
    """A fraction in tenths of a percent, rounded as Babel rounds the printed figure (half to even)."""
    tenths = Decimal(str(abs(value) * 100)).quantize(Decimal("0.1"), rounding=ROUND_HALF_EVEN) * 10
    return int(tenths) if value >= 0 else -int(tenths)


DECOMPOSITION_PARTS = ("price", "mix", "unmatched")


def decomposition_shares(decomposition: Decomposition | None, raw_premium: float | None) -> dict | None:
    """The raw gap's parts in the raw gap's own unit, as printed: each part of the log-point split
    (Kitagawa–Oaxaca: unmatched + mix + price = raw) is scaled by raw_premium / raw, so the parts add up
    to the raw premium exactly; they are rounded to tenths of a percent so that the printed parts also
    add up to the printed raw gap (largest remainders). None when any number is missing."""
    if decomposition is None or not finite(raw_premium):
        return None
    parts = [decomposition.price_group_weighted, decomposition.mix, decomposition.unmatched]
    raw = decomposition.raw
    if not all(finite(v) for v in (*parts, raw)):
        return None
    scale = raw_premium / raw if abs(raw) > 1e-12 else 1.0  # (e^r − 1) / r -> 1 as r -> 0
    exact = [scale * v for v in parts]
    target = _tenths(raw_premium)
    floors = [math.floor(v * 1000) for v in exact]
    order = sorted(range(len(exact)), key=lambda i: -(exact[i] * 1000 - floors[i]))
    shown = list(floors)
    for i in order[:max(0, min(len(order), target - sum(floors)))]:
        shown[i] += 1
    return {k: {"exact": e, "shown": t / 1000} for k, e, t in zip(DECOMPOSITION_PARTS, exact, shown)}


def _near_zero(value) -> bool:
    """A premium that prints as 0.0 %: the sentence says 'no measurable difference'."""
    return finite(value) and _tenths(value) == 0


def _title(f: Finding, words: Words, outcome, language: str, _) -> str:
    segment = words.segment(f.segment)
    group, reference = words.value(f.column, f.group), words.value(f.column, f.reference)
    if f.kind == Kind.DOSE:
        return _("%(segment)s: each doubling of 1 + %(column)s") % {"segment": segment,
                                                                     "column": words.column(f.column)}
    if f.kind == Kind.STEERING:
        return _("%(segment)s: “%(group)s” against “%(reference)s”, options offered") % {
            "segment": segment, "group": group, "reference": reference}
    title = _("%(segment)s: “%(group)s” against “%(reference)s”") % {
        "segment": segment, "group": group, "reference": reference}
    return title + " · " + outcome.label(language) if outcome.id != "price" else title


def _sensitivity(f: Finding, words: Words, _) -> list[dict]:
    rows = []
    for change in (f.robustness.sensitivity or ()) if f.robustness else ():
        label, translated = change_label(change, words, _)
        rows.append({"premium": change.premium, "ci_low": change.ci_low, "ci_high": change.ci_high,
                     "flagged": change.flagged, "label": label, "translated": translated,
                     "estimable": change.estimable,
                     "unestimable": None if change.estimable else unestimable_words(change, f, words, _)})
    return rows


def _analytic(f: Finding, alpha) -> tuple[dict | None, bool | None]:
    """The simple CR1 result beside the calibrated one, and whether the two agree at alpha."""
    a = f.analytic
    if a is None:
        return None, None
    analytic = {"method": a.method, "se_log": a.se_log, "p_value": a.p_value, "ci_low": a.ci_low, "ci_high": a.ci_high}
    agrees = None
    if finite(a.p_value) and finite(f.p_value) and finite(alpha):
        agrees = (a.p_value < alpha) == (f.p_value < alpha)
    return analytic, agrees


def _kind_parts(f: Finding) -> dict:
    """A dose's slope, range and bands; steering's tier test (None and empty for other kinds)."""
    dose = f.dose
    per_doubling = dose.per_doubling if dose else None
    headline = per_doubling if per_doubling is not None else f.premium
    span = dose.over_range if dose else None
    return {
        "per_doubling": per_doubling,
        "near_zero": _near_zero(per_doubling if f.kind == Kind.DOSE and finite(per_doubling) else f.premium),
        "per_doubling_abs": abs(headline) if finite(headline) else None,
        "over_range": {"from": span.low, "to": span.to, "premium": span.premium, "ci_low": span.ci_low,
                       "ci_high": span.ci_high} if span else None,
        "bands": [{"band": b.band, "premium": b.premium, "ci_low": b.ci_low, "ci_high": b.ci_high, "rows": b.rows}
                  for b in (dose.bands if dose else ())],
        "tier_p_value": f.steering.tier_p_value if f.steering else None,
    }


def _evidence(f: Finding, width: timedelta | None, min_cell_size: int, formats: Formats, words: Words,
              bins: dict) -> dict:
    evidence = list(f.evidence or ())
    publishable = sorted((c for c in evidence if _publishable(c, min_cell_size)), key=lambda c: -(c.weight_share or 0))
    shown = [_cell_view(c, width, formats, words, bins) for c in publishable[:EVIDENCE_SHOWN]]
    return {"evidence": shown, "evidence_more": max(len(publishable) - len(shown), 0),
            "evidence_suppressed": (len(evidence) - len(publishable)) + int(f.evidence_suppressed or 0),
            "evidence_present": f.evidence is not None}


def _numbers(f: Finding) -> dict:
    """The finding's own numbers, as findings.json holds them."""
    rows_group, rows_reference = f.rows_group, f.rows_reference
    weight = f.cluster_weight
    return {
        "premium": f.premium, "ci_low": f.ci_low, "ci_high": f.ci_high,
        "premium_abs": abs(f.premium) if finite(f.premium) else None,
        "raw_premium": f.raw_premium,
        "mix_gap": (f.raw_premium - f.premium) if finite(f.raw_premium) and finite(f.premium) else None,
        "p_value": f.p_value, "q_value": f.q_value, "calibrated_p_value": f.calibrated_p_value,
        "coverage": f.coverage, "cells": f.cells, "rows_group": rows_group, "rows_reference": rows_reference,
        "rows_matched": (rows_group + rows_reference) if isinstance(rows_group, int)
        and isinstance(rows_reference, int) else None,
        "rows_group_all": f.rows_group_all, "rows_reference_all": f.rows_reference_all,
        "users": f.users, "users_group": f.users_group, "users_reference": f.users_reference,
        "material_interval": f.material_interval, "insufficient_reason": f.insufficient_reason,
        "cluster_weight": {"effective_users": weight.effective_users, "top_share": weight.top_share,
                           "top5_share": weight.top5_share, "few_users_carry": weight.few_users_carry}
        if weight else None,
        "se_log": f.se_log, "dof": f.dof, "clusters": f.clusters, "pooled_clusters": bool(f.pooled_clusters),
        "method": f.method or "", "mde": f.mde,
        "rank_test": {"p_value": f.rank_test.p_value, "agrees": f.rank_test.agrees} if f.rank_test else None,
    }


def finding_view(index: int, f: Finding, width: timedelta | None, min_cell_size: int, formats: Formats,
                 language: str, words: Words, alpha: float | None, bins: dict) -> dict:
    """Everything the template shows of one finding."""
    _ = translations(language).gettext
    outcome = vocabulary.outcome(f.outcome)
    verdict = vocabulary.verdict(f.verdict)
    analytic, cross_agrees = _analytic(f, alpha)
    d = f.decomposition
    return {
        "index": index, "anchor": f"finding-{index + 1}",
        "segment": words.segment(f.segment), "column": words.column(f.column),
        "group": words.value(f.column, f.group), "reference": words.value(f.column, f.reference),
        "title": _title(f, words, outcome, language, _),
        "kind": f.kind, "outcome": outcome.id, "outcome_label": outcome.label(language),
        "what": outcome.noun(language), "purchase": outcome.purchase, "share": outcome.scale is Scale.DIFFERENCE,
        "verdict": verdict.id, "verdict_label": verdict.label(language), "flagged": bool(f.flagged),
        "robust_flag": verdict.id == Verdict.FLAGGED,  # a flag that survived its checks (or was never checked)
        **_numbers(f), **_kind_parts(f),
        "analytic": analytic, "cross_agrees": cross_agrees,
        "decomposition": {"raw": d.raw, "unmatched": d.unmatched, "mix": d.mix, "price": d.price_group_weighted}
        if d else None,
        "decomposition_shares": decomposition_shares(d, f.raw_premium),
        "sensitivity": _sensitivity(f, words, _),
        "robustness": robustness(f, words, formats, _),
        **_evidence(f, width, min_cell_size, formats, words, bins),
        "provisions": [p for p in provisions(language)
                       if f.kind in p.kinds and outcome.id in p.outcomes] if verdict.id == Verdict.FLAGGED else [],
        "cell_chart": None, "band_chart": None,
    }


def sort_key(view: dict):
    order = {v: i for i, v in enumerate(VERDICT_ORDER)}
    premium = view["premium"]
    return (order.get(view["verdict"], len(order)), -abs(premium) if finite(premium) else 0, view["index"])
