"""What the audit compares: [match] (the cells), [[segments]] (groups or a dose), [steering] and
[sensitivity] (auditor.spec.parse)."""

from __future__ import annotations

import re

from auditor.errors import AuditConfigError
from auditor.spec.keys import _check_keys, _string
from auditor.spec.types import MatchSpec, Segment, Sensitivity, Steering

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> int:
    """'15m' -> 900 seconds. Units: s, m, h, d."""
    found = re.fullmatch(r"\s*(\d+)\s*([smhd])\s*", text)
    if not found or int(found[1]) == 0:
        raise ValueError(text)
    return int(found[1]) * _UNITS[found[2]]


def _names(value) -> bool:
    """Whether a config value is a list of column names or option values (non-empty strings)."""
    return isinstance(value, list) and all(isinstance(c, str) and c for c in value)


def _match(table: dict) -> MatchSpec:
    exact = _exact_keys(table)
    bucket = table.get("time_bucket")
    seconds = _bucket_seconds(bucket)
    bins = _bins(table, exact)
    if not exact and seconds is None and not bins:
        raise AuditConfigError(
            "[match] defines no comparability: set exact keys, a time_bucket or bins, "
            "otherwise every purchase would be compared with every other")
    return MatchSpec(exact=tuple(exact), time_bucket=bucket, time_bucket_seconds=seconds,
                     bins=tuple((name, float(width)) for name, width in bins.items()))


def _exact_keys(table: dict) -> list[str]:
    exact = table.get("exact", [])
    if not _names(exact):
        raise AuditConfigError('[match] exact must be a list of column names, e.g. exact = ["city", "car_level"]')
    if len(set(exact)) != len(exact):
        raise AuditConfigError(f"[match] exact lists a column twice: {exact}")
    return exact


def _bucket_seconds(bucket) -> int | None:
    """[match] time_bucket in seconds, or None when the config sets none."""
    if bucket is None:
        return None
    try:
        if isinstance(bucket, str):
            return parse_duration(bucket)
    except ValueError:
        pass
    raise AuditConfigError(
        f"[match] time_bucket = {bucket!r} is not a duration: use a number and a unit s, m, h or d, "
        "e.g. \"15m\" or \"1h\"")


def _bins(table: dict, exact: list[str]) -> dict:
    bins = table.get("bins", {})
    if not isinstance(bins, dict):
        raise AuditConfigError("[match] bins must be a table of column = width, e.g. bins = { distance_m = 500 }")
    for name, width in bins.items():
        if isinstance(width, bool) or not isinstance(width, (int, float)) or not width > 0:
            raise AuditConfigError(f"[match] bins.{name} = {width!r}: a bin width must be a positive number")
        if name in exact:
            raise AuditConfigError(f"[match] column {name!r} is both an exact key and binned: keep one")
    return bins


def _segments(raw: dict) -> tuple[Segment, ...]:
    items = raw.get("segments")
    if not items:
        raise AuditConfigError(
            "config has no [[segments]]: add at least one, e.g. [[segments]] name = \"Device\" "
            "column = \"os\" reference = \"android\" groups = [\"ios\"]")
    if not isinstance(items, list) or not all(isinstance(s, dict) for s in items):
        raise AuditConfigError("segments must be an array of tables: write each as [[segments]]")
    segments = []
    for i, item in enumerate(items):
        where = f"segments[{i}]"
        _check_keys(item, "segments")
        name = _string(item, where, "name")
        column = _string(item, where, "column")
        kind = item.get("kind", "group")
        if kind not in _SEGMENT_KINDS:
            raise AuditConfigError(f"[{where}] kind = {kind!r} is not known: use \"group\" (compare groups with a reference) or \"dose\" (a numeric attribute)")
        segments.append(_SEGMENT_KINDS[kind](item, where, name, column))
    names = [s.name for s in segments]
    if len(set(names)) != len(names):
        raise AuditConfigError(f"segment names must be unique, got {names}")
    return tuple(segments)


def _group_segment(item: dict, where: str, name: str, column: str) -> Segment:
    reference = item.get("reference")
    if reference is None or isinstance(reference, (bool, dict, list)):
        raise AuditConfigError(f"[{where}] reference is missing: name the group the others are compared with, e.g. reference = \"android\"")
    groups = item.get("groups")
    if not isinstance(groups, list) or not groups or any(isinstance(g, (bool, dict, list)) for g in groups):
        raise AuditConfigError(f"[{where}] groups must be a non-empty list of values, e.g. groups = [\"ios\"]")
    groups = [str(g) for g in groups]
    if str(reference) in groups:
        raise AuditConfigError(f"[{where}] the reference {reference!r} is also listed in groups: remove it from groups")
    if len(set(groups)) != len(groups):
        raise AuditConfigError(f"[{where}] groups lists a value twice: {groups}")
    return Segment(name=name, column=column, reference=str(reference), groups=tuple(groups))


def _dose_segment(item: dict, where: str, name: str, column: str) -> Segment:
    for key in ("reference", "groups"):
        if key in item:
            raise AuditConfigError(f"[{where}] {key} is for kind = \"group\"; a dose segment uses bands instead (or none for the default)")
    bands = item.get("bands", [0, 1, 4, 16, 64, 256])
    if (not isinstance(bands, list) or len(bands) < 2 or any(isinstance(b, bool) or not isinstance(b, (int, float)) for b in bands)
            or any(b >= c for b, c in zip(bands, bands[1:])) or bands[0] < 0):
        raise AuditConfigError(f"[{where}] bands must be at least two increasing non-negative numbers (lower band edges), e.g. bands = [0, 1, 4, 16, 64]")
    return Segment(name=name, column=column, kind="dose", bands=tuple(float(b) for b in bands))


# A segment's kind and how its table is read.
_SEGMENT_KINDS = {"group": _group_segment, "dose": _dose_segment}


def _steering(raw: dict, match: dict) -> Steering | None:
    table = raw.get("steering")
    if table is None:
        return None
    if not isinstance(table, dict):
        raise AuditConfigError("[steering] must be a table with column, order and context")
    _check_keys(table, "steering")
    column = _string(table, "steering", "column", hint='the option offered or taken, e.g. column = "car_level"')
    order = table.get("order")
    if not _names(order) or len(order) < 2 or len(set(order)) != len(order):
        raise AuditConfigError('[steering] order must list the options cheapest first, at least two, e.g. order = ["economy", "comfort", "premium"]')
    default = [c for c in match.get("exact", []) if c != column]
    context = table.get("context", default)
    if not _names(context):
        raise AuditConfigError('[steering] context must be a list of columns that define the same request, e.g. context = ["city", "start_grid"]')
    if column in context:
        raise AuditConfigError(f"[steering] the option column {column!r} cannot be part of its own context: remove it from context")
    return Steering(column=column, order=tuple(order), context=tuple(context))


def _sensitivity(raw: dict, match: dict) -> Sensitivity:
    table = raw.get("sensitivity", {})
    if not isinstance(table, dict):
        raise AuditConfigError("[sensitivity] must be a table")
    _check_keys(table, "sensitivity")
    exact = match.get("exact", [])
    leave_out = table.get("leave_out", exact[0] if exact else None)
    if leave_out is not None and leave_out not in exact:
        raise AuditConfigError(f"[sensitivity] leave_out = {leave_out!r} must be one of the exact match keys: {', '.join(exact)}")
    bins = table.get("bins", True)
    if not isinstance(bins, bool):
        raise AuditConfigError(f"[sensitivity] bins must be true or false, got {bins!r}")
    return Sensitivity(leave_out=leave_out, bins=bins)
