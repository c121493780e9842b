"""Writing a generated log: one data file appended chunk by chunk (Parquet, CSV or JSON lines),
and the Arrow arrays the scenarios build their columns from."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

# Parquet row groups of ~128k rows (~3 MB here), as DuckDB writes them: readers split work by
# row group, so one row group per million rows would leave all but one core idle on small logs.
ROW_GROUP_ROWS = 131_072


def pick(rng: np.random.Generator, share: np.ndarray, row: np.ndarray) -> np.ndarray:
    """One category per item, drawn from the row of `share` (rows sum to 1) the item belongs to."""
    u = rng.random(len(row))
    cumulative = np.cumsum(share, axis=1)
    picked = np.empty(len(row), dtype=np.int64)
    for r in range(len(share)):
        at = row == r
        picked[at] = np.searchsorted(cumulative[r], u[at], side="left")
    return np.minimum(picked, share.shape[1] - 1)


# --- Shared helpers ----------------------------------------------------------------------------------------


def ids(prefix: str, count: int, width: int, first: int = 0) -> pa.Array:
    digits = pc.utf8_lpad(pa.array(np.arange(first, first + count)).cast(pa.string()), width, "0")
    return pc.binary_join_element_wise(prefix, digits, "")


def timestamps(epoch_s: np.ndarray) -> pa.Array:
    return pa.array(epoch_s * 1_000_000, type=pa.timestamp("us", tz="UTC"))


def label_array(values: tuple[str, ...], codes: np.ndarray) -> pa.Array:
    return pa.array(values).take(codes)


def with_nulls(array: pa.Array, at: np.ndarray) -> pa.Array:
    mask = np.zeros(len(array), dtype=bool)
    mask[at] = True
    return pc.if_else(pa.array(mask), pa.scalar(None, array.type), array)


class Writer:
    """Appends chunks to one data file in the chosen format."""

    def __init__(self, path: Path, fmt: str):
        self._path, self._fmt = path, fmt
        self._parquet: pq.ParquetWriter | None = None
        self._csv: pcsv.CSVWriter | None = None
        if fmt == "json":
            path.write_bytes(b"")  # chunks are appended

    @property
    def text(self) -> bool:
        """Whether values are written as text (CSV, JSON lines), where a bad row can hold unparseable text."""
        return self._fmt != "parquet"

    def write(self, table: pa.Table) -> None:
        if self._fmt == "parquet":
            self._parquet = self._parquet or pq.ParquetWriter(self._path, table.schema)
            self._parquet.write_table(table, row_group_size=ROW_GROUP_ROWS)
        elif self._fmt == "csv":
            self._csv = self._csv or pcsv.CSVWriter(self._path, table.schema)
            self._csv.write_table(table)
        else:
            with self._path.open("ab") as sink:
                sink.write(_json_lines(table))

    def close(self) -> None:
        for writer in (self._parquet, self._csv):
            if writer is not None:
                writer.close()


def _json_lines(table: pa.Table) -> memoryview:
    """The table as JSON lines, built column-wise by Arrow (pandas is ~10x slower).

    Values are the generator's own labels, numbers and timestamps, none holding a
    quote, backslash or control character, so no escaping is needed.
    """
    parts = []
    for i, (name, column) in enumerate(zip(table.column_names, table.columns)):
        column = column.combine_chunks()
        value = column.cast(pa.string())
        if pa.types.is_string(column.type):
            value = pc.binary_join_element_wise('"', value, '"', "")
        parts += ["{" if i == 0 else ",", f'"{name}":', pc.fill_null(value, "null")]
    lines = pc.binary_join_element_wise(*parts, "}\n", "")
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)[lines.offset:lines.offset + len(lines) + 1]
    return memoryview(lines.buffers()[2])[offsets[0]:offsets[-1]]
