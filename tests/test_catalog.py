"""Catalog tables as input: a day-partitioned table in a temporary warehouse, read with a `where`."""

from __future__ import annotations

import hashlib
import re
import uuid

import pandas as pd
import pytest
from pyspark.sql import functions as F

from auditor import Audit
from auditor.spec import parse_config
from auditor.errors import AuditConfigError, AuditInputError
from auditor.synth import generate
from auditor.report import render

DAYS = ("2026-09-08", "2026-09-09", "2026-09-10")
WHERE = f"day BETWEEN '{DAYS[0]}' AND '{DAYS[-1]}'"


def _table_config(made, table: str, where: str | None) -> str:
    text = made.config_path.read_text()
    selection = f'table = "{table}"' + (f'\nwhere = "{where}"' if where else "")
    return re.sub(r'path = "[^"]*"\nformat = "parquet"', selection, text)


@pytest.fixture(scope="module")
def warehouse(spark, tmp_path_factory):
    """The generated rides log saved as a table partitioned by day, in a database under tmp."""
    root = tmp_path_factory.mktemp("catalog")
    made = generate("rides", 3000, 5, root / "sample")
    database = f"audit_{uuid.uuid4().hex[:8]}"
    spark.sql(f"CREATE DATABASE {database} LOCATION '{root / 'warehouse'}'")
    rides = spark.read.parquet(str(made.data_path)).withColumn("day", F.to_date("req_time"))
    rides.write.partitionBy("day").format("parquet").saveAsTable(f"{database}.rides")
    yield root, made, f"{database}.rides"
    spark.sql(f"DROP DATABASE {database} CASCADE")


@pytest.fixture(scope="module")
def audited(spark, warehouse):
    root, made, table = warehouse
    config = parse_config(_table_config(made, table, WHERE), base_dir=made.config_path.parent)
    return Audit(config).run(spark)


def test_where_reads_only_the_selected_partitions_and_records_them(audited, warehouse):
    root, made, table = warehouse
    record = audited.document.audit
    assert record.table.name == table and record.table.format == "parquet"
    assert record.table.where == WHERE
    assert record.table.partitions == tuple(f"day={d}" for d in DAYS)
    assert table in audited._repr_html_()  # the notebook's summary names the table it read
    # The files fingerprinted are exactly the data files of those partitions, by an independent listing.
    on_disk = sorted(str(p.resolve()) for d in DAYS for p in (root / "warehouse" / "rides" / f"day={d}").glob("*.parquet"))
    assert [f.path for f in record.inputs] == on_disk and on_disk
    for f in record.inputs:
        with open(f.path, "rb") as handle:
            assert f.sha256 == hashlib.sha256(handle.read()).hexdigest()
    # Every row of those days is read, none of the others.
    log = pd.read_parquet(made.data_path)
    expected = int(log["req_time"].dt.strftime("%Y-%m-%d").isin(DAYS).sum())
    quality = audited.document.data_quality
    assert quality.rows_read == expected < len(log)
    assert quality.rows_read == quality.rows_accepted + quality.rows_rejected


def test_after_ingest_a_table_audits_like_the_same_rows_as_files(spark, audited, warehouse, tmp_path):
    _, made, table = warehouse
    export = tmp_path / "export"
    spark.table(table).where(WHERE).drop("day").write.parquet(str(export))
    text = made.config_path.read_text().replace('path = "data/rides.parquet"', f'path = "{export}"')
    from_files = Audit(parse_config(text)).run(spark)
    assert from_files.document.data_quality == audited.document.data_quality
    pd.testing.assert_frame_equal(from_files.findings, audited.findings, rtol=1e-9)


def test_report_and_findings_json_show_the_table(audited, warehouse):
    _, _, table = warehouse
    doc = audited.to_json()
    assert doc["audit"]["table"]["partitions"] == [f"day={d}" for d in DAYS]
    assert doc["audit"]["input_format"] == "table"
    for language, words in (("en", "Partitions read"), ("zh-CN", "读取的分区")):
        html = render(doc, language)
        section = html[html.index('id="provenance"'):]
        assert words in section and table.split(".")[1] in section and "WHERE day BETWEEN" in section
        assert all(f"day={d}" in section for d in DAYS)


