"""The matched premium and its user-clustered inference, from per-user scores.

Model (one comparison): log price_t = alpha_cell(t) + beta * x_t + e_t, with
cell fixed effects and x_t = 1 for the group, 0 for the reference. Within
cells, x~ = x - mean_cell(x) and y~ = y - mean_cell(y). For each user i,

    A_i = sum_t x~_t y~_t      B_i = sum_t x~_t^2

so beta = sum A / sum B (Frisch–Waugh–Lovell), and the user's score at beta is
s_i = A_i - beta * B_i. Spark reduces the rows to (A_i, B_i) per user; all the
inference here needs only those, which is what makes it scale: the same
numbers come from 1,000 rows or 10^9.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class ComparisonSummary:
    """What Spark hands back for one group-vs-reference comparison."""

    scores_a: np.ndarray  # per user (or user bucket): sum of x~ y~
    scores_b: np.ndarray  # per user (or user bucket): sum of x~^2
    rows: int  # rows in cells with common support
    cells: int  # cells with common support (fixed effects absorbed)
    users: int  # distinct users in those cells

    @property
    def clusters(self) -> int:
        return int(self.scores_a.size)


@dataclass(frozen=True)
class PremiumEstimate:
    """A premium with its interval and test, on the price scale (exp(beta) - 1)."""

    beta: float
    se: float
    dof: int
    p_value: float
    ci_low: float
    ci_high: float
    method: str

    @property
    def premium(self) -> float:
        return math.expm1(self.beta)


def cluster_robust(summary: ComparisonSummary, confidence: float = 0.95) -> PremiumEstimate:
    """Cell fixed-effects premium with CR1 user-clustered errors and t(G-1) tests.

    The small-sample factor G/(G-1) * (N-1)/(N-K) counts the absorbed cells in K
    (K = cells + 1), as a regression with explicit cell dummies would (it is the
    factor statsmodels and Stata apply); without it the variance is too small
    when cells are many and small.
    """
    a, b = summary.scores_a, summary.scores_b
    g, n, k = summary.clusters, summary.rows, summary.cells + 1
    sum_b = float(b.sum())
    if g < 2 or sum_b <= 0 or n <= k:
        return PremiumEstimate(math.nan, math.nan, max(g - 1, 0), math.nan, math.nan, math.nan, "cr1")
    beta = float(a.sum()) / sum_b
    scores = a - beta * b
    factor = g / (g - 1) * (n - 1) / (n - k)
    se = math.sqrt(factor * float(scores @ scores)) / sum_b
    dof = g - 1
    return _with_t(beta, se, dof, confidence, "cr1")


def _with_t(beta: float, se: float, dof: int, confidence: float, method: str) -> PremiumEstimate:
    if not se > 0:
        return PremiumEstimate(beta, se, dof, math.nan, math.nan, math.nan, method)
    t = beta / se
    p = float(2 * stats.t.sf(abs(t), dof))
    crit = float(stats.t.ppf(0.5 + confidence / 2, dof))
    return PremiumEstimate(beta, se, dof, p, math.expm1(beta - crit * se), math.expm1(beta + crit * se), method)


def raw_premium(mean_log_group: float, mean_log_reference: float) -> float:
    """Unmatched premium: ratio of geometric mean prices, minus one."""
    return math.expm1(mean_log_group - mean_log_reference)


def user_scores(user, cell, x, y) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Per-user (A, B) from row arrays, restricted to cells with common support.

    The numpy twin of the Spark reduction (used by tests and simulations):
    returns A, B ordered by user id, rows and cells with support.
    """
    user = np.asarray(user)
    cell = np.asarray(cell)
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    cell_ids, cell_index = np.unique(cell, return_inverse=True)
    n_cell = np.bincount(cell_index)
    mean_x = np.bincount(cell_index, x) / n_cell
    mean_y = np.bincount(cell_index, y) / n_cell
    supported = ((mean_x > 0) & (mean_x < 1))[cell_index]
    xt = (x - mean_x[cell_index])[supported]
    yt = (y - mean_y[cell_index])[supported]
    _, user_index = np.unique(user[supported], return_inverse=True)
    a = np.bincount(user_index, xt * yt)
    b = np.bincount(user_index, xt * xt)
    return a, b, int(supported.sum()), int(np.unique(cell_index[supported]).size)
