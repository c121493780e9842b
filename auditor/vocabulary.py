"""The audit's vocabulary, defined once: report languages, comparison kinds, scales, outcomes, verdicts,
reject reasons, insufficient-data reasons and robustness reasons.

Every other place reads from here — the config (languages), ingest (reject reasons), findings and
sensitivity (verdicts, reasons, which outcomes are shares), the report and its templates (labels in
each language; the templates get these registries as globals), the legal mapping (reports/legal.toml
names outcomes and kinds from these registries, checked by a test) and the README's tables. Adding an
outcome is one `Outcome` entry here plus its Spark expression in the estimator. This module imports
nothing from Spark or the report.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# The report languages (`[report] language`, `--language`, display names in `[labels]`).
LANGUAGES = ("en", "zh-CN")


@dataclass(frozen=True)
class Label:
    """A display text in each report language."""

    en: str
    zh_CN: str

    def __call__(self, language: str) -> str:
        return self.zh_CN if language == "zh-CN" else self.en


class Kind(StrEnum):
    """What shape of comparison a finding (or a comparison behind one) is."""

    GROUP = "group"  # a segment value against its reference value
    DOSE = "dose"  # price against a numeric user attribute (the loyalty penalty)
    STEERING = "steering"  # the mix of options offered for the same request
    BAND = "band"  # a band of a dose attribute against the lowest band: draws the dose curve, not a finding


# The kinds that are findings: they enter the audit's false-discovery-rate family.
FINDING_KINDS = (Kind.GROUP, Kind.DOSE, Kind.STEERING)


class Scale(StrEnum):
    RATIO = "ratio"  # premium = exp(beta) - 1
    DIFFERENCE = "difference"  # premium = difference in shares


@dataclass(frozen=True)
class Outcome:
    """One thing a comparison measures: its id (findings.json `outcome`), scale and words.

    `noun` names the quantity inside a sentence ("the coupon amount was 5 % lower");
    `label` is the short name for tables and the card's "Measured" line.
    """

    id: str
    scale: Scale
    label: Label
    noun: Label
    purchase: bool = False  # a price actually paid: the sentence says "paid more / less"


OUTCOMES: dict[str, Outcome] = {o.id: o for o in (
    Outcome("price", Scale.RATIO, Label("price paid", "实付价格"), Label("price paid", "实付价格"), purchase=True),
    Outcome("list_price", Scale.RATIO, Label("list price", "标价"), Label("list price", "标价")),
    Outcome("coupon_incidence", Scale.DIFFERENCE, Label("chance of receiving a coupon", "获得优惠券的概率"),
            Label("share of purchases with a coupon", "带优惠券的交易比例")),
    Outcome("coupon_amount", Scale.RATIO, Label("coupon amount", "优惠券金额"),
            Label("coupon amount", "优惠券金额")),
    Outcome("price_undeclared", Scale.RATIO,
            Label("price paid, declared promotions left out", "实付价格（不含已声明的合法优惠）"),
            Label("price paid outside declared promotions", "已声明优惠以外的实付价格"), purchase=True),
    Outcome("quote_drift", Scale.RATIO, Label("change from the quoted to the final price", "从报价到成交价的变动"),
            Label("rise from the quoted to the final price", "从报价到成交价的涨幅")),
    Outcome("conversion", Scale.DIFFERENCE, Label("share of quotes that became purchases", "报价转化为交易的比例"),
            Label("share of quotes that became purchases", "报价转化为交易的比例")),
    Outcome("price_per_doubling", Scale.RATIO, Label("price paid, per doubling of 1 + the attribute",
                                                     "1 + 属性值每翻一番时的实付价格"),
            Label("price paid", "实付价格"), purchase=True),
    Outcome("offered_tier_price", Scale.RATIO,
            Label("expected price of the options offered", "所提供选项的预期价格"),
            Label("expected price of the options offered", "所提供选项的预期价格")),
    # Older findings files carried a separate net price; kept so archived reports still read.
    Outcome("net_price", Scale.RATIO, Label("net price after discounts", "扣除优惠后的净价"),
            Label("net price after discounts", "扣除优惠后的净价"), purchase=True),
)}

SHARE_OUTCOMES = tuple(o.id for o in OUTCOMES.values() if o.scale is Scale.DIFFERENCE)
# The outcome a dose or steering finding is measured on (findings.json `outcome`).
KIND_OUTCOME = {Kind.DOSE: "price_per_doubling", Kind.STEERING: "offered_tier_price"}


def outcome(outcome_id: str | None) -> Outcome:
    """The registry entry for an outcome id; an unknown id (a newer findings file) reads as itself."""
    if outcome_id in OUTCOMES:
        return OUTCOMES[outcome_id]
    text = str(outcome_id or "price")
    return Outcome(text, Scale.RATIO, Label(text, text), Label(text, text))


class Verdict(StrEnum):
    """One verdict per comparison (findings.json `verdict`), most serious first: the report lists findings
    in this order. "cleared" is not "excluded": the data show the premium is within the immaterial band.
    "flagged_not_robust": significant and material, but the premium does not survive its own robustness
    checks (auditor.findings.sensitivity); a reader is told what to check before acting on it."""

    FLAGGED = "flagged"
    FLAGGED_NOT_ROBUST = "flagged_not_robust"
    SIGNIFICANT_BELOW_MATERIALITY = "significant_below_materiality"
    INCONCLUSIVE = "inconclusive"
    NO_EVIDENCE = "no_evidence"  # older findings files only
    CLEARED = "cleared"
    INSUFFICIENT_DATA = "insufficient_data"

    @property
    def id(self) -> str:
        return self.value

    @property
    def rank(self) -> int:
        """0 for the most serious."""
        return list(Verdict).index(self)

    @property
    def label(self) -> Label:
        return _VERDICT_LABELS[self]


_VERDICT_LABELS = {
    Verdict.FLAGGED: Label("Flagged", "已标记"),
    Verdict.FLAGGED_NOT_ROBUST: Label("Flagged, not robust", "显著但不稳健，需复核"),
    Verdict.SIGNIFICANT_BELOW_MATERIALITY: Label("Significant, below materiality", "显著，但未达实质性阈值"),
    Verdict.INCONCLUSIVE: Label("Inconclusive", "无法定论"),
    Verdict.NO_EVIDENCE: Label("No evidence of a premium", "无溢价证据"),
    Verdict.CLEARED: Label("Cleared", "已证实无实质差异"),
    Verdict.INSUFFICIENT_DATA: Label("Too little data", "数据过少"),
}

VERDICTS: dict[str, Verdict] = {v.value: v for v in Verdict}
# The verdicts the current estimator gives (no_evidence only appears in older files).
CURRENT_VERDICTS = tuple(v for v in Verdict if v is not Verdict.NO_EVIDENCE)
# Verdicts whose premium passed the audit's flag rule (findings.json `flagged` is true): robust or not.
FLAG_VERDICTS = (Verdict.FLAGGED, Verdict.FLAGGED_NOT_ROBUST)


@dataclass(frozen=True)
class UnknownVerdict:
    """A verdict this version does not know (a newer findings file): it reads as itself, after the known ones."""

    id: str
    rank: int
    label: Label


def verdict(verdict_id: str | None) -> Verdict | UnknownVerdict:
    if verdict_id in VERDICTS:
        return VERDICTS[verdict_id]
    text = str(verdict_id)
    return UnknownVerdict(text, len(VERDICTS), Label(text, text))


class InsufficientReason(StrEnum):
    """Why a comparison is insufficient_data (findings.json `insufficient_reason`), checked in this order:
    no cell holds both sides; a side (a dose: all users) has fewer than test.min_users users; fewer than
    test.min_cells cells; the weight is worth fewer than MIN_EFFECTIVE_USERS equal users (G*); or the
    counts pass but no estimate exists (e.g. one user carries all the support). A sensitivity re-estimate
    may also have no purchases of a side left at all (no_group_rows, no_reference_rows)."""

    NO_GROUP_ROWS = "no_group_rows"  # sensitivity re-estimates only
    NO_REFERENCE_ROWS = "no_reference_rows"  # sensitivity re-estimates only
    NO_COMMON_SUPPORT = "no_common_support"
    TOO_FEW_USERS_GROUP = "too_few_users_group"
    TOO_FEW_USERS_REFERENCE = "too_few_users_reference"
    TOO_FEW_USERS = "too_few_users"
    TOO_FEW_CELLS = "too_few_cells"
    TOO_FEW_EFFECTIVE_USERS = "too_few_effective_users"
    NOT_ESTIMABLE = "not_estimable"


class RobustnessReason(StrEnum):
    """Why a flagged finding is not robust (findings.json `robustness.reasons[].reason`), most telling first."""

    # The self-check failed (the test rejects random splits too often on these users) and, against those
    # splits, the premium is not significant: the flag rests on a reference the data have refuted.
    NOT_SIGNIFICANT_CALIBRATED = "not_significant_calibrated"
    EXPLAINED_BY_TIMING = "explained_by_timing"  # the premium goes as the time window narrows to the minute
    SHRINKS_WITH_WINDOW = "shrinks_with_window"  # it shrinks steadily as the window narrows
    TIME_BUCKET_MOVES = "time_bucket_moves"  # a halved or doubled time bucket moves it out of its interval
    IMBALANCE = "imbalance"  # the matched purchases sit at different times within their bucket or bin
    LOSES_FLAG = "loses_flag"  # a reasonable change loses the flag and moves the premium out of its interval


class RejectReason(StrEnum):
    """Why ingest rejected a row (findings.json `data_quality.rejected_by_reason`), in the order ingest checks."""

    MALFORMED_RECORD = "malformed_record"
    MISSING_VALUE = "missing_value"
    UNPARSEABLE_NUMBER = "unparseable_number"
    UNPARSEABLE_TIMESTAMP = "unparseable_timestamp"
    NONPOSITIVE_PRICE = "nonpositive_price"
    DUPLICATE_TRANSACTION_ID = "duplicate_transaction_id"


REJECT_REASONS: dict[str, Label] = {
    RejectReason.MALFORMED_RECORD: Label("malformed record", "格式错误的记录"),
    RejectReason.MISSING_VALUE: Label("missing value in a required column", "必填列缺少取值"),
    RejectReason.UNPARSEABLE_NUMBER: Label("price or binned value not a number", "价格或分箱字段不是数字"),
    RejectReason.UNPARSEABLE_TIMESTAMP: Label("timestamp not a date-time", "时间戳不是有效的日期时间"),
    RejectReason.NONPOSITIVE_PRICE: Label("price zero or negative", "价格为零或负数"),
    RejectReason.DUPLICATE_TRANSACTION_ID: Label("duplicate transaction id (first copy kept)",
                                                 "交易编号重复（保留第一条）"),
}


def reject_reason(reason: str) -> Label:
    return REJECT_REASONS.get(reason) or Label(reason, reason)


class Reading(StrEnum):
    """What "is pricing personalised?" found, in one word (findings.json `personalisation.reading`)."""

    NONE_MATERIAL = "no_material_personalisation"
    DISPERSION_ONLY = "dispersion_without_persistence"
    EXPLAINED = "persistent_explained"
    UNEXPLAINED = "persistent_unexplained"
    INSUFFICIENT = "insufficient_data"


@dataclass(frozen=True)
class ReadingText:
    """A reading's name and what it means for the officer, in each report language."""

    label: Label
    meaning: Label


