"""The command line around the report: `auditor report` re-renders from findings.json without Spark,
`run --language`, a copied config's relative data path, [labels] validation, help for every option."""

from __future__ import annotations

import argparse
import json
import shutil

import pytest

from auditor.cli import _parser, main
from auditor.spec import parse_config
from auditor.errors import AuditConfigError
from auditor.synth import generate
from conftest import audit_toml


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


CONFIG = audit_toml(audit={"name": "a", "platform": "p"}, input={"path": "/x.parquet"},
                    columns={"transaction_id": "id", "user_id": "u", "timestamp": "t", "price": "p"},
                    match={"time_bucket": None})


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


def test_a_report_is_written_readable_like_any_file_the_user_writes(tmp_path):
    """`auditor report` stages through mkstemp (mode 0600): the finished file gets the umask's mode, as
    `run` writes report.html."""
    import os
    findings = tmp_path / "findings.json"
    findings.write_text(json.dumps(findings_doc()), encoding="utf-8")
    assert main(["report", str(findings), "--quiet"]) == 0
    plain = tmp_path / "plain.txt"
    plain.write_text("x")  # what open() gives under this process's umask
    assert os.stat(tmp_path / "report.en.html").st_mode & 0o777 == os.stat(plain).st_mode & 0o777
    assert os.stat(plain).st_mode & 0o044  # readable by others under the usual umask: not 0600


def test_a_report_added_to_an_audit_folder_joins_its_manifest_so_a_rerun_may_replace_it(tmp_path):
    from auditor.output import MANIFEST, check_target, staged_output
    out = tmp_path / "audit"
    with staged_output(out) as staging:
        (staging / "findings.json").write_text(json.dumps(findings_doc()), encoding="utf-8")
        (staging / "report.html").write_text("<html></html>")
    assert main(["report", str(out / "findings.json"), "--language", "zh-CN", "--quiet"]) == 0
    assert main(["report", str(out / "findings.json"), "--language", "en", "--quiet"]) == 0
    listed = {e["path"]: e["bytes"] for e in json.loads((out / MANIFEST).read_text())["files"]}
    assert listed["report.zh-CN.html"] == (out / "report.zh-CN.html").stat().st_size
    assert "report.en.html" in listed
    assert check_target(out, overwrite=True) == out.resolve()  # a re-run (make demo again) may replace it
    (out / "notes.txt").write_text("mine")  # but a file of the user's still stops it
    with pytest.raises(Exception, match=r"holds files the audit did not write \(notes.txt\)"):
        check_target(out, overwrite=True)


