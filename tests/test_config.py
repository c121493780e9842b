"""Config: the issue's example parses as written; every mistake names its key and fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.spec import parse_config
from auditor.errors import AuditConfigError

EXAMPLE = '''
[audit]
name = "Ride-hailing fares, Sept 2026"
platform = "ExampleRide"
[input]
path = "data/rides.parquet"        # a file, folder or glob
format = "parquet"                  # parquet | csv (header row) | json (json lines)
[columns]                           # the platform's column for each role
transaction_id = "order_no"
user_id = "passenger_id"
timestamp = "req_time"
price = "fare_cny"
[match]                             # two purchases are comparable when all of these agree
exact = ["city", "car_level", "start_grid", "end_grid"]
time_bucket = "1h"                  # optional: timestamps floored to this width (e.g. 15m, 1h, 1d)
bins = { distance_m = 500 }         # optional: numeric columns coarsened to bins of this width
[[segments]]                        # each group is compared with the reference group
name = "Device"
column = "os"
reference = "android"
groups = ["ios"]
[test]
alpha = 0.05                        # false discovery rate across all comparisons
materiality = 0.01                  # smallest |premium| worth flagging (1 %)
'''


def test_issue_example_parses_as_written():
    config = parse_config(EXAMPLE, base_dir=Path("/audits"))
    assert config.input.path == "/audits/data/rides.parquet"
    assert config.columns.price == "fare_cny"
    assert config.match.exact == ("city", "car_level", "start_grid", "end_grid")
    assert config.match.time_bucket_seconds == 3600
    assert config.match.bins == (("distance_m", 500.0),)
    assert config.segments[0].groups == ("ios",)
    assert (config.test.alpha, config.test.materiality) == (0.05, 0.01)
    assert config.used_columns == ("order_no", "passenger_id", "req_time", "fare_cny", "city", "car_level",
                                   "start_grid", "end_grid", "distance_m", "os")
    assert len(config.sha256) == 64


def test_zero_materiality_is_kept_not_replaced_by_default():
    config = parse_config(EXAMPLE.replace("materiality = 0.01", "materiality = 0"))
    assert config.test.materiality == 0.0


@pytest.mark.parametrize("edit,message", [
    (('price = "fare_cny"\n', ""),
     '[columns] price is missing: the column with the price paid, e.g. price = "fare_cny"'),
    (('format = "parquet"', 'format = "xlsx"'),
     "[input] format = 'xlsx' is not supported: use one of parquet, csv, json"),
    (('time_bucket = "1h"', 'time_bucket = "hourly"'),
     "[match] time_bucket = 'hourly' is not a duration: use a number and a unit s, m, h or d, e.g. \"15m\" or \"1h\""),
    (("alpha = 0.05", "alpha = 5"),
     "[test] alpha = 5 is out of range: use a value in (0, 1)"),
    (("alpha = 0.05", "alpah = 0.05"),
     "unknown config key [test] alpah: did you mean 'alpha'?"),
    (('groups = ["ios"]', 'groups = ["android"]'),
     "[segments[0]] the reference 'android' is also listed in groups: remove it from groups"),
    (('column = "os"', 'column = "city"'),
     "[segments[0]] column 'city' is also a match key: purchases are compared within cells that fix the "
     "match keys, so a segment cannot be one; remove it from [match]"),
    (("bins = { distance_m = 500 }", "bins = { distance_m = 0 }"),
     "[match] bins.distance_m = 0: a bin width must be a positive number"),
    (('[input]\npath = "data/rides.parquet"        # a file, folder or glob\n', "[input]\n"),
     '[input] path is missing: the log file, folder or glob, e.g. path = "data/rides.parquet", or a catalog table, e.g. table = "db.rides"'),
    (('name = "Device"', 'name = "Device"\nunit = "x"'),
     "unknown config key [segments] unit: known keys: name, column, reference, groups, kind, bands"),
    (("[audit]", "[audit\n"), None),
])
def test_bad_config_names_key_and_fix(edit, message):
    old, new = edit
    assert old in EXAMPLE
    with pytest.raises(AuditConfigError) as caught:
        parse_config(EXAMPLE.replace(old, new, 1))
    if message is None:
        assert str(caught.value).startswith("config is not valid TOML:")
    else:
        assert str(caught.value) == message


def test_unknown_timezone_is_a_config_error():
    text = EXAMPLE.replace('format = "parquet"', 'format = "parquet"\ntimezone = "Mars/Olympus"')
    with pytest.raises(AuditConfigError, match=r"^\[input\] timezone = 'Mars/Olympus' is not a known time zone"):
        parse_config(text)


def test_band_labels_name_counts_by_their_values_and_shares_by_their_edges():
    from auditor.spec import Segment

    counts = Segment("Loyalty", "prior_orders", kind="dose", bands=(0, 1, 2, 4, 16))
    assert [counts.band_label(i) for i in range(5)] == ["0", "1", "2–3", "4–15", "16+"]
    shares = Segment("Area", "prpblck", kind="dose", bands=(0, 0.05, 0.1, 0.5))
    assert [shares.band_label(i) for i in range(4)] == ["0–0.05", "0.05–0.1", "0.1–0.5", "0.5+"]
    mixed = Segment("Area", "x", kind="dose", bands=(0, 0.5, 2))
    assert [mixed.band_label(i) for i in range(3)] == ["0–0.5", "0.5–2", "2+"]
