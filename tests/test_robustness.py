"""Verdicts that say what they know, without Spark: a flag that fails its robustness checks is
`flagged_not_robust`; a change that leaves nothing to compare is not a loss of the flag; the timing
curve follows the window down while coverage holds and names timing when the premium falls below
materiality; the report's summary tells robust flags from fragile ones, in both languages."""

from __future__ import annotations

import copy
import html
import math
import re

import numpy as np
import pytest

from auditor import vocabulary
from auditor.spec import parse_config
from auditor.findings import Finding
from auditor.findings.model import BalanceCheck, ClusterWeight, CurveStep, RobustReason, SensitivityRow
from auditor.report import render
from auditor.findings.sensitivity import (CURVE_HALVINGS, CURVE_MIN_COVERAGE, calibration, curve_windows, judge, timing_curve,
                                 unestimable)
from auditor.stats.premium import ComparisonSummary, jackknife
from auditor.summaries import Comparison, ComparisonData
from conftest import audit_toml

CONFIG = parse_config(audit_toml(columns={"transaction_id": "id", "user_id": "u", "timestamp": "ts", "price": "price"},
                                 test={"materiality": 0.02}))


def finding(premium=0.097, ci=(0.094, 0.0997), coverage=0.9, **changes) -> Finding:
    fields = dict(
        segment="Device", column="os", group="ios", reference="android", kind="group", outcome="price",
        scale="ratio", premium=premium, ci_low=ci[0], ci_high=ci[1], p_value=1e-9, q_value=1e-8,
        method="cv3_jackknife", se_log=0.002, dof=200, analytic=None, raw_premium=0.1, flagged=True,
        verdict="flagged", mde=0.01, tost_p_value=1.0, rank_test=None, cells=400, rows_group=3000,
        rows_reference=6000, rows_group_all=3300, rows_reference_all=6700, users=600, users_group=200,
        users_reference=400, material_interval=True, insufficient_reason=None, coverage=coverage, clusters=600,
        pooled_clusters=False, decomposition=None,
        cluster_weight=ClusterWeight(150.0, 0.01, 0.04, 0.5, False))
    fields.update(changes)
    return Finding(**fields)


def row(kind="leave_out", premium=0.09, flagged=True, estimable=True, reason=None, **extra) -> SensitivityRow:
    return SensitivityRow(change=extra.pop("change", kind), kind=kind, premium=premium if estimable else math.nan,
                          ci_low=premium - 0.01, ci_high=premium + 0.01, p_value=1e-6, rows=100, estimable=estimable,
                          unestimable_reason=reason, flagged=flagged if estimable else None, **extra)


BALANCED = [BalanceCheck(measure="time_bucket", smd=0.01, balanced=True)]


def test_a_robust_flag_keeps_its_verdict():
    out = judge(finding(), [row(), row("time_bucket_halved", premium=0.096)], BALANCED, [], None, 0.02, alpha=0.05)
    assert out.verdict == "flagged" and out.flagged and out.robustness.robust is True
    assert out.robustness.robust_reasons == () and out.robustness.variants_estimable == 2


def test_a_flag_that_moves_when_the_window_halves_is_flagged_not_robust_with_both_premiums():
    out = judge(finding(), [row("time_bucket_halved", premium=0.0725)], BALANCED, [], None, 0.02, alpha=0.05)
    assert out.verdict == "flagged_not_robust" and out.flagged and out.robustness.robust is False
    (reason,) = out.robustness.robust_reasons
    assert reason.to_json() == {"reason": "time_bucket_moves", "premium": 0.0725, "original_premium": 0.097,
                      "ci_low": 0.094, "ci_high": 0.0997}


def test_only_a_flagged_verdict_can_become_not_robust():
    below = finding(verdict="significant_below_materiality", flagged=False)
    assert judge(below, [row(flagged=False)], BALANCED, [], None, 0.02, alpha=0.05).verdict == "significant_below_materiality"


