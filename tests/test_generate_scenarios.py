"""The scenario logs beside `rides`: deterministic, bad rows as counted, planted effects recoverable.

Effects are checked with pandas on 200k rows: the within-cell (fixed-effects)
estimate must recover what truth.json says was planted, and the configs must
name columns and values that exist. No Spark: the audit.toml files use config
keys (dose segments, [steering], [quotes], [[adjustments]], list/discount/net
columns) that are checked here with tomllib only.
"""

import json
import math
import tomllib

import numpy as np
import pandas as pd
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from auditor.synth import SCENARIOS, generate

NEW = [s for s in SCENARIOS if s != "rides"]
ROWS = 200_000
SEED = 2026

# scenario -> transaction id, user, match key spoiled by missing values, price, timestamp
ROLES = {
    "rides": ("order_no", "passenger_id", "city", "fare_cny", "req_time"),
    "hotel": ("booking_id", "member_id", "hotel_id", "paid_price", "booking_time"),
    "reseller": ("booking_id", "member_id", "hotel_id", "paid_price", "booking_time"),
    "coupons": ("order_no", "passenger_id", "city", "paid_price", "req_time"),
    "quotes": ("event_id", "passenger_id", "city", "fare_cny", "event_time"),
    "steering": ("order_no", "passenger_id", "city", "fare_cny", "req_time"),
    "loyalty": ("order_no", "passenger_id", "city", "fare_cny", "req_time"),
    "null": ("order_no", "passenger_id", "city", "fare_cny", "req_time"),
    **{s: ("order_no", "passenger_id", "city", "fare_cny", "req_time")
       for s in ("personal_null", "personal_wtp", "personal_phone", "personal_tests")},
}
USER_ATTRIBUTES = {
    "hotel": ["membership_tier", "device", "prior_bookings"],
    "reseller": ["membership_tier", "device", "prior_bookings"],
    "coupons": ["os", "membership", "tenure_band", "tenure_days", "prior_orders", "city"],
    "quotes": ["os", "membership", "tenure_band", "prior_orders", "city"],
    "steering": ["os", "membership", "tenure_band", "prior_orders", "city"],
    "loyalty": ["os", "membership", "tenure_band", "prior_orders", "city"],
    "null": ["os", "membership", "tenure_band", "prior_orders", "city"],
    **{s: ["os", "membership", "tenure_band", "prior_orders", "city", "phone_model"]
       for s in ("personal_null", "personal_wtp", "personal_phone", "personal_tests")},
}
RIDE_CELLS = ["city", "car_level", "start_grid", "end_grid", "hour", "distance_bin"]
HOTEL_CELLS = ["hotel_id", "room_type", "checkin_date", "channel", "lead_bin"]


def clean(made, scenario: str) -> pd.DataFrame:
    """The log as an audit would see it after dropping bad rows, with cell keys added."""
    tid, user, key, price, _ = ROLES[scenario]
    frame = pq.read_table(made.data_path).to_pandas()
    frame = frame.drop_duplicates(tid).dropna(subset=[user, key])
    frame = frame[frame[price] > 0].copy()
    if "req_time" in frame or "event_time" in frame:
        frame["hour"] = frame.get("req_time", frame.get("event_time")).dt.floor("h")
        frame["distance_bin"] = frame.distance_m // 2000
    else:
        frame["lead_bin"] = frame.lead_time_days // 7
    frame["log_price"] = np.log(frame[price])
    return frame


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    """Each scenario generated once at 200k rows, lazily."""
    made, frames = {}, {}

    def get(scenario: str):
        if scenario not in frames:
            made[scenario] = generate(scenario, ROWS, SEED, tmp_path_factory.mktemp(scenario))
            frames[scenario] = clean(made[scenario], scenario)
        return made[scenario], frames[scenario]
    return get


def demeaned(frame: pd.DataFrame, cells: list[str], values: pd.Series) -> pd.Series:
    return values - values.groupby([frame[c] for c in cells], observed=True).transform("mean")


def within_cell(frame: pd.DataFrame, cells: list[str], column: str, reference: str, group: str,
                y: str = "log_price") -> float:
    """Fixed-effects estimate of the group's premium over the reference, as a fraction."""
    pair = frame[frame[column].isin([reference, group])]
    x = demeaned(pair, cells, (pair[column] == group).astype(float))
    return float(np.expm1((x * demeaned(pair, cells, pair[y])).sum() / (x * x).sum()))


def raw_gap(frame: pd.DataFrame, column: str, reference: str, group: str, y: str = "log_price") -> float:
    means = frame.groupby(column)[y].mean()
    return float(np.expm1(means[group] - means[reference]))


