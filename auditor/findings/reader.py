"""The one reader of findings.json: any schema version it has had, into the frozen model the audit built.

    from auditor.findings import load
    doc = load("out/findings.json")          # or load(a findings.json dict)
    doc.findings[0].premium, doc.audit.match_rules.exact

Version 1 (and the files before it had a version) lacked what later versions record as data: the match
rules and the user column are then read from the recorded config text, here and nowhere else; labels
missing from very old files come from the same text. Shapes the estimator once wrote are read as what
they meant: a decomposition's "price" is the group-weighted price part; a finding without a verdict is
`flagged` or (as files then said) `no_evidence`.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from auditor.errors import AuditConfigError, AuditInputError
from auditor.findings.changes import AuditChanges
from auditor.findings.document import AuditFindings, AuditRecord, Finding, SelfCheckResult, TableInput
from auditor.findings.model import (Analytic, ClusterWeight, Decomposition, Dose, Evidence, RankTest, Robustness,
                                    Share, Steering, read, read_all)
from auditor.findings.personal_model import Personalisation
from auditor.spec import Labels, MatchSpec, parse_duration
from auditor.spec.labels import labels_from_table
from auditor.summaries import DataQuality, InputFile
from auditor.vocabulary import Verdict


def load(source: str | Path | dict | AuditFindings, name: str | None = None) -> AuditFindings:
    """findings.json (a path, or the document as a dict) as the typed model, whatever its schema version.

    A file that is missing, unreadable or not a findings.json raises AuditInputError in one line; `name`
    says which argument named it (e.g. "[baseline] findings") in that line."""
    if isinstance(source, AuditFindings):
        return source
    doc = source if isinstance(source, dict) else _read(Path(source), name)
    if not isinstance(doc, dict) or not isinstance(doc.get("audit"), dict) or not isinstance(doc.get("findings"), list):
        raise AuditInputError(_message(name, "shape", source if not isinstance(source, dict) else "the document"))
    audit = doc["audit"]
    config = _config_text(audit)
    return AuditFindings(
        audit=_audit(audit, config),
        data_quality=_quality(doc.get("data_quality")),
        findings=tuple(finding(f) for f in doc["findings"] if isinstance(f, dict)),
        placebo=SelfCheckResult.from_json(doc.get("placebo")),
        notes=tuple(str(n) for n in doc.get("notes") or ()),
        baseline=AuditChanges.from_json(doc.get("baseline")),
        personalisation=Personalisation.from_json(doc.get("personalisation")),
        schema_version=doc.get("schema_version"),
    )


def finding(doc: dict) -> Finding:
    """One finding of findings.json."""
    decomposition = doc.get("decomposition")
    if isinstance(decomposition, dict) and "price_group_weighted" not in decomposition and "price" in decomposition:
        decomposition = {**decomposition, "price_group_weighted": decomposition["price"]}  # older files
    evidence = doc.get("evidence")
    verdict = doc.get("verdict") or (Verdict.FLAGGED if doc.get("flagged") else Verdict.NO_EVIDENCE)
    return read(
        Finding, doc, segment=str(doc.get("segment", "")), column=str(doc.get("column", "")),
        group=str(doc.get("group", "")), reference=str(doc.get("reference", "")), kind=doc.get("kind") or "group",
        outcome=doc.get("outcome") or "price", verdict=str(verdict), flagged=bool(doc.get("flagged")),
        pooled_clusters=bool(doc.get("pooled_clusters")), method=doc.get("method") or "",
        analytic=Analytic.from_json(doc.get("analytic")), rank_test=RankTest.from_json(doc.get("rank_test")),
        cluster_weight=ClusterWeight.from_json(doc.get("cluster_weight") or None),
        decomposition=Decomposition.from_json(decomposition or None),
        evidence=read_all(Evidence, evidence) if isinstance(evidence, list) else None,
        evidence_suppressed=int(doc.get("evidence_suppressed") or 0),
        dose=Dose.from_json(doc), share=Share.from_json(doc), steering=Steering.from_json(doc),
        robustness=Robustness.from_json(doc))


def _audit(audit: dict, config: dict | None) -> AuditRecord:
    labels = audit.get("labels")
    match_rules = audit.get("match_rules")
    return read(
        AuditRecord, audit,
        inputs=tuple(InputFile(str(i.get("path", "")), i.get("bytes"), i.get("sha256"))
                     for i in audit.get("inputs") or () if isinstance(i, dict)),
        table=TableInput.from_json(audit.get("table") or None),
        labels=_labels(labels if isinstance(labels, dict) else (config or {}).get("labels")),
        match_rules=_match_rules(match_rules if isinstance(match_rules, dict) else (config or {}).get("match")),
        user_column=audit.get("user_column") if "user_column" in audit else _user_column(config),
        timings=dict(audit.get("timings") or {}),
        **{name: audit.get(name) or default for name, default in _RECORD_DEFAULTS.items()},
        min_cell_size=_min_cell_size(audit.get("min_cell_size")))


# What an audit record missing a field (or holding an empty one) is read as.
_RECORD_DEFAULTS = {"config_text": "", "match": "", "config_sha256": "", "input_format": "", "command": "",
                    "spark_version": "", "spark_master": "", "auditor_version": "", "python_version": "",
                    "confidence": 0.95, "language": "en", "flag_rule": "estimate"}


def _config_text(audit: dict) -> dict | None:
    """The recorded config, parsed once — only for what a file older than schema 2 does not record."""
    if isinstance(audit.get("match_rules"), dict) and isinstance(audit.get("labels"), dict) and "user_column" in audit:
        return None
    try:
        return tomllib.loads(audit.get("config_text") or "")
    except tomllib.TOMLDecodeError:
        return None


def _labels(table) -> Labels:
    if not isinstance(table, dict):
        return Labels()
    try:
        return labels_from_table(table)
    except AuditConfigError:
        return Labels()


def _match_rules(table) -> MatchSpec | None:
    """The match rules as data (schema 2), or the recorded config's [match] (earlier files)."""
    if not isinstance(table, dict):
        return None
    exact = table.get("exact")
    bucket = table.get("time_bucket")
    seconds = table.get("time_bucket_seconds")
    if seconds is None and isinstance(bucket, str):
        try:
            seconds = parse_duration(bucket)
        except ValueError:
            seconds = None
    bins = table.get("bins") if isinstance(table.get("bins"), dict) else {}
    return MatchSpec(exact=tuple(str(k) for k in exact) if isinstance(exact, list) else (),
                     time_bucket=str(bucket) if bucket else None, time_bucket_seconds=seconds,
                     bins=tuple((str(k), w) for k, w in bins.items()
                                if isinstance(w, (int, float)) and not isinstance(w, bool) and w > 0))


