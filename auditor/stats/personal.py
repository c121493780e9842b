"""Is pricing personalised at all? Dispersion, persistence and attribution from per-(cell, user) sums.

Everything here works from the grain the engine already aggregates: for each
(cell, user) pair, the purchases n, the sum of log prices Σy and the sum of
their squares Σy² (`PairSums`). No segment is named first.

Model (for reading the numbers, not assumed by the tests):

    y_t = alpha_cell + theta_user + gamma_(cell, user) + e_t

alpha is the cell's price (absorbed), theta a user's persistent premium (what
personalisation on a hidden willingness-to-pay score plants), gamma a transient
user-in-cell component (a randomised price test arm, a user's own choice inside
the cell) and e a purchase's own noise.

- **Dispersion** (`dispersion`): each pair's mean log price minus the mean of the
  other users' purchases in its cell (leave-user-out), in cells that hold two or
  more users. Shares of matched purchases above and below by more than rounding
  and by more than materiality, the 10th-90th percentile range, and the noise
  floor: the same user's repeated purchases in one cell (the within-pair
  variance), and the spread deviations would have from that noise alone. A
  one-way analysis of variance within cells (between users against within
  pairs) tests whether users differ beyond their own repeat noise.
- **Persistence** (`persistence`): each user's cells are split in two halves by a
  seeded hash of (user, cell). A user's weighted mean deviation in each half,
  D0 and D1, share theta but not gamma or e, so the weighted mean of D0 * D1
  over users estimates var(theta), the variance of persistent user premiums.
  Its test is one-sided and self-normalised over users (analytic, what runs at
  scale); `persistence_permutation` permutes users within cells for the exact
  conditional null it is validated against (docs/validation.md).
- **Attribution** (`attribution`): for each value of each user-level column, the
  matched premium of its users against the others (cell fixed effects and the
  audit's jackknife, `auditor.stats.premium`), found on one seeded half of the
  users and confirmed on the other, with one Benjamini-Hochberg FDR over
  everything scanned; each column's share of var(theta) from the same
  cross-half products.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np
from scipy import stats

from auditor.stats.multiple import bh_qvalues
from auditor.stats.premium import ComparisonSummary, cell_user_scores, jackknife
from auditor.vocabulary import Reading

# The middle 80 % of a normal spread of user premiums lies within ±Z80 standard deviations.
Z80 = float(stats.norm.ppf(0.9))
_EPS = 1e-12
_MASK64 = (1 << 64) - 1


# --- The grain ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PairSums:
    """Per (cell, user) pair: purchases n, Σ log price, Σ (log price)². Cells and users are integer codes.

    Mergeable: `a.merge(b)` of two parts of a log equals the sums of the whole.
    """

    cell: np.ndarray
    user: np.ndarray
    n: np.ndarray
    sum_y: np.ndarray
    sum_y2: np.ndarray

    @classmethod
    def from_rows(cls, cell, user, y) -> PairSums:
        """Sum row arrays (one purchase each) to pairs: the numpy twin of the engine's aggregation."""
        cell, user = np.asarray(cell, dtype=np.int64), np.asarray(user, dtype=np.int64)
        y = np.asarray(y, dtype=float)
        return cls._summed(cell, user, np.ones_like(y), y, y * y)

    @classmethod
    def _summed(cls, cell, user, n, sum_y, sum_y2) -> PairSums:
        keys, index = np.unique(np.stack([cell, user]), axis=1, return_inverse=True)
        index = index.ravel()
        size = keys.shape[1]
        return cls(keys[0].copy(), keys[1].copy(), *(np.bincount(index, v, minlength=size) for v in (n, sum_y, sum_y2)))

    def merge(self, other: PairSums) -> PairSums:
        """The sums of both parts, as if summed at once."""
        return PairSums._summed(*(np.concatenate([getattr(self, f), getattr(other, f)])
                                  for f in ("cell", "user", "n", "sum_y", "sum_y2")))

    @property
    def pairs(self) -> int:
        return int(self.n.size)


def seeded_half(first, second, seed: int) -> np.ndarray:
    """0 or 1 per element, from a seeded 64-bit mix (splitmix64) of two integer codes.

    The numpy stand-in for the engine's hash: tests and simulations use it; the engine passes
    the halves its own hash gives. Halves are independent of everything about the prices.
    """
    first = np.asarray(first).astype(np.uint64)
    second = np.asarray(second).astype(np.uint64)
    with np.errstate(over="ignore"):
        z = first * np.uint64(0x9E3779B97F4A7C15) + second * np.uint64(0xBF58476D1CE4E5B9) + np.uint64(seed & _MASK64)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(63)).astype(np.int8)