def common_support(frame: pd.DataFrame, cells: list[str], column: str, reference: str, group: str) -> float:
    """Share of the pair's rows in cells holding both groups."""
    pair = frame[frame[column].isin([reference, group])]
    both = pair.groupby(cells, observed=True)[column].transform("nunique") == 2
    return float(both.mean())


# --- Mechanics -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", NEW)
def test_same_seed_same_bytes(tmp_path, scenario):
    fmt = "json" if scenario in ("hotel", "quotes") else "parquet"  # the text path too, where it differs most
    first = generate(scenario, 3_000, 7, tmp_path / "a", fmt=fmt)
    second = generate(scenario, 3_000, 7, tmp_path / "b", fmt=fmt)
    other = generate(scenario, 3_000, 8, tmp_path / "c", fmt=fmt)
    assert first.data_path.read_bytes() == second.data_path.read_bytes()
    assert first.data_path.read_bytes() != other.data_path.read_bytes()
    assert first.truth_path.read_text() == second.truth_path.read_text()
    for a, b in zip(first.config_paths, second.config_paths):
        assert a.read_text() == b.read_text()


@pytest.mark.parametrize("scenario", NEW)
def test_parquet_bad_rows_match_truth(tmp_path, scenario):
    tid, user, key, price, _ = ROLES[scenario]
    made = generate(scenario, 20_000, 3, tmp_path, bad_row_share=0.01)
    truth = json.loads(made.truth_path.read_text())
    table = pq.read_table(made.data_path).to_pandas()
    assert made.rows == truth["rows"] == len(table) == 20_000
    assert truth["scenario"] == scenario
    bad = truth["bad_rows"]
    assert bad["duplicate_transaction_id"] == len(table) - table[tid].nunique() > 0
    assert bad["missing_value"] == table[user].isna().sum() + table[key].isna().sum() > 0
    assert bad["nonpositive_price"] == (table[price] <= 0).sum() > 0
    assert bad["unparseable_number"] == bad["unparseable_timestamp"] == 0
    flags = [table[tid].duplicated(keep=False), table[user].isna(), table[key].isna(), table[price] <= 0]
    assert (sum(f.astype(int) for f in flags) <= 1).all()  # each bad row is bad for one reason
    for column, counts in truth.get("rows_by", {}).items():
        assert table[column].value_counts().to_dict() == counts


@pytest.mark.parametrize("scenario", ["hotel", "coupons", "quotes"])
def test_csv_bad_rows_match_truth(tmp_path, scenario):
    tid, user, key, price, timestamp = ROLES[scenario]
    made = generate(scenario, 12_000, 5, tmp_path, fmt="csv", bad_row_share=0.01)
    bad = json.loads(made.truth_path.read_text())["bad_rows"]
    table = pcsv.read_csv(made.data_path, convert_options=pcsv.ConvertOptions(
        column_types={c: "string" for c in (tid, user, key, price, timestamp)},
        strings_can_be_null=True)).to_pandas()
    assert len(table) == 12_000
    number = pd.to_numeric(table[price], errors="coerce")
    assert bad["unparseable_number"] == number.isna().sum() > 0
    assert bad["unparseable_timestamp"] == (table[timestamp] == "yesterday").sum() > 0
    assert bad["nonpositive_price"] == (number <= 0).sum()
    assert bad["missing_value"] == table[user].isna().sum() + table[key].isna().sum()
    assert bad["duplicate_transaction_id"] == len(table) - table[tid].nunique()


@pytest.mark.parametrize("scenario", NEW)
def test_user_attributes_constant_and_heavy_users(logs, scenario):
    _, frame = logs(scenario)
    user = ROLES[scenario][1]
    assert (frame.groupby(user)[USER_ATTRIBUTES[scenario]].nunique() == 1).all().all()
    activity = frame[user].value_counts()
    assert activity.max() >= 100  # heavy users exist
    assert activity.median() < activity.mean()  # a long right tail


@pytest.mark.parametrize("scenario", NEW)
def test_configs_parse_and_name_what_exists(logs, scenario):
    made, _ = logs(scenario)
    table = pq.read_table(made.data_path)
    columns = set(table.column_names)
    names = [p.name for p in made.config_paths]
    assert names[0] == "audit.toml" and made.config_path == made.config_paths[0]
    assert names == (["audit.toml", "audit-no-channel.toml"] if scenario == "reseller" else ["audit.toml"])

    def values(column):
        return set(table.column(column).drop_null().unique().to_pylist())

    for path in made.config_paths:
        config = tomllib.loads(path.read_text(encoding="utf-8"))
        assert (path.parent / config["input"]["path"]).resolve() == made.data_path.resolve()
        assert config["input"]["format"] == "parquet"
        named = list(config["columns"].values()) + config["match"]["exact"] + list(config["match"].get("bins", {}))
        for segment in config["segments"]:
            named.append(segment["column"])
            if segment.get("kind") == "dose":
                assert set(segment) == {"name", "kind", "column"}
            else:
                assert {segment["reference"], *segment["groups"]} <= values(segment["column"])
        if "steering" in config:
            named += [config["steering"]["column"], *config["steering"]["context"]]
            assert set(config["steering"]["order"]) == values(config["steering"]["column"])
            assert config["steering"]["column"] not in config["steering"]["context"]
        if "quotes" in config:
            q = config["quotes"]
            named += [q["event_column"], q["quoted_price"]]
            assert values(q["event_column"]) == {q["quote_value"], q["purchase_value"]}
        for adjustment in config.get("adjustments", []):
            named.append(adjustment["column"])
            assert adjustment["value"] in values(adjustment["column"])
        assert set(named) <= columns, set(named) - columns


