"""The findings: what the audit concludes from the engine's summaries, and findings.json.

`build` turns the per-comparison summaries (auditor.summaries) into findings — the frozen model
(`Finding`, `AuditRecord`, `AuditFindings`), verdicts, false-discovery-rate control and
materiality; `sensitivity` re-estimates flagged findings and judges their robustness;
`compare` sets an audit against an earlier one's findings.json. Nothing here imports Spark.
"""

from auditor.findings.build import (EVIDENCE_PUBLISHED, MIN_EFFECTIVE_USERS, SCHEMA_VERSION, AuditFindings, AuditRecord, Finding, build_findings, cluster_weight,
                                    decide, insufficient_reason, published_evidence)
from auditor.findings.compare import AuditChanges, change_interval, compare, load_findings, same_audit
from auditor.findings.sensitivity import sensitivity

__all__ = ["EVIDENCE_PUBLISHED", "MIN_EFFECTIVE_USERS", "SCHEMA_VERSION", "AuditChanges", "AuditFindings", "AuditRecord", "Finding", "build_findings", "change_interval",
           "cluster_weight", "compare", "decide", "insufficient_reason", "load_findings", "published_evidence",
           "same_audit", "sensitivity"]