@dataclass(frozen=True)
class Deviations:
    """Each pair's leave-user-out deviation in cells with two or more users.

    deviation = mean log price of the pair - mean log price of the other users' purchases in
    the cell; weight = n (N - n) / N, its precision under purchase noise alone (var =
    s^2 (1/n + 1/(N - n))), the same weight a cell gives a 0/1 comparison in the premium.
    """

    cell: np.ndarray
    user: np.ndarray
    n: np.ndarray
    deviation: np.ndarray
    weight: np.ndarray
    rest_n: np.ndarray  # the other users' purchases in the cell
    index: np.ndarray  # each pair's position in the PairSums it came from


def deviations(pairs: PairSums) -> Deviations:
    """The leave-user-out deviations of every pair whose cell holds another user."""
    _, cell_index = np.unique(pairs.cell, return_inverse=True)
    n_cell = np.bincount(cell_index, pairs.n)[cell_index]
    sum_cell = np.bincount(cell_index, pairs.sum_y)[cell_index]
    rest_n = n_cell - pairs.n
    shared = rest_n > 0
    n, rest = pairs.n[shared], rest_n[shared]
    deviation = pairs.sum_y[shared] / n - (sum_cell[shared] - pairs.sum_y[shared]) / rest
    return Deviations(cell=pairs.cell[shared], user=pairs.user[shared], n=n, deviation=deviation,
                      weight=n * rest / (n + rest), rest_n=rest, index=np.flatnonzero(shared))


def _weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    order = np.argsort(values, kind="mergesort")
    cumulative = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cumulative, q * cumulative[-1], side="left")])


# --- Dispersion -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dispersion:
    """How differently users pay for the same purchase, beside the noise of their own repeats.

    Shares and percentiles count matched purchases (a pair weighs its n); deviations are on
    the log scale, percentiles on the premium scale (exp(.) - 1).
    """

    cells: int  # cells holding two or more users
    users: int
    purchases: int  # purchases in those cells
    above_rounding: float  # share of purchases whose pair pays more than rounding above the rest of its cell
    below_rounding: float
    above_materiality: float
    below_materiality: float
    p10: float  # 10th percentile of pair deviations, premium scale
    p90: float
    deviation_sd: float  # purchase-weighted sd of pair deviations (log)
    repeat_pairs: int  # pairs with two or more purchases: where the noise floor comes from
    noise_sd: float  # within-pair sd of log price (nan without repeats)
    noise_deviation_sd: float  # the sd pair deviations would have from that noise alone
    between_user_sd: float  # sqrt(max(0, deviation variance - noise part)): dispersion beyond noise
    f_statistic: float  # between users within cells, against within pairs
    df_between: int
    df_within: int
    p_value: float

    @property
    def spread(self) -> float:
        """The 10th-90th percentile range of what users pay relative to others, in premium points."""
        return self.p90 - self.p10


@dataclass(frozen=True)
class DispersionSums:
    """What dispersion needs, summed over the pairs of a log (the engine computes the same sums in Spark).

    Purchases count matched purchases in cells holding two or more users (a pair weighs its n);
    `noise_ss`/`noise_df` pool every pair with repeats, the `*_shared` sums only those in shared cells.
    """

    cells: int
    users: int
    purchases: float
    above_rounding: float  # purchases whose pair deviates by more than +log(1 + rounding)
    below_rounding: float
    above_materiality: float
    below_materiality: float
    sum_d: float  # sum n d
    sum_d2: float  # sum n d^2
    noise_weight: float  # sum n (1/n + 1/rest): a deviation's variance per unit of purchase noise variance
    between_ss: float  # sum n (ybar_pair - ybar_cell)^2 over shared cells
    df_between: int  # pairs - cells, over shared cells
    within_ss_shared: float
    df_within_shared: int
    noise_ss: float  # within-pair sum of squares over every pair with repeats
    noise_df: int
    repeat_pairs: int
    p10: float  # 10th percentile of the deviations over purchases, log scale
    p90: float
    pairs: int = 0  # every (cell, user) pair, shared cell or not


