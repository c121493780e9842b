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

import csv
import glob
import json
import math
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from auditor.config import FORMATS
from auditor.errors import AuditConfigError, AuditInputError

SAMPLE_ROWS = 20_000
MAX_SEGMENT_VALUES = 12  # a user attribute with more values than this is numeric (a dose) or not a segment
MAX_MATCH_VALUES = 2_000  # more distinct values than this is an id, not a key that defines "the same purchase"

# Names in English, pinyin and Chinese, for each role. A hint is a whole word of the column name
# (split at _ - . space and case changes) or, for Chinese, a substring.
_HINTS = {
    "transaction_id": ("order", "orderid", "booking", "transaction", "txn", "trade", "event", "ticket", "dingdan",
                       "jiaoyi", "订单", "交易", "流水", "单号"),
    "user_id": ("user", "uid", "passenger", "member", "customer", "client", "account", "buyer", "guest", "rider",
                "yonghu", "chengke", "huiyuan", "kehu", "guke", "用户", "乘客", "会员", "客户", "顾客", "账号"),
    "timestamp": ("time", "ts", "timestamp", "datetime", "created", "at", "shijian", "时间", "时刻"),
    "price": ("price", "fare", "amount", "paid", "pay", "cost", "fee", "total", "net", "adr", "jiage", "jine", "feiyong",
              "shifu", "价格", "金额", "费用", "实付", "票价", "车费", "房价"),
    "list_price": ("list", "original", "gross", "yuanjia", "原价", "标价"),
    "discount": ("coupon", "discount", "subsidy", "rebate", "youhui", "butie", "优惠", "折扣", "补贴", "券"),
    "match": ("city", "region", "area", "zone", "grid", "route", "origin", "destination", "start", "end", "hotel",
              "room", "product", "sku", "item", "class", "level", "tier", "cabin", "flight", "channel", "seller",
              "supplier", "merchant", "shop", "store", "date", "day", "type", "category", "chengshi", "quyu",
              "shangpin", "jiudian", "fangxing", "qudao", "城市", "区域", "路线", "酒店", "房型", "商品", "渠道",
              "商家", "日期", "车型", "等级", "舱位", "起点", "终点"),
    "segment": ("os", "device", "platform", "membership", "member", "tier", "tenure", "vip", "segment", "band",
                "loyalty", "shebei", "设备", "系统", "会员", "等级"),
    "adjustment": ("promo", "promotion", "campaign", "activity", "huodong", "活动", "促销"),
    "not_price": ("quoted", "quote", "list", "original", "coupon", "discount", "subsidy", "tax", "tip"),
    "id": ("id", "no", "number", "num", "code", "key", "bianhao", "编号", "号", "id号"),
    # A count or measure of a user (prior_orders, visits, age): repeated with many values like a user id, yet
    # a number about the user, not the user.
    "count": ("orders", "prior", "count", "cnt", "times", "total", "visits", "trips", "rides", "bookings",
              "nights", "days", "age", "tenure", "qty", "quantity", "score", "points", "cishu", "次数", "单数",
              "数量", "天数", "积分"),
}

# Tiers a reader reads upwards from, lowest first: the baseline of a premium is the newest or lowest tier.
TIER_ORDER = ("new", "newcomer", "free", "basic", "regular", "normal", "ordinary", "standard", "bronze", "silver",
              "plus", "gold", "loyal", "premium", "platinum", "diamond", "vip", "svip", "black",
              "新用户", "新客", "普通", "老用户", "老客", "白银", "黄金", "铂金", "钻石", "黑金")
_LEVELS = ("low", "medium", "high")


@dataclass(frozen=True)
class Profile:
    """What the sample says about one column."""

    name: str
    kind: str  # "number", "integer", "timestamp", "date", "text", "boolean"
    rows: int
    nulls: int
    distinct: int
    constant_within_user: float | None  # share of users (with 2+ rows) with one value; None before users are known
    top: tuple[tuple[str, int], ...] = ()  # most frequent values and their counts
    has_time_of_day: bool = False
    positive: bool = False
    quantiles: tuple[float, float] | None = None  # 10th and 90th percentiles of a number

    @property
    def unique_share(self) -> float:
        filled = self.rows - self.nulls
        return self.distinct / filled if filled else 0.0

    def numbers(self) -> str:
        text = f"{self.distinct:,} distinct in {self.rows:,} sampled rows, {self.nulls:,} null"
        if self.constant_within_user is not None:
            text += f", constant within user for {self.constant_within_user:.0%} of users"
        return text


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


# --- reading a bounded sample ---------------------------------------------------------------------

