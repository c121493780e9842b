"""The Spark engine: its plan stays small, and its shortcuts equal the long way round.

- The main pass has a fixed number of exchanges and Spark jobs (a regression in
  the plan fails here, as Deequ's job-counting test does for its scans).
- Leave-one-key-value-out re-estimates read from the per-user table equal a
  fresh pass without those rows.
- Sensitivity variants (other bins, other time buckets) equal a pass under that
  matching rule, also when a dozen of them cross the exchange once, partitioned
  by a coarse cell they all nest in.
- Coarse time buckets that hide a peak-hour confounder are caught: the flag is
  not robust, for the reason the balance check gives.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from auditor import pipeline
from auditor.spec import parse_config
from auditor.engine.estimate import SparkEngine, plan, summarize
from auditor.engine.ingest import ingest
from auditor.engine.placebos import placebo_pairs
from auditor.stats.premium import jackknife
from conftest import audit_toml


def _rides(tmp_path, bucket: str = "1h", users: int = 600, seed: int = 3, peak_group: bool = False):
    """Rides on 6 routes; the group ("plus") pays nothing extra for the same ride, but every
    ride at a peak hour costs 30 % more. With `peak_group`, plus members ride mostly at peak hours."""
    rng = np.random.default_rng(seed)
    rides = rng.integers(5, 30, users)
    user = np.repeat(np.arange(users), rides)
    plus = rng.random(users) < 0.4
    n = user.size
    peak_hours = np.array([8, 18])
    hour = rng.integers(0, 24, n)
    if peak_group:
        at_peak = plus[user] & (rng.random(n) < 0.7)
        hour = np.where(at_peak, rng.choice(peak_hours, n), hour)
    peak = np.isin(hour, peak_hours)
    route = rng.integers(0, 6, n)
    city = np.where(route < 3, "Beijing", "Chengdu")
    log_price = 3 + 0.1 * route + np.log(1.3) * peak + rng.normal(0, 0.1, users)[user] + rng.normal(0, 0.05, n)
    frame = pd.DataFrame({
        "order_no": [f"o{i}" for i in range(n)], "uid": [f"u{u:04d}" for u in user],
        "ts": pd.Timestamp("2026-09-07", tz="Asia/Shanghai").tz_convert("UTC")
        + pd.to_timedelta(rng.integers(0, 7, n) * 86400 + hour * 3600 + rng.integers(0, 3600, n), unit="s"),
        "price": np.round(np.exp(log_price), 2), "city": city, "route": route.astype(str),
        "km": rng.uniform(1, 15, n).round(2), "membership": np.where(plus[user], "plus", "basic"),
        "os": np.where(rng.random(users) < 0.5, "ios", "android")[user],
    })
    data = tmp_path / f"rides-{bucket}-{peak_group}.parquet"
    frame.to_parquet(data)
    text = audit_toml(audit={"name": "rides", "platform": "T"},
                      input={"path": str(data), "timezone": "Asia/Shanghai"},
                      columns={"transaction_id": "order_no", "user_id": "uid", "timestamp": "ts", "price": "price"},
                      match={"exact": ["city", "route"], "time_bucket": bucket, "bins": {"km": 2.0}},
                      segments=[{"name": "Membership", "column": "membership", "reference": "basic",
                                 "groups": ["plus"]},
                                {"name": "Device", "column": "os", "reference": "android", "groups": ["ios"]}],
                      test={"max_clusters": 1000, "placebo_splits": 2})
    return frame, parse_config(text)


@pytest.fixture(scope="module")
def rides(spark, tmp_path_factory):
    """The accepted rows, as ingest hands them on, stored once so that plans here are the engine's alone."""
    root = tmp_path_factory.mktemp("engine")
    frame, config = _rides(root)
    ingest(spark, config).accepted.write.parquet(str(root / "accepted"))
    return frame, config, spark.read.parquet(str(root / "accepted"))


