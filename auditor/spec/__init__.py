"""The audit config (audit.toml): frozen types, the parser with its errors, display labels, the TOML writer.

    from auditor.spec import load_config, parse_config, AuditConfig

The TOML is parsed once into the frozen objects of `types`; every later step trusts them.
"""

from auditor.spec.labels import DisplayName, Labels
from auditor.spec.parse import check_placeholders, load_config, parse_config, parse_duration, parse_labels
from auditor.spec.types import (FLAG_RULES, FORMATS, ROLES, TABLE, Adjustment, AuditConfig, Baseline, Columns,
                                InputSpec, MatchSpec, PriceParts, Quotes, ReportSpec, Segment, Sensitivity, Steering,
                                TestSpec)
from auditor.spec.write import to_toml

__all__ = ["FLAG_RULES", "FORMATS", "ROLES", "TABLE", "Adjustment", "AuditConfig", "Baseline", "Columns", "DisplayName",
           "InputSpec", "Labels", "MatchSpec", "PriceParts", "Quotes", "ReportSpec", "Segment", "Sensitivity",
           "Steering", "TestSpec", "check_placeholders", "load_config", "parse_config", "parse_duration",
           "parse_labels", "to_toml"]
