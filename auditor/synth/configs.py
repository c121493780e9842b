"""The audit.toml each scenario ships, written through the config's TOML writer (auditor.spec.write),
with display names so the demo's report reads in words in both languages."""

from __future__ import annotations

from auditor.spec.write import tables
from auditor.synth.hotels import LEAD_BIN_DAYS
from auditor.synth.rides import CAR_LEVELS, DISTANCE_BIN_M, STEERING_CONTEXT

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
    labels = [("[labels.segments]", {s["name"]: SEGMENT_LABELS[s["name"]] for s in segments if s["name"] in SEGMENT_LABELS}),
              ("[labels.columns]", {c: COLUMN_LABELS[c] for c in sorted(used) if c in COLUMN_LABELS})]
    labels += [(f"[labels.values.{c}]", VALUE_LABELS[c]) for c in sorted(used) if c in VALUE_LABELS]
    return labels


def _toml(name: str, platform: str, data_path: str, fmt: str, columns: dict, match: dict,
          segments: tuple[dict, ...], *extra: tuple[str, dict]) -> str:
    return tables([("[audit]", {"name": name, "platform": platform}), ("[input]", {"path": data_path, "format": fmt}),
                   ("[columns]", columns), ("[match]", match), *(("[[segments]]", s) for s in segments), *extra,
                   ("[test]", TEST), *_label_tables(columns, match, segments, extra)])


def rides_configs(data_path: str, fmt: str) -> dict[str, str]:
    return {"audit.toml": _toml(f"Ride-hailing fares, {RIDE_WEEK} (synthetic)", "ExampleRide", data_path, fmt,
                                RIDE_COLUMNS, RIDE_MATCH, (DEVICE, TENURE, MEMBERSHIP))}


def null_configs(data_path: str, fmt: str) -> dict[str, str]:
    return {"audit.toml": _toml(f"Ride-hailing fares, {RIDE_WEEK} (synthetic, nothing planted)", "ExampleRide",
                                data_path, fmt, RIDE_COLUMNS, RIDE_MATCH, (DEVICE, TENURE, MEMBERSHIP, LOYALTY))}


def loyalty_configs(data_path: str, fmt: str) -> dict[str, str]:
    return {"audit.toml": _toml(f"Ride-hailing fares by purchase history, {RIDE_WEEK} (synthetic)", "ExampleRide",
                                data_path, fmt, RIDE_COLUMNS, RIDE_MATCH, (DEVICE, MEMBERSHIP, LOYALTY))}


def coupons_configs(data_path: str, fmt: str) -> dict[str, str]:
    columns = {**RIDE_COLUMNS, "price": "paid_price", "list_price": "list_price", "discount": "coupon",
               "net_price": "paid_price"}
    device = {**DEVICE, "groups": ["ios"]}
    promo = ("[[adjustments]]", {"name": "New-user promotion", "column": "promo", "value": "new_user"})
    return {"audit.toml": _toml(f"Ride-hailing fares and coupons, {RIDE_WEEK} (synthetic)", "ExampleRide",
                                data_path, fmt, columns, RIDE_MATCH, (device,), promo)}


def quotes_configs(data_path: str, fmt: str) -> dict[str, str]:
    columns = {**RIDE_COLUMNS, "transaction_id": "event_id", "timestamp": "event_time"}
    quotes = ("[quotes]", {"event_column": "event", "quote_value": "quote", "purchase_value": "purchase",
                           "quoted_price": "quoted_fare", "request_id": "request_id"})
    return {"audit.toml": _toml(f"Ride-hailing quotes and purchases, {RIDE_WEEK} (synthetic)", "ExampleRide",
                                data_path, fmt, columns, RIDE_MATCH, (DEVICE,), quotes)}


def steering_configs(data_path: str, fmt: str) -> dict[str, str]:
    steering = ("[steering]", {"column": "car_level", "order": list(CAR_LEVELS), "context": list(STEERING_CONTEXT)})
    return {"audit.toml": _toml(f"Ride-hailing car levels and fares, {RIDE_WEEK} (synthetic)", "ExampleRide",
                                data_path, fmt, RIDE_COLUMNS, RIDE_MATCH, (DEVICE,), steering)}


def _hotel_match(channel: bool) -> dict:
    exact = ["hotel_id", "room_type", "checkin_date"] + (["channel"] if channel else [])
    return {"exact": exact, "bins": {"lead_time_days": LEAD_BIN_DAYS}}


def hotel_configs(data_path: str, fmt: str) -> dict[str, str]:
    return {"audit.toml": _toml(f"Hotel bookings, {HOTEL_NIGHTS} (synthetic)", "ExampleTrip", data_path, fmt,
                                HOTEL_COLUMNS, _hotel_match(True), HOTEL_SEGMENTS)}


def reseller_configs(data_path: str, fmt: str) -> dict[str, str]:
    name = f"Hotel bookings with reseller listings, {HOTEL_NIGHTS} (synthetic)"
    return {
        "audit.toml": _toml(name, "ExampleTrip", data_path, fmt, HOTEL_COLUMNS, _hotel_match(True), HOTEL_SEGMENTS),
        "audit-no-channel.toml": _toml(f"{name}, sales channel not matched", "ExampleTrip", data_path, fmt,
                                       HOTEL_COLUMNS, _hotel_match(False), HOTEL_SEGMENTS),
    }
