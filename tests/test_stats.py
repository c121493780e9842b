"""The estimator and multiple-testing code against independent computations (no Spark)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.multitest import multipletests

from auditor.stats.multiple import bh_qvalues
from auditor.stats.premium import (ComparisonSummary, cluster_robust, equivalence_p, jackknife, minimum_detectable,
                                   user_scores)


def _panel(seed: int, users: int = 60, cells: int = 12, premium: float = 0.03, switchers: bool = False):
    """Small log: user effects, cell effects, a user-level segment (optionally some users switch)."""
    rng = np.random.default_rng(seed)
    user_group = rng.random(users) < 0.4
    user_effect = rng.normal(0, 0.1, users)
    n = rng.integers(1, 15, users)
    user = np.repeat(np.arange(users), n)
    x = user_group[user].astype(float)
    if switchers:
        flip = rng.random(user.size) < 0.1
        x = np.where(flip, 1 - x, x)
    cell = rng.integers(0, cells, user.size)
    y = 3 + 0.2 * cell + user_effect[user] + premium * x + rng.normal(0, 0.05, user.size)
    return pd.DataFrame({"user": user, "cell": cell, "x": x, "y": y})


def _summary(df: pd.DataFrame) -> ComparisonSummary:
    return user_scores(df.user, df.cell, df.x, df.y)


def _supported(df: pd.DataFrame) -> pd.DataFrame:
    share = df.groupby("cell").x.transform("mean")
    return df[(share > 0) & (share < 1)]


@pytest.mark.parametrize("seed,switchers", [(1, False), (2, False), (3, True), (4, True)])
def test_premium_and_clustered_se_equal_statsmodels_with_cell_dummies(seed, switchers):
    df = _panel(seed, switchers=switchers)
    # Make one cell single-group so common support matters.
    df.loc[df.cell == 0, "x"] = 0.0
    ols = smf.ols("y ~ x + C(cell)", data=_supported(df)).fit(
        cov_type="cluster", cov_kwds={"groups": _supported(df).user}, use_t=True)
    ours = cluster_robust(_summary(df))
    assert ours.beta == pytest.approx(ols.params["x"], rel=1e-8, abs=1e-12)
    assert ours.se == pytest.approx(ols.bse["x"], rel=1e-8)
    # The t reference counts the clusters of the smaller side (statsmodels: all clusters, G - 1).
    sup = _supported(df)
    sides = (sup[sup.x > 0].user.nunique(), sup[sup.x == 0].user.nunique())
    assert ours.dof == min(sides) - 1 < sup.user.nunique() - 1
    from scipy import stats
    t = ols.params["x"] / ols.bse["x"]
    assert ours.p_value == pytest.approx(2 * stats.t.sf(abs(t), min(sides) - 1), rel=1e-6, abs=1e-12)
    crit = stats.t.ppf(0.975, min(sides) - 1)
    assert ours.ci_low == pytest.approx(math.expm1(ols.params["x"] - crit * ols.bse["x"]), rel=1e-8)
    assert ours.ci_high == pytest.approx(math.expm1(ols.params["x"] + crit * ols.bse["x"]), rel=1e-8)
    with_all = smf.ols("y ~ x + C(cell)", data=sup).fit(cov_type="cluster", cov_kwds={"groups": sup.user}, use_t=True)
    assert with_all.pvalues["x"] <= ours.p_value


def test_unsupported_comparison_is_undefined_not_zero():
    df = _panel(5)
    df["x"] = 0.0  # the group never occurs in any cell
    est = cluster_robust(_summary(df))
    assert math.isnan(est.p_value) and math.isnan(est.beta)


def test_planted_premium_is_recovered_and_interval_covers_it():
    df = _panel(6, users=2000, premium=0.05)
    est = cluster_robust(_summary(df))
    assert est.se < 0.007
    assert est.beta == pytest.approx(0.05, abs=3 * est.se)
    assert est.ci_low < math.expm1(0.05) < est.ci_high
    assert est.p_value < 1e-6


def test_bh_matches_statsmodels_on_known_p_values():
    p = np.array([0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205, 0.212, 0.216])
    expected = multipletests(p, method="fdr_bh")[1]
    np.testing.assert_allclose(bh_qvalues(p), expected, rtol=1e-12)
    # Worked by hand: the smallest is 10 * 0.001 / 1 = 0.01; ties in the step-up take the minimum to the right.
    assert bh_qvalues(p)[0] == pytest.approx(0.01)
    assert bh_qvalues(p)[2] == pytest.approx(0.042 * 10 / 5)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.floats(0, 1), st.just(float("nan"))), min_size=1, max_size=40))
def test_bh_properties(p):
    q = bh_qvalues(p)
    p = np.asarray(p)
    ok = ~np.isnan(p)
    assert np.array_equal(np.isnan(q), ~ok)
    if ok.any():
        assert np.all(q[ok] >= p[ok] - 1e-15) and np.all(q[ok] <= 1)
        order = np.argsort(p[ok], kind="mergesort")
        assert np.all(np.diff(q[ok][order]) >= -1e-15)  # monotone in p
        np.testing.assert_allclose(q[ok], multipletests(p[ok], method="fdr_bh")[1], rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("seed,switchers", [(7, False), (8, True)])
def test_jackknife_deletions_equal_refits_without_each_user(seed, switchers):
    df = _panel(seed, users=40, cells=6, switchers=switchers)
    summary = _summary(df)
    beta = summary.scores_a.sum() / summary.scores_b.sum()
    users = sorted(_supported(df).user.unique())
    refits = []
    for u in users:
        rest = _supported(df[df.user != u])
        rest = rest[rest.groupby("cell").x.transform("mean").between(1e-9, 1 - 1e-9)]
        refits.append(smf.ols("y ~ x + C(cell)", data=rest).fit().params["x"])
    loo = (summary.scores_a.sum() - summary.delta_a) / (summary.scores_b.sum() - summary.delta_b)
    np.testing.assert_allclose(loo, refits, rtol=1e-9, atol=1e-12)
    g = len(users)
    expected_se = math.sqrt((g - 1) / g * np.sum((np.array(refits) - beta) ** 2))
    assert jackknife(summary).se == pytest.approx(expected_se, rel=1e-9)


def test_dose_slope_equals_statsmodels_with_continuous_regressor():
    rng = np.random.default_rng(3)
    df = _panel(9, users=80)
    df["x"] = np.log2(1 + rng.integers(0, 300, df.user.max() + 1))[df.user]
    df["y"] = df.y + 0.015 * df.x
    ols = smf.ols("y ~ x + C(cell)", data=df).fit(cov_type="cluster", cov_kwds={"groups": df.user})
    summary = user_scores(df.user, df.cell, df.x, df.y, sides=False)
    assert summary.users_group is None and summary.dof == summary.clusters - 1  # a dose has no sides
    ours = cluster_robust(summary)
    assert ours.beta == pytest.approx(ols.params["x"], rel=1e-9)
    assert ours.se == pytest.approx(ols.bse["x"], rel=1e-8)


def test_minimum_detectable_effect_and_equivalence_closed_forms():
    est = jackknife(_summary(_panel(10, users=300)))
    from scipy import stats
    shift = stats.t.ppf(0.975, est.dof) + stats.t.ppf(0.8, est.dof)
    assert minimum_detectable(est, 0.05) == pytest.approx(math.expm1(shift * est.se), rel=1e-12)
    # An estimate at the margin's edge gives TOST p = 0.5; far inside, p -> 0.
    edge = type(est)(math.log1p(0.01), 0.002, 1000, 0.0, 0.0, 0.0, "x")
    assert equivalence_p(edge, 0.01) == pytest.approx(0.5, abs=1e-12)
    inside = type(est)(0.0, 0.002, 1000, 1.0, 0.0, 0.0, "x")
    assert equivalence_p(inside, 0.01) < 1e-5
