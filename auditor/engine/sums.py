"""The sums the engine reduces rows to: (cell, user) pairs with their cell's sums, each pair's scores and
exact deletion deltas, then one row per (comparison, user[, key value]) — the per-user table the
totals, the user scores and the leave-outs are read from — and the scores collected to the driver.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from auditor.engine.ingest import USER
from auditor.engine.rows import C1, C2, K, LOGP, X, Y, Y2, V

# A user's scores: A, B and their deletion deltas, for the primary and the secondary outcome.
SCORES = ("a", "b", "da", "db", "a2", "da2")
# Per-comparison totals, summed over users (each cell's own terms sit on its first user).
_TOTALS = ("n_all", "sx_all", "sy_all", "sxy_all", "n_sup", "sx_sup", "sy_sup", "sxy_sup", "cells", "b_total",
           "price_part", "mh_ad", "mh_bc")
_EPS = 1e-12
# Sums per (cell, user) pair, and the name of the same sum over the pair's cell.
# Cell sums carry a c_ prefix: Spark column names are case-insensitive.
_PAIR_SUMS = ("n", "sx", "sxx", "sy", "sxy", "sy2", "sxy2")


def ranked_cell_sums(rows: DataFrame, steering_ids: list[int]) -> DataFrame:
    """Each row of a ranked comparison with its cell's sums, a flag on one row per cell, and its
    second outcome.

    The rows arrive partitioned by cell, and one sort by outcome orders each cell
    for every window here (the ranks need it). Cell sums are unordered windows
    over that sort, so no second sort, exchange or join is needed to bring them to
    the (cell, user) pairs. The window buffers a cell's rows: ranks cannot be had
    otherwise. Comparisons without ranks aggregate their pairs first
    (`_plain_pairs`), so a hot cell costs them a pair per user, not a row per purchase.

    The second outcome of ranked comparisons: for group findings and doses, the
    within-cell mid-rank scaled by (n + 1), whose fixed-effects slope is van
    Elteren's stratified rank statistic; for steering, the mean log price of the
    offered tier in its context, whose slope is the implied price gap.
    """
    cell = Window.partitionBy(C1, C2, K)
    x, y = F.col(X), F.col(Y)
    sums = {"c_n": F.count(F.lit(1)).over(cell), "c_sx": F.sum(x).over(cell), "c_sxx": F.sum(x * x).over(cell),
            "c_sy": F.sum(y).over(cell), "c_sxy": F.sum(x * y).over(cell)}
    ordered = cell.orderBy(Y)
    tie = ordered.rangeBetween(0, 0)  # the rows of equal outcome: a frame of the same sort, not a new one
    mid_rank = (F.rank().over(ordered) + (F.count(F.lit(1)).over(tie) - 1) / 2) / (F.col("c_n") + 1)
    second = F.when(F.col(K).isin(steering_ids), F.avg(LOGP).over(tie)).otherwise(mid_rank) \
        if steering_ids else mid_rank
    rows = rows.withColumns({**sums, "first": F.row_number().over(ordered) == 1}).withColumn(Y2, second)
    return rows.withColumns({"c_sy2": F.sum(Y2).over(cell), "c_sxy2": F.sum(x * F.col(Y2)).over(cell)})


# What the per-user aggregation reads of a (cell, user) pair.
PAIR_COLUMNS = (K, USER, C1, C2, "n", "sx", "sy", "sxy", "c_n", "c_sx", "c_sy", "c_sxy", "first", "supported",
                 "b_cell", *SCORES)


def ranked_pairs(rows: DataFrame, carried: list[str]) -> DataFrame:
    """(cell, user) sums with their cell's sums, scores and deletion deltas (a hash aggregation
    on the cell partitioning)."""
    # A cell lies within one value of the leave-out key, so carrying it splits no pair.
    pairs = rows.groupBy(C1, C2, K, USER, *carried).agg(
        F.count(F.lit(1)).alias("n"), F.sum(X).alias("sx"), F.sum(F.col(X) * F.col(X)).alias("sxx"),
        F.sum(Y).alias("sy"), F.sum(F.col(X) * F.col(Y)).alias("sxy"),
        F.sum(Y2).alias("sy2"), F.sum(F.col(X) * F.col(Y2)).alias("sxy2"),
        *[F.max(f"c_{s}").alias(f"c_{s}") for s in _PAIR_SUMS],
        F.max("first").alias("first"))
    return _pair_scores(pairs)


def plain_pairs(rows: DataFrame, carried: list[str], part: list[str]) -> DataFrame:
    """(cell, user) sums of comparisons without ranks, with their cell's sums: the rows are
    aggregated to pairs first (a hash aggregation, which spills by sorting), and the cell sums
    are unordered windows over the pairs, so a cell's window holds a row per user, not per
    purchase (a hot cell of millions of purchases by a few hundred thousand users, or a whale
    user's thousands of purchases in one cell, stay small). `part` are the columns the rows are
    partitioned by (the cell's, or a coarser key every cell lies within); a cell lies within one
    of their values, so adding them to the keys changes no group and needs no new exchange."""
    x, y = F.col(X), F.col(Y)
    pairs = rows.groupBy(*part, K, USER, *carried).agg(
        F.count(F.lit(1)).alias("n"), F.sum(x).alias("sx"), F.sum(x * x).alias("sxx"),
        F.sum(y).alias("sy"), F.sum(x * y).alias("sxy"))
    cell = Window.partitionBy(*part, K)
    by_user = cell.orderBy(USER)
    zero = F.lit(0.0)
    sums = {f"c_{s}": F.sum(s).over(cell) for s in ("n", "sx", "sxx", "sy", "sxy")}
    pairs = pairs.withColumns({
        "sy2": zero, "sxy2": zero, **sums, "c_sy2": zero, "c_sxy2": zero,
        "first": F.row_number().over(by_user) == 1})
    return _pair_scores(pairs)


def _pair_scores(pairs: DataFrame) -> DataFrame:
    """A (cell, user) pair's scores and deletion deltas, from its sums and its cell's."""
    b_cell = F.col("c_sxx") - F.col("c_sx") ** 2 / F.col("c_n")
    rest_n = F.col("c_n") - F.col("n")
    b_rest = F.when(rest_n > 0, (F.col("c_sxx") - F.col("sxx")) - (F.col("c_sx") - F.col("sx")) ** 2 / rest_n) \
        .otherwise(0.0)
    mx = F.col("c_sx") / F.col("c_n")
    return pairs.withColumns({
        "b_cell": b_cell,
        "supported": b_cell > _EPS * F.greatest(F.col("c_sxx"), F.lit(1.0)),
        "rest_supported": b_rest > _EPS * F.greatest(F.col("c_sxx") - F.col("sxx"), F.lit(1.0)),
        "b": F.col("sxx") - 2 * mx * F.col("sx") + F.col("n") * mx * mx,
    }).withColumns({
        "db": F.col("b_cell") - F.when(F.col("rest_supported"), b_rest).otherwise(0.0),
        **_scores("", "sy", "sxy"), **_scores("2", "sy2", "sxy2"),
    })


def _scores(prefix: str, y: str, xy: str):
    """Spark twin of stats.premium.cell_user_scores: a (cell, user) pair's A and dA for one outcome."""
    n, sx, sy, sxy = F.col("n"), F.col("sx"), F.col(y), F.col(xy)
    big_n, big_sx, big_sy, big_sxy = F.col("c_n"), F.col("c_sx"), F.col(f"c_{y}"), F.col(f"c_{xy}")
    mx, my = big_sx / big_n, big_sy / big_n
    a = sxy - mx * sy - my * sx + n * mx * my
    rest_n = big_n - n
    a_rest = F.when(rest_n > 0, (big_sxy - sxy) - (big_sx - sx) * (big_sy - sy) / rest_n).otherwise(0.0)
    a_cell = big_sxy - big_sx * big_sy / big_n
    da = a_cell - F.when(F.col("rest_supported"), a_rest).otherwise(0.0)
    return {f"a{prefix}": a, f"da{prefix}": da}


EVIDENCE_SUMS = ("c_n", "c_sx", "b_cell")


def per_user(pairs: DataFrame, evidence_ids: list[int], split: bool) -> DataFrame:
    """One row per (comparison, user[, key value]): scores over supported cells and the user's
    share of the totals; and, for evidence, one row per supported cell (with a null user).

    The cell rows ride along in the same aggregation so the (comparison, cell, user)
    pairs are computed once; every aggregate is a plain sum, count or max, which
    Spark's hash aggregation spills to disk under memory pressure.
    """
    split_keys = [V] if split else []
    if evidence_ids:
        is_cell = F.col("first") & F.col("supported") & F.col(K).isin(evidence_ids)
        copies = F.explode(F.array(F.lit(False), F.when(is_cell, F.lit(True)))).alias("__cell_row")
        pairs = pairs.select("*", copies).filter(F.col("__cell_row").isNotNull())
        cell_row = F.col("__cell_row")
        pairs = pairs.select(
            K, *split_keys, F.when(~cell_row, F.col(USER)).alias(USER),
            F.when(cell_row, F.col(C1)).alias(C1), F.when(cell_row, F.col(C2)).alias(C2),
            *[F.when(~cell_row, F.col(c)).alias(c) for c in (
                "n", "sx", "sy", "sxy", "c_n", "c_sx", "c_sy", "c_sxy", "first", "supported", "b_cell", *SCORES)],
            *[F.when(cell_row, F.col(c)).alias(f"e_{c}") for c in EVIDENCE_SUMS])
        keys = [K, USER, *split_keys, C1, C2]
        cells = [F.max(f"e_{c}").alias(f"e_{c}") for c in EVIDENCE_SUMS]
    else:
        keys, cells = [K, USER, *split_keys], []
    sup = F.col("supported")
    first_sup = F.col("first") & sup
    group_mean = F.col("c_sxy") / F.col("c_sx")
    reference_mean = (F.col("c_sy") - F.col("c_sxy")) / (F.col("c_n") - F.col("c_sx"))
    parts = [
        F.sum("n").alias("n_all"), F.sum("sx").alias("sx_all"), F.sum("sy").alias("sy_all"), F.sum("sxy").alias("sxy_all"),
        F.sum(F.when(sup, F.col("n"))).alias("n_sup"), F.sum(F.when(sup, F.col("sx"))).alias("sx_sup"),
        F.sum(F.when(sup, F.col("sy"))).alias("sy_sup"), F.sum(F.when(sup, F.col("sxy"))).alias("sxy_sup"),
        F.count(F.when(first_sup, 1)).alias("cells"),
        F.sum(F.when(first_sup, F.col("b_cell"))).alias("b_total"),
        # Group-weighted within-cell gap: sum_c n_gc (mean_gc - mean_rc); divided by n_g later.
        F.sum(F.when(first_sup, F.col("c_sx") * (group_mean - reference_mean))).alias("price_part"),
        # Mantel–Haenszel odds ratio parts for 0/1 outcomes: sum a*d/n and sum b*c/n over cells.
        F.sum(F.when(first_sup, F.col("c_sxy") * ((F.col("c_n") - F.col("c_sx")) - (F.col("c_sy") - F.col("c_sxy")))
                     / F.col("c_n"))).alias("mh_ad"),
        F.sum(F.when(first_sup, (F.col("c_sx") - F.col("c_sxy")) * (F.col("c_sy") - F.col("c_sxy"))
                     / F.col("c_n"))).alias("mh_bc"),
        # A user is a cluster of the comparison when any of their cells has support; a group
        # user when they have group rows there (x > 0), a reference user when reference rows.
        F.coalesce(F.max(sup.cast("int")) == 1, F.lit(False)).alias("clustered"),
        F.max(F.when(sup & (F.col("sx") > 0), 1)).alias("users_group"),
        F.max(F.when(sup & (F.col("n") > F.col("sx")), 1)).alias("users_reference"),
        *[F.sum(F.when(sup, F.col(c))).alias(c) for c in SCORES],
        *cells,
    ]
    # Exchanged before it is aggregated: a map-side (partial) aggregation would hold a hash map in
    # the same task as the window buffering a cell, and a map cannot be made to spill by another
    # consumer, so a hot cell's window would find no memory left. Little is lost: a user's pairs
    # lie in many cells, so few of them meet in one task.
    return pairs.repartition(*keys).groupBy(*keys).agg(*parts)


def totals_of(users: DataFrame) -> dict[int, dict]:
    """Row counts, raw means and the Kitagawa price part per comparison."""
    table = users.groupBy(K).agg(*[F.sum(c).alias(c) for c in _TOTALS]).collect()
    return {int(r[K]): r.asDict() for r in table}


def cluster_id(pooled: list[int], max_clusters: int) -> Column:
    """The user, or for comparisons with more users than max_clusters, the user's hash bucket."""
    if not pooled:
        return F.col(USER)
    return F.when(F.col(K).isin(pooled), F.pmod(F.xxhash64(USER), F.lit(max_clusters)).cast("string")) \
        .otherwise(F.col(USER))


def collect_scores(users: DataFrame, max_clusters: int) -> tuple[dict[int, dict], dict[int, int], dict[int, tuple]]:
    """User scores to the driver; beyond max_clusters users, pooled into hash buckets.

    Pooling keeps the analytic (CR1) variance exact: a bucket of independent users
    is itself an independent cluster. For the jackknife, a bucket's deletion delta
    is the sum of its users' (exact when its users share no cell).
    """
    clustered = users.filter("clustered")
    # Distinct users: with the leave-out key a user has a row per key value.
    sides = clustered.groupBy(K).agg(
        F.countDistinct(USER).alias("users"),
        F.countDistinct(F.when(F.col("users_group") == 1, F.col(USER))).alias("users_group"),
        F.countDistinct(F.when(F.col("users_reference") == 1, F.col(USER))).alias("users_reference")).collect()
    counts = {int(r[K]): int(r["users"]) for r in sides}
    side_counts = {int(r[K]): (int(r["users_group"]), int(r["users_reference"])) for r in sides}
    pooled = [k for k, n in counts.items() if n > max_clusters]
    frame = clustered.groupBy(K, cluster_id(pooled, max_clusters).alias(USER)).agg(
        *[F.sum(c).alias(c) for c in SCORES])
    # Sorted by cluster so results do not depend on how Spark partitioned the work.
    table = frame.toPandas().sort_values([K, USER], kind="stable")
    scores = {int(k): {c: g[c].to_numpy(float) for c in SCORES} for k, g in table.groupby(K, sort=False)}
    return scores, counts, side_counts
