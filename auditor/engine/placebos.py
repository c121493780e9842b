"""The placebo population's (cell, user) sums, for the self-check (auditor.stats.placebo).

The self-check splits the reference users of the audit's first segment at random, hundreds
of times, and tests each split as a finding is tested. A split is a function of the user,
so every split reads the same small table: one row per (cell, user) pair of that
population, with its rows and sum of log price. This module computes that table in one
aggregation over the accepted purchases and brings it to the driver, bounded:

- only cells holding two or more of the population's users (a cell of one user can never
  hold both sides of a split);
- at most `max_pairs` pairs: above that, a seeded sample of whole cells (by a hash of the
  cell id and the audit's seed), so every kept cell is complete and the splits in it are
  exact; the counts before sampling come back with it, and the finding says how much was
  sampled.

Users leave as xxhash64 of their id, never the id: the split's side is a hash of that
(auditor.stats.placebo.split_sides reproduces Spark's pmod(xxhash64(user, salt), 2)).
"""

from __future__ import annotations

import numpy as np
from pyspark import StorageLevel
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from auditor.spec import AuditConfig
from auditor.engine.estimate import cell_keys
from auditor.engine.ingest import EVENT, PRICE, USER
from auditor.stats.placebo import MAX_PAIRS, PlaceboPairs

# Cells are sampled in this many hash buckets: the sample is a whole number of buckets, within
# 1/BUCKETS of the population's pairs below the cap.
BUCKETS = 4096
_C1, _C2, _B = "__pc1", "__pc2", "__pbucket"


def placebo_population(config: AuditConfig) -> tuple[str, str] | None:
    """The split population: (column, reference value) of the first group segment, or None."""
    seg = next((s for s in config.segments if s.kind == "group"), None)
    return (seg.column, seg.reference) if seg is not None else None


def placebo_pairs(accepted: DataFrame, config: AuditConfig, max_pairs: int = MAX_PAIRS) -> PlaceboPairs | None:
    """The population's (cell, user) sums for the self-check; None when there is no group segment."""
    population = placebo_population(config)
    if population is None:
        return None
    column, reference = population
    # The rows the findings price: quotes in a quote log, every row otherwise.
    rows = F.col(EVENT) == config.quotes.quote_value if config.quotes else F.lit(True)
    keys = cell_keys(config.match)
    frame = (accepted.filter(rows & (F.col("`" + column.replace("`", "``") + "`") == reference))
             .select(F.xxhash64(*keys).alias(_C1), F.hash(*keys).alias(_C2), USER, F.log(F.col(PRICE)).alias("y"))
             .repartition(_C1, _C2))  # the pairs and the cell's user count then need no other exchange
    cell = Window.partitionBy(_C1, _C2)
    pairs = (frame.groupBy(_C1, _C2, USER).agg(F.count(F.lit(1)).alias("n"), F.sum("y").alias("sum_y"))
             .withColumn("users", F.count(F.lit(1)).over(cell))
             .filter(F.col("users") > 1)
             .select(_C1, _C2, F.xxhash64(USER).alias("user_hash"), "n", "sum_y",
                     F.pmod(F.xxhash64(_C1, _C2, F.lit(config.test.seed)), F.lit(BUCKETS)).alias(_B),
                     (F.col("users") == F.row_number().over(cell.orderBy(USER))).alias("last"))
             .persist(StorageLevel.DISK_ONLY))
    try:
        counts = {int(r[_B]): (int(r["pairs"]), int(r["cells"])) for r in
                  pairs.groupBy(_B).agg(F.count(F.lit(1)).alias("pairs"),
                                        F.count(F.when(F.col("last"), 1)).alias("cells")).collect()}
        pairs_total = sum(p for p, _ in counts.values())
        cells_total = sum(c for _, c in counts.values())
        kept, running = 0, 0
        for bucket in range(BUCKETS):  # whole buckets in a seeded order until the cap
            running += counts.get(bucket, (0, 0))[0]
            if running > max_pairs:
                break
            kept = bucket + 1
        table = pairs.filter(F.col(_B) < kept).select(_C1, _C2, "user_hash", "n", "sum_y").toPandas()
    finally:
        pairs.unpersist()
    cell_ids = np.unique(table[[_C1, _C2]].to_numpy(np.int64), axis=0, return_inverse=True)[1].reshape(-1)
    order = np.lexsort((table["user_hash"].to_numpy(np.int64), cell_ids))  # independent of Spark's partitioning
    return PlaceboPairs(cell=cell_ids[order], user_hash=table["user_hash"].to_numpy(np.int64)[order],
                        n=table["n"].to_numpy(np.int64)[order], sum_y=table["sum_y"].to_numpy(float)[order],
                        pairs_total=pairs_total, cells_total=cells_total)