def dispersion_sums(pairs: PairSums, rounding: float = 0.001, materiality: float = 0.01) -> DispersionSums:
    """The dispersion sums of a log's pairs (the numpy twin of the engine's aggregation)."""
    dev = deviations(pairs)
    within_ss = np.clip(pairs.sum_y2 - pairs.sum_y ** 2 / pairs.n, 0.0, None)
    repeats = pairs.n >= 2
    in_shared = np.zeros(pairs.pairs, dtype=bool)
    in_shared[dev.index] = True
    _, cell_index = np.unique(dev.cell, return_inverse=True)
    n_c = np.bincount(cell_index, dev.n)
    mean_c = np.bincount(cell_index, pairs.sum_y[dev.index]) / n_c if n_c.size else n_c
    w, d = dev.n, dev.deviation
    low, high = math.log1p(rounding), math.log1p(materiality)
    empty = d.size == 0
    return DispersionSums(
        cells=int(n_c.size), users=int(np.unique(dev.user).size), purchases=float(w.sum()),
        above_rounding=float(w[d > low].sum()), below_rounding=float(w[d < -low].sum()),
        above_materiality=float(w[d > high].sum()), below_materiality=float(w[d < -high].sum()),
        sum_d=float(w @ d), sum_d2=float(w @ (d * d)), noise_weight=float(w @ (1.0 / dev.n + 1.0 / dev.rest_n)),
        between_ss=float(w @ (pairs.sum_y[dev.index] / dev.n - mean_c[cell_index]) ** 2),
        df_between=int(dev.n.size - n_c.size),
        within_ss_shared=float(within_ss[repeats & in_shared].sum()),
        df_within_shared=int((pairs.n[repeats & in_shared] - 1).sum()),
        noise_ss=float(within_ss[repeats].sum()), noise_df=int((pairs.n[repeats] - 1).sum()),
        repeat_pairs=int(repeats.sum()),
        p10=math.nan if empty else _weighted_quantile(d, w, 0.1),
        p90=math.nan if empty else _weighted_quantile(d, w, 0.9), pairs=pairs.pairs)


def dispersion(pairs: PairSums, rounding: float = 0.001, materiality: float = 0.01) -> Dispersion:
    """Dispersion of users' prices within cells, with the noise floor from users' repeats."""
    return dispersion_from(dispersion_sums(pairs, rounding, materiality))


def dispersion_from(s: DispersionSums) -> Dispersion:
    """Dispersion from its sums.

    The F test is one-way analysis of variance within cells: between-pair sum of squares
    around the cell mean, sum_c sum_u n (ybar_cu - ybar_c)^2 on sum_c (users_c - 1) degrees
    of freedom, against the within-pair sum of squares on sum (n - 1). It is exact for
    normal purchase noise of one variance and no user component (Scheffe 1959, ch. 7).
    """
    nan = math.nan
    if s.purchases <= 0:
        return Dispersion(0, 0, 0, nan, nan, nan, nan, nan, nan, nan, s.repeat_pairs, nan, nan, nan, nan, 0, 0, nan)
    total = s.purchases
    noise_var = s.noise_ss / s.noise_df if s.noise_df else nan
    mean_d = s.sum_d / total
    deviation_var = max(s.sum_d2 / total - mean_d * mean_d, 0.0)
    noise_part = noise_var * s.noise_weight / total if s.noise_df else nan
    if s.df_between > 0 and s.df_within_shared > 0 and s.within_ss_shared > 0:
        f = (max(s.between_ss, 0.0) / s.df_between) / (s.within_ss_shared / s.df_within_shared)
        p = float(stats.f.sf(f, s.df_between, s.df_within_shared))
    else:
        f, p = nan, nan
    return Dispersion(
        cells=s.cells, users=s.users, purchases=int(round(total)),
        above_rounding=s.above_rounding / total, below_rounding=s.below_rounding / total,
        above_materiality=s.above_materiality / total, below_materiality=s.below_materiality / total,
        p10=math.expm1(s.p10), p90=math.expm1(s.p90), deviation_sd=math.sqrt(deviation_var),
        repeat_pairs=s.repeat_pairs,
        noise_sd=math.sqrt(noise_var) if s.noise_df else nan,
        noise_deviation_sd=math.sqrt(noise_part) if s.noise_df else nan,
        between_user_sd=math.sqrt(max(deviation_var - noise_part, 0.0)) if s.noise_df else nan,
        f_statistic=f, df_between=s.df_between, df_within=s.df_within_shared, p_value=p)


