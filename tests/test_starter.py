"""`auditor init`: the starter config proposes the true roles for every generated scenario (no Spark)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from auditor.cli import main
from auditor.spec import load_config
from auditor.synth import SCENARIOS, generate
from auditor.starter import propose


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_proposed_roles_are_the_true_ones_for_every_scenario(scenario, tmp_path, capsys):
    made = generate(scenario, 3000, 2026, tmp_path / "sample")
    out = tmp_path / "proposed.toml"
    assert main(["init", "--input", str(made.data_path), "--out", str(out)]) == 0
    assert capsys.readouterr().out.startswith(f"wrote {out} from 3,000 sampled rows: ")
    truth, proposed = load_config(made.config_path), load_config(out)  # the starter config is a valid config
    assert proposed.columns == truth.columns
    assert proposed.parts == truth.parts
    assert proposed.input.path == truth.input.path and proposed.input.format == truth.input.format
    assert set(proposed.match.exact) == set(truth.match.exact)
    assert {n for n, _ in proposed.match.bins} == {n for n, _ in truth.match.bins}
    assert (proposed.match.time_bucket is None) == (truth.match.time_bucket is None)
    groups = {s.column for s in truth.segments if s.kind == "group"}
    assert groups <= {s.column for s in proposed.segments}
    doses = {s.column for s in truth.segments if s.kind == "dose"}
    text = out.read_text()
    assert all(f'# column = "{c}"' in text for c in doses)  # a dose is proposed as a commented block
    references = {s.column: s.reference for s in truth.segments if s.kind == "group"}
    for s in proposed.segments:  # the reference is the one the scenario's author chose; the groups all others
        log = pd.read_parquet(made.data_path)
        counts = log[s.column].astype(str).value_counts()
        if s.column in references:  # elsewhere test_reference_values_read_tiers_upwards says which
            assert s.reference == references[s.column]
        assert set(s.groups) == set(counts.index) - {s.reference}


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_text_formats_are_typed_from_their_values(fmt, tmp_path, capsys):
    made = generate("hotel", 3000, 7, tmp_path / "sample", fmt=fmt)
    out = tmp_path / "proposed.toml"
    assert main(["init", "--input", str(made.data_path), "--out", str(out)]) == 0
    truth, proposed = load_config(made.config_path), load_config(out)
    assert proposed.columns == truth.columns and proposed.input.format == fmt
    assert set(proposed.match.exact) == set(truth.match.exact)
    assert {n for n, _ in proposed.match.bins} == {n for n, _ in truth.match.bins}


def test_chinese_and_pinyin_names():
    rng = np.random.default_rng(1)
    users = rng.integers(0, 60, 2000)
    device = np.where(np.arange(60) % 3 == 0, "苹果", "安卓")
    frame = pd.DataFrame({
        "订单号": [f"D{i:06d}" for i in range(2000)],
        "yonghu_id": [f"U{u:03d}" for u in users],
        "下单时间": pd.Timestamp("2026-09-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 86400 * 7, 2000), unit="s"),
        "城市": rng.choice(["北京", "上海", "广州"], 2000),
        "shebei": device[users],
        "shifu_jine": np.round(rng.uniform(10, 90, 2000), 2),
        "距离": rng.uniform(500, 20000, 2000).round(),
    })
    proposal = propose(frame, "/logs/orders.parquet", "parquet")
    assert proposal.roles == {"transaction_id": "订单号", "user_id": "yonghu_id", "timestamp": "下单时间",
                              "price": "shifu_jine"}
    assert proposal.match == ("城市",) and proposal.segments == ("shebei",)
    assert [n for n, _ in proposal.bins] == ["距离"]


def test_no_guess_without_evidence(tmp_path, capsys):
    """No column is named like a price: the role is a TODO the config check names, not a silent guess."""
    frame = pd.DataFrame({"order_no": [f"o{i}" for i in range(500)], "user": [f"u{i % 40}" for i in range(500)],
                          "ts": pd.date_range("2026-09-01", periods=500, freq="17min", tz="UTC"),
                          "x": np.linspace(1, 50, 500), "route": [f"r{i % 7}" for i in range(500)]})
    frame.to_parquet(tmp_path / "log.parquet")
    out = tmp_path / "audit.toml"
    assert main(["init", "--input", str(tmp_path / "log.parquet"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "price = TODO" in printed
    assert "to do before running: [columns] price is missing" in printed
    assert '# price = "TODO"   # no column fits: name it here' in out.read_text()


def test_an_existing_config_is_not_replaced(tmp_path, capsys):
    made = generate("null", 1000, 1, tmp_path / "sample")
    before = made.config_path.read_text()
    assert main(["init", "--input", str(made.data_path), "--out", str(made.config_path)]) == 2
    assert capsys.readouterr().err == (f"error: --out {made.config_path} already exists: choose another file, "
                                       "or pass --overwrite to replace it\n")
    assert made.config_path.read_text() == before


def test_init_proposes_what_a_reader_expects_and_its_placeholders_stop_validate(tmp_path, capsys):
    """On the demo's log: no count column offered as a user id, the lowest tier and the commonest device
    as references (with the reason), distance bins of 2,000 m as the demo uses, and the TODO name and
    platform stop `validate` instead of passing silently."""
    made = generate("rides", 20_000, 2026, tmp_path / "sample")
    out = tmp_path / "proposed.toml"
    assert main(["init", "--input", str(made.data_path), "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "to do before running: [audit] name = 'TODO: name this audit' is still the starter's placeholder" in said
    text = out.read_text()
    assert "prior_orders" not in [line.split("=")[1].split("#")[0].strip().strip('"')
                                  for line in text.splitlines() if line.lstrip("# ").startswith("user_id =")]
    proposed, truth = load_config(out), load_config(made.config_path)
    assert dict(proposed.match.bins) == dict(truth.match.bins) == {"distance_m": 2000}
    by_column = {s.column: s for s in proposed.segments}
    assert by_column["tenure_band"].reference == "new"
    assert "# reference: the lowest tier (new < regular < loyal): premiums are read upwards from it" in text
    assert by_column["os"].reference == "android"
    assert "# reference: the most frequent value (android, " in text
    assert main(["validate", "--config", str(out)]) == 2
    assert capsys.readouterr().err == ("error: [audit] name = 'TODO: name this audit' is still the starter's "
                                       "placeholder: write the audit's name (the report's title page shows it)\n")
    out.write_text(text.replace("TODO: name this audit", "Rides").replace("TODO: the platform audited", "R"))
    assert main(["validate", "--config", str(out)]) == 0


def test_reference_values_read_tiers_upwards():
    from auditor.starter import Profile, reference_value

    def profile(*top):
        return Profile(name="c", kind="text", rows=100, nulls=0, distinct=len(top), constant_within_user=1.0, top=top)

    assert reference_value(profile(("gold", 50), ("regular", 30), ("diamond", 20)))[0] == "regular"
    assert reference_value(profile(("plus", 60), ("basic", 40)))[0] == "basic"
    assert reference_value(profile(("V3", 60), ("V1", 30), ("V2", 10)))[0] == "V1"
    assert reference_value(profile(("ios", 60), ("android", 40)))[0] == "ios"  # not tiers: the commonest


def test_a_hotel_log_average_daily_rate_is_the_price_not_a_match_key():
    """Hotel logs name the price adr (average daily rate)."""
    rng = np.random.default_rng(2)
    guests = rng.integers(0, 80, 2000)
    frame = pd.DataFrame({
        "booking_id": [f"B{i:06d}" for i in range(2000)],
        "guest_id": [f"G{u:03d}" for u in guests],
        "arrival_time": pd.Timestamp("2026-07-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 86400 * 30, 2000), unit="s"),
        "room_type": rng.choice(["a", "d", "e"], 2000),
        "adr": np.round(rng.uniform(40, 300, 2000), 2),
    })
    proposal = propose(frame, "/logs/bookings.parquet", "parquet")
    assert proposal.roles["price"] == "adr"
    assert "adr" not in {n for n, _ in proposal.bins} and "adr" not in proposal.match
