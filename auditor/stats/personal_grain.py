"""Is pricing personalised? The grain the analyses read: per-(cell, user) sums, each pair's deviation from
the other users of its cell, and the seeded halves (auditor.stats.personal)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_MASK64 = (1 << 64) - 1


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