def test_a_leave_out_with_nothing_left_is_not_a_loss_of_the_flag():
    rows = [row(estimable=False, reason="no_group_rows", change="without city = SH"),
            row(change="without city = BJ", premium=0.04)]
    out = judge(finding(premium=0.04, ci=(0.03, 0.05)), rows, BALANCED, [], None, 0.02, alpha=0.05)
    assert out.verdict == "flagged" and out.robustness.robust is True
    assert (out.robustness.variants_estimable, out.robustness.variants_unestimable) == (1, 1)
    # The same row estimable and not flagged, its premium out of the finding's interval, is a loss: the
    # rule still bites where there is data.
    lost = judge(finding(), [row(flagged=False, change="without city = BJ")], BALANCED, [], None, 0.02, alpha=0.05)
    assert lost.verdict == "flagged_not_robust"
    assert lost.robustness.robust_reasons == (RobustReason("loses_flag", changes=("without city = BJ",)),)


def test_a_finding_whose_every_change_is_unestimable_says_so():
    rows = [row(estimable=False, reason="no_group_rows"), row(estimable=False, reason="too_few_users_group")]
    out = judge(finding(), rows, BALANCED, [], None, 0.02, alpha=0.05)
    assert out.verdict == "flagged" and out.robustness.variants_estimable == 0
    assert out.robustness.variants_unestimable == 2


def _summary(users_group, users_reference, cells, rows=500, scores=80) -> ComparisonSummary:
    rng = np.random.default_rng(1)
    b = rng.uniform(0.5, 1.5, scores)
    a = 0.05 * b + rng.normal(0, 0.01, scores)
    return ComparisonSummary(a, b, a / scores, b / scores, rows=rows, cells=cells, users=scores,
                             users_group=users_group, users_reference=users_reference)


@pytest.mark.parametrize("sides, reason", [
    ((0, 300, 0), "no_group_rows"), ((200, 0, 0), "no_reference_rows"), ((10, 300, 40), "too_few_users_group"),
    ((200, 12, 40), "too_few_users_reference"), ((200, 300, 3), "too_few_cells"), ((200, 300, 40), None)])
def test_unestimable_follows_the_audits_own_rules_for_a_comparison(sides, reason):
    s = _summary(*sides)
    assert unestimable(s, jackknife(s), CONFIG.test) == reason


def test_curve_windows_halve_down_to_a_second_at_most_the_documented_number_of_times():
    assert curve_windows(3600) == [1800, 900, 450, 225, 112, 56, 28, 14][:CURVE_HALVINGS]
    assert curve_windows(4) == [2, 1]
    assert curve_windows(1) == []


def _data(premium: float, coverage: float, rows_group=3000, rows_reference=6000, cells=400, seed=0,
          spread=0.002) -> ComparisonData:
    """A comparison's data whose jackknife premium is about `premium`, with the given coverage."""
    rng = np.random.default_rng(seed)
    b = rng.uniform(0.5, 1.5, 600)
    a = math.log1p(premium) * b + rng.normal(0, spread, 600)
    summary = ComparisonSummary(a, b, np.zeros(600), np.zeros(600), rows=rows_group + rows_reference,
                                cells=cells, users=600, users_group=200, users_reference=400)
    total = (rows_group + rows_reference) / coverage
    return ComparisonData(
        comparison=Comparison(id=1, kind="group", segment="Device", column="os", group="ios", reference="android"),
        primary=summary, secondary=None, rows_group=rows_group, rows_reference=rows_reference,
        rows_group_all=int(total / 3), rows_reference_all=int(total - total / 3), mean_group_all=0.0,
        mean_reference_all=0.0, mean_group_matched=0.0, mean_reference_matched=0.0, price_gap_matched=0.0,
        pooled_clusters=False)


def _delta_summary(d: ComparisonData) -> ComparisonData:
    """The same data with exact deletion deltas (a user's own terms), so the jackknife has an interval."""
    s = d.primary
    return ComparisonData(**{**d.__dict__, "primary": ComparisonSummary(
        s.scores_a, s.scores_b, -s.scores_a, -s.scores_b, rows=s.rows, cells=s.cells, users=s.users,
        users_group=s.users_group, users_reference=s.users_reference)})


