"""Ingest: every row read is accepted or rejected with exactly one reason, counted exactly."""

from __future__ import annotations

import dataclasses
import os

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from auditor.spec import parse_config
from auditor.errors import AuditConfigError, AuditInputError, NothingToCompare
from auditor.engine.ingest import REASONS, check_segments, ingest
from conftest import audit_toml

# A template: `.format(path=..., fmt=...)` names the log.
CONFIG = audit_toml(audit={"name": "ingest test", "platform": "T"}, input={"path": "{path}", "format": "{fmt}"},
                    match={"bins": {"km": 2}})

HEADER = "order_no,passenger_id,req_time,fare,city,km,os"
# (line, expected reason or None for accepted)
CSV_ROWS = [
    ("o1,u1,2026-09-07T08:15:00Z,12.5,Beijing,3.1,ios", None),
    ("o2,u2,2026-09-07 08:20:00,13.0,Beijing,3.4,android", None),
    ("o3,u3,2026-09-07T08:25:00Z,11.0,Beijing,2.9,", None),  # null segment: kept
    ("o4,u1,2026-09-07T09:00:00Z,14.0,Beijing,3.0", "malformed_record"),  # too few fields
    ("o5,u1,2026-09-07T09:00:00Z,14.0,Beijing,3.0,ios,extra", "malformed_record"),  # too many
    ("o6,,2026-09-07T09:00:00Z,14.0,Beijing,3.0,ios", "missing_value"),
    ("o7,u4,2026-09-07T09:00:00Z,14.0,  ,3.0,ios", "missing_value"),  # blank match key
    (",u4,2026-09-07T09:00:00Z,14.0,Beijing,3.0,ios", "missing_value"),
    ("o8,u4,2026-09-07T09:00:00Z,12;5元,Beijing,3.0,ios", "unparseable_number"),
    ("o9,u4,2026-09-07T09:00:00Z,NaN,Beijing,3.0,ios", "unparseable_number"),
    ("o10,u4,2026-09-07T09:00:00Z,1e400,Beijing,3.0,ios", "unparseable_number"),
    ("o11,u4,2026-09-07T09:00:00Z,14.0,Beijing,far,ios", "unparseable_number"),  # binned column
    ("o12,u4,yesterday,14.0,Beijing,3.0,ios", "unparseable_timestamp"),
    ("o13,u4,2026-13-45T99:00:00Z,14.0,Beijing,3.0,ios", "unparseable_timestamp"),
    ("o14,u4,2026-09-07T09:00:00Z,0,Beijing,3.0,ios", "nonpositive_price"),
    ("o15,u4,2026-09-07T09:00:00Z,-3.5,Beijing,3.0,ios", "nonpositive_price"),
    ("o1,u9,2026-09-07T10:00:00Z,99.0,Beijing,3.0,android", "duplicate_transaction_id"),
    ("o2,u9,2026-09-07T10:00:00Z,-1,Beijing,3.0,android", "nonpositive_price"),  # invalid copy: its own reason
    ("o16,u5,2026-09-07T10:00:00Z,15.0,Shanghai,3.0,android", None),
    ("o16,u5,2026-09-07T10:00:00Z,15.0,Shanghai,3.0,android", "duplicate_transaction_id"),
]


def _config(tmp_path: Path, data: Path, fmt: str):
    return parse_config(CONFIG.format(path=data, fmt=fmt), base_dir=tmp_path)


def _expected():
    counts = {}
    for _, reason in CSV_ROWS:
        if reason:
            counts[reason] = counts.get(reason, 0) + 1
    return counts


