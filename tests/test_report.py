"""The regulator's report: every number traceable to findings.json, both languages, privacy, no
external resource, untrusted log strings inert, size."""

from __future__ import annotations

import copy

import json
import re
import tomllib
from html.parser import HTMLParser
from importlib import resources

import pandas as pd
import pyarrow.parquet as pq
import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from auditor import pipeline
from auditor.report import charts
from auditor.spec import parse_config
from auditor.report import Formats, css_string, provisions, render
from conftest import audit_toml
from report_fixtures import enrich, generated_audit, many_findings

LANGUAGES = ("en", "zh-CN")
CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src 'none'; script-src 'none'; "
       "connect-src 'none'; object-src 'none'; base-uri 'none'; form-action 'none'")


@pytest.fixture(scope="module")
def audit(spark, tmp_path_factory):
    """A real generated audit (configured for a Chinese report), its findings.json and its log."""
    root = tmp_path_factory.mktemp("report")
    doc, data = generated_audit(spark, root, language="zh-CN")
    return doc, data, root / "audit"


# --- reading the page back ----------------------------------------------------------------------

VOID = {"meta", "br", "img", "input", "link", "hr", "col", "area", "base", "wbr", "source"}


class Page(HTMLParser):
    """Collects <data> values with the finding they sit in, elements, attributes and text."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, str | None]] = []
        self.values: list[dict] = []
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str, str]] = []
        self.text: list[str] = []
        self.cards: list[str] = []
        self._data: dict | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        self.attributes += [(tag, k, v or "") for k, v in attrs.items()]
        if tag == "article":
            self.cards.append(attrs.get("data-finding"))
        if tag in VOID:
            return
        finding = attrs.get("data-finding")
        self.stack.append((tag, finding if finding is not None else (self.stack[-1][1] if self.stack else None)))
        if tag == "data":
            self._data = {"key": attrs["data-k"], "value": json.loads(attrs["value"]),
                          "finding": self.stack[-1][1], "text": ""}

    def handle_startendtag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes += [(tag, k, v or "") for k, v in attrs]

    def handle_endtag(self, tag):
        if tag == "data" and self._data is not None:
            self.values.append(self._data)
            self._data = None
        while self.stack:
            if self.stack.pop()[0] == tag:
                break

    def handle_data(self, data):
        self.text.append(data)
        if self._data is not None:
            self._data["text"] += data


PERCENT_KEYS = {"premium", "premium_abs", "ci_low", "ci_high", "raw_premium", "coverage", "mde", "per_doubling",
                "per_doubling_abs", "analytic.ci_low", "over_range.premium",
                "analytic.ci_high", "bands.premium", "bands.ci_low", "bands.ci_high", "sensitivity.premium",
                "sensitivity.ci_low", "sensitivity.ci_high", "evidence.weight_share", "time_curve.premium",
                "time_curve.ci_low", "time_curve.ci_high", "time_curve.coverage",
                "cluster_weight.top_share", "cluster_weight.top5_share", "placebo_rate", "placebo_rate_low",
                "placebo_rate_high", "placebo_alpha", "placebo_confidence"}
P_KEYS = {"p_value", "q_value", "analytic.p_value", "rank_test.p_value", "tier_p_value", "calibrated_p_value"}


def expected_values(key: str, finding: dict | None, doc: dict) -> list:
    """Where a value shown under `key` must come from in findings.json."""
    quality = doc["data_quality"]
    if key in ("rows_read", "rows_accepted", "rows_rejected"):
        return [quality[key]]
    if key.startswith("rejected_by_reason."):
        return [quality["rejected_by_reason"][key.split(".", 1)[1]]]
    if key.startswith("placebo_"):
        return [doc["placebo"][key.removeprefix("placebo_")]]
    if key.startswith("decomposition_share."):
        # A part of the raw gap in the raw gap's unit: the log-point part scaled by raw_premium / raw.
        parts = finding["decomposition"]
        part = key.split(".", 1)[1]
        part = "price_group_weighted" if part == "price" else part  # findings.json's name for the price part
        return [finding["raw_premium"] / parts["raw"] * parts[part]]
    assert finding is not None, f"{key} shown outside a finding"
    if key in ("premium_abs", "premium_abs_points"):
        return [abs(finding["premium"])]
    if key == "per_doubling_abs":
        return [abs(finding.get("per_doubling") or finding["premium"])]
    if key == "rows_matched":
        return [finding["rows_group"] + finding["rows_reference"]]
    if key == "evidence_suppressed":
        return [None]  # checked in test_evidence_respects_min_cell_size
    if "." in key:
        outer, inner = key.split(".", 1)
        nested = finding[outer]
        return [item[inner] for item in nested] if isinstance(nested, list) else [nested[inner]]
    return [finding[key]]


def visible(html: str) -> str:
    """The page's text, as a reader sees it (markup removed, entities decoded)."""
    return "".join(Page(html).text)


