"""Ingest and validate: every row read is accepted or rejected with one reason.

Invariant: rows_read == rows_accepted + rows_rejected. Rejected rows are kept,
with their reason and source file, so nothing read is lost.

Every row is classified once: the classified rows (the audited columns as read,
the reason, and the file and raw line of rejected rows) are persisted, and the
counts, the rejected rows, the duplicate check and the accepted rows are all
read from that one result, so findings.json and rejected/ cannot disagree.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from functools import reduce
from urllib.parse import unquote, urlparse

from pyspark import StorageLevel
from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from auditor.spec import AuditConfig
from auditor.spec.types import DISCLOSED_VALUES
# What ingest reports (no Spark in them): findings and the report read these types.
from auditor.summaries import DataQuality, InputFile  # noqa: F401
from auditor.errors import AuditConfigError, AuditInputError, NothingToCompare
from auditor.preflight import check_column_names, input_paths
from auditor.vocabulary import RejectReason

# Reject reasons (vocabulary.RejectReason), in the order they are checked: a row gets the first that applies.
REASONS = tuple(reason.value for reason in RejectReason)

# Internal names for the role columns (platform columns keep their own names).
TID, USER, TS, PRICE = "__tid", "__user", "__ts", "__price"
# Optional parts, present when configured: list price, discount, net price, quote fields, lawful factors.
LIST, DISCOUNT, NET, QUOTED, EVENT, REQUEST, DECLARED, DISCLOSED = (
    "__list", "__discount", "__net", "__quoted", "__event", "__request", "__declared", "__disclosed")
_CORRUPT, _FILE, _ORDER, _REASON = "__corrupt_record", "__source_file", "__order", "__reason"
_LINE, _LINE_SPLIT, _PARSED = "__line", "__line_split", "__parsed"
_FIRST, _COPIES = "__first_copy", "__copies"

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


def list_input_files(path: str) -> tuple[InputFile, ...]:
    """The local files a path, folder or glob stands for, fingerprinted (remote URIs are left to Spark)."""
    return tuple(InputFile(path=f, bytes=os.path.getsize(f), sha256=_sha256(f)) for f in input_paths(path))


def list_inputs(spark: SparkSession, config: AuditConfig):
    """The files an audit reads, fingerprinted, and for a catalog table its provenance (else None)."""
    if not config.input.table:
        return list_input_files(config.input.path), None
    from auditor.engine.catalog import describe, scan
    source, files = describe(spark, config.input, scan(spark, config.input))
    return files, source


def check_files_read(frame: DataFrame, inputs: tuple[InputFile, ...]) -> None:
    """The files Spark is about to read must be the files listed and fingerprinted.

    A file that lands in (or leaves) the input folder between the two would be
    audited without a fingerprint (or fingerprinted without being audited).
    """
    if not inputs:  # remote input: Spark's listing is the only one
        return
    seen = {os.path.realpath(unquote(urlparse(uri).path)) for uri in frame.inputFiles()}
    listed = {os.path.realpath(f.path) for f in inputs}
    extra, missing = sorted(seen - listed), sorted(listed - seen)
    if extra or missing:
        example = f"e.g. {extra[0]} is read but was not listed" if extra else f"e.g. {missing[0]} was listed but is not read"
        raise AuditInputError(
            f"[input] path: the input changed while the audit started ({len(listed):,} files listed and "
            f"fingerprinted, {len(seen):,} about to be read; {example}): re-run once the input is complete")


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _reader(spark: SparkSession, config: AuditConfig):
    spec = config.input
    if spec.format == "csv":
        return spark.read.option("header", True).option("sep", spec.csv_delimiter).option("multiLine", False)
    if spec.format == "json":  # JSON as written: a line in single quotes is not JSON, whatever Spark would allow
        return spark.read.option("allowSingleQuotes", False)
    return spark.read


def input_schema(spark: SparkSession, config: AuditConfig) -> T.StructType:
    """The input's columns, read from footers or header, before any full scan."""
    spec = config.input
    if spec.table:
        from auditor.engine.catalog import scan
        return scan(spark, spec).schema
    try:
        if spec.format == "parquet":
            return spark.read.parquet(spec.path).schema
        if spec.format == "csv":
            return _reader(spark, config).csv(spec.path).schema  # header only: no inferSchema
        return _reader(spark, config).json(spec.path).schema  # JSON has no header: Spark scans to learn fields
    except AnalysisException as exc:
        raise AuditInputError(f"[input] path: Spark cannot read {spec.path} as {spec.format}: {_first_line(exc)}") from None
    except Exception as exc:  # a corrupt file surfaces as a Java error: name it, not its stack
        raise AuditInputError(f"[input] {spec.path} is not readable as {spec.format}: {_first_line(exc)}") from None


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def check_columns(schema: T.StructType, config: AuditConfig) -> None:
    """Every configured column must exist in the input: name the key and the nearest column."""
    check_column_names([f.name for f in schema.fields], config)


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


