"""findings.json as one frozen document: the audit record, data quality, the findings, the self-check,
the personalisation block and the comparison with an earlier audit.

`AuditFindings.to_json` writes it; auditor.findings.load reads any version of it back into these types.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from auditor.findings.changes import AuditChanges
from auditor.findings.model import (Analytic, ClusterWeight, Decomposition, Dose, Evidence, Plain, RankTest,
                                    Robustness, Share, Steering, clean, plain, to_plain)
from auditor.findings.personal_model import Personalisation
from auditor.spec import Labels, MatchSpec
from auditor.summaries import DataQuality, InputFile

# 2: the audit record carries its match rules and the user column as data (`match_rules`, `user_column`).
SCHEMA_VERSION = 2

_PARTS = ("dose", "share", "steering", "robustness")  # written flat beside the finding's own fields


@dataclass(frozen=True)
class Finding:
    """The outcome of one comparison (a group vs its reference, a dose slope, or a steering test)."""

    segment: str
    column: str
    group: str
    reference: str
    kind: str  # group | dose | steering
    outcome: str  # what the premium is measured on
    scale: str  # "ratio": premium = exp(beta) - 1; "difference": premium = difference in shares
    premium: float  # calibrated (jackknife) headline: exp(beta) - 1
    ci_low: float
    ci_high: float
    p_value: float
    q_value: float
    method: str
    se_log: float
    dof: float  # min(G_min, G*) - 1, to two decimals
    analytic: Analytic | None  # the simple CR1 result, shown beside the calibrated one
    raw_premium: float
    flagged: bool
    verdict: str
    mde: float  # smallest premium that would be flagged at the configured power (see minimum_flaggable)
    tost_p_value: float  # equivalence within ±materiality
    rank_test: RankTest | None
    cells: int
    rows_group: int
    rows_reference: int
    rows_group_all: int
    rows_reference_all: int
    users: int
    users_group: int | None  # users with group rows in supported cells (None for a dose)
    users_reference: int | None
    material_interval: bool | None  # the whole interval lies beyond ±materiality (None: no interval)
    insufficient_reason: str | None  # a vocabulary.InsufficientReason when the verdict is insufficient_data
    cluster_weight: ClusterWeight | None  # effective users G*, top shares (findings.build.cluster_weight)
    coverage: float
    clusters: int
    pooled_clusters: bool
    decomposition: Decomposition | None
    evidence: tuple[Evidence, ...] | None = ()  # None: a findings.json from before evidence was published
    evidence_suppressed: int = 0
    # Where the self-check failed: the share of placebo splits with |t| at least this finding's
    # (the placebo distribution in place of the t reference); None when it passed or did not run.
    calibrated_p_value: float | None = None
    dose: Dose | None = None
    share: Share | None = None
    steering: Steering | None = None
    robustness: Robustness | None = None  # flagged group findings: sensitivity, balance, timing curve

    def to_json(self) -> dict:
        out = {k: v for k, v in plain(self).items() if k not in _PARTS}
        out["cluster_weight"] = to_plain(self.cluster_weight) or {}
        for part in _PARTS:
            if getattr(self, part) is not None:
                out.update(getattr(self, part).to_json())
        return clean(out)


@dataclass(frozen=True)
class TableInput(Plain):
    """A catalog table input: name, format, location, where, partitions read."""

    name: str = ""
    qualified: str | None = None
    format: str | None = None
    location: str | None = None
    where: str | None = None
    partition_columns: tuple[str, ...] = ()
    partitions: tuple[str, ...] = ()


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
    match: str  # the matching rule in words
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
    language: str = "en"
    min_cell_size: int = 10
    flag_rule: str = "estimate"  # test.flag_rule: what must reach materiality to flag
    timings: dict = field(default_factory=dict)
    table: TableInput | None = None
    labels: Labels = Labels()  # display names for the report ([labels], see spec.Labels)
    match_rules: MatchSpec | None = None  # the matching rule as data: exact keys, time bucket, bins
    user_column: str | None = None  # the column naming the user (its label names users in the report)

    def to_json(self) -> dict:
        out = dict(self.__dict__)
        out["inputs"] = [f.to_json() for f in self.inputs]
        out["table"] = to_plain(self.table)
        out["labels"] = self.labels.to_json()
        out["match_rules"] = match_rules_json(self.match_rules)
        return out


def match_rules_json(match: MatchSpec | None) -> dict | None:
    if match is None:
        return None
    return {"exact": list(match.exact), "time_bucket": match.time_bucket,
            "time_bucket_seconds": match.time_bucket_seconds, "bins": dict(match.bins)}


@dataclass(frozen=True)
class SelfCheckResult(Plain):
    """findings.json's `placebo`: random splits of one group tested as findings are, the rejection rate at
    alpha with its exact interval. Files from before the interval had 4 splits and no rate."""

    splits: int | None = None
    tested: int | None = None
    rejections: int | None = None
    rate: float | None = None
    rate_low: float | None = None
    rate_high: float | None = None
    alpha: float | None = None
    confidence: float | None = None
    expected: float | None = None
    warning: bool = False
    calibrated: bool = False
    population: str | None = None  # "column = value"
    seed: int | None = None
    method: str | None = None
    users: int | None = None
    cells: int | None = None
    pairs: int | None = None
    cells_total: int | None = None
    pairs_total: int | None = None
    sampled: bool = False


@dataclass(frozen=True)
class AuditFindings:
    """Everything findings.json holds."""

    audit: AuditRecord
    data_quality: DataQuality
    findings: tuple[Finding, ...]
    placebo: SelfCheckResult | None = None
    notes: tuple[str, ...] = ()
    baseline: AuditChanges | None = None  # the comparison with an earlier audit ([baseline] findings)
    personalisation: Personalisation | None = None  # is pricing personalised? (auditor/findings/personal.py)
    schema_version: int = SCHEMA_VERSION  # as read; written as the current version

    def to_json(self) -> dict:
        return clean({
            "schema_version": SCHEMA_VERSION,
            "audit": self.audit.to_json(),
            "data_quality": self.data_quality.to_json(),
            "findings": [f.to_json() for f in self.findings],
            "placebo": to_plain(self.placebo),
            "notes": list(self.notes),
            "baseline": to_plain(self.baseline),
            "personalisation": to_plain(self.personalisation),
        })

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=2, ensure_ascii=False, allow_nan=False) + "\n",
                        encoding="utf-8")