# --- Persistence ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HalfMeans:
    """Per user with shared cells in both halves: weighted mean deviation in each half and the user's weight."""

    user: np.ndarray
    mean_first: np.ndarray  # D0
    mean_second: np.ndarray  # D1
    weight: np.ndarray  # W = w0 w1 / (w0 + w1)


def half_means(dev: Deviations, half: np.ndarray) -> HalfMeans:
    """Each user's weighted mean deviation in each half of their cells.

    The user's weight is the harmonic combination of the halves' weights, w0 w1 / (w0 + w1):
    it grows with a user's purchases like the precision of D0 - D1, not like w0 w1, so that
    one heavy user cannot carry the statistic alone.
    """
    users, index = np.unique(dev.user, return_inverse=True)
    first = half == 0
    w0 = np.bincount(index, dev.weight * first, minlength=users.size)
    w1 = np.bincount(index, dev.weight * ~first, minlength=users.size)
    s0 = np.bincount(index, dev.weight * dev.deviation * first, minlength=users.size)
    s1 = np.bincount(index, dev.weight * dev.deviation * ~first, minlength=users.size)
    both = (w0 > 0) & (w1 > 0)
    w0, w1 = w0[both], w1[both]
    return HalfMeans(user=users[both], mean_first=s0[both] / w0, mean_second=s1[both] / w1,
                     weight=w0 * w1 / (w0 + w1))


@dataclass(frozen=True)
class Persistence:
    """Whether the same users pay more each time: the variance of persistent user premiums.

    `variance` estimates var(theta) on the log scale: the weighted mean over users of D0 D1,
    which shares only the persistent part. `p_value` is one-sided (persistence is a positive
    covariance). The middle 80 % of users, if their premiums are normal, pay within
    exp(±1.2816 sd) - 1 of others for the same purchase.
    """

    users: int  # users with shared cells in both halves
    cells: int  # shared cells those users bought in
    variance: float
    se: float  # of `variance`, users as clusters (for the interval)
    null_se: float  # of `variance` under no persistence (for the test)
    correlation: float  # weighted correlation of D0 and D1 across users
    z: float
    p_value: float
    sd: float  # sqrt(max(variance, 0)): the spread of persistent user premiums, log scale
    sd_low: float  # interval for sd at `confidence`
    sd_high: float
    detectable_sd: float  # the sd found with `power` at `alpha` on this data
    confidence: float
    seed: int | None = None  # of the (user, cell) halves, when chosen here

    @property
    def defined(self) -> bool:
        return not math.isnan(self.p_value)

    @property
    def middle80(self) -> tuple[float, float]:
        """The range the middle 80 % of users pay relative to others, premium scale (normal spread)."""
        return (math.expm1(-Z80 * self.sd), math.expm1(Z80 * self.sd)) if not math.isnan(self.sd) else (math.nan,) * 2


@dataclass(frozen=True)
class PersistenceSums:
    """What persistence needs, summed over users with shared cells in both halves (W their weight)."""

    users: int
    cells: int  # shared cells
    w: float  # sum W
    w_d0: float  # sum W D0
    w_d1: float
    w_d00: float  # sum W D0^2
    w_d11: float
    w_d01: float  # sum W D0 D1
    w2: float  # sum W^2
    w2_d01: float  # sum W^2 D0 D1
    w2_d01_sq: float  # sum (W D0 D1)^2


def persistence_sums(means: HalfMeans, cells: int = 0) -> PersistenceSums:
    """The persistence sums of users' half means (the numpy twin of the engine's aggregation)."""
    w, d0, d1 = means.weight, means.mean_first, means.mean_second
    x = d0 * d1
    return PersistenceSums(users=int(w.size), cells=cells, w=float(w.sum()), w_d0=float(w @ d0), w_d1=float(w @ d1),
                           w_d00=float(w @ (d0 * d0)), w_d11=float(w @ (d1 * d1)), w_d01=float(w @ x),
                           w2=float(w @ w), w2_d01=float((w * w) @ x), w2_d01_sq=float((w * x) @ (w * x)))