def _jobs_started(spark, action) -> int:
    group = f"check-{uuid.uuid4().hex[:8]}"
    spark.sparkContext.setJobGroup(group, "before the scan")
    try:
        action()
    finally:
        spark.sparkContext.setLocalProperty("spark.jobGroup.id", None)
    return len(spark.sparkContext.statusTracker().getJobIdsForGroup(group))


@pytest.mark.parametrize("where, problem", [
    ("dya >= '2026-09-08'", "dya"),  # a misspelt column
    ("day >=", "Syntax error"),  # not SQL
    ("fare_cny + 1", "BOOLEAN"),  # not a predicate
])
def test_a_bad_where_is_one_line_naming_the_key_before_any_scan(spark, warehouse, where, problem):
    _, made, table = warehouse
    config = parse_config(_table_config(made, table, where), base_dir=made.config_path.parent)
    errors = []

    def run():
        with pytest.raises(AuditConfigError) as caught:
            Audit(config).run(spark)
        errors.append(str(caught.value))

    assert _jobs_started(spark, run) == 0
    assert _jobs_started(spark, lambda: spark.table(table).where("day IS NOT NULL").count()) > 0  # the probe sees scans
    assert errors[0].startswith(f"[input] where = {where!r} is not a valid predicate on {table}: ")
    assert problem.lower() in errors[0].lower() and "\n" not in errors[0]


def test_a_missing_table_is_one_line_naming_the_key(spark, warehouse):
    _, made, table = warehouse
    config = parse_config(_table_config(made, table + "_nope", None), base_dir=made.config_path.parent)
    with pytest.raises(AuditInputError, match=rf"^\[input\] table = '{table}_nope': no such table in the catalog"):
        Audit(config).run(spark)


@pytest.mark.parametrize("input_table, message", [
    ('table = "db.rides"\npath = "x.parquet"',
     "[input] path is for files; a catalog table's location and format come from the catalog: remove path, or remove table to read files"),
    ('table = "db.rides"\nformat = "parquet"',
     "[input] format is for files; a catalog table's location and format come from the catalog: remove format, or remove table to read files"),
    ('path = "x.parquet"\nformat = "parquet"\nwhere = "day > 1"',
     '[input] where filters a catalog table: use it with table = "db.name", not with path'),
    ('table = "db.rides; DROP TABLE x"',
     "[input] table = 'db.rides; DROP TABLE x' is not a table name: use name, db.name or catalog.db.name (quote odd names with backticks)"),
])
def test_table_config_errors_name_the_key_and_the_fix(input_table, message):
    text = f"""
[audit]
name = "t"
platform = "p"
[input]
{input_table}
[columns]
transaction_id = "id"
user_id = "u"
timestamp = "ts"
price = "p"
[match]
exact = ["k"]
[[segments]]
name = "s"
column = "s"
reference = "a"
groups = ["b"]
"""
    with pytest.raises(AuditConfigError) as caught:
        parse_config(text)
    assert str(caught.value) == message


def test_table_names_accepted():
    for name in ("rides", "db.rides", "spark_catalog.db.rides", "`odd db`.`rides 2026`"):
        text = f'[audit]\nname="t"\nplatform="p"\n[input]\ntable = "{name}"\n[columns]\ntransaction_id="i"\n' \
               'user_id="u"\ntimestamp="t"\nprice="p"\n[match]\nexact=["k"]\n[[segments]]\nname="s"\ncolumn="s"\n' \
               'reference="a"\ngroups=["b"]\n'
        spec = parse_config(text).input
        assert (spec.table, spec.where, spec.format, spec.path) == (name, None, "table", None)


def test_cli_bad_where_prints_one_line_and_exits_2(spark, warehouse, tmp_path, capfd):
    from auditor.cli import main

    _, made, table = warehouse
    config = made.config_path.parent / "bad_where.toml"
    config.write_text(_table_config(made, table, "dya > 1"))
    assert main(["run", "--config", str(config), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    captured = capfd.readouterr()
    assert captured.err.startswith(f"error: [input] where = 'dya > 1' is not a valid predicate on {table}: ")
    assert captured.err.count("\n") == 1, captured.err
    assert not (tmp_path / "out").exists()
