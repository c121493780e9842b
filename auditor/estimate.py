"""Spark side of estimation: reduce matched rows to per-user scores and per-comparison sums.

Every comparison of the audit is computed in the same pass: each row is
exploded to the comparisons it takes part in (a reference row serves all of its
segment's groups), then

    one exchange by (comparison, cell)  -> within-cell ranks, the (cell, user)
                                           sums and the cell sums, all on that
                                           partitioning
    one exchange by (comparison, user)  -> per-user scores A, B and their exact
                                           deletion deltas

What comes back to the driver is bounded: a few numbers per comparison, a few
evidence cells, and at most `test.max_clusters` user scores per comparison.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import reduce

import numpy as np
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from auditor.config import AuditConfig
from auditor.ingest import DECLARED, DISCOUNT, EVENT, LIST, PRICE, QUOTED, REQUEST, USER
from auditor.match import TIME_BUCKET, cell_columns
from auditor.stats.premium import ComparisonSummary
from auditor import vocabulary

K, X, Y, Y2, LOGP, C1, C2 = "__k", "__x", "__y", "__y2", "__logp", "__c1", "__c2"
CONVERTED = "__converted"
_CELL1, _CELL2, _CTX1, _CTX2 = "__cell1", "__cell2", "__ctx1", "__ctx2"
# A user's scores: A, B and their deletion deltas, for the primary and the secondary outcome.
_SCORES = ("a", "b", "da", "db", "a2", "da2")
# Per-comparison totals, summed over users (each cell's own terms sit on its first user).
_TOTALS = ("n_all", "sx_all", "sy_all", "sxy_all", "n_sup", "sx_sup", "sy_sup", "sxy_sup", "cells", "b_total",
           "price_part", "mh_ad", "mh_bc")
_EPS = 1e-12

# Comparison kinds. Only "group" and "dose" enter the audit's multiple-testing family;
# bands draw the dose curve, steering has its own test, placebos check the method.
GROUP, DOSE, BAND, STEERING, PLACEBO = "group", "dose", "band", "steering", "placebo"


@dataclass(frozen=True)
class Comparison:
    """One thing compared: a group with its reference, a dose slope, a band, a steering or placebo split."""

    id: int
    kind: str
    segment: str
    column: str
    group: str
    reference: str
    segment_index: int = -1
    outcome: str = "price"
    exclude: tuple[str, str] | None = None  # (column, value) left out, for sensitivity re-estimates

    @property
    def in_family(self) -> bool:
        """Whether the comparison counts in the audit's false-discovery-rate family."""
        return self.kind in (GROUP, DOSE, STEERING)


@dataclass(frozen=True)
class EvidenceCell:
    """A matched cell that carries much of a comparison's weight (for the report)."""

    keys: dict
    time_bucket: int | None  # epoch seconds of the bucket start
    rows_group: int
    rows_reference: int
    users_group: int
    users_reference: int
    median_group: float
    median_reference: float
    weight_share: float


@dataclass(frozen=True)
class ComparisonData:
    """All Spark computed for one comparison."""

    comparison: Comparison
    primary: ComparisonSummary  # log price (steering: tier index)
    secondary: ComparisonSummary | None  # within-cell rank (steering: tier's mean log price)
    rows_group: int  # group rows in cells with support (dose: all rows in such cells)
    rows_reference: int
    rows_group_all: int
    rows_reference_all: int
    mean_group_all: float  # mean outcome of all group rows (raw comparison)
    mean_reference_all: float
    mean_group_matched: float  # the same, over cells with support only
    mean_reference_matched: float
    price_gap_matched: float  # Kitagawa price part: group-weighted within-cell gap
    pooled_clusters: bool
    odds_ratio: float = math.nan  # Mantel–Haenszel, for 0/1 outcomes
    evidence: tuple[EvidenceCell, ...] = field(default=())
    evidence_suppressed: int = 0

    @property
    def coverage(self) -> float:
        """Share of the compared rows that fall in cells with support."""
        total = self.rows_group_all + self.rows_reference_all
        return (self.rows_group + self.rows_reference) / total if total else 0.0