def parse_number(text: str) -> float:
    cleaned = text.strip().removeprefix("=").strip().replace("−", "-").replace("+", "").replace(",", "")
    return float(cleaned.rstrip("%"))


def assert_text_matches(key: str, value, text: str) -> None:
    """The formatted text says the same as the exact value (to its rounding)."""
    if value is None:
        assert text == "—", (key, text)
    elif key.startswith("decomposition_share."):
        # Rounded so that the printed parts add up to the printed raw gap: within a tenth of a percent.
        assert text.endswith("%"), (key, text)
        assert abs(parse_number(text) / 100 - value) < 0.001 + 1e-12, (key, value, text)
    elif key == "premium_abs_points":  # a difference in shares, in percentage points
        assert not text.endswith("%"), (key, text)
        assert parse_number(text) / 100 == pytest.approx(value, abs=0.0005 + 1e-12), (key, value, text)
    elif key == "cluster_weight.effective_users":  # one decimal
        assert parse_number(text) == pytest.approx(value, abs=0.05), (key, value, text)
    elif key in ("placebo_expected", "balance.smd"):  # two decimals
        assert parse_number(text) == pytest.approx(value, abs=0.005), (key, value, text)
    elif key in PERCENT_KEYS:
        assert text.endswith("%"), (key, text)
        assert parse_number(text) / 100 == pytest.approx(value, abs=0.0005 + 1e-12), (key, value, text)
    elif key in P_KEYS:
        if text.lstrip("= ").startswith("<"):
            assert value < 1e-4, (key, value, text)
        else:
            assert parse_number(text) == pytest.approx(value, rel=0.005), (key, value, text)
    elif key in ("se_log",):
        assert parse_number(text) == pytest.approx(value, abs=5e-6), (key, value, text)
    elif key.startswith("evidence.median"):
        assert parse_number(text) == pytest.approx(value, abs=0.005), (key, value, text)
    else:
        assert parse_number(text) == value, (key, value, text)


def check_traceable(html: str, doc: dict) -> Page:
    page = Page(html)
    assert page.values, "no traceable numbers found"
    for shown in page.values:
        finding = doc["findings"][int(shown["finding"])] if shown["finding"] is not None else None
        if shown["key"] != "evidence_suppressed":
            assert shown["value"] in expected_values(shown["key"], finding, doc), shown
        assert_text_matches(shown["key"], shown["value"], shown["text"])
    return page


# --- tests --------------------------------------------------------------------------------------

@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("variant", ["current", "enriched"])
def test_every_number_on_the_page_traces_to_findings_json(audit, language, variant):
    doc = audit[0] if variant == "current" else enrich(audit[0])
    page = check_traceable(render(doc, language, 10), doc)
    for index, finding in enumerate(doc["findings"]):
        shown = {v["key"] for v in page.values if v["finding"] == str(index)}
        assert {"premium", "ci_low", "ci_high", "raw_premium", "q_value", "p_value", "coverage", "cells",
                "users", "rows_group_all", "rows_reference_all", "se_log", "dof", "clusters"} <= shown, index
        if finding.get("mde") is not None:
            assert "mde" in shown
        if finding.get("analytic"):
            assert {"analytic.ci_low", "analytic.ci_high", "analytic.p_value"} <= shown
        if finding.get("bands"):
            assert {"bands.premium", "bands.rows"} <= shown
        carried = (finding.get("cluster_weight") or {}).get("few_users_carry")
        assert ({"cluster_weight.top_share", "cluster_weight.top5_share", "cluster_weight.effective_users"} <= shown) \
            == bool(carried), index
    assert sorted(page.cards, key=int) == [str(i) for i in range(len(doc["findings"]))]