def persistence_from(s: PersistenceSums, alpha: float = 0.05, power: float = 0.8, confidence: float = 0.95,
                     seed: int | None = None) -> Persistence:
    """The persistence test and effect from its sums.

    T = sum W D0 D1 / sum W. Under no persistent component (and purchases independent
    across cells) each D0 D1 has mean zero, so z = T / (sqrt(sum (W D0 D1)^2) / sum W), a
    self-normalised sum over users (Efron 1969), is referred to the standard normal,
    one-sided. The interval centres the terms at T (users as clusters, G/(G - 1)):
    sum W^2 (D0 D1 - T)^2 = sum (W D0 D1)^2 - 2 T sum W^2 D0 D1 + T^2 sum W^2. A user's
    terms depend slightly on the others' through the cells they share; the level is measured
    in docs/validation.md, against the permutation of users within cells.
    """
    g = s.users
    nan = math.nan
    if g < 3 or s.w <= 0:
        return Persistence(g, s.cells, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, confidence, seed)
    variance = s.w_d01 / s.w
    null_se = math.sqrt(s.w2_d01_sq) / s.w
    centred = max(s.w2_d01_sq - 2 * variance * s.w2_d01 + variance * variance * s.w2, 0.0)
    se = math.sqrt(g / (g - 1) * centred) / s.w
    m0, m1 = s.w_d0 / s.w, s.w_d1 / s.w
    v0, v1 = s.w_d00 - s.w * m0 * m0, s.w_d11 - s.w * m1 * m1
    correlation = (s.w_d01 - s.w * m0 * m1) / math.sqrt(v0 * v1) if v0 > 0 and v1 > 0 else nan
    if null_se > 0:
        z = variance / null_se
        p = float(stats.norm.sf(z))
    else:  # every user's deviations are exactly zero in a half: no variation to test
        z, p = nan, 1.0
    crit = float(stats.norm.ppf(0.5 + confidence / 2))
    low, high = variance - crit * se, variance + crit * se
    detectable = (float(stats.norm.ppf(1 - alpha)) + float(stats.norm.ppf(power))) * null_se
    return Persistence(
        users=g, cells=s.cells, variance=variance, se=se, null_se=null_se, correlation=correlation, z=z, p_value=p,
        sd=math.sqrt(max(variance, 0.0)), sd_low=math.sqrt(max(low, 0.0)), sd_high=math.sqrt(max(high, 0.0)),
        detectable_sd=math.sqrt(detectable), confidence=confidence, seed=seed)


def split_halves(pairs: PairSums, dev: Deviations, seed: int, block: np.ndarray | None = None) -> np.ndarray:
    """The half (0/1) of each shared pair: a seeded hash of (user, block), the block being the cell
    unless given (aligned with `pairs`), e.g. the week a cell falls in.

    Splitting by week rather than by cell keeps what a user shares within a week (a randomised
    price test's arm, assigned per user per week) inside one half: persistence is then
    measured across weeks, and a weekly arm is dispersion, not persistence.
    """
    unit = dev.cell if block is None else np.asarray(block, dtype=np.int64)[dev.index]
    return seeded_half(dev.user, unit, seed)


def persistence(pairs: PairSums, seed: int, alpha: float = 0.05, power: float = 0.8, confidence: float = 0.95,
                block: np.ndarray | None = None, half: np.ndarray | None = None) -> Persistence:
    """Persistence of user premiums across two seeded halves of each user's cells (or blocks of cells).

    `half` (0/1 per pair, aligned with `pairs`) replaces the seeded hash: the engine's own halves.
    """
    dev = deviations(pairs)
    halves = split_halves(pairs, dev, seed, block) if half is None else np.asarray(half)[dev.index]
    means = half_means(dev, halves)
    cells = int(np.unique(dev.cell).size)
    return persistence_from(persistence_sums(means, cells), alpha, power, confidence, seed)


def persistence_permutation(pairs: PairSums, seed: int, permutations: int, rng: np.random.Generator,
                            block: np.ndarray | None = None) -> float:
    """One-sided permutation p-value of the persistence statistic, users permuted within cells.

    Each draw hands every cell's pairs (their prices and purchase counts) to that cell's
    users in a random order; the halves follow the new (user, block) as the hash would. Under
    no persistence a user's pair in a cell is exchangeable with the others' there, so the
    statistic's draws are its conditional null. p = (hits + 1) / (draws + 1).
    """
    dev = deviations(pairs)
    unit = dev.cell if block is None else np.asarray(block, dtype=np.int64)[dev.index]
    observed = persistence_from(persistence_sums(half_means(dev, seeded_half(dev.user, unit, seed)))).variance
    if math.isnan(observed):
        return math.nan
    order = np.lexsort((dev.user, dev.cell))
    cell, unit = dev.cell[order], unit[order]
    users, user = np.unique(dev.user[order], return_inverse=True)  # dense codes: the users never change, only their pairs
    weighted = (dev.weight * dev.deviation)[order]
    weight = dev.weight[order]
    codes = users.astype(np.int64)
    hits = 0
    for _ in range(permutations):
        shuffle = np.lexsort((rng.random(cell.size), cell))  # within each cell, a random order of its pairs
        new_user = user[shuffle]
        first = seeded_half(codes[new_user], unit, seed) == 0
        w0 = np.bincount(new_user, weight * first, minlength=users.size)
        w1 = np.bincount(new_user, weight * ~first, minlength=users.size)
        s0 = np.bincount(new_user, weighted * first, minlength=users.size)
        s1 = np.bincount(new_user, weighted * ~first, minlength=users.size)
        both = (w0 > 0) & (w1 > 0)
        w0, w1, s0, s1 = w0[both], w1[both], s0[both], s1[both]
        w = w0 * w1 / (w0 + w1)
        value = float(np.sum(w * (s0 / w0) * (s1 / w1))) / float(w.sum()) if both.sum() >= 3 else math.nan
        hits += value >= observed
    return (hits + 1) / (permutations + 1)