def plan(config: AuditConfig) -> tuple[Comparison, ...]:
    """The audit's comparisons, numbered in config order."""
    items: list[tuple] = []
    for i, seg in enumerate(config.segments):
        if seg.kind == "dose":
            items.append((DOSE, seg.name, seg.column, "per doubling", f"log2(1 + {seg.column})", i))
            items += [(BAND, seg.name, seg.column, seg.band_label(j), seg.band_label(0), i) for j in range(1, len(seg.bands))]
        else:
            items += [(GROUP, seg.name, seg.column, g, seg.reference, i, o) for g in seg.groups for o in outcomes(config)]
    if config.steering:
        for i, seg in enumerate(config.segments):
            if seg.kind == "group":
                items += [(STEERING, seg.name, seg.column, g, seg.reference, i) for g in seg.groups]
    first = next((i for i, s in enumerate(config.segments) if s.kind == "group"), None)
    if first is not None:
        seg = config.segments[first]
        items += [(PLACEBO, "Placebo", seg.column, f"split {s + 1}", f"{seg.reference} users", first)
                  for s in range(config.test.placebo_splits)]
    return tuple(Comparison(i, *item) for i, item in enumerate(items))


# Outcomes compared for each group. Shares (0/1 outcomes) are compared as differences in
# percentage points; the others as ratios (differences in logs). The vocabulary says which.
SHARE_OUTCOMES = vocabulary.SHARE_OUTCOMES


def outcomes(config: AuditConfig) -> tuple[str, ...]:
    """What is compared for each group, given the columns the log has."""
    out = ["price"]
    if config.parts.complete:
        out += ["list_price", "coupon_incidence", "coupon_amount"]
    if config.adjustments:
        out.append("price_undeclared")
    if config.quotes and config.quotes.quoted_price:
        out.append("quote_drift")
    if config.quotes and config.quotes.request_id:
        out.append("conversion")
    return tuple(out)


def _outcome(outcome: str, config: AuditConfig):
    """(y, rows it applies to) for one outcome."""
    logp = F.col(LOGP)  # computed once per row by explode()
    quotes = config.quotes
    quote_rows = (F.col(EVENT) == quotes.quote_value) if quotes else F.lit(True)
    if outcome == "price":
        return logp, quote_rows
    if outcome == "list_price":
        return F.log(F.col(LIST)), quote_rows
    if outcome == "coupon_incidence":
        return (F.col(DISCOUNT) > 0).cast("double"), quote_rows
    if outcome == "coupon_amount":
        return F.log(F.col(DISCOUNT)), quote_rows & (F.col(DISCOUNT) > 0)
    if outcome == "price_undeclared":
        return logp, quote_rows & ~F.col(DECLARED)
    if outcome == "quote_drift":
        return F.log(F.col(PRICE) / F.col(QUOTED)), (F.col(EVENT) == quotes.purchase_value) & (F.col(QUOTED) > 0)
    if outcome == "conversion":
        return F.col(CONVERTED).cast("double"), quote_rows
    raise ValueError(outcome)


def _cell_hash(columns: list[str]):
    """A 96-bit cell id from the key values (collisions ~1e-11 even at 10^9 cells)."""
    cols = [F.col(f"`{c}`") for c in columns]
    return F.xxhash64(*cols), F.hash(*cols)


def _member(c: Comparison, config: AuditConfig, cells, context):
    """The struct a row contributes to comparison c, or null if it takes no part."""
    member = _member_of(c, config, cells, context)
    if c.exclude is None:
        return member
    column, left_out = c.exclude
    return F.when(F.col(f"`{column}`").cast("string") != left_out, member)


