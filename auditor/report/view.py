"""The report's view: what the templates show, prepared from the findings.json document.

It works from the findings.json dict (never from Spark frames or dataclasses), so a report
can be re-rendered from an archived audit in either language. This module prepares view data
(sorting, privacy suppression, legal mapping, charts, comparison sentences); the templates in
`reports/templates/` only format it, and are strict about undefined names, so each optional
findings field is given an explicit default here.
"""

from __future__ import annotations

import math
import re
import tomllib
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from markupsafe import Markup

from auditor import vocabulary
from auditor.report import charts
from auditor.report.formats import Formats, css_string, finite, translations
from auditor.report.legal import provisions
from auditor.vocabulary import InsufficientReason, Kind, RobustnessReason, Scale, Verdict

# Most serious first: the report lists findings in this order (the vocabulary's ranks).
VERDICT_ORDER = tuple(sorted(vocabulary.VERDICTS, key=lambda v: vocabulary.VERDICTS[v].rank))
EVIDENCE_SHOWN = 10  # cells per flagged finding; the rest are counted, not listed
CELL_CHARTS_MAX = 12  # per-finding evidence charts (keeps a 100-finding report small)
SUMMARY_SENTENCES = 6  # flagged findings spelled out in the summary; the rest are linked


class Words:
    """Display names from the audit's `[labels]` (findings.json `audit.labels`), in one language.

    Labels are shown, never parsed back: every name falls back to the raw column or value."""

    def __init__(self, labels: dict | None, language: str):
        labels = labels if isinstance(labels, dict) else {}
        self.language = language
        self.columns = labels.get("columns") if isinstance(labels.get("columns"), dict) else {}
        self.values = labels.get("values") if isinstance(labels.get("values"), dict) else {}
        self.segments = labels.get("segments") if isinstance(labels.get("segments"), dict) else {}
        self.audit = labels.get("audit") if isinstance(labels.get("audit"), dict) else {}

    def _pick(self, entry) -> str | None:
        if isinstance(entry, str):
            return entry
        if isinstance(entry, dict) and isinstance(entry.get(self.language), str):
            return entry[self.language]
        return None

    def column(self, name) -> str:
        return self._pick(self.columns.get(str(name))) or str(name)

    def value(self, column, value) -> str:
        names = self.values.get(str(column))
        shown = self._pick(names.get(str(value))) if isinstance(names, dict) else None
        return shown or ("—" if value is None else str(value))

    def segment(self, name) -> str:
        return self._pick(self.segments.get(str(name))) or str(name)

    def audit_field(self, key: str, written) -> str:
        """The audit's name or platform in this language (`[labels.audit]`), else as the config wrote it."""
        return self._pick(self.audit.get(key)) or str(written or "")

    def unit(self, column) -> str | None:
        entry = self.columns.get(str(column))
        return self._pick(entry.get("unit")) if isinstance(entry, dict) else None


def audit_labels(audit: dict) -> dict:
    """The audit's labels: recorded in findings.json, or (older files) read from the exact config text."""
    if isinstance(audit.get("labels"), dict):
        return audit["labels"]
    from auditor.errors import AuditConfigError
    from auditor.spec import Labels, parse_labels  # noqa: PLC0415 (spec imports no engine)

    try:
        parsed = parse_labels(tomllib.loads(audit.get("config_text") or ""))
    except (tomllib.TOMLDecodeError, AuditConfigError):
        parsed = Labels()
    return parsed.to_json()


def _user_label(audit: dict, words: Words) -> str | None:
    """The user column's display name when the config's [labels] give one (travel agent, store), else None."""
    try:
        column = tomllib.loads(audit.get("config_text") or "").get("columns", {}).get("user_id")
    except (tomllib.TOMLDecodeError, AttributeError):
        return None
    if not isinstance(column, str) or str(column) not in words.columns:
        return None
    label = words.column(column)
    return label if label and label != column else None


_BUCKET_UNITS = {"s": ("second", "秒"), "m": ("minute", "分钟"), "h": ("hour", "小时"), "d": ("day", "天")}


def _bucket_words(bucket: str | None, language: str) -> str | None:
    """'1h' -> '1-hour' (en) or '1小时' (zh-CN); anything else is shown as written."""
    found = _BUCKET.match(bucket or "")
    if not found:
        return bucket
    en, zh = _BUCKET_UNITS[found.group(2)]
    return f"{found.group(1)}{zh}" if language == "zh-CN" else f"{found.group(1)}-{en}"


def _match_spec(audit: dict, words: Words, formats: Formats) -> dict:
    """Matching keys, time bucket and bins, read from the exact config the audit ran with, in words."""
    try:
        match = tomllib.loads(audit.get("config_text") or "").get("match", {})
    except tomllib.TOMLDecodeError:
        match = {}
    bucket = match.get("time_bucket")
    bins = []
    for name, width in match.get("bins", {}).items():
        shown = formats.num(width) if isinstance(width, int) else formats.dec(width, 0 if float(width).is_integer() else 2)
        bins.append({"name": words.column(name), "width": shown, "unit": words.unit(name)})
    return {
        "exact": [str(k) for k in match.get("exact", [])],
        "keys": [words.column(k) for k in match.get("exact", [])],
        "time_bucket": str(bucket) if bucket else None,
        "bucket_words": _bucket_words(str(bucket), words.language) if bucket else None,
        "bins": bins,
        "described": audit.get("match", ""),
    }


