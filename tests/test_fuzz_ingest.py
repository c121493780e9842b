"""Bad input at scale: hypothesis throws malformed rows at ingest.

Rows are drawn as raw field values (right and wrong types, unicode, huge
numbers, NaN and infinity, prices in mixed currencies, wrong column counts,
lines that are not JSON), and damaged lines (a quote opened and never closed or
a stray quote in any field, a field too many or too few, a quoted value broken
by a newline, a truncated JSON object), written as CSV or JSON lines over
several files (some empty, some with a byte-order mark, some with CRLF line
ends) and read by configs that use a few, most or all of the columns. The
expected reason of every row is computed here, independently of Spark, from the
README's rules. Ingest must account for every row with that reason whatever
columns the config reads, the rows it hands to rejected/ must be exactly the
rows it counts as rejected, and it may only ever stop with an AuditError naming
the problem.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

import pyarrow.parquet as pq

from auditor.spec import parse_config
from auditor.errors import AuditError
from auditor.engine.ingest import ingest

from test_ingest import CONFIG  # the ingest tests' columns, roles, cells and segment
from conftest import audit_toml

# `note` is in every file; only the "all" config reads it.
COLUMNS = ("order_no", "passenger_id", "req_time", "fare", "city", "km", "os", "note")

FEW_CONFIG = audit_toml(audit={"name": "ingest test, few columns", "platform": "T"},
                        input={"path": "{path}", "format": "{fmt}"}, match={"exact": None})
ALL_CONFIG = CONFIG + """
[[segments]]
name = "Note"
column = "note"
reference = "x"
groups = ["y"]
"""


@dataclass(frozen=True)
class Reads:
    """One config of the fuzz: its text, and the README's rules as they apply to the columns it reads."""

    name: str
    text: str
    required: tuple[str, ...]
    numbers: tuple[str, ...]


READS = {
    "few": Reads("few", FEW_CONFIG, ("order_no", "passenger_id", "req_time", "fare"), ("fare",)),
    "most": Reads("most", CONFIG, ("order_no", "passenger_id", "req_time", "fare", "city", "km"), ("fare", "km")),
    "all": Reads("all", ALL_CONFIG, ("order_no", "passenger_id", "req_time", "fare", "city", "km"), ("fare", "km")),
}

# Blank means only these around a value (ASCII whitespace, no-break and ideographic spaces).
BLANK = " \t\n\r\f\x0b\u00a0\u3000"
DECIMAL = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
VALID_TIMES = ("2026-09-07T08:15:00Z", "2026-09-07 08:20:00", "2026-09-07T23:59:59+08:00", "2026-09-07",
               "2026-09-07T08:15:00.123456Z", " 2026-09-07T09:00:00Z ")
BAD_TIMES = ("yesterday", "now", "epoch", "tomorrow", "2026-13-45T99:00:00Z", "07/09/2026 08:15", "1788739200",
             "２０２６-09-07", "2026-09-07T25:00:00Z", "时间", "")
PRICES = ("12.5", "¥12.5", "$3", "12.5 CNY", "CNY 12.5", "12,5元", "12.5元", "€4", "0", "-0", "-3.5", "1e400",
          "-1e400", "1e-400", "NaN", "nan", "Infinity", "-Infinity", "inf", "0x1p3", "12.5d", "12.5f", "1_000",
          "١٢", "+7", ".5", "5.", " 8.25 ", "1e5", "9" * 400, "1.2.3", "")
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"), max_size=8)


def _cell(column: str):
    """One raw field value: a Python value for JSON, its text for CSV; None is a missing value."""
    common = [st.none(), st.sampled_from(["", " ", "\u3000", "\t"]), TEXT]
    if column == "order_no":
        return st.one_of(st.sampled_from(["o1", "o2", "o3", " o1", "o4"]), *common, st.integers(-5, 5))
    if column == "req_time":
        return st.one_of(st.sampled_from(VALID_TIMES), st.sampled_from(BAD_TIMES), *common,
                         st.integers(0, 2**40))
    if column in ("fare", "km"):
        return st.one_of(st.sampled_from(PRICES), st.floats(allow_nan=True, allow_infinity=True),
                         st.integers(-10**30, 10**30), st.decimals(allow_nan=False, allow_infinity=False).map(str),
                         *common)
    if column == "os":
        return st.one_of(st.sampled_from(["ios", "android", "harmonyos"]), *common)
    return st.one_of(st.sampled_from(["u1", "u2", "北京", "Zürich", "🚕", "Beijing"]), *common, st.booleans())


