"""The findings model: one frozen type for each thing findings.json holds about a comparison.

A `Finding` is built by auditor.findings.build (and given its checks by auditor.findings.sensitivity),
written by `to_json` and read back by auditor.findings.load into the same types: the report, `compare`,
the notebook and the CLI read attributes, never a dict. Kind-specific parts (a dose's range and bands,
a share's odds ratio, steering's tier shift) and the robustness checks are optional parts of the
finding, written flat beside its other fields as findings.json always held them.

Numbers that are undefined are NaN when the audit builds a finding and None when it is read back
(JSON has no NaN); the report treats both alike.
"""

from __future__ import annotations

import math
from dataclasses import MISSING, dataclass, field, fields
from enum import Enum

OMIT = {"omit": True}  # a field written only when it has a value (older files and other kinds lack it)


def plain(obj) -> dict:
    """A flat model object as a JSON object: its fields in order (nested model objects as theirs)."""
    out = {}
    for f in fields(obj):
        value = getattr(obj, f.name)
        if value is None and f.metadata.get("omit"):
            continue
        out[f.name] = to_plain(value)
    return out


def to_plain(value):
    if hasattr(value, "to_json"):
        return value.to_json()
    if isinstance(value, (tuple, list)):
        return [to_plain(v) for v in value]
    return value


def frozen(value):
    """A JSON value with its arrays as tuples (the model is immutable)."""
    if isinstance(value, list):
        return tuple(frozen(v) for v in value)
    return value


def read(cls, doc, **parts):
    """`cls` from a JSON object: each field from its key, `parts` already converted; a missing key takes the
    field's default, or None. Anything but an object is None."""
    if not isinstance(doc, dict):
        return None
    values = {}
    for f in fields(cls):
        if f.name in parts:
            values[f.name] = parts[f.name]
        elif f.name in doc:
            values[f.name] = frozen(doc[f.name])
        elif f.default is not MISSING:
            values[f.name] = f.default
        elif f.default_factory is not MISSING:
            values[f.name] = f.default_factory()
        else:
            values[f.name] = None
    return cls(**values)


def read_all(cls, items) -> tuple:
    """A tuple of `cls` from a JSON array (items that are not objects are left out)."""
    return tuple(x for x in (cls.from_json(i) for i in items or () if isinstance(i, dict)) if x is not None)


def clean(value):
    """NaN and infinity are not JSON: undefined numbers are written as null. Vocabulary members
    (verdicts, reasons, scales) are written as their plain ids."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    return value


class Plain:
    """A flat part of the model: written and read field by field."""

    def to_json(self) -> dict:
        return plain(self)

    @classmethod
    def from_json(cls, doc):
        return read(cls, doc)


@dataclass(frozen=True)
class Analytic(Plain):
    """The simple CR1 result, shown beside the calibrated one."""

    method: str | None = None
    premium: float | None = None
    se_log: float | None = None
    p_value: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None


@dataclass(frozen=True)
class RankTest(Plain):
    """Van Elteren's stratified rank test, with the same user-clustered jackknife."""

    p_value: float | None = None
    effect: float | None = None
    agrees: bool | None = None


@dataclass(frozen=True)
class ClusterWeight(Plain):
    """How the comparison's weight is spread over users (see findings.build.cluster_weight)."""

    effective_users: float | None = None
    top_share: float | None = None
    top5_share: float | None = None
    top_pull: float | None = None
    few_users_carry: bool | None = None


@dataclass(frozen=True)
class Decomposition(Plain):
    """Kitagawa–Oaxaca split of the raw gap in log points: unmatched + mix + price (group-weighted)."""

    raw: float | None = None
    unmatched: float | None = None
    mix: float | None = None
    price_group_weighted: float | None = None


@dataclass(frozen=True)
class Evidence(Plain):
    """One published cell: its keys, time bucket (ISO, in the input's time zone), rows, users and medians."""

    keys: dict = field(default_factory=dict)
    time_bucket: str | None = None
    rows_group: int | None = None
    rows_reference: int | None = None
    users_group: int | None = None
    users_reference: int | None = None
    median_group: float | None = None
    median_reference: float | None = None
    weight_share: float | None = None

    def to_json(self) -> dict:
        return {**plain(self), "keys": dict(self.keys)}

    @classmethod
    def from_json(cls, doc):
        return read(cls, doc, keys=dict(doc.get("keys") or {})) if isinstance(doc, dict) else None


@dataclass(frozen=True)
class DoseRange(Plain):
    """A dose slope stated over the dose's range (lowest band's lower edge to the highest's)."""

    low: float | None = None  # "from" in findings.json
    to: float | None = None
    doublings: float | None = None
    materiality_per_doubling: float | None = None
    premium: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None

    def to_json(self) -> dict:
        out = plain(self)
        return {"from": out.pop("low"), **out}

    @classmethod
    def from_json(cls, doc):
        return read(cls, doc, low=doc.get("from")) if isinstance(doc, dict) else None


@dataclass(frozen=True)
class DoseBand(Plain):
    """One band of a dose against the lowest band."""

    band: str | None = None
    reference_band: str | None = field(default=None, metadata=OMIT)
    premium: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    rows: int | None = None
    users: int | None = field(default=None, metadata=OMIT)


@dataclass(frozen=True)
class Dose(Plain):
    """A dose finding's slope per doubling, over its range, and its curve by band."""

    per_doubling: float | None = None
    over_range: DoseRange | None = None
    bands: tuple[DoseBand, ...] = ()

    @classmethod
    def from_json(cls, doc: dict):
        if not any(k in doc for k in ("per_doubling", "over_range", "bands")):
            return None
        return cls(doc.get("per_doubling"), DoseRange.from_json(doc.get("over_range")),
                   read_all(DoseBand, doc.get("bands")))