def test_csv_every_reason_counted_exactly(spark, tmp_path):
    data = tmp_path / "log.csv"
    data.write_text(HEADER + "\n" + "\n".join(line for line, _ in CSV_ROWS) + "\n", encoding="utf-8")
    result = ingest(spark, _config(tmp_path, data, "csv"))
    q = result.quality
    assert q.rows_read == len(CSV_ROWS)
    assert q.rows_read == q.rows_accepted + q.rows_rejected
    assert q.rejected_by_reason == _expected()
    assert set(q.rejected_by_reason) <= set(REASONS)
    accepted = {r["__tid"]: r for r in result.accepted.collect()}
    assert sorted(accepted) == ["o1", "o16", "o2", "o3"]
    assert accepted["o1"]["__price"] == 12.5 and accepted["o1"]["__user"] == "u1"  # first copy kept
    assert accepted["o3"]["os"] is None
    assert accepted["o1"]["km"] == 3.1
    rejected = result.rejected.toPandas()
    assert len(rejected) == q.rows_rejected
    assert rejected.groupby("reason").size().to_dict() == _expected()
    assert rejected.loc[rejected.reason == "duplicate_transaction_id", "fare"].tolist().count("99.0") == 1
    assert rejected.loc[rejected.reason == "malformed_record", "raw_record"].notna().all()
    result.release()


def test_json_lines_malformed_and_typed_values(spark, tmp_path):
    lines = [
        {"order_no": "j1", "passenger_id": "u1", "req_time": "2026-09-07T08:00:00Z", "fare": 10.0, "city": "A", "km": 1, "os": "ios"},
        {"order_no": "j2", "passenger_id": 7, "req_time": "2026-09-07T08:10:00Z", "fare": "11.5", "city": "A", "km": 1, "os": "android"},
        {"order_no": "j3", "passenger_id": "u3", "req_time": "2026-09-07T08:10:00Z", "fare": {"amount": 3}, "city": "A", "km": 1, "os": "android"},
        {"order_no": "j4", "passenger_id": "u3", "req_time": None, "fare": 3, "city": "A", "km": 1, "os": "android"},
        {"order_no": "j5", "passenger_id": "u3", "req_time": "2026-09-07T08:10:00Z", "fare": 3, "city": "A", "km": 1},
    ]
    data = tmp_path / "log.jsonl"
    text = "\n".join(json.dumps(line, ensure_ascii=False) for line in lines) + "\n{not json\n"
    data.write_text(text, encoding="utf-8")
    q = ingest(spark, _config(tmp_path, data, "json")).quality
    assert (q.rows_read, q.rows_accepted) == (6, 3)
    assert q.rejected_by_reason == {"malformed_record": 1, "unparseable_number": 1, "missing_value": 1}


def test_parquet_typed_columns_and_segment_counts(spark, tmp_path):
    frame = pd.DataFrame({
        "order_no": ["p1", "p2", "p3", "p4", "p5"],
        "passenger_id": ["u1", "u2", None, "u4", "u5"],
        "req_time": pd.to_datetime(["2026-09-07 08:00"] * 5, utc=True),
        "fare": [10.0, float("nan"), 12.0, -1.0, float("inf")],
        "city": ["A"] * 5, "km": [1.0] * 5, "os": ["ios", "android", "ios", "ios", "ios"],
    })
    data = tmp_path / "log.parquet"
    # Written through pyarrow so the NaN stays a NaN (pandas would store it as null).
    table = pa.Table.from_pandas(frame, preserve_index=False).set_column(
        3, "fare", pa.array(frame.fare.to_numpy(), type=pa.float64(), from_pandas=False))
    pq.write_table(table, data)  # req_time keeps pandas' nanosecond unit
    result = ingest(spark, _config(tmp_path, data, "parquet"))
    assert result.quality.rejected_by_reason == {"unparseable_number": 2, "missing_value": 1, "nonpositive_price": 1}
    assert result.segment_values == {"os": {"android": 0, "ios": 1}}
    (seconds,) = result.accepted.selectExpr("unix_seconds(__ts)").first()
    assert seconds == int(pd.Timestamp("2026-09-07 08:00", tz="UTC").timestamp())  # nanoseconds converted
    # 'android' is in the log, on a row rejected for its price: a data problem, not a spelling one
    with pytest.raises(NothingToCompare) as caught:
        check_segments(result, _config(tmp_path, data, "parquet"))
    assert str(caught.value) == ("[segments[0]] reference: the value 'android' occurs in 1 rows of column 'os', "
                                 "but every one of them was rejected (4 of 5 rows rejected in all: "
                                 "unparseable_number 2, missing_value 1, nonpositive_price 1)")
    assert caught.value.rejected.count() == 4
    config = _config(tmp_path, data, "parquet")
    config = dataclasses.replace(config, segments=(dataclasses.replace(config.segments[0], reference="Android"),))
    with pytest.raises(AuditConfigError, match="the value 'Android' never occurs in column 'os' of the accepted rows"):
        check_segments(ingest(spark, config), config)


