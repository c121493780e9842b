"""The self-check's statistics without Spark: placebo splits from (cell, user) sums against the audit's
own estimator run on the rows of each split, and the rule's interval and calibration."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from auditor.stats.placebo import (PlaceboPairs, alarm_threshold, calibrated_p, clopper_pearson, false_alarm_iid,
                                   self_check, split_salts, split_sides, split_tests)
from auditor.stats.premium import ComparisonSummary, jackknife, user_scores


def _rows(seed: int, users: int = 80, cells: int = 40, rows: int = 1500, heavy: bool = False):
    rng = np.random.default_rng(seed)
    size = rng.lognormal(0, 1.5 if heavy else 0.3, users)
    user = rng.choice(users, rows, p=size / size.sum())
    cell = rng.integers(0, cells, rows)
    y = 4 + 0.3 * rng.normal(size=cells)[cell] + 0.1 * rng.normal(size=users)[user] + 0.05 * rng.normal(size=rows)
    hashes = rng.integers(-2 ** 63, 2 ** 63 - 1, users, dtype=np.int64)  # stand-ins for xxhash64(user)
    return user, cell, y, hashes


def _pairs(user, cell, y, hashes) -> PlaceboPairs:
    key = cell.astype(np.int64) * (user.max() + 1) + user
    ids, index = np.unique(key, return_inverse=True)
    return PlaceboPairs(cell=ids // (user.max() + 1), user_hash=hashes[ids % (user.max() + 1)],
                        n=np.bincount(index), sum_y=np.bincount(index, y), pairs_total=ids.size,
                        cells_total=int(np.unique(cell).size))


def _from_rows(user, cell, y, hashes, side, reference="now"):
    """One split through the audit's own path: rows -> user_scores -> jackknife."""
    s = user_scores(user, cell, side[user], y)
    if reference == "before":
        s = ComparisonSummary(s.scores_a, s.scores_b, s.delta_a, s.delta_b, s.rows, s.cells, s.users,
                              s.users_group, s.users_reference)
        a, b = s.scores_a, s.scores_b
        beta = a.sum() / b.sum()
        dev = (a.sum() - s.delta_a) / (b.sum() - s.delta_b) - beta
        se = math.sqrt((s.clusters - 1) / s.clusters * float(dev @ dev))
        return beta, se, s.dof, 2 * stats.t.sf(abs(beta / se), s.dof), s
    e = jackknife(s)
    return e.beta, e.se, e.dof, e.p_value, s


@pytest.mark.parametrize("seed,heavy,reference", [(1, False, "now"), (2, True, "now"), (3, True, "before")])
def test_each_split_from_pair_sums_equals_the_audits_estimator_on_the_rows(seed, heavy, reference):
    user, cell, y, hashes = _rows(seed, heavy=heavy)
    salts = split_salts(20260901, 30)
    tests = split_tests(_pairs(user, cell, y, hashes), salts, reference)
    sides = split_sides(hashes, salts)
    for k in range(salts.size):
        beta, se, dof, p, s = _from_rows(user, cell, y, hashes, sides[:, k], reference)
        assert tests.beta[k] == pytest.approx(beta, rel=1e-9, abs=1e-12)
        assert tests.se[k] == pytest.approx(se, rel=1e-9)
        assert tests.dof[k] == pytest.approx(dof, rel=1e-9)
        assert tests.p_value[k] == pytest.approx(p, rel=1e-9, abs=1e-12)
        assert (tests.users_group[k], tests.users_reference[k]) == (s.users_group, s.users_reference)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1), users=st.integers(2, 12), cells=st.integers(1, 6),
       rows=st.integers(2, 60))
def test_split_tests_equal_the_rows_path_on_any_small_log(seed, users, cells, rows):
    """Tiny logs hit every edge: cells of one user, splits with one side empty, one user carrying
    all the support (undefined there, as the audit's jackknife is)."""
    rng = np.random.default_rng(seed)
    user, cell = rng.integers(0, users, rows), rng.integers(0, cells, rows)
    y = rng.normal(size=rows).round(1)  # ties and repeated prices
    hashes = rng.integers(-2 ** 63, 2 ** 63 - 1, users, dtype=np.int64)
    salts = split_salts(seed % 1000, 5)
    tests = split_tests(_pairs(user, cell, y, hashes), salts)
    sides = split_sides(hashes, salts)
    for k in range(salts.size):
        side = sides[:, k]
        if np.unique(side[user]).size < 2:
            assert math.isnan(tests.p_value[k])
            continue
        beta, se, dof, p, _ = _from_rows(user, cell, y, hashes, side)
        if math.isnan(p):
            assert math.isnan(tests.p_value[k])
        else:
            assert tests.p_value[k] == pytest.approx(p, rel=1e-7, abs=1e-9)
            assert tests.beta[k] == pytest.approx(beta, rel=1e-7, abs=1e-9)


