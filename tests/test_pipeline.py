"""End to end in Spark: the demo's planted premiums, a null log, exact Spark sums, atomic output."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from auditor import pipeline
from auditor.cli import main
from auditor.spec import load_config, parse_config
from auditor.errors import AuditOutputError
from auditor.findings import SCHEMA_VERSION
from auditor.engine.estimate import summarize
from auditor.synth import generate
from auditor.engine.ingest import ingest
from auditor.stats.premium import user_scores
from conftest import audit_toml


@pytest.fixture(scope="module")
def demo(spark, tmp_path_factory):
    """The README demo exactly: 300k ride rows, seed 2026, audited in local mode."""
    root = tmp_path_factory.mktemp("demo")
    made = generate("rides", 300_000, 2026, root / "sample")
    result = pipeline.run(load_config(made.config_path), spark, root / "audit")
    return made, result, root / "audit"


def _by_group(result):
    return {(f.column, f.group): f for f in result.findings}


def test_demo_recovers_planted_premiums_and_avoids_simpson_trap(demo):
    made, result, _ = demo
    truth = json.loads(made.truth_path.read_text())
    found = _by_group(result)
    for column, groups in truth["premiums"].items():
        for group, premium in groups.items():
            f = found[(column, group)]
            assert abs(f.premium - premium) < 0.005, (column, group, f.premium, premium)
            assert f.flagged == (premium >= 0.01), (column, group)
    trap = found[(truth["simpson_trap"]["column"], truth["simpson_trap"]["group"])]
    assert trap.raw_premium > 0.2 and not trap.flagged and trap.verdict in ("cleared", "inconclusive")
    # The raw gap is explained by what plus members buy, not by what they pay for it.
    parts = trap.decomposition
    assert parts.raw == pytest.approx(parts.unmatched + parts.mix + parts.price_group_weighted, abs=1e-12)
    assert parts.mix + parts.unmatched > 0.15 and abs(parts.price_group_weighted) < 0.01


def test_demo_accounts_for_every_row(demo):
    made, result, out = demo
    truth = json.loads(made.truth_path.read_text())
    q = result.data_quality
    assert q.rows_read == truth["rows"] == q.rows_accepted + q.rows_rejected
    assert q.rejected_by_reason == {k: v for k, v in truth["bad_rows"].items() if v}
    written = json.loads((out / "findings.json").read_text())
    assert written["data_quality"]["rows_rejected"] == q.rows_rejected
    rejected = pd.read_parquet(out / "rejected")
    assert len(rejected) == q.rows_rejected
    assert rejected.reason.value_counts().to_dict() == q.rejected_by_reason


def test_findings_json_has_the_documented_fields(demo):
    _, _, out = demo
    doc = json.loads((out / "findings.json").read_text())
    assert doc["schema_version"] == SCHEMA_VERSION == 2
    assert {"name", "config_sha256", "inputs", "spark_version", "auditor_version", "started_at"} <= set(doc["audit"])
    assert len(doc["audit"]["inputs"][0]["sha256"]) == 64
    assert {"rows_read", "rows_accepted", "rows_rejected", "rejected_by_reason"} <= set(doc["data_quality"])
    required = {"segment", "column", "group", "reference", "premium", "ci_low", "ci_high", "raw_premium",
                "p_value", "q_value", "flagged", "cells", "rows_group", "rows_reference", "users", "coverage"}
    for f in doc["findings"]:
        assert required <= set(f)
        assert 0 < f["coverage"] <= 1 and f["ci_low"] < f["premium"] < f["ci_high"]


def _null_log(tmp_path, users=1500, seed=11):
    """No premium at all, strong per-user effects (sd 0.3), heavy users, a user-level segment."""
    rng = np.random.default_rng(seed)
    activity = np.minimum(1 + rng.pareto(1.5, users) * 5, 600).astype(int)
    user = np.repeat(np.arange(users), activity)
    group = np.where(rng.random(users) < 0.35, "ios", "android")
    effect = rng.normal(0, 0.3, users)
    n = user.size
    route = rng.integers(0, 30, n)
    hour = rng.integers(0, 24, n)
    log_price = 3 + 0.05 * route + 0.02 * hour + effect[user] + rng.normal(0, 0.05, n)
    frame = pd.DataFrame({
        "order_no": [f"o{i}" for i in range(n)], "uid": [f"u{u}" for u in user],
        "ts": pd.Timestamp("2026-09-07", tz="UTC") + pd.to_timedelta(hour * 3600 + rng.integers(0, 3600, n), unit="s"),
        "price": np.round(np.exp(log_price), 6), "route": route.astype(str), "os": group[user],
    })
    data = tmp_path / "null.parquet"
    frame.to_parquet(data)
    text = audit_toml(audit={"name": "null", "platform": "T"}, input={"path": str(data)},
                      columns={"transaction_id": "order_no", "user_id": "uid", "timestamp": "ts", "price": "price"},
                      match={"exact": ["route"]}, test={"max_clusters": 1000})
    return frame, parse_config(text)


def test_null_log_with_strong_user_effects_is_not_flagged_and_spark_equals_numpy(spark, tmp_path):
    frame, config = _null_log(tmp_path)
    data = summarize(ingest(spark, config).accepted, config)[0]
    # The same reduction in numpy, from the rows themselves.
    cell = frame.route + "|" + (frame.ts.dt.floor("h")).astype(str)
    twin = user_scores(frame.uid, cell, (frame.os == "ios").astype(float), np.log(frame.price))
    assert data.primary.users == twin.users > 1000  # so the scores were pooled into 1000 buckets
    assert data.pooled_clusters and 500 < data.primary.clusters <= 1000  # occupied hash buckets
    assert (data.primary.rows, data.primary.cells) == (twin.rows, twin.cells)
    # Users per side, as the numpy twin counts them (the t reference and min_users go by the smaller side).
    assert (data.primary.users_group, data.primary.users_reference) == (twin.users_group, twin.users_reference)
    assert 0 < twin.users_group < twin.users_reference and data.primary.dof == twin.users_group - 1
    assert data.primary.scores_a.sum() == pytest.approx(twin.scores_a.sum(), rel=1e-9, abs=1e-9)
    assert data.primary.scores_b.sum() == pytest.approx(twin.scores_b.sum(), rel=1e-9)

    result = pipeline.run(config, spark, tmp_path / "out")
    (f,) = result.findings
    assert not f.flagged and f.verdict in ("cleared", "inconclusive")
    assert f.ci_low < 0 < f.ci_high


def test_spark_user_scores_equal_numpy_exactly_when_not_pooled(spark, tmp_path):
    frame, config = _null_log(tmp_path, users=400, seed=5)
    data = summarize(ingest(spark, config).accepted, config)[0]
    cell = frame.route + "|" + (frame.ts.dt.floor("h")).astype(str)
    twin = user_scores(frame.uid, cell, (frame.os == "ios").astype(float), np.log(frame.price))
    # numpy orders users by id, Spark's collect is sorted by id too.
    for spark_side, numpy_side in [(data.primary.scores_a, twin.scores_a), (data.primary.scores_b, twin.scores_b),
                                   (data.primary.delta_a, twin.delta_a), (data.primary.delta_b, twin.delta_b)]:
        np.testing.assert_allclose(spark_side, numpy_side, rtol=1e-9, atol=1e-12)


def test_existing_output_is_refused_then_replaced_atomically(spark, tmp_path):
    _, config = _null_log(tmp_path, users=200, seed=3)
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("previous audit")
    with pytest.raises(AuditOutputError, match="already exists: choose a new folder, or pass --overwrite"):
        pipeline.run(config, spark, out)
    with pytest.raises(AuditOutputError, match=r"is not an audit's output folder \(it holds old.txt\)"):
        pipeline.run(config, spark, out, overwrite=True)  # --overwrite deletes nothing the auditor did not write
    assert (out / "old.txt").read_text() == "previous audit"
    (out / "old.txt").unlink()
    pipeline.run(config, spark, out, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == [".audit-manifest.json", "findings.json", "report.html"]
    manifest = json.loads((out / ".audit-manifest.json").read_text())
    assert [f["path"] for f in manifest["files"]] == ["findings.json", "report.html"]
    assert not list(tmp_path.glob(".out.*"))  # no staging folder left behind


def test_failed_run_leaves_no_output(spark, tmp_path):
    _, config = _null_log(tmp_path, users=200, seed=3)
    broken = parse_config(config.source_text.replace('groups = ["ios"]', 'groups = ["iOS"]'))
    with pytest.raises(Exception, match="never occurs"):
        pipeline.run(broken, spark, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.*"))


def test_cli_bad_config_prints_one_line_and_exits_2(tmp_path, capsys):
    config = tmp_path / "audit.toml"
    _, good = _null_log(tmp_path, users=50)
    config.write_text(good.source_text.replace('format = "parquet"', 'format = "excel"'))
    assert main(["run", "--config", str(config), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err == "error: [input] format = 'excel' is not supported: use one of parquet, csv, json\n"


def test_cli_spark_failure_mid_audit_is_one_clear_line_and_no_output(spark, tmp_path, capsys):
    """A file Spark cannot decode fails the scan mid-run: one line, exit 1, nothing left behind."""
    _, config = _null_log(tmp_path, users=200, seed=3)
    data = tmp_path / "null.parquet"
    folder = tmp_path / "logs"
    folder.mkdir()
    data.rename(folder / "part-0.parquet")
    # The schema comes from the first file's footer; the last one is garbage, found only by the scan.
    (folder / "part-9.parquet").write_bytes(b"PAR1" + b"\x00" * 64 + b"PAR1")
    path = tmp_path / "audit.toml"
    path.write_text(config.source_text.replace(str(data), str(folder)))
    out = tmp_path / "out"
    assert main(["run", "--config", str(path), "--out", str(out), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: Spark failed during the audit, and no output was written: ")
    assert "part-9.parquet" in err and err.count("\n") == 1, err
    assert not out.exists() and not list(tmp_path.glob(".out.*"))


def test_a_price_column_of_words_stops_with_the_reasons_and_leaves_rejected_rows_to_inspect(spark, tmp_path, capsys):
    """Every row rejected: not a spelling error about a segment value, but the counts by reason, and
    rejected/ written (with its manifest, so a re-run with --overwrite may replace it)."""
    import pandas as pd

    from test_ingest import CONFIG, HEADER
    lines = [f"o{i},u{i % 7},2026-09-07T08:{i % 60:02d}:00Z,cheap,Beijing,3.1,{'ios' if i % 2 else 'android'}"
             for i in range(40)]
    data = tmp_path / "log.csv"
    data.write_text(HEADER + "\n" + "\n".join(lines) + "\n", encoding="utf-8")
    config = tmp_path / "audit.toml"
    config.write_text(CONFIG.format(path=data, fmt="csv"))
    out = tmp_path / "out"
    assert main(["run", "--config", str(config), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err == ("error: [input] no row can be audited: all 40 rows read were rejected (unparseable_number 40); "
                   "check the columns named in [columns] and [match] against the data; each rejected row, with its "
                   f"reason, is in {out.resolve()}/rejected/\n")
    rejected = pd.read_parquet(out / "rejected")
    assert len(rejected) == 40 and set(rejected["reason"]) == {"unparseable_number"}
    assert set(rejected["fare"]) == {"cheap"}
    assert not (out / "findings.json").exists()
    assert main(["run", "--config", str(config), "--out", str(out), "--quiet", "--overwrite"]) == 2  # replaceable