def _exchanges(frame) -> int:
    plan_text = frame._jdf.queryExecution().executedPlan().toString()
    return plan_text.count("Exchange hashpartitioning")


def test_main_pass_has_two_exchanges_and_a_fixed_number_of_jobs(spark, rides, monkeypatch):
    _, config, accepted = rides
    items = plan(config)
    from auditor.engine import estimate

    captured = {}
    original = estimate._per_user

    def spy(pairs, *args):
        captured["users"] = original(pairs, *args)
        return captured["users"]

    monkeypatch.setattr(estimate, "_per_user", spy)
    group = "engine-test-main-pass"
    spark.sparkContext.setJobGroup(group, "main pass")
    engine = SparkEngine(accepted, config)
    engine.estimate(items)
    jobs = spark.sparkContext.statusTracker().getJobIdsForGroup(group)
    spark.sparkContext.setLocalProperty("spark.jobGroup.id", None)
    engine.release()
    # By cell for the ranked comparisons (this audit has no unranked comparison; the placebo
    # splits are not in the pass), by (comparison, user).
    assert _exchanges(captured["users"]) == 2
    # Totals, user counts, user scores and evidence (candidates, medians, distinct users: a median
    # beside a distinct count would merge a quantile digest per user); adaptive execution runs each
    # shuffle's map side as a job of its own. Fewer is better: lower the bound.
    assert len(jobs) <= 20, len(jobs)


def test_leave_one_value_out_equals_a_pass_without_those_rows(spark, rides):
    _, config, accepted = rides
    items = plan(config)
    targets = tuple(c for c in items if c.kind == "group")
    engine = SparkEngine(accepted, config)
    engine.estimate(items)
    left = engine.left_out(targets, ["Beijing", "Chengdu"])
    engine.release()
    assert len(left) == 2 * len(targets)
    excluded = tuple(dataclasses.replace(c, id=100 + i, exclude=("city", v.value))
                     for i, (c, v) in enumerate(zip([lo.comparison for lo in left], left)))
    fresh = summarize(accepted, config, excluded, evidence=False)
    for i, lo in enumerate(left):
        again = fresh[100 + i].primary
        assert (lo.summary.rows, lo.summary.cells, lo.summary.clusters) == (again.rows, again.cells, again.clusters)
        for a, b in [(lo.summary.scores_a, again.scores_a), (lo.summary.scores_b, again.scores_b),
                     (lo.summary.delta_a, again.delta_a), (lo.summary.delta_b, again.delta_b)]:
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
        ours, theirs = jackknife(lo.summary), jackknife(again)
        assert ours.premium == pytest.approx(theirs.premium, rel=1e-9, abs=1e-12)
        assert ours.se == pytest.approx(theirs.se, rel=1e-9, abs=1e-12)


def test_variants_under_other_matching_equal_a_pass_under_that_rule(spark, rides):
    _, config, accepted = rides
    target = next(c for c in plan(config) if c.kind == "group" and c.group == "ios")
    finer = dataclasses.replace(config.match, time_bucket="30m", time_bucket_seconds=1800,
                                bins=(("km", 1.0),))
    engine = SparkEngine(accepted, config)
    variant = engine.variants((dataclasses.replace(target, id=50, match=finer),))[50]
    direct = summarize(accepted, dataclasses.replace(config, match=finer), (target,), evidence=False)[target.id]
    assert (variant.primary.rows, variant.primary.cells) == (direct.primary.rows, direct.primary.cells)
    assert jackknife(variant.primary).premium == pytest.approx(jackknife(direct.primary).premium, rel=1e-12)
    assert variant.primary.cells > 0


