"""Pre-flight and `auditor validate`: bad input answers in one line, in under 2 s, before Spark starts.

No test here asks for the Spark fixture: each checks that no Spark context was
started by the command under test.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from pyspark import SparkContext

from auditor.cli import main
from auditor.spec import load_config, parse_config
from auditor.preflight import preflight

from test_ingest import CONFIG, CSV_ROWS, HEADER

ROWS = [line for line, reason in CSV_ROWS if reason is None]


def _config_file(tmp_path: Path, data: Path | str, fmt: str, text: str = CONFIG) -> Path:
    path = tmp_path / "audit.toml"
    path.write_text(text.format(path=data, fmt=fmt), encoding="utf-8")
    return path


def _run(argv: list[str], capsys) -> tuple[int, str, str, float]:
    """Run the command line; return its exit code, stdout, stderr and seconds, and check Spark stayed off."""
    before = SparkContext._active_spark_context
    started = time.perf_counter()
    code = main(argv)
    seconds = time.perf_counter() - started
    assert SparkContext._active_spark_context is before, "the command started Spark"
    out, err = capsys.readouterr()
    return code, out, err, seconds


def _parquet(path: Path, rows: int = 3, **renamed) -> Path:
    frame = pd.DataFrame({"order_no": [f"p{i}" for i in range(rows)], "passenger_id": ["u1"] * rows,
                          "req_time": pd.to_datetime(["2026-09-07 08:00"] * rows, utc=True),
                          "fare": [10.0] * rows, "city": ["A"] * rows, "km": [1.0] * rows, "os": ["ios"] * rows})
    frame.rename(columns=renamed).to_parquet(path)
    return path


def _case(tmp_path: Path, name: str) -> tuple[Path | str, str, str]:
    """(data path, format, the one line the run must stop with) for each pre-flight failure."""
    csv_file = tmp_path / "log.csv"
    if name == "missing path":
        data = tmp_path / "nowhere.csv"
        return data, "csv", (f"error: [input] path: {data} does not exist: check the path "
                             "(relative paths are taken from the config file's folder)")
    if name == "empty file":
        csv_file.write_bytes(b"")
        return csv_file, "csv", f"error: [input] path: {csv_file} is empty (0 bytes): nothing to audit"
    if name == "folder of empty files":
        folder = tmp_path / "logs"
        folder.mkdir()
        (folder / "a.csv").write_bytes(b"")
        (folder / "b.csv").write_bytes(b"")
        return folder, "csv", f"error: [input] path: all 2 files of {folder} are empty (0 bytes): nothing to audit"
    if name == "header but no rows":
        csv_file.write_text(HEADER + "\r\n\r\n  \r\n", encoding="utf-8")
        return csv_file, "csv", f"error: [input] path: {csv_file} has a header but no rows: nothing to audit"
    if name == "misspelled csv column":
        csv_file.write_text("\ufeff" + HEADER.replace("fare", "fare_cny") + "\n" + ROWS[0] + "\n", encoding="utf-8")
        return csv_file, "csv", "error: [columns] price = 'fare': no such column in the input; did you mean 'fare_cny'?"
    if name == "csv read with the wrong delimiter":
        csv_file.write_text(HEADER.replace(",", ";") + "\n" + ROWS[0].replace(",", ";") + "\n", encoding="utf-8")
        return csv_file, "csv", ("error: [columns] transaction_id = 'order_no': no such column in the input; "
                                 "the input has: order_no;passenger_id;req_time;fare;city;km;os")
    if name == "misspelled parquet column":
        data = _parquet(tmp_path / "log.parquet", fare="fare_cny")
        return data, "parquet", "error: [columns] price = 'fare': no such column in the input; did you mean 'fare_cny'?"
    if name == "parquet without rows":
        data = _parquet(tmp_path / "log.parquet", rows=0)
        return data, "parquet", f"error: [input] path: {data} has columns but no rows: nothing to audit"
    if name == "not parquet":
        data = tmp_path / "log.parquet"
        data.write_text(HEADER + "\n")
        return data, "parquet", f"error: [input] path: {data} is not a readable Parquet file ("
    if name == "json column missing":
        data = tmp_path / "log.jsonl"
        data.write_text(json.dumps({"order_no": "j1", "passenger_id": "u1", "req_time": "2026-09-07T08:00:00Z",
                                    "fare_cny": 3, "city": "A", "km": 1, "os": "ios"}) + "\n", encoding="utf-8")
        return data, "json", "error: [columns] price = 'fare': no such column in the input; did you mean 'fare_cny'?"
    if name == "json blank lines only":
        data = tmp_path / "log.jsonl"
        data.write_text("\n \n\t\n", encoding="utf-8")
        return data, "json", f"error: [input] path: {data} holds only blank lines: nothing to audit"
    raise AssertionError(name)


CASES = ["missing path", "empty file", "folder of empty files", "header but no rows", "misspelled csv column",
         "csv read with the wrong delimiter", "misspelled parquet column", "parquet without rows", "not parquet",
         "json column missing", "json blank lines only"]
TIMES: dict[str, float] = {}


@pytest.mark.parametrize("name", CASES)
def test_each_preflight_failure_is_one_line_in_under_two_seconds_before_spark(tmp_path, capsys, name):
    data, fmt, message = _case(tmp_path, name)
    config = _config_file(tmp_path, data, fmt)
    code, out, err, seconds = _run(["run", "--config", str(config), "--out", str(tmp_path / "out"), "--quiet"], capsys)
    TIMES[name] = seconds
    assert code == 2
    assert err.startswith(message) and err.count("\n") == 1, err
    assert seconds < 2.0, f"{name}: {seconds:.2f} s"
    assert not (tmp_path / "out").exists()
    # validate says the same, with the same exit code
    code, out, err, seconds = _run(["validate", "--config", str(config)], capsys)
    assert (code, out) == (2, "") and err.startswith(message) and err.count("\n") == 1, err
    assert seconds < 2.0


def test_a_good_input_passes_whatever_its_bom_line_ends_delimiter_or_partitions(tmp_path):
    folder = tmp_path / "logs"
    for i, day in enumerate(("2026-09-07", "2026-09-08")):
        (folder / f"day={day}").mkdir(parents=True)
        text = "\ufeff" + HEADER.replace(",", ";") + "\r\n" + "\r\n".join(r.replace(",", ";") for r in ROWS) + "\r\n"
        (folder / f"day={day}" / "part-0.csv").write_text(text, encoding="utf-8")
    (folder / "_SUCCESS").write_text("")
    text = CONFIG.replace('groups = ["ios"]', 'groups = ["ios"]\n[[segments]]\nname = "Day"\ncolumn = "day"\n'
                                             'reference = "2026-09-07"\ngroups = ["2026-09-08"]')
    text = text.replace('format = "{fmt}"', 'format = "{fmt}"\ncsv_delimiter = ";"')
    overview = preflight(parse_config(text.format(path=folder, fmt="csv"), base_dir=tmp_path))
    assert overview.columns == (*HEADER.split(","), "day")  # the BOM is not part of the first name
    assert [Path(f).relative_to(folder).as_posix() for f in overview.files] == [
        "day=2026-09-07/part-0.csv", "day=2026-09-08/part-0.csv"]


def test_remote_paths_skip_the_local_checks(tmp_path):
    overview = preflight(parse_config(CONFIG.format(path="s3a://bucket/rides/", fmt="parquet"), base_dir=tmp_path))
    assert overview.remote and overview.files == () and overview.columns == ()


def test_validate_summarises_files_columns_segment_values_and_comparisons(tmp_path, capsys):
    os_values = ["ios"] * 7 + ["android"] * 4 + ["harmonyos"] * 2 + [""]
    lines = [f"o{i},u{i % 5},2026-09-07T08:{i:02d}:00Z,12.5,Beijing,3.1,{os}" for i, os in enumerate(os_values)]
    data = tmp_path / "log.csv"
    data.write_text(HEADER + "\n" + "\n".join(lines) + "\n", encoding="utf-8")
    config = _config_file(tmp_path, data, "csv")
    code, out, err, seconds = _run(["validate", "--config", str(config), "--sample-rows", "12"], capsys)
    assert (code, err) == (0, "")
    assert f"input: {data} (csv): 1 file, {data.stat().st_size:,} bytes; 7 columns" in out
    assert "  transaction_id  order_no\n" in out and "  segment Device  os (group)\n" in out
    sampled = Counter(os_values[:12])
    assert f"segment values in the first 12 rows:\n  os: ios {sampled['ios']}, android {sampled['android']}, " \
           f"harmonyos {sampled['harmonyos']}\n" in out
    assert "  Device: ios against android (os)\n" in out
    assert out.rstrip().splitlines()[-1].startswith("ok: the audit would start (config and pre-flight checks took ")
    assert seconds < 2.0
    # a configured value absent from the sample is pointed out, and the audit would still start
    config.write_text(config.read_text().replace('groups = ["ios"]', 'groups = ["iOS"]'))
    code, out, err, _ = _run(["validate", "--config", str(config)], capsys)
    assert code == 0 and "    not in the sample: 'iOS' (the audit stops if a configured value never occurs" in out


def test_validate_parses_sampled_values_as_ingest_does(tmp_path):
    """Each sampled row gets the reason ingest gives it (tests/test_ingest.py checks those against Spark);
    malformed lines and duplicates are Spark's to find."""
    from auditor.preflight import preflight
    from auditor.validate import sample_rejects

    from test_ingest import CSV_ROWS
    rows = [(line, reason) for line, reason in CSV_ROWS
            if reason not in ("malformed_record", "duplicate_transaction_id")]
    data = tmp_path / "log.csv"
    data.write_text(HEADER + "\n" + "\n".join(line for line, _ in rows) + "\n", encoding="utf-8")
    config = load_config(_config_file(tmp_path, data, "csv"))
    seen, counts, examples = sample_rejects(preflight(config), config, 1000)
    expected = Counter(reason for _, reason in rows if reason)
    assert seen == len(rows) and counts == expected
    assert examples["unparseable_timestamp"] == ("req_time", "yesterday")


