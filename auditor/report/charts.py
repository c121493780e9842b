"""Charts for the report: inline SVG from matplotlib, readable printed in black and white.

Text stays text (`svg.fonttype = 'none'`): each <text> names a font-family list
(`CSS_FAMILIES`) that the reader's browser resolves, so Chinese labels come out
as Chinese characters even when the machine writing the report has no CJK font
(a cluster driver rarely has one) — no boxes, no missing-glyph warnings. When a
CJK font is present here (Debian's fonts-noto-cjk or fonts-wqy-zenhei, or
AUDITOR_CJK_FONT) it only measures the text for the layout; without one the
Latin font's missing-glyph box, which is wider than a CJK glyph, measures it, so
labels are never clipped. Meaning never rests on colour alone: verdicts differ
by marker shape and fill, the materiality band is hatched, and raw versus
matched gaps by marker and line style.

Charts take view data the report has already prepared (labels translated,
numbers as fractions) and return SVG markup with no external reference: no XML
prolog, DOCTYPE, namespace URLs or metadata, and ids prefixed per chart so that
several charts can share one page.
"""

from __future__ import annotations

import io
import math
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("svg")  # the report is built headless; no GUI backend is ever needed

from matplotlib import font_manager  # noqa: E402
from matplotlib import pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

CJK_FONT_PATHS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
)
# Inside a .ttc, the family name picks the face; SC is Simplified Chinese.
CJK_FAMILIES = ("Noto Sans CJK SC", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei")
LATIN_FAMILY = "DejaVu Sans"  # ships with matplotlib
# What the reader's browser is asked for, first match wins: the CJK faces of Linux, macOS and Windows.
CJK_CSS = ("'Noto Sans CJK SC'", "'Source Han Sans SC'", "'PingFang SC'", "'Hiragino Sans GB'",
           "'Microsoft YaHei'", "'WenQuanYi Zen Hei'", "'WenQuanYi Micro Hei'")
LATIN_CSS = ("'DejaVu Sans'", "'Noto Sans'", "Arial", "Helvetica")


def css_families(language: str) -> str:
    """The font-family list chart text carries: CJK first for Chinese; Latin first (CJK as fallback for
    Chinese log values) otherwise."""
    if language.startswith("zh"):
        return ", ".join((*CJK_CSS, *LATIN_CSS, "sans-serif"))
    return ", ".join((*LATIN_CSS, *CJK_CSS, "sans-serif"))

INK = "#1b1b1b"
GREY = "#6b6b6b"
WIDTH_IN = 7.2


def cjk_font_path() -> Path | None:
    """The CJK font file charts use: AUDITOR_CJK_FONT if set, else the first Debian font found."""
    configured = os.environ.get("AUDITOR_CJK_FONT")
    candidates = [configured] if configured else list(CJK_FONT_PATHS)
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


_loaded_fonts: dict[str, list[str]] = {}


def font_families(language: str) -> list[str]:
    """The fonts matplotlib measures text with (only fonts present here, so no 'not found' warnings):
    CJK first for Chinese, Latin first (CJK as fallback) otherwise."""
    path = cjk_font_path()
    key = str(path)
    if key not in _loaded_fonts:
        families = []
        if path is not None:
            font_manager.fontManager.addfont(str(path))
            known = {f.name for f in font_manager.fontManager.ttflist if f.fname == str(path)}
            families = [name for name in CJK_FAMILIES if name in known] or sorted(known)[:1]
        _loaded_fonts[key] = families
    cjk = _loaded_fonts[key][:1]
    return cjk + [LATIN_FAMILY] if language.startswith("zh") else [LATIN_FAMILY] + cjk


@dataclass(frozen=True)
class ForestRow:
    """One comparison on the forest plot."""

    label: str
    premium: float | None
    ci_low: float | None
    ci_high: float | None
    flagged: bool


@dataclass(frozen=True)
class GapRow:
    """Raw and matched premium of one comparison."""

    label: str
    raw: float | None
    matched: float | None


@dataclass(frozen=True)
class CellPoint:
    """One evidence cell: its users and its median ratio (group over reference, minus one)."""

    users: int
    ratio: float
    weight_share: float


def _finite(*values) -> bool:
    return all(v is not None and math.isfinite(v) for v in values)


def _percent_axis(ax, axis: str, percent) -> None:
    formatter = FuncFormatter(lambda value, _pos: percent(value))
    (ax.xaxis if axis == "x" else ax.yaxis).set_major_formatter(formatter)


def _figure(height_in: float, language: str):
    plt.rcParams.update({
        "svg.fonttype": "none",  # text as <text>, drawn by the reader's browser
        "svg.hashsalt": "auditor",  # deterministic ids: the same findings give the same file
        "font.family": font_families(language),
        "font.size": 9,
        "axes.edgecolor": INK,
        "axes.labelcolor": INK,
        "xtick.color": INK,
        "ytick.color": INK,
        "axes.spines.top": False,
        "axes.spines.right": False,
    })
    return plt.subplots(figsize=(WIDTH_IN, height_in))


def _svg(fig, chart_id: str, title: str, glyphs: set[str] | None, language: str = "en") -> str:
    buffer = io.StringIO()
    with warnings.catch_warnings():
        # Without a CJK font here, matplotlib warns once per missing glyph; the browser draws them.
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from font", category=UserWarning)
        fig.savefig(buffer, format="svg", bbox_inches="tight",
                    metadata={"Creator": None, "Date": None, "Format": None, "Type": None})
    plt.close(fig)
    svg = _inline(buffer.getvalue(), chart_id, title, glyphs)
    return _FONT_FAMILY.sub(lambda _m: f"font-family: {css_families(language)}", svg)


_FONT_FAMILY = re.compile(r"font-family: [^;\"]*")


_PROLOG = re.compile(r"^.*?(?=<svg\b)", re.S)
_NAMESPACES = re.compile(r'\s+xmlns(:\w+)?="[^"]*"')
_GROUP_IDS = re.compile(r'<g id="[^"]*"')
_HASHED_ID = re.compile(r'\bid="([mp][0-9a-f]{10})"')  # markers and clip paths: unique per chart
_GLYPH = re.compile(r'<path id="([^"]+)" d="[^"]*"(?: transform="[^"]*")?/>')
_LONG_DECIMALS = re.compile(r"(\d\.\d\d)\d+")
_COORDINATES = re.compile(r'(?:\b(?:d|x|y|width|height|viewBox)="[^"]*")|translate\([^)]*\)')


def _inline(svg: str, chart_id: str, title: str, glyphs: set[str] | None = None) -> str:
    """Make matplotlib's SVG fit to inline: no prolog, namespace URLs, comments or group ids, short
    numbers, marker and clip ids prefixed per chart, and each font glyph defined once per page
    (`glyphs` holds the glyph ids earlier charts on the page defined)."""
    svg = _PROLOG.sub("", svg, count=1)
    svg = re.sub(r"<metadata>.*?</metadata>", "", svg, flags=re.S)
    svg = re.sub(r"<!--.*?-->", "", svg, flags=re.S)  # matplotlib echoes label text in comments
    svg = _NAMESPACES.sub("", svg)
    svg = svg.replace("xlink:href=", "href=")  # SVG 2: plain href, no xlink namespace needed
    svg = _GROUP_IDS.sub("<g", svg)
    # Coordinates to hundredths of a point, finer than any printer (glyph scales keep their precision).
    svg = _COORDINATES.sub(lambda found: _LONG_DECIMALS.sub(r"\1", found.group(0)), svg)
    svg = re.sub(r"\s*\n\s*", " ", svg).replace("> <", "><")
    for old in set(_HASHED_ID.findall(svg)):
        new = f"{chart_id}-{old}"
        svg = svg.replace(f'id="{old}"', f'id="{new}"').replace(f'href="#{old}"', f'href="#{new}"')
        svg = svg.replace(f"url(#{old})", f"url(#{new})")
    if glyphs is not None:
        def once(found: re.Match) -> str:
            if found.group(1) in glyphs:
                return ""
            glyphs.add(found.group(1))
            return found.group(0)
        svg = _GLYPH.sub(once, svg)
        svg = svg.replace("<defs></defs>", "")
    svg = re.sub(r"<svg\b", f'<svg role="img" aria-labelledby="{chart_id}-title"', svg, count=1)
    return re.sub(r"(<svg\b[^>]*>)", lambda m: m.group(1) + f'<title id="{chart_id}-title">{_xml_text(title)}</title>',
                  svg, count=1)


def _xml_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def forest_plot(rows: list[ForestRow], materiality: float, *, chart_id: str, language: str, percent,
                glyphs: set[str] | None = None,
                title: str, xlabel: str, band_label: str, flagged_label: str, other_label: str) -> str:
    """Every comparison's matched premium and interval; the hatched band is ±materiality."""
    shown = [r for r in rows if _finite(r.premium, r.ci_low, r.ci_high)]
    height = max(1.6, 0.9 + 0.24 * len(shown))
    fig, ax = _figure(height, language)
    ax.axvspan(-materiality, materiality, facecolor="none", edgecolor=GREY, hatch="////", linewidth=0,
               label=band_label)
    ax.axvline(0, color=INK, linewidth=0.8)
    for i, row in enumerate(shown):
        y = len(shown) - 1 - i
        ax.plot([row.ci_low, row.ci_high], [y, y], color=INK,
                linestyle="-" if row.flagged else (0, (3, 2)), linewidth=1.6 if row.flagged else 1.0)
        ax.plot([row.premium], [y], marker="s" if row.flagged else "o", markersize=6,
                markerfacecolor=INK if row.flagged else "white", markeredgecolor=INK, linestyle="none")
    ax.plot([], [], marker="s", color=INK, linestyle="-", label=flagged_label)
    ax.plot([], [], marker="o", markerfacecolor="white", color=INK, linestyle=(0, (3, 2)), label=other_label)
    ax.set_yticks(range(len(shown)))
    ax.set_yticklabels([r.label for r in reversed(shown)])
    ax.set_ylim(-0.7, max(len(shown) - 0.3, 0.7))
    _percent_axis(ax, "x", percent)
    ax.set_xlabel(xlabel)
    ax.grid(axis="x", color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.9 / height - 0.05), ncol=3, frameon=False)
    return _svg(fig, chart_id, title, glyphs, language)


