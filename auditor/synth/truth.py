"""What each scenario plants (truth.json), so an audit's findings can be checked against it."""

from __future__ import annotations

import math

import numpy as np

from auditor.synth.hotels import (HOTEL_COUPON_CAP, HOTEL_COUPON_CNY, HOTEL_COUPON_INCIDENCE, HOTEL_COUPON_SHARE,
                                  HOTEL_SIMPSON_TRAP, NO_HOTEL_PREMIUMS, RESELLER_MARKUP, RESELLER_SHARE, ROOM_TYPES,
                                  TIER_HOTEL_TILT, TIER_ROOM_SHARE, TIERS)
from auditor.synth.rides import (CAR_LEVELS, CONVERSION, COUPON_FACE_CNY, COUPON_FACE_SHARE, COUPON_INCIDENCE,
                                 DRIFT_BASE, DRIFT_NOISE_SD, DRIFT_PREMIUMS, LOYALTY_PER_DOUBLING, MAX_PRIOR_ORDERS,
                                 NEW_USER_DAYS, NO_RIDE_PREMIUMS, OS_VALUES, PROMO_CAP_CNY, PROMO_SHARE, SIMPSON_TRAP,
                                 STEERING_CONTEXT, STEERING_SHARE)



def _shares(labels: tuple[str, ...], share) -> dict[str, float]:
    return {label: float(s) for label, s in zip(labels, share)}


def hotel_truth(premiums: dict) -> dict:
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


def reseller_truth() -> dict:
    a, b = 1 + RESELLER_MARKUP[0], 1 + RESELLER_MARKUP[1]
    mean_log_markup = ((b * math.log(b) - b) - (a * math.log(a) - a)) / (b - a)
    truth = hotel_truth(NO_HOTEL_PREMIUMS)
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


def coupons_truth() -> dict:
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


def quotes_truth() -> dict:
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


def steering_truth() -> dict:
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


def loyalty_truth() -> dict:
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


def null_truth() -> dict:
    return {
        "premiums": NO_RIDE_PREMIUMS,
        "simpson_trap": None,
        "dose": {"column": "prior_orders", "transform": "log2(1 + prior_orders)", "premium_per_doubling": 0.0,
                 "log_slope_per_doubling": 0.0},
    }
