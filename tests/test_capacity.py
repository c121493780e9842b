"""The capacity model's arithmetic (bench/capacity.py), on rungs shaped as bench.ladder records them."""

from __future__ import annotations

import pytest

from bench.capacity import capacity_markdown, fit, project


def rung(rows, cpu, audit, shuffle_mib, peak=900, shape="sparse", **extra):
    return {"shape": shape, "rows": rows, "driver_memory": "default", "master": None, "returncode": 0,
            "audit_s": audit, "cpu_s": cpu, "shuffle_mib": shuffle_mib, "peak_task_memory_mib": peak,
            "inputs_line": "[ 7.9s] inputs: 1 files, ...; local driver: 11.8 GiB heap (...), 2 cores, 3,527 MiB",
            **extra}


def test_the_model_is_a_line_through_the_rungs_and_scales_with_the_cores():
    rungs = [rung(1_000_000, 80.0, 60.0, 100), rung(10_000_000, 710.0, 400.0, 1000, peak=1900),
             rung(10_000_000, 5.0, 1.0, 1, returncode=1),  # failed rungs, other drivers, clusters: not fitted
             rung(10_000_000, 5.0, 1.0, 1, driver_memory="2g"), rung(1_000_000, 5.0, 1.0, 1, master="spark://x"),
             rung(1_000_000, 999.0, 1.0, 1, shape="skewed")]
    m = fit(rungs, "sparse")
    assert m["rungs"] == [1_000_000, 10_000_000]
    assert m["cpu_per_million_s"] == pytest.approx(70.0) and m["cpu_fixed_s"] == pytest.approx(10.0)
    assert m["shuffle_bytes_per_row"] == pytest.approx(1000 * 2**20 / 1e7)
    assert m["peak_task_mib_by_rung"] == [900, 1900] and m["cores"] == 2
    assert m["efficiency"] == pytest.approx(710 / 800)
    p = project(m, 1_000_000_000, executors=10, cores=4)
    assert p["cpu_h"] == pytest.approx((10 + 70_000) / 3600)
    assert p["wall_min"] == pytest.approx((10 + 70_000) / (40 * 710 / 800) / 60)
    assert p["shuffle_gib_per_executor"] == pytest.approx(p["shuffle_gib"] / 10)
    assert fit(rungs, "generated") is None
    one = fit([rung(10_000_000, 700.0, 400.0, 1000)], "sparse")  # one rung: through zero
    assert one["cpu_fixed_s"] == 0 and one["cpu_per_million_s"] == pytest.approx(70.0)


def test_the_check_compares_the_cluster_with_the_local_rung_of_its_size():
    local = rung(1_000_000, 80.0, 60.0, 100, premium_audit=0.04)
    measured = rung(1_000_000, 88.0, 75.0, 100, master="spark://127.0.0.1:7077", premium_audit=0.04)
    text = capacity_markdown([fit([local], "sparse")], [(local, measured, fit([local], "sparse"))])
    assert "| sparse | 1,000,000 | executor CPU s | 80.0 | 80.0 | 88.0 | 1.10 |" in text
    assert "| sparse | 1,000,000 | audit s (wall) | 60.0 | 60.0 | 75.0 | 1.25 |" in text
