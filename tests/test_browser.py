"""The report in a real browser: headless Chromium opens it offline, shows it, prints it.

Needs Debian's chromium (installed by .ci/run) and pdftotext (poppler-utils) to read the
printed pages back. Screenshots and PDFs are left in the test's tmp folder for a human to look at.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from auditor.report import render
from report_fixtures import enrich, generated_audit, many_findings

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def reports(spark, tmp_path_factory):
    """Reports for a generated audit (enriched with evidence and new verdicts) in both languages,
    and one with 100 findings."""
    root = tmp_path_factory.mktemp("browser")
    doc, _ = generated_audit(spark, root, rows=30_000, seed=11)
    rich = enrich(doc)
    made = {}
    for name, source, language in (("en", rich, "en"), ("zh-CN", rich, "zh-CN"),
                                   ("100-findings", many_findings(doc, 100), "en")):
        path = root / f"report-{name}.html"
        path.write_text(render(source, language, 10), encoding="utf-8")
        made[name] = (path, source)
    return made


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "install Debian's chromium (see .ci/run)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


@pytest.mark.parametrize("name", ["en", "zh-CN", "100-findings"])
def test_report_opens_offline_shows_every_finding_and_prints(reports, browser, name, tmp_path):
    path, doc = reports[name]
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    console, failures, requests = [], [], []
    page.on("console", lambda message: console.append((message.type, message.text)))
    page.on("pageerror", lambda error: failures.append(str(error)))
    page.on("request", lambda request: requests.append(request.url))

    started = time.perf_counter()
    page.goto(path.as_uri(), wait_until="load")
    opened = time.perf_counter() - started

    assert [m for m in console if m[0] in ("error", "warning")] == [] and failures == []
    assert requests == [path.as_uri()]  # nothing but the file itself: no fonts, images, scripts
    assert page.locator("#summary").is_visible()
    cards = page.locator("article.card")
    assert cards.count() == len(doc["findings"])
    for i in range(cards.count()):
        assert cards.nth(i).is_visible()
    assert page.locator("#chart-forest svg").is_visible()
    if "placebo" in doc:
        assert page.locator("#placebo-warning").is_visible()
    if name == "zh-CN":
        assert_chart_text_is_drawn_in_a_cjk_font(page)
    page.screenshot(path=str(tmp_path / f"report-{name}.png"), full_page=name != "100-findings")

    started = time.perf_counter()
    pdf = tmp_path / f"report-{name}.pdf"
    page.pdf(path=str(pdf), prefer_css_page_size=True, print_background=True)
    printed = time.perf_counter() - started
    page.close()
    assert requests == [path.as_uri()]

    size = path.stat().st_size
    timing = {"report": name, "bytes": size, "open_s": round(opened, 3), "print_s": round(printed, 3)}
    (tmp_path / "timing.json").write_text(json.dumps(timing))
    print(f"\n{name}: {size / 1e6:.2f} MB, opened in {opened:.2f} s, printed in {printed:.2f} s -> {tmp_path}")

    # Every printed page carries the header naming the audit, and a page number.
    assert shutil.which("pdftotext"), "install poppler-utils (see .ci/run)"
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True,
                          text=True).stdout
    pages = [p for p in text.split("\f") if p.strip()]
    assert len(pages) >= 3
    for number, content in enumerate(pages, start=1):
        assert doc["audit"]["name"] in content, f"page {number} has no header"
        assert f"{number} / {len(pages)}" in content


def assert_chart_text_is_drawn_in_a_cjk_font(page) -> None:
    """The Chinese chart labels are characters in <text> elements, and the browser draws them with a CJK
    font of its own machine (asked for by the chart's font-family list): no boxes, whatever the machine
    that wrote the report had."""
    labels = page.locator("#chart-forest svg text")
    texts = [labels.nth(i).text_content() for i in range(labels.count())]
    chinese = [t for t in texts if re.search(r"[\u4e00-\u9fff]", t or "")]
    assert chinese, texts
    cdp = page.context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument", {"depth": -1, "pierce": True})["root"]["nodeId"]
    nodes = cdp.send("DOM.querySelectorAll", {"nodeId": root, "selector": "#chart-forest svg text"})["nodeIds"]
    used = set()
    for node in nodes:
        fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
        used |= {f["familyName"] for f in fonts}
    assert any("CJK" in family or "Hei" in family for family in used), used
    assert not any(family == "Last Resort" for family in used), used  # the box font
