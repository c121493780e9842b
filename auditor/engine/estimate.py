"""The Spark engine: reduce purchases to per-user scores and per-comparison sums.

The engine answers one question — given the plan (auditor.summaries), what are
the per-comparison summaries — and keeps the Spark plan to few exchanges:

    rows      each purchase exploded to the comparisons it takes part in, with
              its cell as a 96-bit hash (cells of another matching rule, for
              sensitivity, hash other keys of the same row)
    exchange  by (cell, comparison): ranked comparisons (group findings and
              doses) get within-cell mid-ranks from one ordered window; the
              others (bands and sensitivity variants) need no sort
    pairs     (cell, user) sums by hash aggregation on that partitioning; cell
              sums by a second aggregation joined back on the same partitioning
              (a shuffled hash join, no new exchange)
    exchange  by (comparison, user, left-out key value): each user's scores,
              exact deletion deltas and share of the totals; evidence cells ride
              along as plain sums and maxima

That last table is small (a row per user and key value, not per purchase) and
is kept: the totals, the user scores and every leave-one-key-value-out
re-estimate are read from it without touching the purchases again (deletion
deltas add over cells, and a key value's cells are its own).

What comes back to the driver is bounded: a few numbers per comparison, a few
evidence cells, and at most `test.max_clusters` user scores per comparison.
"""

from __future__ import annotations

import math
from functools import reduce

import numpy as np
from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from auditor.spec import AuditConfig, MatchSpec
from auditor.engine.ingest import DECLARED, DISCOUNT, EVENT, LIST, PRICE, QUOTED, REQUEST, TS, USER
from auditor.engine.match import TIME_BUCKET, bucket_start, cell_columns
from auditor.stats.premium import ComparisonSummary
# The plan and the summary types live in auditor.summaries (no Spark there); they are
# re-exported so that the engine's callers need one import.
from auditor.summaries import (BAND, DOSE, GROUP, SHARE_OUTCOMES, STEERING, TIME_POSITION,  # noqa: F401
                               Balance, Comparison, ComparisonData, EvidenceCell, LeftOut, outcomes, plan)

K, X, Y, Y2, LOGP, C1, C2, V = "__k", "__x", "__y", "__y2", "__logp", "__c1", "__c2", "__v"
P1, P2 = "__p1", "__p2"  # a coarser cell that holds every cell of a lean pass's rules (_coarse_rule)
CONVERTED = "__converted"
# A user's scores: A, B and their deletion deltas, for the primary and the secondary outcome.
_SCORES = ("a", "b", "da", "db", "a2", "da2")
# Per-comparison totals, summed over users (each cell's own terms sit on its first user).
_TOTALS = ("n_all", "sx_all", "sy_all", "sxy_all", "n_sup", "sx_sup", "sy_sup", "sxy_sup", "cells", "b_total",
           "price_part", "mh_ad", "mh_bc")
_EPS = 1e-12
# Sums per (cell, user) pair, and the name of the same sum over the pair's cell.
# Cell sums carry a c_ prefix: Spark column names are case-insensitive.
_PAIR_SUMS = ("n", "sx", "sxx", "sy", "sxy", "sy2", "sxy2")


