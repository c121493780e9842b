"""Pre-flight: what can be checked from the input files before Spark starts.

A missing path, an empty file, a header without rows or a misspelled column
would otherwise surface only after Spark has started and scanned the input
(a minute or more). Here they are found from the files themselves in well
under a second: the file listing, the Parquet footer (pyarrow), the CSV header
line or the first JSON lines. Remote inputs (hdfs://, s3a://, ...) are left to
Spark's own checks. No Spark is imported here.
"""

from __future__ import annotations

import csv
import difflib
import glob
import itertools
import json
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from auditor.spec import AuditConfig
from auditor.errors import AuditConfigError, AuditInputError

# JSON lines have no header: the columns are the keys of the records in the first MiB.
JSON_SAMPLE_BYTES = 1 << 20
_BLANK_LINE = "".join(map(chr, range(33)))  # Spark skips a line of only these: not a row


@dataclass(frozen=True)
class InputOverview:
    """What pre-flight found: the files Spark will read and the columns they hold (local inputs only)."""

    path: str
    format: str
    files: tuple[str, ...]
    bytes: int
    columns: tuple[str, ...]

    @property
    def remote(self) -> bool:
        return is_remote(self.path)


def is_remote(path: str) -> bool:
    """A URI Spark reads through a file system of its own (hdfs://, s3a://, ...), not this machine's."""
    return "://" in path and not path.startswith("file://")


def input_paths(path: str) -> tuple[str, ...]:
    """The local files a path, folder or glob stands for, as Spark would read them (remote: none)."""
    if is_remote(path):
        return ()
    local = path.removeprefix("file://")
    if glob.has_magic(local):
        candidates = sorted(glob.glob(local, recursive=True))
    elif os.path.exists(local):
        candidates = [local]
    else:
        raise AuditInputError(f"[input] path: {path} does not exist: check the path (relative paths are taken from the config file's folder)")
    files = []
    for name in candidates:
        if os.path.isdir(name):
            files += [str(p) for p in sorted(Path(name).rglob("*"))
                      if p.is_file() and not any(map(hidden, p.relative_to(name).parts))]
        else:  # a file named or matched by a glob is read even if its name looks hidden
            files.append(name)
    if not files:
        raise AuditInputError(f"[input] path: no files match {path}: check the path or glob")
    return tuple(files)


def hidden(name: str) -> bool:
    """Spark's rule for files and folders it skips: bookkeeping (_SUCCESS, _temporary) and hidden (.crc)
    names, but not partition folders such as _source=x, nor Parquet's summary files."""
    if name.startswith(("_common_metadata", "_metadata")):
        return False
    return (name.startswith("_") and "=" not in name) or name.startswith(".") or name.endswith("._COPYING_")


def preflight(config: AuditConfig) -> InputOverview:
    """Check the input against the config from the files alone; one AuditError line on the first problem."""
    spec = config.input
    if spec.table:  # a catalog table is checked against its catalog, in Spark
        return InputOverview(path=spec.table, format="table", files=(), bytes=0, columns=())
    if is_remote(spec.path):
        return InputOverview(path=spec.path, format=spec.format, files=(), bytes=0, columns=())
    files = input_paths(spec.path)
    sizes = {f: os.path.getsize(f) for f in files}
    nonempty = [f for f in files if sizes[f] > 0]
    if not nonempty:
        what = spec.path if len(files) == 1 else f"all {len(files):,} files of {spec.path}"
        raise AuditInputError(f"[input] path: {what} {'is' if len(files) == 1 else 'are'} empty (0 bytes): nothing to audit")
    reader = {"parquet": _parquet_columns, "csv": _csv_columns, "json": _json_columns}[spec.format]
    columns = reader(nonempty, config)
    columns += [c for c in partition_folders(files, spec.path) if c not in columns]
    check_column_names(columns, config, where=_where(nonempty[0], spec.path))
    return InputOverview(path=spec.path, format=spec.format, files=files, bytes=sum(sizes.values()),
                         columns=tuple(columns))


def _where(file: str, path: str) -> str:
    return "the input" if os.path.abspath(file) == os.path.abspath(path.removeprefix("file://")) else f"the input ({file})"


def _parquet_columns(files: list[str], config: AuditConfig) -> list[str]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows, columns = 0, None
    for file in files:  # the first file's footer names the columns; read on only while no file has rows
        try:
            meta = pq.read_metadata(file)
        except (OSError, pa.ArrowException) as exc:
            raise AuditInputError(f"[input] path: {file} is not a readable Parquet file ({_first_line(exc)}): "
                                  "check [input] format, or remove the file") from None
        if columns is None:
            columns = list(meta.schema.to_arrow_schema().names)
        rows += meta.num_rows
        if rows:
            return columns
    raise AuditInputError(f"[input] path: {config.input.path} has columns but no rows: nothing to audit")


def _csv_columns(files: list[str], config: AuditConfig) -> list[str]:
    header = None
    for file in files:
        with open(file, encoding="utf-8-sig", errors="replace", newline="") as handle:
            first = handle.readline()
            if header is None:
                header = next(csv.reader([first], delimiter=config.input.csv_delimiter), [])
                if not first.strip(_BLANK_LINE):
                    raise AuditInputError(f"[input] path: {file} has no header line (its first line is blank): "
                                          "a CSV input needs the column names on its first line")
            if any(line.strip(_BLANK_LINE) for line in handle):
                return header
    what = files[0] if len(files) == 1 else f"every file of {config.input.path}"
    raise AuditInputError(f"[input] path: {what} has a header but no rows: nothing to audit")