@pytest.mark.parametrize("language,words", [
    ("en", "One user accounts for 31.2% of the comparison's weight, the five largest for 61.4%: the result "
           "rests on about 5.4 users' worth of data"),
    ("zh-CN", "一名用户占本比较权重的 31.2%，最大的五名用户占 61.4%：结果相当于约 5.4 名同等权重用户的数据")])
def test_a_finding_carried_by_few_users_says_so_in_words(audit, language, words):
    doc = enrich(audit[0])
    assert any(f["cluster_weight"].get("few_users_carry") for f in doc["findings"])
    assert words in visible(render(doc, language, 10))
    # The user column's label, when the config gives one, names who carries it.
    labelled = copy.deepcopy(doc)
    user_column = tomllib.loads(labelled["audit"]["config_text"])["columns"]["user_id"]
    labelled["audit"].setdefault("labels", {}).setdefault("columns", {})[user_column] = {
        "en": "travel agent", "zh-CN": "旅行社"}
    text = visible(render(labelled, language, 10))
    assert ("One travel agent accounts for 31.2% of the comparison's weight" if language == "en"
            else "一个旅行社占本比较权重的 31.2%") in text
    assert words not in text
    # Withheld for too few effective users: the reason in words, with the number it rests on.
    withheld = copy.deepcopy(doc)
    f = withheld["findings"][0]
    f.update(verdict="insufficient_data", flagged=False, insufficient_reason="too_few_effective_users",
             cluster_weight={**f["cluster_weight"], "effective_users": 2.46})
    text = visible(render(withheld, language, 10))
    assert ("worth about 2.5 users of equal weight" if language == "en" else "仅相当于约 2.5 名同等权重用户") in text
    check_traceable(render(withheld, language, 10), withheld)


def test_pipeline_writes_the_report_in_the_configured_language(audit):
    doc, _, out = audit
    html = (out / "report.html").read_text(encoding="utf-8")
    assert '<html lang="zh-CN">' in html and "价格歧视审计报告" in html
    check_traceable(html, doc)


def test_flagged_findings_come_first_with_a_plain_sentence_in_the_summary(audit):
    doc = enrich(audit[0])
    html = render(doc, "en", 10)
    page = Page(html)
    verdicts = [doc["findings"][int(i)]["verdict"] for i in page.cards]
    flagged = [v == "flagged" for v in verdicts]
    assert flagged == sorted(flagged, reverse=True) and any(flagged)
    summary = visible(html[html.index('id="summary"'):html.index('id="findings"')])
    device = next(f for f in doc["findings"] if f["group"] == "ios" and f.get("kind") == "group"
                  and f["outcome"] == "price")
    size = f"{abs(device['premium']) * 100:.1f}%"
    # The generated config's [labels] give the words: no column names, units on binned columns.
    assert f"Device “iOS” users paid {size} more (95% interval " in summary
    assert "than “Android” users for the same purchase — the same city, car class, pickup zone, drop-off zone, " \
           "in the same 1-hour time window, distance in the same band of 2,000 m" in summary
    # The failed placebo self-check is the first thing on the page after the title.
    assert html.index('id="placebo-warning"') < html.index('id="summary"')
    assert "Warning: self-check failed." in html


def test_verdicts_in_words_in_both_languages(audit):
    doc = enrich(audit[0])
    en, zh = visible(render(doc, "en", 10)), visible(render(doc, "zh-CN", 10))
    for words in ("Flagged", "Cleared", "Inconclusive"):
        assert words in en
    for words in ("已标记", "已证实无实质差异", "无法定论"):
        assert words in zh
    assert "已排除" not in zh  # "cleared" is a finding about size, not an exclusion from the analysis
    assert "With these data, a premium of 1.2% or more would have been flagged with 80% probability." in en
    assert "根据这些数据，1.2% 或更高的溢价有 80% 的概率会被标记。" in zh
    assert "Each doubling of 1 + prior_orders went with a 1.1% higher price" in en
    # A flag whose interval reaches below materiality says so; an undefined premium says why, not a crash.
    flagged = next(f for f in doc["findings"] if f["flagged"])
    flagged["material_interval"] = False
    other = next(f for f in doc["findings"] if not f["flagged"])
    other.update(verdict="insufficient_data", insufficient_reason="no_common_support", premium=None, ci_low=None,
                 ci_high=None, p_value=None, q_value=None, mde=None, cells=0)
    en, zh = visible(render(doc, "en", 10)), visible(render(doc, "zh-CN", 10))
    assert "The estimate is above the materiality threshold of 1.0%; the interval does not exclude smaller premiums." in en
    assert "估计值高于 1.0% 的重要性阈值；但置信区间不排除更小的溢价。" in zh
    assert "not estimable: no cell holds comparable purchases of both groups." in en
    assert "无法估计：没有任何单元同时包含两个群体的可比交易。" in zh