# --- Attribution ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttributeValue:
    """One value of one user-level column: its matched premium against the other users, in each user half."""

    column: str
    value: str
    users: int  # users with this value among those with shared cells
    discovery: float  # premium, log scale, on the discovery half of users
    discovery_p: float
    discovery_q: float  # BH over everything scanned
    confirmation: float  # premium, log scale, on the other half
    confirmation_p: float  # one-sided, in the discovery's direction
    confirmation_q: float  # BH over the values found on the discovery half
    share: float  # of the persistent variance: p (1 - p) beta_discovery beta_confirmation / var(theta)
    confirmed: bool

    @property
    def premium(self) -> float:
        """The confirmed premium on the premium scale (the confirmation half: not the half it was chosen on)."""
        return math.expm1(self.confirmation)


@dataclass(frozen=True)
class ColumnShare:
    """How much of var(theta) the values of one column explain: between-value cross-half covariance / var(theta)."""

    column: str
    values: int
    between_variance: float  # log scale
    share: float


@dataclass(frozen=True)
class Attribution:
    scanned: tuple[str, ...]  # the columns searched, in order
    values: tuple[AttributeValue, ...]  # every value scanned
    columns: tuple[ColumnShare, ...]
    alpha: float
    seed: int

    @property
    def confirmed(self) -> tuple[AttributeValue, ...]:
        return tuple(v for v in self.values if v.confirmed)

    @property
    def explained_share(self) -> float:
        """The largest share of var(theta) one column with a confirmed value explains (0 when none)."""
        named = {v.column for v in self.confirmed}
        return max([c.share for c in self.columns if c.column in named], default=0.0)


def _value_premium(pairs: PairSums, member: np.ndarray, keep: np.ndarray):
    """Matched premium (log scale, CV3) of pairs whose user is a member against the rest, among `keep` pairs."""
    n = pairs.n[keep]
    x = member[keep].astype(float)
    _, cell_index = np.unique(pairs.cell[keep], return_inverse=True)
    sy = pairs.sum_y[keep]
    a, b, da, db, supported = cell_user_scores(n, n * x, sy, sy * x, n * x, cell_index)
    users, user_index = np.unique(pairs.user[keep], return_inverse=True)
    on = supported > 0
    if not on.any():
        return math.nan, math.nan
    used = np.bincount(user_index, supported, minlength=users.size) > 0
    totals = [np.bincount(user_index, v, minlength=users.size)[used] for v in (a, b, da, db)]
    summary = ComparisonSummary(*totals, rows=int(n[on].sum()), cells=int(np.unique(cell_index[on]).size),
                                users=int(used.sum()), users_group=int(np.unique(user_index[on & (x > 0)]).size),
                                users_reference=int(np.unique(user_index[on & (x == 0)]).size))
    estimate = jackknife(summary)
    return estimate.beta, estimate.p_value