def attribute_source(spark: SparkSession, config: AuditConfig) -> tuple[DataFrame, list[str]]:
    """The input read again for the personalisation search: the user id and every column it may scan.

    Ingest keeps the audited columns only, so the main audit's cache and shuffles do not grow with the
    log's width; the search reads the rest here, in one aggregation per user (auditor.engine.personal.
    user_attributes). Every row with a user id counts, accepted or not: a rejected price does not
    change the user's phone model. Nested columns (structs, arrays, maps) are not scanned.
    """
    schema = input_schema(spark, config)
    excluded = set(config.not_attributes)
    names = [f.name for f in schema.fields if f.name not in excluded and f.name != "_corrupt_record"
             and not isinstance(f.dataType, (T.StructType, T.ArrayType, T.MapType))]
    spec = config.input
    if spec.table:
        from auditor.engine.catalog import scan
        frame = scan(spark, spec)
    elif spec.format == "parquet":
        frame = spark.read.parquet(spec.path)
    elif spec.format == "csv":
        frame = _reader(spark, config).csv(spec.path)  # every field as text
    else:
        text_schema = T.StructType([T.StructField(f.name, T.StringType()) for f in schema.fields
                                    if f.name != "_corrupt_record"])
        frame = _reader(spark, config).schema(text_schema).json(spec.path)
    user = _stripped(config.columns.user_id)
    return (frame.select(F.when(user != "", user).alias(USER), *[F.col(_q(c)) for c in names]), names)


def _q(name: str) -> str:
    """Quote a platform column name for Spark (names may hold dots or spaces)."""
    return "`" + name.replace("`", "``") + "`"


def _key_and_segment_columns(config: AuditConfig) -> list[str]:
    return [*config.match.exact, *(name for name, _ in config.match.bins), *config.segment_columns,
            *config.context_columns]


def nanosecond_columns(inputs: tuple[InputFile, ...], config: AuditConfig) -> frozenset[str]:
    """Parquet columns stored as nanosecond timestamps (pandas' default).

    Spark cannot read those as timestamps; it reads them as long nanoseconds
    (spark.sql.legacy.parquet.nanosAsLong), and the footer tells us which they are.
    """
    if config.input.format != "parquet" or not inputs:
        return frozenset()
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        stored = pq.ParquetFile(inputs[0].path).schema
    except (OSError, pa.ArrowException):
        return frozenset()
    # Only INT64 nanoseconds: Spark's own INT96 timestamps also surface in Arrow as "ns", and Spark reads them fine.
    columns = (stored.column(i) for i in range(len(stored)))
    return frozenset(c.name for c in columns if c.physical_type == "INT64"
                     and "nanoseconds" in str(c.logical_type).lower() and "timestamp" in str(c.logical_type).lower())


def _read(spark: SparkSession, config: AuditConfig, schema: T.StructType) -> DataFrame:
    spec = config.input
    if spec.table:
        from auditor.engine.catalog import scan
        frame = scan(spark, spec).withColumn(_CORRUPT, F.lit(None).cast("string"))
    elif spec.format == "parquet":
        frame = spark.read.parquet(spec.path).withColumn(_CORRUPT, F.lit(None).cast("string"))
    elif spec.format == "csv":
        frame = _read_csv(spark, config, schema)
    else:
        # Text formats are read as strings so that a bad value is rejected with its
        # reason instead of silently becoming null.
        text_schema = T.StructType([T.StructField(f.name, T.StringType()) for f in schema.fields
                                    if f.name != "_corrupt_record"] + [T.StructField(_CORRUPT, T.StringType())])
        frame = (_reader(spark, config).schema(text_schema).option("mode", "PERMISSIVE")
                 .option("columnNameOfCorruptRecord", _CORRUPT).json(spec.path))
    return frame.select(*[F.col(_q(c)) for c in config.used_columns], _CORRUPT,
                        F.input_file_name().alias(_FILE), F.monotonically_increasing_id().alias(_ORDER))