def _bin_widths(audit: dict) -> dict:
    """Each binned column's width, from the exact config the audit ran with."""
    try:
        bins = tomllib.loads(audit.get("config_text") or "").get("match", {}).get("bins", {})
    except tomllib.TOMLDecodeError:
        return {}
    return {str(k): v for k, v in bins.items() if finite(v) and not isinstance(v, bool) and v > 0} \
        if isinstance(bins, dict) else {}


_BUCKET = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _bucket_width(bucket: str | None) -> timedelta | None:
    found = _BUCKET.match(bucket or "")
    return timedelta(seconds=int(found.group(1)) * _UNIT_SECONDS[found.group(2)]) if found else None


def _key_value(column, value, bins: dict, formats: Formats, words: Words) -> str:
    """A cell's key in words; a binned column's key is its band's lower edge, shown as the band with its
    unit ("4,000–6,000 m"), as the summary names the band's width."""
    width = bins.get(str(column))
    if width is None or not finite(value) or isinstance(value, bool):
        return words.value(column, value)

    def shown(number):
        return formats.num(int(number)) if float(number).is_integer() else formats.dec(number, 2)

    band = f"{shown(value)}–{shown(value + width)}"
    unit = words.unit(column)
    return f"{band} {unit}" if unit else band


def _cell_view(cell: dict, width: timedelta | None, formats: Formats, words: Words, bins: dict | None = None) -> dict:
    start = datetime.fromisoformat(cell["time_bucket"]) if cell.get("time_bucket") else None
    when = None
    if start is not None:
        when = formats.day(start)
        if width is not None and width < timedelta(days=1):
            when += f" {formats.clock(start)}–{formats.clock(start + width)}"
        elif width is None:
            when += f" {formats.clock(start)}"
    median_group, median_reference = cell.get("median_group"), cell.get("median_reference")
    ratio = (median_group / median_reference - 1) if finite(median_group) and finite(median_reference) \
        and median_reference > 0 else None
    return {
        "conditions": [(words.column(k), _key_value(k, v, bins or {}, formats, words))
                       for k, v in (cell.get("keys") or {}).items()],
        "when": when,
        "rows_group": cell.get("rows_group"), "rows_reference": cell.get("rows_reference"),
        "users_group": cell.get("users_group"), "users_reference": cell.get("users_reference"),
        "median_group": median_group, "median_reference": median_reference,
        "ratio": ratio, "weight_share": cell.get("weight_share"),
    }


def _publishable(cell: dict, min_cell_size: int) -> bool:
    """Each side's median is published, so each side must hold at least min_cell_size distinct users."""
    users = (cell.get("users_group"), cell.get("users_reference"))
    return all(isinstance(u, int) and u >= min_cell_size for u in users)


def _tenths(value: float) -> int:
    """A fraction in tenths of a percent, rounded as Babel rounds the printed figure (half to even)."""
    tenths = Decimal(str(abs(value) * 100)).quantize(Decimal("0.1"), rounding=ROUND_HALF_EVEN) * 10
    return int(tenths) if value >= 0 else -int(tenths)


DECOMPOSITION_PARTS = ("price", "mix", "unmatched")


def decomposition_shares(decomposition: dict | None, raw_premium: float | None) -> dict | None:
    """The raw gap's parts in the raw gap's own unit, as printed: each part of the log-point split
    (Kitagawa–Oaxaca: unmatched + mix + price = raw) is scaled by raw_premium / raw, so the parts add up
    to the raw premium exactly; they are rounded to tenths of a percent so that the printed parts also
    add up to the printed raw gap (largest remainders). None when any number is missing."""
    if not isinstance(decomposition, dict) or not finite(raw_premium):
        return None
    parts = [decomposition.get(k) for k in DECOMPOSITION_PARTS]
    raw = decomposition.get("raw")
    if not all(finite(v) for v in (*parts, raw)):
        return None
    scale = raw_premium / raw if abs(raw) > 1e-12 else 1.0  # (e^r − 1) / r -> 1 as r -> 0
    exact = [scale * v for v in parts]
    target = _tenths(raw_premium)
    floors = [math.floor(v * 1000) for v in exact]
    order = sorted(range(len(exact)), key=lambda i: -(exact[i] * 1000 - floors[i]))
    shown = list(floors)
    for i in order[:max(0, min(len(order), target - sum(floors)))]:
        shown[i] += 1
    return {k: {"exact": e, "shown": t / 1000} for k, e, t in zip(DECOMPOSITION_PARTS, exact, shown)}


def _near_zero(value) -> bool:
    """A premium that prints as 0.0 %: the sentence says 'no measurable difference'."""
    return finite(value) and _tenths(value) == 0


def _change_label(change: dict, words: Words, _) -> tuple[str, bool]:
    """A sensitivity change in the report's words (and whether it is a translation or the raw text)."""
    left_out = change.get("left_out")
    if isinstance(left_out, dict) and "column" in left_out:
        column = left_out["column"]
        return _("without %(column)s “%(value)s”") % {"column": words.column(column),
                                                     "value": words.value(column, left_out.get("value"))}, True
    factor = change.get("bins_factor")
    if finite(factor) and factor < 1:
        return _("bins half as wide"), True
    if finite(factor) and factor > 1:
        return _("bins twice as wide"), True
    factor = change.get("time_bucket_factor")
    if finite(factor) and factor < 1:
        return _("time windows half as long"), True
    if finite(factor) and factor > 1:
        return _("time windows twice as long"), True
    return str(change.get("change", "")), False


def _balance_measure(measure: str, words: Words, _) -> str:
    if measure == "time_bucket":
        return _("when in the time window they bought")
    return _("where within the %(column)s band they fall") % {"column": words.column(measure)}


