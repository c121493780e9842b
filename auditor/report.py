"""Render the regulator-facing HTML report from findings (never from Spark frames)."""

from __future__ import annotations

import math
from pathlib import Path

import jinja2

from auditor.findings import VERDICTS, AuditFindings

TEMPLATE = "report.html.j2"


def environment() -> jinja2.Environment:
    """Templates load from the `reports` package; every value is escaped (log strings are untrusted)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("reports", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pct"] = format_percent
    env.filters["num"] = format_count
    env.filters["p"] = format_p
    return env


def format_percent(value: float | None, digits: int = 1, signed: bool = True) -> str:
    """0.0512 -> '+5.1 %'; undefined -> 'n/a'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value * 100:{'+' if signed else ''}.{digits}f} %"


def format_count(value: int | None) -> str:
    return "n/a" if value is None else f"{value:,}"


def format_p(value: float | None) -> str:
    """p- and q-values: three significant digits, tiny ones as '< 0.0001'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return "< 0.0001" if value < 1e-4 else f"{value:.3g}"


def render(result: AuditFindings) -> str:
    """The report as one self-contained HTML string."""
    order = {v: i for i, v in enumerate(VERDICTS)}
    findings = sorted(result.findings, key=lambda f: (order[f.verdict], -abs(f.premium) if not math.isnan(f.premium) else 0))
    return environment().get_template(TEMPLATE).render(
        audit=result.audit, quality=result.data_quality, findings=findings,
        flagged=[f for f in findings if f.flagged], notes=result.notes)


def write_report(result: AuditFindings, path: Path) -> None:
    path.write_text(render(result), encoding="utf-8")
