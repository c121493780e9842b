"""Audits over time, without Spark: the change in each premium between two findings.json documents."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from auditor.findings import change_interval, compare, load_findings
from auditor.errors import AuditInputError


def _finding(group="ios", premium=0.05, se=0.01, dof=400, outcome="price", scale="ratio", **extra):
    return {"segment": "Device", "column": "os", "group": group, "reference": "android", "kind": "group",
            "outcome": outcome, "scale": scale, "premium": premium, "se_log": se, "dof": dof,
            "verdict": "flagged", **extra}


def _doc(findings, match="city, time (1h buckets)", materiality=0.01, name="Sept"):
    return {"audit": {"name": name, "period": None, "started_at": "2026-09-30T00:00:00+00:00",
                      "config_sha256": "x", "match": match, "materiality": materiality, "alpha": 0.05,
                      "confidence": 0.95},
            "findings": findings}


def test_change_on_the_log_scale_matches_the_closed_form():
    before, after = _doc([_finding(premium=0.052, se=0.010, dof=10**9)]), _doc([_finding(premium=0.011, se=0.012, dof=10**9)])
    [change] = compare(before, after).changes
    d = math.log(1.011) - math.log(1.052)
    se = math.hypot(0.010, 0.012)
    assert change.change == pytest.approx(math.expm1(d), rel=1e-12)
    assert change.ci_low == pytest.approx(math.expm1(d - 1.959963984540054 * se), rel=1e-6)
    assert change.ci_high == pytest.approx(math.expm1(d + 1.959963984540054 * se), rel=1e-6)
    assert change.p_value == pytest.approx(2 * (1 - 0.5 * (1 + math.erf(abs(d) / se / math.sqrt(2)))), rel=1e-6)
    assert change.significant and change.p_value < 0.05
    assert (change.premium_before, change.premium_after) == (0.052, 0.011)


def test_small_change_is_not_significant_and_shares_compare_on_their_own_scale():
    before = _doc([_finding(premium=0.050, se=0.02), _finding(outcome="coupon_incidence", scale="difference",
                                                                premium=-0.10, se=0.02)])
    after = _doc([_finding(premium=0.045, se=0.02), _finding(outcome="coupon_incidence", scale="difference",
                                                               premium=-0.02, se=0.02)])
    price, share = compare(before, after).changes
    assert not price.significant and price.p_value > 0.5
    assert share.scale == "difference" and share.change == pytest.approx(0.08)
    assert share.significant and share.ci_low == pytest.approx(0.08 - share.ci_high + 0.08, abs=1e-12)


def test_welch_satterthwaite_dof_matches_the_formula():
    diff, low, high, p, dof = change_interval(0.0, 0.03, 9, 0.1, 0.01, 99, 0.95)
    expected = (0.03**2 + 0.01**2) ** 2 / (0.03**4 / 9 + 0.01**4 / 99)
    assert dof == pytest.approx(expected)
    from scipy import stats
    assert high - diff == pytest.approx(stats.t.ppf(0.975, expected) * math.hypot(0.03, 0.01))


def test_changed_definitions_are_listed_not_compared():
    before = _doc([_finding("ios"), _finding("harmonyos"), _finding("web"), _finding("ipad", premium=None)])
    after = _doc([_finding("ios"), _finding("harmonyos", reference="ios"), _finding("mini_app"),
                  _finding("ipad")])
    result = compare(before, after)
    assert [c.group for c in result.changes] == ["ios"]
    reasons = {n.group: n.reasons for n in result.not_comparable}
    assert [r.to_json() for r in reasons["harmonyos"]] == [{"field": "reference", "before": "android", "after": "ios"}]
    assert [r.to_json() for r in reasons["ipad"]] == [{"field": "premium", "before": None, "after": 0.05}]
    assert [o.group for o in result.only_before] == ["web"]
    assert [o.group for o in result.only_after] == ["mini_app"]


@pytest.mark.parametrize("field, value", [("match", "city, car_level, time (1h buckets)"), ("materiality", 0.02)])
def test_a_changed_match_or_materiality_makes_every_comparison_not_comparable(field, value):
    before = _doc([_finding("ios"), _finding("harmonyos")])
    after = _doc([_finding("ios"), _finding("harmonyos")], **{field: value})
    result = compare(before, after)
    assert not result.changes and len(result.not_comparable) == 2
    assert all(n.reasons[0].field == field and n.reasons[0].after == value for n in result.not_comparable)


@pytest.mark.parametrize("b0, b1, s0, s1, dof", [(0.05, 0.01, 0.01, 0.012, math.inf), (0.0, 0.0, 0.03, 0.005, math.inf),
                                                (-0.1, 0.2, 0.05, 0.05, 8)])
def test_interval_covers_the_true_change_at_its_level(b0, b1, s0, s1, dof):
    """Independent estimates around b0 and b1: the 95 % interval covers b1 − b0 about 95 % of the time."""
    rng = np.random.default_rng(2026)
    draws = 3000
    # With few degrees of freedom the standard errors are themselves estimates (scaled chi-square).
    noise = (lambda: rng.standard_t(dof, draws)) if math.isfinite(dof) else (lambda: rng.normal(0, 1, draws))
    covered = sum(low <= b1 - b0 <= high for low, high in (
        change_interval(e0, s0, dof, e1, s1, dof, 0.95)[1:3]
        for e0, e1 in zip(b0 + s0 * noise(), b1 + s1 * noise())))
    assert abs(covered / draws - 0.95) < 0.015


def test_load_findings_names_the_key(tmp_path):
    with pytest.raises(AuditInputError, match=r"^\[baseline\] findings: .*nope.json does not exist"):
        load_findings(tmp_path / "nope.json")
    (tmp_path / "x.json").write_text(json.dumps({"a": 1}))
    with pytest.raises(AuditInputError, match=r"is not a findings.json \(no audit and findings\)"):
        load_findings(tmp_path / "x.json")


def test_compare_command_prints_both_languages(tmp_path, capsys):
    from auditor.cli import main

    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(json.dumps(_doc([_finding("ios", premium=0.052, se=0.01), _finding("harmonyos", premium=0.03),
                                    _finding("web")])))
    new.write_text(json.dumps(_doc([_finding("ios", premium=0.011, se=0.01), _finding("harmonyos", premium=0.028),
                                    _finding("web", reference="ios")])))
    assert main(["compare", str(old), str(new)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("Earlier audit: Sept, run ")
    assert lines[1].startswith("Device “ios” vs “android”, price paid: was +5.2%, now +1.1%: the difference is significant (change −3.9%, 95% CI ")
    assert lines[2].startswith("Device “harmonyos” vs “android”, price paid: was +3.0%, now +2.8%: the difference is not significant")
    assert lines[3] == "Device “web”, price paid: not comparable: reference was android, now ios."
    assert len(lines) == 4
    assert main(["compare", str(old), str(new), "--language", "zh-CN"]) == 0
    zh = capsys.readouterr().out.splitlines()
    assert "此前 +5.2%，现在 +1.1%：差异显著" in zh[1] and "差异不显著" in zh[2] and "不可比较" in zh[3]


def test_compare_command_bad_file_is_one_line_exit_2(tmp_path, capsys):
    from auditor.cli import main

    (tmp_path / "new.json").write_text(json.dumps(_doc([])))
    assert main(["compare", str(tmp_path / "old.json"), str(tmp_path / "new.json")]) == 2
    err = capsys.readouterr().err
    assert err == f"error: OLD: {tmp_path / 'old.json'} does not exist: name the earlier audit's findings.json\n"
