"""Memory bounded by design: the audit of a sparse and of a skewed log completes in a small heap.

Each test runs `auditor run` as a user does, in a fresh process, with the
embedded driver held to 512 MiB (Spark's smallest workable heap) on a log of
the shapes real platforms have (bench.shapes): many users and ~a million small
cells, or the same with a hot cell holding 20 % of the rows and a whale user
holding 1 %. A change that makes any stage's memory grow with the data (a
cached block read back whole, an aggregation that cannot spill, a collect that
grows with users or cells) fails here, not on a user's cluster. The iOS
premium must equal the DuckDB kernel's on the same file, and the JVM's peak
RSS must stay within a bound set by the heap, not by the data.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import psutil
import pytest

from bench.kernels import duckdb_premium
from bench.shapes import write_shape

pytestmark = pytest.mark.slow

ROWS = 600_000
HEAP = "512m"


def _run_audit(config, out) -> tuple[int, str, int]:
    """`auditor run` in a fresh process with a 512 MiB driver: exit code, output, peak JVM RSS."""
    command = [sys.executable, "-m", "auditor", "run", "--config", str(config), "--out", str(out),
               "--driver-memory", HEAP]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    peak = 0
    root = psutil.Process(proc.pid)
    while proc.poll() is None:
        try:
            peak = max(peak, sum(p.memory_info().rss for p in root.children(recursive=True) if p.name() == "java"))
        except psutil.Error:
            pass
        time.sleep(0.2)
    reader.join(timeout=10)
    return proc.returncode, "".join(lines), peak


@pytest.mark.parametrize("shape", ["sparse", "skewed"])
def test_a_large_log_of_small_cells_audits_in_a_small_heap(tmp_path, shape):
    config, data = write_shape(shape, ROWS, tmp_path / shape)
    code, output, peak = _run_audit(config, tmp_path / "out")
    assert code == 0, output[-3000:]
    assert "0.5 GiB heap (set by --driver-memory)" in output
    findings = json.loads((tmp_path / "out" / "findings.json").read_text())
    assert findings["data_quality"]["rows_read"] == ROWS
    ios = next(f for f in findings["findings"] if f["group"] == "ios" and f["outcome"] == "price")
    kernel = duckdb_premium(data, threads=2)
    assert ios["premium"] == pytest.approx(kernel.premium, rel=1e-9)
    assert ios["premium"] == pytest.approx(0.04, abs=0.01)  # the planted premium
    # The heap is 512 MiB; what the JVM holds beyond it (code, threads, direct buffers) does not grow with rows.
    assert peak < 1.5 * 2**30, f"peak JVM RSS {peak / 2**20:.0f} MiB"
