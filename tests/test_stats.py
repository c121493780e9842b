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
    # The t reference counts the clusters of the smaller side (statsmodels: all clusters, G - 1); CR1
    # keeps it, the jackknife lowers it when a few users make its variance (see the tests below).
    sup = _supported(df)
    sides = (sup[sup.x > 0].user.nunique(), sup[sup.x == 0].user.nunique())
    dof = min(sides) - 1
    assert ours.dof == dof < sup.user.nunique() - 1
    from scipy import stats
    t = ols.params["x"] / ols.bse["x"]
    assert ours.p_value == pytest.approx(2 * stats.t.sf(abs(t), dof), rel=1e-6, abs=1e-12)
    crit = stats.t.ppf(0.975, dof)
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


# --- few and unequal users: effective clusters, diagnostics, the wild bootstrap ---------------------

from types import SimpleNamespace  # noqa: E402

from auditor.findings import MIN_EFFECTIVE_USERS, cluster_weight, insufficient_reason  # noqa: E402
from auditor.stats.wild import cluster_diagnostics, sign_vectors, wild_bootstrap  # noqa: E402


def _unequal(seed: int, users: int = 8, top: float = 0.4) -> ComparisonSummary:
    """A small log where one user holds `top` of the rows."""
    rng = np.random.default_rng(seed)
    rest = rng.lognormal(0, 1, users - 1)
    sizes = np.maximum(2, np.round(np.concatenate([[top], (1 - top) * rest / rest.sum()]) * 400)).astype(int)
    user = np.repeat(np.arange(users), sizes)
    x = (user % 2).astype(float)
    cell = rng.integers(0, 20, user.size)
    y = 0.3 * cell + rng.normal(0, 0.1, users)[user] + rng.normal(0, 0.05, user.size)
    return user_scores(user, cell, x, y)


@given(st.lists(st.floats(0.01, 100), min_size=2, max_size=40))
@settings(max_examples=60, deadline=None)
def test_effective_clusters_is_the_inverse_herfindahl_of_weight_shares(weights):
    b = np.array(weights)
    s = ComparisonSummary(np.zeros_like(b), b, np.zeros_like(b), np.zeros_like(b), rows=100, cells=10,
                          users=b.size, users_group=b.size, users_reference=b.size)
    shares = b / b.sum()
    assert s.effective_clusters == pytest.approx(1 / np.sum(shares ** 2), rel=1e-12)
    assert 1 - 1e-9 <= s.effective_clusters <= b.size + 1e-9


def test_one_heavy_user_cuts_the_effective_users():
    equal = ComparisonSummary(np.zeros(50), np.ones(50), np.zeros(50), np.zeros(50), 500, 10, 50, 20, 30)
    assert equal.effective_clusters == pytest.approx(50)
    # One user with half the weight among 49 equal others: G* = 1 / (0.25 + 49 (0.5/49)^2) < 4.
    b = np.concatenate([[49.0], np.ones(49)])
    heavy = ComparisonSummary(np.zeros(50), b, np.zeros(50), np.zeros(50), 500, 10, 50, 20, 30)
    assert heavy.effective_clusters == pytest.approx(1 / (0.25 + 49 * (0.5 / 49) ** 2))


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_jackknife_reference_is_satterthwaite_on_the_deletion_changes(seed):
    """dof = min(G_min - 1, 3 (sum d^2)^2 / sum d^4 - 1), d_i the refits' changes; p and interval follow it."""
    df = _panel(seed, switchers=seed > 2)
    s = _summary(df)
    est = jackknife(s)
    sup = _supported(df)
    refits = []
    for u in sorted(sup.user.unique()):
        rest = _supported(df[df.user != u])
        refits.append(smf.ols("y ~ x + C(cell)", data=rest).fit().params["x"])
    d = np.array(refits) - est.beta
    expected = min(s.dof, 3 * np.sum(d ** 2) ** 2 / np.sum(d ** 4) - 1)
    assert est.dof == pytest.approx(expected, rel=1e-6)
    from scipy import stats
    assert est.p_value == pytest.approx(2 * stats.t.sf(abs(est.beta / est.se), expected), rel=1e-6)


