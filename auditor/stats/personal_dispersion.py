"""Is pricing personalised? Dispersion: how differently users pay for the same purchase, beside the noise of
their own repeats (auditor.stats.personal)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from auditor.stats.personal_grain import PairSums, deviations


def _weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    order = np.argsort(values, kind="mergesort")
    cumulative = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cumulative, q * cumulative[-1], side="left")])


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
