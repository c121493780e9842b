"""Is pricing personalised? The Spark side: purchases reduced to the sums auditor.stats.personal reads.

One plan, from the accepted purchases of the audit's cells:

    pairs     (cell, user) sums of log price: n, Σy, Σy², and the pair's split unit (the week of
              its cell when the cells have a time bucket shorter than a week, else the cell)
    cells     cell sums joined back on the cell (N, S, users): each pair's leave-user-out
              deviation d and weight w = n (N - n) / N; kept on local disk (a row per pair)
    ├─ dispersion  one aggregation of sums, and approx_percentile over purchases
    └─ users       per user, sums of w and w d in each half (a seeded hash of user and unit),
                   then one aggregation to the persistence sums; joined with the users'
                   values of the candidate columns, one aggregation per (column, value)

Nothing that grows with rows, users or cells reaches the driver: a few dozen numbers, and a row
per value of each candidate column (columns with more than `max_values` values are skipped).
The attribute tests read the pairs of a seeded sample of at most about `max_users` users
(`attribution_sample`), stated in the findings; users come back as integer codes, never named.
"""

from __future__ import annotations

import math

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from auditor.spec import AuditConfig
from auditor.engine.estimate import _cell_hash, _quote_rows, cell_keys
from auditor.engine.ingest import PRICE, USER
from auditor.engine.match import bucket_start
import numpy as np

from auditor.stats.personal import (AttributionSample, ColumnSums, DispersionSums, PairSums, PersistenceSums,
                                    PersonalSums)

WEEK_S = 7 * 86_400
C1, C2, Y, UNIT, HALF = "__pc1", "__pc2", "__py", "__punit", "__phalf"


def split_unit(config: AuditConfig) -> tuple[str, Column]:
    """The unit a user's cells are split by, and its expression on the accepted rows.

    With cells of a time bucket shorter than a week, the calendar week (from Monday, in the audit's
    time zone) the bucket starts in: what a user shares within a week (a randomised test's weekly
    arm) stays in one half. A test whose arms last longer, or change mid-week, leaks into both
    halves and reads as persistence. Otherwise the cell.
    """
    width = config.match.time_bucket_seconds
    if width and width < WEEK_S:
        # Calendar weeks from Monday in the audit's time zone, as a platform would schedule a weekly test.
        monday = F.date_trunc("week", F.timestamp_seconds(bucket_start(width)))
        return "week", F.unix_seconds(monday)
    return "cell", F.col(C1)  # replaced by the cell's own hash in pair_table


def half_of(seed: int) -> Column:
    """0 or 1 for a pair: a seeded hash of (user, split unit)."""
    return F.pmod(F.xxhash64(F.col(USER), F.col(UNIT), F.lit(seed)), F.lit(2)).cast("int")


def pair_table(accepted: DataFrame, config: AuditConfig, seed: int) -> DataFrame:
    """(cell, user) pairs with their cell's sums, leave-user-out deviation, weight and half (not yet computed)."""
    c1, c2 = _cell_hash(cell_keys(config.match))
    split, unit = split_unit(config)
    # The week is computed from the row's time bucket, the same for every row of a cell.
    rows = (accepted.filter(_quote_rows(config))
            .select(F.col(USER), c1.alias(C1), c2.alias(C2), F.log(F.col(PRICE)).alias(Y),
                    (unit if split == "week" else c1).alias(UNIT)))
    y = F.col(Y)
    pairs = rows.groupBy(C1, C2, USER).agg(F.count(F.lit(1)).alias("n"), F.sum(y).alias("sy"),
                                           F.sum(y * y).alias("syy"), F.max(UNIT).alias(UNIT))
    cells = pairs.groupBy(C1, C2).agg(F.sum("n").alias("c_n"), F.sum("sy").alias("c_sy"),
                                      F.count(F.lit(1)).alias("c_users"))
    n, sy, c_n, c_sy = F.col("n"), F.col("sy"), F.col("c_n"), F.col("c_sy")
    rest = c_n - n
    within = F.greatest(F.col("syy") - sy * sy / n, F.lit(0.0))
    return (pairs.join(cells, [C1, C2])
            .withColumns({
                "shared": F.col("c_users") >= 2,
                "rest": rest,
                "d": F.when(rest > 0, sy / n - (c_sy - sy) / rest),
                "w": F.when(rest > 0, n * rest / c_n),
                "between": n * F.pow(sy / n - c_sy / c_n, 2),
                "within": within,
                HALF: half_of(seed)}))


