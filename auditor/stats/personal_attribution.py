"""Is pricing personalised? Attribution: which user-level columns explain the persistent premium, found on one
half of the users and confirmed on the other, and each column's share of it (auditor.stats.personal)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from auditor.stats.multiple import bh_qvalues
from auditor.stats.personal_grain import PairSums, deviations, seeded_half
from auditor.stats.personal_persistence import HalfMeans, half_means, persistence_from, persistence_sums, split_halves
from auditor.stats.premium import ComparisonSummary, cell_user_scores, jackknife


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
        rows += _value_rows(pairs, column, values_by_user, shared, user_half, min_users)
        columns.append(_column_share(column, means, {int(u): str(v) for u, v in values_by_user.items()},
                                     persistent.variance))
    q, one_sided, q_confirm = _confirm(rows, alpha)
    users_shared = max(int(np.unique(pairs.user[shared]).size), 1)
    values = []
    for i, r in enumerate(rows):
        p_share = r["users"] / users_shared
        share = (p_share * (1 - p_share) * r["discovery"] * r["confirmation"] / persistent.variance
                 if persistent.variance > 0 else math.nan)
        values.append(AttributeValue(
            column=r["column"], value=r["value"], users=r["users"], discovery=r["discovery"],
            discovery_p=r["discovery_p"], discovery_q=float(q[i]), confirmation=r["confirmation"],
            confirmation_p=one_sided.get(i, math.nan), confirmation_q=float(q_confirm.get(i, math.nan)),
            share=share, confirmed=bool(i in q_confirm and q_confirm[i] < alpha)))
    return Attribution(scanned=tuple(attributes), values=tuple(values), columns=tuple(columns), alpha=alpha, seed=seed)


def _value_rows(pairs: PairSums, column: str, values_by_user: Mapping[int, str], shared: np.ndarray,
                user_half: np.ndarray, min_users: int) -> list[dict]:
    """Each value of one column held by at least `min_users` users on each side of each half: its premium
    against the other users of its half, on the discovery half and on the confirmation half."""
    by_code = {int(u): str(v) for u, v in values_by_user.items()}
    pair_value = np.array([by_code.get(u) for u in pairs.user.tolist()], dtype=object)
    rows = []
    for value in sorted(set(by_code.values())):
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
    return rows


def _confirm(rows: list[dict], alpha: float) -> tuple[np.ndarray, dict[int, float], dict[int, float]]:
    """BH over every discovery p-value; the values found, tested one-sided in the discovery's direction on
    the confirmation half, with BH over those: (discovery q, confirmation p, confirmation q) by row."""
    q = bh_qvalues([r["discovery_p"] for r in rows]) if rows else np.array([])
    found = [i for i, r in enumerate(rows) if q[i] < alpha]
    one_sided = {}
    for i in found:
        same_sign = np.sign(rows[i]["confirmation"]) == np.sign(rows[i]["discovery"])
        p2 = rows[i]["confirmation_p_two"]
        one_sided[i] = p2 / 2 if same_sign else 1 - p2 / 2
    q_confirm = dict(zip(found, bh_qvalues([one_sided[i] for i in found]))) if found else {}
    return q, one_sided, q_confirm


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
class AttributionSample:
    """The pairs of a seeded sample of users, for the attribute tests (auditor.stats.personal.attribution)."""

    pairs: PairSums  # cells and users as integer codes
    unit: np.ndarray  # each pair's split unit (week or cell code), aligned with `pairs`
    attributes: dict[str, dict[int, str]]  # column -> {user code: value}
    users: int  # users sampled
    share: float  # of the users with purchases, the share sampled
