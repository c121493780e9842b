"""Synthetic ride-hailing logs (Didi-like) with planted, known price premiums.

`generate` writes a log, the audit.toml that audits it and truth.json with the
premiums and bad rows it planted, so an audit's findings can be checked against
the truth. Only numpy and pyarrow are used; rides are generated in chunks of
`CHUNK_ROWS`, so tens of millions of rows never sit in memory at once.

The price model, on the log scale:

    log fare = log base(city, car level, distance) + surge(hour, city)
               + user effect + planted premium + noise

Premiums are planted for iOS (+5 %) and loyal passengers (+2 %). Plus members
pay no premium, but they book bigger cars at peak hours, so their raw average
fare is far above basic members': a Simpson's-paradox trap that only matching
(same city, route, car level, hour and distance bin) sees through.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

SCENARIOS = ("rides",)
EXTENSIONS = {"parquet": "parquet", "csv": "csv", "json": "jsonl"}
CHUNK_ROWS = 1_000_000  # one parquet row group per chunk
RIDES_PER_PASSENGER = 40
WEEK_START_S = 1_788_739_200  # 2026-09-07T00:00:00Z in epoch seconds
DAYS = 7

CITIES = ("Beijing", "Shanghai", "Shenzhen", "Chengdu")
CITY_SHARE = (0.32, 0.30, 0.20, 0.18)
FLAG_FALL_CNY = np.array([13.0, 14.0, 12.0, 8.0])
PER_KM_CNY = np.array([2.3, 2.5, 2.6, 1.9])
GRIDS = ("G00", "G01", "G02", "G03")  # per city: 4 x 4 = 16 routes
CAR_LEVELS = ("economy", "comfort", "premium")
LEVEL_MULTIPLIER = np.array([1.0, 1.5, 2.4])
OS_VALUES = ("android", "ios", "harmonyos")
OS_SHARE = (0.6, 0.3, 0.1)
MEMBERSHIPS = ("basic", "plus")
MEMBERSHIP_SHARE = (0.75, 0.25)
TENURE_BANDS = ("new", "regular", "loyal")
TENURE_SHARE = (0.25, 0.45, 0.30)

# The planted truth, as fractions over each segment's reference group.
PREMIUMS = {
    "os": {"ios": 0.05, "harmonyos": 0.0},
    "tenure_band": {"loyal": 0.02, "regular": 0.0},
    "membership": {"plus": 0.0},
}
SIMPSON_TRAP = {"column": "membership", "group": "plus"}

# The trap: plus members book bigger cars (rows: basic, plus) ...
LEVEL_SHARE = np.array([[0.75, 0.20, 0.05], [0.25, 0.45, 0.30]])
# ... and ride at peak hours, when surge applies.
PEAK_HOURS = (7, 8, 17, 18)
PEAK_SURGE = math.log(1.15)
NIGHT_HOURS = (22, 23, 0)
NIGHT_SURGE = np.array([0.08, 0.06, 0.05, 0.03])  # by city
HOUR_PROFILE = np.array([0.3, 0.15, 0.1, 0.1, 0.15, 0.4, 1.0, 3.0, 3.2, 1.6, 1.1, 1.2,
                         1.3, 1.2, 1.1, 1.2, 1.6, 3.2, 3.0, 1.8, 1.5, 1.3, 1.0, 0.6])
PLUS_PEAK_WEIGHT = 4.0

USER_EFFECT_SD = 0.05
NOISE_SD = 0.05
DISTANCE_BIN_M = 2000
DISTANCE_NOISE_SD_M = 300
ACTIVITY_PARETO_SHAPE = 2.5  # heavy users with hundreds to thousands of rides, yet enough distinct payers

BAD_KINDS = ("duplicate_transaction_id", "missing_passenger", "nonpositive_price", "missing_city",
             "unparseable_number", "unparseable_timestamp")
TEXT_ONLY_KINDS = ("unparseable_number", "unparseable_timestamp")  # a typed parquet column cannot hold them


@dataclass(frozen=True)
class GeneratedAudit:
    config_path: Path  # OUT/audit.toml
    data_path: Path  # OUT/data/rides.<ext>
    truth_path: Path  # OUT/truth.json
    rows: int  # rows written, bad rows included


@dataclass(frozen=True)
class _Passengers:
    """User attributes, constant per passenger, and how many rides each takes."""

    ids: pa.Array
    city: np.ndarray
    os: np.ndarray
    membership: np.ndarray
    tenure: np.ndarray
    prior_orders: np.ndarray
    effect: np.ndarray
    rides: np.ndarray


@dataclass(frozen=True)
class _Routes:
    """Per city, 16 routes (start grid x end grid): popularity and fixed length."""

    cumulative_share: np.ndarray  # (city, route)
    distance_m: np.ndarray  # (city, route)


def generate(scenario: str, rows: int, seed: int, out: Path, fmt: str = "parquet",
             bad_row_share: float = 0.002) -> GeneratedAudit:
    """Write a synthetic log, its audit.toml and truth.json into `out` (created if needed)."""
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}: choose one of {', '.join(SCENARIOS)}")
    if fmt not in EXTENSIONS:
        raise ValueError(f"unknown format {fmt!r}: choose one of {', '.join(EXTENSIONS)}")
    if rows < 1000:
        raise ValueError(f"rows = {rows}: generate at least 1000 rows")
    if not 0 <= bad_row_share < 0.5:
        raise ValueError(f"bad_row_share = {bad_row_share}: use a share in [0, 0.5)")

    out = Path(out)
    (out / "data").mkdir(parents=True, exist_ok=True)
    data_path = out / "data" / f"rides.{EXTENSIONS[fmt]}"
    kinds = [k for k in BAD_KINDS if fmt != "parquet" or k not in TEXT_ONLY_KINDS]
    per_kind = math.ceil(rows * bad_row_share / len(kinds)) if bad_row_share else 0
    bad_counts = {k: per_kind for k in kinds}
    duplicates = bad_counts["duplicate_transaction_id"]
    rides = rows - duplicates  # duplicates are appended copies; every other bad row spoils a ride

    rng = np.random.default_rng(seed)
    passengers = _draw_passengers(rng, rides)
    routes = _draw_routes(rng)
    # Duplicated originals are kept clean, so each bad row is bad for exactly one reason.
    spoiled = rng.choice(rides, size=per_kind * len(kinds), replace=False)
    bad_at = {k: spoiled[i * per_kind:(i + 1) * per_kind] for i, k in enumerate(kinds)}

    writer = _Writer(data_path, fmt)
    remaining = passengers.rides.copy()
    for start in range(0, rides, CHUNK_ROWS):
        size = min(CHUNK_ROWS, rides - start)
        draw = remaining if start + size == rides else rng.multivariate_hypergeometric(remaining, size, method="marginals")
        remaining = remaining - draw
        rider = np.repeat(np.arange(len(draw)), draw)
        rng.shuffle(rider)
        chunk_bad = {k: np.sort(at[(at >= start) & (at < start + size)]) - start for k, at in bad_at.items()}
        writer.write(_chunk(rng, start, rider, passengers, routes, chunk_bad, text=fmt != "parquet", width=len(str(rows))))
    writer.close()

    bad_rows = {
        "duplicate_transaction_id": duplicates,
        "missing_value": bad_counts["missing_passenger"] + bad_counts["missing_city"],
        "nonpositive_price": bad_counts["nonpositive_price"],
        "unparseable_number": bad_counts.get("unparseable_number", 0),
        "unparseable_timestamp": bad_counts.get("unparseable_timestamp", 0),
    }
    truth = {"scenario": scenario, "seed": seed, "rows": rows, "premiums": PREMIUMS,
             "simpson_trap": SIMPSON_TRAP, "bad_rows": bad_rows}
    truth_path = out / "truth.json"
    truth_path.write_text(json.dumps(truth, indent=2) + "\n", encoding="utf-8")
    config_path = out / "audit.toml"
    config_path.write_text(_audit_toml(data_path.relative_to(out).as_posix(), fmt), encoding="utf-8")
    return GeneratedAudit(config_path=config_path, data_path=data_path, truth_path=truth_path, rows=rows)


def _draw_passengers(rng: np.random.Generator, rides: int) -> _Passengers:
    count = max(1, rides // RIDES_PER_PASSENGER)
    tenure = rng.choice(len(TENURE_BANDS), size=count, p=TENURE_SHARE)
    # Bands are cut from prior orders: new < 10 <= regular < 100 <= loyal.
    prior_orders = np.select(
        [tenure == 0, tenure == 1],
        [rng.integers(0, 10, count), np.exp(rng.uniform(math.log(10), math.log(100), count)).astype(np.int64)],
        100 + rng.lognormal(5.0, 0.8, count).astype(np.int64))
    activity = rng.pareto(ACTIVITY_PARETO_SHAPE, count) + 1.0
    width = max(7, len(str(count)))
    return _Passengers(
        ids=pc.binary_join_element_wise("P", pc.utf8_lpad(pa.array(np.arange(count)).cast(pa.string()), width, "0"), ""),
        city=rng.choice(len(CITIES), size=count, p=CITY_SHARE),
        os=rng.choice(len(OS_VALUES), size=count, p=OS_SHARE),
        membership=rng.choice(len(MEMBERSHIPS), size=count, p=MEMBERSHIP_SHARE),
        tenure=tenure,
        prior_orders=prior_orders.astype(np.int64),
        effect=rng.normal(0.0, USER_EFFECT_SD, count),
        rides=1 + rng.multinomial(rides - count, activity / activity.sum()),  # everyone rides at least once
    )


def _draw_routes(rng: np.random.Generator) -> _Routes:
    n_routes = len(GRIDS) ** 2
    # Zipf-like popularity, with a different order of routes in each city.
    popularity = np.stack([rng.permutation(1.0 / np.arange(1, n_routes + 1)) for _ in CITIES])
    cumulative = np.cumsum(popularity / popularity.sum(axis=1, keepdims=True), axis=1)
    cumulative[:, -1] = 1.0
    # Grid centres in a 20 km square; roads are ~1.3x the straight line, plus getting out of the grid.
    centres = rng.uniform(0, 20_000, size=(len(CITIES), len(GRIDS), 2))
    straight = np.linalg.norm(centres[:, :, None, :] - centres[:, None, :, :], axis=-1)
    road = (1.3 * straight + 2_500).reshape(len(CITIES), n_routes)
    # A route's length sits at the middle of a distance bin, so with 300 m of noise
    # nearly all of its rides share one bin and matched cells stay large.
    centre_of_bin = np.clip(np.floor(road / DISTANCE_BIN_M), 1, 13) * DISTANCE_BIN_M + DISTANCE_BIN_M / 2
    return _Routes(cumulative_share=cumulative, distance_m=centre_of_bin)


def _chunk(rng: np.random.Generator, start: int, rider: np.ndarray, passengers: _Passengers, routes: _Routes,
           bad: dict[str, np.ndarray], text: bool, width: int) -> pa.Table:
    """One chunk of rides by the given riders, spoiled where `bad` says, duplicates appended."""
    size = len(rider)
    city = passengers.city[rider]
    plus = passengers.membership[rider]
    route = (routes.cumulative_share[city] < rng.random(size)[:, None]).sum(axis=1)
    start_grid, end_grid = np.divmod(route, len(GRIDS))
    level = (np.cumsum(LEVEL_SHARE, axis=1)[plus] < rng.random(size)[:, None]).sum(axis=1)

    peak = np.isin(np.arange(24), PEAK_HOURS)
    hour_share = np.stack([HOUR_PROFILE, HOUR_PROFILE * np.where(peak, PLUS_PEAK_WEIGHT, 1.0)])
    hour_share /= hour_share.sum(axis=1, keepdims=True)
    hour = (np.cumsum(hour_share, axis=1)[plus] < rng.random(size)[:, None]).sum(axis=1)
    epoch_s = WEEK_START_S + rng.integers(0, DAYS, size) * 86_400 + hour * 3_600 + rng.integers(0, 3_600, size)

    distance = np.clip(routes.distance_m[city, route] + rng.normal(0, DISTANCE_NOISE_SD_M, size), 1_000, 30_000).round()
    base = FLAG_FALL_CNY[city] + PER_KM_CNY[city] * LEVEL_MULTIPLIER[level] * distance / 1_000
    surge = np.where(peak[hour], PEAK_SURGE, 0.0) + np.where(np.isin(hour, NIGHT_HOURS), NIGHT_SURGE[city], 0.0)
    log_fare = (np.log(base) + surge + passengers.effect[rider] + _log_premium(passengers, rider)
                + rng.normal(0, NOISE_SD, size))
    fare = np.exp(log_fare).round(2)
    fare[bad["nonpositive_price"]] = np.where(np.arange(len(bad["nonpositive_price"])) % 2, -fare[bad["nonpositive_price"]], 0.0)

    order_no = pc.utf8_lpad(pa.array(np.arange(start + 1, start + size + 1)).cast(pa.string()), max(9, width), "0")
    req_time = pa.array(epoch_s * 1_000_000, type=pa.timestamp("us", tz="UTC"))
    columns = {
        "order_no": pc.binary_join_element_wise("R", order_no, ""),
        "passenger_id": _with_nulls(passengers.ids.take(rider), bad["missing_passenger"]),
        "req_time": req_time,
        "city": _with_nulls(_labels(CITIES, city), bad["missing_city"]),
        "start_grid": _labels(GRIDS, start_grid),
        "end_grid": _labels(GRIDS, end_grid),
        "car_level": _labels(CAR_LEVELS, level),
        "distance_m": pa.array(distance),
        "os": _labels(OS_VALUES, passengers.os[rider]),
        "membership": _labels(MEMBERSHIPS, plus),
        "tenure_band": _labels(TENURE_BANDS, passengers.tenure[rider]),
        "prior_orders": pa.array(passengers.prior_orders[rider]),
        "fare_cny": pa.array(fare),
    }
    if text:
        fare_text = pc.cast(columns["fare_cny"], pa.string()).to_numpy(zero_copy_only=False)
        fare_text[bad["unparseable_number"]] = [f"{f:.1f}".replace(".", ",") + "元" for f in fare[bad["unparseable_number"]]]
        # At second resolution %S has no fraction: "2026-09-07T08:15:00Z".
        whole_seconds = req_time.cast(pa.timestamp("s", tz="UTC"))
        time_text = pc.strftime(whole_seconds, format="%Y-%m-%dT%H:%M:%SZ").to_numpy(zero_copy_only=False)
        time_text[bad["unparseable_timestamp"]] = "yesterday"
        columns["fare_cny"], columns["req_time"] = pa.array(fare_text), pa.array(time_text)
    table = pa.table(columns)
    return pa.concat_tables([table, table.take(bad["duplicate_transaction_id"])])


def _log_premium(passengers: _Passengers, rider: np.ndarray) -> np.ndarray:
    """The planted premium of each ride's passenger, on the log scale."""
    total = np.zeros(len(rider))
    for column, labels, codes in (("os", OS_VALUES, passengers.os), ("tenure_band", TENURE_BANDS, passengers.tenure),
                                  ("membership", MEMBERSHIPS, passengers.membership)):
        by_code = np.log1p([PREMIUMS[column].get(label, 0.0) for label in labels])
        total += by_code[codes[rider]]
    return total


