"""The notebook API: Audit.from_toml / from_dict, run without writing, the result's table and HTML."""

from __future__ import annotations

import dataclasses
import json
import re
import tomllib

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditor import Audit
from auditor.api import FINDING_COLUMNS
from auditor.spec import parse_config, to_toml
from auditor.errors import AuditOutputError
from auditor.synth import generate


def _files(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.fixture(scope="module")
def audited(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("api")
    made = generate("rides", 3000, 7, root / "sample")
    before = _files(root)
    result = Audit.from_toml(made.config_path).run(spark)
    return root, made, before, result


def test_run_writes_nothing_and_write_writes_the_same_document(audited, tmp_path):
    root, made, before, result = audited
    assert _files(root) == before  # run() alone wrote nothing: no output, no staging folder
    truth = json.loads(made.truth_path.read_text())
    quality = result.document.data_quality
    assert quality.rows_read == truth["rows"] and quality.rows_rejected == sum(truth["bad_rows"].values()) > 0

    out = result.write(tmp_path / "out")
    assert sorted(p.name for p in out.iterdir()) == [".audit-manifest.json", "findings.json", "rejected", "report.html"]
    written = json.loads((out / "findings.json").read_text())
    assert written == json.loads(json.dumps(result.to_json()))
    assert len(pd.read_parquet(out / "rejected")) == quality.rows_rejected
    assert (out / "report.html").read_text() == result.report_html()
    assert _files(root) == before  # the audit's own folder is untouched by write
    # A second write names the Python argument that replaces the folder, not the command line's flag.
    with pytest.raises(AuditOutputError) as caught:
        result.write(tmp_path / "out")
    assert str(caught.value) == (f"{(tmp_path / 'out').resolve()} already exists: choose a new folder, or pass "
                                 "overwrite=True to replace it")
    assert result.write(tmp_path / "out", overwrite=True) == out


def test_repr_html_prints_minus_signs_and_thousands_like_the_report():
    from auditor.api import AuditResult

    frame = pd.DataFrame([{c: None for c in FINDING_COLUMNS}])
    frame.loc[0, ["segment", "group", "reference", "outcome", "scale", "verdict"]] = \
        ["Device", "ios", "android", "price", "ratio", "cleared"]
    frame.loc[0, ["premium", "ci_low", "ci_high", "users"]] = [-0.005, -0.012, 0.002, 6769]

    class Shown(AuditResult):
        findings = property(lambda self: frame)

    [row] = Shown(None)._rows()
    assert row["premium"] == "−0.5%" and row["interval"] == "−1.2% … +0.2%" and row["users"] == "6,769"


def test_findings_table_has_one_row_per_comparison_and_outcome(audited):
    _, made, _, result = audited
    table = result.findings
    doc = result.to_json()["findings"]
    assert list(table.columns) == list(FINDING_COLUMNS)
    assert len(table) == len(doc) > 0
    assert not table.duplicated(["segment", "group", "outcome"]).any()
    for row, finding in zip(table.itertuples(), doc):
        assert (row.group, row.outcome, row.verdict) == (finding["group"], finding["outcome"], finding["verdict"])
        assert row.premium == pytest.approx(finding["premium"], nan_ok=True) if finding["premium"] is not None \
            else pd.isna(row.premium)
    assert result.flagged["flagged"].all() and len(result.flagged) == sum(f["flagged"] for f in doc)


def test_report_html_in_either_language(audited):
    result = audited[3]
    english, chinese = result.report_html(), result.report_html(language="zh-CN")
    assert '<html lang="en"' in english and "zh" in chinese[:300] and chinese != english


def test_repr_html_shows_summary_and_escapes_log_strings(spark, tmp_path, capsys):
    made = generate("null", 3000, 3, tmp_path / "sample")
    before = _files(tmp_path)
    settings = tomllib.loads(made.config_path.read_text())
    settings["audit"]["name"] = "<script>alert(1)</script>"
    capsys.readouterr()
    result = Audit.from_dict(settings, base_dir=made.config_path.parent).run(spark, progress=True)
    phases = re.findall(r"^\[ *\d+\.\ds\] (\w+): ", capsys.readouterr().err, flags=re.M)
    assert {"inputs", "ingest", "estimate"} <= set(phases)  # progress=True: the CLI's phase lines
    html = result._repr_html_()
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert f"{len(result.findings)} comparisons" in html
    assert html.count("<tr>") == len(result.findings) + 1  # header + one row per finding
    assert _files(tmp_path) == before


def test_from_dict_validates_like_the_toml_file(tmp_path):
    made = generate("hotel", 1000, 1, tmp_path / "sample")
    from_toml = Audit.from_toml(made.config_path).config
    from_dict = Audit.from_dict(tomllib.loads(made.config_path.read_text()), base_dir=made.config_path.parent).config
    strip = dict(source_text="", source_path=None)
    assert dataclasses.replace(from_dict, **strip) == dataclasses.replace(from_toml, **strip)
    settings = tomllib.loads(made.config_path.read_text())
    settings["test"] = {"alpha": 2}
    with pytest.raises(Exception, match=r"^\[test\] alpha = 2 is out of range"):
        Audit.from_dict(settings)


_names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=8)
_scalars = st.one_of(st.booleans(), st.integers(-10**9, 10**9), st.floats(allow_nan=False, allow_infinity=False),
                     _names)
_values = st.one_of(_scalars, st.lists(_scalars, max_size=3), st.dictionaries(_names, _scalars, max_size=3))


@given(st.dictionaries(_names, st.one_of(
    st.dictionaries(_names, _values, max_size=4),
    st.lists(st.dictionaries(_names, _values, min_size=1, max_size=3), min_size=1, max_size=2)), max_size=4))
def test_to_toml_round_trips(settings):
    assert tomllib.loads(to_toml(settings)) == settings


def test_baseline_of_the_same_data_shows_no_change_in_the_report(spark, audited, tmp_path):
    _, made, _, first = audited
    earlier = first.write(tmp_path / "2026-08")
    text = made.config_path.read_text() + f'\n[baseline]\nfindings = "{earlier / "findings.json"}"\n'
    again = Audit(parse_config(text, base_dir=made.config_path.parent)).run(spark)
    changes = again.to_json()["baseline"]
    defined = [f for f in first.to_json()["findings"] if f["premium"] is not None and f["se_log"] is not None]
    assert len(changes["changes"]) == len(defined) > 0
    assert all(c["change"] == 0 and not c["significant"] for c in changes["changes"])
    assert changes["before"]["path"] == str(earlier / "findings.json")
    html = again.report_html()
    section = html[html.index('<section id="baseline">'):]
    assert section.count("the difference is not significant") == len(defined)
    assert "与此前审计的比较" in again.report_html(language="zh-CN")
    assert first.to_json()["baseline"] is None
