"""The report's languages, number and date formats: message catalogues and locale-aware filters.

English msgids in the templates; Simplified Chinese from the Babel catalogue
`reports/locale/zh_CN/LC_MESSAGES/messages.po`, compiled in memory at first use.
Numbers and dates are formatted for the locale by Babel.
"""

from __future__ import annotations

import gettext
import io
import math
from datetime import datetime, timezone
from functools import lru_cache
from importlib import resources

from babel import Locale
from babel.dates import format_datetime, format_skeleton, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from markupsafe import Markup

LOCALES = {"en": "en", "zh-CN": "zh_Hans_CN"}
CATALOGUES = {"zh-CN": "zh_CN"}


@lru_cache(maxsize=None)
def translations(language: str) -> gettext.NullTranslations:
    """The message catalogue for `language`: English is the source language, others come from .po files."""
    if language not in LOCALES:
        raise ValueError(f"report language {language!r} is not available: use one of {', '.join(LOCALES)}")
    if language not in CATALOGUES:
        return gettext.NullTranslations()
    po = resources.files("reports") / "locale" / CATALOGUES[language] / "LC_MESSAGES" / "messages.po"
    with po.open("rb") as handle:
        catalogue = read_po(handle, locale=CATALOGUES[language])
    compiled = io.BytesIO()
    write_mo(compiled, catalogue)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


class Formats:
    """Locale-aware number and date formats; the template filters."""

    def __init__(self, language: str):
        self.locale = Locale.parse(LOCALES[language])
        self.percent_sign = self.locale.number_symbols["latn"]["percentSign"]

    def pct(self, value: float | None, digits: int = 1, signed: bool = True) -> str:
        """0.0512 -> '+5.1%' (the locale's digits, separators and percent sign); undefined -> '—'."""
        if not finite(value):
            return "—"
        number = format_decimal(abs(value) * 100, format=f"#,##0.{'0' * digits}" if digits else "#,##0",
                                locale=self.locale)
        rounded_zero = round(abs(value) * 100, digits) == 0
        sign = "" if not signed or rounded_zero else ("+" if value > 0 else "−")
        if not signed and value < 0 and not rounded_zero:
            sign = "−"
        return f"{sign}{number}{self.percent_sign}"

    def pp(self, value: float | None) -> str:
        """A difference of two percentages, in percentage points (unsigned number)."""
        if not finite(value):
            return "—"
        return format_decimal(abs(value) * 100, format="#,##0.0", locale=self.locale)

    def num(self, value: int | None) -> str:
        return "—" if value is None else format_decimal(value, locale=self.locale)

    def dec(self, value: float | None, digits: int = 2) -> str:
        if not finite(value):
            return "—"
        # a true minus sign, as pct prints it (Babel writes a hyphen-minus)
        return format_decimal(value, format=f"#,##0.{'0' * digits}", locale=self.locale).replace("-", "−")

    def p(self, value: float | None) -> str:
        """p- and q-values: three significant digits, tiny ones as '< 0.0001'."""
        if not finite(value):
            return "—"
        if value < 1e-4:
            return "< " + format_decimal(0.0001, format="0.0000", locale=self.locale)
        return format_decimal(float(f"{value:.3g}"), format="0.######", locale=self.locale)

    def p_is(self, value: float | None) -> str:
        """A p- or q-value with its relation, for running text: '= 0.419' or '< 0.0001'."""
        text = self.p(value)
        return text if text.startswith("<") or text == "—" else f"= {text}"

    def when(self, iso: str | None) -> str:
        """An ISO timestamp with offset, shown in UTC for the locale."""
        if not iso:
            return "—"
        moment = datetime.fromisoformat(iso)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return format_datetime(moment, "medium", tzinfo=timezone.utc, locale=self.locale) + " UTC"

    def day(self, moment: datetime) -> str:
        return format_skeleton("yMMMEd", moment, locale=self.locale)

    def clock(self, moment: datetime) -> str:
        return format_time(moment.time(), "HH:mm", locale=self.locale)


def finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def css_string(text: str) -> Markup:
    """A CSS string literal that cannot break out of its context: everything but ASCII letters,
    digits and spaces becomes a hex escape (the audit name goes into the print header)."""
    # A hex escape ends at the space after it (CSS Syntax 4.3.7), so every escape carries one.
    escaped = "".join(c if c.isascii() and c.isalnum() else f"\\{ord(c):x} " for c in text)
    return Markup(f'"{escaped}"')
