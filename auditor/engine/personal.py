"""Is pricing personalised? The Spark side: purchases reduced to the sums auditor.stats.personal reads.

Three actions in all, each collecting something bounded by design:

    attributes  `user_attributes`: per user, the smallest and largest value of every candidate
                column (one aggregation, kept on local disk), and one row of counts over it: which
                columns are constant within users and how many values they hold
    pairs       (part, cell, user) sums of log price: n, Σy, Σy², each split's unit (week, day or
                the cell itself); cell sums joined back: each pair's leave-user-out deviation d,
                weight w = n (N - n) / N and half per split; kept on local disk (a row per pair)
    `PersonalPass.sums`, one collect of two aggregations of the pairs:
                ├─ dispersion  sums per (part, bin of d): the shares, sums of squares and a
                │              histogram of d in bins of BIN_WIDTH for the percentiles
                └─ users       per (part, user) the half sums of w and w d for each split, joined
                               with the users' attribute values, then one aggregation per
                               (part, column, value) — the row of no column holds the
                               persistence sums
    `PersonalPass.sample`, one collect: the pairs of a seeded sample of users, for the attribute tests

A part is a disclosure stratum: with `[columns] disclosed` the undisclosed purchases (part 0) and
the disclosed ones (part 1) are analysed apart, in the same aggregations; without it one part.

Nothing that grows with rows, users or cells reaches the driver: per part a few dozen numbers, at
most 2 × MAX_BIN + 2 bins, a row per value of each candidate column (at most `max_values` values:
columns with more are skipped), and the sample, about `max_users` users and PAIRS_PER_USER pairs
each (users come back as integer codes, never named).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from auditor.engine.estimate import _cell_hash, _quote_rows, cell_keys
from auditor.engine.ingest import DISCLOSED, PRICE, USER
from auditor.engine.match import bucket_start
from auditor.spec import AuditConfig
from auditor.stats.personal import (AttributionSample, ColumnSums, DispersionSums, PairSums, PersistenceSums,
                                    PersonalSums, ScannedColumn)

DAY_S = 86_400
WEEK_S = 7 * DAY_S
C1, C2, Y, PART = "__pc1", "__pc2", "__py", "__ppart"
# A pair's deviation d (log scale) is counted in bins this wide for the percentiles: a percentile read
# from the bins is within BIN_WIDTH / 2 of the exact one (0.005 percentage points), whatever the log.
BIN_WIDTH = 1e-4
MAX_BIN = 20_000  # |d| beyond 2 (a factor of 7.4) falls in the edge bins, whose smallest and largest d are kept
# A sampled user brings all their (cell, user) pairs: heavy users bring many, so the pairs are bounded too.
PAIRS_PER_USER = 20


def unit_name(split: str) -> str:
    return f"__punit_{split}"


def half_name(split: str) -> str:
    return f"__phalf_{split}"


def effective_split(config: AuditConfig, split: str) -> str:
    """The split a setting gives on these cells: a week or a day needs cells of a shorter time bucket, else the cell."""
    width = config.match.time_bucket_seconds
    span = {"week": WEEK_S, "day": DAY_S}.get(split)
    return split if span and width and width < span else "cell"


def split_unit(config: AuditConfig, split: str) -> Column:
    """A row's split unit: the calendar week (from Monday) or day its time bucket starts in, in the
    audit's time zone, or the cell. What a user shares within one unit (a weekly test arm) stays in
    one half; a test whose arms last longer than the unit leaks into both halves and reads as persistence.
    """
    split = effective_split(config, split)
    if split == "cell":
        return _cell_hash(cell_keys(config.match))[0]
    start = F.timestamp_seconds(bucket_start(config.match.time_bucket_seconds))
    return F.unix_seconds(F.date_trunc(split, start))  # "week" truncates to Monday


def half_of(seed: int, split: str) -> Column:
    """0 or 1 for a pair: a seeded hash of (user, split unit)."""
    return F.pmod(F.xxhash64(F.col(USER), F.col(unit_name(split)), F.lit(seed)), F.lit(2)).cast("int")


def pair_table(accepted: DataFrame, config: AuditConfig, seed: int, splits: tuple[str, ...] = ("week",),
               part: Column | None = None) -> DataFrame:
    """(part, cell, user) pairs with their cell's sums, leave-user-out deviation, weight and a half per split.

    `part` (0/1 per row; None: one part 0) keeps disclosed and undisclosed purchases apart:
    a pair, its cell and its user's halves are all within one part.
    """
    c1, c2 = _cell_hash(cell_keys(config.match))
    units = {unit_name(s): split_unit(config, s) for s in splits}
    # A split unit comes from the row's time bucket, the same for every row of a cell.
    rows = (accepted.filter(_quote_rows(config))
            .select((F.lit(0) if part is None else part).alias(PART), F.col(USER), c1.alias(C1), c2.alias(C2),
                    F.log(F.col(PRICE)).alias(Y), *[u.alias(name) for name, u in units.items()]))
    y = F.col(Y)
    pairs = rows.groupBy(PART, C1, C2, USER).agg(F.count(F.lit(1)).alias("n"), F.sum(y).alias("sy"),
                                                 F.sum(y * y).alias("syy"), *[F.max(u).alias(u) for u in units])
    cells = pairs.groupBy(PART, C1, C2).agg(F.sum("n").alias("c_n"), F.sum("sy").alias("c_sy"),
                                            F.count(F.lit(1)).alias("c_users"))
    n, sy, c_n, c_sy = F.col("n"), F.col("sy"), F.col("c_n"), F.col("c_sy")
    rest = c_n - n
    within = F.greatest(F.col("syy") - sy * sy / n, F.lit(0.0))
    return (pairs.join(cells, [PART, C1, C2])
            .withColumns({
                "shared": F.col("c_users") >= 2,
                "rest": rest,
                "d": F.when(rest > 0, sy / n - (c_sy - sy) / rest),
                "w": F.when(rest > 0, n * rest / c_n),
                "between": n * F.pow(sy / n - c_sy / c_n, 2),
                "within": within,
                **{half_name(s): half_of(seed, s) for s in splits}}))


# --- The users' attributes ------------------------------------------------------------------------------


@dataclass(frozen=True)
class UserAttributes:
    """Per user, a value for each column kept (null where the user's values differ), and what was scanned.

    `table` (USER, v0, v1, ...) is a lazy frame over a per-user aggregation kept on local disk;
    `release()` frees it.
    """

    table: DataFrame | None
    columns: tuple[str, ...]  # the columns kept, in the order of v0, v1, ...
    scanned: tuple[ScannedColumn, ...]  # every column looked at, kept or not, and why
    _cached: DataFrame | None = None

    def release(self) -> None:
        if self._cached is not None:
            self._cached.unpersist()


def user_attributes(frame: DataFrame, columns: list[str], user: Column | None = None, max_values: int = 50,
                    constant_share: float = 0.99) -> UserAttributes:
    """Which columns are user attributes, and each user's value: one aggregation, one row collected.

    A column is kept when the users with a value hold one value each (their smallest and largest
    agree) in at least `constant_share` of cases, with 2 to `max_values` values in all (counted
    with approx_count_distinct, relative error about 5 %). The cap skips identifiers, free text
    and timestamps, whose values grow with the log: a value is tested only with 30 users on each
    side of each half, so a column of more than a few dozen values is mostly untestable, and the
    values of each column kept come back to the driver. A user whose values differ has none.
    """
    if not columns:
        return UserAttributes(None, (), ())
    text = [F.col(_q(c)).cast("string") for c in columns]
    per_user = (frame.select((F.col(USER) if user is None else user).alias(USER), *[t.alias(f"x{i}") for i, t in enumerate(text)])
                .filter(F.col(USER).isNotNull())
                .groupBy(USER).agg(*[F.min(f"x{i}").alias(f"lo{i}") for i in range(len(columns))],
                                   *[F.max(f"x{i}").alias(f"hi{i}") for i in range(len(columns))])
                .persist(StorageLevel.DISK_ONLY))
    row = per_user.agg(
        *[F.count(f"lo{i}").alias(f"users{i}") for i in range(len(columns))],
        *[F.sum((F.col(f"lo{i}") == F.col(f"hi{i}")).cast("long")).alias(f"same{i}") for i in range(len(columns))],
        *[F.approx_count_distinct(f"lo{i}").alias(f"values{i}") for i in range(len(columns))]).first()
    scanned = tuple(_scanned(column, row, i, max_values, constant_share) for i, column in enumerate(columns))
    kept = [i for i, c in enumerate(scanned) if c.why == "kept"]
    if not kept:
        per_user.unpersist()
        return UserAttributes(None, (), scanned)
    table = per_user.select(USER, *[F.when(F.col(f"lo{i}") == F.col(f"hi{i}"), F.col(f"lo{i}")).alias(f"v{j}")
                                    for j, i in enumerate(kept)])
    return UserAttributes(table, tuple(columns[i] for i in kept), scanned, per_user)


def _scanned(column: str, row, i: int, max_values: int, constant_share: float) -> ScannedColumn:
    """What the scan found of one column, and whether it is searched (`why` = "kept") or why not."""
    users, same, values = int(row[f"users{i}"] or 0), int(row[f"same{i}"] or 0), int(row[f"values{i}"] or 0)
    constant = same / users if users else 0.0
    if not users:
        why = "empty"
    elif constant < constant_share:
        why = "varies_within_users"
    elif values < 2:
        why = "one_value"
    elif values > max_values:
        why = "too_many_values"
    else:
        why = "kept"
    return ScannedColumn(column, users, constant, values, why)


# --- The pass -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PartSums:
    """One part's sums: dispersion, and persistence and the columns' sums under each split."""

    dispersion: DispersionSums
    persistence: dict[str, PersistenceSums]
    columns: dict[str, tuple[ColumnSums, ...]]


class PersonalPass:
    """The pair table of one audit, kept on local disk while its sums and sample are read."""

    def __init__(self, accepted: DataFrame, config: AuditConfig, seed: int, splits: tuple[str, ...] = ("week",),
                 attributes: UserAttributes | None = None, part: Column | None = None):
        self.config, self.seed, self.splits = config, seed, tuple(dict.fromkeys(splits))
        self.parts = (0,) if part is None else (0, 1)
        self.attributes = attributes or UserAttributes(None, (), ())
        self.table = pair_table(accepted, config, seed, self.splits, part).persist(StorageLevel.DISK_ONLY)

    def release(self) -> None:
        self.table.unpersist()

    def sums(self, rounding: float, materiality: float) -> dict[int, PartSums]:
        """Every part's dispersion, persistence and column sums: one collect."""
        dispersion = self._dispersion_rows(rounding, materiality).withColumn("kind", F.lit("d"))
        users = self._user_rows().withColumn("kind", F.lit("u"))
        rows = dispersion.unionByName(users, allowMissingColumns=True).collect()
        return {p: self._part([r for r in rows if r[PART] == p]) for p in self.parts}

    def _dispersion_rows(self, rounding: float, materiality: float) -> DataFrame:
        shared, n, d = F.col("shared"), F.col("n"), F.col("d")
        low, high = math.log1p(rounding), math.log1p(materiality)

        def on_shared(value: Column) -> Column:
            return F.sum(F.when(shared, value).otherwise(F.lit(0)))

        repeat = n >= 2
        # Non-shared pairs have no deviation: their bin is null, and they add to the noise floor only.
        bin_ = F.when(shared, F.greatest(F.least(F.round(d / BIN_WIDTH), F.lit(MAX_BIN + 1.0)),
                                         F.lit(-MAX_BIN - 1.0)).cast("int"))
        return self.table.groupBy(PART, bin_.alias("bin")).agg(
            F.sum(F.when(shared, 1.0 / F.col("c_users"))).alias("cells"),
            on_shared(n).alias("purchases"),
            on_shared(F.when(d > low, n)).alias("above_rounding"),
            on_shared(F.when(d < -low, n)).alias("below_rounding"),
            on_shared(F.when(d > high, n)).alias("above_materiality"),
            on_shared(F.when(d < -high, n)).alias("below_materiality"),
            on_shared(n * d).alias("sum_d"), on_shared(n * d * d).alias("sum_d2"),
            on_shared(n * (1.0 / n + 1.0 / F.col("rest"))).alias("noise_weight"),
            on_shared(F.col("between")).alias("between_ss"),
            on_shared(F.lit(1)).alias("shared_pairs"),
            on_shared(F.when(repeat, F.col("within"))).alias("within_ss_shared"),
            on_shared(F.when(repeat, n - 1)).alias("df_within_shared"),
            F.sum(F.when(repeat, F.col("within")).otherwise(F.lit(0.0))).alias("noise_ss"),
            F.sum(F.when(repeat, n - 1).otherwise(F.lit(0))).alias("noise_df"),
            F.sum(repeat.cast("long")).alias("repeat_pairs"), F.count(F.lit(1)).alias("pairs"),
            F.min(d).alias("d_min"), F.max(d).alias("d_max"))

    def _user_rows(self) -> DataFrame:
        """Per (part, column, value), and per part for no column (column -1): the users' half sums per split."""
        w, wd = F.col("w"), F.col("w") * F.col("d")
        sums = []
        for s in self.splits:
            first = F.col(half_name(s)) == 0
            sums += [F.sum(F.when(first, w).otherwise(F.lit(0.0))).alias(f"w0_{s}"),
                     F.sum(F.when(~first, w).otherwise(F.lit(0.0))).alias(f"w1_{s}"),
                     F.sum(F.when(first, wd).otherwise(F.lit(0.0))).alias(f"s0_{s}"),
                     F.sum(F.when(~first, wd).otherwise(F.lit(0.0))).alias(f"s1_{s}")]
        per_user = self.table.filter(F.col("shared")).groupBy(PART, USER).agg(*sums)
        means = [PART]
        for s in self.splits:
            w0, w1 = F.col(f"w0_{s}"), F.col(f"w1_{s}")
            both = (w0 > 0) & (w1 > 0)
            means += [both.alias(f"both_{s}"), F.when(both, w0 * w1 / (w0 + w1)).alias(f"W_{s}"),
                      F.when(both, F.col(f"s0_{s}") / w0).alias(f"D0_{s}"),
                      F.when(both, F.col(f"s1_{s}") / w1).alias(f"D1_{s}")]
        columns = self.attributes.columns
        entries = [F.struct(F.lit(-1).alias("column"), F.lit(None).cast("string").alias("value"))]
        if columns:
            per_user = per_user.join(self.attributes.table, USER, "left")
            entries += [F.struct(F.lit(i).alias("column"), F.col(f"v{i}").alias("value")) for i in range(len(columns))]
        exploded = (per_user.select(*means, F.explode(F.array(*entries)).alias("cv"))
                    .filter((F.col("cv.column") < 0) | F.col("cv.value").isNotNull()))
        aggregates = [F.count(F.lit(1)).alias("users_shared")]
        for s in self.splits:
            both, big_w, d0, d1 = F.col(f"both_{s}"), F.col(f"W_{s}"), F.col(f"D0_{s}"), F.col(f"D1_{s}")
            aggregates += [
                F.sum(both.cast("long")).alias(f"users_{s}"), F.sum(big_w).alias(f"w_{s}"),
                F.sum(big_w * d0).alias(f"w_d0_{s}"), F.sum(big_w * d1).alias(f"w_d1_{s}"),
                F.sum(big_w * d0 * d0).alias(f"w_d00_{s}"), F.sum(big_w * d1 * d1).alias(f"w_d11_{s}"),
                F.sum(big_w * d0 * d1).alias(f"w_d01_{s}"), F.sum(big_w * big_w).alias(f"w2_{s}"),
                F.sum(big_w * big_w * d0 * d1).alias(f"w2_d01_{s}"),
                F.sum(F.pow(big_w * d0 * d1, 2)).alias(f"w2_d01_sq_{s}")]
        return exploded.groupBy(PART, F.col("cv.column").alias("column"), F.col("cv.value").alias("value")).agg(
            *aggregates)

    def _part(self, rows: list) -> PartSums:
        bins = [r for r in rows if r["kind"] == "d"]
        users = [r for r in rows if r["kind"] == "u"]
        everyone = next((r for r in users if r["column"] == -1), None)
        dispersion = _dispersion_sums(bins, everyone)
        persistence = {s: _persistence_sums(everyone, s, dispersion.cells) for s in self.splits}
        columns = {s: tuple(_column_sums(users, i, column, s) for i, column in enumerate(self.attributes.columns))
                   for s in self.splits}
        return PartSums(dispersion, persistence, columns)

    def sample(self, split: dict[int, str], users: int, pairs: int, max_users: int = 20_000
               ) -> dict[int, AttributionSample]:
        """Per part, the (cell, user) pairs and attribute values of about `max_users` users drawn by a seeded hash.

        What reaches the driver: about `max_users` users and `PAIRS_PER_USER * max_users` pairs at
        most, whatever the log (`users`, `pairs`: how many the log has, over all parts); a pair comes
        with its user's values. `split` names each part's split unit, the one its halves follow.
        """
        share = min(1.0, max_users / max(users, 1), PAIRS_PER_USER * max_users / max(pairs, 1))
        sampled = F.pmod(F.xxhash64(F.col(USER), F.lit(self.seed + 2)), F.lit(1_000_000)) < F.lit(int(share * 1_000_000))
        columns = self.attributes.columns
        unit = F.lit(None).cast("long")
        for part, s in split.items():
            unit = F.when(F.col(PART) == part, F.col(unit_name(s))).otherwise(unit)
        rows = self.table.filter(sampled).select(PART, C1, C2, USER, "n", "sy", "syy", unit.alias("unit"))
        if columns:
            rows = rows.join(self.attributes.table, USER, "left")
        frame = rows.toPandas()
        return {part: _sample(frame[frame[PART] == part], columns, share) for part in split}


def _dispersion_sums(bins: list, everyone) -> DispersionSums:
    """A part's dispersion sums: its deviation bins added up (the bins also give the percentiles)."""
    def total(name: str) -> float:
        return float(sum(r[name] or 0 for r in bins))

    cells = int(round(total("cells")))
    p10, p90 = _histogram_quantiles([r for r in bins if r["bin"] is not None], (0.1, 0.9))
    return DispersionSums(
        cells=cells, users=int(everyone["users_shared"]) if everyone else 0, purchases=total("purchases"),
        above_rounding=total("above_rounding"), below_rounding=total("below_rounding"),
        above_materiality=total("above_materiality"), below_materiality=total("below_materiality"),
        sum_d=total("sum_d"), sum_d2=total("sum_d2"), noise_weight=total("noise_weight"),
        between_ss=total("between_ss"), df_between=int(total("shared_pairs")) - cells,
        within_ss_shared=total("within_ss_shared"), df_within_shared=int(total("df_within_shared")),
        noise_ss=total("noise_ss"), noise_df=int(total("noise_df")), repeat_pairs=int(total("repeat_pairs")),
        p10=p10, p90=p90, pairs=int(total("pairs")))


def _persistence_sums(everyone, split: str, cells: int) -> PersistenceSums:
    """A part's persistence sums under one split, from the row of all users (column -1)."""
    return PersistenceSums(
        users=int(everyone[f"users_{split}"] or 0) if everyone else 0, cells=cells,
        **{k: float((everyone[f"{k}_{split}"] if everyone else 0.0) or 0.0)
           for k in ("w", "w_d0", "w_d1", "w_d00", "w_d11", "w_d01", "w2", "w2_d01", "w2_d01_sq")})


def _column_sums(users: list, i: int, column: str, split: str) -> ColumnSums:
    """One attribute column's sums per value under one split (values with users in both halves), by value."""
    mine = sorted((r for r in users if r["column"] == i and (r[f"users_{split}"] or 0) > 0), key=lambda r: r["value"])
    return ColumnSums(column, tuple(r["value"] for r in mine), tuple(float(r[f"w_{split}"]) for r in mine),
                      tuple(float(r[f"w_d0_{split}"]) for r in mine), tuple(float(r[f"w_d1_{split}"]) for r in mine))


def _sample(pairs, columns: tuple[str, ...], share: float) -> AttributionSample:
    ids, user = np.unique(pairs[USER].to_numpy().astype(str), return_inverse=True)
    cell = pairs.groupby([C1, C2], sort=True).ngroup().to_numpy().astype(np.int64)
    sums = PairSums(cell, user.astype(np.int64), pairs["n"].to_numpy(float), pairs["sy"].to_numpy(float),
                    pairs["syy"].to_numpy(float))
    attributes: dict[str, dict[int, str]] = {}
    for i, column in enumerate(columns):
        values = pairs[f"v{i}"].to_numpy()
        attributes[column] = {int(u): v for u, v in zip(user.tolist(), values.tolist()) if v is not None}
    order = np.lexsort((sums.user, sums.cell))  # PairSums order: by cell, then user
    sums = PairSums(*(getattr(sums, f)[order] for f in ("cell", "user", "n", "sum_y", "sum_y2")))
    return AttributionSample(pairs=sums, unit=pairs["unit"].to_numpy().astype(np.int64)[order],
                             attributes=attributes, users=int(ids.size), share=share)


def _histogram_quantiles(bins: list, qs: tuple[float, ...]) -> tuple[float, ...]:
    """Purchase-weighted quantiles of d from its bins: the smallest bin whose cumulative weight reaches q,
    read as the middle of the smallest and largest d in it (within BIN_WIDTH / 2 of the exact value)."""
    bins = sorted((r for r in bins if (r["purchases"] or 0) > 0), key=lambda r: r["bin"])
    if not bins:
        return tuple(math.nan for _ in qs)
    weight = np.cumsum([float(r["purchases"]) for r in bins])
    out = []
    for q in qs:
        r = bins[int(np.searchsorted(weight, q * weight[-1], side="left"))]
        out.append((float(r["d_min"]) + float(r["d_max"])) / 2)
    return tuple(out)


def _q(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def personal_inputs(accepted: DataFrame, source: DataFrame, candidates: list[str], config: AuditConfig,
                    splits: tuple[str, ...], choose: Callable[[dict[str, PersistenceSums]], str]) -> tuple[dict[int, tuple[PersonalSums, AttributionSample | None]],
                                                         tuple[ScannedColumn, ...]]:
    """What auditor.findings.personal reads, per part: the sums under the split `choose` picks from
    each split's persistence sums, and the attribute tests' sample; and the columns scanned.

    `source` holds USER and the `candidates` (auditor.engine.ingest.attribute_source). Three actions.
    With `[columns] disclosed`, part 0 holds the undisclosed purchases and part 1 the disclosed ones;
    else part 0 holds them all.
    """
    part = F.col(DISCLOSED).cast("int") if config.columns.disclosed else None
    settings, test = config.personalisation, config.test
    attributes = user_attributes(source, candidates)
    run = PersonalPass(accepted, config, test.seed, splits, attributes, part)
    try:
        parts = run.sums(settings.rounding, test.materiality)
        chosen = {p: choose(s.persistence) for p, s in parts.items()}
        sums = {p: PersonalSums(s.dispersion, s.persistence[chosen[p]], s.columns[chosen[p]], chosen[p], test.seed)
                for p, s in parts.items()}
        samples = (run.sample(chosen, users=sum(s.dispersion.users for s in sums.values()),
                              pairs=sum(s.dispersion.pairs for s in sums.values()), max_users=settings.max_users)
                   if attributes.columns else {})
    finally:
        run.release()
        attributes.release()
    return {p: (sums[p], samples.get(p)) for p in sums}, attributes.scanned
