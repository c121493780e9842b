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

The analyses live one concept to a module, re-exported here: the grain (`personal_grain`), dispersion
(`personal_dispersion`), persistence (`personal_persistence`) and attribution (`personal_attribution`);
this module reads them (`read`) and holds what the engine hands back (`PersonalSums`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from auditor.stats.personal_attribution import (AttributeValue, Attribution, AttributionSample, ColumnShare,
                                                ColumnSums, ScannedColumn, _column_share, attribution,
                                                column_share_from)
from auditor.stats.personal_dispersion import Dispersion, DispersionSums, dispersion, dispersion_from, dispersion_sums
from auditor.stats.personal_grain import Deviations, PairSums, deviations, seeded_half
from auditor.stats.personal_persistence import (Z80, HalfMeans, Persistence, PersistenceSums, choose_split,
                                                half_means, persistence, persistence_from, persistence_permutation,
                                                persistence_sums, split_halves)
from auditor.vocabulary import Reading

__all__ = ["AttributeValue", "Attribution", "AttributionSample", "ColumnShare", "ColumnSums", "Deviations",
           "Dispersion", "DispersionSums", "HalfMeans", "PairSums", "Persistence", "PersistenceSums", "PersonalSums",
           "Personalisation", "Reading", "ScannedColumn", "Z80", "attribution", "choose_split", "column_share_from",
           "deviations", "dispersion", "dispersion_from", "dispersion_sums", "half_means", "persistence",
           "persistence_from", "persistence_permutation", "persistence_sums", "read", "seeded_half", "split_halves"]


@dataclass(frozen=True)
class PersonalSums:
    """What the engine hands back: the dispersion and persistence sums, and the candidate columns' sums."""

    dispersion: DispersionSums
    persistence: PersistenceSums
    columns: tuple[ColumnSums, ...]
    split: str  # "week" or "cell": the unit each user's cells are split by
    seed: int


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
