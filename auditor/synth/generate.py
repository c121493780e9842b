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

from auditor.synth.configs import (coupons_configs, hotel_configs, loyalty_configs, null_configs, quotes_configs,
                                   reseller_configs, rides_configs, steering_configs)
from auditor.synth.hotels import (HOTEL_PREMIUMS, NO_HOTEL_PREMIUMS, RESELLER_SHARE, draw_hotels, draw_members,
                                  HotelModel, hotel_chunk)
from auditor.synth.rides import (LOYALTY_RIDES, NULL_RIDES, PREMIUMS, RIDES, SIMPSON_TRAP, STEERING_RIDES,
                                 coupons_chunk, draw_loyal_passengers, draw_passengers,
                                 draw_passengers_with_tenure_days, draw_routes, quotes_chunk, ride_chunk)
from auditor.synth.truth import (coupons_truth, hotel_truth, loyalty_truth, null_truth, quotes_truth, reseller_truth,
                                 steering_truth)
from auditor.synth.writer import Writer, with_nulls

SCENARIOS = ("rides", "hotel", "reseller", "coupons", "quotes", "steering", "loyalty", "null")
EXTENSIONS = {"parquet": "parquet", "csv": "csv", "json": "jsonl"}
CHUNK_ROWS = 1_000_000

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

    _check_arguments(scenario, rows, fmt, bad_row_share)
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

    tallies = _write_rows(spec, rng, users, world, bad_at, events, Writer(data_path, fmt), width=len(str(rows)))

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


def _check_arguments(scenario: str, rows: int, fmt: str, bad_row_share: float) -> None:
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}: choose one of {', '.join(SCENARIOS)}")
    if fmt not in EXTENSIONS:
        raise ValueError(f"unknown format {fmt!r}: choose one of {', '.join(EXTENSIONS)}")
    if rows < 1000:
        raise ValueError(f"rows = {rows}: generate at least 1000 rows")
    if not 0 <= bad_row_share < 0.5:
        raise ValueError(f"bad_row_share = {bad_row_share}: use a share in [0, 0.5)")


def _write_rows(spec: _Scenario, rng: np.random.Generator, users, world, bad_at: dict[str, np.ndarray], events: int,
                writer: Writer, width: int) -> dict[str, dict[str, int]]:
    """Draw and write the log chunk by chunk (each user's events spread over the chunks at random, bad rows
    spoiled where they fall); the written values of the scenario's tallied columns, counted."""
    tallies: dict[str, dict[str, int]] = {column: {} for column in spec.tally}
    remaining = users.events.copy()
    for start in range(0, events, CHUNK_ROWS):
        size = min(CHUNK_ROWS, events - start)
        draw = remaining if start + size == events else rng.multivariate_hypergeometric(remaining, size, method="marginals")
        remaining = remaining - draw
        rider = np.repeat(np.arange(len(draw)), draw)
        rng.shuffle(rider)
        chunk_bad = {k: np.sort(at[(at >= start) & (at < start + size)]) - start for k, at in bad_at.items()}
        columns = spec.chunk(rng, start, rider, users, world, width=width)
        table = _spoil(columns, spec.roles, chunk_bad, text=writer.text)
        for column, counts in tallies.items():
            for item in pc.value_counts(table[column]).to_pylist():
                counts[item["values"]] = counts.get(item["values"], 0) + item["counts"]
        writer.write(table)
    writer.close()
    return tallies


def _spoil(columns: dict[str, pa.Array], roles: _Roles, bad: dict[str, np.ndarray], text: bool) -> pa.Table:
    """The chunk's table with its bad rows made bad, one reason each, and duplicates appended."""
    price = columns[roles.price].to_numpy().copy()
    nonpositive = bad["nonpositive_price"]
    price[nonpositive] = np.where(np.arange(len(nonpositive)) % 2, -price[nonpositive], 0.0)
    columns[roles.price] = pa.array(price)
    columns[roles.user] = with_nulls(columns[roles.user], bad["missing_user"])
    columns[roles.key] = with_nulls(columns[roles.key], bad["missing_key"])
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


_RIDE_ROLES = _Roles(user="passenger_id", price="fare_cny", timestamp="req_time", key="city")
_HOTEL_ROLES = _Roles(user="member_id", price="paid_price", timestamp="booking_time", key="hotel_id")
_SPECS = {
    "rides": _Scenario("rides", _RIDE_ROLES, draw_passengers, draw_routes, ride_chunk(RIDES),
                       lambda: {"premiums": PREMIUMS, "simpson_trap": SIMPSON_TRAP}, rides_configs),
    "hotel": _Scenario("bookings", _HOTEL_ROLES, draw_members, draw_hotels, hotel_chunk(HotelModel(HOTEL_PREMIUMS)),
                       lambda: hotel_truth(HOTEL_PREMIUMS), hotel_configs),
    "reseller": _Scenario("bookings", _HOTEL_ROLES, draw_members, draw_hotels,
                          hotel_chunk(HotelModel(NO_HOTEL_PREMIUMS, reseller_share=RESELLER_SHARE)),
                          reseller_truth, reseller_configs, tally=("channel",)),
    "coupons": _Scenario("rides", dataclasses.replace(_RIDE_ROLES, price="paid_price"),
                         draw_passengers_with_tenure_days, draw_routes, coupons_chunk, coupons_truth,
                         coupons_configs, tally=("promo",)),
    "quotes": _Scenario("ride_events", dataclasses.replace(_RIDE_ROLES, timestamp="event_time"), draw_passengers,
                        draw_routes, quotes_chunk, quotes_truth, quotes_configs, tally=("event",)),
    "steering": _Scenario("rides", _RIDE_ROLES, draw_passengers, draw_routes, ride_chunk(STEERING_RIDES),
                          steering_truth, steering_configs),
    "loyalty": _Scenario("rides", _RIDE_ROLES, draw_loyal_passengers, draw_routes, ride_chunk(LOYALTY_RIDES),
                         loyalty_truth, loyalty_configs),
    "null": _Scenario("rides", _RIDE_ROLES, draw_passengers, draw_routes, ride_chunk(NULL_RIDES), null_truth,
                      null_configs),
}
assert tuple(_SPECS) == SCENARIOS
from auditor.synth.personal import register as _register_personal; SCENARIOS, _SPECS = _register_personal(SCENARIOS, _SPECS)  # noqa: E402,E702,I001