def test_one_user_making_the_variance_leaves_two_degrees_of_freedom():
    d = np.concatenate([[1.0], np.full(99, 1e-6)])
    from auditor.stats.premium import jackknife_dof
    assert jackknife_dof(49, d) == pytest.approx(2.0, abs=1e-6)
    assert jackknife_dof(49, np.full(100, 0.3)) == 49  # equal users: G*_v = 300, the sides bind
    assert jackknife_dof(49, np.zeros(100)) == 49  # no variance: nothing to correct


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_diagnostics_against_their_definitions(seed):
    s = _unequal(seed)
    d = cluster_diagnostics(s)
    shares = np.sort(s.scores_b / s.scores_b.sum())[::-1]
    assert d.top_share == pytest.approx(shares[0]) and d.top5_share == pytest.approx(shares[:5].sum())
    assert d.effective_users == pytest.approx(s.effective_clusters)
    # The largest deletion's pull, in jackknife standard errors, from the refits themselves.
    est = jackknife(s)
    sum_a, sum_b = s.scores_a.sum(), s.scores_b.sum()
    loo = (sum_a - s.delta_a) / (sum_b - s.delta_b)
    assert d.top_pull == pytest.approx(np.max(np.abs(loo - est.beta)) / est.se, rel=1e-9)
    weight = cluster_weight(s)
    assert weight.few_users_carry is bool(d.top_share >= 0.2 or d.top5_share >= 0.5)


def test_a_comparison_worth_too_few_users_is_withheld():
    test = SimpleNamespace(min_users=2, min_cells=1)
    b = np.concatenate([[400.0], np.ones(30)])  # one user: G* = 1 / ((400/430)^2 + 30 (1/430)^2) < 1.2
    s = ComparisonSummary(np.zeros(31), b, np.zeros(31), b * 0.5, 500, 10, 31, 15, 16)
    assert s.effective_clusters < MIN_EFFECTIVE_USERS
    est = jackknife(ComparisonSummary(np.arange(31.0), b, np.arange(31.0) * 0.5, b * 0.5, 500, 10, 31, 15, 16))
    assert insufficient_reason(SimpleNamespace(primary=s), est, test) == "too_few_effective_users"
    equal = ComparisonSummary(np.arange(31.0), np.ones(31), np.arange(31.0) * 0.5, np.full(31, 0.5), 500, 10, 31, 15, 16)
    assert insufficient_reason(SimpleNamespace(primary=equal), jackknife(equal), test) is None


@pytest.mark.parametrize("seed", [4, 5])
def test_wild_bootstrap_equals_brute_force_over_every_sign_vector(seed):
    """Each sign vector's t, computed by the jackknife on that bootstrap world's summaries."""
    s = _unequal(seed, users=7)
    brute = []
    for v in sign_vectors(s.clusters):
        world = ComparisonSummary(v * s.scores_a, s.scores_b, v * s.delta_a, s.delta_b, s.rows, s.cells, s.users,
                                  s.users_group, s.users_reference)
        e = jackknife(world)
        brute.append(abs(e.beta / e.se))
    boot = wild_bootstrap(s, weights=sign_vectors(s.clusters))
    assert boot.draws == 2 ** 7
    np.testing.assert_allclose(boot.abs_t, np.sort(brute), rtol=1e-9)
    observed = jackknife(s)
    assert boot.t == pytest.approx(observed.beta / observed.se, rel=1e-9)
    assert boot.p_value == pytest.approx(np.mean(np.array(brute) >= abs(boot.t) * (1 - 1e-12)))


def test_wild_bootstrap_is_deterministic_and_counts_the_observed_draw():
    s = _unequal(6, users=20)
    one, two = wild_bootstrap(s, draws=499), wild_bootstrap(s, draws=499)
    assert one.p_value == two.p_value and one.draws == 500 and one.weights == "rademacher"
    assert one.p_value >= 1 / 500
    assert wild_bootstrap(_unequal(6, users=10), draws=99).weights == "webb"


@pytest.mark.slow  # a Monte Carlo study in small
def test_the_effective_users_reference_holds_the_level_where_the_old_one_did_not():
    """The recorded simulation (validation/clusters.py), small: users holding a third of the rows."""
    from validation.clusters import DESIGNS, run_design

    hotel = next(i for i, d in enumerate(DESIGNS) if "hotel" in d.name)
    result = run_design(hotel, DESIGNS[hotel], reps=300, draws=99)
    old, new = np.mean(result.null["cv3"] < 0.05), np.mean(result.null["cv3_now"] < 0.05)
    assert new < old and 0.03 <= new <= 0.08
    assert np.mean(result.null["cv3_now"] < 0.01) < 0.025
