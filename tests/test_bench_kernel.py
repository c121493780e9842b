"""The benchmark's DuckDB kernel computes the audit's CR1 premium (checked against the numpy twin)."""

from __future__ import annotations

import math

import numpy as np
import pyarrow.parquet as pq
import pytest

from auditor.synth import generate
from auditor.stats.premium import cluster_robust, user_scores

duckdb = pytest.importorskip("duckdb")  # the `bench` extra


def test_duckdb_kernel_matches_numpy_cr1(tmp_path):
    from bench.kernels import duckdb_premium

    made = generate("rides", 20_000, 5, tmp_path / "sample")
    kernel = duckdb_premium(made.data_path, threads=2)

    # The same rows, filtered and matched by hand in numpy.
    t = pq.read_table(made.data_path).to_pandas()
    t = t[t.passenger_id.notna() & t.city.notna() & (t.fare_cny > 0)]
    t = t[~t.order_no.duplicated()]  # duplicates are appended copies: the first is kept
    t = t[t.os.isin(["ios", "android"])]
    hour = t.req_time.astype("int64") // 10**6 // 3600  # microseconds since the epoch
    cell = (t.city + "|" + t.car_level + "|" + t.start_grid + "|" + t.end_grid + "|" + hour.astype(str)
            + "|" + (t.distance_m // 2000).astype(str))
    summary = user_scores(t.passenger_id.to_numpy(), cell.to_numpy(), (t.os == "ios").to_numpy(),
                          np.log(t.fare_cny.to_numpy()))
    expected = cluster_robust(summary)
    assert (kernel.rows, kernel.cells, kernel.clusters) == (summary.rows, summary.cells, summary.clusters)
    assert math.isclose(kernel.beta, expected.beta, rel_tol=1e-9)
    assert math.isclose(kernel.se, expected.se, rel_tol=1e-9)
