"""Verdicts at the edges: few users on a side, undefined estimates, rounding, materiality.

Unit tests on the stats and findings (no Spark), then tiny logs end to end through the
pipeline in Spark, where every comparison must end in one verdict and the report must
render in both languages.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from auditor import pipeline
from auditor.spec import parse_config
from auditor.errors import AuditConfigError
from auditor.findings import decide
from auditor.stats.multiple import bh_level, bh_qvalues
from auditor.stats.premium import (SE_FLOOR, PremiumEstimate, cluster_robust, equivalence_p, jackknife,
                                   material_interval, minimum_flaggable, user_scores)
from conftest import audit_toml


def _rows(group_users: int, reference_users: int = 60, cells: int = 8, seed: int = 0, premium: float = 0.0,
          price_noise: float = 0.05):
    """Users buy 10 times each in random cells; the first `group_users` users are the group."""
    rng = np.random.default_rng(seed)
    users = group_users + reference_users
    user = np.repeat(np.arange(users), 10)
    cell = rng.integers(0, cells, user.size)
    x = (user < group_users).astype(float)
    y = 3 + 0.1 * cell + rng.normal(0, 0.1, users)[user] + math.log1p(premium) * x + rng.normal(0, price_noise, user.size)
    return user, cell, x, y


# ---------------------------------------------------------------------------------------------
# Few users on a side

def test_user_scores_count_users_per_side_in_supported_cells():
    user, cell, x, y = _rows(3, 40)
    cell = np.where(user == 0, 99, cell)  # user 0 (a group user) buys only in a cell no reference user has
    s = user_scores(user, cell, x, y)
    frame = pd.DataFrame({"user": user, "cell": cell, "x": x})
    share = frame.groupby("cell").x.transform("mean")
    supported = frame[(share > 0) & (share < 1)]
    assert s.users_group == supported[supported.x > 0].user.nunique() == 2
    assert s.users_reference == supported[supported.x == 0].user.nunique() == 40
    assert s.users == s.users_group + s.users_reference


def test_t_reference_counts_the_smaller_side():
    s = user_scores(*_rows(2, 300))
    assert (s.users_group, s.users_reference, s.clusters) == (2, 300, 302)
    est = jackknife(s)
    assert est.dof == 1  # not G - 1 = 301
    t = abs(est.beta / est.se)
    assert est.p_value == pytest.approx(2 * stats.t.sf(t, 1), rel=1e-12)
    assert cluster_robust(s).dof == 1


def test_two_group_users_among_many_do_not_reject_more_than_the_level():
    """The defect: with t(G - 1) over both sides, two heavy group users were 'significant' ~20 % of the time."""
    rejections = 0
    reps = 300
    for r in range(reps):
        user, cell, x, y = _rows(2, 200, cells=6, seed=1000 + r)
        rejections += jackknife(user_scores(user, cell, x, y)).p_value < 0.05
    assert rejections / reps <= 0.065, rejections / reps


# ---------------------------------------------------------------------------------------------
# Numerical floor

def test_identical_prices_give_an_exact_zero_premium_not_a_tiny_p_value():
    user, cell, x, _ = _rows(30, 30)
    y = np.full(user.size, math.log(19.9))
    for method in (jackknife, cluster_robust):
        est = method(user_scores(user, cell, x, y))
        assert (est.beta, est.se, est.premium, est.p_value) == (0.0, 0.0, 0.0, 1.0)
        assert est.ci_low == est.ci_high == 0.0
        assert equivalence_p(est, 0.01) == 0.0  # shown to be within ±1 %, with certainty
    # The within-cell mid-rank of identical prices is constant too: the rank test is silent.
    ranks = np.full(user.size, 0.5)
    assert jackknife(user_scores(user, cell, x, ranks)).p_value == 1.0


def test_a_deterministic_premium_is_exact():
    user, cell, x, _ = _rows(30, 30)
    y = np.log(20.0 * np.where(x > 0, 1.05, 1.0))
    est = jackknife(user_scores(user, cell, x, y))
    assert est.se == 0.0 and est.p_value == 0.0
    assert est.premium == pytest.approx(0.05, abs=1e-12) and est.ci_low == est.ci_high == est.premium
    assert minimum_flaggable(est, 0.05, 0.01) == pytest.approx(0.01, abs=1e-12)  # the threshold itself
    assert equivalence_p(est, 0.01) == 1.0


def test_the_floor_leaves_real_variation_alone():
    user, cell, x, y = _rows(30, 30, price_noise=1e-6)  # prices that differ in the sixth significant digit
    est = jackknife(user_scores(user, cell, x, y))
    assert est.se > 100 * SE_FLOOR and 0 < est.p_value < 1


# ---------------------------------------------------------------------------------------------
# Materiality

def _estimate(beta, se, dof=500, p=0.001):
    crit = stats.t.ppf(0.975, dof)
    return PremiumEstimate(beta, se, dof, p, math.expm1(beta - crit * se), math.expm1(beta + crit * se), "cv3_jackknife")


def test_material_interval_and_the_interval_flag_rule():
    reaches_below = _estimate(math.log1p(0.0235), 0.0095)  # +2.35 % [0.5 %, 4.3 %]
    assert reaches_below.ci_low < 0.01 < reaches_below.premium
    assert material_interval(reaches_below, 0.01) is False
    assert decide(reaches_below, 0.001, 0.9, True, 0.01, 0.05) == "flagged"
    assert decide(reaches_below, 0.001, 0.9, True, 0.01, 0.05, "interval") == "significant_below_materiality"
    clear = _estimate(math.log1p(0.05), 0.005)
    assert material_interval(clear, 0.01) is True
    assert decide(clear, 0.001, 0.9, True, 0.01, 0.05, "interval") == "flagged"
    discount = _estimate(math.log1p(-0.05), 0.005)
    assert material_interval(discount, 0.01) is True
    assert material_interval(PremiumEstimate(0.1, math.nan, 0, math.nan, math.nan, math.nan, "x"), 0.01) is None


@pytest.mark.parametrize("rule,se,level", [("estimate", 0.002, 0.05), ("estimate", 0.01, 0.005),
                                           ("interval", 0.003, 0.05), ("interval", 0.01, 0.01)])
def test_mde_is_the_premium_flagged_with_the_stated_power(rule, se, level):
    """Simulate estimates at the MDE and apply the flag rule itself: 80 % of them must be flagged."""
    dof = 200
    est = _estimate(0.0, se, dof)
    mde = minimum_flaggable(est, level, 0.01, 0.8, rule)
    rng = np.random.default_rng(5)
    beta = math.log1p(mde) + se * rng.standard_t(dof, 200_000)
    significant = 2 * stats.t.sf(np.abs(beta / se), dof) < level
    if rule == "estimate":
        material = np.abs(np.expm1(beta)) >= 0.01
    else:
        material = np.expm1(beta - stats.t.ppf(0.975, dof) * se) >= 0.01
    assert np.mean(significant & material) == pytest.approx(0.8, abs=0.005)
    # Materiality counts: the MDE is never below the threshold, even where the test alone sees less.
    assert mde >= 0.01


def test_mde_of_a_tiny_standard_error_is_the_materiality_threshold_not_less():
    """The defect: an MDE of 0.55 % printed where only 1 % or more could be flagged."""
    est = _estimate(0.0, 0.0015)
    assert minimum_flaggable(est, 0.05, 0.01, 0.8) > 0.01


def test_bh_level_is_where_benjamini_hochberg_starts_flagging():
    rng = np.random.default_rng(3)
    for _ in range(300):
        others = list(rng.uniform(0, 0.2, rng.integers(0, 12)) ** rng.uniform(1, 3))
        level = bh_level(others, 0.05)
        assert 0.05 / (len(others) + 1) - 1e-15 <= level <= 0.05
        for p in (level * (1 - 1e-9), level * (1 + 1e-9)):
            if min((abs(p - o) for o in others), default=1) < 1e-12:
                continue
            q = bh_qvalues([*others, p])[-1]
            assert (q < 0.05 + 1e-12) == (p <= level), (others, p, level, q)


def test_flag_rule_is_validated_at_the_door():
    assert parse_config(edges_config(test={"flag_rule": "interval"})).test.flag_rule == "interval"
    assert parse_config(edges_config()).test.flag_rule == "estimate"
    with pytest.raises(AuditConfigError) as error:
        parse_config(edges_config(test={"flag_rule": "ci"}))
    assert str(error.value) == "[test] flag_rule must be one of 'estimate', 'interval', got 'ci'"


# ---------------------------------------------------------------------------------------------
# End to end on tiny logs

SEGMENTS = [{"name": "Device", "column": "os", "reference": "android", "groups": ["ios"]},
            *({"name": name, "column": name.lower(), "reference": "r", "groups": ["g"]}
              for name in ("Solo", "Island", "Corner")),
            {"name": "Orders", "column": "orders", "kind": "dose"}]


def edges_config(data="x.parquet", **tables) -> str:
    """The tiny logs' config: five segments (one a dose), min_users 5; more tables by keyword."""
    test = {"min_users": 5, **tables.pop("test", {})}
    return audit_toml(audit={"name": "edges", "platform": "T"}, input={"path": str(data)},
                      columns={"transaction_id": "order_no", "user_id": "uid", "timestamp": "ts", "price": "price"},
                      match={"exact": ["route"], "time_bucket": None}, segments=SEGMENTS,
                      **tables, test=test)