def test_a_premium_that_falls_below_materiality_as_the_window_narrows_is_explained_by_timing():
    steps = [(1800, _delta_summary(_data(0.07, 0.85, rows_group=2900))),
             (900, _delta_summary(_data(0.04, 0.8, rows_group=2800))),
             (450, _delta_summary(_data(0.005, 0.7, rows_group=2700))),
             (225, _delta_summary(_data(0.0, 0.3, rows_group=1000)))]  # too thin: the curve stops before it
    f = finding(premium=0.097, ci=(0.094, 0.0997), coverage=0.9)
    curve, stop = timing_curve(f, CONFIG, steps)
    assert [s.time_bucket_seconds for s in curve] == [3600, 1800, 900, 450] and stop == "coverage"
    assert curve[0].audit and curve[0].premium == 0.097 and not any(s.audit for s in curve[1:])
    assert curve[3].premium == pytest.approx(0.005, abs=0.002) and curve[3].coverage == pytest.approx(0.7, abs=1e-3)
    assert 0.3 < CURVE_MIN_COVERAGE * 0.9 < 0.7  # the documented share is what stopped it
    out = judge(f, [], BALANCED, curve, stop, 0.02, alpha=0.05)
    assert out.verdict == "flagged_not_robust"
    first = out.robustness.robust_reasons[0]
    assert first.reason == "explained_by_timing" and first.time_bucket_seconds == 450
    assert out.robustness.time_curve_stop == "coverage" and out.robustness.time_curve_min_coverage == CURVE_MIN_COVERAGE


def test_a_premium_that_stays_put_as_the_window_narrows_is_robust_to_timing():
    steps = [(s, _delta_summary(_data(0.04, 0.85, rows_group=2900 - i, seed=i)))
             for i, s in enumerate(curve_windows(3600))]
    f = finding(premium=0.04, ci=(0.035, 0.045))
    curve, stop = timing_curve(f, CONFIG, steps)
    assert len(curve) == 1 + CURVE_HALVINGS and stop == "limit"
    out = judge(f, [], BALANCED, curve, stop, 0.02, alpha=0.05)
    assert out.verdict == "flagged" and out.robustness.robust is True


def test_a_noisy_dip_below_materiality_whose_interval_holds_the_premium_is_not_timing():
    """A thin finer window can dip below materiality by chance: it counts only when its interval
    excludes the audit's own estimate."""
    noisy = _delta_summary(_data(0.0, 0.8, rows_group=2900, spread=2.0))
    f = finding(premium=0.04, ci=(0.035, 0.045))
    curve, stop = timing_curve(f, CONFIG, [(1800, noisy)])
    assert curve[1].premium < 0.02 and curve[1].ci_low < 0.04 < curve[1].ci_high
    assert judge(f, [], BALANCED, curve, stop, 0.02, alpha=0.05).verdict == "flagged"


def test_the_curve_ends_where_a_finer_window_changes_nothing():
    same = _delta_summary(_data(0.04, 0.85, rows_group=2900))
    curve, stop = timing_curve(finding(premium=0.04, ci=(0.035, 0.045)), CONFIG, [(1800, same), (900, same)])
    assert [s.time_bucket_seconds for s in curve] == [3600, 1800] and stop == "resolution"


# --- the report -----------------------------------------------------------------------------------

