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
from collections.abc import Callable
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

@dataclass(frozen=True)
class RoleRule:
    """How one role of the config is recognised: which columns may hold it, and how well each fits (the
    highest score is proposed, the next three are left as commented alternatives)."""

    role: str
    fits: Callable[[str, Profile], bool]
    score: Callable[[str, Profile], float]


def _transaction_fits(n: str, p: Profile) -> bool:
    """(Nearly) unique, not a number or time, hardly ever blank."""
    return p.unique_share >= 0.98 and p.kind in ("text", "integer") and p.nulls <= 0.01 * p.rows and p.distinct > 1


def _transaction_score(n: str, p: Profile) -> float:
    return name_score(n, "transaction_id") + name_score(n, "id") + 2 * p.unique_share


def _user_fits(n: str, p: Profile) -> bool:
    """Repeated (a user buys more than once) yet many values; a count about a user is never its id."""
    named = bool(name_score(n, "user_id"))
    return (p.kind in ("text", "integer") and 0.0005 < p.unique_share < 0.9 and p.distinct >= 10
            and (named or p.distinct > MAX_SEGMENT_VALUES * 4)
            and not (p.kind == "integer" and name_score(n, "count") and not named))


def _user_score(n: str, p: Profile) -> float:
    """The name decides among such columns."""
    return 3 * name_score(n, "user_id") + name_score(n, "id") + min(p.distinct, 10_000) / 10_000


def _timestamp_score(n: str, p: Profile) -> float:
    return name_score(n, "timestamp") + 2 * p.has_time_of_day + p.unique_share


def _price_fits(n: str, p: Profile) -> bool:
    return p.kind in ("number", "integer") and p.positive and bool(name_score(n, "price"))


def _price_score(n: str, p: Profile) -> float:
    """Named like a price, not like a list price or a discount; what was paid first."""
    return name_score(n, "price") - 2 * name_score(n, "not_price") + 0.5 * ("paid" in name_words(n) or "实付" in n)


# The roles in the order they are chosen: a column taken by one is not offered to the next.
ROLE_RULES = (
    RoleRule("transaction_id", _transaction_fits, _transaction_score),
    RoleRule("user_id", _user_fits, _user_score),
    RoleRule("timestamp", lambda n, p: p.kind == "timestamp", _timestamp_score),
    RoleRule("price", _price_fits, _price_score),
)
NO_PRICE = "price: no positive numeric column is named like a price (price, fare, amount, 价格, jiage, ...)"


def _choose(rule: RoleRule, names: list[str], profiles: dict[str, Profile], used: set
            ) -> tuple[str | None, tuple[str, ...], str | None]:
    """The best column for a role among those not used, the alternatives, and a note when two tie."""
    candidates = [(rule.score(n, profiles[n]), n) for n in names if n not in used and rule.fits(n, profiles[n])]
    ranked = [n for _, n in sorted(candidates, key=lambda c: (-c[0], names.index(c[1])))]
    note = None
    scores = sorted(candidates, reverse=True)
    if len(ranked) > 1 and scores[0][0] == scores[1][0]:
        note = f"{rule.role}: {ranked[0]} and {ranked[1]} fit equally well; the first in the file was taken"
    return (ranked[0] if ranked else None), tuple(ranked[1:4]), note


def _price_parts(names: list[str], p: dict[str, Profile], used: set, price: str | None) -> dict[str, str]:
    """List price and coupon columns beside the price: any two imply the third."""
    parts = {}
    for part in ("list_price", "discount"):
        found = [n for n in names if n not in used and p[n].kind in ("number", "integer") and name_score(n, part)]
        if found:
            parts[part] = found[0]
    if parts:
        parts["net_price"] = price
    return parts


def _is_segment(n: str, p: Profile, constant: bool) -> bool:
    """A user attribute (the same for all of a user's rows) is a segment unless its name says it sets the price."""
    return constant and 2 <= p.distinct <= MAX_SEGMENT_VALUES and not name_score(n, "match") > name_score(n, "segment")


def _is_match_key(n: str, p: Profile, constant: bool) -> bool:
    """A category that varies within a user (or is named like a place, product or class), not an id."""
    return ((p.kind != "integer" or bool(name_score(n, "match"))) and (not constant or bool(name_score(n, "match")))
            and p.unique_share < 0.5)


def _is_event(p: Profile) -> bool:
    """A quote log's event column: a few values, among them quote or purchase (not a key, see [quotes])."""
    return p.distinct <= 5 and bool({"quote", "purchase"} & {v.lower() for v, _ in p.top})


def _redundant(match: list[str], p: dict[str, Profile], sample: pd.DataFrame) -> dict[str, str]:
    """A key fixed by another key with more values adds nothing (a hotel's city): key -> the key fixing it."""
    redundant = {}
    for n in match:
        for other in match:
            if other != n and p[n].distinct >= 2 and p[other].distinct > p[n].distinct and \
                    sample.groupby(sample[other].astype(str))[n].nunique(dropna=True).max() == 1:
                redundant[n] = other
                break
    return redundant


def _is_binned(n: str, p: Profile, constant: bool) -> bool:
    """A number that varies within a user and is not a price or an id: compared within bands of it."""
    return (p.kind in ("integer", "number") and p.distinct > MAX_SEGMENT_VALUES and not constant
            and name_score(n, "price") == 0 and p.quantiles is not None and p.unique_share < 0.98)