def _tiny_log(tmp_path, ios_price: float, language: str = "en"):
    """80 users x 12 purchases on routes r0-r5 (users 60-79 only on r9), every price 20.00 but for iOS.

    Segments: os (40 iOS, 40 Android; iOS pays ios_price), solo (one user in the group), island (users
    60-79 against 0-39: no shared route), corner (users 60-69 against 70-79: one shared route).
    """
    rng = np.random.default_rng(4)
    user = np.repeat(np.arange(80), 12)
    route = np.where(user >= 60, "r9", np.char.add("r", rng.integers(0, 6, user.size).astype(str)))
    n = user.size
    frame = pd.DataFrame({
        "order_no": [f"o{i}" for i in range(n)], "uid": [f"<b>u{u}</b>" for u in user],
        "ts": pd.Timestamp("2026-09-07", tz="UTC") + pd.to_timedelta(np.arange(n), unit="s"),
        "price": np.where(user < 40, ios_price, 20.0), "route": route,
        "os": np.where(user < 40, "ios", "android"),
        "solo": np.where(user == 0, "g", "r"),
        "island": np.select([user >= 60, user < 40], ["g", "r"], "none"),
        "corner": np.select([(user >= 60) & (user < 70), user >= 70], ["g", "r"], "none"),
        "orders": (user * 7) % 300,
    })
    data = tmp_path / "log.parquet"
    frame.to_parquet(data)
    return parse_config(edges_config(data, report={"language": language}))