def _doc() -> dict:
    """A findings.json document with one robust flag, one fragile flag (timing) and one cleared finding."""
    base = finding().to_json()
    robust = {**copy.deepcopy(base), "group": "harmonyos", "premium": 0.045, "ci_low": 0.03, "ci_high": 0.06,
              "robust": True, "robust_reasons": [], "balance": [], "variants_estimable": 1,
              "variants_unestimable": 1,
              "sensitivity": [{"change": "without city = SH", "kind": "leave_out",
                               "left_out": {"column": "city", "value": "SH"}, "premium": None, "ci_low": None,
                               "ci_high": None, "p_value": None, "rows": 0, "estimable": False,
                               "unestimable_reason": "no_group_rows", "flagged": None},
                              {"change": "without city = BJ", "kind": "leave_out",
                               "left_out": {"column": "city", "value": "BJ"}, "premium": 0.044, "ci_low": 0.02,
                               "ci_high": 0.07, "p_value": 1e-4, "rows": 900, "estimable": True,
                               "unestimable_reason": None, "flagged": True}]}
    fragile = {**copy.deepcopy(base), "verdict": "flagged_not_robust", "robust": False, "balance": [],
               "sensitivity": [], "variants_estimable": 0, "variants_unestimable": 0,
               "robust_reasons": [{"reason": "time_bucket_moves", "premium": 0.073, "original_premium": 0.097,
                                   "ci_low": 0.094, "ci_high": 0.0997}],
               "time_curve": [{"time_bucket_seconds": 3600, "premium": 0.097, "ci_low": 0.094, "ci_high": 0.0997,
                               "coverage": 0.9, "audit": True},
                              {"time_bucket_seconds": 1800, "premium": 0.073, "ci_low": 0.06, "ci_high": 0.08,
                               "coverage": 0.8, "audit": False},
                              {"time_bucket_seconds": 900, "premium": 0.041, "ci_low": 0.03, "ci_high": 0.05,
                               "coverage": 0.7, "audit": False}],
               "time_curve_stop": "coverage", "time_curve_min_coverage": 0.5}
    cleared = {**copy.deepcopy(base), "group": "other", "premium": 0.001, "ci_low": -0.005, "ci_high": 0.007,
               "flagged": False, "verdict": "cleared", "p_value": 0.7, "q_value": 0.7}
    return {"audit": {"name": "A", "platform": "P", "alpha": 0.05, "materiality": 0.02, "confidence": 0.95,
                      "config_text": '[match]\nexact = ["city"]\ntime_bucket = "1h"\n'},
            "data_quality": {"rows_read": 1, "rows_accepted": 1, "rows_rejected": 0},
            "findings": [fragile, robust, cleared]}


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))


def _summary_text(html: str) -> str:
    return _text(html[html.index('id="summary"'):html.index('id="findings"')])


def test_the_summary_counts_robust_and_fragile_flags_apart_with_the_reason_in_words():
    html = render(_doc(), "en", 10)
    summary = _summary_text(html)
    assert "1 of 3 comparisons is flagged." in summary
    assert "1 of 3 comparisons is flagged, but not robust." in summary
    assert ("Not robust: halving the time window moves it from +9.7% to +7.3%; purchases of the two groups may "
            "differ in timing within the window.") in summary
    assert "Check first when each group bought within the time window" in summary
    robust_part = summary[:summary.index("is flagged, but not robust")]
    assert "Device “harmonyos” users paid 4.5% more" in robust_part and "9.7%" not in robust_part
    # The other-verdicts line counts neither kind of flag.
    assert "Cleared 1" in summary and "Flagged, not robust:" not in summary.split("Other verdicts:")[1]


def test_legal_provisions_appear_only_on_the_robust_flag():
    html = render(_doc(), "en", 10)
    cards = {m.group(1): m.group(0) for m in re.finditer(r'<article [^>]*data-finding="(\d)">.*?</article>', html, re.S)}
    assert "Provisions this finding may concern" in cards["1"]
    assert "Provisions this finding may concern" not in cards["0"]
    assert "Legal provisions are listed only for flags that survive the robustness checks." in cards["0"]
    assert "Flagged, not robust" in cards["0"] and 'class="badge flagged_not_robust"' in cards["0"]


