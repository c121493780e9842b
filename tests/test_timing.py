"""End to end in Spark, on a generated log (validation/timing.py): iOS riders land in 10-minute surge
spikes inside the 1-hour window and pay nothing extra for the same ride at the same moment; plus
members, sold in Shanghai only, pay a true +4 %.

- The iOS flag does not survive its timing checks: `flagged_not_robust`, its premium shrinking as the
  window is halved, and the report's summary says so in both languages.
- The plus flag stays `flagged` and robust: leaving Shanghai out leaves no member purchases, which is
  reported as not estimable, not as a loss of the flag.

This is also the fast subset of the timing validation (docs/validation.md, `python -m validation.timing`).
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from auditor.report import render
from validation.timing import render as render_section
from validation.sections import splice
from validation.timing import TimingRow, spiky_rides


@pytest.fixture(scope="module")
def audited(spark, tmp_path_factory):
    from auditor import pipeline
    from auditor.spec import parse_config

    root = tmp_path_factory.mktemp("timing")
    made = spiky_rides(np.random.default_rng([20261130, 102]), root / "log", users=800, premium=0.04,
                       plus_cities=("SH",), plus_share=0.5)
    result = pipeline.run(parse_config(made.config_text), spark, root / "out")
    doc = json.loads((root / "out" / "findings.json").read_text(encoding="utf-8"))
    return {f.group: f for f in result.findings if f.kind == "group"}, doc


def test_timing_within_the_window_is_flagged_not_robust(audited):
    found, _ = audited
    ios = found["ios"]
    assert ios.flagged and ios.premium > 0.05, ios.premium  # 1-hour matching reads the spikes as a premium
    assert ios.verdict == "flagged_not_robust" and ios.to_json()["robust"] is False
    reasons = {r["reason"]: r for r in ios.to_json()["robust_reasons"]}
    assert "time_bucket_moves" in reasons
    moved = reasons["time_bucket_moves"]
    assert moved["original_premium"] == ios.premium and moved["premium"] < ios.ci_low
    curve = ios.to_json()["time_curve"]
    assert [s["time_bucket_seconds"] for s in curve[:3]] == [3600, 1800, 900]
    premiums = [s["premium"] for s in curve]
    assert premiums == sorted(premiums, reverse=True)  # compared closer in time, the gap shrinks
    assert all(s["coverage"] >= 0.5 * ios.coverage for s in curve)
    assert ios.to_json()["time_curve_stop"] in ("coverage", "resolution", "unestimable", "limit")


def test_a_membership_sold_in_one_city_stays_flagged_and_robust(audited):
    found, _ = audited
    plus = found["plus"]
    assert plus.verdict == "flagged" and plus.to_json()["robust"] is True, plus.to_json()["robust_reasons"]
    assert plus.premium == pytest.approx(0.04, abs=0.02)
    rows = {r["change"]: r for r in plus.to_json()["sensitivity"]}
    shanghai = rows["without city = SH"]
    assert shanghai["estimable"] is False and shanghai["unestimable_reason"] == "no_group_rows"
    assert shanghai["flagged"] is None and shanghai["rows"] == 0
    assert rows["without city = BJ"]["estimable"] is True and rows["without city = BJ"]["flagged"] is True
    assert plus.to_json()["variants_unestimable"] == 1 and plus.to_json()["variants_estimable"] == len(rows) - 1


def test_the_curve_asked_in_rounds_is_the_curve_of_every_step(spark, tmp_path, monkeypatch):
    """The lean pass asks the first steps of each curve, then the rest only for curves still going:
    the curves, stops and verdicts are those of asking every step at once (on a log of small cells,
    where coverage falls within the first round, with fewer rules asked: docs/performance.md)."""
    from auditor.engine.estimate import SparkEngine, plan
    from auditor.engine.ingest import ingest
    import importlib

    from auditor.findings import build
    from auditor.spec import parse_config

    made = spiky_rides(np.random.default_rng([20261130, 102]), tmp_path / "log", users=800, premium=0.04,
                       plus_cities=("SH",), plus_share=0.5)
    sens = importlib.import_module("auditor.findings.sensitivity")  # the package exports the function
    config = parse_config(made.config_text)
    accepted = ingest(spark, config).accepted
    items = plan(config)

    class Recorded(SparkEngine):
        asked: list[int] = []

        def variants(self, wanted):
            self.asked.append(len(wanted))
            return super().variants(wanted)

    def audit(first_round: int):
        monkeypatch.setattr(sens, "CURVE_FIRST_ROUND", first_round)
        engine = Recorded(accepted, config)
        engine.asked = []
        findings, _ = build.build_findings(engine.estimate(items), config)
        try:
            return {f.group: f for f in sens.sensitivity(engine, config, items, findings)}, engine.asked
        finally:
            engine.release()

    rounds, asked_in_rounds = audit(3)
    at_once, asked_at_once = audit(99)
    # Here the spikes keep every curve going past the first round: the second asks the rest, no more.
    assert len(asked_at_once) == 1 and sum(asked_in_rounds) == asked_at_once[0], (asked_in_rounds, asked_at_once)
    for group, f in at_once.items():
        g = rounds[group]
        written, expected = g.to_json(), f.to_json()  # as written, so NaN equals NaN
        assert (g.verdict, written.get("time_curve_stop")) == (f.verdict, expected.get("time_curve_stop"))
        for part in ("time_curve", "sensitivity", "robust_reasons"):
            assert json.dumps(written.get(part), default=str) == json.dumps(expected.get(part), default=str)


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))


def test_the_report_reads_right_in_both_languages(audited):
    found, doc = audited
    ios, plus = found["ios"], found["plus"]
    assert {f["group"]: f["verdict"] for f in doc["findings"] if f["kind"] == "group"} == {
        "ios": "flagged_not_robust", "plus": "flagged"}
    moved = next(r for r in ios.to_json()["robust_reasons"] if r["reason"] == "time_bucket_moves")
    en, zh = render(doc, "en", 10), render(doc, "zh-CN", 10)
    summary = _text(en[en.index('id="summary"'):en.index('id="findings"')])
    robust_part, fragile_part = summary.split("is flagged, but not robust.")
    assert "1 of 2 comparisons is flagged." in robust_part and "“plus” users paid" in robust_part
    assert "“ios” users" not in robust_part and "“ios” users paid" in fragile_part
    first = ios.to_json()["robust_reasons"][0]  # the most telling reason is the summary's
    said = {"time_bucket_moves": f"halving the time window moves it from +{ios.premium:.1%} to "
                                 f"+{first['premium']:.1%}; purchases of the two groups may differ in timing within "
                                 "the window.",
            "shrinks_with_window": f"compared closer in time it shrinks at every halving, from +{ios.premium:.1%} "
                                   f"to +{first['premium']:.1%} within ",
            "explained_by_timing": f"it falls from +{ios.premium:.1%} to {first['premium']:+.1%}: it is explained "
                                   "by timing within the window."}
    assert "Not robust: " in fragile_part and said[first["reason"]] in fragile_part
    assert "1 of 2 comparisons is flagged, but not robust." in summary
    card = _text(re.search(r'<article [^>]*id="finding-2".*?</article>', en, re.S).group(0))
    assert "not estimable: no “plus” purchases remain — every matched one is in city “SH”" in card
    summary_zh = _text(zh[zh.index('id="summary"'):zh.index('id="findings"')])
    assert "2 项比较中有 1 项显著但不稳健，需复核。" in summary_zh
    assert f"时间窗口缩短一半后，溢价从 +{ios.premium:.1%} 变为 +{moved['premium']:.1%}" in _text(zh)
    assert "不稳健：" in summary_zh and f"+{ios.premium:.1%}" in summary_zh
    assert "无法估计：已没有“plus”的交易——其全部匹配交易都在city“SH”" in _text(zh)
    assert plus.premium > 0


def test_the_validation_section_counts_the_verdicts():
    rows = [TimingRow(seed=[1, i], rows=8000, ios_flagged=True, ios_verdict=v, ios_premium=0.1,
                      ios_reasons=("time_bucket_moves",) if v != "flagged" else (), plus_verdict="flagged",
                      plus_robust=True, plus_premium=0.05, seconds=50.0)
            for i, v in enumerate(["flagged_not_robust", "flagged_not_robust", "flagged"])]
    section = render_section(rows, "python -m validation.timing", 150.0)
    assert "| Device “ios” | no premium; timing within the window | 3 of 3 | 1 of 3 | 2 of 3 |" in section
    assert "| 3 of 3 (robust) |" in section and "`time_bucket_moves` 2 of 3" in section
    document = "# Validation study\n\ntext\n"
    once = splice(document, section, "timing")
    assert once.startswith(document.rstrip("\n")) and splice(once, section, "timing") == once