def _duration(seconds, language: str) -> str:
    """A time window in words: 3600 -> '1 h' (en) or '1小时' (zh-CN); 450 -> '7 min 30 s'."""
    if not isinstance(seconds, int) or isinstance(seconds, bool) or seconds <= 0:
        return "—"
    units = (("d", "天", 86400), ("h", "小时", 3600), ("min", "分钟", 60), ("s", "秒", 1))
    parts, rest = [], seconds
    for en, zh, size in units:
        if rest >= size:
            count, rest = divmod(rest, size)
            parts.append(f"{count}{zh}" if language == "zh-CN" else f"{count} {en}")
    return ("" if language == "zh-CN" else " ").join(parts)


def _unestimable_words(change: dict, f: dict, words: Words, _) -> str:
    """Why a sensitivity change left nothing to estimate, in words (findings' `unestimable_reason`)."""
    reason = change.get("unestimable_reason")
    column = str(f.get("column", ""))
    names = {"group": words.value(column, f.get("group", "")), "reference": words.value(column, f.get("reference", ""))}
    left_out = change.get("left_out") if isinstance(change.get("left_out"), dict) else None
    if left_out is not None:
        names.update(column=words.column(left_out.get("column")),
                     value=words.value(left_out.get("column"), left_out.get("value")))
    if reason == InsufficientReason.NO_GROUP_ROWS:
        return (_("not estimable: no “%(group)s” purchases remain — every matched one is in %(column)s “%(value)s”")
                if left_out else _("not estimable: no “%(group)s” purchases remain in shared cells")) % names
    if reason == InsufficientReason.NO_REFERENCE_ROWS:
        return (_("not estimable: no “%(reference)s” purchases remain — every matched one is in %(column)s “%(value)s”")
                if left_out else _("not estimable: no “%(reference)s” purchases remain in shared cells")) % names
    if reason == InsufficientReason.NO_COMMON_SUPPORT:
        return _("not estimable: no cell holds comparable purchases of both groups")
    if reason == InsufficientReason.TOO_FEW_USERS_GROUP:
        return _("not judged: too few “%(group)s” users remain") % names
    if reason == InsufficientReason.TOO_FEW_USERS_REFERENCE:
        return _("not judged: too few “%(reference)s” users remain") % names
    if reason == InsufficientReason.TOO_FEW_CELLS:
        return _("not judged: too few cells hold comparable purchases of both groups")
    return _("not estimable: no user-clustered estimate exists")


