"""The self-check: hundreds of random user splits, tested as the findings are, from (cell, user) sums.

A placebo split divides the users of one population (the reference users of the audit's
first segment) into two halves by a seeded hash of the user: no price difference can
exist between the halves, so a test that holds its level rejects about alpha of the
splits. With 4 splits that says little (a test rejecting 14 % is caught about one time in
ten) and a fixed seed repeats a chance alarm on every run; with hundreds it measures the
level on the audit's own data.

Each split is a function of the user alone, so it needs only the population's sums per
(cell, user) pair, n and sum y, not the rows: the side bit x_u is constant within a user,
hence within a pair, and with x in {0, 1} the pair's sums are sx = sxx = n x_u and
sxy = x_u sum y. The scores of `auditor.stats.premium.cell_user_scores` then reduce to

    A_p = (x_u - m_c) e_p,   e_p = sum y_p - n_p ybar_c   (the pair's residual, one per pair)
    B_p = n_p (x_u - m_c)^2,  m_c = the cell's share of rows on side 1

and the deletion deltas to the cell's sums with and without the pair. What does not depend
on the split (e_p, the cell's sums, each pair's cell without it) is computed once; each
split is then a few dozen vector operations over the pairs, and is tested with the audit's
own jackknife and t reference (`auditor.stats.premium.jackknife`, `jackknife_dof`).

Side bits are Spark's: bit = pmod(xxhash64(user, salt), 2) with salt = (seed + k) as a
32-bit int, computed here from h_u = xxhash64(user) (Spark chains the hash of the salt
onto the user's: XXH64.hashInt(salt, seed = h_u)). The engine hands back h_u, never the
user id, and a Spark pass of split k with that expression as the segment column gives
the same premium and p-value (tests/test_placebo_engine.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from auditor.stats.premium import _EPS, SE_FLOOR

# XXH64's primes (Collet), as Spark's XXH64 uses them.
_P1, _P2, _P3, _P5 = (np.uint64(0x9E3779B185EBCA87), np.uint64(0xC2B2AE3D27D4EB4F),
                      np.uint64(0x165667B19E3779F9), np.uint64(0x27D4EB2F165667C5))
# Splits run by default, and the most (cell, user) pairs the engine hands over. One split costs
# about 60 vector operations over the pairs (0.25 s at 2M pairs on a shared 2-core machine),
# so 200 splits of 500,000 pairs take about 16 s there; above the cap the engine keeps a seeded
# sample of whole cells (auditor.engine.placebos).
SPLITS = 200
MAX_PAIRS = 500_000


def _rotl(x: np.ndarray, r: int) -> np.ndarray:
    return (x << np.uint64(r)) | (x >> np.uint64(64 - r))


def spark_hash_int(value: int, seeds: np.ndarray) -> np.ndarray:
    """Spark's XXH64.hashInt(value, seed) for each seed (int64 in, int64 out)."""
    with np.errstate(over="ignore"):
        h = seeds.astype(np.int64).view(np.uint64) + _P5 + np.uint64(4)
        h ^= np.uint64(value & 0xFFFFFFFF) * _P1
        h = _rotl(h, 23) * _P2 + _P3
        h ^= h >> np.uint64(33)
        h *= _P2
        h ^= h >> np.uint64(29)
        h *= _P3
        h ^= h >> np.uint64(32)
    return h.view(np.int64)


def split_salts(seed: int, splits: int) -> np.ndarray:
    """The salt of each split: seed + k (k = 1, 2, ...) as a 32-bit int, as Spark's lit(salt).cast("int")."""
    return np.array([((seed + k + 2 ** 31) % 2 ** 32) - 2 ** 31 for k in range(1, splits + 1)], dtype=np.int64)


def split_sides(user_hash: np.ndarray, salts: np.ndarray) -> np.ndarray:
    """Side (0/1) of each user in each split: pmod(xxhash64(user, salt), 2), users x splits."""
    out = np.empty((user_hash.size, salts.size), dtype=np.float64)
    for j, salt in enumerate(salts):
        out[:, j] = spark_hash_int(int(salt), user_hash) & 1
    return out


@dataclass(frozen=True)
class PlaceboPairs:
    """The placebo population's (cell, user) sums: rows and sum of log price per pair.

    `cell` is a dense index of the pair's cell; `user_hash` is xxhash64 of the user id (the
    id itself never leaves the engine). `pairs_total` and `cells_total` count the whole
    population; fewer here means the engine kept a seeded sample of whole cells.
    """

    cell: np.ndarray
    user_hash: np.ndarray
    n: np.ndarray
    sum_y: np.ndarray
    pairs_total: int
    cells_total: int

    @property
    def sampled(self) -> bool:
        return self.cell.size < self.pairs_total

    @property
    def cells(self) -> int:
        return int(np.unique(self.cell).size) if self.cell.size else 0