def _labels(values: tuple[str, ...], codes: np.ndarray) -> pa.Array:
    return pa.array(values).take(codes)


def _with_nulls(array: pa.Array, at: np.ndarray) -> pa.Array:
    mask = np.zeros(len(array), dtype=bool)
    mask[at] = True
    return pc.if_else(pa.array(mask), pa.scalar(None, array.type), array)


class _Writer:
    """Appends chunks to one data file in the chosen format."""

    def __init__(self, path: Path, fmt: str):
        self._path, self._fmt = path, fmt
        self._parquet: pq.ParquetWriter | None = None
        self._csv: pcsv.CSVWriter | None = None
        if fmt == "json":
            path.write_bytes(b"")  # chunks are appended

    def write(self, table: pa.Table) -> None:
        if self._fmt == "parquet":
            self._parquet = self._parquet or pq.ParquetWriter(self._path, table.schema)
            self._parquet.write_table(table, row_group_size=len(table))
        elif self._fmt == "csv":
            self._csv = self._csv or pcsv.CSVWriter(self._path, table.schema)
            self._csv.write_table(table)
        else:
            with self._path.open("ab") as sink:
                sink.write(_json_lines(table))

    def close(self) -> None:
        for writer in (self._parquet, self._csv):
            if writer is not None:
                writer.close()