def _robustness(f: dict, words: Words, formats: Formats, _) -> dict | None:
    """Whether a flag held under the sensitivity changes, timing curve and balance checks, and why not,
    in words: every reason for the card, the first (most telling) for the summary, and what to check."""
    if f.get("robust") is None:
        return None
    language = words.language
    labels = {str(r.get("change")): _change_label(r, words, _)[0] for r in f.get("sensitivity") or []
              if isinstance(r, dict)}
    reasons, summary, check = [], None, None
    timing_check = _("Check first when each group bought within the time window (surges, peak minutes) before "
                     "reading the gap as a price for the same purchase.")
    for r in f.get("robust_reasons") or []:
        if not isinstance(r, dict):
            continue
        if r.get("reason") == RobustnessReason.NOT_SIGNIFICANT_CALIBRATED:
            numbers = {"p": formats.p(r.get("calibrated_p_value")), "alpha": formats.pct(r.get("alpha"), 0, False)}
            card = _("The method self-check failed on these data, and against its random splits of the same users "
                     "this premium is not significant (calibrated p %(p)s, not below %(alpha)s): the flag rests on "
                     "a test that finds differences between random halves of users too often.") % numbers
            short = _("against the self-check's random splits it is not significant (calibrated p %(p)s).") % numbers
            advice = _("Check first what the method self-check says about these users (a few heavy users, or "
                       "prices that vary by user) before relying on the flag.")
        elif r.get("reason") == RobustnessReason.LOSES_FLAG:
            changes = _("; ").join(labels.get(str(c), str(c)) for c in r.get("changes") or [])
            card = _("The flag does not hold under every change in the table above.")
            short = _("the flag does not hold under: %(changes)s.") % {"changes": changes}
            advice = _("Check first what sets apart the purchases behind that change: the premium may rest on them "
                       "alone.")
        elif r.get("reason") == RobustnessReason.TIME_BUCKET_MOVES:
            numbers = {"premium": formats.pct(r.get("premium")), "original": formats.pct(r.get("original_premium")),
                       "low": formats.pct(r.get("ci_low")), "high": formats.pct(r.get("ci_high"))}
            card = _("With time windows half as long, the premium moves from %(original)s to %(premium)s, outside "
                     "its interval (%(low)s to %(high)s): part of it may come from when purchases were made "
                     "within the window.") % numbers
            short = _("halving the time window moves it from %(original)s to %(premium)s; purchases of the two "
                      "groups may differ in timing within the window.") % numbers
            advice = timing_check
        elif r.get("reason") == RobustnessReason.EXPLAINED_BY_TIMING:
            numbers = {"window": _duration(r.get("time_bucket_seconds"), language),
                       "premium": formats.pct(r.get("premium")), "original": formats.pct(r.get("original_premium")),
                       "low": formats.pct(r.get("ci_low")), "high": formats.pct(r.get("ci_high"))}
            card = _("Compared within %(window)s of each other, the premium falls from %(original)s to "
                     "%(premium)s (%(low)s to %(high)s), below materiality: it is explained by timing within the "
                     "window.") % numbers
            short = _("compared within %(window)s of each other, it falls from %(original)s to %(premium)s: it "
                      "is explained by timing within the window.") % numbers
            advice = timing_check
        elif r.get("reason") == RobustnessReason.SHRINKS_WITH_WINDOW:
            numbers = {"window": _duration(r.get("time_bucket_seconds"), language),
                       "premium": formats.pct(r.get("premium")), "original": formats.pct(r.get("original_premium")),
                       "low": formats.pct(r.get("ci_low")), "high": formats.pct(r.get("ci_high"))}
            card = _("As the time window narrows the premium shrinks at every halving, from %(original)s to "
                     "%(premium)s within %(window)s (%(low)s to %(high)s): part of it is explained by timing within "
                     "the window.") % numbers
            short = _("compared closer in time it shrinks at every halving, from %(original)s to %(premium)s "
                      "within %(window)s; part of it is explained by timing within the window.") % numbers
            advice = timing_check
        elif r.get("reason") == RobustnessReason.IMBALANCE:
            measure = _balance_measure(str(r.get("measure")), words, _)
            numbers = {"measure": measure, "smd": formats.dec(r.get("smd"))}
            card = _("Within the matched purchases the two groups differ in %(measure)s (standardized "
                     "difference %(smd)s; above 0.1 the comparison is not like for like).") % numbers
            short = _("within the matched purchases the two groups differ in %(measure)s (standardized "
                      "difference %(smd)s).") % numbers
            advice = timing_check if r.get("measure") == "time_bucket" else _(
                "Check first where each group's purchases fall within the %(column)s band before reading the gap "
                "as a price for the same purchase.") % {"column": words.column(r.get("measure"))}
        else:
            continue
        reasons.append(card)
        if summary is None:
            summary, check = short, advice
    balance = [{"measure": _balance_measure(str(b.get("measure")), words, _), "smd": b.get("smd"),
                "balanced": bool(b.get("balanced"))} for b in f.get("balance") or [] if isinstance(b, dict)]
    estimable, unestimable = f.get("variants_estimable"), f.get("variants_unestimable")
    low, high = f.get("ci_low"), f.get("ci_high")
    less_data = any(isinstance(r, dict) and r.get("estimable") is True and r.get("flagged") is False
                    and finite(r.get("premium")) and finite(low) and finite(high) and low <= r["premium"] <= high
                    for r in f.get("sensitivity") or [])
    untested = None
    if isinstance(unestimable, int) and unestimable:
        untested = (_("None of the changes above could be estimated, so the flag could not be tested against "
                      "them; its robustness rests on the other checks alone.") if estimable == 0 else
                    _("Changes that leave nothing to compare are shown as not estimable; they do not count "
                      "against the flag."))
    return {"robust": bool(f.get("robust")), "reasons": reasons, "balance": balance, "summary": summary,
            "check_first": check, "untested": untested, "curve": _timing_curve(f, formats, language, _),
            "less_data": _("Where a change is no longer flagged but its premium stays inside the finding's "
                           "interval, it has less data to go on; it does not move the estimate, and does not count "
                           "against the flag.") if less_data else None}


def _timing_curve(f: dict, formats: Formats, language: str, _) -> dict | None:
    """The premium as the time window narrows (findings' `time_curve`), with why it ends where it does."""
    steps = [s for s in f.get("time_curve") or [] if isinstance(s, dict)]
    if len(steps) < 2:
        return None
    stop = f.get("time_curve_stop")
    share = f.get("time_curve_min_coverage")
    ends = {"coverage": _("Finer windows are not shown: they would compare less than %(share)s of the purchases "
                          "this finding rests on.") % {"share": formats.pct(share, 0, False)},
            "resolution": _("Finer windows are not shown: they change nothing, because the timestamps are no "
                            "finer."),
            "unestimable": _("Finer windows are not shown: they leave no estimate.")}
    premiums = [s.get("premium") for s in steps]
    trend = None
    if all(finite(p) for p in premiums) and len(steps) >= 3:
        sizes = [abs(p) for p in premiums]
        last = steps[-1]
        apart = finite(last.get("ci_low")) and finite(last.get("ci_high")) \
            and not (last["ci_low"] <= premiums[0] <= last["ci_high"])
        if apart and all(b < a for a, b in zip(sizes, sizes[1:])):
            trend = _("Here the premium shrinks at every halving, from %(first)s to %(last)s: timing within the "
                      "window explains at least part of it.") % {"first": formats.pct(premiums[0]),
                                                                 "last": formats.pct(premiums[-1])}
        elif all(finite(s.get("ci_low")) and finite(s.get("ci_high")) and s["ci_low"] <= premiums[0] <= s["ci_high"]
                 for s in steps[1:]):
            trend = _("Here the premium stays within the finer windows' intervals: it is robust to timing.")
    return {"steps": [{"window": _duration(s.get("time_bucket_seconds"), language), "audit": bool(s.get("audit")),
                       **_with_keys(s, ("premium", "ci_low", "ci_high", "coverage"))} for s in steps],
            "stop": ends.get(stop), "trend": trend}