@dataclass(frozen=True)
class SplitTests:
    """Each split's premium (log scale), jackknife standard error, t reference and p-value."""

    beta: np.ndarray
    se: np.ndarray
    dof: np.ndarray
    t: np.ndarray
    p_value: np.ndarray
    users_group: np.ndarray
    users_reference: np.ndarray


def split_tests(pairs: PlaceboPairs, salts: np.ndarray, reference: str = "now") -> SplitTests:
    """Test every split as a finding is tested: CV3 jackknife, t(min(G_min, G*_v) - 1).

    `reference="before"` uses t(G_min - 1), the audit's reference before G*_v (for the
    validation study). A split without an estimate (no supported cell, or one user carrying
    all the support) has NaN p-value.

    All splits share the pairs' fixed terms (module docstring); per split, the cell sums
    of side 1 are one pass over the pairs (sorted by cell) and the per-user totals one
    bincount each.
    """
    k_all = salts.size
    out = {k: np.full(k_all, np.nan) for k in ("beta", "se", "dof", "t", "p_value")}
    out["users_group"] = np.zeros(k_all, dtype=np.int64)
    out["users_reference"] = np.zeros(k_all, dtype=np.int64)
    _, cell = np.unique(pairs.cell, return_inverse=True)
    # A cell with one user can never hold both sides: its pairs add nothing to any split.
    # Every pair left shares its cell with another user, so its cell without it is never empty.
    order = np.argsort(cell, kind="stable")
    order = order[np.bincount(cell)[cell[order]] > 1]
    if not order.size:
        return SplitTests(**out)
    cell_ids, cell = np.unique(cell[order], return_inverse=True)
    user_ids, user = np.unique(pairs.user_hash[order], return_inverse=True)
    n, sy = pairs.n[order].astype(float), pairs.sum_y[order].astype(float)
    u = user_ids.size
    starts = np.flatnonzero(np.r_[True, cell[1:] != cell[:-1]])  # pairs are sorted by cell
    n_c, s_c = np.add.reduceat(n, starts), np.add.reduceat(sy, starts)
    ybar = s_c / n_c
    resid = sy - n * ybar[cell]  # e_p: the pair's sum of y about its cell's mean
    rest_n = n_c[cell] - n
    rest_mean = (s_c[cell] - sy) / rest_n  # mean y of the cell without the pair
    inverse_rest_n = 1.0 / rest_n
    sides = split_sides(user_ids, salts)  # users x splits
    for j in range(k_all):
        side = sides[:, j]
        x = side[user]
        nx, yx = n * x, sy * x
        n1, s1 = np.add.reduceat(nx, starts), np.add.reduceat(yx, starts)
        # Row counts are whole numbers: support (both sides present) is an exact comparison,
        # the same as cell_user_scores' variance test.
        supported = (n1 > 0) & (n1 < n_c)
        m = n1 / n_c
        a_cell = np.where(supported, s1 - n1 * ybar, 0.0)
        b_cell = np.where(supported, n1 - n1 * m, 0.0)
        keep = supported[cell]
        d = np.where(keep, x - m[cell], 0.0)  # a pair of an unsupported cell adds nothing
        rest_sx = n1[cell] - nx
        a_rest = (s1[cell] - yx) - rest_sx * rest_mean
        b_rest = rest_sx - rest_sx * rest_sx * inverse_rest_n
        rest_supported = keep & (rest_sx > 0) & (rest_sx < rest_n)
        sums = [np.bincount(user, v, minlength=u) for v in (
            d * resid, n * d * d, a_cell[cell] - np.where(rest_supported, a_rest, 0.0),
            b_cell[cell] - np.where(rest_supported, b_rest, 0.0))]
        used = np.bincount(user, keep, minlength=u) > 0
        _jackknife(out, slice(j, j + 1), *(s[:, None] for s in sums), used[:, None], side[:, None], reference)
    return SplitTests(**out)