class SparkEngine:
    """Estimates the plan's comparisons on the accepted purchases of one audit.

    `estimate` runs the main pass and keeps its per-user table for `left_out`;
    `release` frees it. Every method returns plain summaries (auditor.summaries).
    """

    def __init__(self, accepted: DataFrame, config: AuditConfig):
        self.accepted = accepted
        self.config = config
        self._users: DataFrame | None = None
        self._user_counts: dict[int, int] = {}

    def estimate(self, items: tuple[Comparison, ...], evidence: bool = True) -> dict[int, ComparisonData]:
        """The main pass: every comparison of the plan, with evidence cells for the report."""
        leave_out = self.config.sensitivity.leave_out
        data, users, counts = _summarize(self.accepted, self.config, items, evidence=evidence, split_by=leave_out)
        self.release()
        self._users, self._user_counts = users, counts
        return data

    def variants(self, items: tuple[Comparison, ...]) -> dict[int, ComparisonData]:
        """Re-estimates under other matching rules: one lean pass, nothing kept."""
        data, users, _ = _summarize(self.accepted, self.config, items, evidence=False, split_by=None)
        users.unpersist()
        return data

    def balance(self, items: tuple[Comparison, ...]) -> dict[int, list[Balance]]:
        """Where group and reference purchases sit within their time bucket and bins, in the audit's cells.

        One aggregation by (comparison, cell), no per-user step: with a 0/1 group
        indicator the cell-fixed-effects difference of a position is
        sum_c h_c (mean_gc - mean_rc) / sum_c h_c, h_c = n_gc n_rc / n_c (the
        weights of the premium itself), over cells holding both sides.
        """
        match = self.config.match
        measures = ([TIME_POSITION] if match.time_bucket_seconds else []) + [name for name, _ in match.bins]
        if not items or not measures:
            return {}
        raw = [TS, *(name for name, _ in match.bins)]
        frame = _with_conversion(self.accepted, self.config, items)
        rows = explode(frame, self.config, items, keep=list(dict.fromkeys(raw)))
        x = F.col(X)
        sums = [F.count(F.lit(1)).alias("n"), F.sum(x).alias("n_g")]
        for i, measure in enumerate(measures):
            position = _position(measure, match)
            sums += [F.sum(position).alias(f"s{i}"), F.sum(x * position).alias(f"sg{i}"),
                     F.sum(position * position).alias(f"ss{i}"), F.sum(x * position * position).alias(f"ssg{i}")]
        cells = rows.groupBy(K, C1, C2).agg(*sums).filter((F.col("n_g") > 0) & (F.col("n_g") < F.col("n")))
        n, n_g = F.col("n"), F.col("n_g")
        n_r = n - n_g
        weight = n_g * n_r / n
        totals = [F.sum(weight).alias("h"), F.sum(n_g).alias("n_g"), F.sum(n_r).alias("n_r")]
        for i in range(len(measures)):
            s, sg, ss, ssg = (F.col(f"{c}{i}") for c in ("s", "sg", "ss", "ssg"))
            gap = sg / n_g - (s - sg) / n_r
            totals += [F.sum(weight * gap).alias(f"hd{i}"), F.sum(sg).alias(f"sg{i}"), F.sum(s - sg).alias(f"sr{i}"),
                       F.sum(ssg).alias(f"ssg{i}"), F.sum(ss - ssg).alias(f"ssr{i}")]
        out: dict[int, list[Balance]] = {}
        for r in cells.groupBy(K).agg(*totals).collect():
            out[int(r[K])] = [Balance(
                measure=measure, difference=_ratio(r[f"hd{i}"], r["h"]),
                mean_group=_ratio(r[f"sg{i}"], r["n_g"]), mean_reference=_ratio(r[f"sr{i}"], r["n_r"]),
                square_group=_ratio(r[f"ssg{i}"], r["n_g"]), square_reference=_ratio(r[f"ssr{i}"], r["n_r"]))
                for i, measure in enumerate(measures)]
        return out

    def placebo_pairs(self):
        """The self-check's population as (cell, user) sums, bounded (auditor.engine.placebos)."""
        from auditor.engine.placebos import placebo_pairs  # noqa: PLC0415 (it reads this module's cell keys)

        return placebo_pairs(self.accepted, self.config)

    def common_values(self, column: str, limit: int) -> list[str]:
        """The most common values of a column among the accepted purchases, commonest first."""
        rows = (self.accepted.groupBy(F.col(_q(column)).cast("string").alias("value")).count()
                .orderBy(F.desc("count"), "value").limit(limit).collect())
        return [r["value"] for r in rows if r["value"] is not None]

    def left_out(self, items: tuple[Comparison, ...], values: list[str]) -> list[LeftOut]:
        """Each comparison re-estimated without the cells of each value of the leave-out key.

        Read from the main pass's per-user table: a key value's cells hold only its
        own rows, so removing them removes exactly their terms from each user's scores
        and deletion deltas (as re-running the pass without those rows would).
        """
        if self._users is None or not items or not values:
            return []
        ids = [c.id for c in items]
        pooled = [k for k in ids if self._user_counts.get(k, 0) > self.config.test.max_clusters]
        cluster = _cluster_id(pooled, self.config.test.max_clusters)
        value = F.when(F.col(V).isin(values), F.col(V))  # other values stay in every variant
        table = (self._users.filter(F.col("clustered") & F.col(K).isin(ids))
                 .groupBy(K, cluster.alias(USER), value.alias(V))
                 .agg(*[F.sum(c).alias(c) for c in ("a", "b", "da", "db", "n_sup", "cells")],
                      *[F.coalesce(F.max(c), F.lit(0)).alias(c) for c in ("users_group", "users_reference")])
                 .toPandas())
        out = []
        for c in items:
            mine = table[table[K] == c.id]
            for v in values:
                kept = mine[mine[V] != v]  # a null value (any other) is never v
                per_user = kept.groupby(USER, sort=True).agg(
                    {"a": "sum", "b": "sum", "da": "sum", "db": "sum", "users_group": "max", "users_reference": "max"})
                sides = {} if c.kind == DOSE else {
                    "users_group": int(per_user["users_group"].sum()),
                    "users_reference": int(per_user["users_reference"].sum())}
                summary = ComparisonSummary(*(per_user[s].to_numpy(float) for s in ("a", "b", "da", "db")),
                                            rows=int(kept["n_sup"].sum()), cells=int(kept["cells"].sum()),
                                            users=int(per_user.shape[0]), **sides)
                out.append(LeftOut(comparison=c, value=v, summary=summary))
        return out

    def release(self) -> None:
        """Free the kept per-user table."""
        if self._users is not None:
            self._users.unpersist()
            self._users = None