def test_unknown_column_names_key_and_nearest_column(spark, tmp_path):
    data = tmp_path / "log.csv"
    data.write_text(HEADER.replace("fare", "fare_cny") + "\n" + CSV_ROWS[0][0] + "\n")
    with pytest.raises(AuditConfigError) as caught:
        ingest(spark, _config(tmp_path, data, "csv"))
    assert str(caught.value) == "[columns] price = 'fare': no such column in the input; did you mean 'fare_cny'?"


def test_missing_input_is_a_clear_error(spark, tmp_path):
    with pytest.raises(AuditInputError, match=r"^\[input\] path: .*nowhere.csv does not exist"):
        ingest(spark, _config(tmp_path, tmp_path / "nowhere.csv", "csv"))
    with pytest.raises(AuditInputError, match=r"^\[input\] path: no files match"):
        ingest(spark, _config(tmp_path, tmp_path / "*.csv", "csv"))


def _folder_of_logs(tmp_path: Path, days: int) -> Path:
    """A folder of Hive-style day partitions, one CSV file each, with distinct order numbers."""
    folder = tmp_path / "logs"
    rows = [line for line, reason in CSV_ROWS if reason is None]
    for i in range(days):
        day = folder / f"day=2026-09-0{i + 1}"
        day.mkdir(parents=True)
        (day / "part-0.csv").write_text(HEADER + "\n" + "\n".join(r.replace("o", f"d{i}o", 1) for r in rows) + "\n")
    return folder


def test_hidden_and_bookkeeping_files_are_skipped_as_spark_skips_them(spark, tmp_path):
    folder = _folder_of_logs(tmp_path, 2)
    (folder / "_SUCCESS").write_text("")
    (folder / "day=2026-09-01" / ".part-0.csv.crc").write_text("crc")
    (folder / "_temporary" / "0").mkdir(parents=True)
    (folder / "_temporary" / "0" / "part-9.csv").write_text(HEADER + "\n" + CSV_ROWS[0][0] + "\n")
    got = ingest(spark, _config(tmp_path, folder, "csv"))
    assert sorted(str(Path(f.path).relative_to(folder)) for f in got.inputs) == [
        "day=2026-09-01/part-0.csv", "day=2026-09-02/part-0.csv"]
    assert got.quality.rows_read == 2 * sum(1 for _, reason in CSV_ROWS if reason is None)


def test_a_file_arriving_after_fingerprinting_stops_the_audit(spark, tmp_path):
    from auditor.engine.ingest import list_input_files

    folder = _folder_of_logs(tmp_path, 2)
    config = _config(tmp_path, folder, "csv")
    listed = list_input_files(config.input.path)
    (folder / "day=2026-09-02" / "part-1.csv").write_text(HEADER + "\n" + CSV_ROWS[0][0] + "\n")
    with pytest.raises(AuditInputError, match=(
            r"^\[input\] path: the input changed while the audit started \(2 files listed and fingerprinted, "
            r"3 about to be read; e\.g\. .*part-1\.csv is read but was not listed\): re-run once the input is complete$")):
        ingest(spark, config, listed)


# The damaged lines, each a CSV line the format cannot parse (header: HEADER + ",note").
DAMAGED_LINES = [
    'o20,u1,2026-09-07T09:00:00Z,14.0,"Chengdu,3.0,ios,n',  # a quote opened and never closed (fields shift)
    'o21,u1,2026-09-07T09:00:00Z,14.0,Beijing,3.0,ios,"n',  # ... in the last field
    'o22,u1,2026-09-07T09:00:00Z,14.0,Beijing,3.0,ios,n,extra',  # a field too many
    'o23,u1,2026-09-07T09:00:00Z,14.0,Bei"jing,3.0,ios,n',  # a stray quote
    'o24,u1,2026-09-07T09:00:00Z,14.0,Beijing,3.0,ios',  # a field too few
]