def _jackknife(out: dict, cols: slice, a, b, da, db, used, side, reference: str) -> None:
    """The CV3 jackknife of each split (columns), as auditor.stats.premium.jackknife computes one."""
    g = used.sum(axis=0)
    g_group = (used & (side > 0)).sum(axis=0)
    g_reference = (used & (side == 0)).sum(axis=0)
    out["users_group"][cols], out["users_reference"][cols] = g_group, g_reference
    sum_a, sum_b = a.sum(axis=0), b.sum(axis=0)
    ok = (g >= 2) & (sum_b > _EPS)
    safe_b = np.where(ok, sum_b, 1.0)
    beta = sum_a / safe_b
    remaining = safe_b[None, :] - db
    blocked = np.any(used & (remaining <= _EPS * np.maximum(safe_b, 1.0)[None, :]), axis=0)
    ok &= ~blocked
    with np.errstate(divide="ignore", invalid="ignore"):
        dev = np.where(used, (sum_a[None, :] - da) / np.where(used, remaining, 1.0) - beta[None, :], 0.0)
    squares = dev * dev
    se = np.sqrt((g - 1) / np.maximum(g, 1) * squares.sum(axis=0))
    dof = np.maximum(np.minimum(g_group, g_reference) - 1, 0).astype(float)
    if reference == "now":
        fourth = (squares * squares).sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            g_star = 3 * squares.sum(axis=0) ** 2 / fourth - 1
        lowered = (fourth > 0) & (dof >= 1)
        dof = np.where(lowered, np.maximum(np.minimum(dof, g_star), 0.0), dof)
    tested = ok & (dof >= 1)
    exact = tested & (se < SE_FLOOR)
    beta = np.where(exact & (np.abs(beta) < SE_FLOOR), 0.0, beta)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(exact, np.where(beta == 0, 0.0, np.copysign(np.inf, beta)), beta / se)
    p = np.where(exact, np.where(beta == 0, 1.0, 0.0), 2 * stats.t.sf(np.abs(t), np.maximum(dof, 1.0)))
    for key, value in (("beta", beta), ("se", se), ("dof", dof), ("t", t), ("p_value", p)):
        out[key][cols] = np.where(tested, value, np.nan)


def clopper_pearson(hits: int, trials: int, confidence: float) -> tuple[float, float]:
    """Exact (Clopper–Pearson 1934) interval for a binomial proportion."""
    if trials <= 0:
        return (math.nan, math.nan)
    tail = (1 - confidence) / 2
    low = 0.0 if hits == 0 else float(stats.beta.ppf(tail, hits, trials - hits + 1))
    high = 1.0 if hits == trials else float(stats.beta.ppf(1 - tail, hits + 1, trials - hits))
    return low, high


def alarm_threshold(trials: int, alpha: float, confidence: float) -> int:
    """Fewest rejections among `trials` splits whose Clopper–Pearson interval lies above alpha."""
    for hits in range(trials + 1):
        if clopper_pearson(hits, trials, confidence)[0] > alpha:
            return hits
    return trials + 1


def false_alarm_iid(trials: int, alpha: float, confidence: float) -> float:
    """The rule's false-alarm rate if the splits were independent tests of exact level alpha.

    P(Binomial(trials, alpha) >= threshold): at most (1 - confidence) / 2 by the interval's
    construction. Splits of one data set share its rows, so their rejections are not
    independent; docs/validation.md measures the rate the rule actually has.
    """
    return float(stats.binom.sf(alarm_threshold(trials, alpha, confidence) - 1, trials, alpha))


def calibrated_p(t_observed: float, t_placebo: np.ndarray) -> float:
    """Share of placebo splits with |t| at least the finding's, counting the finding among them:
    (1 + hits) / (1 + splits), never 0 (a permutation p-value's +1 correction)."""
    tested = np.abs(t_placebo[~np.isnan(t_placebo)])
    if not tested.size or math.isnan(t_observed):
        return math.nan
    return float((1 + np.count_nonzero(tested >= abs(t_observed))) / (1 + tested.size))


@dataclass(frozen=True)
class SelfCheck:
    """The self-check's verdict: the observed rejection rate against alpha, with its exact interval."""

    splits: int
    tested: int
    rejections: int
    rate: float
    rate_low: float
    rate_high: float
    alpha: float
    confidence: float
    warning: bool  # the interval lies wholly above alpha
    t: np.ndarray  # each split's t (NaN when untested), for calibrated p-values

    @property
    def expected(self) -> float:
        return self.alpha * self.tested


def self_check(tests: SplitTests, alpha: float, confidence: float) -> SelfCheck:
    """Rejections at alpha over the tested splits, and whether chance can explain them.

    The warning fires when the Clopper–Pearson interval of the rejection rate excludes
    alpha from above: the splits reject more often than a test of level alpha could, at
    the interval's confidence.
    """
    tested = ~np.isnan(tests.p_value)
    n = int(tested.sum())
    hits = int(np.count_nonzero(tests.p_value[tested] < alpha))
    low, high = clopper_pearson(hits, n, confidence)
    return SelfCheck(splits=int(tests.p_value.size), tested=n, rejections=hits, rate=hits / n if n else math.nan,
                     rate_low=low, rate_high=high, alpha=alpha, confidence=confidence,
                     warning=bool(n) and low > alpha, t=tests.t)
