"""Price-discrimination auditor: matched, user-clustered tests of platform logs for
differential pricing (大数据杀熟), with regulator-facing reports."""

__version__ = "0.1.0"