# --- Planted effects ---------------------------------------------------------------------------------------


def test_hotel_diamond_list_premium_behind_a_large_raw_gap(logs):
    made, frame = logs("hotel")
    truth = json.loads(made.truth_path.read_text())
    assert truth["premiums"]["membership_tier"]["diamond"] == 0.04
    frame["log_list"] = np.log(frame.list_price)
    assert within_cell(frame, HOTEL_CELLS, "membership_tier", "regular", "diamond", "log_list") == pytest.approx(0.04, abs=0.01)
    assert within_cell(frame, HOTEL_CELLS, "membership_tier", "regular", "gold", "log_list") == pytest.approx(0.0, abs=0.01)
    assert within_cell(frame, HOTEL_CELLS, "device", "android", "ios", "log_list") == pytest.approx(0.0, abs=0.01)
    assert raw_gap(frame, "membership_tier", "regular", "diamond") > 0.25
    assert common_support(frame, HOTEL_CELLS, "membership_tier", "regular", "diamond") > 0.5
    # Coupons do not depend on the tier.
    incidence = (frame.coupon > 0).groupby(frame.membership_tier).mean()
    assert incidence.max() - incidence.min() < 0.02
    assert (frame.paid_price == frame.list_price - frame.coupon).all()
    assert (frame.channel == "direct").all()
    assert (pd.to_datetime(frame.checkin_date, utc=True) - frame.booking_time.dt.floor("D")).dt.days.eq(frame.lead_time_days).all()


def test_reseller_markup_is_a_channel_not_a_premium(logs):
    made, frame = logs("reseller")
    truth = json.loads(made.truth_path.read_text())
    assert truth["configs"]["audit.toml"]["expect_flagged"] == []
    resold = frame[frame.channel == "reseller"]
    assert set(resold.membership_tier) == {"diamond"}
    assert (frame.channel == "reseller")[frame.membership_tier == "diamond"].mean() == pytest.approx(0.30, abs=0.02)
    # Resold rooms cost 8 % to 110 % more than the same room sold directly to diamond members.
    keys = ["hotel_id", "room_type", "checkin_date", "lead_bin"]
    direct = frame[(frame.channel == "direct") & (frame.membership_tier == "diamond")].groupby(keys).log_price.mean()
    markup = np.exp(resold.join(direct.rename("direct"), on=keys).eval("log_price - direct").dropna())
    assert markup.median() == pytest.approx(1.5, abs=0.1)
    assert within_cell(frame, HOTEL_CELLS, "membership_tier", "regular", "diamond") == pytest.approx(0.0, abs=0.01)
    no_channel = [c for c in HOTEL_CELLS if c != "channel"]
    ignored = within_cell(frame, no_channel, "membership_tier", "regular", "diamond")
    assert ignored > 0.08
    assert ignored == pytest.approx(truth["reseller"]["diamond_premium_if_channel_ignored"], abs=0.03)


def test_coupons_differ_while_list_prices_do_not(logs):
    made, frame = logs("coupons")
    truth = json.loads(made.truth_path.read_text())["coupons"]
    frame["log_list"] = np.log(frame.list_price)
    assert within_cell(frame, RIDE_CELLS, "os", "android", "ios", "log_list") == pytest.approx(0.0, abs=0.01)
    assert within_cell(frame, RIDE_CELLS, "os", "android", "ios") > 0.02  # a net price gap, from coupons alone
    regular = frame[frame.promo == ""]
    with_coupon = regular[regular.coupon > 0]
    incidence = (regular.coupon > 0).groupby(regular.os).mean()
    amount = with_coupon.groupby("os").coupon.mean()
    for os in ("android", "ios"):
        assert incidence[os] == pytest.approx(truth["incidence"][os], abs=0.02)
        assert amount[os] == pytest.approx(truth["mean_amount_cny"][os], abs=0.12)
    # The declared promotion: new users only, both OSes alike, always a discount.
    promo = frame[frame.promo == "new_user"]
    assert (promo.tenure_days < 30).all() and (regular.tenure_days >= 30).all()
    assert (promo.coupon > 0).all()
    new_users = frame.drop_duplicates("passenger_id")
    new_share = (new_users.tenure_days < 30).groupby(new_users.os).mean()
    assert abs(new_share["ios"] - new_share["android"]) < 0.03
    assert np.allclose(frame.paid_price, frame.list_price - frame.coupon, atol=0.006)


