"""Price-discrimination auditor: matched, user-clustered tests of platform logs for
differential pricing (大数据杀熟), with regulator-facing reports."""

__version__ = "0.1.0"


def __getattr__(name: str):
    # `from auditor import Audit` without importing pandas for every command-line start.
    if name in ("Audit", "AuditResult"):
        from auditor import api

        return getattr(api, name)
    raise AttributeError(f"module 'auditor' has no attribute {name!r}")