def attribution(pairs: PairSums, attributes: Mapping[str, Mapping[int, str]], seed: int, alpha: float = 0.05,
                min_users: int = 30, block: np.ndarray | None = None) -> Attribution:
    """Which user-level columns explain the persistent premium, found on one half of users and confirmed on the other.

    `attributes` maps each column (constant within a user) to {user code: value}. Each value
    with at least `min_users` users on each side of each half is compared with the other
    users of its half: its matched premium, cell fixed effects, jackknife p-value (the
    audit's premium inference). The discovery half's p-values over every value of every
    column scanned get one BH correction; values with q < alpha are tested again on the
    confirmation half, one-sided in the discovery's direction, BH over those found
    (Bogomolov & Heller 2013: the second half is independent of the selection).
    """
    dev = deviations(pairs)
    means = half_means(dev, split_halves(pairs, dev, seed, block))
    persistent = persistence_from(persistence_sums(means))
    user_half = seeded_half(pairs.user, np.full(pairs.user.size, -1), seed + 1)  # discovery 0, confirmation 1
    shared = np.isin(pairs.cell, dev.cell)
    rows: list[dict] = []
    columns: list[ColumnShare] = []
    for column, values_by_user in attributes.items():
        codes = np.array(list(values_by_user.keys()), dtype=np.int64)
        labels = np.array([str(v) for v in values_by_user.values()], dtype=object)
        by_code = dict(zip(codes.tolist(), labels.tolist()))
        pair_value = np.array([by_code.get(u) for u in pairs.user.tolist()], dtype=object)
        distinct = sorted({v for v in labels.tolist()})
        for value in distinct:
            member = pair_value == value
            counts = [np.unique(pairs.user[shared & (user_half == h) & m]).size
                      for h in (0, 1) for m in (member, ~member)]
            if min(counts) < min_users:
                continue
            first = _value_premium(pairs, member, shared & (user_half == 0))
            second = _value_premium(pairs, member, shared & (user_half == 1))
            rows.append({"column": column, "value": value, "users": counts[0] + counts[2],
                         "discovery": first[0], "discovery_p": first[1],
                         "confirmation": second[0], "confirmation_p_two": second[1]})
        columns.append(_column_share(column, means, dict(zip(codes.tolist(), labels.tolist())), persistent.variance))
    q = bh_qvalues([r["discovery_p"] for r in rows]) if rows else np.array([])
    found = [i for i, r in enumerate(rows) if q[i] < alpha]
    one_sided = {}
    for i in found:
        r = rows[i]
        same_sign = np.sign(r["confirmation"]) == np.sign(r["discovery"])
        p2 = r["confirmation_p_two"]
        one_sided[i] = p2 / 2 if same_sign else 1 - p2 / 2
    q_confirm = dict(zip(found, bh_qvalues([one_sided[i] for i in found]))) if found else {}
    values = []
    for i, r in enumerate(rows):
        p_share = r["users"] / max(int(np.unique(pairs.user[shared]).size), 1)
        share = (p_share * (1 - p_share) * r["discovery"] * r["confirmation"] / persistent.variance
                 if persistent.variance > 0 else math.nan)
        values.append(AttributeValue(
            column=r["column"], value=r["value"], users=r["users"], discovery=r["discovery"],
            discovery_p=r["discovery_p"], discovery_q=float(q[i]), confirmation=r["confirmation"],
            confirmation_p=one_sided.get(i, math.nan), confirmation_q=float(q_confirm.get(i, math.nan)),
            share=share, confirmed=bool(i in q_confirm and q_confirm[i] < alpha)))
    return Attribution(scanned=tuple(attributes), values=tuple(values), columns=tuple(columns), alpha=alpha, seed=seed)


def _column_share(column: str, means: HalfMeans, values_by_user: Mapping[int, str], variance: float) -> ColumnShare:
    """A column's share of var(theta) from the users' half means (see `column_share_from`)."""
    labels = np.array([values_by_user.get(u) for u in means.user.tolist()], dtype=object)
    known = labels != None  # noqa: E711 (element-wise)
    w, d0, d1 = means.weight[known], means.mean_first[known], means.mean_second[known]
    if w.size == 0:
        return ColumnShare(column, 0, math.nan, math.nan)
    _, index = np.unique(labels[known].astype(str), return_inverse=True)
    return column_share_from(column, np.bincount(index, w), np.bincount(index, w * d0), np.bincount(index, w * d1),
                             variance)


def column_share_from(column: str, weight, weighted_first, weighted_second, variance: float) -> ColumnShare:
    """Between-value covariance of the users' half means, sum_v pi_v (m0_v - m0)(m1_v - m1), over var(theta).

    Per value v: the users' total weight W_v and sums of W D0 and W D1 (pi_v = W_v / W). The
    halves' noise is independent, so each product estimates the square of the value's true
    premium without the upward bias a squared estimate would carry.
    """
    wv, s0, s1 = (np.asarray(a, dtype=float) for a in (weight, weighted_first, weighted_second))
    total = float(wv.sum())
    if total <= 0:
        return ColumnShare(column, 0, math.nan, math.nan)
    m0, m1 = float(s0.sum()) / total, float(s1.sum()) / total
    between = float(np.sum(wv / total * (s0 / wv - m0) * (s1 / wv - m1)))
    return ColumnShare(column, int(wv.size), between, between / variance if variance > 0 else math.nan)