def _finding_view(index: int, f: dict, width: timedelta | None, min_cell_size: int, formats: Formats,
                  language: str, words: Words, alpha: float | None, bins: dict | None = None) -> dict:
    _ = translations(language).gettext
    kind = f.get("kind") or "group"
    outcome = vocabulary.outcome(f.get("outcome"))
    verdict = vocabulary.verdict(f.get("verdict") or (Verdict.FLAGGED if f.get("flagged") else Verdict.NO_EVIDENCE))
    evidence = [c for c in (f.get("evidence") or []) if isinstance(c, dict)]
    publishable = sorted((c for c in evidence if _publishable(c, min_cell_size)),
                         key=lambda c: -(c.get("weight_share") or 0))
    shown = [_cell_view(c, width, formats, words, bins) for c in publishable[:EVIDENCE_SHOWN]]
    premium, raw = f.get("premium"), f.get("raw_premium")
    decomposition = f.get("decomposition") or None
    if isinstance(decomposition, dict) and "price_group_weighted" in decomposition:
        # findings.json names the price part for what it is (group-weighted); older files call it "price"
        decomposition = {**decomposition, "price": decomposition["price_group_weighted"]}
    rows_group, rows_reference = f.get("rows_group"), f.get("rows_reference")
    column = str(f.get("column", ""))
    segment = words.segment(f.get("segment", ""))
    group, reference = words.value(column, f.get("group", "")), words.value(column, f.get("reference", ""))
    if kind == Kind.DOSE:
        title = _("%(segment)s: each doubling of 1 + %(column)s") % {"segment": segment, "column": words.column(column)}
    elif kind == Kind.STEERING:
        title = _("%(segment)s: “%(group)s” against “%(reference)s”, options offered") % {
            "segment": segment, "group": group, "reference": reference}
    else:
        title = _("%(segment)s: “%(group)s” against “%(reference)s”") % {
            "segment": segment, "group": group, "reference": reference}
        if outcome.id != "price":
            title += " · " + outcome.label(language)
    analytic = _with_keys(f.get("analytic"), ("method", "se_log", "p_value", "ci_low", "ci_high"))
    rank = _with_keys(f.get("rank_test"), ("p_value", "agrees"))
    cross_agrees = None
    if analytic is not None and finite(analytic["p_value"]) and finite(f.get("p_value")) and finite(alpha):
        cross_agrees = (analytic["p_value"] < alpha) == (f["p_value"] < alpha)
    sensitivity = []
    for change in f.get("sensitivity") or []:
        if isinstance(change, dict):
            label, translated = _change_label(change, words, _)
            estimable = change.get("estimable") is not False  # older files: every change was estimated
            sensitivity.append({**_with_keys(change, ("premium", "ci_low", "ci_high", "flagged")),
                                "label": label, "translated": translated, "estimable": estimable,
                                "unestimable": None if estimable else _unestimable_words(change, f, words, _)})
    return {
        "index": index,
        "anchor": f"finding-{index + 1}",
        "segment": segment,
        "column": words.column(column),
        "group": group,
        "reference": reference,
        "title": title,
        "kind": kind,
        "outcome": outcome.id,
        "outcome_label": outcome.label(language),
        "what": outcome.noun(language),
        "purchase": outcome.purchase,
        "share": outcome.scale is Scale.DIFFERENCE,
        "verdict": verdict.id,
        "verdict_label": verdict.label(language),
        "flagged": bool(f.get("flagged")),
        "robust_flag": verdict.id == Verdict.FLAGGED,  # a flag that survived its checks (or was never checked)
        "premium": premium, "ci_low": f.get("ci_low"), "ci_high": f.get("ci_high"),
        "near_zero": _near_zero(f.get("per_doubling") if kind == Kind.DOSE and finite(f.get("per_doubling"))
                                else premium),
        "premium_abs": abs(premium) if finite(premium) else None,
        "per_doubling_abs": abs(per_doubling) if finite(per_doubling := (
            f.get("per_doubling") if f.get("per_doubling") is not None else premium)) else None,
        "raw_premium": raw,
        "mix_gap": (raw - premium) if finite(raw) and finite(premium) else None,
        "p_value": f.get("p_value"), "q_value": f.get("q_value"), "calibrated_p_value": f.get("calibrated_p_value"),
        "coverage": f.get("coverage"), "cells": f.get("cells"),
        "rows_group": rows_group, "rows_reference": rows_reference,
        "rows_matched": (rows_group + rows_reference) if isinstance(rows_group, int)
        and isinstance(rows_reference, int) else None,
        "rows_group_all": f.get("rows_group_all"), "rows_reference_all": f.get("rows_reference_all"),
        "users": f.get("users"),
        "users_group": f.get("users_group"), "users_reference": f.get("users_reference"),
        "material_interval": f.get("material_interval"),
        "insufficient_reason": f.get("insufficient_reason"),
        "cluster_weight": _with_keys(f.get("cluster_weight"), ("effective_users", "top_share", "top5_share",
                                                               "few_users_carry")),
        "over_range": _with_keys(f.get("over_range"), ("from", "to", "premium", "ci_low", "ci_high")),
        "tier_p_value": f.get("tier_p_value"),
        "se_log": f.get("se_log"), "dof": f.get("dof"), "clusters": f.get("clusters"),
        "pooled_clusters": bool(f.get("pooled_clusters")), "method": f.get("method") or "",
        "mde": f.get("mde"),
        "analytic": analytic,
        "cross_agrees": cross_agrees,
        "rank_test": rank,
        "per_doubling": f.get("per_doubling"),
        "bands": [_with_keys(b, ("band", "premium", "ci_low", "ci_high", "rows")) for b in f.get("bands") or []
                  if isinstance(b, dict)],
        "decomposition": _with_keys(decomposition, ("raw", "unmatched", "mix", "price")),
        "decomposition_shares": decomposition_shares(decomposition, raw),
        "sensitivity": sensitivity,
        "robustness": _robustness(f, words, formats, _),
        "evidence": shown,
        "evidence_more": max(len(publishable) - len(shown), 0),
        "evidence_suppressed": (len(evidence) - len(publishable)) + int(f.get("evidence_suppressed") or 0),
        "evidence_present": "evidence" in f,
        "provisions": [p for p in provisions(language)
                       if kind in p.kinds and outcome.id in p.outcomes] if verdict.id == Verdict.FLAGGED else [],
        "cell_chart": None,
        "band_chart": None,
    }