READINGS: dict[Reading, ReadingText] = {
    Reading.NONE_MATERIAL: ReadingText(
        Label("No material personalisation found", "未发现实质性的个性化定价"),
        Label("Different users paid the same for the same purchase, within the noise of their own repeated "
              "purchases, and no user paid persistently more.",
              "同一商品在相同条件下，不同用户支付的价格差异未超出其本人重复购买的正常波动，也没有用户持续多付。")),
    Reading.DISPERSION_ONLY: ReadingText(
        Label("Prices differ between users, but not persistently", "用户间价格存在差异，但不具持续性"),
        Label("Different users paid different prices for the same purchase, but not the same users each time: "
              "consistent with randomised price tests or noise, not with prices set on a user's traits.",
              "同一商品在相同条件下不同用户支付的价格不同，但并非每次都是同一批用户多付：这与随机价格测试或随机波动相符，"
              "而不符合依据用户特征定价。")),
    Reading.EXPLAINED: ReadingText(
        Label("Persistent personalisation, explained by columns in the log", "持续的个性化定价，可由日志中的字段解释"),
        Label("The same users paid more each time, and attributes recorded in the log account for most of it: "
              "pricing targeted on those attributes. The segment findings below follow them.",
              "同一批用户每次都支付更高价格，且日志中记录的用户属性可解释其中大部分：即依据这些属性的定向定价。"
              "下文的分组结论据此展开。")),
    Reading.UNEXPLAINED: ReadingText(
        Label("Persistent personalisation, mostly not explained by the columns in the log",
              "持续的个性化定价，日志中的字段无法解释其大部分"),
        # "Mostly": a column may explain part of it (read.explained: under half), and the table of
        # attributes beside the reading says which; the rest is what the platform must account for.
        Label("The same users paid more each time, and the columns in the log account for less than half of it: "
              "the platform may price on something it does not log (for example a willingness-to-pay score). "
              "The officer may ask the platform for the features its pricing uses.",
              "同一批用户每次都支付更高价格，而日志中的字段只能解释其中不到一半：平台可能依据未记录的信息定价"
              "（例如支付意愿评分）。执法人员可要求平台说明其定价所用的特征。")),
    Reading.INSUFFICIENT: ReadingText(
        Label("Too little data to tell", "数据过少，无法判断"),
        Label("Too few users bought in cells shared with others, or too few bought in both halves of their "
              "purchases, to measure whether pricing is personalised.",
              "与他人处于同一可比单元的用户过少，或在两半购买记录中都有购买的用户过少，无法判断定价是否个性化。")),
}