@pytest.mark.parametrize("segments", [[], ["note"]], ids=["config-reads-7-of-8-columns", "config-reads-all-columns"])
def test_malformed_lines_are_malformed_whatever_columns_the_config_reads(spark, tmp_path, segments):
    """Column pruning must not decide what is malformed; rejected/ holds exactly the rows counted."""
    good = [line + ",n" for line, reason in CSV_ROWS[:3]] + ['o30,u2,2026-09-07T09:00:00Z,14.0,"Bei,jing",3.0,ios,"a ""b"""']
    data = tmp_path / "log.csv"
    data.write_text(HEADER + ",note\n" + "\n".join(good + DAMAGED_LINES) + "\n", encoding="utf-8")
    text = CONFIG.format(path=data, fmt="csv") + "".join(
        f'[[segments]]\nname = "{c}"\ncolumn = "{c}"\nreference = "x"\ngroups = ["y"]\n' for c in segments)
    result = ingest(spark, parse_config(text, base_dir=tmp_path))
    q = result.quality
    assert (q.rows_read, q.rows_accepted, q.rejected_by_reason) == (9, 4, {"malformed_record": 5})
    rejected = result.rejected.toPandas()
    assert sorted(rejected.raw_record) == sorted(DAMAGED_LINES)
    assert set(rejected.reason) == {"malformed_record"}
    accepted = {r["__tid"]: r for r in result.accepted.collect()}
    assert sorted(accepted) == ["o1", "o2", "o3", "o30"]
    assert accepted["o30"]["city"] == "Bei,jing"  # a quoted delimiter is a value, not a field
    result.release()


def test_an_input_without_rows_or_columns_says_so_even_when_spark_checks_it(spark, tmp_path):
    """Remote inputs skip the pre-flight: Spark's own checks must say the same thing plainly."""
    data = tmp_path / "log.csv"
    data.write_text(HEADER + "\n")
    config = _config(tmp_path, data, "csv")
    result = ingest(spark, config)
    with pytest.raises(AuditInputError, match=rf"^\[input\] path: {data} has no rows: nothing to audit$"):
        check_segments(result, config)
    result.release()
    data.write_text("")
    with pytest.raises(AuditInputError, match=rf"^\[input\] path: {data} has no columns: it is empty, or not csv"):
        ingest(spark, config)


def test_ingest_plans_no_deprecated_trim(tmp_path):
    """A notebook's session logs warnings: the ingest's blank-stripping must not make Spark warn that the
    two-argument TRIM is deprecated under every cell. The same process shows the check sees that warning."""
    import subprocess
    import sys
    from pathlib import Path as P
    script = tmp_path / "trim.py"
    script.write_text(
        "import sys\n"
        "from pyspark.sql import SparkSession, functions as F\n"
        "spark = SparkSession.builder.master('local[1]').config('spark.ui.enabled', 'false')"
        ".config('spark.ui.showConsoleProgress', 'false').getOrCreate()\n"
        "spark.sparkContext.setLogLevel('WARN')\n"
        "from auditor.engine.ingest import BLANK, _stripped\n"
        "frame = spark.createDataFrame([('\\u3000 a \\u00a0',)], 'x string')\n"
        "print(frame.select(_stripped('x').alias('y')).first().y, flush=True)\n"
        "sys.stderr.write('--- the deprecated form ---\\n'); sys.stderr.flush()\n"
        "frame.select(F.trim(F.col('x'), F.lit(BLANK))).first()\n"
        "spark.stop()\n")
    env = {**os.environ, "PYTHONPATH": str(P(__file__).resolve().parents[1])}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "a"
    ours, deprecated = done.stderr.split("--- the deprecated form ---")
    assert "Two-parameter TRIM" not in ours
    assert "Two-parameter TRIM" in deprecated
