"""The `personalisation` block of findings.json and its verdict sentence, in both report languages.

Built from the statistics (auditor.stats.personal) alone: no Spark, no report. Numbers are written as
JSON numbers (log-scale sds and variances as they are, premiums as fractions: 0.03 is 3 %); what is
not defined is null. The sentence reads the block, never the statistics, so an archived findings.json
renders the same words.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from auditor.stats.personal import (Attribution, AttributionSample, Dispersion, Persistence, PersonalSums, attribution,
                                    ScannedColumn, dispersion_from, persistence_from, read)
from auditor.findings.personal_model import Personalisation
from auditor.vocabulary import READINGS, Reading

SCHEMA = 1


@dataclass(frozen=True)
class PersonalisationFinding:
    """The personalisation analysis of one audit, as findings.json holds it."""

    reading: Reading
    dispersion: Dispersion
    persistence: Persistence
    attribution: Attribution | None
    split: str  # the unit each user's purchases are split by: "week" or "cell"
    alpha: float
    materiality: float
    sample_users: int | None = None  # users whose purchases the attribute tests read
    sample_share: float | None = None  # their share of the users (1 when all were read)
    scanned: tuple[ScannedColumn, ...] = ()  # every column the attribute search looked at, kept or not
    split_requested: str | None = None  # [personalisation] split (auto: week when the log allows, else day)
    disclosure_column: str | None = None  # [columns] disclosed: this finding reads the undisclosed purchases
    disclosed: PersonalisationFinding | None = None  # the same analysis of the disclosed purchases

    def to_json(self) -> dict:
        low, high = self.persistence.middle80
        detectable = self.persistence.detectable_sd
        block = {
            "schema": SCHEMA,
            "reading": str(self.reading),
            "split": self.split,
            "split_requested": self.split_requested,
            "seed": self.persistence.seed,
            "alpha": self.alpha,
            "materiality": self.materiality,
            "dispersion": {**asdict(self.dispersion), "spread": self.dispersion.spread},
            "persistence": {**{k: v for k, v in asdict(self.persistence).items() if k != "seed"},
                            "middle80_low": low, "middle80_high": high,
                            "detectable_middle80_high": math.expm1(1.2815515655446004 * detectable)
                            if not math.isnan(detectable) else None},
            "attributes": None if self.attribution is None else {
                "searched": list(self.attribution.scanned),
                "alpha": self.attribution.alpha,
                "values": [{**asdict(v), "premium": v.premium} for v in self.attribution.values],
                "columns": [asdict(c) for c in self.attribution.columns],
                "explained_share": self.attribution.explained_share,
                "sample_users": self.sample_users,
                "sample_share": self.sample_share,
            },
            # What the search looked at: each column of the log but the roles and match keys, with its
            # users, the share constant within them, about how many values, and why it was kept or not.
            "scan": [{**asdict(c), "kept": c.kept} for c in self.scanned],
            # With [columns] disclosed the analysis above is of the purchases whose price was not disclosed
            # as personalised (the case the 2026 rules and the CPL Implementing Regulations Art. 9 concern);
            # `disclosed` holds the same analysis of the disclosed ones.
            "disclosure": None if self.disclosure_column is None else {
                "column": self.disclosure_column,
                "purchases_undisclosed": self.dispersion.purchases,
                "purchases_disclosed": self.disclosed.dispersion.purchases if self.disclosed else 0,
                "disclosed": None if self.disclosed is None else {
                    k: v for k, v in self.disclosed.to_json().items() if k not in ("scan", "disclosure", "schema")},
            },
        }
        return _clean(block)


def analyse(sums: PersonalSums, sample: AttributionSample | None, alpha: float, materiality: float,
            confidence: float = 0.95, scanned: tuple[ScannedColumn, ...] = ()) -> PersonalisationFinding:
    """The finding from the engine's sums and its sample of users (no Spark here)."""
    disp = dispersion_from(sums.dispersion)
    pers = persistence_from(sums.persistence, alpha=alpha, confidence=confidence, seed=sums.seed)
    attr = (attribution(sample.pairs, sample.attributes, sums.seed, alpha=alpha, block=sample.unit)
            if sample is not None and sample.attributes else None)
    return PersonalisationFinding(read(disp, pers, attr, alpha, materiality), disp, pers, attr, sums.split, alpha,
                                  materiality, sample.users if sample else None, sample.share if sample else None,
                                  tuple(scanned))