@dataclass(frozen=True)
class Share(Plain):
    """A share outcome's (conversion, upsell) odds ratio and matched shares."""

    odds_ratio: float | None = None
    share_group: float | None = None
    share_reference: float | None = None

    @classmethod
    def from_json(cls, doc: dict):
        return read(cls, doc) if "odds_ratio" in doc else None


@dataclass(frozen=True)
class Steering(Plain):
    """Steering's test on the offered tier itself, beside its implied price gap."""

    tier_shift: float | None = None
    tier_shift_se: float | None = None
    tier_p_value: float | None = None
    tier_order: tuple[str, ...] = ()
    option_column: str | None = None

    @classmethod
    def from_json(cls, doc: dict):
        return read(cls, doc) if any(k in doc for k in ("tier_shift", "tier_p_value")) else None


@dataclass(frozen=True)
class LeftOut(Plain):
    """The value of a match key a sensitivity row leaves out."""

    column: str | None = None
    value: object = None


@dataclass(frozen=True)
class SensitivityRow(Plain):
    """One re-estimate of a flagged finding under a changed matching rule (or a left-out value)."""

    change: str = ""  # in words, as the audit names it
    kind: str | None = field(default=None, metadata=OMIT)  # leave_out, bins_halved, ... (older files: none)
    bins_factor: float | None = field(default=None, metadata=OMIT)
    time_bucket_factor: float | None = field(default=None, metadata=OMIT)
    time_bucket_seconds: int | None = field(default=None, metadata=OMIT)
    left_out: LeftOut | None = field(default=None, metadata=OMIT)
    premium: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    rows: int | None = None
    estimable: bool = True  # older files: every change was estimated
    unestimable_reason: str | None = None
    flagged: bool | None = None

    @classmethod
    def from_json(cls, doc):
        if not isinstance(doc, dict):
            return None
        return read(cls, doc, left_out=LeftOut.from_json(doc.get("left_out")),
                    estimable=doc.get("estimable") is not False)


@dataclass(frozen=True)
class BalanceCheck(Plain):
    """Standardized mean difference of one position measure within the matched cells."""

    measure: str | None = None  # "time_bucket" or a binned column
    mean_group: float | None = None
    mean_reference: float | None = None
    difference: float | None = None
    smd: float | None = None
    variance_ratio: float | None = None
    balanced: bool = True


@dataclass(frozen=True)
class RobustReason(Plain):
    """Why a flag is not robust (a vocabulary.RobustnessReason), with the numbers behind it."""

    reason: str = ""
    changes: tuple[str, ...] | None = field(default=None, metadata=OMIT)
    measure: str | None = field(default=None, metadata=OMIT)
    smd: float | None = field(default=None, metadata=OMIT)
    time_bucket_seconds: int | None = field(default=None, metadata=OMIT)
    premium: float | None = field(default=None, metadata=OMIT)
    original_premium: float | None = field(default=None, metadata=OMIT)
    ci_low: float | None = field(default=None, metadata=OMIT)
    ci_high: float | None = field(default=None, metadata=OMIT)
    calibrated_p_value: float | None = field(default=None, metadata=OMIT)
    alpha: float | None = field(default=None, metadata=OMIT)


@dataclass(frozen=True)
class CurveStep(Plain):
    """The premium at one time window of the timing curve (`audit`: the audit's own window)."""

    time_bucket_seconds: int | None = None
    premium: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    coverage: float | None = None
    rows: int | None = None
    cells: int | None = None
    audit: bool = False


@dataclass(frozen=True)
class Robustness:
    """A flag's checks: sensitivity rows, balance, the timing curve, and whether the flag held. A flag judged
    against the self-check alone (a dose, steering) has no rows, balance or curve (None)."""

    sensitivity: tuple[SensitivityRow, ...] | None = None
    balance: tuple[BalanceCheck, ...] | None = None
    robust: bool | None = None
    robust_reasons: tuple[RobustReason, ...] = ()
    variants_estimable: int | None = None
    variants_unestimable: int | None = None
    time_curve: tuple[CurveStep, ...] = ()
    time_curve_stop: str | None = None  # coverage | resolution | unestimable | limit
    time_curve_min_coverage: float | None = None

    def to_json(self) -> dict:
        out = {}
        if self.sensitivity is not None:
            out["sensitivity"] = to_plain(self.sensitivity)
        if self.balance is not None:
            out["balance"] = to_plain(self.balance)
        out.update(robust=self.robust, robust_reasons=to_plain(self.robust_reasons))
        if self.sensitivity is not None:
            out.update(variants_estimable=self.variants_estimable, variants_unestimable=self.variants_unestimable)
        if self.time_curve:
            out.update(time_curve=to_plain(self.time_curve), time_curve_stop=self.time_curve_stop,
                       time_curve_min_coverage=self.time_curve_min_coverage)
        return out

    @classmethod
    def from_json(cls, doc: dict):
        if not any(k in doc for k in ("robust", "sensitivity")):
            return None
        rows = doc.get("sensitivity")
        return cls(read_all(SensitivityRow, rows) if isinstance(rows, list) else None,
                   read_all(BalanceCheck, doc.get("balance")) if isinstance(doc.get("balance"), list) else None,
                   doc.get("robust"), read_all(RobustReason, doc.get("robust_reasons")),
                   doc.get("variants_estimable"), doc.get("variants_unestimable"),
                   read_all(CurveStep, doc.get("time_curve")), doc.get("time_curve_stop"),
                   doc.get("time_curve_min_coverage"))