ROW = st.fixed_dictionaries({c: _cell(c) for c in COLUMNS})
# Rows every config accepts (ids drawn from a few, so later copies are duplicates): without them the
# random rows above are almost all rejected, and "accepted or rejected, never both" would go untested.
VALID_ROW = st.fixed_dictionaries({
    "order_no": st.sampled_from(["o1", "o2", "o3", "o4", " o1", "o5"]),
    "passenger_id": st.sampled_from(["u1", "u2", "北京"]),
    "req_time": st.sampled_from(VALID_TIMES),
    "fare": st.sampled_from(["12.5", " 8.25 ", "+7", ".5", "1e5", "3"]),
    "city": st.sampled_from(["A", "Zürich", "北京"]),
    "km": st.sampled_from(["3", "1.5", "0"]),
    "os": st.sampled_from(["ios", "android", None]),
    "note": st.sampled_from(["x", "y", "a,b", 'say "hi"', None]),
})


def _text(value) -> str | None:
    """A JSON value as the text a string column holds."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def _blank(text: str | None) -> bool:
    return text is None or text.strip(BLANK) == ""


def _number(text: str) -> float | None:
    text = text.strip(BLANK)
    if not DECIMAL.fullmatch(text):
        return None
    value = float(text)
    return value if math.isfinite(value) else None


def _timestamp_ok(text: str) -> bool:
    return text.strip(BLANK) in {t.strip() for t in VALID_TIMES}


def expected_reason(values: dict, reads: Reads) -> str | None:
    """The README's rules, row by row (duplicates are settled across rows afterwards)."""
    texts = {c: _text(values.get(c)) for c in COLUMNS}
    if any(_blank(texts[c]) for c in reads.required):
        return "missing_value"
    if any(_number(texts[c]) is None for c in reads.numbers):
        return "unparseable_number"
    if not _timestamp_ok(texts["req_time"]):
        return "unparseable_timestamp"
    if _number(texts["fare"]) <= 0:
        return "nonpositive_price"
    return None


def _settle_duplicates(rows: list[tuple[str | None, str | None, str | None]]) -> list[str | None]:
    """The first valid copy of a transaction id in file order is kept; later valid copies are duplicates."""
    seen, reasons = set(), []
    for reason, tid, _ in rows:
        if reason is None:
            key = tid.strip(BLANK)
            reason = "duplicate_transaction_id" if key in seen else None
            seen.add(key)
        reasons.append(reason)
    return reasons


# Lines damaged on purpose, each in any field position: what the CSV format cannot parse.
DAMAGES = ("unclosed_quote", "stray_quote", "extra_field", "missing_field", "embedded_newline")
PLAIN = st.sampled_from(["o1", "o2", "o9", "u1", "2026-09-07T08:15:00Z", "12.5", "3", "A", "ios", "android", "x", ""])
DAMAGED = st.tuples(st.lists(PLAIN, min_size=len(COLUMNS), max_size=len(COLUMNS)), st.sampled_from(DAMAGES),
                    st.integers(0, len(COLUMNS) - 1), st.integers(0, 3))
# JSON lines that are not one JSON object.
BROKEN_JSON = st.sampled_from(['{"order_no": "o1", "fare": 3', '{"order_no": "o1",}', '{"order_no": "o1', "[1, 2]",
                               '"o1"', "{'order_no': 'o1'}", '{"order_no": o1}', "{"])