def summarize(accepted: DataFrame, config: AuditConfig, items: tuple[Comparison, ...] | None = None,
              evidence: bool = True) -> dict[int, ComparisonData]:
    """Per-comparison summaries of the accepted purchases (one pass, nothing kept)."""
    data, users, _ = _summarize(accepted, config, items if items is not None else plan(config), evidence, None)
    users.unpersist()
    return data


def _q(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _outcome(outcome: str, config: AuditConfig):
    """(y, rows it applies to) for one outcome."""
    logp = F.col(LOGP)  # computed once per row by explode()
    quote_rows = _quote_rows(config)
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
        quotes = config.quotes
        return F.log(F.col(PRICE) / F.col(QUOTED)), (F.col(EVENT) == quotes.purchase_value) & (F.col(QUOTED) > 0)
    if outcome == "conversion":
        return F.col(CONVERTED).cast("double"), quote_rows
    raise ValueError(outcome)


def _quote_rows(config: AuditConfig) -> Column:
    """Rows whose price is compared: in a quote log the quotes (a purchase price may have drifted
    after the quote, which quote_drift measures on its own); otherwise every row."""
    quotes = config.quotes
    return (F.col(EVENT) == quotes.quote_value) if quotes else F.lit(True)


def _cell_hash(keys: list[Column]) -> tuple[Column, Column]:
    """A 96-bit cell id from the key values (collisions ~1e-11 even at 10^9 cells)."""
    return F.xxhash64(*keys), F.hash(*keys)


def cell_keys(match: MatchSpec) -> list[Column]:
    """The values that name a row's cell under a matching rule, from the accepted (unbinned) columns.

    The same expressions as match.with_cells, so the audit's cells hash alike either way.
    """
    keys = [F.col(_q(c)) for c in match.exact]
    if match.time_bucket_seconds:
        keys.append(bucket_start(match.time_bucket_seconds))
    keys += [F.floor(F.col(_q(name)) / width) * width for name, width in match.bins]
    return keys


def _position(measure: str, match: MatchSpec) -> Column:
    """Where a row sits within its time bucket or its bin, from 0 (start) to 1 (end)."""
    if measure == TIME_POSITION:
        width = match.time_bucket_seconds
        return (F.unix_seconds(F.col(TS)) - bucket_start(width)) / F.lit(float(width))
    width = dict(match.bins)[measure]
    value = F.col(_q(measure))
    return (value - F.floor(value / width) * width) / F.lit(float(width))


def _member(c: Comparison, config: AuditConfig, cells: dict[MatchSpec, tuple[str, str]], context):
    """The struct a row contributes to comparison c, or null if it takes no part."""
    member = _member_of(c, config, cells, context)
    if c.exclude is None:
        return member
    column, left_out = c.exclude
    return F.when(F.col(_q(column)).cast("string") != left_out, member)


def _member_of(c: Comparison, config: AuditConfig, cells, context):
    seg = config.segments[c.segment_index]
    value = F.col(_q(c.column))
    match = c.match or config.match
    cell = tuple(F.col(name) for name in cells[match])
    quote_rows = _quote_rows(config)

    def entry(x, y, where=cell):
        return F.struct(F.lit(c.id).alias("k"), x.cast("double").alias("x"), y.alias("y"),
                        where[0].alias("c1"), where[1].alias("c2"))

    logp = F.col(LOGP)
    if c.kind == GROUP:
        y, applies = _outcome(c.outcome, config)
        return F.when(applies & (value == c.group), entry(F.lit(1), y)).when(
            applies & (value == c.reference), entry(F.lit(0), y))
    if c.kind == DOSE:
        return F.when(quote_rows & (value >= 0), entry(F.log2(value + 1), logp))
    if c.kind == BAND:
        band = _band_index(value, seg.bands)
        target = next(j for j in range(1, len(seg.bands)) if seg.band_label(j) == c.group)
        return F.when(quote_rows & (band == target), entry(F.lit(1), logp)).when(
            quote_rows & (band == 0), entry(F.lit(0), logp))
    if c.kind == STEERING:
        steering = config.steering
        tier = F.lit(None).cast("double")
        option = F.col(_q(steering.column)).cast("string")
        for rank, name in enumerate(steering.order):
            tier = F.when(option == name, F.lit(float(rank))).otherwise(tier)
        known = reduce(lambda a, b: a & b, [F.col(_q(k)).isNotNull() for k in steering.context],
                       quote_rows & tier.isNotNull())
        return F.when(known & (value == c.group), entry(F.lit(1), tier, context)).when(
            known & (value == c.reference), entry(F.lit(0), tier, context))
    raise ValueError(c.kind)


def _coarse_rule(config: AuditConfig, items: tuple[Comparison, ...]) -> MatchSpec | None:
    """A matching rule whose every cell holds whole cells of each of the items' rules, or None.

    The sensitivity pass re-estimates a finding under its bins halved and doubled
    and its time bucket halved again and again: a dozen rules, each of which would
    send another copy of the finding's rows through the exchange. Their cells nest:
    the same exact keys; a bin of width w/2 lies in one of width w, and of 2w
    (power-of-two ratios of the same width divide exactly in floating point); a
    time bucket of a day or less lies in its local day (buckets start at local
    midnight). Partitioned by the coarse cell, the rows are exchanged once.
    None when the rules are one (nothing to gain) or do not nest.
    """
    rules = list(dict.fromkeys(c.match or config.match for c in items))
    if len(rules) < 2 or any(r.exact != rules[0].exact for r in rules):
        return None
    if any(tuple(n for n, _ in r.bins) != tuple(n for n, _ in rules[0].bins) for r in rules):
        return None
    widths = [r.time_bucket_seconds for r in rules]
    if not all(widths) or max(widths) > 86400:
        return None  # without a time bucket in every rule the coarse cell would be too coarse to spread
    bins = []
    for i, (name, _) in enumerate(rules[0].bins):
        sizes = [r.bins[i][1] for r in rules]
        widest = max(sizes)
        if any(not _power_of_two(widest / w) for w in sizes):
            return None
        bins.append((name, widest))
    return MatchSpec(exact=rules[0].exact, time_bucket="1d", time_bucket_seconds=86400, bins=tuple(bins))


def _power_of_two(ratio: float) -> bool:
    exponent = round(math.log2(ratio)) if ratio > 0 else -1
    return exponent >= 0 and ratio == 2.0 ** exponent


def _band_index(value, edges):
    index = F.lit(None).cast("int")
    for i, low in enumerate(edges):
        index = F.when(value >= low, F.lit(i)).otherwise(index)
    return index


def explode(frame: DataFrame, config: AuditConfig, items: tuple[Comparison, ...], keep: list[str] = (),
            split_by: str | None = None, cells: list[int] | None = None) -> DataFrame:
    """One row per (purchase, comparison it takes part in), from the accepted purchases.

    Cell ids (one pair of hashes per matching rule in use) and log price are
    computed once per row, before the explode: inside the per-comparison structs
    Spark would hash the keys again for each comparison. The array is exploded
    whole and its nulls dropped after, which keeps the stage in generated code (a
    higher-order filter on the array would be interpreted).

    `cells`: only rows in cells whose first hash is one of these (a pre-filter for
    reading a few cells; the caller joins on the full id).
    """
    wanted_cells = cells
    rules = list(dict.fromkeys(c.match or config.match for c in items))
    cells = {rule: (f"__c1_{i}", f"__c2_{i}") for i, rule in enumerate(rules)}
    hashed = {}
    for rule, (h1, h2) in cells.items():
        hashed.update(zip((h1, h2), _cell_hash(cell_keys(rule))))
    if config.steering:
        match = config.match
        extra = [F.col(_q(c)) for c in config.steering.context]
        extra += [k for c, k in zip(cell_columns(match), cell_keys(match)) if c not in match.exact]
        hashed.update(zip(("__ctx1", "__ctx2"), _cell_hash(extra)))
    context = (F.col("__ctx1"), F.col("__ctx2")) if config.steering else None
    members = F.array(*[_member(c, config, cells, context) for c in items])
    carried = [F.col(_q(k)) for k in keep]
    # Log price rides past the explode only for steering (its tier's mean price); elsewhere it is in y.
    logp = [F.col(LOGP)] if any(c.kind == STEERING for c in items) else []
    if split_by:
        carried.append(F.col(_q(split_by)).cast("string").alias(V))
    frame = frame.withColumns({LOGP: F.log(F.col(PRICE)), **hashed})
    if wanted_cells is not None:
        first_hashes = [F.col(h1) for h1, _ in cells.values()] + ([F.col("__ctx1")] if config.steering else [])
        frame = frame.filter(reduce(lambda a, b: a | b, [h.isin(wanted_cells) for h in first_hashes]))
    return (frame
            .select(F.col(USER), *logp, *carried, F.explode(members).alias("m"))
            .filter(F.col("m").isNotNull())
            .select(F.col("m.k").alias(K), F.col("m.x").alias(X), F.col("m.y").alias(Y),
                    F.col("m.c1").alias(C1), F.col("m.c2").alias(C2), USER, *logp,
                    *[F.col(_q(k)) for k in keep], *([V] if split_by else [])))


def _with_conversion(frame: DataFrame, config: AuditConfig, items) -> DataFrame:
    if not any(c.outcome == "conversion" for c in items):
        return frame
    # A quote converted when its request also has a purchase row.
    purchased = (F.col(EVENT) == config.quotes.purchase_value).cast("int")
    return frame.withColumn(CONVERTED, F.max(purchased).over(Window.partitionBy(REQUEST)))


def _ranked_cell_sums(rows: DataFrame, steering_ids: list[int]) -> DataFrame:
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
_PAIR_COLUMNS = (K, USER, C1, C2, "n", "sx", "sy", "sxy", "c_n", "c_sx", "c_sy", "c_sxy", "first", "supported",
                 "b_cell", *_SCORES)


def _pairs(rows: DataFrame, carried: list[str]) -> DataFrame:
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


def _plain_pairs(rows: DataFrame, carried: list[str], part: list[str]) -> DataFrame:
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


def _summarize(accepted: DataFrame, config: AuditConfig, items: tuple[Comparison, ...], evidence: bool,
               split_by: str | None
               ) -> tuple[dict[int, ComparisonData], DataFrame, dict[int, int]]:
    """The pass itself: summaries, the persisted per-user table, and users per comparison.

    The self-check's placebo splits are not in this pass: they are computed from the
    placebo population's (cell, user) sums (auditor.engine.placebos).
    """
    # A comparison asked twice would put each of its rows in its cells twice.
    items = tuple({c.id: c for c in items}.values())
    frame = _with_conversion(accepted, config, items)
    ranked = tuple(c for c in items if c.ranked and (config.test.rank_test or c.kind == STEERING))
    plain = tuple(c for c in items if c not in ranked)
    # The cell hash leads every partitioning and sort key: Spark's sorts compare an 8-byte
    # prefix of the first key first, and the comparison number (a handful of values) as
    # prefix would send nearly every comparison to the slow full-row path.
    parts, carried = [], [V] if split_by else []
    if ranked:
        rows = explode(frame, config, ranked, split_by=split_by).repartition(C1, C2, K)
        parts.append(_pairs(_ranked_cell_sums(rows, [c.id for c in ranked if c.kind == STEERING]), carried))
    if plain:
        coarse = _coarse_rule(config, plain)
        if coarse is not None:
            # Every rule's cells lie within a cell of the coarse rule: the rows cross the
            # exchange once, by that cell, and are exploded to their comparisons after it.
            frame = frame.withColumns(dict(zip((P1, P2), _cell_hash(cell_keys(coarse))))).repartition(P1, P2)
            rows = explode(frame, config, plain, split_by=split_by, keep=[P1, P2])
            part = [P1, P2, C1, C2]
        else:
            rows = explode(frame, config, plain, split_by=split_by).repartition(C1, C2, K)
            part = [C1, C2]
        parts.append(_plain_pairs(rows, carried, part))
    pairs = reduce(DataFrame.unionByName, [part.select(*_PAIR_COLUMNS, *carried) for part in parts])

    # Everything the driver needs is additive over users, so one aggregation by
    # (comparison, user[, key value]) carries it, and only that table (a row per user,
    # not per purchase) is kept for the small reads below and for leave-outs.
    evidence_ids = [c.id for c in items if c.match is None and c.exclude is None and (
        (c.kind == GROUP and c.outcome == "price") or c.kind == STEERING)] if evidence else []
    # On disk, not in memory: the table grows with users and cells, and read back it streams.
    users = _per_user(pairs, evidence_ids, split_by is not None).persist(StorageLevel.DISK_ONLY)
    totals = _totals(users)
    scores, user_counts, side_counts = _collect_scores(users, config.test.max_clusters)
    cells_found = _evidence(accepted, users, config, items, totals, evidence_ids) if evidence_ids else {}
    return _assemble(items, config, totals, scores, user_counts, side_counts, cells_found), users, user_counts


def _assemble(items, config: AuditConfig, totals, scores, user_counts, side_counts,
              cells_found) -> dict[int, ComparisonData]:
    out = {}
    for c in items:
        t = totals.get(c.id, {})
        s = scores.get(c.id)
        users_n = int(user_counts.get(c.id, 0))
        rows_sup = int(t.get("n_sup") or 0)
        cells_n = int(t.get("cells") or 0)
        empty = np.zeros(0)
        binary = c.kind != DOSE
        # Users per side (a dose has no sides): the t reference's degrees of freedom and
        # test.min_users go by the smaller side.
        group_users, reference_users = side_counts.get(c.id, (0, 0))
        sides = {"users_group": group_users, "users_reference": reference_users} if binary else {}

        def summary(a, da):
            if s is None:
                return ComparisonSummary(empty, empty, empty, empty, rows=rows_sup, cells=cells_n, users=users_n, **sides)
            return ComparisonSummary(s[a], s["b"], s[da], s["db"], rows=rows_sup, cells=cells_n, users=users_n, **sides)

        g_all = int(t.get("sx_all") or 0) if binary else int(t.get("n_all") or 0)
        r_all = int((t.get("n_all") or 0) - (t.get("sx_all") or 0)) if binary else 0
        g_sup = int(t.get("sx_sup") or 0) if binary else rows_sup
        r_sup = rows_sup - g_sup if binary else 0
        found = cells_found.get(c.id, ())
        out[c.id] = ComparisonData(
            comparison=c,
            primary=summary("a", "da"),
            secondary=summary("a2", "da2") if c.ranked and (config.test.rank_test or c.kind == STEERING) else None,
            rows_group=g_sup, rows_reference=r_sup, rows_group_all=g_all, rows_reference_all=r_all,
            mean_group_all=_ratio(t.get("sxy_all"), t.get("sx_all")),
            mean_reference_all=_ratio(_minus(t.get("sy_all"), t.get("sxy_all")), _minus(t.get("n_all"), t.get("sx_all"))),
            mean_group_matched=_ratio(t.get("sxy_sup"), t.get("sx_sup")),
            mean_reference_matched=_ratio(_minus(t.get("sy_sup"), t.get("sxy_sup")), _minus(t.get("n_sup"), t.get("sx_sup"))),
            price_gap_matched=_ratio(t.get("price_part"), t.get("sx_sup")),
            pooled_clusters=users_n > config.test.max_clusters,
            odds_ratio=_ratio(t.get("mh_ad"), t.get("mh_bc")) if c.outcome in SHARE_OUTCOMES else math.nan,
            evidence=found,
        )
    return out


def _ratio(num, den) -> float:
    return float(num) / float(den) if num is not None and den else math.nan


def _minus(a, b):
    return None if a is None or b is None else a - b


_EVIDENCE = ("c_n", "c_sx", "b_cell")
# Candidate evidence cells per comparison: the heaviest, of which the findings publish the first few
# that hold enough users on each side.
EVIDENCE_SCANNED = 25


def _per_user(pairs: DataFrame, evidence_ids: list[int], split: bool) -> DataFrame:
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
                "n", "sx", "sy", "sxy", "c_n", "c_sx", "c_sy", "c_sxy", "first", "supported", "b_cell", *_SCORES)],
            *[F.when(cell_row, F.col(c)).alias(f"e_{c}") for c in _EVIDENCE])
        keys = [K, USER, *split_keys, C1, C2]
        cells = [F.max(f"e_{c}").alias(f"e_{c}") for c in _EVIDENCE]
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
        *[F.sum(F.when(sup, F.col(c))).alias(c) for c in _SCORES],
        *cells,
    ]
    # Exchanged before it is aggregated: a map-side (partial) aggregation would hold a hash map in
    # the same task as the window buffering a cell, and a map cannot be made to spill by another
    # consumer, so a hot cell's window would find no memory left. Little is lost: a user's pairs
    # lie in many cells, so few of them meet in one task.
    return pairs.repartition(*keys).groupBy(*keys).agg(*parts)