def _with_keys(value, keys: tuple[str, ...]) -> dict | None:
    """An optional nested object with every key the template reads (missing ones as None)."""
    if not isinstance(value, dict):
        return None
    return {key: value.get(key) for key in keys}


def _sort_key(view: dict):
    order = {v: i for i, v in enumerate(VERDICT_ORDER)}
    premium = view["premium"]
    return (order.get(view["verdict"], len(order)), -abs(premium) if finite(premium) else 0, view["index"])


def _charts(views: list[dict], audit: dict, language: str, formats: Formats) -> dict:
    _ = translations(language).gettext
    span = max([abs(v[k]) for v in views for k in ("ci_low", "ci_high", "raw_premium") if finite(v[k])] or [0])
    digits = 1 if span < 0.1 else 0

    def percent(value):
        return formats.pct(value, digits)

    glyphs: set[str] = set()  # each font glyph is defined once on the page
    materiality = audit.get("materiality") if finite(audit.get("materiality")) else 0

    forest = charts.forest_plot(
        [charts.ForestRow(v["title"], v["premium"], v["ci_low"], v["ci_high"], v["robust_flag"]) for v in views],
        materiality, chart_id="forest", language=language, percent=percent, glyphs=glyphs,
        title=_("Matched premium of every comparison, with its confidence interval"),
        xlabel=_("Matched premium (group over reference)"),
        band_label=_("Below materiality (±%(m)s)") % {"m": formats.pct(materiality, 1, False)},
        flagged_label=_("Flagged"), other_label=_("Not flagged"))
    gap = charts.gap_plot(
        [charts.GapRow(v["title"], v["raw_premium"], v["premium"]) for v in views],
        chart_id="gap", language=language, percent=percent, glyphs=glyphs,
        title=_("Raw gap against matched premium"), xlabel=_("Premium over the reference group"),
        raw_label=_("Raw gap (all purchases, unmatched)"), matched_label=_("Matched premium (same conditions)"))
    cell_charts = 0
    for view in views:
        points = [charts.CellPoint(c["users_group"] + c["users_reference"], c["ratio"], c["weight_share"] or 0)
                  for c in view["evidence"] if c["ratio"] is not None
                  and isinstance(c["users_group"], int) and isinstance(c["users_reference"], int)]
        if view["flagged"] and len(points) >= 2 and cell_charts < CELL_CHARTS_MAX:
            cell_charts += 1
            view["cell_chart"] = Markup(charts.cell_plot(
                points, view["premium"], chart_id=f"cells-{view['index'] + 1}", language=language,
                percent=percent, glyphs=glyphs, title=_("Median gap in each published cell"),
                xlabel=_("Distinct users in the cell"), ylabel=_("Median gap in the cell"),
                premium_label=_("Matched premium, all cells"), cell_label=_("Published cell (area = weight)")))
        bands = [(str(b["band"]), b["premium"], b["ci_low"], b["ci_high"]) for b in view["bands"]
                 if finite(b["premium"]) and finite(b["ci_low"]) and finite(b["ci_high"])]
        if bands:
            view["band_chart"] = Markup(charts.band_plot(
                bands, chart_id=f"bands-{view['index'] + 1}", language=language, percent=percent, glyphs=glyphs,
                title=_("Premium by band"), xlabel=view["column"], ylabel=_("Premium over the lowest band")))
    return {"forest": Markup(forest), "gap": Markup(gap)}


def _population(population, words: Words) -> str | None:
    """The placebo's population ("os = android" in findings.json) in the audit's labels: device “Android”."""
    if not isinstance(population, str):
        return None
    column, sep, value = population.partition(" = ")
    if not sep:
        return population
    space = "" if words.language == "zh-CN" else " "  # Chinese sets quotes without spaces
    return f"{words.column(column)}{space}“{words.value(column, value)}”"


def _self_check(placebo, words: Words) -> dict | None:
    """The placebo self-check, shown whether it passed or failed.

    findings.json before the self-check had its interval held 4 splits and no rate: the rate is
    then the share tested, and the interval is not shown.
    """
    if not isinstance(placebo, dict):
        return None
    view = _with_keys(placebo, ("splits", "tested", "rejections", "rate", "rate_low", "rate_high", "alpha",
                                "confidence", "expected", "warning", "population", "seed", "sampled", "cells",
                                "cells_total", "pairs", "pairs_total", "calibrated"))
    if view["tested"] is None:
        view["tested"] = view["splits"]
    view["warning"] = bool(view["warning"])
    view["sampled"] = bool(view["sampled"])
    view["calibrated"] = bool(view["calibrated"])
    view["has_interval"] = all(finite(view[k]) for k in ("rate", "rate_low", "rate_high", "alpha", "confidence"))
    view["population"] = _population(view["population"], words)
    return view