@pytest.mark.parametrize("min_cell_size", [10, 40])
def test_evidence_respects_min_cell_size(audit, min_cell_size):
    doc = enrich(audit[0])
    page = Page(render(doc, "en", min_cell_size))
    for key in ("evidence.users_group", "evidence.users_reference"):
        users = [v["value"] for v in page.values if v["key"] == key]
        assert users and min(users) >= min_cell_size
    for index, finding in enumerate(doc["findings"]):
        if not finding["flagged"]:
            continue
        small = sum(1 for c in finding["evidence"]
                    if min(c["users_group"], c["users_reference"]) < min_cell_size)
        withheld = [v["value"] for v in page.values
                    if v["key"] == "evidence_suppressed" and v["finding"] == str(index)]
        assert withheld == ([small + finding.get("evidence_suppressed", 0)]
                            if small + finding.get("evidence_suppressed", 0) else [])


def test_no_user_id_anywhere(audit):
    doc, data, out = audit
    ids = pq.read_table(data, columns=["passenger_id"]).column(0).drop_null().unique().to_pylist()
    assert len(ids) > 100
    pages = [(out / "report.html").read_text(encoding="utf-8"), (out / "findings.json").read_text(encoding="utf-8")]
    pages += [render(enrich(doc), language, 10) for language in LANGUAGES]
    pattern = re.compile(r"\bP\d{3,}\b")
    for page in pages:
        assert not set(pattern.findall(page)) & set(ids)


def test_legal_mapping_comes_from_the_data_file_in_both_languages(audit):
    doc = enrich(audit[0])
    table = tomllib.loads((resources.files("reports") / "legal.toml").read_text(encoding="utf-8"))["provision"]
    assert {p["id"] for p in table} >= {"pipl-24", "ecl-18", "amg-17", "arp-21", "cpl-ir-9", "ippbr-2026",
                                        "eu-crd-6-1-ea"}
    for language in LANGUAGES:
        assert all(p.title and p.concern for p in provisions(language))
        html = render(doc, language, 10)
        for index, finding in enumerate(doc["findings"]):
            card = re.search(rf'<article [^>]*data-finding="{index}">.*?</article>', html, re.S).group(0)
            cited = set(re.findall(r'href="#law-([^"]+)"', card))
            # A flag is cited against the law only when it survived its checks (verdict `flagged`).
            expected = {p.id for p in provisions(language) if finding["verdict"] == "flagged"
                        and finding["kind"] in p.kinds and finding["outcome"] in p.outcomes}
            assert cited == expected
        assert ("May concern:" if language == "en" else "可能涉及：") in html
    steering = render(doc, "en", 10)
    assert "new users within a reasonable period" in steering  # the Guidelines' Art. 17 justification


def test_chinese_catalogue_is_complete_and_used(audit):
    method_map = [("auditor/report/*.py", "python"), ("reports/templates/**.j2", "jinja2")]
    options = {"reports/templates/**.j2": {"extensions": "jinja2.ext.i18n", "trim_blocks": "True",
                                           "lstrip_blocks": "True"}}
    root = resources.files("reports").parent
    extracted = {m[2] if isinstance(m[2], str) else m[2][0]
                 for m in extract_from_dir(str(root), method_map, options_map=options)
                 if not str(m[0]).startswith(("tests", ".venv"))}
    po = resources.files("reports") / "locale" / "zh_CN" / "LC_MESSAGES" / "messages.po"
    with po.open("rb") as handle:
        catalogue = read_po(handle)
    translated = {(m.id if isinstance(m.id, str) else m.id[0]): m for m in catalogue if m.id}
    assert extracted == set(translated), (f"untranslated: {sorted(extracted - set(translated))}; not in the "
                                           f"templates: {sorted(set(translated) - extracted)} (see reports/babel.cfg)")
    for message in translated.values():
        assert not message.fuzzy and all(message.string if isinstance(message.string, tuple)
                                         else [message.string]), message.id
    zh = render(enrich(audit[0]), "zh-CN", 10)
    text = " ".join(Page(zh).text)
    for msgid in extracted:
        if "%" not in msgid and len(msgid) > 12:
            assert msgid not in text