FILE = st.lists(st.one_of(VALID_ROW, VALID_ROW, ROW, ROW, st.lists(TEXT, min_size=1, max_size=9), DAMAGED),
                max_size=12)
# A file: its rows, a byte-order mark or not, CRLF line ends or not.
FILES = st.lists(st.tuples(FILE, st.booleans(), st.booleans()), min_size=1, max_size=3)
JSON_FILE = st.lists(st.one_of(VALID_ROW, VALID_ROW, ROW, ROW, st.lists(TEXT, min_size=1, max_size=9), BROKEN_JSON),
                     max_size=12)
JSON_FILES = st.lists(st.tuples(JSON_FILE, st.booleans()), min_size=1, max_size=3)


def _csv_line(fields: list[str | None]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(["" if f is None else f for f in fields])
    return buffer.getvalue()


def _damaged_lines(fields: list[str], damage: str, at: int, cut: int) -> list[str]:
    """A row of plain values (no quote, comma or newline) damaged in field `at`: its physical lines."""
    fields = list(fields)
    value = fields[at]
    if damage == "unclosed_quote":
        fields[at] = '"' + value
    elif damage == "stray_quote":
        fields[at] = value[:cut] + '"' + value[cut:]
    elif damage == "extra_field":
        fields.insert(at, value or "x")
    elif damage == "missing_field":
        del fields[at]
    else:  # a quoted value broken by a newline: read line by line, both halves are damaged lines
        cut = min(cut, len(value))
        fields[at] = '"' + value[:cut] + "\n" + value[cut:] + '"'
    return ",".join(fields).split("\n")


def _write_csv(folder: Path, files: list, reads: Reads) -> list[tuple[str | None, str | None, str | None]]:
    """Files of CSV rows (dicts: a full row; lists: a line with its own field count; tuples: a damaged row).

    Returns (expected reason, transaction id, raw line) for every row Spark should read, in file order.
    """
    written = []
    for i, (rows, bom, crlf) in enumerate(files):
        lines = []
        for row in rows:
            if isinstance(row, dict):
                line = _csv_line([_text(row[c]) for c in COLUMNS])
                written.append((expected_reason(row, reads), _text(row["order_no"]), line.rstrip("\n")))
            elif isinstance(row, tuple):
                parts = _damaged_lines(*row)
                written += [("malformed_record", None, part) for part in parts]
                line = "\n".join(parts) + "\n"
            else:
                fields = row
                line = _csv_line(fields)
                if not line.strip("".join(map(chr, range(33)))):
                    # Spark skips a line of only whitespace and control characters, as it
                    # does a blank line: it is not a row (README, "Ingest").
                    pass
                elif len(fields) == len(COLUMNS):  # a right-length list is a row like any other
                    as_row = dict(zip(COLUMNS, (f or None for f in fields)))
                    written.append((expected_reason(as_row, reads), as_row["order_no"], line.rstrip("\n")))
                else:
                    written.append(("malformed_record", None, line.rstrip("\n")))
            lines.append(line)
        header = _csv_line(list(COLUMNS)) if rows or i % 2 else ""  # some files empty, some header-only
        text = ("\ufeff" if bom and header else "") + header + "".join(lines)
        with open(folder / f"part-{i:02d}.csv", "w", encoding="utf-8", newline="") as handle:
            handle.write(text.replace("\n", "\r\n") if crlf else text)
    return written


def _write_json(folder: Path, files: list, reads: Reads) -> list[tuple[str | None, str | None, str | None]]:
    written = []
    for i, (rows, crlf) in enumerate(files):
        lines = []
        for row in rows:
            if isinstance(row, dict):
                present = {c: v for c, v in row.items() if v is not None or c == "os"}  # a missing key is a null
                lines.append(json.dumps(present, ensure_ascii=i % 2 == 0))
                written.append((expected_reason(row, reads), _text(row["order_no"]), lines[-1]))
            else:
                lines.append(row if isinstance(row, str) else "{," + ",".join(row))  # not JSON
                written.append(("malformed_record", None, lines[-1]))
        end = "\r\n" if crlf else "\n"
        with open(folder / f"part-{i:02d}.jsonl", "w", encoding="utf-8", newline="") as handle:
            handle.write("".join(line + end for line in lines))
    return written


def _as_read(tid: str | None, fmt: str) -> str | None:
    """A written id as Spark reads it into a text column: an empty CSV field is null."""
    return None if fmt == "csv" and tid == "" else tid


def _rejected_key(reason: str, tid: str | None, raw: str | None, fmt: str):
    """How a rejected row is recognised in rejected/: a malformed one by its raw line, any other by its id as read."""
    return (reason, raw) if reason == "malformed_record" else (reason, _as_read(tid, fmt))


def _check(spark, fmt: str, files: list, reads: Reads) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        written = (_write_csv if fmt == "csv" else _write_json)(folder, files, reads)
        reasons = _settle_duplicates(written)
        glob = str(folder / ("part-*.csv" if fmt == "csv" else "part-*.jsonl"))
        config = parse_config(reads.text.format(path=glob, fmt=fmt), base_dir=folder)
        try:
            result = ingest(spark, config)
        except AuditError as exc:  # allowed only when nothing can be audited, and said plainly
            assert str(exc) and "Traceback" not in str(exc)
            assert not any(r is None for r in reasons) or not written, (str(exc), written)
            return
        q = result.quality
        assert q.rows_read == len(written)
        assert q.rows_read == q.rows_accepted + q.rows_rejected
        expected = Counter(r for r in reasons if r)
        assert q.rejected_by_reason == dict(expected), (written, reasons)
        accepted = sorted(r["__tid"] for r in result.accepted.select("__tid").collect())
        assert accepted == sorted(tid.strip(BLANK) for (_, tid, _), r in zip(written, reasons) if r is None)

        # rejected/ as the audit writes it: the same rows as counted, each with its reason (and raw line).
        result.rejected.write.parquet(str(folder / "rejected"))
        table = pq.read_table(folder / "rejected").to_pylist() if q.rows_rejected else []
        assert len(table) == q.rows_rejected
        got = Counter(_rejected_key(r["reason"], r["order_no"], r["raw_record"], fmt) for r in table)
        want = Counter(_rejected_key(r, tid, raw, fmt) for (_, tid, raw), r in zip(written, reasons) if r)
        assert got == want, (got, want)
        # No row is both accepted and rejected: per id, accepted and rejected copies add up to the copies written.
        copies = Counter(_as_read(tid, fmt).strip(BLANK) for (_, tid, _), r in zip(written, reasons)
                         if _as_read(tid, fmt) is not None and r != "malformed_record")
        seen = Counter(accepted) + Counter(r["order_no"].strip(BLANK) for r in table
                                           if r["reason"] != "malformed_record" and r["order_no"] is not None)
        assert seen == copies
        result.release()


# No shrinking: each example starts Spark jobs, and a failing example is printed as drawn.
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
                    phases=(Phase.explicit, Phase.reuse, Phase.generate))


@SETTINGS
@given(files=FILES, reads=st.sampled_from(sorted(READS)))
@example(files=[([["\x1f"], [" ", ""]], False, False)], reads="most")  # blank lines are not rows
@example(files=[([{"order_no": "o1", "passenger_id": "u1", "req_time": "2026-09-07T08:15:00Z", "fare": "¥12.5",
                   "city": "A", "km": "3", "os": "ios", "note": "x"}], True, True), ([], False, False)], reads="all")
@example(files=[([(["o1", "u1", "2026-09-07T08:15:00Z", "12.5", "A", "3", "ios", "x"], damage, at, 1)
                  for damage in DAMAGES for at in (0, 3, 7)], False, False)], reads="few")
def test_csv_rows_all_accounted_for(spark, files, reads):
    _check(spark, "csv", files, READS[reads])


@SETTINGS
@given(files=JSON_FILES, reads=st.sampled_from(sorted(READS)))
def test_json_lines_rows_all_accounted_for(spark, files, reads):
    _check(spark, "json", files, READS[reads])