def _notes(doc: dict, words: Words, formats: Formats, language: str) -> list[dict]:
    """findings.json's notes, each in the report's language when the auditor wrote it (the placebo warning
    is rebuilt from the placebo's numbers); any other note is shown as written, marked as English."""
    _ = translations(language).gettext
    placebo = doc.get("placebo") if isinstance(doc.get("placebo"), dict) else {}
    notes = []
    for note in doc.get("notes", []):
        note = str(note)
        if note.startswith("Self-check failed:") and placebo:
            numbers = {"rejections": formats.num(placebo.get("rejections")),
                       "tested": formats.num(placebo.get("tested") or placebo.get("splits")),
                       "population": _population(placebo.get("population"), words) or "—"}
            if all(finite(placebo.get(k)) for k in ("rate", "rate_low", "rate_high", "alpha", "confidence")):
                text = _("Self-check failed: %(rejections)s of %(tested)s random placebo splits of %(population)s were "
                         "found significant (%(rate)s; %(confidence)s interval %(low)s to %(high)s, above the audit's "
                         "level of %(alpha)s). The inference is not reliable on this data; each finding also carries "
                         "a p-value calibrated against the splits.") % {
                    **numbers, "rate": formats.pct(placebo["rate"], 1, False),
                    "confidence": formats.pct(placebo["confidence"], 0, False),
                    "low": formats.pct(placebo["rate_low"], 1, False), "high": formats.pct(placebo["rate_high"], 1, False),
                    "alpha": formats.pct(placebo["alpha"], 0, False)}
            else:  # findings.json from before the interval (4 splits)
                text = _("Self-check failed: %(rejections)s of %(tested)s random placebo splits of %(population)s were "
                         "found significant (about %(expected)s expected by chance). The inference is not reliable on "
                         "this data; treat p-values and flags with caution.") % {
                    **numbers, "expected": formats.dec(placebo.get("expected"), 2)}
            notes.append({"text": text, "lang": language})
        else:
            notes.append({"text": note, "lang": "en"})
    return notes


def _personalisation_html(block: dict | None, words: Words, language: str) -> str:
    """The section "Is pricing personalised?" (auditor/report/personal.py), or nothing when it was not run."""
    if not block:
        return ""
    from auditor.report.personal import section

    searched = (block.get("attributes") or {}).get("searched", [])
    return section(block, language, labels={c: words.column(c) for c in searched}, value_label=words.value)


def build_view(doc: dict, language: str, min_cell_size: int) -> dict:
    """Everything the template shows, prepared from the findings.json document."""
    formats = Formats(language)
    audit = doc["audit"]
    quality = doc.get("data_quality") or {}
    words = Words(audit_labels(audit), language)
    match = _match_spec(audit, words, formats)
    width = _bucket_width(match["time_bucket"])
    alpha = audit.get("alpha")
    bins = _bin_widths(audit)
    views = sorted((_finding_view(i, f, width, min_cell_size, formats, language, words, alpha, bins)
                    for i, f in enumerate(doc["findings"])), key=_sort_key)
    chart_svgs = _charts(views, audit, language, formats) if views else {"forest": None, "gap": None}
    counts = [(vocabulary.verdict(v).label(language), sum(1 for f in views if f["verdict"] == v))
              for v in VERDICT_ORDER if v not in vocabulary.FLAG_VERDICTS]
    placebo = _self_check(doc.get("placebo"), words)
    # The summary counts robust flags apart from flags that did not survive their checks.
    flagged = [v for v in views if v["robust_flag"]]
    fragile = [v for v in views if v["verdict"] == Verdict.FLAGGED_NOT_ROBUST]
    return {
        "language": language,
        "personalisation_html": _personalisation_html(doc.get("personalisation"), words, language),
        "user_label": _user_label(audit, words),
        "audit": {
            "name": words.audit_field("name", audit.get("name")),
            "platform": words.audit_field("platform", audit.get("platform")),
            "period": audit.get("period"),
            "config_path": audit.get("config_path"), "config_sha256": audit.get("config_sha256", ""),
            "config_text": audit.get("config_text", ""),
            "inputs": [{"path": str(i.get("path", "")), "bytes": i.get("bytes"), "sha256": i.get("sha256")}
                       for i in audit.get("inputs", [])],
            "input_format": audit.get("input_format", ""),
            "table": _table_view(audit.get("table")),
            "alpha": alpha, "materiality": audit.get("materiality"),
            "confidence": audit.get("confidence", 0.95),
            "spark_version": audit.get("spark_version", ""), "spark_master": audit.get("spark_master", ""),
            "auditor_version": audit.get("auditor_version", ""), "python_version": audit.get("python_version", ""),
            "started_at": audit.get("started_at"), "finished_at": audit.get("finished_at"),
            "command": audit.get("command", ""),
        },
        "print_header": css_string(words.audit_field("name", audit.get("name"))),
        "match": match,
        "quality": {
            "rows_read": quality.get("rows_read"), "rows_accepted": quality.get("rows_accepted"),
            "rows_rejected": quality.get("rows_rejected"),
            "reasons": [(reason, vocabulary.reject_reason(reason)(language), count) for reason, count in
                        sorted((quality.get("rejected_by_reason") or {}).items(), key=lambda kv: -(kv[1] or 0))],
        },
        "findings": views,
        "flagged": flagged,
        "summary_flagged": flagged[:SUMMARY_SENTENCES],
        "fragile": fragile,
        "summary_fragile": fragile[:SUMMARY_SENTENCES],
        "counts": [(label, count) for label, count in counts if count],
        "verdict_names": {v: vocabulary.verdict(v).label(language) for v in VERDICT_ORDER},
        "placebo": placebo,
        "legal": provisions(language),
        "notes": _notes(doc, words, formats, language),
        "min_cell_size": min_cell_size,
        "evidence_shown": EVIDENCE_SHOWN,
        "charts": chart_svgs,
        "methods": sorted({v["method"] for v in views if v["method"]}),
        "any_pooled": any(v["pooled_clusters"] for v in views),
        "schema_version": doc.get("schema_version"),
        "baseline": change_sentences(doc.get("baseline"), language, audit_labels(audit),
                                     {str(f.get("segment")): str(f.get("column")) for f in doc["findings"]
                                      if f.get("column") is not None}),
    }


