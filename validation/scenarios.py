"""Simulated purchase logs for the validation study, generated in numpy.

Every scenario draws rows from one price model on the log scale,

    log price = 3 + level(cell) + user effect + premium * group + noise,

where the group is a property of the user (as a device or membership is), so
the premium is a within-cell gap and a user's purchases share the user effect.
The scenarios differ in who buys how much, where, and how prices scatter:
the situations in which textbook clustered errors are known to mislead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

BASE_LOG_PRICE = 3.0  # about 20 yuan
OUTLIER_SD = 0.5  # log-scale size of an outlier shock (a price ~40-65 % off)


@dataclass(frozen=True)
class Rows:
    """One simulated log: a row per purchase (log price in y, group indicator in x)."""

    user: np.ndarray
    cell: np.ndarray
    x: np.ndarray
    y: np.ndarray

    @property
    def raw_premium(self) -> float:
        """Unmatched premium: ratio of the groups' geometric mean prices, minus one."""
        group = self.x > 0
        return math.expm1(float(self.y[group].mean() - self.y[~group].mean()))


@dataclass(frozen=True)
class Scenario:
    """A data-generating process; `simulate` draws one log from it."""

    name: str
    title: str
    about: str  # what it stresses, in plain words
    users: int
    purchases_per_user: float  # mean
    activity: str = "poisson"  # poisson: 1 + Poisson(mean - 1); pareto: Pareto(shape) scaled to the mean
    pareto_shape: float = 1.3
    cells: int = 300
    layout: str = "uniform"  # uniform cells; home: half of purchases near a user's home cells, half in popular cells
    home_span: int = 5  # home: a user's purchases there fall in this many adjacent cells
    popular_zipf: float = 1.3  # home: Zipf exponent of the popular cells
    cell_sd: float = 0.3  # spread of cell price levels (log scale)
    mix_tilt: float = 0.0  # Simpson trap: group users pick cells with weight exp(tilt * level / cell_sd)
    user_sd: float = 0.10  # user effect (log scale)
    noise: str = "normal"  # normal; t3_outliers: Student t(3) noise plus rare outlier shocks
    noise_sd: float = 0.08
    outlier_share: float = 0.0
    group_share: float = 0.35  # share of users in the group (the rest are the reference)
    group_users: int = 0  # if set: exactly this many users in the group, drawn at random (overrides group_share)

    def simulate(self, rng: np.random.Generator, premium: float = 0.0) -> Rows:
        """One log with the given true premium (a fraction: 0.02 is 2 %)."""
        purchases = self._activity(rng)
        user = np.repeat(np.arange(self.users), purchases)
        rows = user.size
        if self.group_users:
            group = np.zeros(self.users, dtype=bool)
            group[rng.choice(self.users, self.group_users, replace=False)] = True
        else:
            group = rng.random(self.users) < self.group_share
        x = group[user].astype(float)
        level = rng.normal(0.0, self.cell_sd, self.cells)
        cell = self._cells(rng, user, group, level)
        user_effect = rng.normal(0.0, self.user_sd, self.users)
        y = BASE_LOG_PRICE + level[cell] + user_effect[user] + math.log1p(premium) * x + self._noise(rng, rows)
        return Rows(user, cell, x, y)

    def _activity(self, rng: np.random.Generator) -> np.ndarray:
        if self.activity == "poisson":
            return 1 + rng.poisson(self.purchases_per_user - 1, self.users)
        # Lomax draws shifted to start at 1, scaled so the log has the stated mean purchases per
        # user: a few accounts buy hundreds or thousands of times.
        draws = rng.pareto(self.pareto_shape, self.users) + 1
        return np.maximum(1, np.round(draws / draws.mean() * self.purchases_per_user)).astype(int)

    def _cells(self, rng: np.random.Generator, user, group, level) -> np.ndarray:
        rows = user.size
        if self.layout == "home":
            # Commuters: half of a user's purchases on a few "home" routes (rarely shared, so
            # the user is much of those cells), half in popular cells everyone uses.
            home = rng.integers(0, self.cells, self.users)
            near_home = (home[user] + rng.integers(0, self.home_span, rows)) % self.cells
            popular = rng.zipf(self.popular_zipf, rows) % self.cells
            return np.where(rng.random(rows) < 0.5, near_home, popular)
        cell = rng.integers(0, self.cells, rows)
        if self.mix_tilt:
            # Group users buy pricier things (bigger cars, peak hours): exponential tilting of the
            # cell choice towards high price levels, with no premium inside any cell.
            weight = np.exp(self.mix_tilt * level / self.cell_sd)
            cumulative = np.cumsum(weight / weight.sum())
            tilted = np.minimum(np.searchsorted(cumulative, rng.random(rows)), self.cells - 1)
            cell = np.where(group[user], tilted, cell)
        return cell

    def _noise(self, rng: np.random.Generator, rows: int) -> np.ndarray:
        if self.noise == "normal":
            return rng.normal(0.0, self.noise_sd, rows)
        # Student t with 3 degrees of freedom scaled to sd noise_sd, plus rare large shocks
        # (mispriced or manually overridden orders).
        noise = self.noise_sd * rng.standard_t(3, rows) / math.sqrt(3)
        shocked = rng.random(rows) < self.outlier_share
        return noise + np.where(shocked, rng.normal(0.0, OUTLIER_SD, rows), 0.0)

    def parameters(self) -> str:
        """The parameters that differ from a plain log, for the study's parameter table."""
        if self.activity == "poisson":
            activity = f"1 + Poisson({self.purchases_per_user - 1:g})"
        else:
            activity = f"Pareto(shape {self.pareto_shape:g}) scaled to mean {self.purchases_per_user:g}"
        if self.layout == "home":
            layout = (f"{self.cells:,} cells; half of purchases in {self.home_span} adjacent cells from a random home, "
                      f"half in popular cells (Zipf {self.popular_zipf:g})")
        else:
            layout = f"{self.cells:,} cells, uniform"
            if self.mix_tilt:
                layout += f"; group picks cells with weight exp({self.mix_tilt:g} · level / cell sd)"
        if self.noise == "normal":
            noise = f"normal, sd {self.noise_sd:g}"
        else:
            noise = (f"t(3) scaled to sd {self.noise_sd:g}, plus a N(0, {OUTLIER_SD:g}) shock on "
                     f"{100 * self.outlier_share:g} % of rows")
        who = (f"{self.users:,} users ({self.group_users} in the group)" if self.group_users
               else f"{self.users:,} users ({100 * self.group_share:g} % in the group)")
        return (f"{who}; purchases per user {activity}; "
                f"{layout}; cell level sd {self.cell_sd:g}; user effect sd {self.user_sd:g}; noise {noise}")


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("baseline", "Baseline",
             "A plain log: every user buys about ten times, cells are shared widely.",
             users=1000, purchases_per_user=10, cells=300),
    Scenario("simpson", "Simpson trap",
             "The group buys pricier cells (a large raw gap) but pays no premium within any cell.",
             users=1000, purchases_per_user=10, cells=300, cell_sd=0.5, mix_tilt=0.4),
    Scenario("heavy_users", "Heavy users",
             "Pareto activity (a few accounts buy hundreds of times) and commuters concentrated in a "
             "few home cells that they dominate.",
             users=1000, purchases_per_user=40, activity="pareto", pareto_shape=1.3, cells=20_000,
             layout="home"),
    Scenario("tiny_cells", "Tiny cells",
             "Fine matching: most supported cells hold two to four purchases.",
             users=3000, purchases_per_user=4, cells=6000),
    Scenario("heavy_tails", "Heavy-tailed prices",
             "Student t(3) price noise and 1 % of prices shocked by a N(0, 0.5) log factor.",
             users=1000, purchases_per_user=10, cells=300, noise="t3_outliers", noise_sd=0.15,
             outlier_share=0.01),
    Scenario("few_users", "Few users",
             "Forty users (about fourteen in the group), so G - 1 degrees of freedom are few.",
             users=40, purchases_per_user=30, cells=60),
)

BY_NAME = {s.name: s for s in SCENARIOS}

# Few users on one side: a group of k heavy users among 600 reference users, no premium.
FEW_SIDE_SIZES = (2, 3, 5, 10, 30)
FEW_SIDE: tuple[Scenario, ...] = tuple(
    Scenario(f"few_side_{k}", f"{k} group users among 600",
             f"A group of {k} users among 600 reference users, heavy users (as in Heavy users).",
             users=600 + k, group_users=k, purchases_per_user=40, activity="pareto", pareto_shape=1.3,
             cells=20_000, layout="home")
    for k in FEW_SIDE_SIZES)
