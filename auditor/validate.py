"""`auditor validate`: the pre-flight, and what a person should check before committing cluster time.

Everything here reads the config and a bounded sample of the input files
(pyarrow, the csv and json modules); no Spark session is started.
"""

from __future__ import annotations

import time
from pathlib import Path

from auditor.config import AuditConfig
from auditor.preflight import preflight, sample_values

SHOWN_VALUES = 6  # most common values listed per segment column


def summary(config: AuditConfig, config_path: Path | str, sample_rows: int = 10_000,
            started: float | None = None) -> str:
    """A short text a person can check: files, columns per role, sampled segment values, the comparisons."""
    started = time.perf_counter() if started is None else started
    overview = preflight(config)
    checked = time.perf_counter() - started
    lines = [f"config: {config_path} ({config.name}, {config.platform})"]
    if overview.remote:
        lines.append(f"input: {overview.path} ({overview.format}): remote, so its files and columns are "
                     "checked by Spark when the audit starts")
    else:
        count = len(overview.files)
        lines.append(f"input: {overview.path} ({overview.format}): {count:,} file{'s' if count != 1 else ''}, "
                     f"{_size(overview.bytes)}; {len(overview.columns)} columns")

    lines.append("columns:")
    cols = config.columns
    rows = [(role, getattr(cols, role)) for role in ("transaction_id", "user_id", "timestamp", "price")]
    rows += [(f"{part}", getattr(config.parts, part)) for part in ("list_price", "discount", "net_price")
             if getattr(config.parts, part)]
    rows += [("match exact", ", ".join(config.match.exact))] if config.match.exact else []
    rows += [("match bins", ", ".join(f"{name} (width {width:g})" for name, width in config.match.bins))] \
        if config.match.bins else []
    rows += [("time bucket", f"{config.match.time_bucket} of {cols.timestamp}")] if config.match.time_bucket else []
    rows += [(f"segment {seg.name}", f"{seg.column} ({seg.kind})") for seg in config.segments]
    if config.steering:
        rows.append(("steering", f"{config.steering.column} within {', '.join(config.steering.context)}"))
    width = max(len(label) for label, _ in rows)
    lines += [f"  {label:<{width}}  {value}" for label, value in rows]

    group_columns = list(dict.fromkeys(s.column for s in config.segments if s.kind == "group"))
    if group_columns and not overview.remote:
        sampled, counts = sample_values(overview, group_columns, sample_rows)
        lines.append(f"segment values in the first {sampled:,} rows:")
        for seg in (s for s in config.segments if s.kind == "group"):
            values = counts[seg.column]
            common = ", ".join(f"{'(blank)' if v is None else v} {n:,}" for v, n in values.most_common(SHOWN_VALUES))
            more = f", and {len(values) - SHOWN_VALUES:,} more values" if len(values) > SHOWN_VALUES else ""
            lines.append(f"  {seg.column}: {common}{more}")
            absent = [v for v in (seg.reference, *seg.groups) if values[v] == 0]
            if absent:
                lines.append(f"    not in the sample: {', '.join(repr(v) for v in absent)} "
                             "(the audit stops if a configured value never occurs; check spelling and case)")

    lines.append("the audit will compare, within cells of " + config.match.description + ":")
    for seg in config.segments:
        if seg.kind == "group":
            lines.append(f"  {seg.name}: {', '.join(seg.groups)} against {seg.reference} ({seg.column})")
        else:
            lines.append(f"  {seg.name}: price per doubling of 1 + {seg.column}, and by bands from "
                         f"{seg.band_label(0)}")
    outcomes = ["price paid"]
    if config.parts.complete:
        outcomes += ["list price", "coupon incidence and amount"]
    if config.quotes:
        outcomes.append("prices on quote rows")
        outcomes += ["quote-to-final drift"] if config.quotes.quoted_price else []
        outcomes += ["conversion"] if config.quotes.request_id else []
    if config.adjustments:
        outcomes.append("price without declared adjustments (" + ", ".join(a.name for a in config.adjustments) + ")")
    lines.append(f"  outcomes: {', '.join(outcomes)}")
    if config.steering:
        lines.append(f"  steering: offered {config.steering.column} tier ({' < '.join(config.steering.order)})")
    lines.append(f"  flagged when q < {config.test.alpha:g} and |premium| >= {config.test.materiality:g}")
    lines.append(f"ok: the audit would start (config and pre-flight checks took {checked:.2f} s)")
    return "\n".join(lines)


def _size(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:,.1f} TiB"
