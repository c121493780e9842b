"""The small family of errors an audit stops with.

Each carries a message meant for the person running the audit: it names the
config key or input at fault and says what to do. The CLI prints the message
and exits non-zero; no stack trace is shown for these.
"""


class AuditError(Exception):
    """Base class: an audit could not run as configured."""


class AuditConfigError(AuditError):
    """The audit's TOML config is wrong; the message names the key and the fix."""


class AuditInputError(AuditError):
    """The input data cannot be audited as configured (missing file, column, ...)."""


class AuditOutputError(AuditError):
    """The output folder cannot be written as asked (exists, not writable, ...)."""


class NothingToCompare(AuditInputError):
    """The input was read, but its accepted rows leave nothing to compare (all rows, or all rows of a
    configured group, were rejected). `rejected` is the lazy Spark frame of the rejected rows, each with
    its reason, so that the caller can still write them where the user can look (`auditor run` writes
    OUT/rejected/); it is None when nothing was rejected."""

    def __init__(self, message: str, rejected=None):
        super().__init__(message)
        self.rejected = rejected
