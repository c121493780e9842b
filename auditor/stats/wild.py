"""Inference that holds when users are few or very unequal, from the same per-user summaries.

The analytic CV3 test refers beta / se to t(G_min - 1). That reference assumes every
user carries a comparable share of the comparison's weight. Real logs are not like that:
a travel agent, a corporate account or a fleet operator can hold a third of a
comparison's rows, and then the t statistic's tails are much heavier than t(G - 1) says
(MacKinnon, Nielsen & Webb 2023, "Cluster-robust inference: a guide to empirical
practice"; docs/validation.md, *Few and unequal users*).

Two tools, both from (A_i, B_i, dA_i, dB_i) per user, no pass over the rows:

- `wild_bootstrap`: the wild cluster restricted score bootstrap (Kline & Santos 2012;
  Cameron, Gelbach & Miller 2008; WCR in MacKinnon, Nielsen & Webb 2023) of H0: beta = 0.
  With cell fixed effects absorbed, the restricted model's residuals are the within-cell
  deviations of y, and the bootstrap numerator is exactly sum_i v_i A_i (x~ sums to zero
  in each cell, so the cell means of the bootstrap outcome drop out). Each user's score
  and deletion change flip with the user's weight v_i; the bootstrap t is studentized
  in the same CV3 form as the observed one. The reference distribution of |t| it
  yields replaces t(G_min - 1) for the p-value, the interval, the equivalence test and
  the minimum flaggable premium alike, so they never disagree.
- `cluster_diagnostics`: how the comparison's weight (sum of B_i, the within-cell
  variance of the group indicator each user brings) is spread over users: the largest
  user's share, the top five's, and the effective number of clusters
  G* = (sum B)^2 / sum B^2 (Carter, Schnepel & Steigerwald 2017, under errors
  independent within a user; it is the inverse Herfindahl index of the weight shares).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from auditor.stats.premium import _EPS, SE_FLOOR, ComparisonSummary

# Bootstrap draws. 9,999 puts the p-value's Monte Carlo error at 0.002 near 0.05
# (sqrt(0.05 * 0.95 / 9,999)); with 99,999 at most 2 of 1,000 p-values near 0.05 would
# change side, not worth ten times the cost.
DRAWS = 9_999
# Webb's six-point weights (Webb 2023) up to this many users: Rademacher signs give at most
# 2^G distinct bootstrap statistics, too coarse for a p-value near 0.05 (G = 8: 256, and
# the smallest attainable p-value is 2 / 2^G).
WEBB_UP_TO = 12
WEBB = np.array([-math.sqrt(1.5), -1.0, -math.sqrt(0.5), math.sqrt(0.5), 1.0, math.sqrt(1.5)])
# Fixed seed: the same summaries give the same p-value on every run.
SEED = 20261130
# Users whose weights are drawn at once: bounds memory at CHUNK x G x 8 bytes.
CHUNK_CELLS = 4_000_000


@dataclass(frozen=True)
class WildBootstrap:
    """The bootstrap reference distribution of |t| under beta = 0, and the observed t."""

    t: float  # observed beta / se_cv3
    p_value: float  # share of bootstrap |t*| at or beyond |t| (the observed one counted when drawn)
    draws: int
    weights: str  # "webb", "rademacher", or "given" (weights passed in)
    abs_t: np.ndarray  # sorted |t*|; the reference distribution

    def critical(self, level: float) -> float:
        """The |t| beyond which the two-sided test rejects at `level`."""
        return float(np.quantile(self.abs_t, 1 - level, method="higher"))

    def p(self, t: float) -> float:
        """Two-sided p-value of a t statistic against this reference."""
        return float(np.count_nonzero(self.abs_t >= abs(t) * (1 - 1e-12)) / self.abs_t.size)

    def upper_tail(self, x: float) -> float:
        """P(T > x) under the (symmetric) reference."""
        if x <= 0:
            return 1 - 0.5 * self.p(x) if x < 0 else 0.5
        return 0.5 * self.p(x)


def sign_vectors(g: int) -> np.ndarray:
    """All 2^g Rademacher sign vectors, the all-plus one first."""
    return np.array(list(itertools.product((1.0, -1.0), repeat=g)))


def weight_kind(g: int) -> str:
    """Webb's six points up to WEBB_UP_TO users, Rademacher signs beyond (MacKinnon, Nielsen & Webb 2023)."""
    return "webb" if g <= WEBB_UP_TO else "rademacher"


def _draw(rng: np.random.Generator, kind: str, rows: int, g: int) -> np.ndarray:
    if kind == "webb":
        return WEBB[rng.integers(0, 6, size=(rows, g))]
    return rng.integers(0, 2, size=(rows, g)).astype(np.float64) * 2 - 1