def _clean(value):
    """NaN as null, numpy scalars as Python numbers, recursively."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str) or isinstance(value, Reading):
        return value
    if isinstance(value, (int,)):
        return int(value)
    number = float(value)
    return None if math.isnan(number) else number


def _pct(value: float | None, signed: bool = True) -> str:
    """A fraction as a percentage with a true minus sign, or a dash when not defined (same in both languages)."""
    if value is None:
        return "—"
    text = f"{100 * value:+.1f} %" if signed else f"{100 * value:.1f} %"
    return text.replace("-", "−")


def sentence(block: Personalisation, language: str = "en", labels: dict[str, str] | None = None) -> str:
    """The verdict sentence that opens the report's findings, from the findings model's block.

    `labels` gives a column's display name in this language (the config's [labels]), else its id.
    """
    disclosure = block.disclosure
    zh = language == "zh-CN"
    if disclosure:
        main = _sentence(block, language, labels)
        n0, n1 = disclosure.purchases_undisclosed, disclosure.purchases_disclosed
        other = disclosure.disclosed
        label = READINGS[Reading(other.reading)].label(language) if other else "—"
        if zh:
            return (f"未告知个性化定价的购买（{n0:,} 笔可比购买）——{main} "
                    f"已告知消费者为个性化价格的购买（{n1:,} 笔）：{label}。")
        return (f"Purchases whose price was not disclosed as personalised ({n0:,} matched purchases) — {main} "
                f"Purchases disclosed as personalised ({n1:,}): {label}.")
    return _sentence(block, language, labels)


def _sentence(block: Personalisation, language: str, labels: dict[str, str] | None) -> str:
    reading = Reading(block.reading)
    name = READINGS[reading].label(language)
    detail = _DETAILS.get(reading, _too_few)(block, language == "zh-CN", labels or {})
    return f"{name}：{detail}" if language == "zh-CN" else f"{name}: {detail}"


def _persistent(block: Personalisation, zh: bool, labels: dict[str, str]) -> str:
    """A persistent spread, explained by columns or not: how far apart the middle 80 % of users pay."""
    pers = block.persistence
    sd = _pct(pers.sd, signed=False)
    low, high = _pct(pers.middle80_low), _pct(pers.middle80_high)
    interval = f"{_pct(pers.sd_low, False)}–{_pct(pers.sd_high, False)}"
    p = pers.p_value
    p_text = "p < 0.001" if p is not None and p < 0.001 else f"p = {p:.3f}"
    if zh:
        detail = (f"中间 80 % 的用户在相同交易中相对其他用户支付 {low} 至 {high}"
                  f"（持续性用户溢价的标准差 {sd}，95 % 区间 {interval}；{p_text}）。")
    else:
        detail = (f"the middle 80 % of users pay between {low} and {high} relative to other users for the same "
                  f"purchase (spread of persistent user premiums {sd}, 95 % interval {interval}; {p_text}).")
    if Reading(block.reading) is Reading.EXPLAINED and block.attributes:
        detail += _explained_by(block, zh, labels)
    return detail


def _explained_by(block: Personalisation, zh: bool, labels: dict[str, str]) -> str:
    """The confirmed columns, each with its share of the persistent spread."""
    named = sorted({v.column for v in block.attributes.values if v.confirmed})
    shares = {c.column: c.share for c in block.attributes.columns}
    parts = [f"{labels.get(c, c)} ({_pct(shares.get(c), False)})" for c in named]
    return (f" 可解释的字段（占持续性差异的比例）：{'、'.join(parts)}。" if zh
            else f" Explained by (share of the persistent spread): {', '.join(parts)}.")


def _dispersion_only(block: Personalisation, zh: bool, labels: dict[str, str]) -> str:
    """Prices spread within cells, but no user pays persistently more."""
    pers, disp = block.persistence, block.dispersion
    p10, p90 = _pct(disp.p10), _pct(disp.p90)
    noise = _pct(disp.noise_sd, signed=False)
    detectable = _pct(pers.detectable_sd, signed=False)
    if zh:
        return (f"相同交易中，10 % 至 90 % 的购买相对同单元其他用户的价格差在 {p10} 至 {p90} 之间"
                f"（同一用户重复购买的波动 {noise}）；可检测的最小持续性标准差为 {detectable}。")
    return (f"for the same purchase, the 10th to 90th percentile of what users pay relative to the cell's other "
            f"users runs from {p10} to {p90} (a user's own repeats vary by {noise}); no persistent spread of "
            f"{detectable} or more was found.")


def _none_material(block: Personalisation, zh: bool, labels: dict[str, str]) -> str:
    detectable = _pct(block.persistence.detectable_sd, signed=False)
    return (f"这些数据可检测到的最小持续性用户溢价标准差为 {detectable}。" if zh else
            f"the smallest spread of persistent user premiums this data could have detected is {detectable}.")


def _too_few(block: Personalisation, zh: bool, labels: dict[str, str]) -> str:
    users = block.persistence.users or 0
    return (f"在两半购买记录中都与他人同处可比单元的用户有 {users:,} 位。" if zh else
            f"{users:,} users bought in cells shared with others in both halves of their purchases.")


# What the sentence says after the reading's name; a reading not listed had too few users to say more.
_DETAILS = {
    Reading.UNEXPLAINED: _persistent,
    Reading.EXPLAINED: _persistent,
    Reading.DISPERSION_ONLY: _dispersion_only,
    Reading.NONE_MATERIAL: _none_material,
}
