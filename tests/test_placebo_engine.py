"""The self-check's engine side: the placebo population's (cell, user) sums, and a split computed from
them equal to the same split run through the audit's Spark pass as an ordinary comparison."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F

from auditor.spec import parse_config
from auditor.engine.estimate import plan, summarize
from auditor.engine.ingest import USER, ingest
from auditor.engine.placebos import placebo_pairs
from auditor.findings import build_findings
from auditor.stats.placebo import self_check, split_salts, split_sides, split_tests
from auditor.stats.premium import jackknife

SEED = 20260901


def _config(path, segment_column: str = "os", reference: str = "android", groups: str = '"ios"') -> str:
    return f'''
[audit]
name = "rides"
platform = "T"
[input]
path = "{path}"
format = "parquet"
[columns]
transaction_id = "order_no"
user_id = "uid"
timestamp = "ts"
price = "price"
[match]
exact = ["route"]
time_bucket = "1d"
[[segments]]
name = "Segment"
column = "{segment_column}"
reference = "{reference}"
groups = [{groups}]
[test]
seed = {SEED}
placebo_splits = 50
min_users = 2
'''


@pytest.fixture(scope="module")
def log(spark, tmp_path_factory):
    """Rides of 300 users over 8 routes and 5 days; a few heavy users; iOS pays 4 % more."""
    root = tmp_path_factory.mktemp("placebo")
    rng = np.random.default_rng(11)
    users = 300
    size = np.maximum(1, (rng.pareto(1.5, users) * 6).astype(int))
    user = np.repeat(np.arange(users), size)
    n = user.size
    ios = rng.random(users) < 0.4
    route, day = rng.integers(0, 8, n), rng.integers(0, 5, n)
    log_price = 3 + 0.1 * route + 0.03 * day + 0.04 * ios[user] + rng.normal(0, 0.08, users)[user] \
        + rng.normal(0, 0.05, n)
    frame = pd.DataFrame({"order_no": [f"o{i}" for i in range(n)], "uid": [f"u{u:03d}" for u in user],
                          "ts": pd.Timestamp("2026-09-07", tz="UTC") + pd.to_timedelta(day * 86400 + 3600, unit="s"),
                          "price": np.round(np.exp(log_price), 2), "route": route.astype(str),
                          "os": np.where(ios[user], "ios", "android")})
    path = root / "rides.parquet"
    frame.to_parquet(path)
    config = parse_config(_config(path))
    accepted = ingest(spark, config).accepted
    accepted.write.parquet(str(root / "accepted"))
    return path, config, spark.read.parquet(str(root / "accepted"))


def test_sides_are_sparks_hash_of_the_user(spark, log):
    _, config, accepted = log
    salts = split_salts(SEED, 3)
    users = accepted.select(USER).distinct()
    table = users.select(F.xxhash64(USER).alias("h"), *[
        F.pmod(F.xxhash64(F.col(USER), F.lit(int(s)).cast("int")), F.lit(2)).alias(f"s{i}")
        for i, s in enumerate(salts)]).toPandas()
    sides = split_sides(table["h"].to_numpy(np.int64), salts)
    for i in range(salts.size):
        np.testing.assert_array_equal(sides[:, i], table[f"s{i}"].to_numpy(float))


@pytest.mark.parametrize("split", [1, 17])
def test_a_split_from_the_pair_sums_equals_a_spark_pass_of_that_split(spark, log, split):
    """The numpy placebo for one split equals the audit's Spark pass run on that split as a segment."""
    path, config, accepted = log
    pairs = placebo_pairs(accepted, config)
    tests = split_tests(pairs, split_salts(SEED, split))
    salt = int(split_salts(SEED, split)[-1])
    side = F.pmod(F.xxhash64(F.col(USER), F.lit(salt).cast("int")), F.lit(2)).cast("string")
    as_segment = parse_config(_config(path, "side", "0", '"1"'))
    rows = accepted.filter(F.col("os") == "android").withColumn("side", side)
    (comparison,) = [c for c in plan(as_segment) if c.outcome == "price"]
    spark_pass = jackknife(summarize(rows, as_segment, (comparison,), evidence=False)[comparison.id].primary)
    assert tests.beta[-1] == pytest.approx(spark_pass.beta, rel=1e-9, abs=1e-12)
    assert tests.se[-1] == pytest.approx(spark_pass.se, rel=1e-9)
    assert tests.dof[-1] == pytest.approx(spark_pass.dof, rel=1e-9)
    assert tests.p_value[-1] == pytest.approx(spark_pass.p_value, rel=1e-9, abs=1e-12)


def test_above_the_cap_a_seeded_sample_of_whole_cells_is_kept(spark, log):
    _, config, accepted = log
    whole = placebo_pairs(accepted, config)
    assert not whole.sampled and whole.pairs_total == whole.cell.size and whole.cells_total == whole.cells
    sample = placebo_pairs(accepted, config, max_pairs=whole.pairs_total // 2)
    assert sample.sampled and 0 < sample.cell.size <= whole.pairs_total // 2
    assert (sample.pairs_total, sample.cells_total) == (whole.pairs_total, whole.cells_total)

    def cells(p):  # each cell as its set of (user, rows, sum y)
        out = {}
        for c, u, n, y in zip(p.cell, p.user_hash, p.n, p.sum_y):
            out.setdefault(c, set()).add((u, n, round(y, 9)))
        return {frozenset(v) for v in out.values()}
    assert cells(sample) <= cells(whole)  # every kept cell whole, as in the population
    again = placebo_pairs(accepted, config, max_pairs=whole.pairs_total // 2)
    np.testing.assert_array_equal(again.user_hash, sample.user_hash)  # the same seed, the same sample


def test_findings_carry_the_self_check_and_calibrated_p_values_when_it_fails(spark, log, monkeypatch):
    _, config, accepted = log
    pairs = placebo_pairs(accepted, config)
    data = summarize(accepted, config)
    findings, placebo = build_findings(data, config, pairs)
    assert placebo.splits == 50 and placebo.tested == 50 and placebo.seed == SEED
    assert placebo.population == "os = android" and not placebo.sampled
    assert placebo.rate_low <= placebo.rate <= placebo.rate_high
    assert placebo.warning == (placebo.rate_low > 0.05)
    if not placebo.warning:
        assert all(f.calibrated_p_value is None for f in findings)
    # The same splits, read as a failed check: each finding gets its p-value against them.
    from auditor.findings import build as module
    monkeypatch.setattr(module, "self_check", lambda *a: dataclasses.replace(self_check(*a), warning=True))
    findings, placebo = build_findings(data, config, pairs)
    assert placebo.warning and placebo.calibrated
    (price,) = [f for f in findings if f.outcome == "price"]
    t = np.abs(split_tests(pairs, split_salts(SEED, 50)).t)
    observed = abs(np.log1p(price.premium) / price.se_log)
    assert price.calibrated_p_value == (1 + np.count_nonzero(t >= observed)) / 51
    assert build_findings(data, dataclasses.replace(config, test=dataclasses.replace(
        config.test, placebo_splits=0)), pairs)[1] is None