def _cv3_sums(summary: ComparisonSummary):
    """The pieces of the jackknife variance as functions of the weights (see `wild_bootstrap`)."""
    a, b, da, db = summary.scores_a, summary.scores_b, summary.delta_a, summary.delta_b
    sum_b = float(b.sum())
    remaining = sum_b - db
    if summary.clusters < 2 or sum_b <= _EPS or np.any(remaining <= _EPS * max(sum_b, 1.0)):
        return None
    k = db / (remaining * sum_b)  # 1/R_i - 1/sum B
    m = da / remaining
    return a, sum_b, k, m


def _t_stats(v: np.ndarray, a, sum_b, k, m, g) -> np.ndarray:
    """CV3-form t statistics for weight rows v (one bootstrap world per row).

    In a world with weights v, user i's score is v_i A_i and its deletion change v_i dA_i
    (B and dB depend on x only). The leave-one-out deviation is
    beta*_(i) - beta* = SA* k_i - v_i m_i with SA* = sum v A, so
    sum_i dev_i^2 = SA*^2 sum k^2 - 2 SA* (v @ k m) + (v^2 @ m^2): three matrix products.
    """
    sa = v @ a
    sq = sa ** 2 * float(k @ k) - 2 * sa * (v @ (k * m)) + (v * v) @ (m * m)
    se = np.sqrt(np.maximum((g - 1) / g * sq, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(se > SE_FLOOR, (sa / sum_b) / se, 0.0)


def wild_bootstrap(summary: ComparisonSummary, draws: int = DRAWS, seed: int = SEED,
                   weights: np.ndarray | None = None) -> WildBootstrap | None:
    """Wild cluster restricted score bootstrap of beta = 0, studentized like CV3.

    Returns None when the jackknife is undefined (fewer than two users, or one user
    carries all the support). `weights` (rows of per-user weights) overrides the draws;
    tests pass all sign vectors to compare with a brute-force enumeration.
    """
    pieces = _cv3_sums(summary)
    if pieces is None:
        return None
    a, sum_b, k, m = pieces
    g = summary.clusters
    observed = float(_t_stats(np.ones((1, g)), a, sum_b, k, m, g)[0])
    if weights is not None:
        abs_t = np.sort(np.abs(_t_stats(np.asarray(weights, dtype=float), a, sum_b, k, m, g)))
        # An enumeration holds the observed sample itself (all weights one).
        count = np.count_nonzero(abs_t >= abs(observed) * (1 - 1e-12))
        return WildBootstrap(observed, float(count / abs_t.size), int(abs_t.size), "given", abs_t)
    kind = weight_kind(g)
    rng = np.random.default_rng(seed)
    step = max(1, min(draws, CHUNK_CELLS // max(g, 1)))
    parts = []
    for start in range(0, draws, step):
        parts.append(np.abs(_t_stats(_draw(rng, kind, min(step, draws - start), g), a, sum_b, k, m, g)))
    # The observed statistic joins the draws (Davison & Hinkley 1997): p = (1 + #{|t*| >= |t|}) / (B + 1).
    abs_t = np.sort(np.concatenate([*parts, [abs(observed)]]))
    count = np.count_nonzero(abs_t >= abs(observed) * (1 - 1e-12))
    return WildBootstrap(observed, float(count / abs_t.size), int(abs_t.size), kind, abs_t)


@dataclass(frozen=True)
class ClusterDiagnostics:
    """How a comparison's weight is spread over its users (the `summclust` idea)."""

    users: int
    effective_users: float  # G* = (sum B)^2 / sum B^2
    top_share: float  # the largest user's share of sum B
    top5_share: float  # the five largest users' share of sum B
    top_pull: float  # the largest change one deletion makes: max |beta_(i) - beta| / se_cv3

    def to_json(self) -> dict:
        return dict(self.__dict__)


def cluster_diagnostics(summary: ComparisonSummary) -> ClusterDiagnostics:
    """Weight shares, G* and the largest deletion's pull, from the per-user summaries."""
    b = np.clip(summary.scores_b, 0.0, None)
    total = float(b.sum())
    g = summary.clusters
    if g == 0 or total <= _EPS:
        return ClusterDiagnostics(g, math.nan, math.nan, math.nan, math.nan)
    shares = np.sort(b / total)[::-1]
    g_star = 1.0 / float(shares @ shares)
    pull = math.nan
    pieces = _cv3_sums(summary)
    if pieces is not None:
        a, sum_b, k, m = pieces
        dev = float(a.sum()) * k - m
        se = math.sqrt((g - 1) / g * float(dev @ dev))
        if se > SE_FLOOR:
            pull = float(np.max(np.abs(dev)) / se)
    return ClusterDiagnostics(g, g_star, float(shares[0]), float(shares[:5].sum()), pull)
