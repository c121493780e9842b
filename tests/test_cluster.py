"""The batch job on a real standalone cluster gives the same findings as local mode."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from auditor import pipeline
from auditor.config import load_config
from auditor.generate import generate

from standalone import StandaloneCluster

JOB = Path(__file__).resolve().parent.parent / "jobs" / "audit.py"
NUMBERS = ("premium", "ci_low", "ci_high", "raw_premium", "p_value", "q_value", "coverage", "se_log")
COUNTS = ("cells", "rows_group", "rows_reference", "users", "flagged", "verdict")


def assert_same_findings(left: dict, right: dict) -> None:
    assert left["data_quality"] == right["data_quality"]
    assert len(left["findings"]) == len(right["findings"])
    for a, b in zip(left["findings"], right["findings"]):
        assert {k: a[k] for k in COUNTS} == {k: b[k] for k in COUNTS}
        for key in NUMBERS:
            assert math.isclose(a[key], b[key], rel_tol=1e-9, abs_tol=1e-300), (a["group"], key, a[key], b[key])


@pytest.mark.slow
def test_spark_submit_on_standalone_cluster_matches_local(spark, tmp_path):
    made = generate("rides", 60_000, 99, tmp_path / "sample")
    local = pipeline.run(load_config(made.config_path), spark, tmp_path / "local")
    with StandaloneCluster(tmp_path / "cluster", workers=2) as cluster:
        done = cluster.submit(JOB, "--config", str(made.config_path), "--out", str(tmp_path / "cluster-out"))
    assert done.returncode == 0, done.stderr[-3000:]
    # spark-submit's PythonRunner merges the driver's stderr into its stdout.
    assert "estimate: 5 findings, 2 flagged" in done.stdout
    submitted = json.loads((tmp_path / "cluster-out" / "findings.json").read_text())
    assert submitted["audit"]["spark_master"] == cluster.url
    assert_same_findings(json.loads((tmp_path / "local" / "findings.json").read_text()), submitted)
    assert sum(f.flagged for f in local.findings) == 2