def _member_of(c: Comparison, config: AuditConfig, cells, context):
    seg = config.segments[c.segment_index]
    value = F.col(f"`{c.column}`")

    def entry(x, y, cell):
        return F.struct(F.lit(c.id).alias("k"), x.cast("double").alias("x"), y.alias("y"),
                        cell[0].alias("c1"), cell[1].alias("c2"))

    logp = F.col(LOGP)
    if c.kind == GROUP:
        y, applies = _outcome(c.outcome, config)
        return F.when(applies & (value == c.group), entry(F.lit(1), y, cells)).when(
            applies & (value == c.reference), entry(F.lit(0), y, cells))
    if c.kind == DOSE:
        return F.when(value >= 0, entry(F.log2(value + 1), logp, cells))
    if c.kind == BAND:
        band = _band_index(value, seg.bands)
        target = next(j for j in range(1, len(seg.bands)) if seg.band_label(j) == c.group)
        return F.when(band == target, entry(F.lit(1), logp, cells)).when(band == 0, entry(F.lit(0), logp, cells))
    if c.kind == STEERING:
        steering = config.steering
        tier = F.lit(None).cast("double")
        option = F.col(f"`{steering.column}`").cast("string")
        for rank, name in enumerate(steering.order):
            tier = F.when(option == name, F.lit(float(rank))).otherwise(tier)
        known = reduce(lambda a, b: a & b, [F.col(f"`{k}`").isNotNull() for k in steering.context], tier.isNotNull())
        return F.when(known & (value == c.group), entry(F.lit(1), tier, context)).when(
            known & (value == c.reference), entry(F.lit(0), tier, context))
    # Placebo: the reference group's users split in two by a seeded hash of the user id.
    split = F.pmod(F.xxhash64(F.col(USER), F.lit(config.test.seed + int(c.group.split()[-1]))), F.lit(2))
    return F.when(value == seg.reference, entry(split, logp, cells))


def _band_index(value, edges):
    index = F.lit(None).cast("int")
    for i, low in enumerate(edges):
        index = F.when(value >= low, F.lit(i)).otherwise(index)
    return index


def explode(frame: DataFrame, config: AuditConfig, items: tuple[Comparison, ...], keep: list[str] = ()) -> DataFrame:
    """One row per (purchase, comparison it takes part in).

    Cell ids and log price are computed once per row, before the explode: inside
    the per-comparison structs Spark would hash the keys again for each comparison.
    The array is exploded whole and its nulls dropped after, which keeps the stage
    in generated code (a higher-order filter on the array would be interpreted).
    """
    hashed = dict(zip((_CELL1, _CELL2), _cell_hash(cell_columns(config.match))))
    if config.steering:
        extra = [c for c in cell_columns(config.match) if c not in config.match.exact]
        hashed.update(zip((_CTX1, _CTX2), _cell_hash([*config.steering.context, *extra])))
    cells = (F.col(_CELL1), F.col(_CELL2))
    context = (F.col(_CTX1), F.col(_CTX2)) if config.steering else cells
    members = F.array(*[_member(c, config, cells, context) for c in items])
    return (frame.withColumns({LOGP: F.log(F.col(PRICE)), **hashed})
            .select(F.col(USER), F.col(LOGP), *[F.col(f"`{k}`") for k in keep], F.explode(members).alias("m"))
            .filter(F.col("m").isNotNull())
            .select(F.col("m.k").alias(K), F.col("m.x").alias(X), F.col("m.y").alias(Y),
                    F.col("m.c1").alias(C1), F.col("m.c2").alias(C2), USER, LOGP, *[F.col(f"`{k}`") for k in keep]))


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


