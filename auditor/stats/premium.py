"""The matched premium and its user-clustered inference, from per-user scores.

Model (one comparison): y_t = alpha_cell(t) + beta * x_t + e_t, with cell fixed
effects; x_t = 1 for the group and 0 for the reference (or a dose such as
log2(1 + prior orders)); y_t = log price (or another outcome). Within cells,
x~ = x - mean_cell(x) and y~ = y - mean_cell(y). For each user i,

    A_i = sum_t x~_t y~_t        B_i = sum_t x~_t^2

so beta = sum A / sum B (Frisch–Waugh–Lovell), and the user's score at beta is
s_i = A_i - beta * B_i. Deleting user i changes sum A and sum B by dA_i and dB_i,
computed exactly (the cell means are recomputed without the user), so the
leave-one-user-out estimates beta_(i) = (sum A - dA_i) / (sum B - dB_i) are
those of refitting the regression without that user.

Spark reduces the rows to (A_i, B_i, dA_i, dB_i) per user; all inference here
needs only those, so the same numbers come from 1,000 rows or 10^9.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

# Users at or past this share of a cell's weight leave their cell without support when deleted.
_EPS = 1e-12

# Numerical floor on the log scale. A log-price difference is a relative price difference, so
# this is one part in a billion of the price: a price recorded to the cent differs from another
# by at least 1e-8 of itself up to a million units, while the rounding left in sums of up to
# 10^9 log prices (|log p| < 25, double precision, errors adding like a random walk) is about
# sqrt(1e9) * 2.2e-16 * 25 = 2e-10. A standard error below this floor is not a measurement of
# the data's variation but of the arithmetic, and is read as none (see `with_t`).
SE_FLOOR = 1e-9


@dataclass(frozen=True)
class ComparisonSummary:
    """What Spark hands back for one comparison and one outcome."""

    scores_a: np.ndarray  # per user (or user bucket): sum of x~ y~
    scores_b: np.ndarray  # per user (or user bucket): sum of x~^2
    delta_a: np.ndarray  # exact change in sum A when the user is deleted
    delta_b: np.ndarray  # exact change in sum B when the user is deleted
    rows: int  # rows in cells with common support
    cells: int  # cells with common support (fixed effects absorbed)
    users: int  # distinct users in those cells
    # Users with group rows (x > 0) and with reference rows (x = 0) in those cells; None for a
    # dose, whose x is a level, not a side. A user with rows on both sides counts on both.
    users_group: int | None = None
    users_reference: int | None = None

    @property
    def clusters(self) -> int:
        return int(self.scores_a.size)

    @property
    def effective_clusters(self) -> float:
        """G* = (sum B)^2 / sum B^2: how many equally weighted users the weight is worth.

        The effective number of clusters of Carter, Schnepel & Steigerwald (2017) for one
        regressor and errors independent within a user (their rho = 0): each user's
        contribution to the estimate's variance is proportional to B_i, the within-cell
        variance of x it brings, so G* is the inverse Herfindahl index of the weight
        shares B_i / sum B. Equal users give G* = G; one user with half the weight among
        many others gives G* < 4, whatever G is.
        """
        b = np.clip(self.scores_b, 0.0, None)
        total = float(b.sum())
        return total ** 2 / float(b @ b) if total > _EPS else 0.0

    @property
    def dof(self) -> int:
        """Degrees of freedom of the t reference: clusters on the smaller side, minus one.

        What limits cluster-robust inference is the number of clusters on the smaller
        side: a group of three users among six hundred carries three clusters of
        information about the gap, whatever the total (MacKinnon & Webb 2017). t(G - 1)
        over both sides rejects 20 % of nulls at 5 % with two group users;
        t(min(G_group, G_reference) - 1) holds the level from five users on and is
        conservative below (docs/validation.md). Without sides (a dose), G - 1. The
        jackknife lowers it further when a few users make most of its variance
        (`jackknife_dof`).
        """
        sides = [u for u in (self.users_group, self.users_reference) if u is not None]
        return max(min([self.clusters, *sides]) - 1, 0)


@dataclass(frozen=True)
class PremiumEstimate:
    """A premium with its interval and test; beta on the log scale."""

    beta: float
    se: float
    dof: float
    p_value: float
    ci_low: float  # premium scale: exp(.) - 1 for ratios, beta itself for differences
    ci_high: float
    method: str
    scale: str = "ratio"  # "ratio" (beta is a log ratio) or "difference" (beta is a difference in shares)

    @property
    def premium(self) -> float:
        return _to_scale(self.beta, self.scale)

    @property
    def defined(self) -> bool:
        return not math.isnan(self.p_value)


def _to_scale(beta: float, scale: str) -> float:
    return beta if scale == "difference" else math.expm1(beta)


def undefined(method: str, dof: int = 0, scale: str = "ratio") -> PremiumEstimate:
    nan = math.nan
    return PremiumEstimate(nan, nan, dof, nan, nan, nan, method, scale)


def cluster_robust(summary: ComparisonSummary, confidence: float = 0.95, scale: str = "ratio") -> PremiumEstimate:
    """Analytic CR1 user-clustered errors with t tests on the smaller side's clusters (`dof`).

    The small-sample factor G/(G-1) * (N-1)/(N-K) counts the absorbed cells in K
    (K = cells + 1), as a regression with explicit cell dummies would (the factor
    statsmodels and Stata apply).
    """
    a, b = summary.scores_a, summary.scores_b
    g, n, k = summary.clusters, summary.rows, summary.cells + 1
    sum_b = float(b.sum())
    if g < 2 or sum_b <= _EPS or n <= k:
        return undefined("cr1", summary.dof, scale)
    beta = float(a.sum()) / sum_b
    scores = a - beta * b
    factor = g / (g - 1) * (n - 1) / (n - k)
    se = math.sqrt(factor * float(scores @ scores)) / sum_b
    return with_t(beta, se, summary.dof, confidence, "cr1", scale)


def jackknife(summary: ComparisonSummary, confidence: float = 0.95, scale: str = "ratio") -> PremiumEstimate:
    """Leave-one-user-out jackknife (CV3) errors with t tests on the smaller side's clusters (`dof`).

    V = (G-1)/G * sum_i (beta_(i) - beta)^2 over exact deletions (MacKinnon,
    Nielsen & Webb 2023). Unlike CR1 it sees how much each user moves the
    estimate, including through the cell means they share with others, which is
    what keeps its level when a few heavy users dominate or cells are tiny
    (docs/validation.md).
    """
    a, b = summary.scores_a, summary.scores_b
    g = summary.clusters
    sum_a, sum_b = float(a.sum()), float(b.sum())
    if g < 2 or sum_b <= _EPS:
        return undefined("cv3_jackknife", summary.dof, scale)
    beta = sum_a / sum_b
    remaining = sum_b - summary.delta_b
    if np.any(remaining <= _EPS * max(sum_b, 1.0)):
        # Some single user carries all the support: no deletion estimate exists.
        return undefined("cv3_jackknife", summary.dof, scale)
    deviations = (sum_a - summary.delta_a) / remaining - beta
    se = math.sqrt((g - 1) / g * float(deviations @ deviations))
    return with_t(beta, se, jackknife_dof(summary.dof, deviations), confidence, "cv3_jackknife", scale)


def jackknife_dof(dof: float, deviations: np.ndarray) -> float:
    """The t reference's degrees of freedom: the smaller side's clusters, or fewer when a few
    users make most of the jackknife variance.

    The variance is a sum of the users' squared deletion changes d_i^2. If each d_i were
    an independent N(0, s_i^2), Satterthwaite's approximation gives the sum
    (sum s_i^2)^2 / sum s_i^4 degrees of freedom: the number of users when they weigh
    alike, close to one when one user dominates. With E d^4 = 3 s^4 for a normal draw,
    the plug-in is G*_v = 3 (sum d^2)^2 / sum d^4, and the reference is
    t(min(G_min, G*_v) - 1), never below t(2). On real bookings clustered by travel agent
    (one agent with 30 % of the rows) random splits of the agents were rejected at 5 % in
    14.3 % of 1,000 splits with t(G_min - 1) and 5.6 % with this reference; in simulated
    logs with the top user holding 20-40 % of the rows, 3.8-4.6 % (docs/validation.md,
    *Few and unequal users*). The effective number of clusters from the weights alone
    (Carter, Schnepel & Steigerwald 2017; `ComparisonSummary.effective_clusters`) left
    the agents at 11.4 %: how unequal the users' prices are matters as much as how unequal
    their weights.
    """
    squares = deviations * deviations
    fourth = float(squares @ squares)
    if not fourth > 0 or dof < 1:
        return dof
    return max(min(float(dof), 3 * float(squares.sum()) ** 2 / fourth - 1), 0.0)


def with_t(beta: float, se: float, dof: int, confidence: float, method: str, scale: str = "ratio") -> PremiumEstimate:
    """Two-sided t test of beta = 0 and a t interval, reported on the premium scale.

    A standard error below SE_FLOOR is rounding, not variation: every user's prices
    agree with the fitted gap exactly. The standard error is then 0, a beta inside
    the floor is exactly 0 (identical prices: premium 0, p = 1), and any other beta
    is exact (a deterministic +5 %: premium 5 %, p = 0, interval [5 %, 5 %]). That
    is what the data say: no draw of these users' purchases could show another gap.
    Whether such a gap is a finding is left to the counts (test.min_users per side)
    and materiality, as for any other.
    """
    if dof < 1 or math.isnan(se):
        return PremiumEstimate(beta, se, dof, math.nan, math.nan, math.nan, method, scale)
    if se < SE_FLOOR:
        beta = 0.0 if abs(beta) < SE_FLOOR else beta
        exact = _to_scale(beta, scale)
        return PremiumEstimate(beta, 0.0, dof, 1.0 if beta == 0 else 0.0, exact, exact, method, scale)
    p = float(2 * stats.t.sf(abs(beta / se), dof))
    crit = float(stats.t.ppf(0.5 + confidence / 2, dof))
    return PremiumEstimate(beta, se, dof, p, _to_scale(beta - crit * se, scale), _to_scale(beta + crit * se, scale),
                           method, scale)


def minimum_detectable(estimate: PremiumEstimate, alpha: float, power: float = 0.8) -> float:
    """Smallest premium this data detects with the given power at two-sided level alpha.

    MDE = (t_{1-alpha/2} + t_{power}) * se on the log scale (Bloom 1995), as a
    premium. It uses the same standard error as the test, so "not flagged" can be
    read against it.
    """
    if not estimate.se > 0 or estimate.dof < 1:
        return math.nan
    shift = float(stats.t.ppf(1 - alpha / 2, estimate.dof) + stats.t.ppf(power, estimate.dof))
    return _to_scale(shift * estimate.se, estimate.scale)


def materiality_bound(materiality: float, scale: str = "ratio") -> float:
    """The materiality threshold on the beta scale (log ratio, or difference in shares)."""
    return materiality if scale == "difference" else math.log1p(materiality)


def material_interval(estimate: PremiumEstimate, materiality: float) -> bool | None:
    """Whether the whole interval lies beyond ±materiality (None when there is no interval)."""
    if math.isnan(estimate.ci_low) or math.isnan(estimate.ci_high):
        return None
    return bool(estimate.ci_low >= materiality or estimate.ci_high <= -materiality)


def minimum_flaggable(estimate: PremiumEstimate, level: float, materiality: float, power: float = 0.8,
                      rule: str = "estimate", confidence: float = 0.95) -> float:
    """Smallest premium that would be *flagged* with probability `power`, on this standard error.

    A premium is flagged when its test rejects at `level` — the per-comparison level at
    which Benjamini–Hochberg would give it q < alpha, the audit's other p-values held
    as observed (`multiple.bh_level`) — and it reaches materiality: the estimate
    (rule "estimate") or the near end of its interval (rule "interval"). On the beta
    scale that is beta_hat >= h with

        h = max(t_{1-level/2} se, bound)                 (estimate)
        h = max(t_{1-level/2} se, bound + t_{(1+conf)/2} se)   (interval)

    and with beta_hat ~ beta + se T_dof (the opposite tail ignored), P(flag) = power
    at beta = h + t_{power} se (Bloom 1995, with the flag rule in place of the bare
    test). With se = 0 the premium is exact and the answer is the threshold itself.
    """
    if math.isnan(estimate.se) or estimate.dof < 1 or not 0 < level < 1:
        return math.nan
    se, dof = estimate.se, estimate.dof
    bound = materiality_bound(materiality, estimate.scale)
    h = max(float(stats.t.ppf(1 - level / 2, dof)) * se, bound + (float(stats.t.ppf(0.5 + confidence / 2, dof)) * se
                                                                  if rule == "interval" else 0.0))
    return _to_scale(h + float(stats.t.ppf(power, dof)) * se, estimate.scale)


def equivalence_p(estimate: PremiumEstimate, materiality: float) -> float:
    """Two one-sided tests (Schuirmann 1987) that the premium lies within ±materiality.

    Small values support equivalence: the data rule out a premium (or discount)
    as large as the materiality threshold.
    """
    if math.isnan(estimate.se) or estimate.dof < 1 or not 0 < materiality < 1:
        return math.nan
    low, high = ((-materiality, materiality) if estimate.scale == "difference"
                 else (math.log1p(-materiality), math.log1p(materiality)))
    if estimate.se == 0:  # an exact premium (see with_t): inside the range or not, with certainty
        return 0.0 if low < estimate.beta < high else 1.0
    p_low = stats.t.sf((estimate.beta - low) / estimate.se, estimate.dof)
    p_high = stats.t.cdf((estimate.beta - high) / estimate.se, estimate.dof)
    return float(max(p_low, p_high))


def raw_premium(mean_log_group: float, mean_log_reference: float) -> float:
    """Unmatched premium: ratio of geometric mean prices, minus one."""
    return math.expm1(mean_log_group - mean_log_reference)


def user_scores(user, cell, x, y, sides: bool = True) -> ComparisonSummary:
    """Per-user scores and exact deletion deltas from row arrays (the numpy twin of Spark).

    Cells hold support when x varies within them; users are ordered by id. With
    `sides` (x is 0/1), the users with group rows and with reference rows in
    supported cells are counted; a dose (sides=False) has none.
    Used by tests and by the simulation study; Spark computes the same sums.
    """
    user = np.asarray(user)
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    _, cell_index = np.unique(np.asarray(cell), return_inverse=True)
    user_ids, user_index = np.unique(user, return_inverse=True)
    pair = cell_index.astype(np.int64) * user_ids.size + user_index
    pair_ids, pair_index = np.unique(pair, return_inverse=True)
    cu_cell, cu_user = pair_ids // user_ids.size, pair_ids % user_ids.size

    def per_pair(values):
        return np.bincount(pair_index, values, minlength=pair_ids.size)

    n, sx, sy = per_pair(np.ones_like(x)), per_pair(x), per_pair(y)
    sxy, sxx = per_pair(x * y), per_pair(x * x)
    a, b, da, db, supported = cell_user_scores(n, sx, sy, sxy, sxx, cu_cell)
    used = np.bincount(cu_user, supported, minlength=user_ids.size) > 0
    totals = [np.bincount(cu_user, v * supported, minlength=user_ids.size)[used] for v in (a, b, da, db)]
    cells_supported = np.unique(cu_cell[supported > 0]).size
    counts = {}
    if sides:
        on = supported > 0
        counts = {"users_group": np.unique(cu_user[on & (sx > 0)]).size,
                  "users_reference": np.unique(cu_user[on & (n > sx)]).size}
    return ComparisonSummary(*totals, rows=int(n[supported > 0].sum()), cells=int(cells_supported),
                             users=int(used.sum()), **counts)


def cell_user_scores(n, sx, sy, sxy, sxx, cell):
    """Scores of each (cell, user) pair from its sums and its cell's sums.

    Returns A, B (the pair's share of sum x~y~ and sum x~^2), dA, dB (the change in
    the cell's A and B when the user's rows leave it) and a support flag (1.0/0.0).
    """
    n_c, sx_c, sy_c = (np.bincount(cell, v) for v in (n, sx, sy))
    sxy_c, sxx_c = np.bincount(cell, sxy), np.bincount(cell, sxx)
    a_cell = sxy_c - sx_c * sy_c / n_c
    b_cell = sxx_c - sx_c ** 2 / n_c
    supported = b_cell > _EPS * np.maximum(sxx_c, 1.0)
    mx, my = (sx_c / n_c)[cell], (sy_c / n_c)[cell]
    a = sxy - mx * sy - my * sx + n * mx * my
    b = sxx - 2 * mx * sx + n * mx * mx
    rest_n = n_c[cell] - n
    with np.errstate(invalid="ignore", divide="ignore"):
        rest_sx, rest_sy = sx_c[cell] - sx, sy_c[cell] - sy
        a_rest = np.where(rest_n > 0, (sxy_c[cell] - sxy) - rest_sx * rest_sy / rest_n, 0.0)
        b_rest = np.where(rest_n > 0, (sxx_c[cell] - sxx) - rest_sx ** 2 / rest_n, 0.0)
    rest_supported = b_rest > _EPS * np.maximum(sxx_c[cell] - sxx, 1.0)
    da = a_cell[cell] - np.where(rest_supported, a_rest, 0.0)
    db = b_cell[cell] - np.where(rest_supported, b_rest, 0.0)
    keep = supported[cell].astype(float)
    return a * keep, b * keep, da * keep, db * keep, keep