def read_sample(path: str | Path, fmt: str, rows: int = SAMPLE_ROWS, delimiter: str = ",") -> pd.DataFrame:
    """The first `rows` rows of a file, folder or glob (Parquet typed; CSV and JSON lines as read)."""
    if fmt not in FORMATS:
        raise AuditConfigError(f"--format {fmt!r} is not supported: use one of {', '.join(FORMATS)}")
    files = _files(str(path))
    try:
        if fmt == "parquet":
            import pyarrow.dataset as ds

            return ds.dataset(files, format="parquet").head(rows).to_pandas()
        records: list[dict] = []
        for name in files:
            with open(name, encoding="utf-8", newline="") as handle:
                if fmt == "csv":
                    reader = csv.DictReader(handle, delimiter=delimiter)
                    for record in reader:
                        records.append(record)
                        if len(records) >= rows:
                            break
                else:
                    for line in handle:
                        if line.strip():
                            value = json.loads(line)
                            if isinstance(value, dict):
                                records.append(value)
                        if len(records) >= rows:
                            break
            if len(records) >= rows:
                break
        return pd.DataFrame.from_records(records)
    except (OSError, ValueError, csv.Error) as exc:
        raise AuditInputError(f"--input {path} is not readable as {fmt}: {str(exc).splitlines()[0][:200]}") from None


def _files(path: str) -> list[str]:
    if glob.has_magic(path):
        candidates = sorted(glob.glob(path, recursive=True))
    elif os.path.isdir(path):
        candidates = sorted(str(p) for p in Path(path).rglob("*") if p.is_file()
                            and not any(part.startswith((".", "_")) for part in p.relative_to(path).parts))
    elif os.path.exists(path):
        candidates = [path]
    else:
        raise AuditInputError(f"--input {path} does not exist: name the log file, folder or glob")
    files = [c for c in candidates if os.path.isfile(c)]
    if not files:
        raise AuditInputError(f"--input {path}: no files found")
    return files


# --- profiling ----------------------------------------------------------------------------------------

