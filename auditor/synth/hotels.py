"""Hotel scenarios (hotel, reseller): members, hotels and the price model

    log list price = log base(hotel) + log room type + night (holiday, weekend)
                     + lead-time bin + user effect + planted premium + noise
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from auditor.synth.rides import ACTIVITY_PARETO_SHAPE
from auditor.synth.writer import ids, label_array, pick, timestamps


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


@dataclass(frozen=True)
class Members:
    """Hotel members: attributes constant per member, and how many bookings each makes."""

    ids: pa.Array
    tier: np.ndarray
    device: np.ndarray
    prior_bookings: np.ndarray
    effect: np.ndarray
    events: np.ndarray


@dataclass(frozen=True)
class Hotels:
    city: np.ndarray  # (hotel,)
    base_cny: np.ndarray  # (hotel,) standard room, ordinary night
    share_by_tier: np.ndarray  # (tier, hotel)


# --- Hotels ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HotelModel:
    premiums: dict[str, dict[str, float]]
    reseller_share: float = 0.0  # of diamond bookings


def draw_members(rng: np.random.Generator, bookings: int) -> Members:
    count = max(1, bookings // BOOKINGS_PER_MEMBER)
    tier = rng.choice(len(TIERS), size=count, p=TIER_SHARE)
    low, high = np.array(TIER_PRIOR_BOOKINGS).T
    prior = rng.integers(low[tier], high[tier])
    prior = np.where(tier == 3, 30 + rng.lognormal(2.5, 0.9, count).astype(np.int64), prior)
    activity = (rng.pareto(ACTIVITY_PARETO_SHAPE, count) + 1.0) * TIER_ACTIVITY[tier]
    return Members(
        ids=ids("M", count, 7),
        tier=tier,
        device=rng.choice(len(DEVICES), size=count, p=DEVICE_SHARE),
        prior_bookings=prior.astype(np.int64),
        effect=rng.normal(0.0, HOTEL_USER_EFFECT_SD, count),
        events=1 + rng.multinomial(bookings - count, activity / activity.sum()),
    )


def draw_hotels(rng: np.random.Generator) -> Hotels:
    n = len(HOTEL_CITIES) * HOTELS_PER_CITY
    city = np.repeat(np.arange(len(HOTEL_CITIES)), HOTELS_PER_CITY)
    relative = np.exp(rng.normal(0.0, HOTEL_PRICE_SD, n))
    base = (HOTEL_PRICE_CNY * HOTEL_CITY_PRICE[city] * relative).round()
    popularity = rng.permutation(1.0 / np.arange(1, n + 1) ** 0.7)
    share = popularity * (base / np.median(base)) ** TIER_HOTEL_TILT[:, None]
    return Hotels(city=city, base_cny=base, share_by_tier=share / share.sum(axis=1, keepdims=True))


def hotel_chunk(model: HotelModel) -> Callable[..., dict[str, pa.Array]]:
    def chunk(rng, start, rider, members, hotels, width):
        size = len(rider)
        tier = members.tier[rider]
        hotel = pick(rng, hotels.share_by_tier, tier)
        room = pick(rng, TIER_ROOM_SHARE, tier)
        night_weight = np.where(np.isin(np.arange(NIGHTS), HOLIDAY_NIGHTS), 2.0, 1.0)
        night = pick(rng, night_weight[None, :] / night_weight.sum(), np.zeros(size, dtype=np.int64))
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
        face = HOTEL_COUPON_CNY[pick(rng, np.array([HOTEL_COUPON_SHARE]), np.zeros(size, dtype=np.int64))]
        coupon = np.where(has_coupon, np.minimum(face, np.floor(HOTEL_COUPON_CAP * list_price)), 0.0)
        return {
            "booking_id": ids("B", size, max(9, width), first=start + 1),
            "member_id": members.ids.take(rider),
            "booking_time": timestamps(booked_s),
            "hotel_id": ids("H", len(hotels.city), 3).take(hotel),
            "city": label_array(HOTEL_CITIES, hotels.city[hotel]),
            "room_type": label_array(ROOM_TYPES, room),
            "checkin_date": pc.strftime(pa.array(checkin_s, type=pa.timestamp("s", tz="UTC")), format="%Y-%m-%d"),
            "lead_time_days": pa.array(lead),
            "membership_tier": label_array(TIERS, tier),
            "prior_bookings": pa.array(members.prior_bookings[rider]),
            "device": label_array(DEVICES, members.device[rider]),
            "channel": pa.array(np.where(resold, "reseller", "direct")),
            "list_price": pa.array(list_price),
            "coupon": pa.array(coupon),
            "paid_price": pa.array(list_price - coupon),
        }
    return chunk