def summarize(frame: DataFrame, config: AuditConfig, items: tuple[Comparison, ...] | None = None,
              evidence: bool = True) -> dict[int, ComparisonData]:
    """Per-comparison summaries from the matched rows (the frame with cell columns)."""
    items = items if items is not None else plan(config)
    steering_ids = [c.id for c in items if c.kind == STEERING]
    if any(c.outcome == "conversion" for c in items):
        # A quote converted when its request also has a purchase row.
        purchased = (F.col(EVENT) == config.quotes.purchase_value).cast("int")
        frame = frame.withColumn(CONVERTED, F.max(purchased).over(Window.partitionBy(REQUEST)))
    # The cell hash leads every partitioning and sort key: Spark's sorts compare an 8-byte
    # prefix of the first key first, and the comparison number (a handful of values) as
    # prefix would send nearly every comparison to the slow full-row path.
    rows = explode(frame, config, items).repartition(C1, C2, K)

    cell = Window.partitionBy(C1, C2, K)
    if config.test.rank_test or steering_ids:
        # Second outcome: the within-cell mid-rank scaled by (n + 1), whose fixed-effects
        # slope is van Elteren's stratified rank statistic; for steering, the mean log
        # price of the offered tier in its context, whose slope is the implied price gap.
        tie = Window.partitionBy(C1, C2, K, Y)
        mid_rank = (F.rank().over(cell.orderBy(Y)) + (F.count(F.lit(1)).over(tie) - 1) / 2) / (F.count(F.lit(1)).over(cell) + 1)
        second = F.when(F.col(K).isin(steering_ids), F.avg(LOGP).over(tie)).otherwise(mid_rank) \
            if steering_ids else mid_rank
        rows = rows.withColumn(Y2, second)
    else:
        rows = rows.withColumn(Y2, F.lit(0.0))

    pairs = rows.groupBy(C1, C2, K, USER).agg(
        F.count(F.lit(1)).alias("n"), F.sum(X).alias("sx"), F.sum(F.col(X) * F.col(X)).alias("sxx"),
        F.sum(Y).alias("sy"), F.sum(F.col(X) * F.col(Y)).alias("sxy"),
        F.sum(Y2).alias("sy2"), F.sum(F.col(X) * F.col(Y2)).alias("sxy2"))
    # Cell sums carry a c_ prefix: Spark column names are case-insensitive.
    sums = {"c_n": "n", "c_sx": "sx", "c_sxx": "sxx", "c_sy": "sy", "c_sxy": "sxy", "c_sy2": "sy2", "c_sxy2": "sxy2"}
    pairs = pairs.select("*", *[F.sum(v).over(cell).alias(k) for k, v in sums.items()],
                         F.count(F.when(F.col("sx") > 0, 1)).over(cell).alias("users_g"),
                         F.count(F.when(F.col("n") > F.col("sx"), 1)).over(cell).alias("users_r"),
                         (F.row_number().over(cell.orderBy(USER)) == 1).alias("first"))
    b_cell = F.col("c_sxx") - F.col("c_sx") ** 2 / F.col("c_n")
    rest_n = F.col("c_n") - F.col("n")
    b_rest = F.when(rest_n > 0, (F.col("c_sxx") - F.col("sxx")) - (F.col("c_sx") - F.col("sx")) ** 2 / rest_n).otherwise(0.0)
    mx = F.col("c_sx") / F.col("c_n")
    pairs = pairs.withColumns({
        "b_cell": b_cell,
        "supported": b_cell > _EPS * F.greatest(F.col("c_sxx"), F.lit(1.0)),
        "rest_supported": b_rest > _EPS * F.greatest(F.col("c_sxx") - F.col("sxx"), F.lit(1.0)),
        "b": F.col("sxx") - 2 * mx * F.col("sx") + F.col("n") * mx * mx,
    }).withColumns({
        "db": F.col("b_cell") - F.when(F.col("rest_supported"), b_rest).otherwise(0.0),
        **_scores("", "sy", "sxy"), **_scores("2", "sy2", "sxy2"),
    })

    # Everything the driver needs is additive over users, so one aggregation by
    # (comparison, user) carries it, and only that table (a row per user, not per
    # purchase) is cached for the few small reads below.
    evidence_ids = [c.id for c in items if (c.kind == GROUP and c.outcome == "price") or c.kind == STEERING] \
        if evidence else []
    users = _per_user(pairs, evidence_ids).persist()
    totals = _totals(users)
    scores, user_counts = _collect_scores(users.filter("clustered").select(K, USER, *_SCORES), config.test.max_clusters)
    cells_found = _evidence(frame, users, config, items, totals, evidence_ids) if evidence_ids else {}
    users.unpersist()

    out = {}
    for c in items:
        t = totals.get(c.id, {})
        s = scores.get(c.id)
        users_n = int(user_counts.get(c.id, 0))
        rows_sup = int(t.get("n_sup") or 0)
        cells_n = int(t.get("cells") or 0)
        empty = np.zeros(0)

        def summary(a, da):
            if s is None:
                return ComparisonSummary(empty, empty, empty, empty, rows=rows_sup, cells=cells_n, users=users_n)
            return ComparisonSummary(s[a], s["b"], s[da], s["db"], rows=rows_sup, cells=cells_n, users=users_n)

        binary = c.kind != DOSE
        g_all = int(t.get("sx_all") or 0) if binary else int(t.get("n_all") or 0)
        r_all = int((t.get("n_all") or 0) - (t.get("sx_all") or 0)) if binary else 0
        g_sup = int(t.get("sx_sup") or 0) if binary else rows_sup
        r_sup = rows_sup - g_sup if binary else 0
        found, suppressed = cells_found.get(c.id, ((), 0))
        out[c.id] = ComparisonData(
            comparison=c,
            primary=summary("a", "da"),
            secondary=summary("a2", "da2") if (config.test.rank_test or c.kind == STEERING) else None,
            rows_group=g_sup, rows_reference=r_sup, rows_group_all=g_all, rows_reference_all=r_all,
            mean_group_all=_ratio(t.get("sxy_all"), t.get("sx_all")),
            mean_reference_all=_ratio(_minus(t.get("sy_all"), t.get("sxy_all")), _minus(t.get("n_all"), t.get("sx_all"))),
            mean_group_matched=_ratio(t.get("sxy_sup"), t.get("sx_sup")),
            mean_reference_matched=_ratio(_minus(t.get("sy_sup"), t.get("sxy_sup")), _minus(t.get("n_sup"), t.get("sx_sup"))),
            price_gap_matched=_ratio(t.get("price_part"), t.get("sx_sup")),
            pooled_clusters=users_n > config.test.max_clusters,
            odds_ratio=_ratio(t.get("mh_ad"), t.get("mh_bc")) if c.outcome in SHARE_OUTCOMES else math.nan,
            evidence=found, evidence_suppressed=suppressed,
        )
    return out