def test_numbers_and_dates_follow_the_locale():
    en, zh = Formats("en"), Formats("zh-CN")
    assert en.pct(0.0512) == "+5.1%" and en.pct(-0.0512) == "−5.1%" and en.pct(0.00001) == "0.0%"
    assert en.num(1234567) == "1,234,567" and zh.num(1234567) == "1,234,567"
    assert en.p(3e-9) == "< 0.0001" and en.p_is(0.4193) == "= 0.419"
    assert en.when("2026-11-23T07:41:22+00:00") == "Nov 23, 2026, 7:41:22\u202fAM UTC"
    assert zh.when("2026-11-23T07:41:22+00:00") == "2026年11月23日 07:41:22 UTC"
    assert css_string('a"b</style>') == '"a\\22 b\\3c \\2f style\\3e "'


EXTERNAL = re.compile(r"https?:|//|\bsrc\s*=|url\((?!#)|@import", re.I)


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_external_resource_is_referenced(audit, language):
    html = render(enrich(audit[0]), language, 10)
    # The audit's own text (config, paths, command) could hold '//' legitimately; the generated one
    # does not, so the whole file must be free of anything a browser could fetch.
    assert not EXTERNAL.findall(html)
    page = Page(html)
    assert not {"script", "img", "link", "iframe", "object", "embed", "image", "foreignobject"} & set(page.tags)
    for tag, name, value in page.attributes:
        assert not name.startswith("on") and name not in ("src", "srcset", "xlink:href")
        if name == "href":
            assert value.startswith("#"), (tag, value)
    assert f'<meta http-equiv="Content-Security-Policy" content="{CSP}">' in html


def _hostile_log(tmp_path):
    """A log whose city, car level and device values are markup and template syntax."""
    hostile_city = "<script>alert(1)</script>"
    hostile_level = '"><img src=x onerror=alert(1)>'
    hostile_os = "{{ 7*7 }}"
    rows = []
    for user in range(60):
        os_value = hostile_os if user % 2 else "android"
        for ride in range(12):
            rows.append({"order_no": f"o{user}-{ride}", "uid": f"u{user}",
                         "ts": pd.Timestamp("2026-09-07 08:00", tz="UTC") + pd.Timedelta(minutes=ride),
                         "price": 20.0 * (1.05 if user % 2 else 1.0) * (1 + 0.01 * (ride % 3)),
                         "city": hostile_city if ride % 2 else "Beijing", "car_level": hostile_level,
                         "os": os_value})
    data = tmp_path / "hostile.parquet"
    pd.DataFrame(rows).to_parquet(data)
    text = audit_toml(audit={"name": '</style><script>alert(1)</script> {{ 7*7 }} “审计”',
                             "platform": '"><img src=x onerror=alert(1)>'},
                      input={"path": str(data)},
                      columns={"transaction_id": "order_no", "user_id": "uid", "timestamp": "ts", "price": "price"},
                      match={"exact": ["city", "car_level"]},
                      segments=[{"name": "<b>Device</b>", "column": "os", "reference": "android",
                                 "groups": ["{{ 7*7 }}"]}],
                      test={"alpha": 0.05, "materiality": 0.01})
    return parse_config(text), (hostile_city, hostile_level, "{{ 7*7 }}")