def _totals(users: DataFrame) -> dict[int, dict]:
    """Row counts, raw means and the Kitagawa price part per comparison."""
    table = users.groupBy(K).agg(*[F.sum(c).alias(c) for c in _TOTALS]).collect()
    return {int(r[K]): r.asDict() for r in table}


def _cluster_id(pooled: list[int], max_clusters: int) -> Column:
    """The user, or for comparisons with more users than max_clusters, the user's hash bucket."""
    if not pooled:
        return F.col(USER)
    return F.when(F.col(K).isin(pooled), F.pmod(F.xxhash64(USER), F.lit(max_clusters)).cast("string")) \
        .otherwise(F.col(USER))


def _collect_scores(users: DataFrame, max_clusters: int) -> tuple[dict[int, dict], dict[int, int], dict[int, tuple]]:
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
    frame = clustered.groupBy(K, _cluster_id(pooled, max_clusters).alias(USER)).agg(
        *[F.sum(c).alias(c) for c in _SCORES])
    # Sorted by cluster so results do not depend on how Spark partitioned the work.
    table = frame.toPandas().sort_values([K, USER], kind="stable")
    scores = {int(k): {c: g[c].to_numpy(float) for c in _SCORES} for k, g in table.groupby(K, sort=False)}
    return scores, counts, side_counts


