"""Names and windows in the report's words: display labels (`[labels]`), match keys, bins and time windows."""

from __future__ import annotations

import re
from datetime import timedelta

from auditor.findings.document import AuditRecord
from auditor.report.formats import Formats, finite
from auditor.spec import DisplayName, Labels


class Words:
    """Display names from the audit's `[labels]` (findings.json `audit.labels`), in one language.

    Labels are shown, never parsed back: every name falls back to the raw column or value."""

    def __init__(self, labels: Labels | None, language: str):
        labels = labels or Labels()
        self.language = language
        self.columns: dict[str, DisplayName] = dict(labels.columns)
        self.values: dict[str, dict[str, DisplayName]] = {c: dict(names) for c, names in labels.values}
        self.segments: dict[str, DisplayName] = dict(labels.segments)
        self.audit: dict[str, DisplayName] = dict(labels.audit)

    def _pick(self, name: DisplayName | None) -> str | None:
        return dict(name.text).get(self.language) if name is not None else None

    def column(self, name) -> str:
        return self._pick(self.columns.get(str(name))) or str(name)

    def value(self, column, value) -> str:
        names = self.values.get(str(column))
        shown = self._pick(names.get(str(value))) if names is not None else None
        return shown or ("—" if value is None else str(value))

    def segment(self, name) -> str:
        return self._pick(self.segments.get(str(name))) or str(name)

    def audit_field(self, key: str, written) -> str:
        """The audit's name or platform in this language (`[labels.audit]`), else as the config wrote it."""
        return self._pick(self.audit.get(key)) or str(written or "")

    def unit(self, column) -> str | None:
        entry = self.columns.get(str(column))
        return dict(entry.unit).get(self.language) if entry is not None else None


def user_label(audit: AuditRecord, words: Words) -> str | None:
    """The user column's display name when the config's [labels] give one (travel agent, store), else None."""
    column = audit.user_column
    if not isinstance(column, str) or column not in words.columns:
        return None
    label = words.column(column)
    return label if label and label != column else None


_BUCKET = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_BUCKET_UNITS = {"s": ("second", "秒"), "m": ("minute", "分钟"), "h": ("hour", "小时"), "d": ("day", "天")}


def _bucket_words(bucket: str | None, language: str) -> str | None:
    """'1h' -> '1-hour' (en) or '1小时' (zh-CN); anything else is shown as written."""
    found = _BUCKET.match(bucket or "")
    if not found:
        return bucket
    en, zh = _BUCKET_UNITS[found.group(2)]
    return f"{found.group(1)}{zh}" if language == "zh-CN" else f"{found.group(1)}-{en}"


def _width(width, formats: Formats, digits: int = 2) -> str:
    """A bin width or edge as written: whole numbers with separators, others to `digits` decimals."""
    return formats.num(int(width)) if float(width).is_integer() else formats.dec(width, digits)


def match_spec(audit: AuditRecord, words: Words, formats: Formats) -> dict:
    """Matching keys, time bucket and bins, as the audit recorded them, in words."""
    rules = audit.match_rules
    exact = rules.exact if rules else ()
    bucket = rules.time_bucket if rules else None
    return {
        "exact": [str(k) for k in exact],
        "keys": [words.column(k) for k in exact],
        "time_bucket": str(bucket) if bucket else None,
        "bucket_words": _bucket_words(str(bucket), words.language) if bucket else None,
        "bins": [{"name": words.column(name), "width": _width(width, formats, 0 if float(width).is_integer() else 2),
                  "unit": words.unit(name)} for name, width in (rules.bins if rules else ())],
        "described": audit.match,
    }


def bin_widths(audit: AuditRecord) -> dict:
    """Each binned column's width."""
    rules = audit.match_rules
    return {str(k): v for k, v in (rules.bins if rules else ()) if finite(v) and v > 0}


def bucket_width(audit: AuditRecord) -> timedelta | None:
    seconds = audit.match_rules.time_bucket_seconds if audit.match_rules else None
    return timedelta(seconds=seconds) if isinstance(seconds, int) and seconds > 0 else None


def key_value(column, value, bins: dict, formats: Formats, words: Words) -> str:
    """A cell's key in words; a binned column's key is its band's lower edge, shown as the band with its
    unit ("4,000–6,000 m"), as the summary names the band's width."""
    width = bins.get(str(column))
    if width is None or not finite(value) or isinstance(value, bool):
        return words.value(column, value)
    band = f"{_width(value, formats)}–{_width(value + width, formats)}"
    unit = words.unit(column)
    return f"{band} {unit}" if unit else band


def duration(seconds, language: str) -> str:
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