def _run(spark, tmp_path, ios_price, language="en"):
    config = _tiny_log(tmp_path, ios_price, language)
    pipeline.run(config, spark, tmp_path / "out")
    doc = json.loads((tmp_path / "out" / "findings.json").read_text())
    html = (tmp_path / "out" / "report.html").read_text()
    return {f["segment"]: f for f in doc["findings"]}, html


def test_tiny_log_with_identical_prices_ends_every_comparison_in_a_verdict(spark, tmp_path):
    found, html = _run(spark, tmp_path, 20.0)
    assert set(found) == {"Device", "Solo", "Island", "Corner", "Orders"}
    # Identical prices: an exact zero, no p-value from rounding, the rank test silent, cleared.
    device = found["Device"]
    assert (device["premium"], device["se_log"], device["p_value"], device["ci_low"], device["ci_high"]) == (0, 0, 1, 0, 0)
    assert device["rank_test"]["agrees"] is True and device["rank_test"]["p_value"] == 1
    assert device["verdict"] == "cleared" and device["material_interval"] is False
    assert (device["users_group"], device["users_reference"]) == (40, 20)  # users 60-79 ride only r9
    # One user on a side: no estimate, a verdict with its reason, nulls in findings.json.
    solo = found["Solo"]
    assert solo["verdict"] == "insufficient_data" and solo["insufficient_reason"] == "too_few_users_group"
    assert (solo["users_group"], solo["users_reference"]) == (1, 59)
    assert solo["p_value"] is None and solo["q_value"] is None and solo["flagged"] is False
    # No common support.
    island = found["Island"]
    assert island["verdict"] == "insufficient_data" and island["insufficient_reason"] == "no_common_support"
    assert island["premium"] is None and island["cells"] == 0 and island["mde"] is None
    # A single shared cell.
    corner = found["Corner"]
    assert (corner["cells"], corner["users_group"], corner["users_reference"]) == (1, 10, 10)
    assert corner["verdict"] == "insufficient_data" and corner["insufficient_reason"] == "too_few_cells"
    # A dose has no sides; its materiality is stated over the range of its bands.
    orders = found["Orders"]
    assert orders["users_group"] is None and orders["over_range"]["doublings"] == pytest.approx(math.log2(257))
    assert orders["premium"] == 0 and orders["over_range"]["premium"] == 0
    assert "not estimable: no cell holds comparable purchases of both groups." in html
    assert "not judged: only <data value=\"1\" data-k=\"users_group\">1</data> users of the group" in html