def candidate_columns(accepted: DataFrame, columns: list[str], max_values: int = 50,
                      constant_share: float = 0.99) -> list[str]:
    """The columns constant within (nearly) every user, with at most `max_values` values: one pass over purchases.

    A column is constant for a user when its smallest and largest value agree (nulls ignored).
    """
    if not columns:
        return []
    per_user = accepted.groupBy(USER).agg(
        *[F.min(F.col(_q(c)).cast("string")).alias(f"lo{i}") for i, c in enumerate(columns)],
        *[F.max(F.col(_q(c)).cast("string")).alias(f"hi{i}") for i, c in enumerate(columns)])
    row = per_user.agg(
        F.count(F.lit(1)).alias("users"),
        *[F.sum((F.col(f"lo{i}") == F.col(f"hi{i}")).cast("long")).alias(f"same{i}") for i in range(len(columns))],
        *[F.approx_count_distinct(f"lo{i}").alias(f"values{i}") for i in range(len(columns))]).first()
    users = row["users"] or 0
    return [c for i, c in enumerate(columns)
            if users and (row[f"same{i}"] or 0) >= constant_share * users and 2 <= row[f"values{i}"] <= max_values]


def personal_sums(accepted: DataFrame, config: AuditConfig, seed: int, rounding: float, materiality: float,
                  columns: list[str] = ()) -> PersonalSums:
    """The dispersion, persistence and column sums of the accepted purchases (`columns`: user-level columns)."""
    split, _ = split_unit(config)
    table = pair_table(accepted, config, seed).persist(StorageLevel.DISK_ONLY)
    try:
        dispersion = _dispersion(table, rounding, materiality)
        users = _user_halves(table)
        persistence_row = users.agg(*_persistence_sums()).first()
        persistence = PersistenceSums(
            users=int(persistence_row["users"] or 0), cells=dispersion.cells,
            **{k: float(persistence_row[k] or 0.0) for k in
               ("w", "w_d0", "w_d1", "w_d00", "w_d11", "w_d01", "w2", "w2_d01", "w2_d01_sq")})
        column_sums = _column_sums(users, accepted, list(columns)) if columns else ()
    finally:
        table.unpersist()
    return PersonalSums(dispersion=dispersion, persistence=persistence, columns=column_sums, split=split, seed=seed)


def _dispersion(table: DataFrame, rounding: float, materiality: float) -> DispersionSums:
    shared, n, d = F.col("shared"), F.col("n"), F.col("d")
    low, high = math.log1p(rounding), math.log1p(materiality)

    def on_shared(value: Column) -> Column:
        return F.sum(F.when(shared, value).otherwise(F.lit(0)))

    repeat = n >= 2
    row = table.agg(
        F.sum(F.when(shared, 1.0 / F.col("c_users"))).alias("cells"),
        F.countDistinct(F.when(shared, F.col(USER))).alias("users"),
        on_shared(n).alias("purchases"),
        on_shared(F.when(d > low, n)).alias("above_rounding"), on_shared(F.when(d < -low, n)).alias("below_rounding"),
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
        F.sum(repeat.cast("long")).alias("repeat_pairs"), F.count(F.lit(1)).alias("pairs")).first()
    # Percentiles over purchases: each shared pair's deviation once per purchase (approx_percentile has no weights).
    quantiles = (table.filter(shared).select(F.explode(F.array_repeat(d, n.cast("int"))).alias("d"))
                 .agg(F.percentile_approx("d", [0.1, 0.9], 10_000).alias("q")).first()["q"]) or [math.nan, math.nan]
    cells = int(round(row["cells"] or 0.0))
    return DispersionSums(
        cells=cells, users=int(row["users"] or 0), purchases=float(row["purchases"] or 0),
        above_rounding=float(row["above_rounding"] or 0), below_rounding=float(row["below_rounding"] or 0),
        above_materiality=float(row["above_materiality"] or 0), below_materiality=float(row["below_materiality"] or 0),
        sum_d=float(row["sum_d"] or 0.0), sum_d2=float(row["sum_d2"] or 0.0),
        noise_weight=float(row["noise_weight"] or 0.0), between_ss=float(row["between_ss"] or 0.0),
        df_between=int(row["shared_pairs"] or 0) - cells,
        within_ss_shared=float(row["within_ss_shared"] or 0.0), df_within_shared=int(row["df_within_shared"] or 0),
        noise_ss=float(row["noise_ss"] or 0.0), noise_df=int(row["noise_df"] or 0),
        repeat_pairs=int(row["repeat_pairs"] or 0), p10=float(quantiles[0]), p90=float(quantiles[1]),
        pairs=int(row["pairs"] or 0))


def _user_halves(table: DataFrame) -> DataFrame:
    """Per user with shared cells in both halves: weight W = w0 w1 / (w0 + w1) and half means D0, D1."""
    first = F.col(HALF) == 0
    w, wd = F.col("w"), F.col("w") * F.col("d")
    per_user = table.filter(F.col("shared")).groupBy(USER).agg(
        F.sum(F.when(first, w).otherwise(F.lit(0.0))).alias("w0"), F.sum(F.when(~first, w).otherwise(F.lit(0.0))).alias("w1"),
        F.sum(F.when(first, wd).otherwise(F.lit(0.0))).alias("s0"), F.sum(F.when(~first, wd).otherwise(F.lit(0.0))).alias("s1"))
    w0, w1 = F.col("w0"), F.col("w1")
    return (per_user.filter((w0 > 0) & (w1 > 0))
            .select(USER, (w0 * w1 / (w0 + w1)).alias("W"), (F.col("s0") / w0).alias("D0"), (F.col("s1") / w1).alias("D1")))


