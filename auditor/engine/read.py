"""The input ingest reads: its files listed and fingerprinted, its schema, and its rows as read, every field of a
text format as text (auditor.engine.ingest)."""

from __future__ import annotations

import os
from urllib.parse import unquote, urlparse

from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from auditor.engine.classify import _stripped
from auditor.engine.columns import _CORRUPT, _FILE, _LINE, _LINE_SPLIT, _ORDER, _PARSED, USER, _q
from auditor.errors import AuditInputError
from auditor.fingerprint import sha256_of
from auditor.preflight import check_column_names, input_paths
from auditor.spec import AuditConfig
from auditor.summaries import InputFile


def list_input_files(path: str) -> tuple[InputFile, ...]:
    """The local files a path, folder or glob stands for, fingerprinted (remote URIs are left to Spark)."""
    return tuple(InputFile(path=f, bytes=os.path.getsize(f), sha256=sha256_of(f)) for f in input_paths(path))


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
