"""Is pricing personalised? The statistics core against independent computations (no Spark)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

from auditor.stats.personal import (Dispersion, PairSums, Persistence, Reading, attribution, deviations, dispersion,
                                    half_means, persistence, persistence_permutation, read, seeded_half,
                                    split_halves)
from auditor.stats.premium import jackknife, user_scores
from auditor.vocabulary import LANGUAGES, READINGS


def _log(seed: int, users: int = 300, cells: int = 30, per_user: float = 9.0, user_sd: float = 0.0,
         noise: float = 0.05, user_cell_sd: float = 0.0):
    """Rows of a small log: log price = cell level + user effect + user-in-cell part + noise."""
    rng = np.random.default_rng([20261130, 99, seed])
    user = np.repeat(np.arange(users), 1 + rng.poisson(per_user - 1, users))
    cell = rng.integers(0, cells, user.size)
    theta = rng.normal(0.0, user_sd, users) if user_sd else np.zeros(users)
    pair = cell * users + user
    _, pair_index = np.unique(pair, return_inverse=True)
    gamma = rng.normal(0.0, user_cell_sd, pair_index.max() + 1)[pair_index] if user_cell_sd else 0.0
    y = rng.normal(3.0, 0.5, cells)[cell] + theta[user] + gamma + rng.normal(0.0, noise, user.size)
    return cell, user, y


def _brute_deviations(cell, user, y):
    """Each (cell, user) pair's mean minus the mean of the other users' rows in the cell, by loops over rows."""
    frame = pd.DataFrame({"cell": cell, "user": user, "y": y})
    out = {}
    for (c, u), rows in frame.groupby(["cell", "user"]):
        others = frame[(frame.cell == c) & (frame.user != u)]
        if len(others):
            n, rest = len(rows), len(others)
            out[(c, u)] = (rows.y.mean() - others.y.mean(), n * rest / (n + rest), n)
    return out


def test_pair_sums_merge_equals_the_whole():
    cell, user, y = _log(0)
    whole = PairSums.from_rows(cell, user, y)
    cut = len(y) // 3
    merged = PairSums.from_rows(cell[:cut], user[:cut], y[:cut]).merge(
        PairSums.from_rows(cell[cut:], user[cut:], y[cut:]))
    for name in ("cell", "user", "n", "sum_y", "sum_y2"):
        np.testing.assert_allclose(getattr(merged, name), getattr(whole, name), rtol=1e-12)


def test_deviations_are_each_pairs_gap_to_the_other_users_of_its_cell():
    cell, user, y = _log(1, users=40, cells=6, per_user=4)
    cell[:3], user[:3] = 99, 0  # a cell bought by one user only: no deviation
    dev = deviations(PairSums.from_rows(cell, user, y))
    expected = _brute_deviations(cell, user, y)
    assert len(expected) == dev.cell.size and 99 not in dev.cell
    for c, u, d, w in zip(dev.cell, dev.user, dev.deviation, dev.weight):
        assert d == pytest.approx(expected[(c, u)][0], abs=1e-12)
        assert w == pytest.approx(expected[(c, u)][1], rel=1e-12)


def test_seeded_half_is_balanced_deterministic_and_depends_on_the_seed():
    users, cells = np.repeat(np.arange(2000), 10), np.tile(np.arange(10), 2000)
    half = seeded_half(users, cells, 7)
    assert 0.48 < half.mean() < 0.52
    assert np.array_equal(half, seeded_half(users, cells, 7))
    assert 0.45 < (half != seeded_half(users, cells, 8)).mean() < 0.55


def test_dispersion_shares_percentiles_and_noise_floor_against_rows():
    cell, user, y = _log(2, users=120, cells=10, per_user=6, user_sd=0.02)
    pairs = PairSums.from_rows(cell, user, y)
    result = dispersion(pairs, rounding=0.001, materiality=0.01)
    expected = _brute_deviations(cell, user, y)
    d = np.array([v[0] for v in expected.values()])
    n = np.array([v[2] for v in expected.values()], dtype=float)
    assert result.purchases == n.sum()
    assert result.above_materiality == pytest.approx(n[d > math.log1p(0.01)].sum() / n.sum())
    assert result.below_rounding == pytest.approx(n[d < -math.log1p(0.001)].sum() / n.sum())
    # The 10th percentile of deviations, each purchase counted: the rows' own quantile.
    per_purchase = np.repeat(d, n.astype(int))
    assert result.p10 == pytest.approx(math.expm1(np.quantile(per_purchase, 0.1, method="inverted_cdf")))
    assert result.p90 == pytest.approx(math.expm1(np.quantile(per_purchase, 0.9, method="inverted_cdf")))
    # Noise floor: the pooled within-(cell, user) variance of the rows.
    frame = pd.DataFrame({"cell": cell, "user": user, "y": y})
    groups = frame.groupby(["cell", "user"]).y
    ss = float(((frame.y - groups.transform("mean")) ** 2).sum())
    dof = int((groups.size() - 1).sum())
    assert result.noise_sd == pytest.approx(math.sqrt(ss / dof), rel=1e-10)


def test_dispersion_f_test_is_the_nested_anova_of_pairs_within_cells():
    statsmodels = pytest.importorskip("statsmodels.formula.api")
    from statsmodels.stats.anova import anova_lm
    cell, user, y = _log(3, users=60, cells=5, per_user=8, user_cell_sd=0.02)
    frame = pd.DataFrame({"cell": cell, "pair": cell * 1000 + user, "y": y})
    cells_only = statsmodels.ols("y ~ C(cell)", frame).fit()
    pairs_too = statsmodels.ols("y ~ C(pair)", frame).fit()
    table = anova_lm(cells_only, pairs_too)
    result = dispersion(PairSums.from_rows(cell, user, y))
    assert result.f_statistic == pytest.approx(table["F"].iloc[1], rel=1e-8)
    assert result.p_value == pytest.approx(table["Pr(>F)"].iloc[1], rel=1e-6, abs=1e-300)
    assert result.df_between == table["df_diff"].iloc[1]


def test_half_means_against_loops_over_pairs():
    cell, user, y = _log(4, users=50, cells=8, per_user=6, user_sd=0.05)
    pairs = PairSums.from_rows(cell, user, y)
    dev = deviations(pairs)
    half = split_halves(pairs, dev, seed=5)
    means = half_means(dev, half)
    expected = _brute_deviations(cell, user, y)
    for u, d0, d1, w in zip(means.user, means.mean_first, means.mean_second, means.weight):
        mine = [(k[0], v) for k, v in expected.items() if k[1] == u]
        sides = [[v for c, v in mine if seeded_half(np.array([u]), np.array([c]), 5)[0] == h] for h in (0, 1)]
        w0, w1 = (sum(v[1] for v in s) for s in sides)
        assert d0 == pytest.approx(sum(v[0] * v[1] for v in sides[0]) / w0, abs=1e-12)
        assert d1 == pytest.approx(sum(v[0] * v[1] for v in sides[1]) / w1, abs=1e-12)
        assert w == pytest.approx(w0 * w1 / (w0 + w1))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_persistent_variance_agrees_with_a_mixed_model(seed):
    """The cross-half variance against statsmodels MixedLM: random user intercept, cell fixed effects."""
    statsmodels = pytest.importorskip("statsmodels.formula.api")
    cell, user, y = _log(10 + seed, users=200, cells=25, per_user=10, user_sd=0.1)
    frame = pd.DataFrame({"y": y, "cell": cell, "user": user})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mixed = statsmodels.mixedlm("y ~ C(cell)", frame, groups=frame["user"]).fit(reml=True)
    variance = float(mixed.cov_re.iloc[0, 0])
    result = persistence(PairSums.from_rows(cell, user, y), seed=11)
    # Same data, two estimators of var(theta): within 15 % of each other (measured: 0.93-1.04 on
    # six logs) and within two of our standard errors.
    assert result.variance == pytest.approx(variance, rel=0.15)
    assert abs(result.variance - variance) < 2 * result.se
    assert result.p_value < 1e-6


def test_persistence_recovers_a_planted_spread_and_reads_it_in_premiums():
    cell, user, y = _log(20, users=1500, cells=60, per_user=10, user_sd=0.03, user_cell_sd=0.02)
    result = persistence(PairSums.from_rows(cell, user, y), seed=3)
    assert result.sd_low < 0.03 < result.sd_high
    assert result.sd == pytest.approx(0.03, abs=0.005)
    low, high = result.middle80
    assert low == pytest.approx(math.expm1(-1.2816 * result.sd), rel=1e-3)
    assert high == pytest.approx(math.expm1(1.2816 * result.sd), rel=1e-3)
    assert result.p_value < 1e-6 and result.detectable_sd < 0.03


def test_transient_user_in_cell_parts_are_not_persistence():
    """Each user's repeats in a cell share a component, different in every cell: dispersion, not persistence."""
    p = [persistence(PairSums.from_rows(*_log(30 + s, users=300, cells=20, per_user=8, user_cell_sd=0.05)),
                     seed=s).p_value for s in range(40)]
    assert sum(v < 0.05 for v in p) <= 6  # expected 2 of 40; P(7 or more) < 0.5 % at the nominal level


