"""Ride-hailing scenarios (rides, coupons, quotes, steering, loyalty, null): passengers, routes and
the ride price model

    log fare = log base(city, car level, distance) + surge(hour, city)
               + user effect + planted premium + noise
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from auditor.synth.writer import ids, label_array, timestamps


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


@dataclass(frozen=True)
class Passengers:
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
class Routes:
    """Per city, 16 routes (start grid x end grid): popularity and fixed length."""

    cumulative_share: np.ndarray  # (city, route)
    distance_m: np.ndarray  # (city, route)


# --- Rides -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RideModel:
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


RIDES = RideModel(PREMIUMS, LEVEL_SHARE)
PLAIN_RIDES = RideModel(NO_RIDE_PREMIUMS, LEVEL_SHARE)  # the rides mix (plus members: bigger cars, peak hours), no premium
LOYALTY_RIDES = RideModel(NO_RIDE_PREMIUMS, LEVEL_SHARE, per_doubling=LOYALTY_PER_DOUBLING)
STEERING_RIDES = RideModel(NO_RIDE_PREMIUMS, level_share=STEERING_SHARE, level_by="os", peak_weight=1.0)
NULL_RIDES = RideModel(NO_RIDE_PREMIUMS, level_share=LEVEL_SHARE[[0, 0]], peak_weight=1.0)  # no trap either


def draw_passengers(rng: np.random.Generator, rides: int) -> Passengers:
    count = max(1, rides // RIDES_PER_PASSENGER)
    tenure = rng.choice(len(TENURE_BANDS), size=count, p=TENURE_SHARE)
    # Bands are cut from prior orders: new < 10 <= regular < 100 <= loyal.
    prior_orders = np.select(
        [tenure == 0, tenure == 1],
        [rng.integers(0, 10, count), np.exp(rng.uniform(math.log(10), math.log(100), count)).astype(np.int64)],
        100 + rng.lognormal(5.0, 0.8, count).astype(np.int64))
    activity = rng.pareto(ACTIVITY_PARETO_SHAPE, count) + 1.0
    return Passengers(
        ids=ids("P", count, 7),
        city=rng.choice(len(CITIES), size=count, p=CITY_SHARE),
        os=rng.choice(len(OS_VALUES), size=count, p=OS_SHARE),
        membership=rng.choice(len(MEMBERSHIPS), size=count, p=MEMBERSHIP_SHARE),
        tenure=tenure,
        prior_orders=prior_orders.astype(np.int64),
        effect=rng.normal(0.0, USER_EFFECT_SD, count),
        rides=1 + rng.multinomial(rides - count, activity / activity.sum()),  # everyone rides at least once
    )


def draw_passengers_with_tenure_days(rng: np.random.Generator, rides: int) -> Passengers:
    """Passengers plus days since sign-up, consistent with their band (new users are the only ones under 90)."""
    passengers = draw_passengers(rng, rides)
    count = len(passengers.tenure)
    days = np.select([passengers.tenure == 0, passengers.tenure == 1],
                     [rng.integers(0, 90, count), rng.integers(90, 1_000, count)], rng.integers(365, 3_650, count))
    return dataclasses.replace(passengers, tenure_days=days)


def draw_loyal_passengers(rng: np.random.Generator, rides: int) -> Passengers:
    passengers = draw_passengers(rng, rides)
    return dataclasses.replace(passengers, prior_orders=np.minimum(passengers.prior_orders, MAX_PRIOR_ORDERS))


def draw_routes(rng: np.random.Generator) -> Routes:
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
    return Routes(cumulative_share=cumulative, distance_m=centre_of_bin)


def _draw_rides(rng: np.random.Generator, rider: np.ndarray, passengers: Passengers, routes: Routes,
                model: RideModel) -> _RideDraws:
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


def _log_premium(passengers: Passengers, rider: np.ndarray, premiums: dict[str, dict[str, float]]) -> np.ndarray:
    """The planted premium of each ride's passenger, on the log scale."""
    total = np.zeros(len(rider))
    for column, labels, codes in (("os", OS_VALUES, passengers.os), ("tenure_band", TENURE_BANDS, passengers.tenure),
                                  ("membership", MEMBERSHIPS, passengers.membership)):
        by_code = np.log1p([premiums[column].get(label, 0.0) for label in labels])
        total += by_code[codes[rider]]
    return total


def _ride_context(d: _RideDraws, passengers: Passengers, tenure_days: bool = False) -> dict[str, pa.Array]:
    """The columns every ride log shares, from city to prior orders."""
    rider = d.rider
    columns = {
        "city": label_array(CITIES, d.city),
        "start_grid": label_array(GRIDS, d.start_grid),
        "end_grid": label_array(GRIDS, d.end_grid),
        "car_level": label_array(CAR_LEVELS, d.level),
        "distance_m": pa.array(d.distance),
        "os": label_array(OS_VALUES, passengers.os[rider]),
        "membership": label_array(MEMBERSHIPS, passengers.membership[rider]),
        "tenure_band": label_array(TENURE_BANDS, passengers.tenure[rider]),
    }
    if tenure_days:
        columns["tenure_days"] = pa.array(passengers.tenure_days[rider])
    columns["prior_orders"] = pa.array(passengers.prior_orders[rider])
    return columns


def ride_chunk(model: RideModel) -> Callable[..., dict[str, pa.Array]]:
    def chunk(rng, start, rider, passengers, routes, width):
        d = _draw_rides(rng, rider, passengers, routes, model)
        return {
            "order_no": ids("R", len(rider), max(9, width), first=start + 1),
            "passenger_id": passengers.ids.take(rider),
            "req_time": timestamps(d.epoch_s),
            **_ride_context(d, passengers),
            "fare_cny": pa.array(np.exp(d.log_fare).round(2)),
        }
    return chunk


def coupons_chunk(rng, start, rider, passengers, routes, width):
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
        "order_no": ids("R", size, max(9, width), first=start + 1),
        "passenger_id": passengers.ids.take(rider),
        "req_time": timestamps(d.epoch_s),
        **_ride_context(d, passengers, tenure_days=True),
        "promo": pa.array(np.where(promo, "new_user", "")),
        "list_price": pa.array(list_price),
        "coupon": pa.array(discount),
        "paid_price": pa.array((list_price - discount).round(2)),
    }


def quotes_chunk(rng, start, rider, passengers, routes, width):
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
        "event_time": timestamps(np.where(purchase, done_s[request], d.epoch_s[request])),
        **context,
        "quoted_fare": pa.array(quoted[request]),
        "fare_cny": pa.array(np.where(purchase, final[request], quoted[request])),
    }
