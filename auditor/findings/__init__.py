"""The findings: what the audit concludes from the engine's summaries, and findings.json.

`model`, `document`, `changes` and `personal_model` are the frozen model of findings.json (`Finding` and its
parts, `AuditRecord`, `AuditFindings`); `load` is its one reader, for every schema version the file has had.
`build` turns the per-comparison summaries (auditor.summaries) into findings — verdicts, false-discovery-rate
control and materiality; `sensitivity` re-estimates flagged findings and judges their robustness;
`compare` sets an audit against an earlier one's findings. Nothing here imports Spark.
"""

from auditor.findings.build import (EVIDENCE_PUBLISHED, MIN_EFFECTIVE_USERS, build_findings, cluster_weight, decide,
                                    insufficient_reason, published_evidence)
from auditor.findings.changes import AuditChanges
from auditor.findings.compare import change_interval, compare, load_findings, same_audit
from auditor.findings.document import SCHEMA_VERSION, AuditFindings, AuditRecord, Finding, SelfCheckResult
from auditor.findings.reader import load
from auditor.findings.sensitivity import sensitivity

__all__ = ["EVIDENCE_PUBLISHED", "MIN_EFFECTIVE_USERS", "SCHEMA_VERSION", "AuditChanges", "AuditFindings", "AuditRecord",
           "Finding", "SelfCheckResult", "build_findings", "change_interval", "cluster_weight", "compare", "decide",
           "insufficient_reason", "load", "load_findings", "published_evidence", "same_audit", "sensitivity"]