def test_quotes_drift_and_conversion(logs):
    made, frame = logs("quotes")
    truth = json.loads(made.truth_path.read_text())
    quotes, purchases = frame[frame.event == "quote"], frame[frame.event == "purchase"]
    assert frame.event_id.str[0].map({"Q": "quote", "P": "purchase"}).eq(frame.event).all()
    assert (quotes.fare_cny == quotes.quoted_fare).all()
    # Every purchase follows its own request's quote, by the same passenger at the same quoted fare.
    linked = purchases.merge(quotes, on="request_id", suffixes=("", "_quote"))
    assert len(linked) > 0.99 * len(purchases)
    assert (linked.passenger_id == linked.passenger_id_quote).all()
    assert (linked.quoted_fare == linked.fare_cny_quote).all()
    assert (linked.event_time > linked.event_time_quote).all()
    drift = np.log(purchases.fare_cny / purchases.quoted_fare).groupby(purchases.os).mean()
    assert drift["ios"] - drift["android"] == pytest.approx(math.log(1.03), abs=0.004)
    assert drift["harmonyos"] - drift["android"] == pytest.approx(0.0, abs=0.006)
    assert within_cell(quotes, RIDE_CELLS, "os", "android", "ios") == pytest.approx(0.0, abs=0.01)
    converted = quotes.request_id.isin(purchases.request_id).groupby(quotes.os).mean()
    for os in ("android", "ios"):
        assert converted[os] == pytest.approx(truth["conversion"][os], abs=0.02)


def test_steering_mixes_car_levels_without_a_price_premium(logs):
    made, frame = logs("steering")
    shares = json.loads(made.truth_path.read_text())["steering"]["shares"]
    context = ["city", "start_grid", "end_grid"]
    comfort = (frame.car_level == "comfort").groupby([frame[c] for c in context] + [frame.os]).agg(["mean", "size"])
    comfort = comfort[comfort["size"] >= 200]["mean"].unstack("os").dropna()
    assert len(comfort) >= 20  # contexts with enough rides of both OSes
    assert (comfort.ios > comfort.android).all()
    assert comfort.ios.median() == pytest.approx(shares["ios"]["comfort"], abs=0.03)
    assert comfort.android.median() == pytest.approx(shares["android"]["comfort"], abs=0.02)
    assert within_cell(frame, RIDE_CELLS, "os", "android", "ios") == pytest.approx(0.0, abs=0.01)
    assert raw_gap(frame, "os", "android", "ios") > 0.03  # the mix alone makes iOS rides dearer


def test_loyalty_dose_response(logs):
    _, frame = logs("loyalty")
    assert frame.prior_orders.min() == 0 and frame.prior_orders.max() <= 2000
    assert frame.prior_orders.quantile(0.99) > 10 * frame.prior_orders.median()  # heavy-tailed
    x = demeaned(frame, RIDE_CELLS, np.log2(1.0 + frame.prior_orders))
    slope = (x * demeaned(frame, RIDE_CELLS, frame.log_price)).sum() / (x * x).sum()
    assert slope == pytest.approx(math.log(1.015), abs=0.002)
    assert within_cell(frame, RIDE_CELLS, "os", "android", "ios") == pytest.approx(0.0, abs=0.01)


def test_null_plants_nothing(logs):
    made, frame = logs("null")
    truth = json.loads(made.truth_path.read_text())
    assert truth["simpson_trap"] is None
    assert all(p == 0.0 for groups in truth["premiums"].values() for p in groups.values())
    for column, reference, group in (("os", "android", "ios"), ("os", "android", "harmonyos"),
                                     ("tenure_band", "new", "loyal"), ("membership", "basic", "plus")):
        assert within_cell(frame, RIDE_CELLS, column, reference, group) == pytest.approx(0.0, abs=0.01)
    assert abs(raw_gap(frame, "membership", "basic", "plus")) < 0.03  # no Simpson trap
    x = demeaned(frame, RIDE_CELLS, np.log2(1.0 + frame.prior_orders))
    assert (x * demeaned(frame, RIDE_CELLS, frame.log_price)).sum() / (x * x).sum() == pytest.approx(0.0, abs=0.002)


def test_cli_help_names_every_scenario(capsys):
    from auditor.cli import main

    with pytest.raises(SystemExit):
        main(["generate", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    for scenario in SCENARIOS:
        assert f"{scenario} (" in help_text
