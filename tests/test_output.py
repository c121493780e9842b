"""Output folders: written whole or not at all, and --overwrite replaces only a previous audit's output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auditor import __version__
from auditor.cli import main
from auditor.errors import AuditOutputError
from auditor.output import MANIFEST, check_target, staged_output

from test_ingest import CONFIG, CSV_ROWS, HEADER


def _audit_output(out: Path) -> None:
    """A finished output folder, written the way every audit writes one."""
    with staged_output(out) as staging:
        (staging / "findings.json").write_text("{}")
        (staging / "report.html").write_text("<html></html>")
        (staging / "rejected").mkdir()
        (staging / "rejected" / "part-0.parquet").write_bytes(b"PAR1")


def test_a_finished_output_lists_its_files_in_a_manifest(tmp_path):
    out = tmp_path / "out"
    _audit_output(out)
    doc = json.loads((out / MANIFEST).read_text())
    assert doc["auditor_version"] == __version__ and doc["written_at"].endswith("+00:00")
    assert doc["files"] == [{"path": "findings.json", "bytes": 2}, {"path": "rejected/part-0.parquet", "bytes": 4},
                            {"path": "report.html", "bytes": 13}]
    assert not list(tmp_path.glob(".out.*"))


def test_overwrite_refuses_a_folder_the_auditor_did_not_write(tmp_path):
    out = tmp_path / "notes"
    out.mkdir()
    (out / "notes.txt").write_text("my notes")
    (out / "drafts").mkdir()
    (out / "drafts" / "a.md").write_text("draft")
    with pytest.raises(AuditOutputError) as caught:
        with staged_output(out, overwrite=True):
            raise AssertionError("the audit must not start")
    assert str(caught.value) == (f"--out {out} is not an audit's output folder (it holds drafts/, notes.txt): "
                                 "--overwrite replaces only a folder the auditor wrote; choose a new folder")
    assert (out / "notes.txt").read_text() == "my notes" and (out / "drafts" / "a.md").exists()
    assert not list(tmp_path.glob(".notes.*"))


def test_overwrite_replaces_a_previous_audit_but_not_files_added_to_it(tmp_path):
    out = tmp_path / "out"
    _audit_output(out)
    with staged_output(out, overwrite=True) as staging:  # a re-run replaces the previous audit whole
        (staging / "findings.json").write_text('{"run": 2}')
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST, "findings.json"]
    assert (out / "findings.json").read_text() == '{"run": 2}'

    (out / "my-notes.txt").write_text("mine")
    with pytest.raises(AuditOutputError) as caught:
        check_target(out, overwrite=True)
    assert str(caught.value) == (f"--out {out} holds files the audit did not write (my-notes.txt): "
                                 "move them out or choose a new folder; --overwrite will not delete them")
    assert (out / "my-notes.txt").exists()


def test_a_forged_or_broken_manifest_is_not_a_licence_to_delete(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "data.csv").write_text("a,b\n")
    (out / MANIFEST).write_text("{not json")
    with pytest.raises(AuditOutputError, match=r"is not an audit's output folder \(it holds \.audit-manifest\.json, data\.csv\)"):
        check_target(out, overwrite=True)
    assert (out / "data.csv").exists()


def test_an_empty_folder_may_be_overwritten(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    assert check_target(out, overwrite=True) == out.resolve()


def test_cli_overwrite_of_a_foreign_folder_is_one_line_before_spark(tmp_path, capsys):
    data = tmp_path / "log.csv"
    data.write_text(HEADER + "\n" + CSV_ROWS[0][0] + "\n")
    config = tmp_path / "audit.toml"
    config.write_text(CONFIG.format(path=data, fmt="csv"))
    out = tmp_path / "home"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    assert main(["run", "--config", str(config), "--out", str(out), "--overwrite", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err == (f"error: --out {out} is not an audit's output folder (it holds notes.txt): "
                   "--overwrite replaces only a folder the auditor wrote; choose a new folder\n")
    assert (out / "notes.txt").read_text() == "keep me"
