"""`auditor init`: a commented starter config proposed from a bounded sample of the log.

Reads the schema and the first rows (pyarrow for Parquet, the csv and json
modules for text), profiles each column (type, distinct values, nulls, how
often it is constant within a user) and proposes a role for it: transaction
id, user id, timestamp, price, match key, binned number, segment. Every
proposal is written with the numbers behind it, and alternatives are left as
commented lines, so the person running the audit confirms each one: nothing
is guessed silently, and a role with no convincing column is left as a TODO
that the config check names.

No Spark: a sample of a few thousand rows is enough to tell an id from a
category, and the tool should answer before a cluster would have started.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import pandas as pd

from auditor.errors import AuditInputError
from auditor.starter.profile import MAX_SEGMENT_VALUES, Profile, constancy, name_score, name_words, profile

MAX_MATCH_VALUES = 2_000  # more distinct values than this is an id, not a key that defines "the same purchase"
# Tiers a reader reads upwards from, lowest first: the baseline of a premium is the newest or lowest tier.
TIER_ORDER = ("new", "newcomer", "free", "basic", "regular", "normal", "ordinary", "standard", "bronze", "silver",
              "plus", "gold", "loyal", "premium", "platinum", "diamond", "vip", "svip", "black",
              "新用户", "新客", "普通", "老用户", "老客", "白银", "黄金", "铂金", "钻石", "黑金")
_LEVELS = ("low", "medium", "high")


@dataclass(frozen=True)
class Proposal:
    """A starter config: each role's column (or None) and the candidates, with the profiles behind them."""

    input_path: str
    input_format: str
    sample_rows: int
    profiles: dict[str, Profile]
    roles: dict[str, str | None]
    alternatives: dict[str, tuple[str, ...]]
    price_parts: dict[str, str]
    match: tuple[str, ...]
    redundant: dict[str, str]  # match candidate -> the key that determines it
    bins: tuple[tuple[str, float], ...]
    segments: tuple[str, ...]
    doses: tuple[str, ...]
    adjustments: tuple[str, ...]
    events: tuple[str, ...]  # columns telling quote rows from purchase rows
    time_bucket: str | None
    notes: tuple[str, ...] = field(default=())
    delimiter: str = ","


# --- proposing ----------------------------------------------------------------------------------------