def _json_lines(table: pa.Table) -> memoryview:
    """The table as JSON lines, built column-wise by Arrow (pandas is ~10x slower).

    Values are the generator's own labels, numbers and timestamps, none holding a
    quote, backslash or control character, so no escaping is needed.
    """
    parts = []
    for i, (name, column) in enumerate(zip(table.column_names, table.columns)):
        column = column.combine_chunks()
        value = column.cast(pa.string())
        if pa.types.is_string(column.type):
            value = pc.binary_join_element_wise('"', value, '"', "")
        parts += ["{" if i == 0 else ",", f'"{name}":', pc.fill_null(value, "null")]
    lines = pc.binary_join_element_wise(*parts, "}\n", "")
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)[lines.offset:lines.offset + len(lines) + 1]
    return memoryview(lines.buffers()[2])[offsets[0]:offsets[-1]]


def _audit_toml(data_path: str, fmt: str) -> str:
    return f'''[audit]
name = "Ride-hailing fares, week of 2026-09-07 (synthetic)"
platform = "ExampleRide"

[input]
path = "{data_path}"
format = "{fmt}"

[columns]
transaction_id = "order_no"
user_id = "passenger_id"
timestamp = "req_time"
price = "fare_cny"

[match]
exact = ["city", "car_level", "start_grid", "end_grid"]
time_bucket = "1h"
bins = {{ distance_m = {DISTANCE_BIN_M} }}

[[segments]]
name = "Device"
column = "os"
reference = "android"
groups = ["ios", "harmonyos"]

[[segments]]
name = "Tenure"
column = "tenure_band"
reference = "new"
groups = ["regular", "loyal"]

[[segments]]
name = "Membership"
column = "membership"
reference = "basic"
groups = ["plus"]

[test]
alpha = 0.05
materiality = 0.01
'''
