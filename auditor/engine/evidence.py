"""Evidence cells: the heaviest matched cells of each group comparison, with each side's rows, distinct
users and median price, for the findings to publish those that single no one out."""

from __future__ import annotations

import math

from pyspark import StorageLevel
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from auditor.engine.ingest import PRICE, USER
from auditor.engine.match import TIME_BUCKET, bucket_start, cell_columns
from auditor.engine.rows import C1, C2, K, X, explode, quote_name, with_conversion
from auditor.engine.sums import EVIDENCE_SUMS
from auditor.spec import AuditConfig
from auditor.summaries import EvidenceCell

# Candidate evidence cells per comparison: the heaviest, of which the findings publish the first few
# that hold enough users on each side.
EVIDENCE_SCANNED = 25


def evidence_cells(accepted: DataFrame, users: DataFrame, config: AuditConfig, items, totals, wanted: list[int],
                   scan: int = EVIDENCE_SCANNED):
    """The heaviest matched cells of each group comparison, heaviest first, with each side's rows,
    distinct users and median price, and the cells' key values.

    What may be published (report.min_cell_size distinct users on each side, so no
    cell singles anyone out) is the findings' policy, not the engine's: every
    candidate comes back with its user counts (auditor.findings.published_evidence).
    """
    candidates = _candidates(users, scan)
    if not candidates:
        return {}
    shown, binned = _shown(config)
    frame = with_conversion(accepted, config, items).withColumns(binned)
    picked = frame.sparkSession.createDataFrame([(int(r[K]), int(r[C1]), int(r[C2])) for r in candidates],
                                                [K, C1, C2])
    rows = (explode(frame, config, tuple(c for c in items if c.id in wanted),
                    keep=[*dict.fromkeys(shown.values()), PRICE], cells=sorted({int(r[C1]) for r in candidates}))
            .join(F.broadcast(picked), [K, C1, C2])
            # Read twice below: kept on disk once, so the purchases are scanned once (a few cells'
            # rows, though a hot cell among them may hold millions).
            .persist(StorageLevel.DISK_ONLY))
    info = _sides(rows, shown)
    rows.unpersist()
    out: dict[int, list] = {}
    for row in sorted(candidates, key=lambda r: (r[K], r["rank"])):
        out.setdefault(row[K], []).append(_cell(row, info.get((row[K], row[C1], row[C2]), {}), totals, list(shown)))
    return {k: tuple(out.get(k, ())) for k in wanted}


def _candidates(users: DataFrame, scan: int) -> list:
    """The `scan` heaviest supported cells of each comparison (the per-user table's cell rows)."""
    heavy = Window.partitionBy(K).orderBy(F.desc("b_cell"), C1, C2)
    return (users.filter(F.col(USER).isNull())
            .groupBy(K, C1, C2).agg(*[F.max(f"e_{c}").alias(c) for c in EVIDENCE_SUMS])
            .select(K, C1, C2, *EVIDENCE_SUMS, F.row_number().over(heavy).alias("rank"))
            .filter(F.col("rank") <= scan).collect())


def _shown(config: AuditConfig) -> tuple[dict[str, str], dict]:
    """Cell keys as the report shows them (key -> column): the time bucket's start and each bin's lower edge,
    computed beside the raw columns, which the cell hash is taken from; and those computed columns."""
    match = config.match
    shown = {c: c for c in cell_columns(match)}
    shown.update({name: f"__edge{i}" for i, (name, _) in enumerate(match.bins)})
    if config.steering:
        shown.update({c: shown.get(c, c) for c in config.steering.context})
    binned = {TIME_BUCKET: bucket_start(match.time_bucket_seconds)} if match.time_bucket_seconds else {}
    binned.update({shown[name]: F.floor(F.col(quote_name(name)) / width) * width for name, width in match.bins})
    return shown, binned


def _sides(rows: DataFrame, shown: dict[str, str]) -> dict[tuple, dict]:
    """Each candidate cell's sides (1.0 group, 0.0 reference): median price, distinct users, key values.

    Medians and distinct users in aggregations of their own: beside a distinct count, Spark would keep a
    quantile digest per (cell, side, user) and merge them one by one, which in a cell of a million rides
    from a hundred thousand riders takes tens of minutes."""
    detail = rows.groupBy(K, C1, C2, X).agg(F.percentile_approx(PRICE, 0.5, 10000).alias("median"),
                                            *[F.first(quote_name(shown[k])).alias(k) for k in shown]).collect()
    users = {(r[K], r[C1], r[C2], r[X]): int(r["users"]) for r in
             rows.select(K, C1, C2, X, USER).distinct().groupBy(K, C1, C2, X).count()
             .withColumnRenamed("count", "users").collect()}
    info: dict[tuple, dict] = {}
    for r in detail:
        info.setdefault((r[K], r[C1], r[C2]), {})[r[X]] = {**r.asDict(), "users": users.get((r[K], r[C1], r[C2], r[X]), 0)}
    return info


def _cell(row, sides: dict, totals, keys: list[str]) -> EvidenceCell:
    """One candidate cell with its sides' users and medians and its share of the comparison's weight."""
    users_g, users_r = (int(sides[x]["users"]) if x in sides else 0 for x in (1.0, 0.0))
    any_side = next(iter(sides.values()))
    total = totals[row[K]]["b_total"]
    return EvidenceCell(
        keys={k: _plain(any_side[k]) for k in keys if k != TIME_BUCKET},
        time_bucket=int(any_side[TIME_BUCKET]) if TIME_BUCKET in keys else None,
        rows_group=int(row["c_sx"]), rows_reference=int(row["c_n"] - row["c_sx"]),
        users_group=users_g, users_reference=users_r,
        median_group=float(sides[1.0]["median"]) if 1.0 in sides else math.nan,
        median_reference=float(sides[0.0]["median"]) if 0.0 in sides else math.nan,
        weight_share=float(row["b_cell"]) / float(total) if total else math.nan)


def _plain(value):
    """Key values as JSON-friendly scalars (bins are floats, keys may be any type)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value if isinstance(value, (int, float, str, bool)) or value is None else str(value)