def _json_columns(files: list[str], config: AuditConfig) -> list[str]:
    keys: dict[str, None] = {}
    records = 0
    for file in files:
        with open(file, encoding="utf-8-sig", errors="replace") as handle:
            sample = handle.read(JSON_SAMPLE_BYTES)
        lines = sample.splitlines()
        if len(sample) == JSON_SAMPLE_BYTES and lines:
            lines.pop()  # the last line of a cut sample may be cut short
        for line in lines:
            if not line.strip(_BLANK_LINE):
                continue
            records += 1
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a malformed line is ingest's to reject, with its raw text
            if isinstance(record, dict):
                keys.update(dict.fromkeys(record))
        if keys:
            return list(keys)
    if records:
        raise AuditInputError(f"[input] path: no line at the start of {config.input.path} is a JSON object: "
                              "check [input] format (json means one JSON object per line)")
    raise AuditInputError(f"[input] path: {config.input.path} holds only blank lines: nothing to audit")


def partition_folders(files: tuple[str, ...], path: str) -> list[str]:
    """Hive-style partition folders (date=2026-09-07/) are columns Spark adds to every row."""
    root = path.removeprefix("file://")
    names: dict[str, None] = {}
    for file in files[:1000]:
        parent = Path(os.path.relpath(os.path.dirname(file), root)) if os.path.isdir(root) else Path(os.path.dirname(file))
        names.update(dict.fromkeys(part.split("=", 1)[0] for part in parent.parts if "=" in part))
    return list(names)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def check_column_names(available: list[str], config: AuditConfig, where: str = "the input") -> None:
    """Every configured column must exist in the input: name the key and the nearest column."""
    if not available:
        raise AuditInputError(f"[input] path: {config.input.path} has no columns: it is empty, or not "
                              f"{config.input.format} (check [input] format)")
    for key, column in column_keys(config):
        if column not in available:
            close = difflib.get_close_matches(column, available, n=1)
            fix = f"did you mean {close[0]!r}?" if close else f"{where} has: {', '.join(available[:30])}"
            raise AuditConfigError(f"{key} = {column!r}: no such column in the input; {fix}")


def column_keys(config: AuditConfig):
    """(config key, column) for every column the config names."""
    for role in ("transaction_id", "user_id", "timestamp", "price"):
        yield f"[columns] {role}", getattr(config.columns, role)
    yield from (("[match] exact", column) for column in config.match.exact)
    yield from ((f"[match] bins.{column}", column) for column, _ in config.match.bins)
    yield from ((f"[segments[{i}]] column", seg.column) for i, seg in enumerate(config.segments))
    yield from _optional_keys("[columns]", config.parts, ("list_price", "discount", "net_price"))
    yield from _optional_keys("[quotes]", config.quotes, ("event_column", "quoted_price", "request_id"))
    yield from ((f"[adjustments[{i}]] column", adj.column) for i, adj in enumerate(config.adjustments))
    if config.steering:
        yield "[steering] column", config.steering.column
        yield from (("[steering] context", column) for column in config.steering.context)
    yield from (("[personalisation] columns", column) for column in config.attribute_columns)
    yield from _optional_keys("[columns]", config.columns, ("disclosed",))


def _optional_keys(table: str, section, keys: tuple[str, ...]):
    """(config key, column) for the keys of an optional section that name a column."""
    for key in keys:
        if section is not None and getattr(section, key):
            yield f"{table} {key}", getattr(section, key)


def sample_values(overview: InputOverview, columns: list[str], rows: int = 10_000,
                  delimiter: str = ",") -> tuple[int, dict[str, Counter]]:
    """Value counts of some columns over the first `rows` rows, read without Spark (a bounded read)."""
    counts = {c: Counter() for c in columns}
    seen = 0
    for file in overview.files:
        if seen >= rows:
            break
        for record in sample_records(file, overview.format, columns, rows - seen, delimiter):
            seen += 1
            for c in columns:
                value = record.get(c)
                counts[c][None if value is None or value == "" else str(value)] += 1
    return seen, counts


def sample_records(file: str, fmt: str, columns: list[str], limit: int, delimiter: str = ","):
    """Up to `limit` records of one input file, as dicts of the wanted columns, read without Spark."""
    if os.path.getsize(file) == 0 or limit <= 0:
        return
    if fmt == "parquet":
        yield from _parquet_records(file, columns, limit)
    elif fmt == "csv":
        yield from _csv_records(file, limit, delimiter)
    else:
        yield from _json_records(file, limit)


def _parquet_records(file: str, columns: list[str], limit: int):
    import pyarrow.parquet as pq

    handle = pq.ParquetFile(file)
    present = [c for c in columns if c in handle.schema_arrow.names]
    taken = 0
    for batch in handle.iter_batches(batch_size=min(limit, 10_000), columns=present):
        for record in batch.to_pylist()[:limit - taken]:
            yield record
            taken += 1
        if taken >= limit:
            return


def _csv_records(file: str, limit: int, delimiter: str):
    with open(file, encoding="utf-8-sig", errors="replace", newline="") as handle:
        reader = csv.reader((line for line in handle if line.strip(_BLANK_LINE)), delimiter=delimiter)
        header = next(reader, [])
        for fields in itertools.islice(reader, limit):
            yield dict(zip(header, fields))


def _json_records(file: str, limit: int):
    """JSON lines: blank lines, lines that do not parse and lines that are not objects are skipped."""
    with open(file, encoding="utf-8-sig", errors="replace") as handle:
        records = (_json_object(line) for line in handle if line.strip(_BLANK_LINE))
        yield from itertools.islice((r for r in records if r is not None), limit)


def _json_object(line: str) -> dict | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None
