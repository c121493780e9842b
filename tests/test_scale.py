"""Memory bounded by design: the audit of a sparse and of a skewed log completes in a small heap.

Each test runs `auditor run` as a user does, in a fresh process, with the
embedded driver held to a small heap on a log of the shapes real platforms have
(bench.shapes): many users and ~a million small cells, or the same with a hot
cell holding 20 % of the rows and a whale user holding 1 %, each held to 512 MiB
(Spark's smallest workable heap). The skewed log is the one that found the plan's
limits: a window buffering the hot cell in the task whose hash map aggregated the
users ran out of memory (a map cannot be made to spill by another consumer); the
unranked comparisons now window over (cell, user) pairs and the per-user
aggregation is exchanged before it aggregates. A change that makes any stage's memory grow with the data (a
cached block read back whole, an aggregation that cannot spill, a collect that
grows with users or cells) fails here, not on a user's cluster. The iOS
premium must equal the DuckDB kernel's on the same file, and the JVM's peak
RSS must stay within a bound set by the heap, not by the data.
"""

from __future__ import annotations

import json
import sys

import pytest

from bench.kernels import duckdb_premium
from bench.shapes import write_shape
from bench.watch import watch

pytestmark = pytest.mark.slow

ROWS = 600_000
HEAP = "512m"


def _run_audit(config, out, heap: str) -> tuple[int, str, int]:
    """`auditor run` in a fresh process with a small driver: exit code, output, peak JVM RSS."""
    watched = watch([sys.executable, "-m", "auditor", "run", "--config", str(config), "--out", str(out),
                     "--driver-memory", heap])
    return watched.returncode, watched.output, watched.peak_jvm_rss


@pytest.mark.parametrize("shape", ["sparse", "skewed"])
def test_a_large_log_of_small_cells_audits_in_a_small_heap(tmp_path, shape):
    config, data = write_shape(shape, ROWS, tmp_path / shape)
    code, output, peak = _run_audit(config, tmp_path / "out", HEAP)
    assert code == 0, output[-3000:]
    assert "0.5 GiB heap (set by --driver-memory)" in output
    findings = json.loads((tmp_path / "out" / "findings.json").read_text())
    assert findings["data_quality"]["rows_read"] == ROWS
    ios = next(f for f in findings["findings"] if f["group"] == "ios" and f["outcome"] == "price")
    kernel = duckdb_premium(data, threads=2)
    assert ios["premium"] == pytest.approx(kernel.premium, rel=1e-9)
    assert ios["premium"] == pytest.approx(0.04, abs=0.01)  # the planted premium
    # What the JVM holds beyond its heap (code, threads, direct buffers) does not grow with rows.
    assert peak < 1.5 * 2**30, f"peak JVM RSS {peak / 2**20:.0f} MiB"
