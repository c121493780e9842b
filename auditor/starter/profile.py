"""`auditor init`, reading and profiling: a bounded sample of the log and what each column looks like.

Reads the schema and the first rows (pyarrow for Parquet, the csv and json modules for text)
and profiles each column: type, distinct values, nulls, how often it is constant within a user.
"""

from __future__ import annotations

import csv
import glob
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from auditor.errors import AuditConfigError, AuditInputError
from auditor.spec import FORMATS

SAMPLE_ROWS = 20_000
MAX_SEGMENT_VALUES = 12  # a user attribute with more values than this is numeric (a dose) or not a segment

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

def name_words(name: str) -> list[str]:
    """A column name's words, split at _ - . space and case changes."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    return [w for w in re.split(r"[\s_\-.]+", spaced.lower()) if w]


def name_score(name: str, role: str) -> int:
    """How many of a role's hints the column name holds (whole words, or Chinese substrings)."""
    parts = name_words(name)
    score = 0
    for hint in _HINTS[role]:
        if hint.isascii():
            score += sum(1 for w in parts if w == hint or (len(hint) > 3 and w.startswith(hint)))
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


def constancy(typed: dict[str, pd.Series], user: str, column: str) -> float | None:
    """Share of users with two or more sampled rows whose rows all hold one value of `column`."""
    frame = pd.DataFrame({"user": typed[user].astype(str), "value": typed[column].astype(str)})
    frame = frame[typed[user].notna().to_numpy()]
    sizes = frame.groupby("user")["value"].size()
    repeat = sizes[sizes >= 2].index
    if len(repeat) == 0:
        return None
    distinct = frame[frame["user"].isin(repeat)].groupby("user")["value"].nunique()
    return float((distinct == 1).mean())


def guess_format(path: str) -> str:
    """parquet, csv or json from the input's file names; ask for --format when they do not say."""
    names = [path] if not os.path.isdir(path) else [str(p) for p in Path(path).rglob("*") if p.is_file()]
    for fmt, endings in (("parquet", (".parquet", ".parq")), ("csv", (".csv", ".csv.gz", ".tsv")),
                         ("json", (".json", ".jsonl", ".ndjson", ".json.gz"))):
        if any(n.lower().endswith(endings) for n in names):
            return fmt
    raise AuditConfigError(f"--input {path}: the file names do not say the format: pass --format parquet, csv or json")
