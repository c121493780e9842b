"""Ingest and validate: every row read is accepted or rejected with one reason.

Invariant: rows_read == rows_accepted + rows_rejected. Rejected rows are kept,
with their reason and source file, so nothing read is lost.

Every row is classified once: the classified rows (the audited columns as read,
the reason, and the file and raw line of rejected rows) are persisted, and the
counts, the rejected rows, the duplicate check and the accepted rows are all
read from that one result, so findings.json and rejected/ cannot disagree.

The input (auditor.engine.read), the internal column names (auditor.engine.columns) and each row's reason
and typed columns (auditor.engine.classify) live beside this module; their names are importable from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from auditor.engine.classify import (BLANK, _as_number, _as_timestamp, _column_types, _reason,  # noqa: F401
                                     _stripped, _typed_columns, optional_internal_columns)
from auditor.engine.columns import (_COPIES, _CORRUPT, _FILE, _FIRST, _ORDER, _REASON, DECLARED,  # noqa: F401
                                    DISCLOSED, DISCOUNT, EVENT, LIST, NET, PRICE, QUOTED, REASONS, REQUEST, TID,
                                    TS, USER, _q)
from auditor.engine.read import (_read, attribute_source, check_columns, check_files_read,  # noqa: F401
                                 input_schema, list_input_files, list_inputs, nanosecond_columns)
# What ingest reports (no Spark in them): findings and the report read these types.
from auditor.summaries import DataQuality, InputFile  # noqa: F401
from auditor.errors import AuditConfigError, AuditInputError, NothingToCompare
from auditor.spec import AuditConfig
from auditor.vocabulary import RejectReason

# Up to this many duplicated ids are broadcast to the scan (a few tens of MB on the
# driver); beyond it they are joined by a shuffle, so the driver stays bounded.
BROADCAST_DUPLICATE_IDS = 1_000_000


@dataclass(frozen=True)
class Ingested:
    """Accepted rows (typed, pruned to the audit's columns) and the account of all rows."""

    accepted: DataFrame
    rejected: DataFrame
    quality: DataQuality
    inputs: tuple[InputFile, ...]
    segment_values: dict[str, dict[str, int]]  # column -> {configured value: accepted rows}
    cached: DataFrame  # the classified rows, persisted once; accepted and rejected are read from it
    segment_rows_read: dict[str, dict[str, int]] = field(default_factory=dict)  # the same, over all rows read

    def release(self) -> None:
        """Free what ingest cached once the audit is done with it."""
        self.cached.unpersist()


def ingest(spark: SparkSession, config: AuditConfig, inputs: tuple[InputFile, ...] | None = None) -> Ingested:
    """Read the log, classify every row once, and count the outcome.

    One scan reads and classifies the rows into a narrow persisted frame (the
    audited columns as read, the reason, the position); the transaction ids
    with more than one valid copy are found from it, later copies are marked,
    and that result is persisted in turn while one aggregation counts it. The
    counts, rejected/, the segment counts and the accepted rows are all read
    from this one classified frame: they agree row for row, and no later step
    re-reads the input, re-classifies or repeats the duplicate join.
    """
    if inputs is None:
        inputs = list_inputs(spark, config)[0]
    schema = input_schema(spark, config)
    check_columns(schema, config)
    raw = _read(spark, config, schema)
    check_files_read(raw, inputs)
    types = _column_types(schema, config)
    nanos = nanosecond_columns(inputs, config)
    audited = [F.col(_q(c)) for c in config.used_columns]

    # The row-sized caches are kept on local disk only. In memory they would hold Spark's storage
    # pool against the estimate's aggregations, and a block read back from disk into memory is
    # read whole (a 1 GiB driver died of that at 10M rows); from disk each block streams in
    # batches, so memory stays bounded whatever the input's size. Input splits are sized by rows
    # (auditor.engine.session.size_input_splits), so no block is larger than about a million rows.
    first = raw.select(*audited, _CORRUPT, _FILE, _ORDER, _stripped(config.columns.transaction_id).alias(TID),
                       _reason(config, types, nanos).alias(_REASON)).persist(StorageLevel.DISK_ONLY)
    duplicated = _duplicated_ids(first).persist(StorageLevel.MEMORY_AND_DISK)  # ids only, rarely many
    broadcast = duplicated.count() <= BROADCAST_DUPLICATE_IDS
    rejected_only = F.col(_REASON).isNotNull()
    classified = _mark_duplicates(first, duplicated, broadcast).select(
        *audited, _REASON, F.when(rejected_only, F.col(_FILE)).alias(_FILE),
        F.when(rejected_only, F.col(_CORRUPT)).alias(_CORRUPT)).persist(StorageLevel.DISK_ONLY)
    counts = _count(classified, config)  # builds the classified cache; the first one is no longer needed
    first.unpersist()
    duplicated.unpersist()

    rows_read = counts.pop("__rows_read")
    by_reason = {r: counts.pop(f"__reason:{r}") for r in REASONS}
    rejected = sum(by_reason.values())
    segment_values, segment_rows_read = {}, {}
    for seg in config.segments:
        if seg.kind != "group":
            continue
        segment_values.setdefault(seg.column, {})
        segment_rows_read.setdefault(seg.column, {})
        for value in (seg.reference, *seg.groups):
            segment_values[seg.column][value] = counts[f"{seg.column}={value}"]
            segment_rows_read[seg.column][value] = counts[f"{seg.column}={value}|read"]
    quality = DataQuality(rows_read=rows_read, rows_accepted=rows_read - rejected, rows_rejected=rejected,
                          rejected_by_reason={r: n for r, n in by_reason.items() if n})
    accepted = classified.filter(F.col(_REASON).isNull()).select(*_typed_columns(config, types, nanos))
    rejected_rows = classified.filter(rejected_only).select(
        F.col(_REASON).alias("reason"), F.col(_FILE).alias("source_file"), *[
            F.col(_q(c)).cast("string").alias(c) for c in config.used_columns], F.col(_CORRUPT).alias("raw_record"))
    return Ingested(accepted=accepted, rejected=rejected_rows, quality=quality, inputs=inputs,
                    segment_values=segment_values, cached=classified, segment_rows_read=segment_rows_read)


def _position():
    """Where a row sits in the input: file, then order within the file (deterministic across scans)."""
    return F.struct(F.col(_FILE).alias("file"), F.col(_ORDER).alias("order"))


def _duplicated_ids(typed: DataFrame) -> DataFrame:
    """Transaction ids with more than one valid copy, and where the first copy sits.

    Only the id and the row's position cross the shuffle, not the row: dedup is
    the one step that must see every id together.
    """
    return (typed.filter(F.col(_REASON).isNull()).select(TID, _position().alias(_FIRST))
            .groupBy(TID).agg(F.count(F.lit(1)).alias(_COPIES), F.min(_FIRST).alias(_FIRST))
            .filter(F.col(_COPIES) > 1).select(TID, _FIRST))


def _mark_duplicates(typed: DataFrame, duplicated: DataFrame, broadcast: bool) -> DataFrame:
    """A later valid copy of a transaction id (in file order) is rejected; the first is kept."""
    joined = typed.join(F.broadcast(duplicated) if broadcast else duplicated, on=TID, how="left")
    later_copy = F.col(_REASON).isNull() & F.col(_FIRST).isNotNull() & (_position() != F.col(_FIRST))
    return joined.withColumn(_REASON, F.when(later_copy, F.lit(RejectReason.DUPLICATE_TRANSACTION_ID.value))
                             .otherwise(F.col(_REASON))).drop(_FIRST)


def _count(classified: DataFrame, config: AuditConfig) -> dict[str, int]:
    """Rows by reject reason and accepted rows by segment value, in one aggregation."""
    accepted = F.col(_REASON).isNull()
    exprs = [F.count(F.lit(1)).alias("__rows_read")]
    exprs += [F.count(F.when(F.col(_REASON) == r, 1)).alias(f"__reason:{r}") for r in REASONS]
    seen = set()
    for seg in config.segments:
        for value in (seg.reference, *seg.groups) if seg.kind == "group" else ():
            if (seg.column, value) not in seen:
                seen.add((seg.column, value))
                exprs.append(F.count(F.when(accepted & (F.col(_q(seg.column)).cast("string") == value), 1))
                             .alias(f"{seg.column}={value}"))
                exprs.append(F.count(F.when(F.col(_q(seg.column)).cast("string") == value, 1))
                             .alias(f"{seg.column}={value}|read"))  # rejected rows too: was it there at all?
    row = classified.agg(*exprs).first()
    return {k: int(v) for k, v in row.asDict().items()}


def check_segments(ingested: Ingested, config: AuditConfig) -> None:
    """A configured group or reference that never occurs is a config error, not an empty finding."""
    quality = ingested.quality
    if quality.rows_read == 0:  # e.g. remote files with a header and nothing else
        raise AuditInputError(f"[input] path: {config.input.path} has no rows: nothing to audit")
    # Rows that were there but all rejected are a data problem, not a spelling one: say which reasons.
    reasons = ", ".join(f"{reason} {n:,}" for reason, n in
                        sorted(quality.rejected_by_reason.items(), key=lambda kv: -kv[1]))
    if quality.rows_accepted == 0:
        raise NothingToCompare(
            f"[input] no row can be audited: all {quality.rows_read:,} rows read were rejected ({reasons}); "
            "check the columns named in [columns] and [match] against the data", ingested.rejected)
    for i, seg in enumerate(config.segments):
        if seg.kind != "group":
            continue
        counts = ingested.segment_values[seg.column]
        for key, value in [("reference", seg.reference), *(("groups", g) for g in seg.groups)]:
            read = ingested.segment_rows_read.get(seg.column, {}).get(value, 0)
            if counts[value] == 0 and read:
                raise NothingToCompare(
                    f"[segments[{i}]] {key}: the value {value!r} occurs in {read:,} rows of column {seg.column!r}, "
                    f"but every one of them was rejected ({quality.rows_rejected:,} of {quality.rows_read:,} rows "
                    f"rejected in all: {reasons})", ingested.rejected)
            if counts[value] == 0:
                raise AuditConfigError(
                    f"[segments[{i}]] {key}: the value {value!r} never occurs in column {seg.column!r} "
                    f"of the accepted rows; check its spelling and case against the data")