def _user_column(config: dict | None) -> str | None:
    columns = (config or {}).get("columns")
    column = columns.get("user_id") if isinstance(columns, dict) else None
    return column if isinstance(column, str) else None


def _min_cell_size(value) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 10


def _quality(doc) -> DataQuality:
    doc = doc if isinstance(doc, dict) else {}
    return DataQuality(doc.get("rows_read"), doc.get("rows_accepted"), doc.get("rows_rejected"),
                       dict(doc.get("rejected_by_reason") or {}))


_MESSAGES = {
    ("missing", False): "{path} does not exist: give the findings.json an audit wrote",
    ("unreadable", False): "{path} is not a readable findings.json: {error}",
    ("shape", False): "{path} is not a findings.json (no 'audit' and 'findings'): give the findings.json an audit wrote",
    ("missing", True): "{name}: {path} does not exist: name the earlier audit's findings.json",
    ("unreadable", True): "{name}: {path} is not a readable findings.json: {error}",
    ("shape", True): "{name}: {path} is not a findings.json (no audit and findings): name an audit's findings.json",
}


def _message(name: str | None, what: str, path, error: Exception | None = None) -> str:
    return _MESSAGES[what, name is not None].format(name=name, path=path, error=error)


def _read(path: Path, name: str | None):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AuditInputError(_message(name, "missing", path)) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AuditInputError(_message(name, "unreadable", path, exc)) from None