def _table_view(table: dict | None) -> dict | None:
    """A catalog table input's provenance (findings.json `audit.table`), with every field defaulted."""
    if not table:
        return None
    return {"name": str(table.get("name", "")), "qualified": str(table.get("qualified") or table.get("name", "")),
            "format": str(table.get("format") or "—"), "location": table.get("location"),
            "where": table.get("where"), "partitions": [str(p) for p in table.get("partitions") or []]}


def change_sentences(changes: dict | None, language: str, labels: dict | None = None,
                     columns: dict | None = None) -> dict | None:
    """An audit compared with an earlier one (findings.json `baseline`), in words: one sentence per
    comparison in both audits, one per comparison whose definition changed, and those in only one.

    Names are shown in the audit's `labels` (findings.json `audit.labels`) and outcomes in the language's
    words; `columns` maps each segment to its column, so a group's value label can be found."""
    if not changes:
        return None
    _ = translations(language).gettext
    formats = Formats(language)
    words = Words(labels, language)
    columns = columns or {}

    def amount(value, scale):
        if scale == Scale.DIFFERENCE:  # a difference of shares: percentage points
            sign = "" if not finite(value) or round(value * 100, 1) == 0 else ("+" if value > 0 else "−")
            return _("%(n)s pp") % {"n": sign + formats.pp(value)}
        return formats.pct(value)

    def names(item: dict) -> dict:
        column = columns.get(str(item.get("segment")))
        return {"segment": words.segment(item.get("segment")),
                "group": words.value(column, item.get("group")) if column else str(item.get("group")),
                "reference": words.value(column, item.get("reference")) if column else str(item.get("reference")),
                "outcome": vocabulary.outcome(item.get("outcome")).label(language)}

    compared = []
    for c in changes.get("changes", []):
        template = (_("%(segment)s “%(group)s” vs “%(reference)s”, %(outcome)s: was %(before)s, now %(after)s: "
                      "the difference is significant (change %(change)s, %(level)s CI %(low)s to %(high)s).")
                    if c.get("significant") else
                    _("%(segment)s “%(group)s” vs “%(reference)s”, %(outcome)s: was %(before)s, now %(after)s: "
                      "the difference is not significant (change %(change)s, %(level)s CI %(low)s to %(high)s)."))
        scale = c.get("scale", Scale.RATIO)
        verdicts = ""
        known = c.get("verdict_before") in vocabulary.VERDICTS and c.get("verdict_after") in vocabulary.VERDICTS
        if known and c.get("verdict_before") != c.get("verdict_after"):  # e.g. a flag that no longer survives
            verdicts = " " + _("Verdict: was %(before)s, now %(after)s.") % {
                "before": vocabulary.verdict(c.get("verdict_before")).label(language),
                "after": vocabulary.verdict(c.get("verdict_after")).label(language)}
        text = template % {
            **names(c), "before": amount(c.get("premium_before"), scale),
            "after": amount(c.get("premium_after"), scale), "change": amount(c.get("change"), scale),
            "level": formats.pct(changes.get("confidence", 0.95), 0, False),
            "low": amount(c.get("ci_low"), scale), "high": amount(c.get("ci_high"), scale)}
        compared.append({"significant": bool(c.get("significant")), "text": text + verdicts})
    not_comparable = []
    for n in changes.get("not_comparable", []):
        reasons = _("; ").join(_("%(field)s was %(before)s, now %(after)s") % {
            "field": r.get("field"), "before": _shown(r.get("before")), "after": _shown(r.get("after"))}
            for r in n.get("reasons", []))
        not_comparable.append(_("%(segment)s “%(group)s”, %(outcome)s: not comparable: %(reasons)s.") % {
            **names(n), "reasons": reasons})
    named = lambda items: _(", ").join(_("%(segment)s “%(group)s” (%(outcome)s)") % names(i) for i in items)  # noqa: E731
    before = changes.get("before") or {}
    return {
        "earlier": _("Earlier audit: %(name)s, run %(started)s.") % {
            "name": before.get("name") or "—", "started": formats.when(before.get("started_at"))},
        "compared": compared,
        "not_comparable": not_comparable,
        "only_before": _("Only in the earlier audit: %(list)s.") % {"list": named(changes["only_before"])}
        if changes.get("only_before") else None,
        "only_after": _("Only in this audit: %(list)s.") % {"list": named(changes["only_after"])}
        if changes.get("only_after") else None,
    }


def same_audit_sentence(doc: dict, language: str) -> str:
    """What `auditor compare` says when both files hold the same audit: nothing changed, nothing to test."""
    _ = translations(language).gettext
    audit = doc.get("audit") or {}
    return _("Both files hold the same audit (%(name)s, run %(started)s): there is no change to compare.") % {
        "name": audit.get("name") or "—", "started": Formats(language).when(audit.get("started_at"))}


def _shown(value) -> str:
    return "—" if value is None else str(value)