def test_a_findings_sensitivity_rules_cross_the_exchange_once_and_equal_a_pass_under_each_rule(
        spark, rides, monkeypatch):
    """The lean pass partitions the rows by a coarse cell every rule's cells lie in (exact keys,
    local day, the widest bins) and explodes them after the exchange; each variant must still
    equal a pass of its own under its rule, partitioned by its own cells."""
    from auditor.engine import estimate
    from auditor.findings.sensitivity import _curve_variants, _variants

    _, config, accepted = rides
    target = next(c for c in plan(config) if c.kind == "group" and c.group == "ios")
    variants = _variants(config, [target], 100)
    steps = _curve_variants(config, [target], variants, 200)
    # The curve's first step is the table's halved bucket: asked twice, it must count its rows once.
    asked = tuple(v for _, _, v in variants) + tuple(v for _, _, v in steps)
    assert len(asked) > len({v.id for v in asked}) and len({v.match for v in asked}) >= 8
    captured = {}
    original = estimate._per_user

    def spy(pairs, *args):
        captured["users"] = original(pairs, *args)
        return captured["users"]

    monkeypatch.setattr(estimate, "_per_user", spy)
    lean = SparkEngine(accepted, config).variants(asked)
    # By the coarse cell (once for a dozen rules), by (comparison, user).
    assert _exchanges(captured["users"]) == 2
    monkeypatch.undo()
    for v in asked:
        direct = summarize(accepted, dataclasses.replace(config, match=v.match), (target,), evidence=False)[target.id]
        got = lean[v.id].primary
        assert (got.rows, got.cells, got.clusters) == (direct.primary.rows, direct.primary.cells,
                                                        direct.primary.clusters), v.match
        for a, b in [(got.scores_a, direct.primary.scores_a), (got.scores_b, direct.primary.scores_b),
                     (got.delta_a, direct.primary.delta_a), (got.delta_b, direct.primary.delta_b)]:
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_rules_that_do_not_nest_keep_their_own_exchange(rides):
    from auditor.engine.estimate import _coarse_rule

    _, config, _ = rides
    target = next(c for c in plan(config) if c.kind == "group")
    rule = config.match

    def with_rules(*rules):
        return tuple(dataclasses.replace(target, id=i + 100, match=r) for i, r in enumerate(rules))

    thirds = dataclasses.replace(rule, bins=(("km", 2.0 / 3),))
    two_days = dataclasses.replace(rule, time_bucket="2d", time_bucket_seconds=172800)
    other_keys = dataclasses.replace(rule, exact=("city",))
    halved = dataclasses.replace(rule, bins=(("km", 1.0),), time_bucket="30m", time_bucket_seconds=1800)
    assert _coarse_rule(config, with_rules(rule, thirds)) is None
    assert _coarse_rule(config, with_rules(rule, two_days)) is None
    assert _coarse_rule(config, with_rules(rule, other_keys)) is None
    assert _coarse_rule(config, with_rules(rule)) is None
    coarse = _coarse_rule(config, with_rules(rule, halved))
    assert (coarse.exact, coarse.time_bucket_seconds, coarse.bins) == (rule.exact, 86400, (("km", 2.0),))


