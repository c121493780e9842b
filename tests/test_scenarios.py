"""Each generated scenario, audited end to end in Spark, gives the answer its truth.json plants."""

from __future__ import annotations

import json

import pytest

from auditor import pipeline
from auditor.spec import load_config, parse_config
from auditor.synth import generate

pytestmark = pytest.mark.slow


def _audit(spark, tmp_path, scenario, rows, toml="audit.toml", edit=None, seed=2026):
    made = generate(scenario, rows, seed, tmp_path / scenario)
    truth = json.loads(made.truth_path.read_text())
    path = made.config_path.parent / toml
    config = load_config(path)
    if edit:
        config = parse_config(edit(config.source_text), base_dir=path.parent)
    result = pipeline.run(config, spark, tmp_path / f"{scenario}-{path.stem}-out")
    return {(f.kind, f.group, f.outcome): f for f in result.findings}, truth, result


def test_coupon_gap_is_found_on_the_outcome_where_it_is(spark, tmp_path):
    found, truth, _ = _audit(spark, tmp_path, "coupons", 80_000)
    coupons = truth["coupons"]
    assert not found[("group", "ios", "list_price")].flagged  # the same list price
    incidence = found[("group", "ios", "coupon_incidence")]
    assert incidence.flagged and incidence.scale == "difference"
    assert incidence.premium == pytest.approx(coupons["incidence"]["ios"] - coupons["incidence"]["android"], abs=0.04)
    assert incidence.to_json()["odds_ratio"] < 0.6
    amount = found[("group", "ios", "coupon_amount")]
    assert amount.flagged and amount.premium < -0.3
    assert found[("group", "ios", "price")].flagged and found[("group", "ios", "price")].premium > 0.02


def test_quote_to_final_drift_is_found_for_one_segment(spark, tmp_path):
    found, truth, _ = _audit(spark, tmp_path, "quotes", 60_000)
    drift = found[("group", "ios", "quote_drift")]
    assert drift.flagged
    assert drift.premium == pytest.approx(truth["drift"]["premiums"]["os"]["ios"], abs=0.005)
    conversion = found[("group", "ios", "conversion")]
    rates = truth["conversion"]
    assert conversion.scale == "difference"
    assert conversion.premium == pytest.approx(rates["ios"] - rates["android"], abs=0.025)
    assert not found[("group", "ios", "price")].flagged  # quotes themselves carry no premium
    assert not found[("group", "harmonyos", "quote_drift")].flagged


def test_steering_to_pricier_options_is_found_while_same_option_prices_are_equal(spark, tmp_path):
    found, _, _ = _audit(spark, tmp_path, "steering", 60_000)
    steering = found[("steering", "ios", "offered_tier_price")]
    assert steering.flagged and steering.premium > 0.02 and steering.to_json()["tier_shift"] > 0.1
    assert not found[("steering", "harmonyos", "offered_tier_price")].flagged
    assert not found[("group", "ios", "price")].flagged


def test_loyalty_dose_is_found_per_doubling_with_a_rising_curve(spark, tmp_path):
    found, truth, _ = _audit(spark, tmp_path, "loyalty", 60_000)
    dose = found[("dose", "per doubling", "price_per_doubling")]
    assert dose.flagged
    assert dose.premium == pytest.approx(0.015, abs=0.004)
    curve = [b["premium"] for b in dose.to_json()["bands"]]
    assert curve == sorted(curve) and curve[-1] > 0.08


def test_null_dose_is_silent(spark, tmp_path):
    found, _, result = _audit(spark, tmp_path, "null", 60_000, edit=lambda t: t.replace("materiality = 0.01", "materiality = 0.02"))
    assert not any(f.flagged for f in result.findings)
    assert found[("dose", "per doubling", "price_per_doubling")].verdict in ("cleared", "inconclusive")
    # Large enough for a 2 % margin: the group comparisons are cleared, not merely "not flagged".
    assert found[("group", "ios", "price")].verdict == "cleared"


def test_null_too_small_is_inconclusive_not_cleared(spark, tmp_path):
    # 3,000 rows leave fewer than the default 30 users on some side of every group comparison
    # (insufficient_data); with 10 per side the larger groups are judged, and must not be cleared.
    _, _, result = _audit(spark, tmp_path, "null", 3_000,
                          edit=lambda t: t.replace("materiality = 0.01", "materiality = 0.02\nmin_users = 10"))
    groups = [f for f in result.findings if f.kind == "group"]
    verdicts = {f.verdict for f in groups}
    assert verdicts <= {"inconclusive", "insufficient_data"} and "inconclusive" in verdicts
    assert all(f.mde > 0.02 for f in groups if f.verdict == "inconclusive")
    assert not any(f.flagged for f in result.findings)


def test_reseller_markup_is_not_called_discrimination_when_channel_is_matched(spark, tmp_path):
    found, truth, _ = _audit(spark, tmp_path, "reseller", 60_000)
    assert not truth["configs"]["audit.toml"]["expect_flagged"]
    assert not any(f.flagged for f in found.values())
    unmatched, _, _ = _audit(spark, tmp_path / "b", "reseller", 60_000, toml="audit-no-channel.toml")
    diamond = unmatched[("group", "diamond", "price")]
    assert diamond.flagged and diamond.premium > 0.08
    # The sensitivity table is there to show the reader how the finding moves.
    assert diamond.to_json()["sensitivity"] and all("change" in row for row in diamond.to_json()["sensitivity"])


def test_hotel_top_tier_premium_and_its_simpson_mix(spark, tmp_path):
    found, truth, _ = _audit(spark, tmp_path, "hotel", 60_000)
    listed = found[("group", "diamond", "list_price")]
    assert listed.flagged and listed.premium == pytest.approx(0.04, abs=0.012)
    assert not found[("group", "gold", "list_price")].flagged
    parts = found[("group", "diamond", "price")].decomposition
    assert parts.mix > 0.15  # top members book pricier rooms