def test_untrusted_strings_render_as_inert_text(spark, tmp_path):
    config, hostile = _hostile_log(tmp_path)
    pipeline.run(config, spark, tmp_path / "out")
    doc = json.loads((tmp_path / "out" / "findings.json").read_text())
    for finding in doc["findings"]:  # the cell evidence the estimator is adding, with the log's strings
        finding["evidence"] = [{"keys": {"city": hostile[0], "car_level": hostile[1], "product": hostile[2]},
                                "time_bucket": "2026-09-07T08:00:00", "rows_group": 180, "rows_reference": 180,
                                "users_group": 30, "users_reference": 30, "median_group": 21.0,
                                "median_reference": 20.0, "weight_share": 1.0}]
        finding["flagged"], finding["verdict"] = True, "flagged"
    pages = [(tmp_path / "out" / "report.html").read_text(encoding="utf-8")]
    pages += [render(doc, language, 10) for language in LANGUAGES]
    for html in pages:
        page = Page(html)
        assert page.tags.count("script") == 0 and "img" not in page.tags and "b" not in page.tags
        assert not [name for _, name, _ in page.attributes if name.startswith("on")]
        text = "".join(page.text)
        assert "{{ 7*7 }}" in text and "<b>Device</b>" in text
        assert '"><img src=x onerror=alert(1)>' in text
        assert f'<meta http-equiv="Content-Security-Policy" content="{CSP}">' in html
        style = html[html.index("<style>"):html.index("</style>")]
        assert "<" not in style[len("<style>"):]  # the audit name is CSS-escaped, so it cannot close the style
        header = re.search(r"@top-left \{ content: (\"[^\"]*\")", style).group(1)
        assert re.fullmatch(r'"[A-Za-z0-9\\ ]*"', header)
    assert "<script>alert(1)</script>" in "".join(Page(pages[1]).text)


@pytest.mark.parametrize("language", LANGUAGES)
def test_report_for_100_findings_stays_under_2_mb(audit, language):
    doc = many_findings(audit[0], 100)
    html = render(doc, language, 10)
    size = len(html.encode("utf-8"))
    print(f"\n100-finding report ({language}): {size / 1e6:.2f} MB")
    assert size < 2_000_000
    check_traceable(html, doc)


@pytest.mark.parametrize("cjk_font", ["present", "absent"])
def test_chinese_chart_labels_are_text_the_browser_draws_with_or_without_a_cjk_font(cjk_font, monkeypatch,
                                                                                    recwarn, caplog):
    """The machine writing the report may have no CJK font (a cluster driver rarely does): chart text
    stays Chinese characters in <text> elements with a CJK font-family list, with no warnings."""
    if cjk_font == "absent":
        monkeypatch.setenv("AUDITOR_CJK_FONT", "/nonexistent/no-cjk-font.ttc")
        assert charts.cjk_font_path() is None and charts.font_families("zh-CN") == [charts.LATIN_FAMILY]
    else:
        assert charts.cjk_font_path() is not None, "install fonts-noto-cjk (see .ci/run)"
    svg = charts.forest_plot([charts.ForestRow("设备：苹果iOS / 安卓", 0.05, 0.04, 0.06, True)], 0.01,
                             chart_id="t", language="zh-CN", percent=Formats("zh-CN").pct, glyphs=set(),
                             title="标题", xlabel="匹配溢价（群体对参照）", band_label="低于阈值",
                             flagged_label="已标记", other_label="未标记")
    texts = re.findall(r"<text\b([^>]*)>([^<]*)</text>", svg)
    shown = {text for _, text in texts}
    assert {"设备：苹果iOS / 安卓", "匹配溢价（群体对参照）", "已标记", "未标记"} <= shown
    for style, _ in texts:
        assert "font-family: 'Noto Sans CJK SC', 'Source Han Sans SC', 'PingFang SC'" in style
    assert not re.search(r'<path id="(DejaVu|Noto|WenQuanYi)', svg)  # no glyph outlines (nor boxes)
    assert not [w for w in recwarn if "Glyph" in str(w.message)]
    assert not [r for r in caplog.records if "findfont" in r.getMessage()]
    assert not EXTERNAL.findall(svg)