def propose(sample: pd.DataFrame, input_path: str, input_format: str) -> Proposal:
    """Roles, match keys, bins and segments for a sample, each from the numbers in its profile."""
    if sample.empty or sample.shape[1] == 0:
        raise AuditInputError(f"--input {input_path}: the sample holds no rows: check the path and --format")
    profiles, typed = profile(sample)
    names = list(profiles)
    notes = []
    roles: dict[str, str | None] = {}
    alternatives: dict[str, tuple[str, ...]] = {}

    def choose(role: str, candidates: list[tuple[float, str]]) -> None:
        ranked = [n for _, n in sorted(candidates, key=lambda c: (-c[0], names.index(c[1])))]
        roles[role] = ranked[0] if ranked else None
        alternatives[role] = tuple(ranked[1:4])
        if len(ranked) > 1 and sorted(candidates, reverse=True)[0][0] == sorted(candidates, reverse=True)[1][0]:
            notes.append(f"{role}: {ranked[0]} and {ranked[1]} fit equally well; the first in the file was taken")

    p = profiles
    # The transaction id: (nearly) unique and not a number or time; the name breaks ties.
    choose("transaction_id", [(name_score(n, "transaction_id") + name_score(n, "id") + 2 * p[n].unique_share, n)
                              for n in names if p[n].unique_share >= 0.98 and p[n].kind in ("text", "integer")
                              and p[n].nulls <= 0.01 * p[n].rows and p[n].distinct > 1])
    used = {roles["transaction_id"]}
    # The user id: repeated (a user buys more than once) yet many values; the name decides among such columns.
    choose("user_id", [(3 * name_score(n, "user_id") + name_score(n, "id") + min(p[n].distinct, 10_000) / 10_000, n)
                       for n in names if n not in used and p[n].kind in ("text", "integer")
                       and 0.0005 < p[n].unique_share < 0.9 and p[n].distinct >= 10
                       and (name_score(n, "user_id") or p[n].distinct > MAX_SEGMENT_VALUES * 4)
                       and not (p[n].kind == "integer" and name_score(n, "count") and not name_score(n, "user_id"))])
    used.add(roles["user_id"])
    choose("timestamp", [(name_score(n, "timestamp") + 2 * p[n].has_time_of_day + p[n].unique_share, n)
                         for n in names if n not in used and p[n].kind == "timestamp"])
    used.add(roles["timestamp"])
    money = [n for n in names if n not in used and p[n].kind in ("number", "integer") and p[n].positive
             and name_score(n, "price")]
    choose("price", [(name_score(n, "price") - 2 * name_score(n, "not_price") + 0.5 * ("paid" in name_words(n)
                      or "实付" in n), n) for n in money])
    used.add(roles["price"])
    if roles["price"] is None:
        notes.append("price: no positive numeric column is named like a price (price, fare, amount, 价格, jiage, ...)")

    parts = {}
    for part in ("list_price", "discount"):
        found = [n for n in names if n not in used and p[n].kind in ("number", "integer") and name_score(n, part)]
        if found:
            parts[part] = found[0]
    if parts:
        parts["net_price"] = roles["price"]
    used |= set(parts.values())

    user = roles["user_id"]
    if user is not None:
        profiles = {n: (Profile(**{**pr.__dict__, "constant_within_user": constancy(typed, user, n)})
                        if n not in used else pr) for n, pr in profiles.items()}
        p = profiles
    constant = {n: (p[n].constant_within_user or 0) >= 0.95 for n in names}

    adjustments = tuple(n for n in names if n not in used and name_score(n, "adjustment") and p[n].distinct <= 5)
    used |= set(adjustments)
    categorical = [n for n in names if n not in used and p[n].kind in ("text", "integer", "date", "boolean")
                   and 1 <= p[n].distinct <= MAX_MATCH_VALUES]
    # A user attribute (the same for all of a user's rows) is a segment unless its name says it sets the price.
    segments = tuple(n for n in categorical if constant[n] and 2 <= p[n].distinct <= MAX_SEGMENT_VALUES
                     and not (name_score(n, "match") > name_score(n, "segment")))
    doses = tuple(n for n in names if n not in used and n not in segments and constant[n]
                  and p[n].kind in ("integer", "number") and p[n].distinct > MAX_SEGMENT_VALUES)
    # A log of quotes and purchases: its event column is not a key (see [quotes] in the README).
    events = tuple(n for n in categorical if p[n].distinct <= 5 and {"quote", "purchase"} & {v.lower() for v, _ in p[n].top})
    match = [n for n in categorical if n not in segments and n not in doses and n not in events
             and (p[n].kind != "integer" or name_score(n, "match"))
             and (not constant[n] or name_score(n, "match")) and p[n].unique_share < 0.5]
    redundant = {}
    for n in match:  # a key fixed by another key with more values adds nothing (a hotel's city)
        for other in match:
            if other != n and p[n].distinct >= 2 and p[other].distinct > p[n].distinct and \
                    sample.groupby(sample[other].astype(str))[n].nunique(dropna=True).max() == 1:
                redundant[n] = other
                break
    bins = tuple((n, nice_width(p[n])) for n in names
                 if n not in used and n not in doses and p[n].kind in ("integer", "number")
                 and p[n].distinct > MAX_SEGMENT_VALUES and not constant[n] and name_score(n, "price") == 0
                 and p[n].quantiles is not None and p[n].unique_share < 0.98)
    has_date_key = any(p[n].kind == "date" or "date" in name_words(n) for n in match)
    bucket = None if has_date_key else "1h"
    return Proposal(input_path=input_path, input_format=input_format, sample_rows=len(sample), profiles=profiles,
                    roles=roles, alternatives=alternatives, price_parts=parts,
                    match=tuple(n for n in match if n not in redundant), redundant=redundant, bins=bins,
                    segments=segments, doses=doses, adjustments=adjustments, events=events, time_bucket=bucket, notes=tuple(notes))


def reference_value(p: Profile) -> tuple[str, str]:
    """The value a reader calls the baseline, and why: the newest or lowest tier when the values are tiers
    (new < regular < loyal, regular < silver < gold < diamond, basic < plus, v1 < v2, low < high), since
    premiums are read upwards from it; otherwise the most frequent value, the usual user."""
    values = [v for v, _ in p.top]
    lower = [v.strip().lower() for v in values]
    rank = None
    if len(values) >= 2 and all(v in TIER_ORDER for v in lower):
        rank = [TIER_ORDER.index(v) for v in lower]
    elif len(values) >= 2 and all(v in _LEVELS for v in lower):
        rank = [_LEVELS.index(v) for v in lower]
    elif len(values) >= 2 and all(re.fullmatch(r"(v|vip|lv|level|tier|l)?\s*-?\d+", v) for v in lower):
        rank = [int(re.search(r"-?\d+", v).group()) for v in lower]
    if rank is not None:
        ordered = [values[i] for i in sorted(range(len(values)), key=rank.__getitem__)]
        return ordered[0], (f"the lowest tier ({' < '.join(ordered)}): premiums are read upwards from it, "
                            "as a reader expects of tiers")
    return values[0], f"the most frequent value ({values[0]}, {p.top[0][1]:,} rows): the usual user"


def nice_width(p: Profile) -> float:
    """A round bin width (1, 2 or 5 times a power of ten) near a tenth of the 10–90 % range.

    About ten bands across the bulk of the data: purchases in one band differ little in the binned
    quantity (a ride of 4 km and one of 6 km, not 4 km and 9 km), so that a difference in it is not
    mistaken for a premium, while each band still holds many purchases of both groups. On the demo's
    distances (10–90 %: 2.9–23 km) that is 2,000 m, the width its config uses."""
    low, high = p.quantiles
    target = (high - low) / 10
    if not target > 0:
        return 1.0
    power = 10 ** math.floor(math.log10(target))
    width = min((m * power for m in (1, 2, 5, 10)), key=lambda w: abs(math.log(w / target)))
    return float(int(width)) if width >= 1 and p.kind == "integer" else float(f"{width:.6g}")
