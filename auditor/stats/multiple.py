"""Multiple-testing control across the comparisons of one audit."""

from __future__ import annotations

import numpy as np


def bh_qvalues(p_values) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (q-values), in the input's order.

    q_(i) = min_{j >= i} min(1, m * p_(j) / j) over the ascending p-values
    (Benjamini & Hochberg 1995). NaN p-values are left out of m and stay NaN.
    """
    p = np.asarray(p_values, dtype=float)
    q = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    m = int(ok.sum())
    if m == 0:
        return q
    order = np.argsort(p[ok], kind="mergesort")
    ranked = p[ok][order] * m / np.arange(1, m + 1)
    adjusted = np.minimum.accumulate(ranked[::-1])[::-1].clip(max=1.0)
    out = np.empty(m)
    out[order] = adjusted
    q[ok] = out
    return q


def bh_level(other_p_values, alpha: float) -> float:
    """The per-comparison level at which one more test gets q < alpha, the others held fixed.

    Benjamini–Hochberg rejects a p-value p among m exactly when, for some j, p <= alpha j / m
    and at least j - 1 of the other p-values are <= alpha j / m as well; so the level is
    alpha j* / m for the largest such j*. It lies between alpha / m (nothing else is
    significant: Bonferroni) and alpha (everything else is). NaN p-values are not in
    the family.
    """
    others = np.sort(np.asarray(other_p_values, dtype=float))
    others = others[~np.isnan(others)]
    m = others.size + 1
    for j in range(m, 0, -1):
        level = alpha * (j / m)
        if np.searchsorted(others, level, side="right") >= j - 1:
            return level
    return alpha / m