def _evidence(accepted: DataFrame, users: DataFrame, config: AuditConfig, items, totals, wanted: list[int],
              scan: int = EVIDENCE_SCANNED):
    """The heaviest matched cells of each group comparison, heaviest first, with each side's rows,
    distinct users and median price, and the cells' key values.

    What may be published (report.min_cell_size distinct users on each side, so no
    cell singles anyone out) is the findings' policy, not the engine's: every
    candidate comes back with its user counts (auditor.findings.published_evidence).
    """
    heavy = Window.partitionBy(K).orderBy(F.desc("b_cell"), C1, C2)
    candidates = (users.filter(F.col(USER).isNull())
                  .groupBy(K, C1, C2).agg(*[F.max(f"e_{c}").alias(c) for c in _EVIDENCE])
                  .select(K, C1, C2, *_EVIDENCE, F.row_number().over(heavy).alias("rank"))
                  .filter(F.col("rank") <= scan).collect())
    if not candidates:
        return {}
    # Cell keys as the report shows them: the time bucket's start and each bin's lower edge
    # (computed beside the raw columns, which the cell hash is taken from).
    match = config.match
    shown = {c: c for c in cell_columns(match)}
    shown.update({name: f"__edge{i}" for i, (name, _) in enumerate(match.bins)})
    if config.steering:
        shown.update({c: shown.get(c, c) for c in config.steering.context})
    binned = {TIME_BUCKET: bucket_start(match.time_bucket_seconds)} if match.time_bucket_seconds else {}
    binned.update({shown[name]: F.floor(F.col(_q(name)) / width) * width for name, width in match.bins})
    frame = _with_conversion(accepted, config, items).withColumns(binned)
    picked = frame.sparkSession.createDataFrame([(int(r[K]), int(r[C1]), int(r[C2])) for r in candidates],
                                                [K, C1, C2])
    keys = list(shown)
    rows = (explode(frame, config, tuple(c for c in items if c.id in wanted),
                    keep=[*dict.fromkeys(shown.values()), PRICE], cells=sorted({int(r[C1]) for r in candidates}))
            .join(F.broadcast(picked), [K, C1, C2])
            # Read twice below: kept on disk once, so the purchases are scanned once (a few cells'
            # rows, though a hot cell among them may hold millions).
            .persist(StorageLevel.DISK_ONLY))
    # Medians and distinct users in aggregations of their own: beside a distinct count, Spark
    # would keep a quantile digest per (cell, side, user) and merge them one by one, which in
    # a cell of a million rides from a hundred thousand riders takes tens of minutes.
    detail = rows.groupBy(K, C1, C2, X).agg(F.percentile_approx(PRICE, 0.5, 10000).alias("median"),
                                            *[F.first(_q(shown[k])).alias(k) for k in keys]).collect()
    users = {(r[K], r[C1], r[C2], r[X]): int(r["users"]) for r in
             rows.select(K, C1, C2, X, USER).distinct().groupBy(K, C1, C2, X).count()
             .withColumnRenamed("count", "users").collect()}
    rows.unpersist()
    info = {}
    for r in detail:
        info.setdefault((r[K], r[C1], r[C2]), {})[r[X]] = {**r.asDict(), "users": users.get((r[K], r[C1], r[C2], r[X]), 0)}
    out: dict[int, list] = {}
    for row in sorted(candidates, key=lambda r: (r[K], r["rank"])):
        sides = info.get((row[K], row[C1], row[C2]), {})
        users_g, users_r = (int(sides[x]["users"]) if x in sides else 0 for x in (1.0, 0.0))
        any_side = next(iter(sides.values()))
        cell_keys_found = {k: _plain(any_side[k]) for k in keys if k != TIME_BUCKET}
        share = float(row["b_cell"]) / float(totals[row[K]]["b_total"]) if totals[row[K]]["b_total"] else math.nan
        out.setdefault(row[K], []).append(EvidenceCell(
            keys=cell_keys_found, time_bucket=int(any_side[TIME_BUCKET]) if TIME_BUCKET in keys else None,
            rows_group=int(row["c_sx"]), rows_reference=int(row["c_n"] - row["c_sx"]),
            users_group=users_g, users_reference=users_r,
            median_group=float(sides[1.0]["median"]) if 1.0 in sides else math.nan,
            median_reference=float(sides[0.0]["median"]) if 0.0 in sides else math.nan,
            weight_share=share))
    return {k: tuple(out.get(k, ())) for k in wanted}


def _plain(value):
    """Key values as JSON-friendly scalars (bins are floats, keys may be any type)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value if isinstance(value, (int, float, str, bool)) or value is None else str(value)