def test_validate_stops_when_most_sampled_rows_would_be_rejected(tmp_path, capsys):
    """A price column of words: validate names the reason and counts, in a second, instead of `ok`."""
    lines = [f"o{i},u{i % 5},2026-09-07T08:{i % 60:02d}:00Z,{'cheap' if i % 10 else '12.5'},Beijing,3.1,"
             f"{'ios' if i % 2 else 'android'}" for i in range(200)]
    data = tmp_path / "log.csv"
    data.write_text(HEADER + "\n" + "\n".join(lines) + "\n", encoding="utf-8")
    config = _config_file(tmp_path, data, "csv")
    code, out, err, seconds = _run(["validate", "--config", str(config)], capsys)
    assert code == 2 and "ok: the audit would start" not in out
    assert err == ("error: [columns] 180 of the first 200 rows would be rejected (unparseable_number 180 "
                   "(e.g. fare = 'cheap')): the audit would have next to nothing to compare; check the columns "
                   "named and their values\n")
    assert seconds < 2.0
    # A few bad rows are pointed out, and the audit would still start.
    data.write_text(HEADER + "\n" + "\n".join(line.replace("cheap", "12.5") if i > 2 else line
                                              for i, line in enumerate(lines)) + "\n", encoding="utf-8")
    code, out, err, _ = _run(["validate", "--config", str(config)], capsys)
    assert code == 0 and "values: 2 of the first 200 rows would be rejected (unparseable_number 2 (e.g. fare = " \
                         "'cheap')); the audit keeps them in rejected/ with their reason" in out