def test_splitting_by_week_keeps_a_weekly_arm_out_of_persistence():
    """A random arm per user per week is shared by the user's cells that week: split by cell it looks
    persistent, split by week it is not."""
    rng = np.random.default_rng([20261130, 98])
    users, weeks = 600, 4
    user = np.repeat(np.arange(users), 16)
    week = rng.integers(0, weeks, user.size)
    cell = week * 100 + rng.integers(0, 20, user.size)
    arm = rng.normal(0.0, 0.05, (users, weeks))
    y = rng.normal(3.0, 0.5, 400)[cell] + arm[user, week] + rng.normal(0.0, 0.05, user.size)
    pairs = PairSums.from_rows(cell, user, y)
    by_cell = persistence(pairs, seed=1)
    by_week = persistence(pairs, seed=1, block=pairs.cell // 100)
    assert by_cell.p_value < 1e-6
    assert by_week.p_value > 0.01
    assert dispersion(pairs).p_value < 1e-6


def test_permutation_p_value_is_honest_and_agrees_with_the_analytic_test():
    cell, user, y = _log(40, users=200, cells=15, per_user=8, user_cell_sd=0.02)
    pairs = PairSums.from_rows(cell, user, y)
    analytic = persistence(pairs, seed=4).p_value
    draws = 199
    p = persistence_permutation(pairs, 4, draws, np.random.default_rng(0))
    assert 1 / (draws + 1) <= p <= 1 and round(p * (draws + 1)) == pytest.approx(p * (draws + 1))
    assert abs(p - analytic) < 0.15
    planted = PairSums.from_rows(*_log(41, users=200, cells=15, per_user=8, user_sd=0.05))
    assert persistence_permutation(planted, 4, draws, np.random.default_rng(0)) == 1 / (draws + 1)


def _with_attribute(seed: int, premium: float, users: int = 1200):
    rng = np.random.default_rng([20261130, 97, seed])
    model = rng.choice(4, users, p=(0.3, 0.3, 0.2, 0.2))
    count = 1 + rng.poisson(9, users)
    user = np.repeat(np.arange(users), count)
    cell = rng.integers(0, 40, user.size)
    effect = np.array([premium, 0.0, 0.0, 0.0])[model]
    y = rng.normal(3.0, 0.5, 40)[cell] + effect[user] + rng.normal(0.0, 0.05, user.size)
    attributes = {"phone": {u: f"m{m}" for u, m in enumerate(model)},
                  "city": {u: f"c{c}" for u, c in enumerate(rng.integers(0, 3, users))}}
    return cell, user, y, attributes


def test_attribution_finds_and_confirms_a_column_and_says_how_much_it_explains():
    cell, user, y, attributes = _with_attribute(0, math.log(1.04))
    pairs = PairSums.from_rows(cell, user, y)
    result = attribution(pairs, attributes, seed=9)
    confirmed = {(v.column, v.value) for v in result.confirmed}
    assert ("phone", "m0") in confirmed
    assert not any(c == "city" for c, _ in confirmed)
    m0 = next(v for v in result.values if v.value == "m0")
    assert m0.premium == pytest.approx(0.04, abs=0.01)
    phone = next(c for c in result.columns if c.column == "phone")
    assert phone.share == pytest.approx(1.0, abs=0.35)  # the column is the whole persistent part
    assert result.scanned == ("phone", "city")


def test_attribution_premium_is_the_audits_matched_premium_on_that_half():
    """Each value's discovery premium equals user_scores + jackknife on the half's rows, computed apart."""
    cell, user, y, attributes = _with_attribute(1, math.log(1.03), users=600)
    pairs = PairSums.from_rows(cell, user, y)
    result = attribution(pairs, attributes, seed=9, min_users=10)
    assert len(result.values) == 7  # four phone models and three cities
    discovery_users = np.unique(user)[seeded_half(np.unique(user), np.full(np.unique(user).size, -1), 10) == 0]
    for v in result.values:
        rows = np.isin(user, discovery_users)
        x = np.array([attributes[v.column][u] == v.value for u in user[rows]], dtype=float)
        expected = jackknife(user_scores(user[rows], cell[rows], x, y[rows]))
        assert v.discovery == pytest.approx(expected.beta, rel=1e-9, abs=1e-12)
        assert v.discovery_p == pytest.approx(expected.p_value, rel=1e-7)


def test_attribution_confirms_nothing_when_no_column_carries_anything():
    confirmed = 0
    for seed in range(10):
        cell, user, y, attributes = _with_attribute(10 + seed, 0.0, users=600)
        confirmed += len(attribution(PairSums.from_rows(cell, user, y), attributes, seed=seed).confirmed)
    assert confirmed <= 1


def _dispersion(p: float, between: float) -> Dispersion:
    nan = math.nan
    return Dispersion(10, 100, 1000, nan, nan, nan, nan, nan, nan, nan, 50, 0.05, 0.02, between, 2.0, 90, 400, p)


def _persistence(p: float, sd: float, users: int = 500) -> Persistence:
    return Persistence(users, 40, sd * sd, 0.0, 0.0, 0.3, 3.0, p, sd, sd, sd, 0.01, 0.95)


def test_readings():
    strong, none = _persistence(1e-6, 0.03), _persistence(0.4, 0.0)
    assert read(_dispersion(1e-6, 0.03), strong, None) == Reading.UNEXPLAINED
    assert read(_dispersion(1e-6, 0.03), none, None) == Reading.DISPERSION_ONLY
    assert read(_dispersion(0.3, 0.0), none, None) == Reading.NONE_MATERIAL
    assert read(_dispersion(1e-6, 0.001), _persistence(1e-6, 0.002), None) == Reading.NONE_MATERIAL  # not material
    assert read(_dispersion(1e-6, 0.03), _persistence(1e-6, 0.03, users=12), None) == Reading.INSUFFICIENT
    cell, user, y, attributes = _with_attribute(0, math.log(1.06))
    pairs = PairSums.from_rows(cell, user, y)
    attr = attribution(pairs, attributes, seed=9)
    assert read(dispersion(pairs), persistence(pairs, seed=9), attr) == Reading.EXPLAINED


def test_every_reading_has_words_in_both_languages():
    assert set(READINGS) == set(Reading)
    for text in READINGS.values():
        for language in LANGUAGES:
            assert text.label(language) and text.meaning(language)
        assert text.label("en") != text.label("zh-CN")


@pytest.mark.parametrize("premium, user_sd, reading", [
    (math.log(1.06), 0.0, Reading.EXPLAINED), (0.0, 0.03, Reading.UNEXPLAINED), (0.0, 0.0, Reading.NONE_MATERIAL)])
def test_findings_block_is_plain_json_and_its_sentence_reads_it(premium, user_sd, reading):
    import json

    from auditor.findings.personal import PersonalisationFinding, sentence
    from auditor.findings.personal_model import Personalisation

    cell, user, y, attributes = _with_attribute(0, premium)
    if user_sd:
        y = y + np.random.default_rng(5).normal(0.0, user_sd, user.max() + 1)[user]
    pairs = PairSums.from_rows(cell, user, y)
    disp, pers = dispersion(pairs), persistence(pairs, seed=9)
    attr = attribution(pairs, attributes, seed=9)
    assert read(disp, pers, attr) == reading
    block = PersonalisationFinding(reading, disp, pers, attr, "cell", 0.05, 0.01).to_json()
    assert json.loads(json.dumps(block, allow_nan=False)) == block  # no NaN, numpy or tuple left
    assert block["reading"] == str(reading) and block["seed"] == 9
    assert block["persistence"]["middle80_high"] == pytest.approx(pers.middle80[1])
    typed = Personalisation.from_json(block)  # the report reads the block as findings.json is read back
    english, chinese = sentence(typed, "en", {"phone": "phone model"}), sentence(typed, "zh-CN")
    assert english.startswith(READINGS[reading].label("en")) and "：" in chinese
    if reading is Reading.EXPLAINED:
        assert "phone model (" in english and "phone (" in chinese
    if reading is Reading.UNEXPLAINED:
        low, high = pers.middle80
        assert f"{100 * low:+.1f} %".replace("-", "−") in english and f"{100 * high:+.1f} %" in english
    if reading is Reading.NONE_MATERIAL:
        assert f"{100 * pers.detectable_sd:.1f} %" in english


def test_every_finding_reading_has_a_legal_mapping_and_the_mapping_names_only_readings():
    import tomllib
    from importlib import resources

    provisions = tomllib.loads((resources.files("reports") / "legal.toml").read_text(encoding="utf-8"))["provision"]
    cited = {r for p in provisions for r in p.get("readings", ())}
    assert cited <= {str(r) for r in Reading}
    assert {str(Reading.EXPLAINED), str(Reading.UNEXPLAINED), str(Reading.DISPERSION_ONLY)} <= cited
    assert not cited & {str(Reading.NONE_MATERIAL), str(Reading.INSUFFICIENT)}
    assert "dispersion_without_persistence" not in next(p for p in provisions if p["id"] == "amg-17")["readings"]


_CONFIG = """
[audit]
name = "a"
platform = "p"
[input]
path = "x.parquet"
format = "parquet"
[columns]
transaction_id = "id"
user_id = "uid"
timestamp = "ts"
price = "price"
[match]
exact = ["city"]
[[segments]]
name = "Device"
column = "os"
reference = "android"
groups = ["ios"]
"""


def test_personalisation_is_on_by_default_and_its_columns_are_read():
    from auditor.spec import parse_config

    config = parse_config(_CONFIG)
    assert config.personalisation.enabled and config.attribute_columns == ()
    config = parse_config(_CONFIG + '[personalisation]\ncolumns = ["phone_model", "os", "city"]\nmax_users = 500\n')
    assert config.attribute_columns == ("phone_model", "os", "city")
    # The search reads its columns from the input on its own: ingest's cache does not carry them.
    assert "phone_model" not in config.used_columns and config.personalisation.max_users == 500
    assert "city" in config.not_attributes and "os" not in config.not_attributes  # a match key; a segment
    off = parse_config(_CONFIG + '[personalisation]\nenabled = false\ncolumns = ["phone_model"]\n')
    assert not off.personalisation.enabled and off.attribute_columns == ()


def test_a_listed_column_missing_from_the_input_is_named_with_its_key():
    from auditor.errors import AuditConfigError
    from auditor.preflight import check_column_names
    from auditor.spec import parse_config

    config = parse_config(_CONFIG + '[personalisation]\ncolumns = ["phone_modle"]\n')
    with pytest.raises(AuditConfigError) as error:
        check_column_names(["id", "uid", "ts", "price", "city", "os", "phone_model"], config)
    assert str(error.value) == ("[personalisation] columns = 'phone_modle': no such column in the input; "
                                "did you mean 'phone_model'?")


@pytest.mark.parametrize("columns, message", [
    ("disclosed = 1", "[columns] disclosed must be the name of the column that flags a price shown as personalised, "
                      'e.g. disclosed = "price_notice_shown" (true, 1 or yes on the purchases where the consumer was '
                      "told), got 1"),
    ('disclosed = "uid"', "[columns] disclosed = 'uid' is the user_id column: name the column that flags, per "
                          "purchase, that the price shown was personalised and the consumer was told (true, 1 or "
                          "yes), or remove disclosed"),
    ('disclosed = "city"', "[columns] disclosed = 'city' is a match key: name the column that flags, per "
                           "purchase, that the price shown was personalised and the consumer was told (true, 1 or "
                           "yes), or remove disclosed"),
])
def test_a_bad_disclosed_column_is_named_with_the_fix(columns, message):
    from auditor.errors import AuditConfigError
    from auditor.spec import parse_config

    with pytest.raises(AuditConfigError) as error:
        parse_config(_CONFIG.replace('price = "price"', 'price = "price"\n' + columns))
    assert str(error.value) == message


def test_the_disclosed_column_is_read_and_never_searched():
    from auditor.spec import parse_config

    config = parse_config(_CONFIG.replace('price = "price"', 'price = "price"\ndisclosed = "notice"'))
    assert config.columns.disclosed == "notice" and "notice" in config.used_columns
    assert "notice" in config.not_attributes


@pytest.mark.parametrize("table, message", [
    ("enabled = 1", "[personalisation] enabled must be true or false, got 1"),
    ("max_users = 10", "[personalisation] max_users must be an integer of at least 100, got 10"),
    ('columns = "phone_model"', "[personalisation] columns must be a list of column names, e.g. columns = "
                                '["phone_model", "app_version"], got \'phone_model\''),
    ("enable = true", "unknown config key [personalisation] enable: did you mean 'enabled'?"),
])
def test_personalisation_config_errors_name_the_key_and_the_fix(table, message):
    from auditor.spec import parse_config
    from auditor.errors import AuditConfigError

    with pytest.raises(AuditConfigError) as error:
        parse_config(_CONFIG + "[personalisation]\n" + table + "\n")
    assert str(error.value) == message


def test_the_split_is_by_week_when_the_log_allows_else_by_day():
    from auditor.stats.personal import PersistenceSums, choose_split

    def sums(users: int) -> PersistenceSums:
        return PersistenceSums(users, 40, *(1.0,) * 9)

    assert choose_split({"week": sums(500), "day": sums(900)}) == "week"
    assert choose_split({"week": sums(0), "day": sums(900)}) == "day"  # a log of one week
    assert choose_split({"week": sums(0), "day": sums(10)}) == "week"  # neither: the first, read as insufficient
    assert choose_split({"cell": sums(3)}) == "cell"


def test_the_split_setting():
    from auditor.errors import AuditConfigError
    from auditor.spec import parse_config

    assert parse_config(_CONFIG).personalisation.split == "auto"
    assert parse_config(_CONFIG + '[personalisation]\nsplit = "day"\n').personalisation.split == "day"
    with pytest.raises(AuditConfigError) as error:
        parse_config(_CONFIG + '[personalisation]\nsplit = "month"\n')
    assert str(error.value) == ("[personalisation] split must be one of auto, week, day, cell (auto: by week when "
                                "the log allows, else by day), got 'month'")


def test_the_report_says_a_split_by_day_reads_a_weekly_test_as_persistence():
    from auditor.findings.personal_model import Personalisation
    from auditor.report.personal import split_note

    def block(split: str, requested: str) -> Personalisation:
        return Personalisation(split=split, split_requested=requested)

    assert "(the log spans too few weeks to split by week)" in split_note(block("day", "auto"), "en")
    assert "按天" in split_note(block("day", "day"), "zh-CN")
    assert split_note(block("week", "auto"), "en") == ""
