"""The rows the engine aggregates: each accepted purchase exploded to the comparisons it takes part in,
with its cell under each matching rule in use as a 96-bit hash, and its outcome for each comparison.

Also the cell keys themselves (shared by the self-check's and the personalisation's passes), a row's
position within its time bucket or bin (balance), and the coarse rule a lean pass's rules nest in.
"""

from __future__ import annotations

import math
from functools import reduce

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from auditor.engine.ingest import DECLARED, DISCOUNT, EVENT, LIST, PRICE, QUOTED, REQUEST, TS, USER
from auditor.engine.match import bucket_start, cell_columns
from auditor.spec import AuditConfig, MatchSpec
from auditor.summaries import BAND, DOSE, GROUP, STEERING, TIME_POSITION, Comparison

K, X, Y, Y2, LOGP, C1, C2, V = "__k", "__x", "__y", "__y2", "__logp", "__c1", "__c2", "__v"
P1, P2 = "__p1", "__p2"  # a coarser cell that holds every cell of a lean pass's rules (coarse_rule)
CONVERTED = "__converted"


def quote_name(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _outcome(outcome: str, config: AuditConfig):
    """(y, rows it applies to) for one outcome."""
    logp = F.col(LOGP)  # computed once per row by explode()
    compared = quote_rows(config)
    if outcome == "price":
        return logp, compared
    if outcome == "list_price":
        return F.log(F.col(LIST)), compared
    if outcome == "coupon_incidence":
        return (F.col(DISCOUNT) > 0).cast("double"), compared
    if outcome == "coupon_amount":
        return F.log(F.col(DISCOUNT)), compared & (F.col(DISCOUNT) > 0)
    if outcome == "price_undeclared":
        return logp, compared & ~F.col(DECLARED)
    if outcome == "quote_drift":
        quotes = config.quotes
        return F.log(F.col(PRICE) / F.col(QUOTED)), (F.col(EVENT) == quotes.purchase_value) & (F.col(QUOTED) > 0)
    if outcome == "conversion":
        return F.col(CONVERTED).cast("double"), compared
    raise ValueError(outcome)


def quote_rows(config: AuditConfig) -> Column:
    """Rows whose price is compared: in a quote log the quotes (a purchase price may have drifted
    after the quote, which quote_drift measures on its own); otherwise every row."""
    quotes = config.quotes
    return (F.col(EVENT) == quotes.quote_value) if quotes else F.lit(True)


def cell_hash(keys: list[Column]) -> tuple[Column, Column]:
    """A 96-bit cell id from the key values (collisions ~1e-11 even at 10^9 cells)."""
    return F.xxhash64(*keys), F.hash(*keys)


def cell_keys(match: MatchSpec) -> list[Column]:
    """The values that name a row's cell under a matching rule, from the accepted (unbinned) columns.

    The same expressions as match.with_cells, so the audit's cells hash alike either way.
    """
    keys = [F.col(quote_name(c)) for c in match.exact]
    if match.time_bucket_seconds:
        keys.append(bucket_start(match.time_bucket_seconds))
    keys += [F.floor(F.col(quote_name(name)) / width) * width for name, width in match.bins]
    return keys


def position(measure: str, match: MatchSpec) -> Column:
    """Where a row sits within its time bucket or its bin, from 0 (start) to 1 (end)."""
    if measure == TIME_POSITION:
        width = match.time_bucket_seconds
        return (F.unix_seconds(F.col(TS)) - bucket_start(width)) / F.lit(float(width))
    width = dict(match.bins)[measure]
    value = F.col(quote_name(measure))
    return (value - F.floor(value / width) * width) / F.lit(float(width))


def _member(c: Comparison, config: AuditConfig, cells: dict[MatchSpec, tuple[str, str]], context):
    """The struct a row contributes to comparison c, or null if it takes no part."""
    member = _member_of(c, config, cells, context)
    if c.exclude is None:
        return member
    column, left_out = c.exclude
    return F.when(F.col(quote_name(column)).cast("string") != left_out, member)


def _member_of(c: Comparison, config: AuditConfig, cells, context):
    seg = config.segments[c.segment_index]
    value = F.col(quote_name(c.column))
    match = c.match or config.match
    cell = tuple(F.col(name) for name in cells[match])
    compared = quote_rows(config)

    def entry(x, y, where=cell):
        return F.struct(F.lit(c.id).alias("k"), x.cast("double").alias("x"), y.alias("y"),
                        where[0].alias("c1"), where[1].alias("c2"))

    logp = F.col(LOGP)
    if c.kind == GROUP:
        y, applies = _outcome(c.outcome, config)
        return F.when(applies & (value == c.group), entry(F.lit(1), y)).when(
            applies & (value == c.reference), entry(F.lit(0), y))
    if c.kind == DOSE:
        return F.when(compared & (value >= 0), entry(F.log2(value + 1), logp))
    if c.kind == BAND:
        band = _band_index(value, seg.bands)
        target = next(j for j in range(1, len(seg.bands)) if seg.band_label(j) == c.group)
        return F.when(compared & (band == target), entry(F.lit(1), logp)).when(
            compared & (band == 0), entry(F.lit(0), logp))
    if c.kind == STEERING:
        steering = config.steering
        tier = F.lit(None).cast("double")
        option = F.col(quote_name(steering.column)).cast("string")
        for rank, name in enumerate(steering.order):
            tier = F.when(option == name, F.lit(float(rank))).otherwise(tier)
        known = reduce(lambda a, b: a & b, [F.col(quote_name(k)).isNotNull() for k in steering.context],
                       compared & tier.isNotNull())
        return F.when(known & (value == c.group), entry(F.lit(1), tier, context)).when(
            known & (value == c.reference), entry(F.lit(0), tier, context))
    raise ValueError(c.kind)


def coarse_rule(config: AuditConfig, items: tuple[Comparison, ...]) -> MatchSpec | None:
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
    hashed = _hashed_cells(config, cells)
    context = (F.col("__ctx1"), F.col("__ctx2")) if config.steering else None
    members = F.array(*[_member(c, config, cells, context) for c in items])
    carried = [F.col(quote_name(k)) for k in keep]
    # Log price rides past the explode only for steering (its tier's mean price); elsewhere it is in y.
    logp = [F.col(LOGP)] if any(c.kind == STEERING for c in items) else []
    if split_by:
        carried.append(F.col(quote_name(split_by)).cast("string").alias(V))
    frame = frame.withColumns({LOGP: F.log(F.col(PRICE)), **hashed})
    if wanted_cells is not None:
        frame = frame.filter(_in_cells(config, cells, wanted_cells))
    return (frame
            .select(F.col(USER), *logp, *carried, F.explode(members).alias("m"))
            .filter(F.col("m").isNotNull())
            .select(F.col("m.k").alias(K), F.col("m.x").alias(X), F.col("m.y").alias(Y),
                    F.col("m.c1").alias(C1), F.col("m.c2").alias(C2), USER, *logp,
                    *[F.col(quote_name(k)) for k in keep], *([V] if split_by else [])))


def _hashed_cells(config: AuditConfig, cells: dict[MatchSpec, tuple[str, str]]) -> dict[str, Column]:
    """Each rule's cell hash columns, and steering's context (its keys and the audit's binned keys)."""
    hashed = {}
    for rule, (h1, h2) in cells.items():
        hashed.update(zip((h1, h2), cell_hash(cell_keys(rule))))
    if config.steering:
        match = config.match
        extra = [F.col(quote_name(c)) for c in config.steering.context]
        extra += [k for c, k in zip(cell_columns(match), cell_keys(match)) if c not in match.exact]
        hashed.update(zip(("__ctx1", "__ctx2"), cell_hash(extra)))
    return hashed


def _in_cells(config: AuditConfig, cells: dict[MatchSpec, tuple[str, str]], wanted: list[int]) -> Column:
    """Rows whose first cell hash under any rule (or steering's context) is one of `wanted`."""
    first_hashes = [F.col(h1) for h1, _ in cells.values()] + ([F.col("__ctx1")] if config.steering else [])
    return reduce(lambda a, b: a | b, [h.isin(wanted) for h in first_hashes])


def with_conversion(frame: DataFrame, config: AuditConfig, items) -> DataFrame:
    if not any(c.outcome == "conversion" for c in items):
        return frame
    # A quote converted when its request also has a purchase row.
    purchased = (F.col(EVENT) == config.quotes.purchase_value).cast("int")
    return frame.withColumn(CONVERTED, F.max(purchased).over(Window.partitionBy(REQUEST)))