@dataclass(frozen=True)
class ColumnSums:
    """Per value of one user-level column: the users' total weight and sums of W D0, W D1."""

    column: str
    values: tuple[str, ...]
    weight: tuple[float, ...]
    weighted_first: tuple[float, ...]
    weighted_second: tuple[float, ...]

    def share(self, variance: float) -> ColumnShare:
        """The column's share of var(theta) (`column_share_from`)."""
        return column_share_from(self.column, self.weight, self.weighted_first, self.weighted_second, variance)


def choose_split(persistence: Mapping[str, PersistenceSums], min_users: int = 30, min_cells: int = 5) -> str:
    """The first split (in the order given) under which persistence is defined — at least `min_users`
    users with shared cells in both halves and `min_cells` shared cells, as `read` asks — else the first.

    Given ("week", "day"): by week when the log spans enough weeks, else by day. A day is finer than a
    weekly price test's arm, so under it a weekly test reads as persistence: the finding says so.
    """
    splits = list(persistence)
    for split in splits:
        s = persistence[split]
        if s.users >= min_users and s.cells >= min_cells:
            return split
    return splits[0]


@dataclass(frozen=True)
class ScannedColumn:
    """A column the attribute scan looked at: how many users hold a value, how constant it is within them,
    about how many values it has, and whether it was kept (`why`: kept, varies_within_users, one_value,
    too_many_values, empty)."""

    column: str
    users: int
    constant_share: float  # of the users with a value, the share whose values all agree
    values: int  # distinct values (approximate, relative error about 5 %)
    why: str

    @property
    def kept(self) -> bool:
        return self.why == "kept"


@dataclass(frozen=True)
class PersonalSums:
    """What the engine hands back: the dispersion and persistence sums, and the candidate columns' sums."""

    dispersion: DispersionSums
    persistence: PersistenceSums
    columns: tuple[ColumnSums, ...]
    split: str  # "week" or "cell": the unit each user's cells are split by
    seed: int


@dataclass(frozen=True)
class AttributionSample:
    """The pairs of a seeded sample of users, for the attribute tests (auditor.stats.personal.attribution)."""

    pairs: PairSums  # cells and users as integer codes
    unit: np.ndarray  # each pair's split unit (week or cell code), aligned with `pairs`
    attributes: dict[str, dict[int, str]]  # column -> {user code: value}
    users: int  # users sampled
    share: float  # of the users with purchases, the share sampled


# --- The reading ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Personalisation:
    """The three answers and the reading they give."""

    dispersion: Dispersion
    persistence: Persistence
    attribution: Attribution | None
    reading: Reading
    materiality: float
    alpha: float
    notes: tuple[str, ...] = field(default=())


def read(disp: Dispersion, pers: Persistence, attr: Attribution | None, alpha: float = 0.05,
         materiality: float = 0.01, min_users: int = 30, min_cells: int = 5, explained: float = 0.5) -> Reading:
    """The reading. Material means the top tenth of users pay at least `materiality` more than
    the middle for the same purchase: 1.2816 sd >= log(1 + materiality).

    - insufficient: fewer than `min_users` users with shared cells in both halves, or fewer
      than `min_cells` shared cells;
    - persistent: the persistence test rejects at alpha and its spread is material; explained
      when a column with a confirmed value accounts for at least `explained` of var(theta);
    - dispersion without persistence: users differ beyond their own repeats (F test at alpha)
      by a material spread, but not persistently (randomised tests, or noise between users);
    - otherwise no material personalisation (with the smallest persistent spread detectable).
    """
    if not pers.defined or pers.users < min_users or pers.cells < min_cells:
        return Reading.INSUFFICIENT
    bound = math.log1p(materiality) / Z80
    if pers.p_value < alpha and pers.sd >= bound:
        if attr is not None and attr.confirmed and attr.explained_share >= explained:
            return Reading.EXPLAINED
        return Reading.UNEXPLAINED
    if disp.p_value < alpha and disp.between_user_sd >= bound:
        return Reading.DISPERSION_ONLY
    return Reading.NONE_MATERIAL