def _read_csv(spark: SparkSession, config: AuditConfig, schema: T.StructType) -> DataFrame:
    """CSV records parsed whole, every field as text, with the raw line of each kept at hand.

    Spark's CSV reader parses only the fields a query uses (column pruning), so
    a line with a field too many, or a quote that shifts the fields after the
    audited ones, would pass or fail depending on which columns the config
    names. Here each line is read whole (the reader skips each file's header
    and blank lines as it always does) and parsed with every header column,
    whatever the query uses: a line that does not split into exactly those
    fields, or whose quotes do not pair up (a quote opened and never closed,
    a stray quote), is malformed, with its raw text. Quotes inside a quoted
    value are doubled (RFC 4180, as Python's csv, pandas and Excel write them).
    """
    spec = config.input
    lines = (spark.read.option("header", True).option("multiLine", False)
             .option("sep", "\u0000").option("quote", "").option("escape", "")  # one field: the whole line
             .option("mode", "PERMISSIVE").option("columnNameOfCorruptRecord", _LINE_SPLIT)
             .schema(T.StructType([T.StructField(_LINE, T.StringType()), T.StructField(_LINE_SPLIT, T.StringType())]))
             .csv(spec.path))
    # A line holding a NUL is split by the reader: its whole text is then in the corrupt-record column.
    line = F.coalesce(F.col(_LINE_SPLIT), F.col(_LINE))
    fields = [f.name for f in schema.fields]
    ddl = ", ".join(f"{_q(name)} STRING" for name in [*fields, _CORRUPT])
    parsed = F.from_csv(line, F.lit(ddl), {"sep": spec.csv_delimiter, "quote": '"', "escape": '"',
                                           "mode": "PERMISSIVE", "columnNameOfCorruptRecord": _CORRUPT})
    unpaired_quotes = (F.length(line) - F.length(F.translate(line, '"', ""))) % 2 == 1
    record = lines.select(line.alias(_LINE), parsed.alias(_PARSED), unpaired_quotes.alias("__unpaired"))
    malformed = F.col(_PARSED).getField(_CORRUPT).isNotNull() | F.col("__unpaired")
    return record.select(*[F.col(_PARSED).getField(name).alias(name) for name in fields],
                         F.when(malformed, F.col(_LINE)).alias(_CORRUPT))


# Around a value, these count as blank: ASCII whitespace, no-break and ideographic (full-width) spaces.
BLANK = " \t\n\r\f\x0b\u00a0\u3000"
# A plain decimal number, optionally signed, with an exponent. Spark's cast alone also
# accepts Java's forms ('12.5d', '12.5f', '0x1p3'), which no price log means.
_DECIMAL = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"


def _stripped(column: str):
    """The value as text without blank edges.

    btrim, not the two-argument trim: Spark logs a deprecation warning for every query planned with
    TRIM(str, chars), which a notebook shows under each cell."""
    return F.btrim(F.col(_q(column)).cast("string"), F.lit(BLANK))


def _as_number(column: str, dtype: T.DataType):
    if isinstance(dtype, T.NumericType):
        return F.col(_q(column)).cast("double")
    text = _stripped(column)
    return F.when(text.rlike(_DECIMAL), text.try_cast("double"))


def _as_timestamp(column: str, dtype: T.DataType, nanos: bool = False):
    col = F.col(_q(column))
    if nanos:
        return F.timestamp_micros(F.floor(col / 1000))
    if isinstance(dtype, (T.TimestampType, T.TimestampNTZType, T.DateType)):
        return col.cast("timestamp")
    if isinstance(dtype, T.NumericType):  # epoch seconds
        return F.timestamp_seconds(col.cast("double"))
    text = _stripped(column)
    # Spark turns 'yesterday', 'now', 'epoch' into real timestamps; a log never means those.
    return F.when(text.rlike(r"^[0-9]{4}-"), text.try_cast("timestamp"))


def _is_missing(column: str, dtype: T.DataType):
    col = F.col(_q(column))
    if isinstance(dtype, T.StringType):
        return col.isNull() | (_stripped(column) == "")
    return col.isNull()


def _is_bad_number(parsed):
    return parsed.isNull() | F.isnan(parsed) | (F.abs(parsed) == float("inf"))


def _column_types(schema: T.StructType, config: AuditConfig) -> dict[str, T.DataType]:
    """Each input column's type as ingest reads it: text formats are all text (tables and Parquet typed)."""
    if not config.input.typed:
        return {f.name: T.StringType() for f in schema.fields}
    return {f.name: f.dataType for f in schema.fields}


