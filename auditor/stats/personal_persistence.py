"""Is pricing personalised? Persistence: whether the same users pay more in both halves of their purchases,
the variance of persistent user premiums and its test (auditor.stats.personal)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

import numpy as np
from scipy import stats

from auditor.stats.personal_grain import Deviations, PairSums, deviations, seeded_half

# The middle 80 % of a normal spread of user premiums lies within ±Z80 standard deviations.
Z80 = float(stats.norm.ppf(0.9))


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
