"""The report section "Is pricing personalised?": the verdict sentence, one chart, one table.

Rendered from findings.json's `personalisation` block alone, as the findings model holds it
(auditor.findings.personal_model.Personalisation), so an archived audit renders the same section. The template (reports/templates/personal.html.j2) only
formats what this module prepares; the chart follows auditor.charts (inline SVG, text as text).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import jinja2
import numpy as np
from markupsafe import Markup, escape

from auditor.report.charts import INK, _figure, _percent_axis, _svg
from auditor.findings.personal import sentence
from auditor.findings.personal_model import Personalisation
from auditor.report.legal import for_reading
from auditor.vocabulary import Label

Z80 = 1.2815515655446004
TEXT = {
    "title": Label("Is pricing personalised?", "定价是否个性化？"),
    "chart_title": Label("Spread of persistent user premiums", "持续性用户溢价的分布"),
    "xlabel": Label("what a user pays relative to other users for the same purchase",
                    "相同交易中用户相对其他用户支付的价格差"),
    "estimate": Label("estimated spread", "估计的分布"),
    "bounds": Label("interval of the spread", "分布的区间"),
    "middle80": Label("middle 80 % of users", "中间 80 % 的用户"),
    "materiality": Label("within materiality", "实质性阈值以内"),
    "detectable": Label("smallest spread the data could detect", "数据可检测的最小分布"),
    "column": Label("column", "字段"),
    "value": Label("value", "取值"),
    "users": Label("users", "用户数"),
    "premium": Label("premium against the other users (confirmation half)", "相对其他用户的溢价（验证半数用户）"),
    "share": Label("share of the persistent spread (column)", "占持续性差异的比例（字段）"),
    "confirmed": Label("confirmed", "已验证"),
    "yes": Label("yes", "是"),
    "no": Label("no", "否"),
    "searched": Label("Columns searched as user attributes (values)", "作为用户属性检索的字段（取值数）"),
    "skipped": Label("Also looked at, not searched", "同时查看但未检索的字段"),
    "varies_within_users": Label("varies within users", "同一用户内取值不一"),
    "too_many_values": Label("about {values:,} values", "约 {values:,} 个取值"),
    "one_value": Label("one value", "仅一个取值"),
    "empty": Label("empty", "无取值"),
    "split_day": Label(
        "Each user's purchases are split into two halves by day{why}: a price test whose arms last longer than a "
        "day (a weekly arm) reads as persistence here.",
        "每位用户的购买按天分为两半{why}：持续时间超过一天的价格测试分组（如按周分组）在此会被读作持续性差异。"),
    "split_day_why": Label(" (the log spans too few weeks to split by week)", "（日志跨越的周数不足以按周划分）"),
    "split_cell": Label(
        "Each user's purchases are split into two halves by cell: a price test whose arm spans several cells "
        "reads as persistence here.",
        "每位用户的购买按可比单元分为两半：跨越多个单元的价格测试分组在此会被读作持续性差异。"),
    "may_concern": Label("May concern", "可能涉及"),
    "may_concern_disclosed": Label("For the purchases disclosed as personalised, may concern",
                                   "对已告知为个性化价格的购买，可能涉及"),
    "disclosure_unknown": Label(
        "Whether consumers were told a price was personalised is not in the log (set [columns] disclosed): "
        "provisions on undisclosed prices are listed as they would apply to undisclosed ones.",
        "日志中没有是否告知消费者价格为个性化的信息（可设置 [columns] disclosed）：涉及未告知价格的条款按未告知情形列出。"),
    "none_searched": Label("No user-level column was searched.", "未检索任何用户级字段。"),
    "dispersion": Label(
        "Purchases priced above other users' for the same purchase by more than materiality: {above}; below: "
        "{below}. A user's own repeats in one cell vary by {noise}.",
        "相同交易中价格高于其他用户且超过实质性阈值的购买占 {above}，低于的占 {below}；同一用户在同一单元内重复购买的波动为 {noise}。"),
}


@dataclass(frozen=True)
class AttributeRow:
    column: str
    value: str
    users: int
    premium: str
    share: str
    confirmed: str


def _size(value: float | None) -> float:
    """A spread to draw: an undefined one (None once read back, NaN as built) draws as none."""
    return 0.0 if value is None or math.isnan(value) else value


def _pct(value, signed: bool = True) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    if abs(value) < 0.0005:  # rounds to zero: no sign ("−0.0%" reads as a negative share)
        value = 0.0
    return (f"{100 * value:+.1f}%" if signed else f"{100 * value:.1f}%").replace("-", "−")


def _name(column: str, labels: dict[str, str] | None) -> str:
    """A column's display name (the config's [labels]), else its id."""
    return labels[column] if labels and column in labels else column


def _confirmation_size(value: float | None) -> float:
    """How far a value's confirmed premium is from none (undefined: none), for the table's order."""
    return 0.0 if value is None or math.isnan(value) else abs(value)


def attribute_rows(block: Personalisation, language: str, labels: dict[str, str] | None = None,
                   value_label=None) -> list[AttributeRow]:
    """The table: each value scanned, confirmed first, then by the size of its premium."""
    attributes = block.attributes
    if attributes is None:
        return []
    shares = {c.column: c.share for c in attributes.columns}
    values = sorted(attributes.values, key=lambda v: (not v.confirmed, -_confirmation_size(v.confirmation)))
    yes, no = TEXT["yes"](language), TEXT["no"](language)
    def shown(column: str, value: str) -> str:
        return value_label(column, value) if value_label else value

    return [AttributeRow(column=_name(v.column, labels), value=shown(v.column, v.value), users=v.users,
                         premium=_pct(v.premium), share=_pct(shares[v.column] if v.column in shares else None,
                                                             signed=False),
                         confirmed=yes if v.confirmed else no) for v in values]


def split_note(block: Personalisation, language: str) -> str:
    """What the halves were split by, when finer than a week: a test arm longer than the unit reads as persistence."""
    if block.split == "day":
        why = TEXT["split_day_why"](language) if block.split_requested == "auto" else ""
        return TEXT["split_day"](language).format(why=why)
    return TEXT["split_cell"](language) if block.split == "cell" else ""


def _shown(column: str, labels: dict[str, str] | None) -> Markup:
    """A column as the section names it: its label, or its id as code (an id is not a word of the report's
    language; the scan lists columns no config names)."""
    if labels and column in labels:
        return escape(labels[column])
    return Markup("<code>{}</code>").format(column)


def searched_columns(block: Personalisation, language: str, labels: dict[str, str] | None = None) -> list[Markup]:
    """The columns searched, each with its number of values."""
    return [Markup("{} ({})").format(_shown(c.column, labels), f"{c.values:,}") for c in block.scan if c.kept]


def skipped_columns(block: Personalisation, language: str, labels: dict[str, str] | None = None) -> list[Markup]:
    """The columns looked at and not searched, each with why (a column whose users' values differ is not a
    user attribute; identifiers and free text have too many values to test)."""
    return [Markup("{} ({})").format(_shown(c.column, labels), TEXT[c.why](language).format(values=c.values))
            for c in block.scan if not c.kept]


def _disclosure_note(block: Personalisation, language: str) -> Markup:
    """Without [columns] disclosed, what the provisions assume; the config key shown as code."""
    if block.disclosure is not None:
        return Markup("")
    key = "[columns] disclosed"
    return escape(TEXT["disclosure_unknown"](language)).replace(key, Markup("<code>{}</code>").format(key))


def spread_chart(block: Personalisation, *, chart_id: str, language: str, glyphs: set[str] | None = None) -> str:
    """The implied spread of users' persistent premiums: a normal curve of sd `persistence.sd`, its middle
    80 % filled, the curves of the interval's ends dashed, the materiality band hatched; when no
    persistence was found, the smallest spread the data could have detected, dotted."""
    pers = block.persistence
    materiality = block.materiality
    sd = _size(pers.sd)
    high = _size(pers.sd_high)
    detectable = _size(pers.detectable_sd)
    reach = max(3 * max(sd, high, detectable), 2 * math.log1p(materiality))
    x = np.linspace(-reach, reach, 401)
    fig, ax = _figure(2.4, language)
    ax.axvspan(math.log1p(-materiality), math.log1p(materiality), facecolor="none", edgecolor="#9a9a9a",
               hatch="///", linewidth=0, zorder=0, label=TEXT["materiality"](language))

    def density(s: float) -> np.ndarray:
        return np.exp(-0.5 * (x / s) ** 2) / (s * math.sqrt(2 * math.pi))

    p_value = pers.p_value
    found = p_value is not None and p_value < block.alpha
    if found and sd > 0:
        y = density(sd)
        inside = np.abs(x) <= Z80 * sd
        ax.fill_between(x, 0, y, where=inside, color="#bdbdbd", alpha=0.7, linewidth=0,
                        label=TEXT["middle80"](language))
        ax.plot(x, y, color=INK, linewidth=1.4, label=TEXT["estimate"](language))
        for s, label in ((_size(pers.sd_low), TEXT["bounds"](language)), (high, None)):
            if s > 0:
                ax.plot(x, density(s), color=INK, linewidth=0.8, linestyle="--", label=label)
    elif detectable > 0:  # nothing persistent found: what could have been
        ax.plot(x, density(detectable), color=GREY_DOTTED, linewidth=1.2, linestyle=":",
                label=TEXT["detectable"](language))
    ax.set_yticks([])
    ax.set_ylim(bottom=0)
    ax.spines["left"].set_visible(False)
    # The axis is in log points; ticks sit at round premiums and say them (exp(x) - 1).
    step = next((t for t in (0.005, 0.01, 0.02, 0.025, 0.05, 0.1, 0.2) if math.expm1(reach) / t <= 4), 0.5)
    # A wide spread takes coarse steps; a premium of -100 % or less has no log point, and is no tick.
    premiums = [k * step for k in range(-8, 9) if k * step > -1 and abs(math.log1p(k * step)) <= reach]
    ax.set_xticks([math.log1p(t) for t in premiums])
    _percent_axis(ax, "x", lambda value: _pct(math.expm1(value)))
    ax.set_xlabel(TEXT["xlabel"](language))
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _svg(fig, chart_id, TEXT["chart_title"](language), glyphs, language)


GREY_DOTTED = "#4a4a4a"

_ENV = jinja2.Environment(loader=jinja2.PackageLoader("reports", "templates"), autoescape=True,
                          undefined=jinja2.StrictUndefined)


def section(block: Personalisation, language: str = "en", labels: dict[str, str] | None = None,
            glyphs: set[str] | None = None, value_label=None) -> str:
    """The HTML of the section that opens the report's findings (`labels`: columns' display names;
    `value_label(column, value)`: a value's)."""
    disp = block.dispersion
    other = block.disclosure.disclosed if block.disclosure is not None else None
    return _ENV.get_template("personal.html.j2").render(
        title=TEXT["title"](language),
        sentence=sentence(block, language, labels),
        chart=spread_chart(block, chart_id="personal-spread", language=language, glyphs=glyphs),
        headers=[TEXT[k](language) for k in ("column", "value", "users", "premium", "share", "confirmed")],
        rows=attribute_rows(block, language, labels, value_label),
        searched_label=TEXT["searched"](language),
        searched=searched_columns(block, language, labels),
        skipped_label=TEXT["skipped"](language),
        skipped=skipped_columns(block, language, labels),
        none_searched=TEXT["none_searched"](language),
        dispersion=TEXT["dispersion"](language).format(
            above=_pct(disp.above_materiality, signed=False), below=_pct(disp.below_materiality, False),
            noise=_pct(disp.noise_sd, signed=False)),
        reading=block.reading,
        separator="；" if language == "zh-CN" else "; ", stop="。" if language == "zh-CN" else ".",
        may_concern_label=TEXT["may_concern"](language),
        may_concern=[p.title for p in for_reading(block.reading, language, disclosed=False)],
        may_concern_disclosed_label=TEXT["may_concern_disclosed"](language),
        may_concern_disclosed=[p.title for p in for_reading(other.reading, language, disclosed=True)]
        if other is not None else [],
        disclosure_note=_disclosure_note(block, language),
        split_note=split_note(block, language))