def gap_plot(rows: list[GapRow], *, chart_id: str, language: str, percent,
                glyphs: set[str] | None = None, title: str, xlabel: str,
             raw_label: str, matched_label: str) -> str:
    """Raw (unmatched) against matched premium per comparison: the distance is what the mix explains."""
    shown = [r for r in rows if _finite(r.raw, r.matched)]
    height = max(1.6, 0.9 + 0.24 * len(shown))
    fig, ax = _figure(height, language)
    ax.axvline(0, color=INK, linewidth=0.8)
    for i, row in enumerate(shown):
        y = len(shown) - 1 - i
        ax.plot([row.raw, row.matched], [y, y], color=GREY, linestyle=":", linewidth=1.2)
        ax.plot([row.raw], [y], marker="^", markersize=6, markerfacecolor="white", markeredgecolor=INK,
                linestyle="none")
        ax.plot([row.matched], [y], marker="o", markersize=6, color=INK, linestyle="none")
    ax.plot([], [], marker="^", markerfacecolor="white", markeredgecolor=INK, linestyle="none", label=raw_label)
    ax.plot([], [], marker="o", color=INK, linestyle="none", label=matched_label)
    ax.set_yticks(range(len(shown)))
    ax.set_yticklabels([r.label for r in reversed(shown)])
    ax.set_ylim(-0.7, max(len(shown) - 0.3, 0.7))
    _percent_axis(ax, "x", percent)
    ax.set_xlabel(xlabel)
    ax.grid(axis="x", color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.9 / height - 0.05), ncol=2, frameon=False)
    return _svg(fig, chart_id, title, glyphs, language)