def test_tiny_log_with_a_deterministic_premium_is_exact_and_reported_in_chinese(spark, tmp_path):
    found, html = _run(spark, tmp_path, 21.0, language="zh-CN")
    device = found["Device"]
    assert device["premium"] == pytest.approx(0.05, abs=1e-12) and device["se_log"] == 0
    assert device["ci_low"] == device["ci_high"] == device["premium"] and device["p_value"] == 0
    assert device["verdict"] == "flagged" and device["material_interval"] is True
    assert found["Solo"]["verdict"] == "insufficient_data"
    assert "无法估计：没有任何单元同时包含两个群体的可比交易。" in html
    assert "未作判断：该群体只有" in html


# ---------------------------------------------------------------------------------------------
# Findings from summaries (no Spark): steering, dose range, decomposition, undefined numbers

def _data(comparison, primary, secondary=None):
    from auditor.engine.estimate import ComparisonData

    return ComparisonData(comparison=comparison, primary=primary, secondary=secondary, rows_group=100,
                          rows_reference=300, rows_group_all=120, rows_reference_all=320, mean_group_all=3.1,
                          mean_reference_all=3.0, mean_group_matched=3.08, mean_reference_matched=3.01,
                          price_gap_matched=0.02, pooled_clusters=False)


def _config(**tables):
    return parse_config(edges_config(**tables))


def test_steering_takes_p_value_interval_and_verdict_from_the_price_model():
    from auditor.engine.estimate import STEERING, Comparison
    from auditor.findings import build_findings

    config = _config(steering={"column": "level", "order": ["economy", "comfort"], "context": ["route"]})
    user, cell, x, _ = _rows(40, 40, seed=9)
    rng = np.random.default_rng(9)
    tier = (rng.random(user.size) < 0.3 + 0.2 * x).astype(float)  # the group is offered comfort more often
    price = math.log(20) + 0.01 * tier + rng.normal(0, 0.05, user.size)  # which costs little more
    tiers, prices = user_scores(user, cell, x, tier), user_scores(user, cell, x, price)
    c = Comparison(0, STEERING, "Device", "os", "ios", "android", segment_index=0)
    (f,), _ = build_findings({0: _data(c, tiers, prices)}, config)
    model = jackknife(prices)
    assert (f.premium, f.p_value, f.ci_low, f.ci_high) == (model.premium, model.p_value, model.ci_low, model.ci_high)
    assert f.tost_p_value == equivalence_p(model, 0.01)
    assert f.steering.tier_p_value == jackknife(tiers).p_value < 0.001 < model.p_value  # beside it, not mixed in


def test_a_dose_is_material_over_its_range_of_bands():
    """0.9 % per doubling is 7.4 % from 0 to 256 orders: a flag, not 'below materiality'."""
    from auditor.engine.estimate import DOSE, Comparison
    from auditor.findings import build_findings

    rng = np.random.default_rng(2)
    user = np.repeat(np.arange(400), 20)
    cell = rng.integers(0, 20, user.size)
    dose = np.log2(1 + rng.integers(0, 256, 400))[user]
    y = 3 + 0.1 * cell + math.log1p(0.009) * dose + rng.normal(0, 0.02, user.size)
    s = user_scores(user, cell, dose, y, sides=False)
    c = Comparison(0, DOSE, "Orders", "orders", "per doubling", "log2(1 + orders)", segment_index=4)
    (f,), _ = build_findings({0: _data(c, s)}, _config())
    assert f.premium == pytest.approx(0.009, abs=0.001) and f.premium < 0.01
    assert f.dose.over_range.premium == pytest.approx(math.expm1(math.log1p(f.premium) * math.log2(257)))
    assert f.dose.over_range.premium > 0.07
    assert f.verdict == "flagged"
    assert f.dose.over_range.materiality_per_doubling <= f.mde < 0.01  # per doubling, judged over the range


def test_decomposition_names_its_group_weighted_price_part_and_single_user_sides_are_null_not_a_crash():
    from auditor.engine.estimate import GROUP, Comparison
    from auditor.findings import build_findings

    c = Comparison(0, GROUP, "Device", "os", "ios", "android", segment_index=0)
    d = Comparison(1, GROUP, "Solo", "solo", "g", "r", segment_index=1)
    user, cell, x, y = _rows(40, 40, seed=3)
    solo = user_scores(*_rows(1, 60, seed=4))
    (device, alone), _ = build_findings({0: _data(c, user_scores(user, cell, x, y)), 1: _data(d, solo)}, _config())
    assert device.decomposition.price_group_weighted == 0.02 and "price" not in device.decomposition.to_json()
    assert alone.verdict == "insufficient_data" and alone.insufficient_reason == "too_few_users_group"
    out = alone.to_json()
    assert out["p_value"] is None and out["q_value"] is None and out["mde"] is None
    json.dumps(out, allow_nan=False)  # nothing undefined is written as NaN