def _words(name: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    return [w for w in re.split(r"[\s_\-.]+", spaced.lower()) if w]


def name_score(name: str, role: str) -> int:
    """How many of a role's hints the column name holds (whole words, or Chinese substrings)."""
    words = _words(name)
    score = 0
    for hint in _HINTS[role]:
        if hint.isascii():
            score += sum(1 for w in words if w == hint or (len(hint) > 3 and w.startswith(hint)))
        elif hint in name:
            score += 1
    return score


def _typed(column: pd.Series) -> tuple[str, pd.Series]:
    """The column's kind, and its values converted to it (text logs: numbers and times parsed)."""
    if pd.api.types.is_bool_dtype(column):
        return "boolean", column
    if pd.api.types.is_datetime64_any_dtype(column):
        return "timestamp", column
    if pd.api.types.is_integer_dtype(column):
        return "integer", column
    if pd.api.types.is_float_dtype(column):
        return "number", column
    text = column.dropna().astype(str).str.strip()
    text = text[text != ""]
    if text.empty:
        return "text", column
    numbers = pd.to_numeric(text, errors="coerce")
    if numbers.notna().mean() >= 0.98 and not text.str.match(r"^0\d").any():
        parsed = pd.to_numeric(column.astype(str).str.strip(), errors="coerce")
        integral = bool((numbers.dropna() % 1 == 0).all())
        return ("integer" if integral else "number"), parsed
    if text.str.match(r"^\d{4}-\d{2}-\d{2}").mean() >= 0.98:
        times = pd.to_datetime(column, errors="coerce", utc=True, format="ISO8601")
        if times.notna().sum() >= 0.98 * len(text):
            timed = text.str.match(r"^\d{4}-\d{2}-\d{2}[T ]\d").mean() >= 0.98
            return ("timestamp" if timed else "date"), times
    return "text", column


def profile(sample: pd.DataFrame) -> tuple[dict[str, Profile], dict[str, pd.Series]]:
    """Each column's profile (without user constancy) and its typed values."""
    profiles, typed = {}, {}
    for name in sample.columns:
        kind, values = _typed(sample[name])
        typed[name] = values
        blank = values.isna() | (values.astype(str).str.strip() == "") if kind == "text" else values.isna()
        filled = values[~blank]
        counts = sample[name][~blank].astype(str).value_counts()  # as written in the log, not as parsed
        quantiles = None
        if kind in ("integer", "number") and not filled.empty:
            quantiles = (float(filled.quantile(0.1)), float(filled.quantile(0.9)))
        has_time = False
        if kind == "timestamp" and not filled.empty:
            moments = pd.to_datetime(filled, utc=True)
            has_time = bool((moments.dt.floor("D") != moments).mean() > 0.5)
        profiles[name] = Profile(
            name=str(name), kind=kind, rows=len(values), nulls=int(blank.sum()), distinct=int(filled.nunique()),
            constant_within_user=None, top=tuple((str(v), int(n)) for v, n in counts.head(MAX_SEGMENT_VALUES).items()),
            has_time_of_day=has_time,
            positive=kind in ("integer", "number") and not filled.empty and bool((filled > 0).mean() > 0.98),
            quantiles=quantiles)
    return profiles, typed


def _constancy(typed: dict[str, pd.Series], user: str, column: str) -> float | None:
    """Share of users with two or more sampled rows whose rows all hold one value of `column`."""
    frame = pd.DataFrame({"user": typed[user].astype(str), "value": typed[column].astype(str)})
    frame = frame[typed[user].notna().to_numpy()]
    sizes = frame.groupby("user")["value"].size()
    repeat = sizes[sizes >= 2].index
    if len(repeat) == 0:
        return None
    distinct = frame[frame["user"].isin(repeat)].groupby("user")["value"].nunique()
    return float((distinct == 1).mean())


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
    choose("price", [(name_score(n, "price") - 2 * name_score(n, "not_price") + 0.5 * ("paid" in _words(n)
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
        profiles = {n: (Profile(**{**pr.__dict__, "constant_within_user": _constancy(typed, user, n)})
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
    has_date_key = any(p[n].kind == "date" or "date" in _words(n) for n in match)
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


# --- writing ------------------------------------------------------------------------------------------

def render(proposal: Proposal, config_dir: Path) -> str:
    """The starter config's text: each proposal with its numbers, alternatives commented out."""
    p = proposal.profiles
    path = proposal.input_path
    if not os.path.isabs(path) or "://" in path:
        shown = path
    else:
        try:
            shown = os.path.relpath(path, config_dir)
        except ValueError:  # another drive
            shown = path
    out = [
        "# Starter audit config proposed by `auditor init` from the first "
        f"{proposal.sample_rows:,} rows of {path}.",
        "# Every value below is a proposal: check each against what you know of the platform before running.",
        "# The numbers after each proposal are what it rests on. Alternatives are commented out.",
        "# A sample from the start of the log may miss rare values; `auditor run` checks every row.",
        "",
        "[audit]",
        'name = "TODO: name this audit"',
        'platform = "TODO: the platform audited"',
        "",
        "[input]",
        f"path = {_q(shown)}",
        f"format = {_q(proposal.input_format)}",
        *([f"csv_delimiter = {_q(proposal.delimiter)}"] if proposal.delimiter != "," else []),
        "",
        "[columns]",
    ]
    reasons = {
        "transaction_id": lambda n: f"{p[n].unique_share:.1%} unique; " + p[n].numbers(),
        "user_id": lambda n: f"{p[n].distinct:,} users, {p[n].rows / max(p[n].distinct, 1):.1f} rows each; "
                             + p[n].numbers(),
        "timestamp": lambda n: f"{p[n].kind}{' with time of day' if p[n].has_time_of_day else ''}; " + p[n].numbers(),
        "price": lambda n: f"positive {p[n].kind}, 10–90 % range {_range(p[n])}; " + p[n].numbers(),
    }
    for role, reason in reasons.items():
        chosen = proposal.roles.get(role)
        if chosen is None:
            out.append(f"# {role} = \"TODO\"   # no column fits: name it here")
        else:
            out.append(f"{role} = {_q(chosen)}   # {reason(chosen)}")
        for other in proposal.alternatives.get(role, ()):
            out.append(f"# {role} = {_q(other)}   # alternative: {p[other].numbers()}")
    for part, column in proposal.price_parts.items():
        if column:
            out.append(f"{part} = {_q(column)}   # named like a {part.replace('_', ' ')}; {p[column].numbers()}")
    out += ["", "[match]                 # purchases are comparable when all of these agree"]
    if proposal.match:
        out.append("exact = [" + ", ".join(_q(n) for n in proposal.match) + "]")
        for n in proposal.match:
            out.append(f"#   {n}: {p[n].numbers()}; values: {_values(p[n])}")
    else:
        out.append('# exact = ["TODO"]   # no low-to-moderate cardinality column that varies within users was found')
    for n, other in proposal.redundant.items():
        out.append(f"#   {n} is left out: each {other} has one {n} in the sample (add it back if that is not so)")
    if proposal.time_bucket:
        out.append(f"time_bucket = {_q(proposal.time_bucket)}   # prices change by the hour on most platforms")
    else:
        out.append('# time_bucket = "1h"   # a date key is matched exactly; add a bucket if prices change within a day')
    if proposal.bins:
        out.append("bins = { " + ", ".join(f"{_key(n)} = {w:g}" for n, w in proposal.bins) + " }")
        for n, w in proposal.bins:
            out.append(f"#   {n}: bins of {w:g} (about a tenth of its 10–90 % range {_range(p[n])}: about ten "
                       f"bands, so that purchases in one band are alike in {n}); {p[n].numbers()}")
    for i, n in enumerate(proposal.segments):
        top = p[n].top
        reference, reason = reference_value(p[n])
        out += ["", "[[segments]]",
                f"# {n}: a user attribute ({p[n].numbers()}); values: {_values(p[n])}",
                f"# reference: {reason}",
                f"name = {_q(n)}", f"column = {_q(n)}", f"reference = {_q(reference)}",
                "groups = [" + ", ".join(_q(v) for v, _ in top if v != reference) + "]"]
    if not proposal.segments:
        out += ["", "# [[segments]]   # no column is constant within users with a few values: name one here",
                '# name = "TODO"', '# column = "TODO"', '# reference = "TODO"', '# groups = ["TODO"]']
    for n in proposal.doses:
        out += ["", f"# A numeric user attribute ({p[n].numbers()}; 10–90 % range {_range(p[n])}):",
                "# uncomment to test whether price rises with it (a loyalty penalty).",
                "# [[segments]]", f"# name = {_q(n)}", '# kind = "dose"', f"# column = {_q(n)}"]
    for n in proposal.adjustments:
        top = [v for v, _ in p[n].top if v.strip()]
        out += ["", f"# {n} looks like a declared promotion ({p[n].numbers()}; values: {_values(p[n])}).",
                "# If it marks a lawful, published price factor, uncomment:",
                "# [[adjustments]]", f"# name = {_q(n)}", f"# column = {_q(n)}",
                f"# value = {_q(top[0] if top else 'TODO')}"]
    for n in proposal.events:
        values = [v for v, _ in p[n].top]
        quote = next((v for v in values if v.lower() == "quote"), "quote")
        purchase = next((v for v in values if v.lower() == "purchase"), "purchase")
        out += ["", f"# {n} tells quotes from purchases ({p[n].numbers()}; values: {_values(p[n])}).",
                "# If this is a log of quotes, uncomment (quoted_price and request_id are optional):",
                "# [quotes]", f"# event_column = {_q(n)}", f"# quote_value = {_q(quote)}",
                f"# purchase_value = {_q(purchase)}"]
    out += ["", "[test]", "alpha = 0.05", "materiality = 0.01", ""]
    if proposal.notes:
        out += [f"# Note: {note}" for note in proposal.notes] + [""]
    return "\n".join(out)


def _range(p: Profile) -> str:
    return "—" if p.quantiles is None else f"{p.quantiles[0]:g} to {p.quantiles[1]:g}"


def _values(p: Profile) -> str:
    shown = ", ".join(f"{v} ({n:,})" for v, n in p.top[:6])
    return shown + (f", … {p.distinct - 6:,} more" if p.distinct > 6 else "")


def _q(text: str) -> str:
    return json.dumps(str(text), ensure_ascii=False)


def _key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else _q(name)


def guess_format(path: str) -> str:
    """parquet, csv or json from the input's file names; ask for --format when they do not say."""
    names = [path] if not os.path.isdir(path) else [str(p) for p in Path(path).rglob("*") if p.is_file()]
    for fmt, endings in (("parquet", (".parquet", ".parq")), ("csv", (".csv", ".csv.gz", ".tsv")),
                         ("json", (".json", ".jsonl", ".ndjson", ".json.gz"))):
        if any(n.lower().endswith(endings) for n in names):
            return fmt
    raise AuditConfigError(f"--input {path}: the file names do not say the format: pass --format parquet, csv or json")


def init(input_path: str | Path, fmt: str, out: Path, rows: int = SAMPLE_ROWS, overwrite: bool = False,
         delimiter: str = ",") -> Proposal:
    """Sample the log, propose a config, and write it to `out` (never over an existing file unless asked)."""
    out = Path(out)
    if out.exists() and not overwrite:
        raise AuditConfigError(f"--out {out} already exists: choose another file, or pass --overwrite to replace it")
    path = str(Path(input_path).resolve()) if "://" not in str(input_path) else str(input_path)
    proposal = replace(propose(read_sample(path, fmt, rows, delimiter), path, fmt), delimiter=delimiter)
    text = render(proposal, out.resolve().parent)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return proposal
