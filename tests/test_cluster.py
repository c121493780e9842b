"""The batch job on a real standalone cluster: partitioned input, re-runs, a lost worker.

One master and two workers (one core each) are started on loopback for the
module. The reference is an in-process local-mode audit of the same log as one
Parquet file; the cluster reads it as a folder of many files partitioned by
date, as platforms store logs. Layout, master and a lost worker must not
change a single finding.
"""

from __future__ import annotations

import json
import math
import subprocess
import threading
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from auditor import pipeline
from auditor.spec import load_config
from auditor.synth import generate

from bench.standalone import StandaloneCluster

pytestmark = pytest.mark.slow

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


def partition_by_date(made, rows_per_file: int) -> Path:
    """Rewrite the generated log as data/rides/date=YYYY-MM-DD/part-*.parquet; return a config reading it."""
    table = pq.read_table(made.data_path)
    table = table.append_column("date", pc.cast(table["req_time"], "date32"))
    folder = made.data_path.parent / "rides"
    ds.write_dataset(table, folder, format="parquet", partitioning=["date"], partitioning_flavor="hive",
                     max_rows_per_file=rows_per_file, max_rows_per_group=rows_per_file,
                     basename_template="part-{i}.parquet", use_threads=False)
    config = made.config_path.with_name("partitioned.toml")
    text = made.config_path.read_text(encoding="utf-8")
    assert 'path = "data/rides.parquet"' in text
    config.write_text(text.replace('path = "data/rides.parquet"', 'path = "data/rides"'), encoding="utf-8")
    return config


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    root = tmp_path_factory.mktemp("cluster")
    made = generate("rides", 60_000, 99, root / "sample")
    return root, made, partition_by_date(made, rows_per_file=2_500)


@pytest.fixture(scope="module")
def local(spark, sample):
    root, made, _ = sample
    result = pipeline.run(load_config(made.config_path), spark, root / "local")
    assert sum(f.flagged for f in result.findings) == 2  # iOS and loyal, as planted
    return json.loads((root / "local" / "findings.json").read_text())


@pytest.fixture(scope="module")
def cluster(sample):
    root, _, _ = sample
    with StandaloneCluster(root / "standalone", workers=2) as running:
        yield running


def test_partitioned_input_on_cluster_matches_local(sample, local, cluster):
    root, _, partitioned = sample
    files = sorted((partitioned.parent / "data" / "rides").rglob("*.parquet"))
    assert len(files) >= 24 and len({f.parent.name for f in files}) == 7  # a week of date= folders

    done = cluster.submit(JOB, "--config", str(partitioned), "--out", str(root / "cluster-out"))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    # spark-submit's PythonRunner merges the driver's stderr into its stdout.
    assert f"inputs: {len(files)} files" in done.stdout
    assert "estimate: 5 findings, 2 flagged" in done.stdout
    submitted = json.loads((root / "cluster-out" / "findings.json").read_text())
    assert submitted["audit"]["spark_master"] == cluster.url
    assert len(submitted["audit"]["inputs"]) == len(files)
    assert_same_findings(local, submitted)


def test_rerun_refuses_existing_output_before_starting_spark(sample, cluster):
    root, _, partitioned = sample
    out = root / "cluster-out"
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    assert before, "the first cluster test writes this folder"
    done = cluster.submit(JOB, "--config", str(partitioned), "--out", str(out))
    assert done.returncode == 2
    assert f"error: --out {out.resolve()} already exists: choose a new folder, or pass --overwrite to replace it" \
        in done.stdout + done.stderr
    assert "starting Spark" not in done.stdout + done.stderr
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before


def test_worker_lost_mid_audit_gives_identical_findings(sample, local, cluster):
    """Kill a worker (and its executor) as the estimate starts: Spark recomputes what it held
    and retries its tasks on the other worker; the replaced output equals the local audit."""
    root, _, partitioned = sample
    out = root / "cluster-out"
    proc = cluster.launch(JOB, "--config", str(partitioned), "--out", str(out), "--overwrite")
    lines: list[str] = []
    estimating = threading.Event()

    def read() -> None:
        for line in proc.stdout:
            lines.append(line)
            if "] estimate: " in line:
                estimating.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert estimating.wait(timeout=600), "".join(lines[-40:])
    assert proc.poll() is None, "the audit finished before the worker could be killed"
    cluster.kill_worker(0)
    try:
        proc.wait(timeout=600)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    reader.join(timeout=30)
    log = "".join(lines)
    assert proc.returncode == 0, log[-4000:]
    assert cluster.alive_workers() == 1
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]  # no staging left
    assert_same_findings(local, json.loads((out / "findings.json").read_text()))