def test_the_card_shows_the_timing_curve_and_the_unestimable_leave_out_in_both_languages():
    doc = _doc()
    en, zh = render(doc, "en", 10), render(doc, "zh-CN", 10)
    card_en = _text(re.search(r'<article [^>]*data-finding="0">.*?</article>', en, re.S).group(0))
    assert "Timing: the premium as purchases are compared closer in time" in card_en
    assert "1 h (this audit)" in card_en and "30 min" in card_en and "15 min" in card_en
    assert "they would compare less than 50% of the purchases" in card_en
    assert "Here the premium shrinks at every halving, from +9.7% to +4.1%" in card_en
    robust_en = _text(re.search(r'<article [^>]*data-finding="1">.*?</article>', en, re.S).group(0))
    assert "not estimable: no “harmonyos” purchases remain — every matched one is in city “SH”" in robust_en
    assert "they do not count against the flag" in robust_en and "Robust:" in robust_en
    summary_zh = _summary_text(zh)
    assert "3 项比较中有 1 项显著但不稳健，需复核。" in summary_zh
    assert "时间窗口缩短一半后，溢价从 +9.7% 变为 +7.3%；两个群体在时间窗口内的购买时点可能不同。" in summary_zh
    card_zh = _text(re.search(r'<article [^>]*data-finding="0">.*?</article>', zh, re.S).group(0))
    assert "此处溢价随每次减半而缩小，从 +9.7% 降至 +4.1%" in card_zh
    assert "显著但不稳健，需复核" in card_zh and "1小时 （本次审计）" in card_zh and "30分钟" in card_zh
    robust_zh = _text(re.search(r'<article [^>]*data-finding="1">.*?</article>', zh, re.S).group(0))
    assert "无法估计：已没有“harmonyos”的交易——其全部匹配交易都在城市“SH”" in robust_zh or \
        "无法估计：已没有“harmonyos”的交易——其全部匹配交易都在city“SH”" in robust_zh


def test_only_fragile_flags_say_so_in_the_headline():
    doc = _doc()
    doc["findings"] = [doc["findings"][0], doc["findings"][2]]
    summary = _summary_text(render(doc, "en", 10))
    assert "No comparison is flagged with a premium that survives the audit's robustness checks." in summary
    assert "1 of 2 comparisons is flagged, but not robust." in summary


def test_every_current_verdict_has_a_sentence_on_the_card():
    for verdict in vocabulary.CURRENT_VERDICTS:
        doc = _doc()
        doc["findings"][2]["verdict"] = verdict
        card = re.search(r'<article [^>]*data-finding="2">.*?</article>', render(doc, "en", 10), re.S).group(0)
        assert vocabulary.verdict(verdict).label("en") in card


def _step(seconds, premium, low, high, audit=False):
    return CurveStep(seconds, premium, low, high, coverage=0.8, rows=1000, cells=100, audit=audit)


def test_a_premium_that_shrinks_at_every_halving_is_not_robust_even_above_materiality():
    f = finding(premium=0.097, ci=(0.08, 0.115))
    curve = [_step(3600, 0.097, 0.08, 0.115, audit=True), _step(1800, 0.085, 0.07, 0.1),
             _step(900, 0.05, 0.035, 0.065)]
    out = judge(f, [row("time_bucket_halved", premium=0.085)], BALANCED, curve, "coverage", 0.02, alpha=0.05)
    assert out.verdict == "flagged_not_robust"
    assert [r.reason for r in out.robustness.robust_reasons] == ["shrinks_with_window"]
    assert out.robustness.robust_reasons[0].time_bucket_seconds == 900
    # The same shape whose finest interval still holds the audit's estimate is noise, not timing.
    wide = curve[:2] + [_step(900, 0.05, 0.0, 0.1)]
    assert judge(f, [], BALANCED, wide, "coverage", 0.02, alpha=0.05).verdict == "flagged"
    # Nor is a curve that does not shrink at every step.
    bumpy = curve[:1] + [_step(1800, 0.1, 0.085, 0.115), _step(900, 0.05, 0.035, 0.065)]
    assert judge(f, [], BALANCED, bumpy, "coverage", 0.02, alpha=0.05).verdict == "flagged"