def _ratio(num, den) -> float:
    return float(num) / float(den) if num is not None and den else math.nan


def _minus(a, b):
    return None if a is None or b is None else a - b


_EVIDENCE = ("c_n", "c_sx", "users_g", "users_r", "b_cell")


def _per_user(pairs: DataFrame, evidence_ids: list[int]) -> DataFrame:
    """One row per (comparison, user): scores over supported cells and the user's share of
    the totals; and, for evidence, one row per supported cell (with a null user).

    The cell rows ride along in the same aggregation so the (comparison, cell, user)
    pairs are computed once; every aggregate is a plain sum, count or max, which
    Spark's hash aggregation spills to disk under memory pressure.
    """
    if evidence_ids:
        is_cell = F.col("first") & F.col("supported") & F.col(K).isin(evidence_ids)
        copies = F.explode(F.array(F.lit(False), F.when(is_cell, F.lit(True)))).alias("__cell_row")
        pairs = pairs.select("*", copies).filter(F.col("__cell_row").isNotNull())
        cell_row = F.col("__cell_row")
        pairs = pairs.select(
            K, F.when(~cell_row, F.col(USER)).alias(USER),
            F.when(cell_row, F.col(C1)).alias(C1), F.when(cell_row, F.col(C2)).alias(C2),
            *[F.when(~cell_row, F.col(c)).alias(c) for c in (
                "n", "sx", "sy", "sxy", "c_n", "c_sx", "c_sy", "c_sxy", "first", "supported", "b_cell", *_SCORES)],
            *[F.when(cell_row, F.col(c)).alias(f"e_{c}") for c in _EVIDENCE])
        keys = [K, USER, C1, C2]
        cells = [F.max(f"e_{c}").alias(f"e_{c}") for c in _EVIDENCE]
    else:
        keys, cells = [K, USER], []
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
        # A user is a cluster of the comparison when any of their cells has support.
        F.coalesce(F.max(sup.cast("int")) == 1, F.lit(False)).alias("clustered"),
        *[F.sum(F.when(sup, F.col(c))).alias(c) for c in _SCORES],
        *cells,
    ]
    return pairs.groupBy(*keys).agg(*parts)


def _totals(users: DataFrame) -> dict[int, dict]:
    """Row counts, raw means and the Kitagawa price part per comparison."""
    table = users.groupBy(K).agg(*[F.sum(c).alias(c) for c in _TOTALS]).collect()
    return {int(r[K]): r.asDict() for r in table}