def cell_plot(points: list[CellPoint], premium: float | None, *, chart_id: str, language: str, percent,
                glyphs: set[str] | None = None,
              title: str, xlabel: str, ylabel: str, premium_label: str, cell_label: str) -> str:
    """Median gap of each published evidence cell against its number of users (marker area = weight)."""
    fig, ax = _figure(2.4, language)
    ax.axhline(0, color=INK, linewidth=0.8)
    if _finite(premium):
        ax.axhline(premium, color=INK, linestyle="--", linewidth=1.2, label=premium_label)
    largest = max((p.weight_share for p in points), default=0) or 1
    ax.scatter([p.users for p in points], [p.ratio for p in points],
               s=[20 + 120 * p.weight_share / largest for p in points],
               facecolors="white", edgecolors=INK, linewidths=1.0, label=cell_label)
    if points and max(p.users for p in points) > 5 * min(p.users for p in points):
        ax.set_xscale("log")
    _percent_axis(ax, "y", percent)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    ax.legend(loc="best", frameon=False)
    return _svg(fig, chart_id, title, glyphs, language)


def band_plot(bands: list[tuple[str, float, float, float]], *, chart_id: str, language: str, percent,
                glyphs: set[str] | None = None,
              title: str, xlabel: str, ylabel: str) -> str:
    """Dose findings: premium and interval per band (e.g. of prior orders), in band order."""
    fig, ax = _figure(2.4, language)
    ax.axhline(0, color=INK, linewidth=0.8)
    xs = list(range(len(bands)))
    ax.errorbar(xs, [b[1] for b in bands],
                yerr=[[b[1] - b[2] for b in bands], [b[3] - b[1] for b in bands]],
                fmt="s-", color=INK, markerfacecolor="white", capsize=3, linewidth=1.2)
    ax.set_xticks(xs)
    ax.set_xticklabels([b[0] for b in bands])
    _percent_axis(ax, "y", percent)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    return _svg(fig, chart_id, title, glyphs, language)