def test_generate_never_replaces_a_config_the_user_edited(tmp_path, capsys):
    out = tmp_path / "sample"
    assert main(["generate", "--rows", "2000", "--out", str(out), "--quiet"]) == 0
    assert main(["generate", "--rows", "2000", "--out", str(out), "--quiet"]) == 0  # its own files: again is fine
    config = out / "audit.toml"
    edited = config.read_text() + "\n# my edit\n"
    config.write_text(edited)
    data_before = (out / "data").stat().st_mtime_ns, sorted(p.name for p in (out / "data").iterdir())
    assert main(["generate", "--rows", "3000", "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err == (f"error: {out.resolve()} holds audit.toml, not as generated here before (written or edited "
                   "since): pass --overwrite to replace it, or choose another folder\n")
    assert config.read_text() == edited  # nothing was written: not the config, not the data
    assert json.loads((out / "truth.json").read_text())["rows"] == 2000
    assert data_before == ((out / "data").stat().st_mtime_ns, sorted(p.name for p in (out / "data").iterdir()))
    assert main(["generate", "--rows", "3000", "--out", str(out), "--overwrite", "--quiet"]) == 0
    assert "# my edit" not in config.read_text()
    # A file of the user's own that generate would write over is refused the same way.
    other = tmp_path / "mine"
    other.mkdir()
    (other / "truth.json").write_text("{}")
    with pytest.raises(Exception, match=r"holds truth.json, not as generated here before.*overwrite=True"):
        generate("rides", 2000, 1, other)


def test_demo_checks_what_it_would_replace_before_writing_anything(tmp_path, capsys):
    """An edited demo config stops `auditor demo` before the sample is rewritten (and before Spark)."""
    out = tmp_path / "demo-out"
    made = generate("rides", 2000, 2026, out / "sample")
    made.config_path.write_text(made.config_path.read_text() + "\n# tuned by hand\n")
    before = {p: p.stat().st_mtime_ns for p in (out / "sample").rglob("*")}
    assert main(["demo", "--out", str(out), "--rows", "2000", "--quiet"]) == 2
    assert "pass --overwrite to replace it" in capsys.readouterr().err
    assert before == {p: p.stat().st_mtime_ns for p in (out / "sample").rglob("*")}
    # An audit folder holding a file of the user's is named before the sample is touched, too.
    (out / "sample" / "audit.toml").unlink()
    (out / "audit").mkdir()
    (out / "audit" / "mine.txt").write_text("x")
    assert main(["demo", "--out", str(out), "--rows", "2000", "--quiet"]) == 2
    assert "is not an audit's output folder (it holds mine.txt)" in capsys.readouterr().err
    assert not (out / "sample" / "audit.toml").exists()


def test_the_appendix_states_the_degrees_of_freedom_the_code_uses():
    from auditor.report import render
    doc = findings_doc()
    # What the jackknife's t reference is (auditor.stats.premium.jackknife_dof): the smaller side's users,
    # or the effective number of users of its variance where that is smaller.
    for language, says, wrong in (("en", "min(G_min, G*) − 1 degrees of freedom, G_min being the users on the "
                                          "smaller side and G* the effective number of users",
                                   "G being the number of clusters"),
                                  ("zh-CN", "自由度为 min(G_min, G*) − 1 的 t 分布，G_min 为较小一方的用户数", "G 为聚类数")):
        html = render(doc, language, 10)
        assert says in html and wrong not in html


def _compare_docs(tmp_path, same=False):
    old = findings_doc()
    old["audit"].update(started_at="2026-09-30T00:00:00+00:00", config_sha256="a", match="city")
    old["findings"][0]["outcome"] = "list_price"
    new = json.loads(json.dumps(old))
    if not same:
        new["audit"]["started_at"] = "2026-10-31T00:00:00+00:00"
        new["findings"][0].update(premium=0.01, se_log=0.01)
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(old), encoding="utf-8")
    b.write_text(json.dumps(new), encoding="utf-8")
    return a, b


def test_compare_speaks_chinese_in_the_audit_s_labels(tmp_path, capsys):
    a, b = _compare_docs(tmp_path)
    assert main(["compare", str(a), str(b), "--language", "zh-CN"]) == 0
    out = capsys.readouterr().out
    line = out.splitlines()[1]
    assert line.startswith("设备 “苹果iOS” 对比 “android”，标价：") or line.startswith("设备 “苹果iOS” 对比 “android”，")
    for english in ("Device", "ios", "list_price", "price"):
        assert english not in line, line
    assert main(["compare", str(a), str(b)]) == 0
    assert capsys.readouterr().out.splitlines()[1].startswith("Device “iOS” vs “android”, list price")


def test_compare_of_an_audit_with_itself_says_so(tmp_path, capsys):
    a, _ = _compare_docs(tmp_path, same=True)
    copy = tmp_path / "copy.json"
    shutil.copy(a, copy)
    assert main(["compare", str(a), str(copy)]) == 0
    assert capsys.readouterr().out == ("Both files hold the same audit (Archived audit, run Sep 30, 2026, "
                                       "12:00:00\u202fAM UTC): there is no change to compare.\n")
    assert main(["compare", str(a), str(copy), "--language", "zh-CN"]) == 0
    assert capsys.readouterr().out.startswith("两个文件是同一次审计")


def test_compare_into_a_closed_pipe_ends_quietly(tmp_path):
    """`auditor compare A B | head -3`: the reader is gone before the first line; no traceback."""
    import os
    import subprocess
    import sys
    a, b = _compare_docs(tmp_path)
    read, write = os.pipe()
    os.close(read)  # the reader has already gone
    done = subprocess.run([sys.executable, "-m", "auditor", "compare", str(a), str(b)], stdout=write,
                          stderr=subprocess.PIPE, text=True, timeout=60)
    os.close(write)
    assert done.stderr == "" and done.returncode == 141


def test_the_jvm_notice_is_the_one_line_left_out_of_the_jvm_s_stderr(capfd):
    """A process launched where Spark launches its JVM: Java's incubator notice is dropped, every other
    line (an error included) reaches our stderr unchanged."""
    import subprocess
    import sys
    import time
    from auditor.cli import _jvm_stderr
    with _jvm_stderr(quiet=False):
        child = subprocess.Popen([sys.executable, "-c", (
            "import sys; sys.stderr.write('WARNING: Using incubator modules: jdk.incubator.vector\\n'"
            "'Exception in thread \"main\" java.lang.OutOfMemoryError: Java heap space\\n'"
            "'WARNING: Using incubator modules: jdk.incubator.vector, jdk.other is not it\\n')")])
    child.wait(timeout=60)
    err = ""
    for _ in range(50):  # the forwarding thread passes lines on as they come
        err += capfd.readouterr().err
        if "is not it" in err:
            break
        time.sleep(0.1)
    assert err == ('Exception in thread "main" java.lang.OutOfMemoryError: Java heap space\n'
                   "WARNING: Using incubator modules: jdk.incubator.vector, jdk.other is not it\n")


def test_make_demo_says_how_to_put_auditor_on_the_path():
    """The README's commands use `auditor` bare: `make demo` ends by saying how, and the README says it
    before its first bare command."""
    import subprocess
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    recipe = subprocess.run(["make", "-n", "-C", str(root), "demo"], capture_output=True, text=True).stdout
    assert "source .venv/bin/activate" in recipe and ".venv/bin/auditor" in recipe
    readme = (root / "README.md").read_text(encoding="utf-8")
    first_bare = min(readme.index(line) for line in readme.splitlines() if line.startswith("auditor "))
    assert readme.index("source .venv/bin/activate") < first_bare


def test_the_readme_s_steps_run_twice_in_a_row(spark, tmp_path, capsys):
    """`make demo`, `auditor report …/findings.json --language zh-CN`, `make demo` again: the second demo
    replaces the first with the Chinese report in it (the report joined the audit's manifest)."""
    out = tmp_path / "demo-out"
    assert main(["demo", "--out", str(out), "--rows", "3000", "--quiet"]) == 0
    assert main(["report", str(out / "audit" / "findings.json"), "--language", "zh-CN", "--quiet"]) == 0
    assert (out / "audit" / "report.zh-CN.html").exists()
    capsys.readouterr()
    assert main(["demo", "--out", str(out), "--rows", "3000", "--quiet"]) == 0, capsys.readouterr().err
    assert not (out / "audit" / "report.zh-CN.html").exists()  # replaced with the rest of the old audit
    assert (out / "audit" / "report.html").exists()