def _persistence_sums() -> list[Column]:
    w, d0, d1 = F.col("W"), F.col("D0"), F.col("D1")
    return [F.count(F.lit(1)).alias("users"), F.sum(w).alias("w"), F.sum(w * d0).alias("w_d0"),
            F.sum(w * d1).alias("w_d1"), F.sum(w * d0 * d0).alias("w_d00"), F.sum(w * d1 * d1).alias("w_d11"),
            F.sum(w * d0 * d1).alias("w_d01"), F.sum(w * w).alias("w2"), F.sum(w * w * d0 * d1).alias("w2_d01"),
            F.sum(F.pow(w * d0 * d1, 2)).alias("w2_d01_sq")]


def _column_sums(users: DataFrame, accepted: DataFrame, columns: list[str]) -> tuple[ColumnSums, ...]:
    """Per (column, value): sums of W, W D0, W D1 over users with that value (a user's value: its most common)."""
    values = accepted.groupBy(USER).agg(*[F.mode(F.col(_q(c)).cast("string")).alias(f"v{i}")
                                          for i, c in enumerate(columns)])
    pairs = F.explode(F.array(*[F.struct(F.lit(i).alias("column"), F.col(f"v{i}").alias("value"))
                                for i in range(len(columns))])).alias("cv")
    w = F.col("W")
    rows = (users.join(values, USER).select(w, F.col("D0"), F.col("D1"), pairs)
            .filter(F.col("cv.value").isNotNull())
            .groupBy(F.col("cv.column").alias("column"), F.col("cv.value").alias("value"))
            .agg(F.sum(w).alias("w"), F.sum(w * F.col("D0")).alias("s0"), F.sum(w * F.col("D1")).alias("s1"))
            .orderBy("column", "value").collect())
    out = []
    for i, column in enumerate(columns):
        mine = [r for r in rows if r["column"] == i]
        out.append(ColumnSums(column, tuple(r["value"] for r in mine), tuple(float(r["w"]) for r in mine),
                              tuple(float(r["s0"]) for r in mine), tuple(float(r["s1"]) for r in mine)))
    return tuple(out)


# A sampled user brings all their (cell, user) pairs: heavy users bring many, so the pairs are bounded too.
PAIRS_PER_USER = 20


def attribution_sample(accepted: DataFrame, config: AuditConfig, seed: int, columns: list[str], users: int,
                       pairs: int, max_users: int = 20_000) -> AttributionSample:
    """The (cell, user) pairs and column values of about `max_users` users drawn by a seeded hash.

    The sample is what reaches the driver: about `max_users` users and `PAIRS_PER_USER * max_users`
    pairs at most, whatever the log (`users`, `pairs`: how many the log has). Cells are those of
    the sample's own purchases, as the attribute tests on a half of the users read them.
    """
    share = min(1.0, max_users / max(users, 1), PAIRS_PER_USER * max_users / max(pairs, 1))
    sampled = F.pmod(F.xxhash64(F.col(USER), F.lit(seed + 2)), F.lit(1_000_000)) < F.lit(int(share * 1_000_000))
    rows = accepted.filter(sampled)
    c1, c2 = _cell_hash(cell_keys(config.match))
    split, unit = split_unit(config)
    y = F.log(F.col(PRICE))
    pairs = (rows.filter(_quote_rows(config))
             .select(F.col(USER), c1.alias(C1), c2.alias(C2), y.alias(Y), (unit if split == "week" else c1).alias(UNIT))
             .groupBy(C1, C2, USER)
             .agg(F.count(F.lit(1)).alias("n"), F.sum(Y).alias("sy"), F.sum(F.col(Y) * F.col(Y)).alias("syy"),
                  F.max(UNIT).alias(UNIT))
             .toPandas())
    values = (rows.groupBy(USER).agg(*[F.mode(F.col(_q(c)).cast("string")).alias(f"v{i}") for i, c in enumerate(columns)])
              .toPandas()) if columns else None
    ids, user = np.unique(pairs[USER].to_numpy().astype(str), return_inverse=True)
    cell = pairs.groupby([C1, C2], sort=True).ngroup().to_numpy().astype(np.int64)
    sums = PairSums(cell, user.astype(np.int64), pairs["n"].to_numpy(float), pairs["sy"].to_numpy(float),
                    pairs["syy"].to_numpy(float))
    attributes: dict[str, dict[int, str]] = {}
    if values is not None:
        code = {u: i for i, u in enumerate(ids.tolist())}
        for i, column in enumerate(columns):
            attributes[column] = {code[u]: v for u, v in zip(values[USER].astype(str), values[f"v{i}"])
                                  if u in code and v is not None}
    order = np.lexsort((sums.user, sums.cell))  # PairSums order: by cell, then user
    sums = PairSums(*(getattr(sums, f)[order] for f in ("cell", "user", "n", "sum_y", "sum_y2")))
    return AttributionSample(pairs=sums, unit=pairs[UNIT].to_numpy().astype(np.int64)[order], attributes=attributes,
                             users=int(ids.size), share=share)


def _q(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"
