"""The command line around the report: `auditor report` re-renders from findings.json without Spark,
`run --language`, a copied config's relative data path, [labels] validation, help for every option."""

from __future__ import annotations

import argparse
import json
import shutil

import pytest

from auditor.cli import _parser, main
from auditor.config import parse_config
from auditor.errors import AuditConfigError
from auditor.generate import generate


def findings_doc() -> dict:
    return {"schema_version": 1,
            "audit": {"name": "Archived audit", "platform": "P", "alpha": 0.05, "materiality": 0.01,
                      "confidence": 0.95, "language": "en", "min_cell_size": 10,
                      "config_text": '[match]\nexact = ["city"]\n',
                      "labels": {"columns": {"os": {"en": "device", "zh-CN": "设备"}},
                                 "values": {"os": {"ios": {"en": "iOS", "zh-CN": "苹果iOS"}}},
                                 "segments": {"Device": {"en": "Device", "zh-CN": "设备"}}}},
            "data_quality": {"rows_read": 10, "rows_accepted": 10, "rows_rejected": 0},
            "findings": [{"segment": "Device", "column": "os", "group": "ios", "reference": "android",
                          "kind": "group", "outcome": "price", "premium": 0.05, "ci_low": 0.03, "ci_high": 0.07,
                          "raw_premium": 0.06, "p_value": 1e-5, "q_value": 1e-5, "flagged": True,
                          "verdict": "flagged", "cells": 20, "rows_group": 100, "rows_reference": 200,
                          "rows_group_all": 110, "rows_reference_all": 210, "users": 90, "coverage": 0.94,
                          "se_log": 0.01, "dof": 89, "clusters": 90, "method": "cv3_jackknife",
                          "decomposition": {"raw": 0.0583, "unmatched": -0.002, "mix": 0.0115, "price": 0.0488}}],
            "placebo": None, "notes": []}


def test_report_rerenders_an_archived_findings_file_in_another_language(tmp_path, capsys):
    findings = tmp_path / "findings.json"
    findings.write_text(json.dumps(findings_doc()), encoding="utf-8")
    assert main(["report", str(findings), "--language", "zh-CN"]) == 0
    written = tmp_path / "report.zh-CN.html"
    assert capsys.readouterr().out.strip() == f"Report (zh-CN): {written.resolve()}"
    html = written.read_text(encoding="utf-8")
    assert '<html lang="zh-CN">' in html and "设备为“苹果iOS”的用户" in html
    # Default language: the one the audit ran with; --quiet prints nothing.
    out = tmp_path / "again.html"
    assert main(["report", str(findings), "--out", str(out), "--quiet"]) == 0
    assert capsys.readouterr().out == ""
    assert '<html lang="en">' in out.read_text(encoding="utf-8")


def test_report_never_replaces_a_file_unasked_and_refuses_what_is_not_findings(tmp_path, capsys):
    findings = tmp_path / "findings.json"
    findings.write_text(json.dumps(findings_doc()), encoding="utf-8")
    kept = tmp_path / "report.html"
    kept.write_text("the original report", encoding="utf-8")
    assert main(["report", str(findings), "--out", str(kept)]) == 2
    assert capsys.readouterr().err == (f"error: {kept} exists: give another --out, or --overwrite to replace it\n")
    assert kept.read_text(encoding="utf-8") == "the original report"
    assert main(["report", str(findings), "--out", str(kept), "--overwrite", "--quiet"]) == 0
    assert kept.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["findings.json", "report.html"]  # no staging left

    broken = tmp_path / "broken.json"
    broken.write_text('{"audit": ', encoding="utf-8")
    assert main(["report", str(broken)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {broken} is not a readable findings.json: ") and err.count("\n") == 1
    broken.write_text('{"rows": []}', encoding="utf-8")
    assert main(["report", str(broken)]) == 2
    assert capsys.readouterr().err == (f"error: {broken} is not a findings.json (no 'audit' and 'findings'): "
                                       "give the findings.json an audit wrote\n")
    assert main(["report", str(tmp_path / "absent.json")]) == 2
    assert "absent.json does not exist" in capsys.readouterr().err


def test_a_copied_config_whose_relative_data_path_breaks_says_where_it_looked(tmp_path, capsys):
    made = generate("rides", 1000, 1, tmp_path / "sample")
    copy = tmp_path / "elsewhere" / "audit.toml"
    copy.parent.mkdir()
    shutil.copy(made.config_path, copy)
    assert main(["run", "--config", str(copy), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    folder = copy.resolve().parent
    assert err == (f"error: [input] path = 'data/rides.parquet' does not exist: relative paths are taken from the "
                   f"config file's folder ({folder}), so it points to {folder / 'data' / 'rides.parquet'}; give an "
                   "absolute path or move the config beside its data\n")
    assert not (tmp_path / "out").exists()


CONFIG = """
[audit]
name = "a"
platform = "p"
[input]
path = "/x.parquet"
format = "parquet"
[columns]
transaction_id = "id"
user_id = "u"
timestamp = "t"
price = "p"
[match]
exact = ["city"]
[[segments]]
name = "Device"
column = "os"
reference = "android"
groups = ["ios"]
"""


def test_labels_are_validated_at_the_door():
    config = parse_config(CONFIG + '[labels.columns]\ncity = { en = "city", zh-CN = "城市" }\n'
                                   'km = { en = "distance", unit = "km" }\n[labels.values.os]\nios = "iOS"\n')
    assert config.labels.to_json() == {
        "columns": {"city": {"en": "city", "zh-CN": "城市"}, "km": {"en": "distance", "unit": {"en": "km", "zh-CN": "km"}}},
        "values": {"os": {"ios": {"en": "iOS", "zh-CN": "iOS"}}}, "segments": {}}
    cases = {
        '[labels.columns]\ncity = 3\n':
            '[labels] columns.city must be a string or a table of languages: '
            'e.g. car_level = { en = "car class", zh-CN = "车型" }',
        '[labels.columns]\ncity = { en = "city", zh = "城市" }\n':
            "[labels] columns.city: unknown key 'zh': use en, zh-CN, unit",
        '[labels.values.os]\nios = { en = "iOS", unit = "x" }\n':
            "[labels] values.os.ios: unknown key 'unit': use en, zh-CN",
        '[labels.columns]\ncity = { en = "" }\n':
            "[labels] columns.city.en must be a non-empty string, got ''",
        '[labels]\ncolumn = {}\n': "unknown config key [labels] column: did you mean 'columns'?",
    }
    for text, message in cases.items():
        with pytest.raises(AuditConfigError) as raised:
            parse_config(CONFIG + text)
        assert str(raised.value) == message


def test_every_option_of_every_command_has_help():
    parser = _parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    assert set(commands) >= {"run", "report", "generate", "demo"}
    for name, command in commands.items():
        for action in command._actions:
            if not isinstance(action, argparse._HelpAction):
                assert action.help, (name, action.dest)