def _with_constancy(profiles: dict[str, Profile], typed, user: str | None, used: set) -> dict[str, Profile]:
    """Each column not yet given a role, with how often it is constant within a user."""
    if user is None:
        return profiles
    return {n: (Profile(**{**pr.__dict__, "constant_within_user": constancy(typed, user, n)}) if n not in used else pr)
            for n, pr in profiles.items()}


def _categorical(names: list[str], p: dict[str, Profile], used: set) -> list[str]:
    """Columns of few enough values to be a key or a segment."""
    return [n for n in names if n not in used and p[n].kind in ("text", "integer", "date", "boolean")
            and 1 <= p[n].distinct <= MAX_MATCH_VALUES]


def _doses(names: list[str], p: dict[str, Profile], used: set, constant: dict[str, bool]) -> tuple[str, ...]:
    """A number constant within a user, of too many values for a segment (prior orders): a dose."""
    return tuple(n for n in names if n not in used and constant[n] and p[n].kind in ("integer", "number")
                 and p[n].distinct > MAX_SEGMENT_VALUES)


def _adjustments(names: list[str], p: dict[str, Profile], used: set) -> tuple[str, ...]:
    """Columns of a few values named like a promotion or campaign: the price adjustments beside the price."""
    return tuple(n for n in names if n not in used and name_score(n, "adjustment") and p[n].distinct <= 5)


def _picked(names: list[str], p: dict[str, Profile], constant: dict[str, bool], rule) -> tuple[str, ...]:
    """The columns a rule (name, profile, constant within a user) accepts, in file order."""
    return tuple(n for n in names if rule(n, p[n], constant[n]))


def _has_date_key(match: list[str], p: dict[str, Profile]) -> bool:
    """A date among the keys makes the time bucket redundant."""
    return any(p[n].kind == "date" or "date" in name_words(n) for n in match)


def propose(sample: pd.DataFrame, input_path: str, input_format: str) -> Proposal:
    """Roles, match keys, bins and segments for a sample, each from the numbers in its profile."""
    if sample.empty or sample.shape[1] == 0:
        raise AuditInputError(f"--input {input_path}: the sample holds no rows: check the path and --format")
    profiles, typed = profile(sample)
    names = list(profiles)
    roles, alternatives, notes = _roles(names, profiles)
    used = set(roles.values())
    parts = _price_parts(names, profiles, used, roles["price"])
    used |= set(parts.values())
    p = profiles = _with_constancy(profiles, typed, roles["user_id"], used)
    constant = {n: (p[n].constant_within_user or 0) >= 0.95 for n in names}

    adjustments = _adjustments(names, p, used)
    used |= set(adjustments)
    categorical = _categorical(names, p, used)
    segments = _picked(categorical, p, constant, _is_segment)
    doses = _doses(names, p, used | set(segments), constant)
    events = tuple(n for n in categorical if _is_event(p[n]))
    match = list(_picked([n for n in categorical if n not in {*segments, *doses, *events}], p, constant,
                         _is_match_key))
    redundant = _redundant(match, p, sample)
    bins = tuple((n, nice_width(p[n])) for n in _picked([n for n in names if n not in used | set(doses)], p,
                                                        constant, _is_binned))
    return Proposal(input_path=input_path, input_format=input_format, sample_rows=len(sample), profiles=profiles,
                    roles=roles, alternatives=alternatives, price_parts=parts,
                    match=tuple(n for n in match if n not in redundant), redundant=redundant, bins=bins,
                    segments=segments, doses=doses, adjustments=adjustments, events=events,
                    time_bucket=None if _has_date_key(match, p) else "1h", notes=tuple(notes))


def _roles(names: list[str], profiles: dict[str, Profile]) -> tuple[dict, dict, list[str]]:
    """Each role's column (None when no column fits), its runners-up, and a note where the choice was close
    or missing; the rules in order, a column taken by one not offered to the next."""
    notes, roles, alternatives, used = [], {}, {}, set()
    for rule in ROLE_RULES:
        roles[rule.role], alternatives[rule.role], note = _choose(rule, names, profiles, used)
        notes += [note] if note else []
        used.add(roles[rule.role])
    if roles["price"] is None:
        notes.append(NO_PRICE)
    return roles, alternatives, notes


def _tier_rank(lower: list[str]) -> list[int] | None:
    """The values' places when all of them are tiers of one ladder (names, levels, or numbered), else None."""
    if all(v in TIER_ORDER for v in lower):
        return [TIER_ORDER.index(v) for v in lower]
    if all(v in _LEVELS for v in lower):
        return [_LEVELS.index(v) for v in lower]
    if all(re.fullmatch(r"(v|vip|lv|level|tier|l)?\s*-?\d+", v) for v in lower):
        return [int(re.search(r"-?\d+", v).group()) for v in lower]
    return None


def reference_value(p: Profile) -> tuple[str, str]:
    """The value a reader calls the baseline, and why: the newest or lowest tier when the values are tiers
    (new < regular < loyal, regular < silver < gold < diamond, basic < plus, v1 < v2, low < high), since
    premiums are read upwards from it; otherwise the most frequent value, the usual user."""
    values = [v for v, _ in p.top]
    rank = _tier_rank([v.strip().lower() for v in values]) if len(values) >= 2 else None
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