def test_the_shrinking_curve_reads_in_the_summary_in_both_languages():
    doc = _doc()
    doc["findings"][0]["robust_reasons"] = [{"reason": "shrinks_with_window", "time_bucket_seconds": 900,
                                             "premium": 0.041, "ci_low": 0.03, "ci_high": 0.05,
                                             "original_premium": 0.097}]
    assert ("Not robust: compared closer in time it shrinks at every halving, from +9.7% to +4.1% within 15 min; "
            "part of it is explained by timing within the window.") in _summary_text(render(doc, "en", 10))
    assert "在 15分钟 以内从 +9.7% 降至 +4.1%" in _summary_text(render(doc, "zh-CN", 10))


def test_a_change_that_only_has_less_data_is_not_a_loss_of_the_flag():
    """Leaving out a large city: not significant any more, but the premium stays inside the finding's
    interval (the rides scenario's loyal riders, +2 % planted: 1.1 % without Shanghai, p = 0.06)."""
    f = finding(premium=0.0148, ci=(0.0051, 0.0246))
    rows = [row(flagged=False, premium=0.0111, change="without city = Shanghai")]
    out = judge(f, rows, BALANCED, [], None, 0.01, alpha=0.05)
    assert out.verdict == "flagged" and out.robustness.robust is True
    doc = _doc()
    doc["findings"][1]["sensitivity"][1].update(flagged=False, premium=0.04)
    card = re.search(r'<article [^>]*data-finding="1">.*?</article>', render(doc, "en", 10), re.S).group(0)
    assert "it has less data to go on; it does not move the estimate" in _text(card)


def test_where_the_self_check_failed_a_flag_not_significant_against_its_splits_is_not_robust():
    """The calibrated p-value exists only where the self-check failed; the flag must also stand against
    the splits, at the audit's level, or it rests on the reference the self-check refuted."""
    out = judge(finding(calibrated_p_value=0.12), [row()], BALANCED, [], None, 0.02, alpha=0.05)
    assert out.verdict == "flagged_not_robust" and out.flagged
    assert [r.to_json() for r in out.robustness.robust_reasons] == [{"reason": "not_significant_calibrated", "calibrated_p_value": 0.12,
                                            "alpha": 0.05}]
    # Most telling first: ahead of a change that loses the flag.
    both = judge(finding(calibrated_p_value=0.05), [row(flagged=False, change="without city = BJ")], BALANCED,
                 [], None, 0.02, alpha=0.05)
    assert [r.reason for r in both.robustness.robust_reasons] == ["not_significant_calibrated", "loses_flag"]
    # Significant against the splits, or no failed self-check (None): the flag stands.
    assert judge(finding(calibrated_p_value=1 / 201), [row()], BALANCED, [], None, 0.02, alpha=0.05).verdict == "flagged"
    assert judge(finding(calibrated_p_value=None), [row()], BALANCED, [], None, 0.02, alpha=0.05).verdict == "flagged"


def test_a_flag_with_no_sensitivity_checks_is_judged_against_the_self_check_alone():
    dose = finding(kind="dose", calibrated_p_value=0.2)
    out = calibration(dose, 0.05)
    assert out.verdict == "flagged_not_robust" and out.robustness.robust is False
    assert [r.reason for r in out.robustness.robust_reasons] == ["not_significant_calibrated"]
    assert calibration(finding(kind="dose", calibrated_p_value=0.01), 0.05) == finding(kind="dose", calibrated_p_value=0.01)
    below = finding(verdict="significant_below_materiality", flagged=False, calibrated_p_value=0.2)
    assert calibration(below, 0.05) is below


def test_the_calibration_reason_reads_in_the_summary_in_both_languages():
    doc = _doc()
    doc["findings"][0]["robust_reasons"] = [{"reason": "not_significant_calibrated", "calibrated_p_value": 0.12,
                                             "alpha": 0.05}]
    en, zh = render(doc, "en", 10), render(doc, "zh-CN", 10)
    assert "Not robust: against the self-check's random splits it is not significant (calibrated p 0.12)." \
        in html.unescape(_summary_text(en))
    card = _text(re.search(r'<article [^>]*data-finding="0">.*?</article>', en, re.S).group(0))
    assert "(calibrated p 0.12, not below 5%)" in card
    assert "以自检的随机拆分衡量，它并不显著（校准 p 0.12）。" in _summary_text(zh)
