"""Log shapes for the scale ladder, written in bounded memory at any size.

The project's generator (auditor.synth) writes the log a case study needs:
64 routes and 40 rides per passenger, so a few thousand large cells. Real
platform logs look the other way round, and these shapes are how the benchmark
and the memory tests meet them:

- `sparse`: rows / 20 passengers drawn uniformly, 2,000 routes x 168 hours of
  one week x 3 car classes: about a million matched cells of ~10 rows at 10M rows.
- `skewed`: sparse, plus one hot cell (one route, one hour, one class) holding
  20 % of all rows and one whale passenger (a corporate account) holding 1 %.

Both use the rides scenario's column names, so the DuckDB kernel
(bench.kernels) computes the same matched iOS premium on them. iOS riders pay
a planted +4 % (so the audit's flagged path, sensitivity and balance, runs too);
the other device is Android. Files are written in row groups of a million rows,
so writing 100M rows needs no more memory than writing one.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

SHAPES = ("sparse", "skewed")
ROUTES, HOURS, CLASSES = 2000, 168, ("economy", "comfort", "premium")
IOS_PREMIUM = 0.04
WEEK_START = np.datetime64("2026-09-07T00:00:00", "us")
CHUNK = 1_000_000
HOT_SHARE, WHALE_SHARE = 0.20, 0.01

CONFIG = """\
[audit]
name = "Ride-hailing fares, {shape} shape, {rows:,} rows (benchmark)"
platform = "ExampleRide"

[input]
path = "data/rides.parquet"
format = "parquet"

[columns]
transaction_id = "order_no"
user_id = "passenger_id"
timestamp = "req_time"
price = "fare_cny"

[match]
exact = ["city", "car_level", "start_grid", "end_grid"]
time_bucket = "1h"
bins = {{ distance_m = 2000 }}

[[segments]]
name = "Device"
column = "os"
reference = "android"
groups = ["ios"]

[test]
alpha = 0.05
materiality = 0.01
"""


def write_shape(shape: str, rows: int, out: Path, seed: int = 2026) -> tuple[Path, Path]:
    """Write data/rides.parquet and audit.toml of one shape into `out`; returns (config, data)."""
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; one of {', '.join(SHAPES)}")
    data = out / "data" / "rides.parquet"
    config = out / "audit.toml"
    if data.exists() and config.exists():
        return config, data
    data.parent.mkdir(parents=True, exist_ok=True)
    users = max(2, rows // 20)
    rng = np.random.default_rng(seed)
    # A passenger's device is theirs: about 40 % ride with iOS.
    ios_user = np.random.default_rng(seed + 1).random(users) < 0.4
    route_base = 8.0 + 60.0 * np.random.default_rng(seed + 2).random(ROUTES)
    hour_surge = 1.0 + 0.3 * np.sin(np.arange(HOURS) / 24 * 2 * np.pi) ** 2
    class_factor = np.array([1.0, 1.5, 2.4])
    partial = data.with_suffix(".partial")
    with pq.ParquetWriter(partial, _SCHEMA, compression="snappy") as writer:
        for start in range(0, rows, CHUNK):
            n = min(CHUNK, rows - start)
            writer.write_table(_chunk(shape, start, n, rows, users, rng, ios_user, route_base, hour_surge,
                                      class_factor))
    partial.rename(data)
    config.write_text(CONFIG.format(shape=shape, rows=rows))
    return config, data


_SCHEMA = pa.schema([
    ("order_no", pa.string()), ("passenger_id", pa.string()), ("req_time", pa.timestamp("us", tz="UTC")),
    ("city", pa.string()), ("start_grid", pa.string()), ("end_grid", pa.string()), ("car_level", pa.string()),
    ("distance_m", pa.float64()), ("os", pa.string()), ("fare_cny", pa.float64()),
])


def _chunk(shape, start, n, rows, users, rng, ios_user, route_base, hour_surge, class_factor) -> pa.Table:
    user = rng.integers(0, users, n)
    route = rng.integers(0, ROUTES, n)
    hour = rng.integers(0, HOURS, n)
    level = rng.integers(0, len(CLASSES), n)
    if shape == "skewed":
        # Rows are drawn independently, so each chunk carries its share of the hot cell and the whale.
        draw = rng.random(n)
        hot = draw < HOT_SHARE
        route[hot], hour[hot], level[hot] = 0, 8, 0  # an airport route at 08:00 on Monday, economy
        user[(draw >= HOT_SHARE) & (draw < HOT_SHARE + WHALE_SHARE)] = 0  # the corporate account
    seconds = hour * 3600 + rng.integers(0, 3600, n)
    ios = ios_user[user]
    noise = rng.normal(0.0, 0.10, n)
    fare = route_base[route] * hour_surge[hour] * class_factor[level] * np.exp(noise + ios * math.log1p(IOS_PREMIUM))
    index = np.arange(start, start + n)
    return pa.table({
        "order_no": pa.array(np.char.add("S", np.char.zfill(index.astype(str), 10))),
        "passenger_id": pa.array(np.char.add("U", np.char.zfill(user.astype(str), 8))),
        "req_time": pa.array(WEEK_START + seconds.astype("timedelta64[s]"), pa.timestamp("us", tz="UTC")),
        "city": pa.array(np.char.add("C", (route // 400).astype(str))),
        "start_grid": pa.array(np.char.add("G", route.astype(str))),
        "end_grid": pa.array(np.char.add("H", (route % 50).astype(str))),
        "car_level": pa.array(np.asarray(CLASSES)[level]),
        # A route has one length, so the distance bin never splits a route's cells.
        "distance_m": pa.array(1000.0 + (route * 37 % 30) * 1000.0 + 1.0),
        "os": pa.array(np.where(ios, "ios", "android")),
        "fare_cny": pa.array(np.round(fare, 2)),
    }, schema=_SCHEMA)