def _reason(config: AuditConfig, types: dict, nanos: frozenset[str]):
    """The first reject reason that applies to a row as read (null: valid), duplicates aside."""
    cols = config.columns
    numbers = [_as_number(cols.price, types[cols.price])]
    numbers += [_as_number(name, types[name]) for name, _ in config.match.bins]
    timestamp = _as_timestamp(cols.timestamp, types[cols.timestamp], cols.timestamp in nanos)

    missing = F.lit(False)
    for column in config.required_columns:
        missing = missing | _is_missing(column, types[column])
    bad_number = F.lit(False)
    for parsed in numbers:
        bad_number = bad_number | _is_bad_number(parsed)
    parts = _price_parts(config, types)
    for name in ("list_price", "net_price"):
        column = getattr(config.parts, name)
        if column:
            missing = missing | _is_missing(column, types[column])
    for column in config.parts.columns:
        raw_value = F.col(_q(column))
        bad_number = bad_number | (raw_value.isNotNull() & _is_bad_number(_as_number(column, types[column])))
    nonpositive = numbers[0] <= 0
    if parts:
        nonpositive = nonpositive | (parts[LIST] <= 0) | (parts[NET] <= 0)

    return (F.when(F.col(_CORRUPT).isNotNull(), RejectReason.MALFORMED_RECORD.value)
            .when(missing, RejectReason.MISSING_VALUE.value)
            .when(bad_number, RejectReason.UNPARSEABLE_NUMBER.value)
            .when(timestamp.isNull(), RejectReason.UNPARSEABLE_TIMESTAMP.value)
            .when(nonpositive, RejectReason.NONPOSITIVE_PRICE.value))


def _typed_columns(config: AuditConfig, types: dict, nanos: frozenset[str]) -> list:
    """An accepted row's columns as the audit reads them: roles and parts parsed, keys and segments as given.

    Group segments are compared as text (config values are text); dose segments and
    binned columns as parsed numbers (an unparseable dose leaves the row out of that segment only).
    """
    cols = config.columns
    typed = [_stripped(cols.transaction_id).alias(TID), _stripped(cols.user_id).alias(USER),
             _as_timestamp(cols.timestamp, types[cols.timestamp], cols.timestamp in nanos).alias(TS),
             _as_number(cols.price, types[cols.price]).alias(PRICE)]
    optional = {**_price_parts(config, types), **_extras(config, types)}
    typed += [optional[name].alias(name) for name in optional_internal_columns(config)]
    numeric = {name for name, _ in config.match.bins} | set(config.dose_columns)
    for name in dict.fromkeys(_key_and_segment_columns(config)):
        if name in numeric:
            value = _as_number(name, types[name])
        elif name in config.segment_columns:
            value = F.col(_q(name)).cast("string")
        else:
            value = F.col(_q(name))
        typed.append(value.alias(name))
    return typed


def _price_parts(config: AuditConfig, types: dict) -> dict:
    """List price, discount and net price; the missing one derived from the other two.

    A missing discount means none was given (0); list and net prices must be present.
    """
    parts = config.parts
    if not parts.complete:
        return {}
    given = {role: _as_number(getattr(parts, name), types[getattr(parts, name)])
             for role, name in ((LIST, "list_price"), (DISCOUNT, "discount"), (NET, "net_price")) if getattr(parts, name)}
    if DISCOUNT in given:
        given[DISCOUNT] = F.coalesce(given[DISCOUNT], F.lit(0.0))
    if LIST not in given:
        given[LIST] = given[NET] + given[DISCOUNT]
    if NET not in given:
        given[NET] = given[LIST] - given[DISCOUNT]
    if DISCOUNT not in given:
        given[DISCOUNT] = given[LIST] - given[NET]
    return given


def _extras(config: AuditConfig, types: dict) -> dict:
    """Quote fields and the declared-adjustment flag, as typed internal columns."""
    out = {}
    quotes = config.quotes
    if quotes:
        out[EVENT] = F.trim(F.col(_q(quotes.event_column)).cast("string"))
        if quotes.quoted_price:
            out[QUOTED] = _as_number(quotes.quoted_price, types[quotes.quoted_price])
        if quotes.request_id:
            out[REQUEST] = F.col(_q(quotes.request_id)).cast("string")
    if _reads_disclosure(config):  # the consumer was told the price was personalised: true, 1, yes, y or t
        flag = F.lower(_stripped(config.columns.disclosed))
        out[DISCLOSED] = F.coalesce(flag.isin(*DISCLOSED_VALUES), F.lit(False))
    if config.adjustments:
        out[DECLARED] = reduce(lambda a, b: a | b, [
            F.coalesce(F.col(_q(a.column)).cast("string") == a.value, F.lit(False)) for a in config.adjustments])
    return out


def optional_internal_columns(config: AuditConfig) -> list[str]:
    """The internal columns _classify adds for this config."""
    cols = [LIST, DISCOUNT, NET] if config.parts.complete else []
    if config.quotes:
        cols.append(EVENT)
        cols += [QUOTED] if config.quotes.quoted_price else []
        cols += [REQUEST] if config.quotes.request_id else []
    if config.adjustments:
        cols.append(DECLARED)
    if _reads_disclosure(config):
        cols.append(DISCLOSED)
    return cols


def _reads_disclosure(config: AuditConfig) -> bool:
    return bool(config.columns.disclosed) and config.personalisation.enabled


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
