"""Synthetic platform logs with planted, known price discrimination.

`generate` writes a log, the audit.toml that audits it and truth.json with the
effects and bad rows it planted, so an audit's findings can be checked against
the truth. Only numpy and pyarrow are used; rows are generated in chunks of
`CHUNK_ROWS`, so tens of millions of rows never sit in memory at once.

Scenarios (see `SCENARIOS`), each with heavy users (Pareto activity) and a
per-user price effect:

- `rides` (Didi-like): iOS +5 %, loyal passengers +2 %; plus members pay no
  premium but book bigger cars at peak hours (a Simpson's-paradox trap).
- `hotel` (Ctrip-like): diamond members pay +4 % on the list price for the same
  room, night and lead time; top tiers book pricier hotels and rooms.
- `reseller` (the Shaoxing Ctrip case): no algorithmic premium, but 30 % of
  diamond bookings go through a reseller's markup; only matching on the
  sales channel tells the two apart.
- `coupons` (Beijing Consumers Association, Fudan 2021): equal list prices,
  iOS gets fewer and smaller coupons; new users get a declared promotion.
- `quotes`: quote and purchase rows; iOS final fares drift +3 % further above
  the quote, and iOS converts slightly less.
- `steering` (Fudan 2021): iOS gets the pricier comfort car 3x as often in the
  same context; prices within a car level are equal.
- `loyalty` (killing the familiar proper): fares rise 1.5 % per doubling of
  1 + prior orders.
- `null`: the rides log with nothing planted, to show an audit can clear.

The ride price model, on the log scale:

    log fare = log base(city, car level, distance) + surge(hour, city)
               + user effect + planted premium + noise

The hotel price model:

    log list price = log base(hotel) + log room type + night (holiday, weekend)
                     + lead-time bin + user effect + planted premium + noise
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

SCENARIOS = ("rides", "hotel", "reseller", "coupons", "quotes", "steering", "loyalty", "null")
EXTENSIONS = {"parquet": "parquet", "csv": "csv", "json": "jsonl"}
CHUNK_ROWS = 1_000_000
# Parquet row groups of ~128k rows (~3 MB here), as DuckDB writes them: readers split work by
# row group, so one row group per million rows would leave all but one core idle on small logs.
ROW_GROUP_ROWS = 131_072
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

# Ride scenarios other than `rides`: what they plant.
NO_RIDE_PREMIUMS = {"os": {"ios": 0.0, "harmonyos": 0.0}, "tenure_band": {"loyal": 0.0, "regular": 0.0},
                    "membership": {"plus": 0.0}}
# coupons: list prices equal; coupons differ by OS (Fudan 2021: ¥2.07 on iPhones vs ¥4.12 on others).
COUPON_INCIDENCE = {"android": 0.55, "ios": 0.30, "harmonyos": 0.55}
COUPON_FACE_CNY = np.array([1.0, 2.0, 3.0, 5.0, 8.0, 10.0])
COUPON_FACE_SHARE = {"android": (0.12, 0.21, 0.24, 0.24, 0.12, 0.07),  # mean ¥4.12
                     "ios": (0.43, 0.36, 0.12, 0.06, 0.02, 0.01),  # mean ¥2.07
                     "harmonyos": (0.12, 0.21, 0.24, 0.24, 0.12, 0.07)}
NEW_USER_DAYS = 30  # users this new get the declared new-user promotion instead of a coupon
PROMO_SHARE, PROMO_CAP_CNY = 0.30, 10.0  # 30 % off the list price, at most ¥10
# quotes: the final fare drifts from the quote; more so on iOS. iOS converts less.
DRIFT_BASE = 0.01
DRIFT_PREMIUMS = {"os": {"ios": 0.03, "harmonyos": 0.0}}
DRIFT_NOISE_SD = 0.03
CONVERSION = {"android": 0.75, "ios": 0.70, "harmonyos": 0.75}
# steering: car level shares by OS, within every context (rows: OS_VALUES).
STEERING_SHARE = np.array([[0.85, 0.10, 0.05], [0.65, 0.30, 0.05], [0.85, 0.10, 0.05]])
STEERING_CONTEXT = ("city", "start_grid", "end_grid")
# loyalty: fare rises per doubling of (1 + prior orders), capped at this many orders.
LOYALTY_PER_DOUBLING = 0.015
MAX_PRIOR_ORDERS = 2000

# Hotels (Ctrip-like).
BOOKINGS_PER_MEMBER = 20
HOTEL_CITIES = ("Beijing", "Shanghai", "Hangzhou", "Shaoxing", "Sanya")
HOTEL_CITY_PRICE = np.array([1.15, 1.20, 0.95, 0.70, 1.10])
HOTELS_PER_CITY = 8
HOTEL_PRICE_CNY, HOTEL_PRICE_SD = 450.0, 0.45  # median nightly standard room, and its spread across hotels
ROOM_TYPES = ("standard", "deluxe", "suite")
ROOM_MULTIPLIER = np.array([1.0, 1.4, 2.5])
TIERS = ("regular", "silver", "gold", "diamond")
TIER_SHARE = (0.55, 0.25, 0.13, 0.07)
TIER_ACTIVITY = np.array([1.0, 1.5, 2.5, 4.0])  # higher tiers book more often (that is how they got there)
TIER_PRIOR_BOOKINGS = ((0, 5), (5, 15), (15, 30), (30, 40))  # diamond: 30 + lognormal tail
# The mix: higher tiers book pricier rooms (rows: TIERS) and pricier hotels.
TIER_ROOM_SHARE = np.array([[0.75, 0.20, 0.05], [0.60, 0.30, 0.10], [0.45, 0.38, 0.17], [0.30, 0.40, 0.30]])
TIER_HOTEL_TILT = np.array([0.0, 0.3, 0.6, 1.0])  # hotel choice weight x (base price / median) ** tilt
DEVICES = ("android", "ios")
DEVICE_SHARE = (0.55, 0.45)
HOTEL_PREMIUMS = {"membership_tier": {"silver": 0.0, "gold": 0.0, "diamond": 0.04}, "device": {"ios": 0.0}}
NO_HOTEL_PREMIUMS = {"membership_tier": {"silver": 0.0, "gold": 0.0, "diamond": 0.0}, "device": {"ios": 0.0}}
HOTEL_SIMPSON_TRAP = {"column": "membership_tier", "group": "diamond"}
CHECKIN_START_S = 1_790_553_600  # 2026-09-28T00:00:00Z, a Monday
NIGHTS = 14
HOLIDAY_NIGHTS = range(3, 10)  # National Day week, 1-7 October
HOLIDAY_SURGE, WEEKEND_SURGE = math.log(1.35), math.log(1.10)
LEAD_DAYS, LEAD_RATE, LEAD_BIN_DAYS = 28, 0.10, 7  # lead time: truncated exponential, 0..27 days
LEAD_EFFECT = np.log([1.06, 1.0, 1.0, 0.97])  # by 7-day lead bin: last minute dearer, early bird cheaper
HOTEL_USER_EFFECT_SD = 0.03
HOTEL_NOISE_SD = 0.04
HOTEL_COUPON_INCIDENCE = 0.25
HOTEL_COUPON_CNY = np.array([20.0, 30.0, 50.0, 80.0, 100.0])
HOTEL_COUPON_SHARE = (0.30, 0.30, 0.20, 0.15, 0.05)
HOTEL_COUPON_CAP = 0.20  # a coupon never exceeds this share of the list price
# reseller: diamond bookings that go through a reseller's pre-booked rooms, and its markup.
RESELLER_SHARE = 0.30
RESELLER_MARKUP = (0.08, 1.10)

BAD_KINDS = ("duplicate_transaction_id", "missing_user", "nonpositive_price", "missing_key",
             "unparseable_number", "unparseable_timestamp")
TEXT_ONLY_KINDS = ("unparseable_number", "unparseable_timestamp")  # a typed parquet column cannot hold them


@dataclass(frozen=True)
class GeneratedAudit:
    config_path: Path  # OUT/audit.toml
    data_path: Path  # OUT/data/<name>.<ext>
    truth_path: Path  # OUT/truth.json
    rows: int  # rows written, bad rows included
    config_paths: tuple[Path, ...] = ()  # every config written, audit.toml first


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
    tenure_days: np.ndarray | None = None  # coupons only

    @property
    def events(self) -> np.ndarray:
        return self.rides


@dataclass(frozen=True)
class _Routes:
    """Per city, 16 routes (start grid x end grid): popularity and fixed length."""

    cumulative_share: np.ndarray  # (city, route)
    distance_m: np.ndarray  # (city, route)


@dataclass(frozen=True)
class _Members:
    """Hotel members: attributes constant per member, and how many bookings each makes."""

    ids: pa.Array
    tier: np.ndarray
    device: np.ndarray
    prior_bookings: np.ndarray
    effect: np.ndarray
    events: np.ndarray


@dataclass(frozen=True)
class _Hotels:
    city: np.ndarray  # (hotel,)
    base_cny: np.ndarray  # (hotel,) standard room, ordinary night
    share_by_tier: np.ndarray  # (tier, hotel)


@dataclass(frozen=True)
class _Roles:
    """The columns bad rows are made in."""

    user: str
    price: str
    timestamp: str
    key: str  # a match key that `missing_key` rows lack


@dataclass(frozen=True)
class _Scenario:
    data_name: str  # OUT/data/<data_name>.<ext>
    roles: _Roles
    draw_users: Callable[[np.random.Generator, int], Any]
    draw_world: Callable[[np.random.Generator], Any]
    chunk: Callable[..., dict[str, pa.Array]]  # (rng, start, rider, users, world, width) -> clean columns
    truth: Callable[[], dict]  # premiums, simpson_trap, then scenario-specific keys
    configs: Callable[[str, str], dict[str, str]]  # (data path, format) -> {file name: TOML text}
    tally: tuple[str, ...] = ()  # columns whose written values are counted into truth.json


def generate(scenario: str, rows: int, seed: int, out: Path, fmt: str = "parquet",
             bad_row_share: float = 0.002, overwrite: bool = False, flag: str = "overwrite=True") -> GeneratedAudit:
    """Write a synthetic log, its audit.toml and truth.json into `out` (created if needed).

    A file already there is replaced only if an earlier `generate` wrote it and it is unchanged since
    (`.generated-manifest.json` holds their SHA-256), or with `overwrite`: a config edited by hand is
    never lost. `flag` names that switch in the message (`--overwrite` on the command line).
    """
    from auditor.output import check_generated_targets, write_generated_manifest

    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}: choose one of {', '.join(SCENARIOS)}")
    if fmt not in EXTENSIONS:
        raise ValueError(f"unknown format {fmt!r}: choose one of {', '.join(EXTENSIONS)}")
    if rows < 1000:
        raise ValueError(f"rows = {rows}: generate at least 1000 rows")
    if not 0 <= bad_row_share < 0.5:
        raise ValueError(f"bad_row_share = {bad_row_share}: use a share in [0, 0.5)")

    spec = _SPECS[scenario]
    out = Path(out)
    data_path = out / "data" / f"{spec.data_name}.{EXTENSIONS[fmt]}"
    configs = spec.configs(data_path.relative_to(out).as_posix(), fmt)
    written = [data_path.relative_to(out).as_posix(), "truth.json", *configs]
    check_generated_targets(out, written, overwrite, flag)  # before anything is written
    (out / "data").mkdir(parents=True, exist_ok=True)
    kinds = [k for k in BAD_KINDS if fmt != "parquet" or k not in TEXT_ONLY_KINDS]
    per_kind = math.ceil(rows * bad_row_share / len(kinds)) if bad_row_share else 0
    bad_counts = {k: per_kind for k in kinds}
    duplicates = bad_counts["duplicate_transaction_id"]
    events = rows - duplicates  # duplicates are appended copies; every other bad row spoils a row

    rng = np.random.default_rng(seed)
    users = spec.draw_users(rng, events)
    world = spec.draw_world(rng)
    # Duplicated originals are kept clean, so each bad row is bad for exactly one reason.
    spoiled = rng.choice(events, size=per_kind * len(kinds), replace=False)
    bad_at = {k: spoiled[i * per_kind:(i + 1) * per_kind] for i, k in enumerate(kinds)}

    writer = _Writer(data_path, fmt)
    tallies: dict[str, dict[str, int]] = {column: {} for column in spec.tally}
    remaining = users.events.copy()
    for start in range(0, events, CHUNK_ROWS):
        size = min(CHUNK_ROWS, events - start)
        draw = remaining if start + size == events else rng.multivariate_hypergeometric(remaining, size, method="marginals")
        remaining = remaining - draw
        rider = np.repeat(np.arange(len(draw)), draw)
        rng.shuffle(rider)
        chunk_bad = {k: np.sort(at[(at >= start) & (at < start + size)]) - start for k, at in bad_at.items()}
        columns = spec.chunk(rng, start, rider, users, world, width=len(str(rows)))
        table = _spoil(columns, spec.roles, chunk_bad, text=fmt != "parquet")
        for column, counts in tallies.items():
            for item in pc.value_counts(table[column]).to_pylist():
                counts[item["values"]] = counts.get(item["values"], 0) + item["counts"]
        writer.write(table)
    writer.close()

    bad_rows = {
        "duplicate_transaction_id": duplicates,
        "missing_value": bad_counts["missing_user"] + bad_counts["missing_key"],
        "nonpositive_price": bad_counts["nonpositive_price"],
        "unparseable_number": bad_counts.get("unparseable_number", 0),
        "unparseable_timestamp": bad_counts.get("unparseable_timestamp", 0),
    }
    planted = spec.truth()
    truth = {"scenario": scenario, "seed": seed, "rows": rows, "premiums": planted.pop("premiums"),
             "simpson_trap": planted.pop("simpson_trap"), "bad_rows": bad_rows, **planted}
    if tallies:
        truth["rows_by"] = {column: dict(sorted(counts.items())) for column, counts in tallies.items()}
    truth_path = out / "truth.json"
    truth_path.write_text(json.dumps(truth, indent=2) + "\n", encoding="utf-8")
    config_paths = []
    for name, text in configs.items():
        config_paths.append(out / name)
        config_paths[-1].write_text(text, encoding="utf-8")
    write_generated_manifest(out, written)
    return GeneratedAudit(config_path=config_paths[0], data_path=data_path, truth_path=truth_path, rows=rows,
                          config_paths=tuple(config_paths))


def _spoil(columns: dict[str, pa.Array], roles: _Roles, bad: dict[str, np.ndarray], text: bool) -> pa.Table:
    """The chunk's table with its bad rows made bad, one reason each, and duplicates appended."""
    price = columns[roles.price].to_numpy().copy()
    nonpositive = bad["nonpositive_price"]
    price[nonpositive] = np.where(np.arange(len(nonpositive)) % 2, -price[nonpositive], 0.0)
    columns[roles.price] = pa.array(price)
    columns[roles.user] = _with_nulls(columns[roles.user], bad["missing_user"])
    columns[roles.key] = _with_nulls(columns[roles.key], bad["missing_key"])
    if text:
        price_text = pc.cast(columns[roles.price], pa.string()).to_numpy(zero_copy_only=False)
        price_text[bad["unparseable_number"]] = [f"{f:.1f}".replace(".", ",") + "元" for f in price[bad["unparseable_number"]]]
        # At second resolution %S has no fraction: "2026-09-07T08:15:00Z".
        whole_seconds = columns[roles.timestamp].cast(pa.timestamp("s", tz="UTC"))
        time_text = pc.strftime(whole_seconds, format="%Y-%m-%dT%H:%M:%SZ").to_numpy(zero_copy_only=False)
        time_text[bad["unparseable_timestamp"]] = "yesterday"
        columns[roles.price], columns[roles.timestamp] = pa.array(price_text), pa.array(time_text)
    table = pa.table(columns)
    return pa.concat_tables([table, table.take(bad["duplicate_transaction_id"])])