def test_evidence_cells_count_each_sides_users_and_rows_as_the_log_does(spark, rides):
    frame, config, accepted = rides
    config = dataclasses.replace(config, report=dataclasses.replace(config.report, min_cell_size=1))
    items = plan(config)
    engine = SparkEngine(accepted, config)
    data = engine.estimate(items)
    engine.release()
    epoch = frame["ts"].astype("int64") // 10**9
    checked = 0
    for c in items:
        if c.kind != "group" or c.outcome != "price":
            continue
        for cell in data[c.id].evidence:
            rows = frame[(frame["city"] == cell.keys["city"]) & (frame["route"] == cell.keys["route"])
                         & ((frame["km"] // 2.0) * 2.0 == cell.keys["km"]) & (epoch // 3600 * 3600 == cell.time_bucket)]
            side = rows[c.column]
            group, reference = rows[side == c.group], rows[side == c.reference]
            assert (cell.rows_group, cell.rows_reference) == (len(group), len(reference))
            assert (cell.users_group, cell.users_reference) == (group["uid"].nunique(), reference["uid"].nunique())
            assert group["price"].min() <= cell.median_group <= group["price"].max()
            checked += 1
    assert checked >= 5


def test_the_engine_keeps_its_per_user_table_until_released(spark, rides):
    _, config, accepted = rides
    engine = SparkEngine(accepted, config)
    data = engine.estimate(plan(config))
    assert engine._users is not None and engine._users.is_cached and set(engine._user_counts) <= set(data)
    engine.release()
    assert engine._users is None
    assert engine.left_out(tuple(c for c in plan(config) if c.kind == "group"), ["Beijing"]) == []


@pytest.mark.parametrize("bucket, flagged, robust", [("1d", True, False), ("1h", False, None)])
def test_a_peak_hour_confounder_hidden_by_day_buckets_is_not_robust(spark, tmp_path, bucket, flagged, robust):
    _, config = _rides(tmp_path, bucket=bucket, users=500, seed=8, peak_group=True)
    result = pipeline.run(config, spark, tmp_path / "out")
    (plus,) = [f for f in result.findings if f.group == "plus"]
    assert plus.flagged == flagged, (plus.premium, plus.ci_low, plus.ci_high)
    if flagged:
        assert plus.premium > 0.05  # peak prices, read as a membership premium
        assert plus.to_json()["robust"] is robust
        reasons = {r["reason"] for r in plus.to_json()["robust_reasons"]}
        assert "imbalance" in reasons
        (time,) = [b for b in plus.to_json()["balance"] if b["measure"] == "time_bucket"]
        assert time["smd"] > 0.1 and not time["balanced"]
        kinds = {r["kind"] for r in plus.to_json()["sensitivity"]}
        assert {"time_bucket_halved", "time_bucket_doubled", "bins_halved", "bins_doubled", "leave_out"} <= kinds
    else:
        assert abs(plus.premium) < 0.02


def test_quote_logs_compare_quote_rows_in_every_comparison(spark, tmp_path):
    """Dose, bands, the placebo population and steering read the quotes of a quote log, as the group
    findings do: the same audit on the log cut down to its quote rows gives the same numbers."""
    from auditor.synth import generate

    made = generate("quotes", 6000, 5, tmp_path / "quotes")
    log = pd.read_parquet(made.data_path)
    assert set(log.event) == {"quote", "purchase"}
    quotes_only = tmp_path / "quotes_only.parquet"
    log[log.event == "quote"].to_parquet(quotes_only)
    common = dict(
        audit={"name": "q", "platform": "T"},
        columns={"transaction_id": "event_id", "user_id": "passenger_id", "timestamp": "event_time",
                 "price": "fare_cny"},
        match={"exact": ["city", "start_grid", "end_grid"]},
        segments=[{"name": "Device", "column": "os", "reference": "android", "groups": ["ios"]},
                  {"name": "Loyalty", "column": "prior_orders", "kind": "dose", "bands": [0, 10, 50]}],
        steering={"column": "car_level", "order": ["economy", "comfort", "premium"],
                  "context": ["city", "start_grid", "end_grid"]},
        test={"placebo_splits": 2})
    quotes = {"event_column": "event", "quote_value": "quote", "purchase_value": "purchase"}
    whole = parse_config(audit_toml(input={"path": str(made.data_path)}, **common, quotes=quotes))
    cut = parse_config(audit_toml(input={"path": str(quotes_only)}, **common))
    items = plan(cut)
    assert {c.kind for c in items} == {"group", "dose", "band", "steering"}
    whole_rows, cut_rows = ingest(spark, whole).accepted, ingest(spark, cut).accepted
    on_whole = summarize(whole_rows, whole, items, evidence=False)
    on_cut = summarize(cut_rows, cut, items, evidence=False)
    placebo_whole, placebo_cut = placebo_pairs(whole_rows, whole), placebo_pairs(cut_rows, cut)
    assert placebo_whole.pairs_total == placebo_cut.pairs_total > 0
    np.testing.assert_array_equal(placebo_whole.n, placebo_cut.n)
    for c in items:
        a, b = on_whole[c.id].primary, on_cut[c.id].primary
        assert (a.rows, a.cells, a.clusters) == (b.rows, b.cells, b.clusters), c
        assert a.rows > 0, c
        assert jackknife(a).beta == pytest.approx(jackknife(b).beta, rel=1e-9, abs=1e-12), c
        assert jackknife(a).se == pytest.approx(jackknife(b).se, rel=1e-9, abs=1e-12), c


def test_findings_statistics_sensitivity_and_report_import_no_engine():
    """The engine boundary: everything past the summaries runs (and is tested) without Spark."""
    import subprocess
    import sys

    code = ("import sys, auditor.summaries, auditor.findings, auditor.findings.sensitivity, auditor.report, "
            "auditor.stats.premium, auditor.findings.compare; print('pyspark' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_nothing_outside_the_engine_imports_spark():
    """Spark lives in auditor/engine/ alone: no other module of the package (nor jobs/) imports
    pyspark or py4j, except for type names under TYPE_CHECKING."""
    import ast
    from pathlib import Path

    import auditor

    root = Path(auditor.__file__).parent
    offenders = []
    for path in [*root.rglob("*.py"), *(root.parent / "jobs").glob("*.py")]:
        if "engine" in path.relative_to(root.parent).parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        typing_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
                       and getattr(node.test, "id", None) == "TYPE_CHECKING" for n in ast.walk(node)}
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.name}:{node.lineno} {name}" for name in names
                          if name.split(".")[0] in ("pyspark", "py4j")]
    assert not offenders, offenders


def test_the_findings_not_the_engine_decide_which_evidence_cells_may_be_published():
    """The engine returns every candidate cell with its users; the privacy policy (report.min_cell_size)
    is applied by the findings: the heaviest publishable cells shown, every other candidate withheld."""
    from auditor.findings import EVIDENCE_PUBLISHED, published_evidence
    from auditor.summaries import EvidenceCell

    def cell(users_group, users_reference, weight):
        return EvidenceCell(keys={}, time_bucket=None, rows_group=users_group, rows_reference=users_reference,
                            users_group=users_group, users_reference=users_reference, median_group=1.0,
                            median_reference=1.0, weight_share=weight)

    candidates = tuple(cell(g, r, 1 / (i + 1)) for i, (g, r) in enumerate(
        [(40, 3), (12, 10), (10, 10), (9, 50), (30, 30), (11, 11), (10, 12), (20, 20), (15, 15)]))
    shown = published_evidence(candidates, 10)
    assert [(c.users_group, c.users_reference) for c in shown] == [(12, 10), (10, 10), (30, 30), (11, 11), (10, 12)]
    assert len(shown) == EVIDENCE_PUBLISHED
    assert published_evidence(candidates, 100) == ()


def test_a_jvm_that_ended_under_the_driver_is_one_line_with_the_setting_to_change():
    """In local mode a task's OutOfMemoryError ends the JVM, and the driver's next py4j call meets a
    refused connection: that is a Spark failure with the memory hint, not a bug's traceback; the same
    error raised anywhere else is not Spark's."""
    from auditor.engine.failures import memory_hint, spark_failure

    def raised_in(filename):
        try:
            exec(compile("raise ConnectionRefusedError(111, 'Connection refused')", filename, "exec"))
        except ConnectionRefusedError as exc:
            return exc

    gone = raised_in("/site-packages/py4j/clientserver.py")
    assert spark_failure(gone) == "the Spark JVM stopped (Connection refused)"
    assert "--driver-memory" in memory_hint(gone, spark_failure(gone))
    assert spark_failure(raised_in("/work/auditor/somewhere.py")) is None
