"""Spark side of estimation: reduce matched rows to per-cell and per-user summaries.

Every comparison (one group of a segment against its reference) is computed in
the same pass: each row is exploded to the comparisons it takes part in, so a
reference row serves all of its segment's groups. What comes back to the driver
is bounded: a handful of numbers per comparison and at most
`test.max_clusters` user scores per comparison.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from auditor.config import AuditConfig, Segment
from auditor.ingest import PRICE, USER
from auditor.match import cell_columns
from auditor.stats.premium import ComparisonSummary

COMPARISON, X, Y = "__comparison", "__x", "__y"


@dataclass(frozen=True)
class Comparison:
    """One group of a segment compared with the segment's reference group."""

    id: int
    segment: Segment
    group: str

    @property
    def reference(self) -> str:
        return self.segment.reference


@dataclass(frozen=True)
class ComparisonData:
    """All Spark computed for one comparison: matched scores and raw totals."""

    comparison: Comparison
    summary: ComparisonSummary
    rows_group: int  # group rows in cells with common support
    rows_reference: int  # reference rows in cells with common support
    rows_group_all: int  # group rows, matched or not
    rows_reference_all: int
    mean_log_group_all: float  # mean log price of all group rows (raw comparison)
    mean_log_reference_all: float
    pooled_clusters: bool  # users were pooled into hash buckets (more than max_clusters)

    @property
    def coverage(self) -> float:
        """Share of the two groups' rows that fall in cells holding both."""
        total = self.rows_group_all + self.rows_reference_all
        return (self.rows_group + self.rows_reference) / total if total else 0.0


def comparisons(config: AuditConfig) -> tuple[Comparison, ...]:
    """The audit's comparisons, numbered in config order."""
    items = [(seg, group) for seg in config.segments for group in seg.groups]
    return tuple(Comparison(id=i, segment=seg, group=group) for i, (seg, group) in enumerate(items))


def _explode(frame: DataFrame, config: AuditConfig, items: tuple[Comparison, ...]) -> DataFrame:
    """One row per (purchase, comparison it belongs to), with x = 1 for the group."""
    entries = []
    for c in items:
        value = F.col(f"`{c.segment.column}`")
        entries.append(F.when(value == c.group, F.struct(F.lit(c.id).alias("k"), F.lit(1.0).alias("x")))
                       .when(value == c.reference, F.struct(F.lit(c.id).alias("k"), F.lit(0.0).alias("x"))))
    member = F.explode(F.filter(F.array(*entries), lambda e: e.isNotNull())).alias("m")
    cells = [F.col(f"`{name}`") for name in cell_columns(config.match)]
    return (frame.select(F.col(USER), F.log(F.col(PRICE)).alias(Y), *cells, member)
            .select(F.col("m.k").alias(COMPARISON), F.col("m.x").alias(X), Y, USER, *cells))


def summarize(frame: DataFrame, config: AuditConfig) -> dict[int, ComparisonData]:
    """Per-comparison summaries from the matched rows (the frame with cell columns)."""
    items = comparisons(config)
    keys = [COMPARISON, *cell_columns(config.match)]
    rows = _explode(frame, config, items)

    cells = rows.groupBy(*keys).agg(
        F.count(F.lit(1)).alias("n"), F.sum(X).alias("n_g"),
        F.sum(Y).alias("sy"), F.sum(F.col(X) * F.col(Y)).alias("sy_g"),
    ).withColumn("supported", (F.col("n_g") > 0) & (F.col("n_g") < F.col("n"))).persist()

    totals = {r[COMPARISON]: r for r in cells.groupBy(COMPARISON).agg(
        F.sum("n_g").alias("rows_group_all"),
        F.sum(F.col("n") - F.col("n_g")).alias("rows_reference_all"),
        F.sum("sy_g").alias("sy_group_all"),
        F.sum(F.col("sy") - F.col("sy_g")).alias("sy_reference_all"),
        F.count(F.when(F.col("supported"), 1)).alias("cells"),
        F.sum(F.when(F.col("supported"), F.col("n_g"))).alias("rows_group"),
        F.sum(F.when(F.col("supported"), F.col("n") - F.col("n_g"))).alias("rows_reference"),
    ).collect()}

    # Demean within supported cells, then reduce to one score pair per user.
    means = cells.filter("supported").select(
        *keys, (F.col("n_g") / F.col("n")).alias("mx"), (F.col("sy") / F.col("n")).alias("my"))
    xt, yt = F.col(X) - F.col("mx"), F.col(Y) - F.col("my")
    users = rows.join(means, on=keys).groupBy(COMPARISON, USER).agg(
        F.sum(xt * yt).alias("a"), F.sum(xt * xt).alias("b"), F.count(F.lit(1)).alias("n")).persist()
    user_counts = {r[COMPARISON]: r["users"] for r in users.groupBy(COMPARISON).agg(F.count(F.lit(1)).alias("users")).collect()}
    scores = _collect_scores(users, user_counts, config.test.max_clusters)
    users.unpersist()
    cells.unpersist()

    out = {}
    for c in items:
        t = totals.get(c.id)
        g_all = int(t["rows_group_all"] or 0) if t else 0
        r_all = int(t["rows_reference_all"] or 0) if t else 0
        a, b = scores.get(c.id, (np.zeros(0), np.zeros(0)))
        rows_group = int(t["rows_group"] or 0) if t else 0
        rows_reference = int(t["rows_reference"] or 0) if t else 0
        out[c.id] = ComparisonData(
            comparison=c,
            summary=ComparisonSummary(scores_a=a, scores_b=b, rows=rows_group + rows_reference,
                                      cells=int(t["cells"]) if t else 0, users=int(user_counts.get(c.id, 0))),
            rows_group=rows_group, rows_reference=rows_reference,
            rows_group_all=g_all, rows_reference_all=r_all,
            mean_log_group_all=float(t["sy_group_all"]) / g_all if g_all else float("nan"),
            mean_log_reference_all=float(t["sy_reference_all"]) / r_all if r_all else float("nan"),
            pooled_clusters=user_counts.get(c.id, 0) > config.test.max_clusters,
        )
    return out


def _collect_scores(users: DataFrame, user_counts: dict[int, int], max_clusters: int) -> dict[int, tuple]:
    """User scores to the driver; beyond max_clusters users, pooled into hash buckets.

    Pooling is exact for cluster-robust inference (a bucket of independent users
    is itself an independent cluster); it only bounds what the driver holds.
    """
    pooled = [k for k, n in user_counts.items() if n > max_clusters]
    cluster = F.when(F.col(COMPARISON).isin(pooled), F.pmod(F.xxhash64(USER), F.lit(max_clusters))) \
        if pooled else F.lit(None)
    frame = users.groupBy(COMPARISON, F.coalesce(cluster.cast("string"), F.col(USER)).alias(USER)).agg(
        F.sum("a").alias("a"), F.sum("b").alias("b")) if pooled else users
    # Sorted by cluster so that results do not depend on how Spark partitioned the work.
    table = frame.select(COMPARISON, USER, "a", "b").toPandas().sort_values([COMPARISON, USER], kind="stable")
    return {int(k): (group["a"].to_numpy(float), group["b"].to_numpy(float))
            for k, group in table.groupby(COMPARISON, sort=False)}