# --- Rides -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _RideModel:
    """What a ride scenario plants."""

    premiums: dict[str, dict[str, float]]
    level_share: np.ndarray  # car level shares, one row per code of `level_by`
    level_by: str = "membership"  # the passenger attribute that picks the row
    peak_weight: float = PLUS_PEAK_WEIGHT  # how much likelier plus members ride at peak hours
    per_doubling: float = 0.0  # premium per doubling of (1 + prior orders)


@dataclass(frozen=True)
class _RideDraws:
    """One chunk's rides: where, when, which car, and the log fare before rounding."""

    rider: np.ndarray
    city: np.ndarray
    start_grid: np.ndarray
    end_grid: np.ndarray
    level: np.ndarray
    epoch_s: np.ndarray
    distance: np.ndarray
    log_fare: np.ndarray


RIDES = _RideModel(PREMIUMS, LEVEL_SHARE)
PLAIN_RIDES = _RideModel(NO_RIDE_PREMIUMS, LEVEL_SHARE)  # the rides mix (plus members: bigger cars, peak hours), no premium
LOYALTY_RIDES = _RideModel(NO_RIDE_PREMIUMS, LEVEL_SHARE, per_doubling=LOYALTY_PER_DOUBLING)
STEERING_RIDES = _RideModel(NO_RIDE_PREMIUMS, level_share=STEERING_SHARE, level_by="os", peak_weight=1.0)
NULL_RIDES = _RideModel(NO_RIDE_PREMIUMS, level_share=LEVEL_SHARE[[0, 0]], peak_weight=1.0)  # no trap either


