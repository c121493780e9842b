"""findings.json is read back into the model it was written from: any schema version loads, renders in both
languages, and what is written reads back equal."""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.errors import AuditInputError
from auditor.findings import SCHEMA_VERSION, AuditFindings, load
from auditor.findings.model import Evidence
from auditor.report import render
from auditor.spec import MatchSpec

VERSION_1 = Path(__file__).parent / "baselines" / "schema1" / "findings.json"  # the demo's, written at schema 1


def version_1() -> dict:
    doc = json.loads(VERSION_1.read_text(encoding="utf-8"))
    assert doc.get("schema_version", 1) == 1 and "match_rules" not in doc["audit"]
    return doc


def test_a_version_1_file_loads_into_the_model_with_its_match_rules_read_from_its_config():
    doc = load(VERSION_1)
    assert isinstance(doc, AuditFindings) and doc.schema_version in (None, 1)  # the baseline leaves the version out
    assert doc.audit.match_rules == MatchSpec(exact=("city", "car_level", "start_grid", "end_grid"), time_bucket="1h",
                                              time_bucket_seconds=3600, bins=(("distance_m", 2000),))
    assert doc.audit.user_column == "passenger_id"
    assert dict(dict(doc.audit.labels.columns)["os"].text) == {"en": "device", "zh-CN": "设备"}
    flagged = [f for f in doc.findings if f.robustness is not None]
    assert flagged and all(f.robustness.sensitivity and f.robustness.sensitivity[0].kind for f in flagged)
    assert doc.placebo.splits == 200 and doc.personalisation.reading == "insufficient_data"


@pytest.mark.parametrize("language, words", [("en", "Matched premium"), ("zh-CN", "溢价")])
def test_a_version_1_file_renders_as_a_version_2_file_with_the_same_rules_recorded(language, words):
    old = version_1()
    new = copy.deepcopy(old)
    new["schema_version"] = 2
    new["audit"].update(match_rules={"exact": ["city", "car_level", "start_grid", "end_grid"], "time_bucket": "1h",
                                     "time_bucket_seconds": 3600, "bins": {"distance_m": 2000.0}},
                        user_column="passenger_id", config_text="")  # nothing left to parse
    html = render(old, language, 10)
    assert words in html
    assert _without_config(html) == _without_config(render(new, language, 10))


def _without_config(html: str) -> str:
    """The page without the schema version and the recorded config text (which differ by construction)."""
    html = re.sub(r"</th><td>(None|1|2)</td></tr>", "", html)
    return re.sub(r"<pre[^>]*>.*?</pre>", "", html, flags=re.S)


@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_older_shapes_still_load_and_render(language):
    """What files once held: no labels (read from the config text), no verdict, the decomposition's price part
    as "price", a self-check of 4 splits without a rate, no evidence, sensitivity rows without a kind."""
    doc = version_1()
    del doc["audit"]["labels"]
    doc["placebo"] = {"splits": 4, "rejections": 3, "expected": 0.2, "warning": True, "population": "os = android"}
    doc["notes"] = ["Self-check failed: 3 of 4 random placebo splits were significant."]
    for f in doc["findings"]:
        del f["verdict"], f["evidence"]
        d = f["decomposition"]
        d["price"] = d.pop("price_group_weighted")
        for row in f.get("sensitivity", []):
            row.pop("kind"), row.pop("estimable")
    loaded = load(doc)
    assert {f.verdict for f in loaded.findings} <= {"flagged", "no_evidence"}
    assert all(f.decomposition.price_group_weighted is not None and f.evidence is None for f in loaded.findings)
    assert dict(dict(loaded.audit.labels.values)["os"])["ios"].text  # from the config text
    html = render(doc, language, 10)
    assert ("苹果iOS" if language == "zh-CN" else "iOS") in html


def test_a_file_without_the_optional_fields_renders_what_it_holds():
    """The first findings files had no mde, evidence, analytic result, kind, outcome or verdict: the report
    says the evidence is not in the file and shows each finding's own numbers."""
    doc = version_1()
    for finding in doc["findings"]:
        for key in ("mde", "evidence", "analytic", "kind", "outcome", "verdict"):
            finding.pop(key, None)
    assert any(f["flagged"] for f in doc["findings"])
    html = render(doc, "en", 10)
    assert "Cell-level evidence is not included in this findings file." in html
    for index, finding in enumerate(doc["findings"]):
        card = re.search(rf'<article [^>]*data-finding="{index}">.*?</article>', html, re.S).group(0)
        shown = re.findall(r'<data value="([^"]*)" data-k="premium">', card)
        assert shown and {json.loads(v) for v in shown} == {finding["premium"]}, index
        assert 'data-k="analytic.p_value"' not in card and 'data-k="mde"' not in card


def test_what_is_written_reads_back_equal():
    doc = load(VERSION_1)
    again = load(json.loads(json.dumps(doc.to_json())))
    assert again == dataclasses.replace(doc, schema_version=SCHEMA_VERSION)
    assert again.to_json() == doc.to_json() and again.to_json()["schema_version"] == 2


finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@settings(max_examples=25, deadline=None)
@given(premium=finite, low=finite, high=finite, verdict=st.sampled_from(["flagged", "cleared", "inconclusive"]),
       cells=st.integers(0, 10**9), reason=st.none() | st.sampled_from(["no_common_support", "too_few_cells"]),
       evidence=st.lists(st.tuples(st.text(max_size=5), st.integers(0, 500), finite), max_size=3))
def test_any_finding_round_trips(premium, low, high, verdict, cells, reason, evidence):
    doc = load(VERSION_1)
    f = doc.findings[0]
    cells_shown = tuple(Evidence(keys={"city": key}, time_bucket="2026-09-07T08:00+08:00", users_group=users,
                                 median_group=median)
                        for key, users, median in evidence)
    changed = dataclasses.replace(f, premium=premium, ci_low=low, ci_high=high, verdict=verdict, cells=cells,
                                  insufficient_reason=reason, evidence=cells_shown)
    written = dataclasses.replace(doc, findings=(changed, *doc.findings[1:]), schema_version=SCHEMA_VERSION)
    assert load(json.loads(json.dumps(written.to_json()))) == written


def test_what_is_not_a_findings_file_is_refused_in_one_line(tmp_path):
    with pytest.raises(AuditInputError, match="does not exist: give the findings.json an audit wrote"):
        load(tmp_path / "missing.json")
    (tmp_path / "other.json").write_text('{"rows": 3}')
    with pytest.raises(AuditInputError, match=r"\[baseline\] findings: .* is not a findings.json"):
        load(tmp_path / "other.json", "[baseline] findings")
