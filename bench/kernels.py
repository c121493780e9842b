"""The yardsticks the audit is timed against, on the same Parquet log.

- `duckdb_premium`: a hand-written single-node DuckDB query computing the same
  matched iOS-vs-Android premium and its user-clustered (CR1) variance as the
  audit, with the audit's row filters (missing values, nonpositive prices,
  first valid copy of a transaction id) so the two must agree to rounding.
- `scan_floor`: reading just the columns the audit reads with pyarrow and
  taking log(price): no engine can audit the file faster than it can read it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq


@dataclass(frozen=True)
class KernelPremium:
    """beta (log premium), CR1 standard error and the counts it rests on."""

    beta: float
    se: float
    rows: int  # N: rows of the two groups in cells holding both
    cells: int  # cells with common support (K = cells + 1)
    clusters: int  # G: users

    @property
    def premium(self) -> float:
        return math.expm1(self.beta)


# Cells: city x car_level x start_grid x end_grid x hour (UTC) x 2000 m distance bin.
# beta = sum x~y~ / sum x~^2 within cells holding both groups (Frisch-Waugh-Lovell);
# s_i = sum over user i's rows of x~(y~ - beta x~);  V = G/(G-1) sum s_i^2 / (sum x~^2)^2;
# the audit's CR1 adds (N-1)/(N-K) for the absorbed cells, K = cells + 1.
KERNEL_SQL = """
WITH valid AS (
    SELECT order_no, passenger_id, os, fare_cny, city, car_level, start_grid, end_grid,
           req_time, distance_m, file_row_number
    FROM read_parquet($path, file_row_number = true)
    WHERE order_no IS NOT NULL AND passenger_id IS NOT NULL AND req_time IS NOT NULL
      AND city IS NOT NULL AND car_level IS NOT NULL AND start_grid IS NOT NULL AND end_grid IS NOT NULL
      AND isfinite(fare_cny) AND isfinite(distance_m) AND fare_cny > 0
    -- the first valid copy of a transaction id is kept, as the audit does
    QUALIFY row_number() OVER (PARTITION BY order_no ORDER BY file_row_number) = 1
), rows AS (
    SELECT passenger_id AS u, CASE WHEN os = 'ios' THEN 1.0 ELSE 0.0 END AS x, ln(fare_cny) AS y,
           city, car_level, start_grid, end_grid,
           floor(epoch(req_time) / 3600) AS hour_bucket, floor(distance_m / 2000) AS distance_bin
    FROM valid
    WHERE os IN ('ios', 'android')
), cells AS (
    SELECT city, car_level, start_grid, end_grid, hour_bucket, distance_bin, avg(x) AS mx, avg(y) AS my
    FROM rows
    GROUP BY ALL
    HAVING avg(x) > 0 AND avg(x) < 1
), demeaned AS (
    SELECT u, x - mx AS xt, y - my AS yt
    FROM rows JOIN cells USING (city, car_level, start_grid, end_grid, hour_bucket, distance_bin)
), users AS (
    SELECT sum(xt * yt) AS a, sum(xt * xt) AS b, count(*) AS n FROM demeaned GROUP BY u
), totals AS (
    SELECT sum(a) / sum(b) AS beta, sum(b) AS sxx, sum(n) AS n, count(*) AS g FROM users
)
SELECT beta, sxx, n, g, (SELECT count(*) FROM cells) AS cells,
       (SELECT sum((a - beta * b) * (a - beta * b)) FROM users) AS ss
FROM totals
"""


def duckdb_premium(path: Path, threads: int | None = None) -> KernelPremium:
    """The matched iOS premium and CR1 standard error, in one DuckDB query."""
    import duckdb

    con = duckdb.connect()
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    con.execute("SET TimeZone = 'UTC'")
    beta, sxx, n, g, cells, ss = con.execute(KERNEL_SQL, {"path": str(path)}).fetchone()
    con.close()
    k = cells + 1
    variance = g / (g - 1) * ss / sxx ** 2
    return KernelPremium(beta=beta, se=math.sqrt(variance * (n - 1) / (n - k)), rows=int(n), cells=int(cells),
                         clusters=int(g))


def scan_floor(path: Path, columns: list[str], price: str) -> int:
    """Read the audit's columns and take log(price); returns the rows read."""
    table = pq.read_table(path, columns=columns)
    logs = pc.ln(table[price])
    return len(logs)
