"""Findings: one verdict per comparison, multiple-testing control, and findings.json."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from auditor.config import AuditConfig
from auditor.estimate import ComparisonData
from auditor.ingest import DataQuality, InputFile
from auditor.stats.multiple import bh_qvalues
from auditor.stats.premium import PremiumEstimate, cluster_robust, raw_premium

SCHEMA_VERSION = 1

# Verdicts, most serious first (the report lists findings in this order).
VERDICTS = ("flagged", "significant_below_materiality", "no_evidence", "insufficient_data")


@dataclass(frozen=True)
class Finding:
    """The outcome of one group-vs-reference comparison."""

    segment: str
    column: str
    group: str
    reference: str
    premium: float
    ci_low: float
    ci_high: float
    raw_premium: float
    p_value: float
    q_value: float
    flagged: bool
    verdict: str
    cells: int
    rows_group: int
    rows_reference: int
    rows_group_all: int
    rows_reference_all: int
    users: int
    coverage: float
    se_log: float  # standard error of the log-price difference
    dof: int
    clusters: int
    pooled_clusters: bool
    method: str

    def to_json(self) -> dict:
        return {key: _json_number(value) for key, value in self.__dict__.items()}


@dataclass(frozen=True)
class AuditRecord:
    """Provenance: what ran, on what, with which config, when."""

    name: str
    platform: str
    period: str | None
    config_path: str | None
    config_sha256: str
    config_text: str
    inputs: tuple[InputFile, ...]
    input_format: str
    match: str
    alpha: float
    materiality: float
    confidence: float
    spark_version: str
    spark_master: str
    auditor_version: str
    python_version: str
    started_at: str
    finished_at: str
    command: str

    def to_json(self) -> dict:
        out = dict(self.__dict__)
        out["inputs"] = [f.to_json() for f in self.inputs]
        return out


@dataclass(frozen=True)
class AuditFindings:
    """Everything findings.json holds."""

    audit: AuditRecord
    data_quality: DataQuality
    findings: tuple[Finding, ...]
    notes: tuple[str, ...] = field(default=())

    def to_json(self) -> dict:
        return {
            "schema_version": SCHEMA_VERSION,
            "audit": self.audit.to_json(),
            "data_quality": self.data_quality.to_json(),
            "findings": [f.to_json() for f in self.findings],
            "notes": list(self.notes),
        }

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=2, ensure_ascii=False, allow_nan=False) + "\n",
                        encoding="utf-8")


def _json_number(value):
    """NaN and infinity are not JSON: an undefined number is written as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def verdict(estimate: PremiumEstimate, q_value: float, materiality: float, alpha: float) -> str:
    """One verdict per comparison, from its q-value and premium."""
    if math.isnan(estimate.p_value):
        return "insufficient_data"
    if q_value < alpha:
        return "flagged" if abs(estimate.premium) >= materiality else "significant_below_materiality"
    return "no_evidence"


def build_findings(data: dict[int, ComparisonData], config: AuditConfig) -> tuple[Finding, ...]:
    """Estimate each comparison, adjust across all of them (BH), and decide."""
    items = [data[k] for k in sorted(data)]
    estimates = [cluster_robust(d.summary, config.test.confidence) for d in items]
    q_values = bh_qvalues([e.p_value for e in estimates])
    findings = []
    for d, est, q in zip(items, estimates, q_values):
        q = float(q)
        decided = verdict(est, q, config.test.materiality, config.test.alpha)
        findings.append(Finding(
            segment=d.comparison.segment.name, column=d.comparison.segment.column,
            group=d.comparison.group, reference=d.comparison.reference,
            premium=est.premium, ci_low=est.ci_low, ci_high=est.ci_high,
            raw_premium=raw_premium(d.mean_log_group_all, d.mean_log_reference_all),
            p_value=est.p_value, q_value=q, flagged=decided == "flagged", verdict=decided,
            cells=d.summary.cells, rows_group=d.rows_group, rows_reference=d.rows_reference,
            rows_group_all=d.rows_group_all, rows_reference_all=d.rows_reference_all,
            users=d.summary.users, coverage=d.coverage, se_log=est.se, dof=est.dof,
            clusters=d.summary.clusters, pooled_clusters=d.pooled_clusters, method=est.method,
        ))
    return tuple(findings)