def _details_doc() -> dict:
    """A finding with a binned key in its evidence, a negative balance difference, a failed placebo and
    labels for everything the report names, the audit's title and platform included."""
    from test_cli_report import findings_doc
    doc = findings_doc()
    doc["audit"]["config_text"] = '[match]\nexact = ["city"]\nbins = { distance_m = 2000 }\n'
    doc["audit"]["labels"]["columns"]["distance_m"] = {"en": "distance", "zh-CN": "行程距离",
                                                       "unit": {"en": "m", "zh-CN": "米"}}
    doc["audit"]["labels"]["values"]["os"]["android"] = {"en": "Android", "zh-CN": "安卓"}
    doc["audit"]["labels"]["audit"] = {"name": {"zh-CN": "网约车价格审计"}, "platform": {"zh-CN": "示例出行"}}
    finding = doc["findings"][0]
    finding["evidence"] = [{"keys": {"city": "Beijing", "distance_m": 4000.0}, "time_bucket": None,
                            "rows_group": 40, "rows_reference": 50, "users_group": 20, "users_reference": 25,
                            "median_group": 30.0, "median_reference": 28.0, "weight_share": 0.4}]
    finding["robust"] = False
    finding["balance"] = [{"measure": "distance_m", "smd": -0.1234, "balanced": False}]
    finding["robust_reasons"] = []
    cleared = {**finding, "group": "web", "flagged": False, "verdict": "cleared", "evidence": []}
    doc["findings"].append(cleared)
    doc["placebo"] = {"splits": 4, "tested": 4, "p_values": [0.001, 0.002, 0.5, 0.9], "rejections": 2,
                      "expected": 0.2, "chance": 0.02, "warning": True, "population": "os = android"}
    doc["notes"] = ["Self-check failed: 2 of 4 random placebo splits of os = android were found significant "
                    "(about 0.20 expected by chance). The inference is not reliable on this data; treat p-values "
                    "and flags with caution."]
    return doc


def test_report_details_read_in_words_units_and_the_reader_s_language():
    doc = _details_doc()
    en = " ".join(Page(render(doc, "en", 10)).text)
    assert "distance: 4,000–6,000 m" in en  # a band with its unit, as the summary's "band of 2,000 m"
    assert "distance: 4000" not in en
    assert "−0.12" in en and "-0.12" not in en  # the balance table's minus is the report's minus
    assert "Users split: device “Android”" in en and "os = android" not in en
    assert re.search(r"Other verdicts:\s+Cleared 1\s", en) and not re.search(r"Other verdicts:\s+Cleared:", en)
    zh_html = render(doc, "zh-CN", 10)
    zh = " ".join(Page(zh_html).text)
    assert "行程距离: 4,000–6,000 米" in zh or "行程距离：4,000–6,000 米" in zh
    assert "设备“安卓”" in zh and "os = android" not in zh
    assert "方法自检未通过：对设备“安卓”用户进行的 4 次随机安慰剂拆分中，有 2 次被判定为显著" in zh
    assert "Self-check failed" not in zh_html and "were found significant" not in zh_html
    assert "<h1>网约车价格审计</h1>" in zh_html and "示例出行" in zh  # [labels.audit] for title and platform
    assert "<h1>Archived audit</h1>" in render(doc, "en", 10)  # no English label: the config's own name


def test_labels_audit_is_validated_and_recorded():
    from auditor.spec import parse_config as parse
    from test_ingest import CONFIG
    text = CONFIG.format(path="x.csv", fmt="csv") + '\n[labels.audit]\nname = { zh-CN = "审计" }\n'
    assert parse(text).labels.to_json()["audit"] == {"name": {"en": None, "zh-CN": "审计"}} or \
        parse(text).labels.to_json()["audit"]["name"]["zh-CN"] == "审计"
    with pytest.raises(Exception, match=r"\[labels.audit\] holds the report's title and platform"):
        parse(CONFIG.format(path="x.csv", fmt="csv") + '\n[labels.audit]\ntitle = "x"\n')


def test_robust_says_alike_only_where_a_balance_check_was_possible(audit):
    doc = enrich(audit[0])
    flagged = [f for f in doc["findings"] if f["flagged"]]
    for f in flagged:
        f.update(robust=True, robust_reasons=[], balance=[])
    text = visible(render(doc, "en", 10))
    assert "could not be checked" in text and "alike where it was checked" not in text
    for f in flagged:
        f["balance"] = [{"measure": "time_bucket", "smd": 0.02, "balanced": True}]
    text = visible(render(doc, "en", 10))
    assert "alike where it was checked" in text and "could not be checked" not in text