def test_validate_reads_a_semicolon_csv_with_its_delimiter(tmp_path, capsys):
    lines = [f"o{i};u{i % 5};2026-09-07T08:{i:02d}:00Z;12.5;Beijing;3.1;ios" for i in range(20)]
    data = tmp_path / "log.csv"
    data.write_text(HEADER.replace(",", ";") + "\n" + "\n".join(lines) + "\n", encoding="utf-8")
    config = _config_file(tmp_path, data, "csv")
    config.write_text(config.read_text().replace('format = "csv"', 'format = "csv"\ncsv_delimiter = ";"'))
    code, out, err, _ = _run(["validate", "--config", str(config)], capsys)
    assert (code, err) == (0, "") and "values: all 20 sampled rows parse as the audit reads them" in out
    assert "  os: ios 20\n" in out


def test_validate_counts_quote_rows_the_estimate_cannot_use(tmp_path, capsys):
    """A quote log: events other than the configured two, and purchases without a quoted price, are
    counted (they stop nothing: the other rows are still audited)."""
    header = HEADER + ",event,quoted"
    lines = [f"o{i},u{i % 5},2026-09-07T08:{i % 60:02d}:00Z,12.5,Beijing,3.1,{'ios' if i % 2 else 'android'},"
             f"{['quote', 'purchase', 'Purchase'][i % 3]},{'' if i % 4 == 1 else '11.0'}" for i in range(60)]
    data = tmp_path / "log.csv"
    data.write_text(header + "\n" + "\n".join(lines) + "\n", encoding="utf-8")
    config = _config_file(tmp_path, data, "csv")
    config.write_text(config.read_text() + '\n[quotes]\nevent_column = "event"\nquote_value = "quote"\n'
                      'purchase_value = "purchase"\nquoted_price = "quoted"\n')
    code, out, err, _ = _run(["validate", "--config", str(config)], capsys)
    assert (code, err) == (0, "")
    purchases = [i for i in range(60) if i % 3 == 1]
    assert ("quotes: 20 of the first 60 rows have an event other than 'quote' or 'purchase' ('Purchase' 20): "
            "they take part in no quote comparison") in out
    assert (f"quotes: {sum(i % 4 == 1 for i in purchases)} of {len(purchases)} sampled purchase rows have no "
            "positive quoted (no quote-to-final drift for them)") in out
