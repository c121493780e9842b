"""Catalog tables as input: `[input] table = "db.rides"` with an optional `where`.

The table is looked up and the predicate checked against its columns before
anything is scanned; the files the filtered scan will read (after partition
pruning) are listed and fingerprinted like a path's, so the report describes
the table that was audited, not an export of it.
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import unquote, urlparse

from pyspark.errors import AnalysisException, PySparkException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from auditor.spec import InputSpec
from auditor.fingerprint import sha256_of
from auditor.errors import AuditConfigError, AuditInputError
from auditor.engine.ingest import InputFile


@dataclass(frozen=True)
class TableSource:
    """Provenance of a catalog table input: what was read, in which format, which partitions."""

    name: str  # as configured
    qualified: str  # the catalog's full name, e.g. spark_catalog.rides_db.rides
    format: str  # the table's provider: parquet, orc, hive, delta, iceberg, ...
    location: str | None
    where: str | None
    partition_columns: tuple[str, ...]
    partitions: tuple[str, ...]  # partitions read after pruning, e.g. "day=2026-09-01"

    def to_json(self) -> dict:
        return {"name": self.name, "qualified": self.qualified, "format": self.format, "location": self.location,
                "where": self.where, "partition_columns": list(self.partition_columns),
                "partitions": list(self.partitions)}


def scan(spark: SparkSession, spec: InputSpec) -> DataFrame:
    """The table, filtered by `where`; a missing table or a bad predicate is one clear line."""
    try:
        with _quiet_analysis():
            frame = spark.table(spec.table)
    except AnalysisException as exc:
        raise AuditInputError(
            f"[input] table = {spec.table!r}: no such table in the catalog ({_first_line(exc)}); "
            "check the name, or the session's catalog and warehouse settings") from None
    if not spec.where:
        return frame
    try:
        with _quiet_analysis():
            filtered = frame.filter(F.expr(spec.where))
            filtered.schema  # analysis: unknown columns and non-boolean predicates fail here, before any scan
    except PySparkException as exc:
        raise AuditConfigError(
            f"[input] where = {spec.where!r} is not a valid predicate on {spec.table}: {_first_line(exc)}") from None
    return filtered


def describe(spark: SparkSession, spec: InputSpec, frame: DataFrame) -> tuple[TableSource, tuple[InputFile, ...]]:
    """The table's provenance and the files the (pruned) scan reads, fingerprinted."""
    details = {}
    for row in spark.sql(f"DESCRIBE TABLE EXTENDED {spec.table}").collect():
        details.setdefault(row["col_name"].strip(), (row["data_type"] or "").strip())
    partition_columns = _partition_columns(spark, spec.table)
    uris = sorted(frame.inputFiles())
    partitions = sorted({"/".join(part for part in unquote(urlparse(uri).path).split("/")[:-1]
                                  if part.split("=", 1)[0] in partition_columns and "=" in part)
                         for uri in uris} - {""})
    qualified = ".".join(details[k] for k in ("Catalog", "Database", "Table") if details.get(k)) or spec.table
    source = TableSource(
        name=spec.table, qualified=qualified,
        format=(details.get("Provider") or "unknown").lower(),
        location=details.get("Location") or None, where=spec.where,
        partition_columns=partition_columns, partitions=tuple(partitions))
    return source, tuple(_fingerprint(spark, uri) for uri in uris)


def _fingerprint(spark: SparkSession, uri: str) -> InputFile:
    """A local file's size and SHA-256; a remote file's size from its file system (no hash: not read twice)."""
    path = local_path(uri)
    if path is not None:
        return InputFile(path=path, bytes=os.path.getsize(path), sha256=sha256_of(path))
    jvm_path = spark._jvm.org.apache.hadoop.fs.Path(uri)
    status = jvm_path.getFileSystem(spark._jsc.hadoopConfiguration()).getFileStatus(jvm_path)
    return InputFile(path=uri, bytes=int(status.getLen()), sha256=None)


def _partition_columns(spark: SparkSession, name: str) -> tuple[str, ...]:
    try:
        return tuple(c.name for c in spark.catalog.listColumns(name) if c.isPartition)
    except AnalysisException:
        return ()


@contextmanager
def _quiet_analysis():
    """PySpark logs every analysis error with its stack before raising it; the one-line error says enough."""
    loggers = [logging.getLogger(name) for name in ("DataFrameQueryContextLogger", "SQLQueryContextLogger")]
    before = [logger.disabled for logger in loggers]
    for logger in loggers:
        logger.disabled = True
    try:
        yield
    finally:
        for logger, disabled in zip(loggers, before):
            logger.disabled = disabled


def local_path(uri: str) -> str | None:
    """The local path of a file: URI, or None for a remote one (hdfs://, s3a://, ...)."""
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        return os.path.realpath(unquote(parsed.path))
    return None


def _first_line(exc: Exception) -> str:
    text = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return text[0][:300] if text else type(exc).__name__
