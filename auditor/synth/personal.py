"""Generated ride logs for "Is pricing personalised?": four weeks of rides with planted personalisation.

Four scenarios, registered with the generator (`auditor generate --scenario personal_wtp`), each the
`null` ride model (no segment premium, no Simpson trap) over four weeks from 2026-09-07, with each
passenger's phone model as a column that no segment of the audit.toml names:

- `personal_null`: nothing personal. Passengers differ only in what they ride, where and when;
  their own noise is the purchase noise. The reading should be no material personalisation.
- `personal_wtp`: a hidden willingness-to-pay score per passenger, sd 3 % of the fare, in no
  column. Persistence, its spread recovered, no column confirmed.
- `personal_phone`: fares by phone model (iphone_15 +4 %, mate_60 +3 %, redmi_k70 -3 %), a column
  the audit's segments do not name: the attribute scan finds it and confirms it on the other half
  of the passengers; OS, which the model fixes, is a true proxy.
- `personal_tests`: randomised price tests: each passenger in a random arm (-3 % or +3 %) each
  week, nothing persistent across weeks. Dispersion, no persistence across weeks.

Passengers carry no other per-user price effect here (the other ride scenarios plant one of sd 5 %,
which this analysis reads as persistent personalisation).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from auditor.synth import configs as c
from auditor.synth import rides as r
from auditor.synth.writer import ids, label_array, timestamps

WEEKS = 4
WEEK_S = 7 * 86_400
PHONE_MODELS = ("iphone_15", "iphone_13", "mate_60", "nova_12", "xiaomi_14", "redmi_k70", "oppo_reno_11")
PHONE_OS = (1, 1, 2, 2, 0, 0, 0)  # codes of generate.OS_VALUES: android, ios, harmonyos
# Within each OS, the share of each of its models.
PHONE_SHARE_IN_OS = (0.5, 0.5, 0.5, 0.5, 0.35, 0.4, 0.25)
PHONE_PREMIUMS = {"iphone_15": 0.04, "mate_60": 0.03, "redmi_k70": -0.03}
WTP_SD = 0.03
TEST_ARMS = (-0.03, 0.03)


@dataclass(frozen=True)
class _PersonalModel:
    key: str
    what: str  # for the audit's name and the CLI's help
    wtp_sd: float = 0.0
    phone_premiums: tuple[tuple[str, float], ...] = ()
    test_arms: tuple[float, ...] = ()
    reading: str = "no_material_personalisation"  # what auditor.stats.personal.read should say


MODELS = (
    _PersonalModel("personal_null", "nothing personal"),
    _PersonalModel("personal_wtp", "a hidden willingness-to-pay score, sd 3 %, in no column", wtp_sd=WTP_SD,
                   reading="persistent_unexplained"),
    _PersonalModel("personal_phone", "fares by phone model, a column no segment names",
                   phone_premiums=tuple(PHONE_PREMIUMS.items()), reading="persistent_explained"),
    _PersonalModel("personal_tests", "randomised price tests, a random arm per passenger per week",
                   test_arms=TEST_ARMS, reading="dispersion_without_persistence"),
)
SCENARIOS = tuple(m.key for m in MODELS)
HELP = ", ".join(f"{m.key} ({m.what})" for m in MODELS)


@dataclass(frozen=True)
class _Passengers:
    """The ride passengers, plus what personalisation plants on each: phone model, score, weekly arm."""

    base: r.Passengers
    phone: np.ndarray  # index into PHONE_MODELS
    wtp: np.ndarray  # log scale
    arm: np.ndarray  # (passenger, week), log scale

    @property
    def events(self) -> np.ndarray:
        return self.base.rides


def _draw(model: _PersonalModel):
    def draw(rng: np.random.Generator, rides: int) -> _Passengers:
        base = r.draw_passengers(rng, rides)
        count = len(base.os)
        base = dataclasses.replace(base, effect=np.zeros(count))  # no per-user effect but what is planted
        phone = np.empty(count, dtype=np.int64)
        for os_code in range(len(r.OS_VALUES)):
            models = [i for i, o in enumerate(PHONE_OS) if o == os_code]
            share = np.array([PHONE_SHARE_IN_OS[i] for i in models])
            mine = base.os == os_code
            phone[mine] = rng.choice(models, size=int(mine.sum()), p=share / share.sum())
        wtp = rng.normal(0.0, model.wtp_sd, count) if model.wtp_sd else np.zeros(count)
        arm = (np.log1p(np.asarray(model.test_arms))[rng.integers(0, len(model.test_arms), (count, WEEKS))]
               if model.test_arms else np.zeros((count, WEEKS)))
        return _Passengers(base=base, phone=phone, wtp=wtp, arm=arm)
    return draw


def _chunk(model: _PersonalModel):
    by_phone = np.log1p([dict(model.phone_premiums).get(m, 0.0) for m in PHONE_MODELS])

    def chunk(rng, start, rider, passengers: _Passengers, routes, width):
        d = r._draw_rides(rng, rider, passengers.base, routes, r.NULL_RIDES)
        week = rng.integers(0, WEEKS, len(rider))
        log_fare = d.log_fare + passengers.wtp[rider] + by_phone[passengers.phone[rider]] + passengers.arm[rider, week]
        d = dataclasses.replace(d, epoch_s=d.epoch_s + week * WEEK_S, log_fare=log_fare)
        return {
            "order_no": ids("R", len(rider), max(9, width), first=start + 1),
            "passenger_id": passengers.base.ids.take(rider),
            "req_time": timestamps(d.epoch_s),
            **r._ride_context(d, passengers.base),
            "phone_model": label_array(PHONE_MODELS, passengers.phone[rider]),
            "fare_cny": pa.array(np.exp(d.log_fare).round(2)),
        }
    return chunk


def _truth(model: _PersonalModel):
    def truth() -> dict:
        return {
            "premiums": r.NO_RIDE_PREMIUMS,
            "simpson_trap": None,
            "personalisation": {
                "reading": model.reading,
                "weeks": WEEKS,
                "persistent_sd": model.wtp_sd if model.wtp_sd else (_phone_sd() if model.phone_premiums else 0.0),
                "hidden_score_sd": model.wtp_sd,
                "columns": {"phone_model": dict(model.phone_premiums)} if model.phone_premiums else {},
                "test_arms": {"premiums": list(model.test_arms), "assigned": "per passenger per week"}
                if model.test_arms else None,
            },
        }
    return truth


def _phone_sd() -> float:
    """The sd of log premiums across passengers that the phone models plant (OS and model shares)."""
    os_share = np.array(r.OS_SHARE)
    share = np.array([os_share[o] * PHONE_SHARE_IN_OS[i] / sum(PHONE_SHARE_IN_OS[j] for j, p in enumerate(PHONE_OS)
                                                               if p == o) for i, o in enumerate(PHONE_OS)])
    effect = np.log1p([PHONE_PREMIUMS.get(m, 0.0) for m in PHONE_MODELS])
    mean = float(share @ effect)
    return math.sqrt(float(share @ (effect - mean) ** 2))


def _configs(model: _PersonalModel):
    def configs(data_path: str, fmt: str) -> dict[str, str]:
        name = f"Ride-hailing fares, four weeks from 2026-09-07 (synthetic: {model.what})"
        return {"audit.toml": c._toml(name, "ExampleRide", data_path, fmt, c.RIDE_COLUMNS, c.RIDE_MATCH,
                                      (c.DEVICE, c.MEMBERSHIP))}
    return configs


def register(scenarios: tuple[str, ...], specs: dict) -> tuple[tuple[str, ...], dict]:
    """The generator's scenarios and specs with these added (the generator calls this once, at import)."""
    from auditor.synth.generate import _RIDE_ROLES, _Scenario  # the generator calls this at its own import

    added = {m.key: _Scenario("rides", _RIDE_ROLES, _draw(m), r.draw_routes, _chunk(m), _truth(m), _configs(m))
             for m in MODELS}
    return (*scenarios, *SCENARIOS), {**specs, **added}
