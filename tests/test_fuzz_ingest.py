"""Bad input at scale: hypothesis throws malformed rows at ingest.

Rows are drawn as raw field values (right and wrong types, unicode, huge
numbers, NaN and infinity, prices in mixed currencies, wrong column counts,
lines that are not JSON), written as CSV or JSON lines over several files (some
empty), and the expected reason of every row is computed here, independently of
Spark, from the README's rules. Ingest must account for every row with that
reason, and may only ever stop with an AuditError naming the problem.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import tempfile
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from auditor.config import parse_config
from auditor.errors import AuditError
from auditor.ingest import ingest

from test_ingest import CONFIG  # the ingest tests' columns, roles, cells and segment

COLUMNS = ("order_no", "passenger_id", "req_time", "fare", "city", "km", "os")
REQUIRED = ("order_no", "passenger_id", "req_time", "fare", "city", "km")
NUMBERS = ("fare", "km")

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
    if column in NUMBERS:
        return st.one_of(st.sampled_from(PRICES), st.floats(allow_nan=True, allow_infinity=True),
                         st.integers(-10**30, 10**30), st.decimals(allow_nan=False, allow_infinity=False).map(str),
                         *common)
    if column == "os":
        return st.one_of(st.sampled_from(["ios", "android", "harmonyos"]), *common)
    return st.one_of(st.sampled_from(["u1", "u2", "北京", "Zürich", "🚕", "Beijing"]), *common, st.booleans())


ROW = st.fixed_dictionaries({c: _cell(c) for c in COLUMNS})


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


def expected_reason(values: dict) -> str | None:
    """The README's rules, row by row (duplicates are settled across rows afterwards)."""
    texts = {c: _text(values.get(c)) for c in COLUMNS}
    if any(_blank(texts[c]) for c in REQUIRED):
        return "missing_value"
    if any(_number(texts[c]) is None for c in NUMBERS):
        return "unparseable_number"
    if not _timestamp_ok(texts["req_time"]):
        return "unparseable_timestamp"
    if _number(texts["fare"]) <= 0:
        return "nonpositive_price"
    return None


def _settle_duplicates(rows: list[tuple[str | None, str | None]]) -> list[str | None]:
    """The first valid copy of a transaction id in file order is kept; later valid copies are duplicates."""
    seen, reasons = set(), []
    for reason, tid in rows:
        if reason is None:
            key = tid.strip(BLANK)
            reason = "duplicate_transaction_id" if key in seen else None
            seen.add(key)
        reasons.append(reason)
    return reasons


FILE = st.lists(st.one_of(ROW, ROW, ROW, st.lists(TEXT, min_size=1, max_size=9)), max_size=12)


def _csv_line(fields: list[str | None]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(["" if f is None else f for f in fields])
    return buffer.getvalue()


def _write_csv(folder: Path, files: list[list]) -> list[tuple[str | None, str | None]]:
    """Files of CSV rows (dicts: a full row; lists: a line with its own field count)."""
    written = []
    for i, rows in enumerate(files):
        lines = []
        for row in rows:
            if isinstance(row, dict):
                fields = [_text(row[c]) for c in COLUMNS]
                reason = expected_reason(row)
                written.append((reason, _text(row["order_no"])))
            else:
                fields = row
                if not _csv_line(fields).strip("".join(map(chr, range(33)))):
                    # Spark skips a line of only whitespace and control characters, as it
                    # does a blank line: it is not a row (README, "Ingest").
                    pass
                elif len(fields) == len(COLUMNS):  # a right-length list is a row like any other
                    as_row = dict(zip(COLUMNS, (f or None for f in fields)))
                    written.append((expected_reason(as_row), as_row["order_no"]))
                else:
                    written.append(("malformed_record", None))
            lines.append(_csv_line(fields))
        header = _csv_line(list(COLUMNS)) if rows or i % 2 else ""  # some files empty, some header-only
        (folder / f"part-{i:02d}.csv").write_text(header + "".join(lines), encoding="utf-8")
    return written


def _write_json(folder: Path, files: list[list]) -> list[tuple[str | None, str | None]]:
    written = []
    for i, rows in enumerate(files):
        lines = []
        for row in rows:
            if isinstance(row, dict):
                present = {c: v for c, v in row.items() if v is not None or c == "os"}  # a missing key is a null
                lines.append(json.dumps(present, ensure_ascii=i % 2 == 0))
                written.append((expected_reason(row), _text(row["order_no"])))
            else:
                lines.append("{" + ",".join(row))  # not JSON
                written.append(("malformed_record", None))
        (folder / f"part-{i:02d}.jsonl").write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return written


def _check(spark, fmt: str, files: list[list]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        written = (_write_csv if fmt == "csv" else _write_json)(folder, files)
        reasons = _settle_duplicates(written)
        glob = str(folder / ("part-*.csv" if fmt == "csv" else "part-*.jsonl"))
        config = parse_config(CONFIG.format(path=glob, fmt=fmt), base_dir=folder)
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
        assert accepted == sorted(tid.strip(BLANK) for (_, tid), r in zip(written, reasons) if r is None)
        assert result.rejected.count() == q.rows_rejected
        result.release()


SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


@SETTINGS
@given(files=st.lists(FILE, min_size=1, max_size=3))
@example(files=[[["\x1f"], [" ", ""]]])  # blank lines are not rows
@example(files=[[{"order_no": "o1", "passenger_id": "u1", "req_time": "2026-09-07T08:15:00Z", "fare": "¥12.5",
                  "city": "A", "km": "3", "os": "ios"}], []])
def test_csv_rows_all_accounted_for(spark, files):
    _check(spark, "csv", files)


@SETTINGS
@given(files=st.lists(FILE, min_size=1, max_size=3))
def test_json_lines_rows_all_accounted_for(spark, files):
    _check(spark, "json", files)