def _collect_scores(users: DataFrame, max_clusters: int) -> tuple[dict[int, dict], dict[int, int]]:
    """User scores to the driver; beyond max_clusters users, pooled into hash buckets.

    Pooling keeps the analytic (CR1) variance exact: a bucket of independent users
    is itself an independent cluster. For the jackknife, a bucket's deletion delta
    is the sum of its users' (exact when its users share no cell).
    """
    counts = {int(r[K]): int(r["users"]) for r in users.groupBy(K).agg(F.count(F.lit(1)).alias("users")).collect()}
    pooled = [k for k, n in counts.items() if n > max_clusters]
    frame = users
    if pooled:
        bucket = F.when(F.col(K).isin(pooled), F.pmod(F.xxhash64(USER), F.lit(max_clusters)).cast("string")).otherwise(F.col(USER))
        frame = users.groupBy(K, bucket.alias(USER)).agg(*[F.sum(c).alias(c) for c in ("a", "b", "da", "db", "a2", "da2")])
    # Sorted by cluster so results do not depend on how Spark partitioned the work.
    table = frame.toPandas().sort_values([K, USER], kind="stable")
    scores = {int(k): {c: g[c].to_numpy(float) for c in ("a", "b", "da", "db", "a2", "da2")}
              for k, g in table.groupby(K, sort=False)}
    return scores, counts


def _evidence(frame: DataFrame, users: DataFrame, config: AuditConfig, items, totals, wanted: list[int],
              top: int = 5, scan: int = 25):
    """The heaviest matched cells of each group comparison, with medians and key values.

    Cells with fewer than report.min_cell_size distinct users on either side are
    withheld (counted, not shown), so no published cell singles anyone out.
    """
    minimum = config.report.min_cell_size
    heavy = Window.partitionBy(K).orderBy(F.desc("b_cell"), C1, C2)
    candidates = (users.filter(F.col(USER).isNull())
                  .select(K, C1, C2, *[F.col(f"e_{c}").alias(c) for c in _EVIDENCE])
                  .select(K, C1, C2, *_EVIDENCE, F.row_number().over(heavy).alias("rank"))
                  .filter(F.col("rank") <= scan).collect())
    chosen, suppressed = [], {}
    for row in sorted(candidates, key=lambda r: (r[K], r["rank"])):
        if row["users_g"] < minimum or row["users_r"] < minimum:
            suppressed[row[K]] = suppressed.get(row[K], 0) + 1
        elif sum(1 for c in chosen if c[K] == row[K]) < top:
            chosen.append(row)
    if not chosen:
        return {k: ((), suppressed.get(k, 0)) for k in wanted}
    keys = [c for c in cell_columns(config.match)]
    if config.steering:
        keys = list(dict.fromkeys([*keys, *config.steering.context]))
    spark = frame.sparkSession
    picked = spark.createDataFrame([(int(r[K]), int(r[C1]), int(r[C2])) for r in chosen], [K, C1, C2])
    detail = (explode(frame, config, tuple(c for c in items if c.id in wanted), keep=[*keys, PRICE])
              .join(F.broadcast(picked), [K, C1, C2])
              .groupBy(K, C1, C2, X).agg(F.percentile_approx(PRICE, 0.5, 10000).alias("median"),
                                         *[F.first(f"`{k}`").alias(k) for k in keys])
              .collect())
    info = {}
    for r in detail:
        info.setdefault((r[K], r[C1], r[C2]), {})[r[X]] = r
    out: dict[int, tuple] = {}
    for row in chosen:
        sides = info.get((row[K], row[C1], row[C2]), {})
        any_side = next(iter(sides.values()), None)
        if any_side is None:
            continue
        cell_keys = {k: _plain(any_side[k]) for k in keys if k != TIME_BUCKET}
        share = float(row["b_cell"]) / float(totals[row[K]]["b_total"]) if totals[row[K]]["b_total"] else math.nan
        out.setdefault(row[K], []).append(EvidenceCell(
            keys=cell_keys, time_bucket=int(any_side[TIME_BUCKET]) if TIME_BUCKET in keys else None,
            rows_group=int(row["c_sx"]), rows_reference=int(row["c_n"] - row["c_sx"]),
            users_group=int(row["users_g"]), users_reference=int(row["users_r"]),
            median_group=float(sides[1.0]["median"]) if 1.0 in sides else math.nan,
            median_reference=float(sides[0.0]["median"]) if 0.0 in sides else math.nan,
            weight_share=share))
    return {k: (tuple(out.get(k, ())), suppressed.get(k, 0)) for k in wanted}


def _plain(value):
    """Key values as JSON-friendly scalars (bins are floats, keys may be any type)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value if isinstance(value, (int, float, str, bool)) or value is None else str(value)
