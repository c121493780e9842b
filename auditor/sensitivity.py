"""Sensitivity of flagged findings: does the premium survive reasonable changes?

Each flagged finding is re-estimated with the same method (a) leaving out, in
turn, each of the most common values of one declared match key (e.g. each
city), and (b) with every numeric bin halved and doubled. A finding that loses
its flag under such a change says so in the report.
"""

from __future__ import annotations

import dataclasses

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from auditor.config import AuditConfig
from auditor.estimate import GROUP, Comparison, summarize
from auditor.findings import Finding
from auditor.match import with_cells
from auditor.stats.premium import jackknife

MAX_VALUES = 12  # values of the left-out key tried, most common first


def sensitivity(accepted: DataFrame, config: AuditConfig, items: tuple[Comparison, ...],
                findings: tuple[Finding, ...]) -> tuple[Finding, ...]:
    """Attach a sensitivity table to every flagged group finding."""
    flagged = {(f.segment, f.group, f.outcome) for f in findings if f.flagged and f.kind == GROUP}
    targets = [c for c in items if c.kind == GROUP and (c.segment, c.group, c.outcome) in flagged]
    if not targets:
        return findings
    tables: dict[tuple, list] = {}
    # (change, original, variant); a change is its words plus what changed, as data for the report's labels
    variants: list[tuple[dict, Comparison, Comparison]] = []
    next_id = max(c.id for c in items) + 1
    key = config.sensitivity.leave_out
    if key:
        values = [r[0] for r in accepted.groupBy(F.col(f"`{key}`").cast("string")).count()
                  .orderBy(F.desc("count")).limit(MAX_VALUES).collect()]
        for value in values:
            for c in targets:
                change = {"change": f"without {key} = {value}", "left_out": {"column": key, "value": value}}
                variants.append((change, c, dataclasses.replace(c, id=next_id, exclude=(key, value))))
                next_id += 1
    _estimate(accepted, config, variants, tables)
    if config.sensitivity.bins and config.match.bins:
        for factor, label in ((0.5, "bins halved"), (2.0, "bins doubled")):
            match = dataclasses.replace(config.match, bins=tuple((n, w * factor) for n, w in config.match.bins))
            change = {"change": label, "bins_factor": factor}
            _estimate(accepted, dataclasses.replace(config, match=match), [(change, c, c) for c in targets], tables)
    out = []
    for f in findings:
        rows = tables.get((f.segment, f.group, f.outcome))
        if rows is None:
            out.append(f)
            continue
        extra = dict(f.extra, sensitivity=rows, robust=all(r["flagged"] for r in rows))
        out.append(dataclasses.replace(f, extra=extra))
    return tuple(out)


def _estimate(accepted: DataFrame, config: AuditConfig, variants, tables: dict) -> None:
    if not variants:
        return
    test = config.test
    # Only the mean premium is re-estimated: no within-cell ranks (a sort of every row) are needed.
    lean = dataclasses.replace(config, test=dataclasses.replace(test, rank_test=False))
    data = summarize(with_cells(accepted, config.match), lean, tuple(v for _, _, v in variants), evidence=False)
    for change, original, variant in variants:
        est = jackknife(data[variant.id].primary, test.confidence)
        # The flag is judged at the finding's own level, without re-running the BH family.
        still = est.defined and est.p_value < test.alpha and abs(est.premium) >= test.materiality
        tables.setdefault((original.segment, original.group, original.outcome), []).append({
            **change, "premium": est.premium, "ci_low": est.ci_low, "ci_high": est.ci_high,
            "p_value": est.p_value, "rows": data[variant.id].primary.rows, "flagged": still})
