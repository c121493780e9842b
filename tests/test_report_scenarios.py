"""Every generated scenario's report, audited for real and read back in both languages: the raw gap's
parts add up as printed, configured labels replace column names, the Chinese body has no untranslated
English, and the method self-check is shown."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest

from auditor import pipeline
from auditor.spec import load_config
from auditor.synth import SCENARIOS, generate
from auditor.report import render

LANGUAGES = ("en", "zh-CN")
ROWS = 3_000  # enough for every comparison to be estimated; the audit of each takes seconds

# Words the Chinese page may hold in Latin letters: names and abbreviations, not phrases to translate.
LATIN_WORDS = {"iOS", "HarmonyOS", "Plus", "UTC", "SHA", "Apache", "Spark", "Python", "auditor", "CNY", "PDF",
               "van", "Elteren", "Benjamini", "Hochberg", "Kitagawa", "Oaxaca", "EU"}
SKIPPED_SECTIONS = {"appendix", "provenance"}  # technical: method names, paths, the exact config


class Body(HTMLParser):
    """Visible text of the page's body, outside technical sections, code, data values and text marked as
    being in the source language (lang="en"); plus the <data> elements with the card they sit in."""

    SKIP_TAGS = {"code", "pre", "style", "title", "data"}
    VOID = {"meta", "br", "img", "input", "link", "hr", "col", "area", "base", "wbr", "source"}

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, bool, str | None]] = []
        self.text: list[str] = []
        self.values: list[dict] = []
        self._value: dict | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in self.VOID:
            return
        skipped = bool(self.stack and self.stack[-1][1]) or tag in self.SKIP_TAGS \
            or attrs.get("id") in SKIPPED_SECTIONS or attrs.get("lang") == "en"
        finding = attrs.get("data-finding", self.stack[-1][2] if self.stack else None)
        self.stack.append((tag, skipped, finding))
        if tag == "data":
            self._value = {"key": attrs["data-k"], "value": json.loads(attrs["value"]), "text": "",
                           "finding": finding}

    def handle_endtag(self, tag):
        if tag == "data" and self._value is not None:
            self.values.append(self._value)
            self._value = None
        while self.stack:
            if self.stack.pop()[0] == tag:
                break

    def handle_data(self, data):
        if self._value is not None:
            self._value["text"] += data
        if not (self.stack and self.stack[-1][1]):
            self.text.append(data)

    @property
    def visible(self) -> str:
        return " ".join(self.text)


def percent(text: str) -> float:
    """'+5.6%' or '−1.1%' -> 5.6 or -1.1 (percent, as printed)."""
    return float(text.strip().replace("−", "-").replace("+", "").replace(",", "").rstrip("%"))


@pytest.fixture(scope="module")
def audits(spark, tmp_path_factory):
    """findings.json of a real audit of each generated scenario."""
    root = tmp_path_factory.mktemp("scenarios")
    docs = {}
    for scenario in SCENARIOS:
        made = generate(scenario, ROWS, 17, root / scenario / "sample")
        pipeline.run(load_config(made.config_path), spark, root / scenario / "audit")
        docs[scenario] = json.loads((root / scenario / "audit" / "findings.json").read_text(encoding="utf-8"))
    return docs


def check_decomposition_adds_up(body: Body, doc: dict) -> int:
    """In each card, the printed parts of the raw gap sum to the printed raw gap; returns cards checked."""
    checked = 0
    for index, finding in enumerate(doc["findings"]):
        shown = [v for v in body.values if v["finding"] == str(index)]
        parts = [v for v in shown if v["key"].startswith("decomposition_share.")]
        if not finding.get("decomposition") or finding.get("raw_premium") is None:
            assert not parts
            continue
        assert {v["key"] for v in parts} == {"decomposition_share.price", "decomposition_share.mix",
                                             "decomposition_share.unmatched"}, index
        raw = next(v for v in shown if v["key"] == "raw_premium")  # the sentence's raw gap
        assert round(sum(percent(v["text"]) for v in parts), 1) == percent(raw["text"]), (index, parts, raw)
        checked += 1
    return checked


def labelled_names(doc: dict, language: str) -> set[str]:
    """Column names and values whose configured label differs from the raw name."""
    labels = doc["audit"]["labels"]
    names = {c for c, label in labels["columns"].items() if label.get(language, c) != c}
    for column, values in labels["values"].items():
        names |= {v for v, label in values.items() if label.get(language, v) != v}
    return names


@pytest.mark.slow
@pytest.mark.parametrize("language", LANGUAGES)
def test_every_scenario_report_reads_in_words(audits, language):
    decompositions = 0
    for scenario, doc in audits.items():
        html = render(doc, language, 10)
        body = Body(html)
        text = body.visible
        for value in (doc["audit"]["name"], doc["audit"]["platform"]):  # the audit's own names are data
            text = text.replace(value, " ")
        # The raw gap's parts add up, as printed.
        decompositions += check_decomposition_adds_up(body, doc)
        # Where a label is configured, the raw column name or value never shows.
        for name in labelled_names(doc, language):
            assert not re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text), (scenario, language, name)
        # The method self-check is shown whether it passed or failed.
        assert 'id="self-check"' in html and ('data-k="placebo_tested"' in html) == bool(doc.get("placebo"))
        if language == "zh-CN":
            english = sorted({w for w in re.findall(r"[A-Za-z][A-Za-z'-]{2,}", text) if w not in LATIN_WORDS})
            assert english == [], (scenario, english)
    assert decompositions >= 10  # group price findings of several scenarios carry a decomposition


def test_rendering_is_checked_against_an_independent_sum():
    """The adding-up check can fail: a part changed after rounding is caught."""
    html = '<article data-finding="0"><data value="0.056" data-k="raw_premium">+5.6%</data>' \
           '<data value="0.05" data-k="decomposition_share.price">+5.0%</data>' \
           '<data value="0.016" data-k="decomposition_share.mix">+1.6%</data>' \
           '<data value="-0.011" data-k="decomposition_share.unmatched">−1.1%</data></article>'
    doc = {"findings": [{"decomposition": {"raw": 0.05, "unmatched": -0.01, "mix": 0.015, "price": 0.045},
                         "raw_premium": 0.056}]}
    with pytest.raises(AssertionError):
        check_decomposition_adds_up(Body(html), doc)
    assert check_decomposition_adds_up(Body(html.replace("+5.0%", "+5.1%")), doc) == 1