def _draw_passengers(rng: np.random.Generator, rides: int) -> _Passengers:
    count = max(1, rides // RIDES_PER_PASSENGER)
    tenure = rng.choice(len(TENURE_BANDS), size=count, p=TENURE_SHARE)
    # Bands are cut from prior orders: new < 10 <= regular < 100 <= loyal.
    prior_orders = np.select(
        [tenure == 0, tenure == 1],
        [rng.integers(0, 10, count), np.exp(rng.uniform(math.log(10), math.log(100), count)).astype(np.int64)],
        100 + rng.lognormal(5.0, 0.8, count).astype(np.int64))
    activity = rng.pareto(ACTIVITY_PARETO_SHAPE, count) + 1.0
    return _Passengers(
        ids=_ids("P", count, 7),
        city=rng.choice(len(CITIES), size=count, p=CITY_SHARE),
        os=rng.choice(len(OS_VALUES), size=count, p=OS_SHARE),
        membership=rng.choice(len(MEMBERSHIPS), size=count, p=MEMBERSHIP_SHARE),
        tenure=tenure,
        prior_orders=prior_orders.astype(np.int64),
        effect=rng.normal(0.0, USER_EFFECT_SD, count),
        rides=1 + rng.multinomial(rides - count, activity / activity.sum()),  # everyone rides at least once
    )


def _draw_passengers_with_tenure_days(rng: np.random.Generator, rides: int) -> _Passengers:
    """Passengers plus days since sign-up, consistent with their band (new users are the only ones under 90)."""
    passengers = _draw_passengers(rng, rides)
    count = len(passengers.tenure)
    days = np.select([passengers.tenure == 0, passengers.tenure == 1],
                     [rng.integers(0, 90, count), rng.integers(90, 1_000, count)], rng.integers(365, 3_650, count))
    return dataclasses.replace(passengers, tenure_days=days)


def _draw_loyal_passengers(rng: np.random.Generator, rides: int) -> _Passengers:
    passengers = _draw_passengers(rng, rides)
    return dataclasses.replace(passengers, prior_orders=np.minimum(passengers.prior_orders, MAX_PRIOR_ORDERS))


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


def _draw_rides(rng: np.random.Generator, rider: np.ndarray, passengers: _Passengers, routes: _Routes,
                model: _RideModel) -> _RideDraws:
    size = len(rider)
    city = passengers.city[rider]
    plus = passengers.membership[rider]
    route = (routes.cumulative_share[city] < rng.random(size)[:, None]).sum(axis=1)
    start_grid, end_grid = np.divmod(route, len(GRIDS))
    level_row = getattr(passengers, model.level_by)[rider]
    level = (np.cumsum(model.level_share, axis=1)[level_row] < rng.random(size)[:, None]).sum(axis=1)

    peak = np.isin(np.arange(24), PEAK_HOURS)
    hour_share = np.stack([HOUR_PROFILE, HOUR_PROFILE * np.where(peak, model.peak_weight, 1.0)])
    hour_share /= hour_share.sum(axis=1, keepdims=True)
    hour = (np.cumsum(hour_share, axis=1)[plus] < rng.random(size)[:, None]).sum(axis=1)
    epoch_s = WEEK_START_S + rng.integers(0, DAYS, size) * 86_400 + hour * 3_600 + rng.integers(0, 3_600, size)

    distance = np.clip(routes.distance_m[city, route] + rng.normal(0, DISTANCE_NOISE_SD_M, size), 1_000, 30_000).round()
    base = FLAG_FALL_CNY[city] + PER_KM_CNY[city] * LEVEL_MULTIPLIER[level] * distance / 1_000
    surge = np.where(peak[hour], PEAK_SURGE, 0.0) + np.where(np.isin(hour, NIGHT_HOURS), NIGHT_SURGE[city], 0.0)
    log_fare = (np.log(base) + surge + passengers.effect[rider] + _log_premium(passengers, rider, model.premiums)
                + rng.normal(0, NOISE_SD, size))
    if model.per_doubling:
        log_fare += math.log1p(model.per_doubling) * np.log2(1.0 + passengers.prior_orders[rider])
    return _RideDraws(rider=rider, city=city, start_grid=start_grid, end_grid=end_grid, level=level,
                      epoch_s=epoch_s, distance=distance, log_fare=log_fare)


def _log_premium(passengers: _Passengers, rider: np.ndarray, premiums: dict[str, dict[str, float]]) -> np.ndarray:
    """The planted premium of each ride's passenger, on the log scale."""
    total = np.zeros(len(rider))
    for column, labels, codes in (("os", OS_VALUES, passengers.os), ("tenure_band", TENURE_BANDS, passengers.tenure),
                                  ("membership", MEMBERSHIPS, passengers.membership)):
        by_code = np.log1p([premiums[column].get(label, 0.0) for label in labels])
        total += by_code[codes[rider]]
    return total


def _ride_context(d: _RideDraws, passengers: _Passengers, tenure_days: bool = False) -> dict[str, pa.Array]:
    """The columns every ride log shares, from city to prior orders."""
    rider = d.rider
    columns = {
        "city": _labels(CITIES, d.city),
        "start_grid": _labels(GRIDS, d.start_grid),
        "end_grid": _labels(GRIDS, d.end_grid),
        "car_level": _labels(CAR_LEVELS, d.level),
        "distance_m": pa.array(d.distance),
        "os": _labels(OS_VALUES, passengers.os[rider]),
        "membership": _labels(MEMBERSHIPS, passengers.membership[rider]),
        "tenure_band": _labels(TENURE_BANDS, passengers.tenure[rider]),
    }
    if tenure_days:
        columns["tenure_days"] = pa.array(passengers.tenure_days[rider])
    columns["prior_orders"] = pa.array(passengers.prior_orders[rider])
    return columns


def _ride_chunk(model: _RideModel) -> Callable[..., dict[str, pa.Array]]:
    def chunk(rng, start, rider, passengers, routes, width):
        d = _draw_rides(rng, rider, passengers, routes, model)
        return {
            "order_no": _ids("R", len(rider), max(9, width), first=start + 1),
            "passenger_id": passengers.ids.take(rider),
            "req_time": _timestamps(d.epoch_s),
            **_ride_context(d, passengers),
            "fare_cny": pa.array(np.exp(d.log_fare).round(2)),
        }
    return chunk


def _coupons_chunk(rng, start, rider, passengers, routes, width):
    """Equal list prices; iOS coupons rarer and smaller; new users get the promotion instead of a coupon."""
    d = _draw_rides(rng, rider, passengers, routes, PLAIN_RIDES)
    size = len(rider)
    list_price = np.exp(d.log_fare).round(2)
    os = passengers.os[rider]
    incidence = np.array([COUPON_INCIDENCE[o] for o in OS_VALUES])[os]
    has_coupon = rng.random(size) < incidence
    face = np.cumsum([COUPON_FACE_SHARE[o] for o in OS_VALUES], axis=1)
    face[:, -1] = 1.0
    coupon = COUPON_FACE_CNY[(face[os] < rng.random(size)[:, None]).sum(axis=1)]
    promo = passengers.tenure_days[rider] < NEW_USER_DAYS
    discount = np.where(promo, np.minimum(PROMO_SHARE * list_price, PROMO_CAP_CNY).round(2),
                        np.where(has_coupon, coupon, 0.0))
    return {
        "order_no": _ids("R", size, max(9, width), first=start + 1),
        "passenger_id": passengers.ids.take(rider),
        "req_time": _timestamps(d.epoch_s),
        **_ride_context(d, passengers, tenure_days=True),
        "promo": pa.array(np.where(promo, "new_user", "")),
        "list_price": pa.array(list_price),
        "coupon": pa.array(discount),
        "paid_price": pa.array((list_price - discount).round(2)),
    }


def _quotes_chunk(rng, start, rider, passengers, routes, width):
    """Requests, each a quote row and, if converted, a purchase row right after it; `len(rider)` rows in all."""
    size = len(rider)
    converts = rng.random(size) < np.array([CONVERSION[o] for o in OS_VALUES])[passengers.os[rider]]
    ends = np.cumsum(1 + converts)
    requests = int(np.searchsorted(ends, size, side="right"))
    if requests == 0 or ends[requests - 1] < size:
        # The last request's purchase would fall outside the log: it stays a quote.
        converts[requests] = False
        requests += 1
    converts = converts[:requests]
    d = _draw_rides(rng, rider[:requests], passengers, routes, PLAIN_RIDES)
    quoted = np.exp(d.log_fare).round(2)
    drift = (DRIFT_BASE + np.log1p([DRIFT_PREMIUMS["os"].get(o, 0.0) for o in OS_VALUES])[passengers.os[d.rider]]
             + rng.normal(0, DRIFT_NOISE_SD, requests))
    final = (quoted * np.exp(drift)).round(2)
    done_s = d.epoch_s + rng.integers(300, 2_400, requests)  # pick-up wait plus the trip

    request = np.repeat(np.arange(requests), 1 + converts)  # row -> request
    purchase = np.zeros(size, dtype=bool)
    purchase[1:] = request[1:] == request[:-1]
    number = pc.utf8_lpad(pa.array(start + 1 + np.flatnonzero(~purchase)[request]).cast(pa.string()), max(9, width), "0")
    context = {name: column.take(request) for name, column in _ride_context(d, passengers).items()}
    return {
        "event_id": pc.binary_join_element_wise(pa.array(np.where(purchase, "P", "Q")), number, ""),
        "request_id": pc.binary_join_element_wise("RQ", number, ""),
        "event": pa.array(np.where(purchase, "purchase", "quote")),
        "passenger_id": passengers.ids.take(d.rider[request]),
        "event_time": _timestamps(np.where(purchase, done_s[request], d.epoch_s[request])),
        **context,
        "quoted_fare": pa.array(quoted[request]),
        "fare_cny": pa.array(np.where(purchase, final[request], quoted[request])),
    }


# --- Hotels ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _HotelModel:
    premiums: dict[str, dict[str, float]]
    reseller_share: float = 0.0  # of diamond bookings


def _draw_members(rng: np.random.Generator, bookings: int) -> _Members:
    count = max(1, bookings // BOOKINGS_PER_MEMBER)
    tier = rng.choice(len(TIERS), size=count, p=TIER_SHARE)
    low, high = np.array(TIER_PRIOR_BOOKINGS).T
    prior = rng.integers(low[tier], high[tier])
    prior = np.where(tier == 3, 30 + rng.lognormal(2.5, 0.9, count).astype(np.int64), prior)
    activity = (rng.pareto(ACTIVITY_PARETO_SHAPE, count) + 1.0) * TIER_ACTIVITY[tier]
    return _Members(
        ids=_ids("M", count, 7),
        tier=tier,
        device=rng.choice(len(DEVICES), size=count, p=DEVICE_SHARE),
        prior_bookings=prior.astype(np.int64),
        effect=rng.normal(0.0, HOTEL_USER_EFFECT_SD, count),
        events=1 + rng.multinomial(bookings - count, activity / activity.sum()),
    )


def _draw_hotels(rng: np.random.Generator) -> _Hotels:
    n = len(HOTEL_CITIES) * HOTELS_PER_CITY
    city = np.repeat(np.arange(len(HOTEL_CITIES)), HOTELS_PER_CITY)
    relative = np.exp(rng.normal(0.0, HOTEL_PRICE_SD, n))
    base = (HOTEL_PRICE_CNY * HOTEL_CITY_PRICE[city] * relative).round()
    popularity = rng.permutation(1.0 / np.arange(1, n + 1) ** 0.7)
    share = popularity * (base / np.median(base)) ** TIER_HOTEL_TILT[:, None]
    return _Hotels(city=city, base_cny=base, share_by_tier=share / share.sum(axis=1, keepdims=True))


def _hotel_chunk(model: _HotelModel) -> Callable[..., dict[str, pa.Array]]:
    def chunk(rng, start, rider, members, hotels, width):
        size = len(rider)
        tier = members.tier[rider]
        hotel = _pick(rng, hotels.share_by_tier, tier)
        room = _pick(rng, TIER_ROOM_SHARE, tier)
        night_weight = np.where(np.isin(np.arange(NIGHTS), HOLIDAY_NIGHTS), 2.0, 1.0)
        night = _pick(rng, night_weight[None, :] / night_weight.sum(), np.zeros(size, dtype=np.int64))
        # Lead time: exponential, truncated to 0..LEAD_DAYS-1 days.
        tail = 1.0 - math.exp(-LEAD_RATE * LEAD_DAYS)
        lead = np.minimum(np.floor(-np.log1p(-rng.random(size) * tail) / LEAD_RATE), LEAD_DAYS - 1).astype(np.int64)
        checkin_s = CHECKIN_START_S + night * 86_400
        booked_s = checkin_s - lead * 86_400 + rng.integers(0, 86_400, size)

        weekday = (np.arange(NIGHTS) % 7)  # 0 = Monday
        night_effect = np.where(np.isin(np.arange(NIGHTS), HOLIDAY_NIGHTS), HOLIDAY_SURGE,
                                np.where(np.isin(weekday, (4, 5)), WEEKEND_SURGE, 0.0))
        premium = (np.log1p([model.premiums["membership_tier"].get(t, 0.0) for t in TIERS])[tier]
                   + np.log1p([model.premiums["device"].get(d, 0.0) for d in DEVICES])[members.device[rider]])
        log_list = (np.log(hotels.base_cny[hotel] * ROOM_MULTIPLIER[room]) + night_effect[night]
                    + LEAD_EFFECT[lead // LEAD_BIN_DAYS] + members.effect[rider] + premium
                    + rng.normal(0, HOTEL_NOISE_SD, size))
        list_price = np.exp(log_list).round()
        resold = np.zeros(size, dtype=bool)
        if model.reseller_share:
            resold = (tier == TIERS.index("diamond")) & (rng.random(size) < model.reseller_share)
            markup = rng.uniform(*RESELLER_MARKUP, size)
            list_price = np.where(resold, (list_price * (1 + markup)).round(), list_price)
        has_coupon = rng.random(size) < HOTEL_COUPON_INCIDENCE
        face = HOTEL_COUPON_CNY[_pick(rng, np.array([HOTEL_COUPON_SHARE]), np.zeros(size, dtype=np.int64))]
        coupon = np.where(has_coupon, np.minimum(face, np.floor(HOTEL_COUPON_CAP * list_price)), 0.0)
        return {
            "booking_id": _ids("B", size, max(9, width), first=start + 1),
            "member_id": members.ids.take(rider),
            "booking_time": _timestamps(booked_s),
            "hotel_id": _ids("H", len(hotels.city), 3).take(hotel),
            "city": _labels(HOTEL_CITIES, hotels.city[hotel]),
            "room_type": _labels(ROOM_TYPES, room),
            "checkin_date": pc.strftime(pa.array(checkin_s, type=pa.timestamp("s", tz="UTC")), format="%Y-%m-%d"),
            "lead_time_days": pa.array(lead),
            "membership_tier": _labels(TIERS, tier),
            "prior_bookings": pa.array(members.prior_bookings[rider]),
            "device": _labels(DEVICES, members.device[rider]),
            "channel": pa.array(np.where(resold, "reseller", "direct")),
            "list_price": pa.array(list_price),
            "coupon": pa.array(coupon),
            "paid_price": pa.array(list_price - coupon),
        }
    return chunk


def _pick(rng: np.random.Generator, share: np.ndarray, row: np.ndarray) -> np.ndarray:
    """One category per item, drawn from the row of `share` (rows sum to 1) the item belongs to."""
    u = rng.random(len(row))
    cumulative = np.cumsum(share, axis=1)
    picked = np.empty(len(row), dtype=np.int64)
    for r in range(len(share)):
        at = row == r
        picked[at] = np.searchsorted(cumulative[r], u[at], side="left")
    return np.minimum(picked, share.shape[1] - 1)


# --- Shared helpers ----------------------------------------------------------------------------------------


def _ids(prefix: str, count: int, width: int, first: int = 0) -> pa.Array:
    digits = pc.utf8_lpad(pa.array(np.arange(first, first + count)).cast(pa.string()), width, "0")
    return pc.binary_join_element_wise(prefix, digits, "")


def _timestamps(epoch_s: np.ndarray) -> pa.Array:
    return pa.array(epoch_s * 1_000_000, type=pa.timestamp("us", tz="UTC"))


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
            self._parquet.write_table(table, row_group_size=ROW_GROUP_ROWS)
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


# --- What each scenario plants (truth.json) ----------------------------------------------------------------


def _shares(labels: tuple[str, ...], share) -> dict[str, float]:
    return {label: float(s) for label, s in zip(labels, share)}


def _hotel_truth(premiums: dict) -> dict:
    return {
        "premiums": premiums,
        "simpson_trap": HOTEL_SIMPSON_TRAP,
        "premium_outcome": "list_price",
        "mix": {
            "column": "membership_tier",
            "room_type_shares": {t: _shares(ROOM_TYPES, s) for t, s in zip(TIERS, TIER_ROOM_SHARE)},
            "hotel_price_tilt": _shares(TIERS, TIER_HOTEL_TILT),
        },
        "coupons": {
            "incidence": HOTEL_COUPON_INCIDENCE,
            "face_values_cny": HOTEL_COUPON_CNY.tolist(),
            "face_value_shares": list(HOTEL_COUPON_SHARE),
            "cap_share_of_list_price": HOTEL_COUPON_CAP,
            "depends_on": [],
        },
    }


def _reseller_truth() -> dict:
    a, b = 1 + RESELLER_MARKUP[0], 1 + RESELLER_MARKUP[1]
    mean_log_markup = ((b * math.log(b) - b) - (a * math.log(a) - a)) / (b - a)
    truth = _hotel_truth(NO_HOTEL_PREMIUMS)
    truth["reseller"] = {
        "column": "channel",
        "value": "reseller",
        "group": {"column": "membership_tier", "value": "diamond"},
        "share_of_group_bookings": RESELLER_SHARE,
        "markup_range": list(RESELLER_MARKUP),
        # What a comparison that ignores the channel sees for diamond (list price, approximately).
        "diamond_premium_if_channel_ignored": round(math.expm1(RESELLER_SHARE * mean_log_markup), 4),
    }
    truth["configs"] = {
        "audit.toml": {"channel_matched": True, "expect_flagged": []},
        "audit-no-channel.toml": {"channel_matched": False, "expect_flagged": [
            {"segment": "Membership", "column": "membership_tier", "group": "diamond"}]},
    }
    return truth


def _coupons_truth() -> dict:
    mean = {o: round(float(np.dot(COUPON_FACE_CNY, COUPON_FACE_SHARE[o])), 4) for o in OS_VALUES}
    return {
        "premiums": NO_RIDE_PREMIUMS,
        "simpson_trap": SIMPSON_TRAP,
        "premium_outcome": "list_price",
        "coupons": {
            "column": "coupon",
            "segment": "os",
            "applies_to": "rows without a promotion (promo == '')",
            "incidence": COUPON_INCIDENCE,
            "mean_amount_cny": mean,
            "face_values_cny": COUPON_FACE_CNY.tolist(),
            "face_value_shares": {o: list(s) for o, s in COUPON_FACE_SHARE.items()},
        },
        "adjustments": [{
            "name": "New-user promotion",
            "column": "promo",
            "value": "new_user",
            "rule": f"tenure_days < {NEW_USER_DAYS}",
            "discount": {"share_of_list_price": PROMO_SHARE, "cap_cny": PROMO_CAP_CNY, "replaces_coupon": True},
            "depends_on_os": False,
        }],
    }


def _quotes_truth() -> dict:
    return {
        "premiums": NO_RIDE_PREMIUMS,
        "simpson_trap": SIMPSON_TRAP,
        "premium_outcome": "quoted_fare",
        "drift": {
            "definition": "log(final fare / quoted fare) on purchase rows",
            "baseline_log_drift": DRIFT_BASE,
            "premiums": DRIFT_PREMIUMS,
            "noise_sd": DRIFT_NOISE_SD,
        },
        "purchase_premiums": DRIFT_PREMIUMS,  # on final fares within cells: the quotes carry none
        "conversion": CONVERSION,
    }


def _steering_truth() -> dict:
    return {
        "premiums": NO_RIDE_PREMIUMS,
        "simpson_trap": {"column": "os", "group": "ios"},  # pricier car levels raise the raw gap only
        "steering": {
            "column": "car_level",
            "order": list(CAR_LEVELS),
            "context": list(STEERING_CONTEXT),
            "segment": "os",
            "shares": {o: _shares(CAR_LEVELS, s) for o, s in zip(OS_VALUES, STEERING_SHARE)},
        },
    }


def _loyalty_truth() -> dict:
    return {
        "premiums": {"os": NO_RIDE_PREMIUMS["os"], "membership": NO_RIDE_PREMIUMS["membership"]},
        "simpson_trap": SIMPSON_TRAP,
        "dose": {
            "column": "prior_orders",
            "transform": "log2(1 + prior_orders)",
            "premium_per_doubling": LOYALTY_PER_DOUBLING,
            "log_slope_per_doubling": math.log1p(LOYALTY_PER_DOUBLING),
            "max_value": MAX_PRIOR_ORDERS,
        },
    }


def _null_truth() -> dict:
    return {
        "premiums": NO_RIDE_PREMIUMS,
        "simpson_trap": None,
        "dose": {"column": "prior_orders", "transform": "log2(1 + prior_orders)", "premium_per_doubling": 0.0,
                 "log_slope_per_doubling": 0.0},
    }


# --- The audit.toml files ----------------------------------------------------------------------------------

RIDE_WEEK = "week of 2026-09-07"
HOTEL_NIGHTS = "check-in 2026-09-28 to 2026-10-11"
RIDE_COLUMNS = {"transaction_id": "order_no", "user_id": "passenger_id", "timestamp": "req_time", "price": "fare_cny"}
RIDE_MATCH = {"exact": ["city", "car_level", "start_grid", "end_grid"], "time_bucket": "1h",
              "bins": {"distance_m": DISTANCE_BIN_M}}
DEVICE = {"name": "Device", "column": "os", "reference": "android", "groups": ["ios", "harmonyos"]}
TENURE = {"name": "Tenure", "column": "tenure_band", "reference": "new", "groups": ["regular", "loyal"]}
MEMBERSHIP = {"name": "Membership", "column": "membership", "reference": "basic", "groups": ["plus"]}
LOYALTY = {"name": "Loyalty", "kind": "dose", "column": "prior_orders"}
TEST = {"alpha": 0.05, "materiality": 0.01}
HOTEL_COLUMNS = {"transaction_id": "booking_id", "user_id": "member_id", "timestamp": "booking_time",
                 "price": "paid_price", "list_price": "list_price", "discount": "coupon", "net_price": "paid_price"}
HOTEL_SEGMENTS = ({"name": "Membership", "column": "membership_tier", "reference": "regular",
                   "groups": ["silver", "gold", "diamond"]},
                  {"name": "Device", "column": "device", "reference": "android", "groups": ["ios"]})


def _l(en: str, zh: str, **unit) -> dict:
    """A display name in both report languages (and, for a binned column, its unit)."""
    return {"en": en, "zh-CN": zh, **({"unit": {"en": unit["en_unit"], "zh-CN": unit["zh_unit"]}} if unit else {})}


# Display names the generated configs ship, so the demo's report reads in words in both languages.
COLUMN_LABELS = {
    "city": _l("city", "城市"), "car_level": _l("car class", "车型"), "start_grid": _l("pickup zone", "上车区域"),
    "end_grid": _l("drop-off zone", "下车区域"), "distance_m": _l("distance", "行程距离", en_unit="m", zh_unit="米"),
    "os": _l("device", "设备"), "tenure_band": _l("time as a customer", "注册时长"),
    "membership": _l("membership", "会员类型"), "prior_orders": _l("past orders", "历史订单数"),
    "promo": _l("promotion", "促销活动"),
    "hotel_id": _l("hotel", "酒店"), "room_type": _l("room type", "房型"), "checkin_date": _l("check-in date", "入住日期"),
    "channel": _l("sales channel", "销售渠道"),
    "lead_time_days": _l("booking lead time", "提前预订时间", en_unit="days", zh_unit="天"),
    "membership_tier": _l("membership tier", "会员等级"), "device": _l("device", "设备"),
}
VALUE_LABELS = {
    "city": {"Beijing": _l("Beijing", "北京"), "Shanghai": _l("Shanghai", "上海"), "Shenzhen": _l("Shenzhen", "深圳"),
             "Chengdu": _l("Chengdu", "成都"), "Hangzhou": _l("Hangzhou", "杭州"), "Shaoxing": _l("Shaoxing", "绍兴"),
             "Sanya": _l("Sanya", "三亚")},
    "car_level": {"economy": _l("economy", "经济型"), "comfort": _l("comfort", "舒适型"), "premium": _l("premium", "豪华型")},
    "os": {"android": _l("Android", "安卓"), "ios": _l("iOS", "苹果iOS"), "harmonyos": _l("HarmonyOS", "鸿蒙")},
    "device": {"android": _l("Android", "安卓"), "ios": _l("iOS", "苹果iOS")},
    "tenure_band": {"new": _l("new", "新注册"), "regular": _l("regular", "一般"), "loyal": _l("long-standing", "长期")},
    "membership": {"basic": _l("basic", "普通会员"), "plus": _l("plus", "Plus会员")},
    "membership_tier": {"regular": _l("regular", "普通"), "silver": _l("silver", "银卡"), "gold": _l("gold", "金卡"),
                        "diamond": _l("diamond", "钻石")},
    "room_type": {"standard": _l("standard", "标准间"), "deluxe": _l("deluxe", "豪华间"), "suite": _l("suite", "套房")},
    "channel": {"direct": _l("direct", "直销"), "reseller": _l("reseller", "分销商")},
}
SEGMENT_LABELS = {"Device": _l("Device", "设备"), "Tenure": _l("Tenure", "注册时长"),
                  "Membership": _l("Membership", "会员"), "Loyalty": _l("Loyalty", "忠诚度")}


def _label_tables(columns: dict, match: dict, segments: tuple[dict, ...], extra) -> list[tuple[str, dict]]:
    """[labels] for the columns and segments a config uses."""
    used = {*match.get("exact", ()), *match.get("bins", {}), *(s["column"] for s in segments)}
    for _header, items in extra:
        used |= {v for k, v in items.items() if k in ("column",)} | set(items.get("context", ()))
    tables = [("[labels.segments]", {s["name"]: SEGMENT_LABELS[s["name"]] for s in segments if s["name"] in SEGMENT_LABELS}),
              ("[labels.columns]", {c: COLUMN_LABELS[c] for c in sorted(used) if c in COLUMN_LABELS})]
    tables += [(f"[labels.values.{c}]", VALUE_LABELS[c]) for c in sorted(used) if c in VALUE_LABELS]
    return tables


def _toml(name: str, platform: str, data_path: str, fmt: str, columns: dict, match: dict,
          segments: tuple[dict, ...], *extra: tuple[str, dict]) -> str:
    tables = [("[audit]", {"name": name, "platform": platform}), ("[input]", {"path": data_path, "format": fmt}),
              ("[columns]", columns), ("[match]", match), *(("[[segments]]", s) for s in segments), *extra,
              ("[test]", TEST), *_label_tables(columns, match, segments, extra)]
    return "\n".join(header + "\n" + "".join(f"{key} = {_toml_value(value)}\n" for key, value in items.items())
                     for header, items in tables)


def _toml_value(value) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    return repr(value)


def _rides_configs(data_path: str, fmt: str) -> dict[str, str]:
    return {"audit.toml": _toml(f"Ride-hailing fares, {RIDE_WEEK} (synthetic)", "ExampleRide", data_path, fmt,
                                RIDE_COLUMNS, RIDE_MATCH, (DEVICE, TENURE, MEMBERSHIP))}


def _null_configs(data_path: str, fmt: str) -> dict[str, str]:
    return {"audit.toml": _toml(f"Ride-hailing fares, {RIDE_WEEK} (synthetic, nothing planted)", "ExampleRide",
                                data_path, fmt, RIDE_COLUMNS, RIDE_MATCH, (DEVICE, TENURE, MEMBERSHIP, LOYALTY))}


def _loyalty_configs(data_path: str, fmt: str) -> dict[str, str]:
    return {"audit.toml": _toml(f"Ride-hailing fares by purchase history, {RIDE_WEEK} (synthetic)", "ExampleRide",
                                data_path, fmt, RIDE_COLUMNS, RIDE_MATCH, (DEVICE, MEMBERSHIP, LOYALTY))}


def _coupons_configs(data_path: str, fmt: str) -> dict[str, str]:
    columns = {**RIDE_COLUMNS, "price": "paid_price", "list_price": "list_price", "discount": "coupon",
               "net_price": "paid_price"}
    device = {**DEVICE, "groups": ["ios"]}
    promo = ("[[adjustments]]", {"name": "New-user promotion", "column": "promo", "value": "new_user"})
    return {"audit.toml": _toml(f"Ride-hailing fares and coupons, {RIDE_WEEK} (synthetic)", "ExampleRide",
                                data_path, fmt, columns, RIDE_MATCH, (device,), promo)}


def _quotes_configs(data_path: str, fmt: str) -> dict[str, str]:
    columns = {**RIDE_COLUMNS, "transaction_id": "event_id", "timestamp": "event_time"}
    quotes = ("[quotes]", {"event_column": "event", "quote_value": "quote", "purchase_value": "purchase",
                           "quoted_price": "quoted_fare", "request_id": "request_id"})
    return {"audit.toml": _toml(f"Ride-hailing quotes and purchases, {RIDE_WEEK} (synthetic)", "ExampleRide",
                                data_path, fmt, columns, RIDE_MATCH, (DEVICE,), quotes)}


def _steering_configs(data_path: str, fmt: str) -> dict[str, str]:
    steering = ("[steering]", {"column": "car_level", "order": list(CAR_LEVELS), "context": list(STEERING_CONTEXT)})
    return {"audit.toml": _toml(f"Ride-hailing car levels and fares, {RIDE_WEEK} (synthetic)", "ExampleRide",
                                data_path, fmt, RIDE_COLUMNS, RIDE_MATCH, (DEVICE,), steering)}


def _hotel_match(channel: bool) -> dict:
    exact = ["hotel_id", "room_type", "checkin_date"] + (["channel"] if channel else [])
    return {"exact": exact, "bins": {"lead_time_days": LEAD_BIN_DAYS}}


def _hotel_configs(data_path: str, fmt: str) -> dict[str, str]:
    return {"audit.toml": _toml(f"Hotel bookings, {HOTEL_NIGHTS} (synthetic)", "ExampleTrip", data_path, fmt,
                                HOTEL_COLUMNS, _hotel_match(True), HOTEL_SEGMENTS)}


def _reseller_configs(data_path: str, fmt: str) -> dict[str, str]:
    name = f"Hotel bookings with reseller listings, {HOTEL_NIGHTS} (synthetic)"
    return {
        "audit.toml": _toml(name, "ExampleTrip", data_path, fmt, HOTEL_COLUMNS, _hotel_match(True), HOTEL_SEGMENTS),
        "audit-no-channel.toml": _toml(f"{name}, sales channel not matched", "ExampleTrip", data_path, fmt,
                                       HOTEL_COLUMNS, _hotel_match(False), HOTEL_SEGMENTS),
    }


_RIDE_ROLES = _Roles(user="passenger_id", price="fare_cny", timestamp="req_time", key="city")
_HOTEL_ROLES = _Roles(user="member_id", price="paid_price", timestamp="booking_time", key="hotel_id")
_SPECS = {
    "rides": _Scenario("rides", _RIDE_ROLES, _draw_passengers, _draw_routes, _ride_chunk(RIDES),
                       lambda: {"premiums": PREMIUMS, "simpson_trap": SIMPSON_TRAP}, _rides_configs),
    "hotel": _Scenario("bookings", _HOTEL_ROLES, _draw_members, _draw_hotels, _hotel_chunk(_HotelModel(HOTEL_PREMIUMS)),
                       lambda: _hotel_truth(HOTEL_PREMIUMS), _hotel_configs),
    "reseller": _Scenario("bookings", _HOTEL_ROLES, _draw_members, _draw_hotels,
                          _hotel_chunk(_HotelModel(NO_HOTEL_PREMIUMS, reseller_share=RESELLER_SHARE)),
                          _reseller_truth, _reseller_configs, tally=("channel",)),
    "coupons": _Scenario("rides", dataclasses.replace(_RIDE_ROLES, price="paid_price"),
                         _draw_passengers_with_tenure_days, _draw_routes, _coupons_chunk, _coupons_truth,
                         _coupons_configs, tally=("promo",)),
    "quotes": _Scenario("ride_events", dataclasses.replace(_RIDE_ROLES, timestamp="event_time"), _draw_passengers,
                        _draw_routes, _quotes_chunk, _quotes_truth, _quotes_configs, tally=("event",)),
    "steering": _Scenario("rides", _RIDE_ROLES, _draw_passengers, _draw_routes, _ride_chunk(STEERING_RIDES),
                          _steering_truth, _steering_configs),
    "loyalty": _Scenario("rides", _RIDE_ROLES, _draw_loyal_passengers, _draw_routes, _ride_chunk(LOYALTY_RIDES),
                         _loyalty_truth, _loyalty_configs),
    "null": _Scenario("rides", _RIDE_ROLES, _draw_passengers, _draw_routes, _ride_chunk(NULL_RIDES), _null_truth,
                      _null_configs),
}
assert tuple(_SPECS) == SCENARIOS
from auditor.personal_scenarios import register as _register_personal; SCENARIOS, _SPECS = _register_personal(SCENARIOS, _SPECS)  # noqa: E402,E702,I001
