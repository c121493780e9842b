"""The synthetic ride log: deterministic, its bad rows as counted, its planted premiums recoverable."""

import json

import numpy as np
import pandas as pd
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from auditor.spec import load_config
from auditor.synth import SCENARIOS, generate

MATCH = ["city", "car_level", "start_grid", "end_grid", "hour", "distance_bin"]


@pytest.fixture(scope="module")
def rides(tmp_path_factory):
    """100k parquet rows, as the audit would see them after cleaning."""
    made = generate("rides", 100_000, 42, tmp_path_factory.mktemp("rides"))
    frame = pq.read_table(made.data_path).to_pandas()
    frame = frame.drop_duplicates("order_no").dropna(subset=["passenger_id", "city"])
    frame = frame[frame.fare_cny > 0].copy()
    frame["hour"] = frame.req_time.dt.floor("h")
    frame["distance_bin"] = frame.distance_m // 2000
    frame["log_fare"] = np.log(frame.fare_cny)
    return frame


def within_cell_premium(frame: pd.DataFrame, column: str, reference: str, group: str) -> float:
    """Fixed-effects estimate: demean log fare and the group indicator within cells, regress."""
    pair = frame[frame[column].isin([reference, group])]
    cells = pair.groupby(MATCH, observed=True)
    in_group = (pair[column] == group).astype(float)
    x = in_group - in_group.groupby([pair[c] for c in MATCH]).transform("mean")
    y = pair.log_fare - cells.log_fare.transform("mean")
    return float(np.expm1((x * y).sum() / (x * x).sum()))


def raw_premium(frame: pd.DataFrame, column: str, reference: str, group: str) -> float:
    means = frame.groupby(column).log_fare.mean()
    return float(np.expm1(means[group] - means[reference]))


@pytest.mark.parametrize("fmt", ["parquet", "csv", "json"])
def test_same_seed_same_bytes(tmp_path, fmt):
    first = generate("rides", 5_000, 7, tmp_path / "a", fmt=fmt)
    second = generate("rides", 5_000, 7, tmp_path / "b", fmt=fmt)
    other = generate("rides", 5_000, 8, tmp_path / "c", fmt=fmt)
    assert first.data_path.read_bytes() == second.data_path.read_bytes()
    assert first.data_path.read_bytes() != other.data_path.read_bytes()
    assert first.truth_path.read_text() == second.truth_path.read_text()


def test_parquet_rows_and_bad_rows_match_truth(tmp_path):
    made = generate("rides", 20_000, 3, tmp_path, bad_row_share=0.01)
    truth = json.loads(made.truth_path.read_text())
    table = pq.read_table(made.data_path).to_pandas()
    assert made.rows == truth["rows"] == len(table) == 20_000
    assert made.data_path == tmp_path / "data" / "rides.parquet"
    bad = truth["bad_rows"]
    assert bad["duplicate_transaction_id"] == len(table) - table.order_no.nunique() > 0
    assert bad["missing_value"] == table.passenger_id.isna().sum() + table.city.isna().sum() > 0
    assert bad["nonpositive_price"] == (table.fare_cny <= 0).sum() > 0
    assert bad["unparseable_number"] == bad["unparseable_timestamp"] == 0
    # Each bad row is bad for one reason only, and a duplicate copies a clean ride.
    flags = [table.order_no.duplicated(keep=False), table.passenger_id.isna(), table.city.isna(), table.fare_cny <= 0]
    assert (sum(f.astype(int) for f in flags) <= 1).all()
    assert str(table.req_time.dtype) == "datetime64[us, UTC]"
    assert table.req_time.min() >= pd.Timestamp("2026-09-07", tz="UTC")
    assert table.req_time.max() < pd.Timestamp("2026-09-14", tz="UTC")


def test_csv_bad_rows_match_truth(tmp_path):
    made = generate("rides", 12_000, 5, tmp_path, fmt="csv", bad_row_share=0.01)
    truth = json.loads(made.truth_path.read_text())["bad_rows"]
    table = pcsv.read_csv(made.data_path, convert_options=pcsv.ConvertOptions(
        column_types={"fare_cny": "string", "req_time": "string", "passenger_id": "string", "city": "string"},
        strings_can_be_null=True)).to_pandas()
    assert len(table) == 12_000
    fare = pd.to_numeric(table.fare_cny, errors="coerce")
    assert truth["unparseable_number"] == fare.isna().sum() > 0
    assert truth["unparseable_timestamp"] == (table.req_time == "yesterday").sum() > 0
    assert truth["nonpositive_price"] == (fare <= 0).sum()
    assert truth["missing_value"] == table.passenger_id.isna().sum() + table.city.isna().sum()
    assert truth["duplicate_transaction_id"] == len(table) - table.order_no.nunique()
    parsed = pd.to_datetime(table.req_time[table.req_time != "yesterday"], format="%Y-%m-%dT%H:%M:%SZ", utc=True)
    assert parsed.notna().all()


def test_user_attributes_constant_per_passenger(rides):
    per_passenger = rides.groupby("passenger_id")[["os", "membership", "tenure_band", "prior_orders", "city"]].nunique()
    assert (per_passenger == 1).all().all()
    activity = rides.passenger_id.value_counts()
    assert activity.max() >= 100  # heavy users exist
    assert len(activity) > 100_000 / 40 * 0.95  # (nearly) every passenger rides at least once


def test_planted_premiums_recovered_within_cells(rides):
    assert within_cell_premium(rides, "os", "android", "ios") == pytest.approx(0.05, abs=0.01)
    assert within_cell_premium(rides, "os", "android", "harmonyos") == pytest.approx(0.0, abs=0.01)
    assert within_cell_premium(rides, "tenure_band", "new", "loyal") == pytest.approx(0.02, abs=0.01)


def test_membership_is_a_simpsons_trap(rides):
    assert raw_premium(rides, "membership", "basic", "plus") > 0.15
    assert within_cell_premium(rides, "membership", "basic", "plus") == pytest.approx(0.0, abs=0.01)


def test_audit_toml_points_at_the_data(tmp_path):
    made = generate("rides", 1_000, 1, tmp_path, fmt="json")
    config = load_config(made.config_path)
    assert config.input.path == str(made.data_path.resolve())
    assert config.input.format == "json"
    assert [s.column for s in config.segments] == ["os", "tenure_band", "membership"]


@pytest.mark.parametrize("kwargs, message", [
    ({"scenario": "groceries"}, "scenario"),
    ({"fmt": "xlsx"}, "format"),
    ({"rows": 999}, "1000"),
])
def test_bad_arguments_are_refused(tmp_path, kwargs, message):
    args = {"scenario": SCENARIOS[0], "rows": 1_000, "seed": 0, "out": tmp_path, **kwargs}
    with pytest.raises(ValueError, match=message):
        generate(**args)