@given(order=st.randoms(use_true_random=False))
@settings(max_examples=10, deadline=None)
def test_splits_do_not_depend_on_the_order_of_the_pairs(order):
    user, cell, y, hashes = _rows(7)
    pairs = _pairs(user, cell, y, hashes)
    perm = list(range(pairs.cell.size))
    order.shuffle(perm)
    shuffled = PlaceboPairs(pairs.cell[perm], pairs.user_hash[perm], pairs.n[perm], pairs.sum_y[perm],
                            pairs.pairs_total, pairs.cells_total)
    salts = split_salts(5, 8)
    np.testing.assert_allclose(split_tests(shuffled, salts).t, split_tests(pairs, salts).t, rtol=1e-10)


def test_sides_are_a_fair_coin_per_user_and_split():
    hashes = np.random.default_rng(0).integers(-2 ** 63, 2 ** 63 - 1, 20_000, dtype=np.int64)
    sides = split_sides(hashes, split_salts(20260901, 10))
    assert np.all(np.abs(sides.mean(axis=0) - 0.5) < 0.02)  # 4 sd of a fair coin over 20,000 users
    assert abs(np.corrcoef(sides[:, 0], sides[:, 1])[0, 1]) < 0.03


def test_clopper_pearson_against_its_definition():
    low, high = clopper_pearson(7, 200, 0.95)
    assert stats.binom.sf(6, 200, low) == pytest.approx(0.025, rel=1e-6)  # P(X >= 7 | low) = 2.5 %
    assert stats.binom.cdf(7, 200, high) == pytest.approx(0.025, rel=1e-6)
    assert clopper_pearson(0, 200, 0.95)[0] == 0 and clopper_pearson(200, 200, 0.95)[1] == 1


@settings(deadline=None)
@given(trials=st.integers(1, 400), alpha=st.sampled_from([0.01, 0.05, 0.1]))
def test_the_alarm_threshold_is_the_first_count_whose_interval_clears_alpha(trials, alpha):
    r = alarm_threshold(trials, alpha, 0.95)
    if r <= trials:
        assert clopper_pearson(r, trials, 0.95)[0] > alpha
    if r >= 1:
        assert clopper_pearson(r - 1, trials, 0.95)[0] <= alpha
    # By the interval's construction, independent exact tests alarm at most 2.5 % of the time.
    assert false_alarm_iid(trials, alpha, 0.95) <= 0.025 + 1e-12


def test_the_warning_needs_the_interval_above_alpha_not_a_count():
    def check(p_values):
        p = np.array(p_values, dtype=float)
        return self_check(_tests(p), 0.05, 0.95)
    assert not check([0.01] * 16 + [0.5] * 184).warning  # 8 %: chance at 200 splits (interval from 4.6 %)
    assert check([0.01] * 30 + [0.5] * 170).warning  # 15 % of 200
    assert not check([0.01] * 10 + [0.5] * 190).warning  # 5 %
    result = check([0.01] * 20 + [0.5] * 179 + [math.nan])
    assert (result.splits, result.tested, result.rejections) == (200, 199, 20)


def _tests(p):
    from auditor.stats.placebo import SplitTests
    nan = np.full(p.size, np.nan)
    zeros = np.zeros(p.size, dtype=np.int64)
    return SplitTests(nan, nan, nan, stats.norm.isf(p / 2), p, zeros, zeros)


@settings(deadline=None)
@given(t=st.floats(-10, 10), placebo=st.lists(st.floats(-10, 10), min_size=1, max_size=50))
def test_calibrated_p_is_a_permutation_p_value(t, placebo):
    p = calibrated_p(t, np.array(placebo))
    hits = sum(abs(v) >= abs(t) for v in placebo)
    assert p == (hits + 1) / (len(placebo) + 1)
    assert 0 < p <= 1


def test_calibrated_p_ignores_untested_splits():
    assert calibrated_p(2.0, np.array([1.0, 3.0, math.nan])) == 2 / 3
    assert math.isnan(calibrated_p(math.nan, np.array([1.0])))
