"""The audit from Python, for notebooks and jobs with a Spark session already open.

    from auditor import Audit
    result = Audit.from_toml("audit.toml").run(spark)   # nothing is written
    result.findings                                     # pandas: one row per comparison and outcome
    result                                              # in Jupyter: the summary and the findings table
    result.write("out/")                                # findings.json, report.html, rejected/

The command line (`auditor run`) and `jobs/audit.py` call the same two steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import jinja2
import pandas as pd

from auditor.spec import AuditConfig, load_config, parse_config, to_toml
from auditor.errors import AuditOutputError
from auditor.findings import AuditFindings, load
from auditor.progress import Progress
from auditor.vocabulary import Scale, Verdict

# The findings table's columns: the flat fields of each finding (nested evidence stays in findings.json).
FINDING_COLUMNS = ("segment", "column", "group", "reference", "kind", "outcome", "scale", "verdict", "flagged",
                   "premium", "ci_low", "ci_high", "p_value", "q_value", "raw_premium", "mde", "tost_p_value",
                   "se_log", "dof", "method", "cells", "users", "clusters", "coverage", "rows_group",
                   "rows_reference")


@dataclass(frozen=True)
class Audit:
    """A validated audit config, ready to run on a Spark session."""

    config: AuditConfig

    @classmethod
    def from_toml(cls, path: str | Path) -> Audit:
        """Read and validate a TOML config (relative paths are taken from its folder)."""
        return cls(load_config(path))

    @classmethod
    def from_dict(cls, settings: dict, base_dir: str | Path | None = None) -> Audit:
        """Validate a config given as a dict shaped like the TOML file (relative paths from `base_dir`,
        default the working folder). The config text recorded in provenance is its TOML form."""
        return cls(parse_config(to_toml(settings), base_dir=Path(base_dir) if base_dir else None))

    def run(self, spark, progress: Progress | bool | None = None, command: str | None = None) -> AuditResult:
        """Run the audit on `spark` and return its result; no file is written.

        `progress=True` prints the command line's phase lines on stderr as the audit goes (a large audit
        takes minutes); a `Progress` sends them where it says. By default the run is silent.
        """
        from auditor import pipeline

        if isinstance(progress, bool):
            progress = Progress(quiet=not progress)

        audited = pipeline.audit(self.config, spark, progress, command or f"Audit.run ({self.config.name})",
                                 keep_cache=True)
        return AuditResult(audited)


class AuditResult:
    """An audit's findings, in memory: a table, the report's HTML, and `write` for the files."""

    def __init__(self, audited):
        self._audited = audited

    @property
    def document(self) -> AuditFindings:
        """The findings document (what findings.json holds), as frozen dataclasses."""
        return self._audited.findings

    def to_json(self) -> dict:
        """The findings.json document as a dict."""
        return self.document.to_json()

    @property
    def findings(self) -> pd.DataFrame:
        """One row per comparison and outcome, in findings.json's order; undefined numbers are NaN."""
        read_back = load(self.to_json())  # as findings.json holds them: ids as text, undefined numbers as null
        rows = [{column: getattr(f, column) for column in FINDING_COLUMNS} for f in read_back.findings]
        frame = pd.DataFrame(rows, columns=list(FINDING_COLUMNS))
        numeric = [c for c in FINDING_COLUMNS if c in ("premium", "ci_low", "ci_high", "p_value", "q_value",
                                                      "raw_premium", "mde", "tost_p_value", "se_log", "coverage")]
        frame[numeric] = frame[numeric].astype(float)
        return frame

    @property
    def flagged(self) -> pd.DataFrame:
        """The flagged findings only: robust (verdict `flagged`) and not (`flagged_not_robust`)."""
        table = self.findings
        return table[table["flagged"]].reset_index(drop=True)

    def report_html(self, language: str | None = None) -> str:
        """The full HTML report, as `write` would save it, in `language` (default: the config's)."""
        from auditor.report import render

        record = self.document.audit
        return render(self.to_json(), language or record.language, record.min_cell_size)

    def write(self, out: str | Path, overwrite: bool = False, progress: Progress | None = None,
              *, _flag: str = "overwrite=True") -> Path:
        """Write findings.json, report.html and rejected/ into `out` (complete or not at all).

        An existing `out` is refused unless `overwrite=True`, and even then only a previous
        audit's output is replaced (never a folder of your own). Rejected rows are re-read from
        the input when written, so this needs the Spark session the audit ran in, still running,
        and the input unchanged.
        """
        from auditor import pipeline

        rejected = self._audited.rejected
        if rejected is not None and rejected.sparkSession.sparkContext._jsc is None:
            raise AuditOutputError(
                f"{self.document.data_quality.rows_rejected:,} rejected rows are read again when written, and "
                "the Spark session the audit ran in has stopped: write() before stopping Spark, or run again")
        written = pipeline.write(self._audited, Path(out), overwrite, progress, flag=_flag)
        self.release()
        return written

    def release(self) -> None:
        """Free the small frame the audit keeps cached in Spark (the duplicated transaction ids) until
        `write`; a later `write` recomputes it."""
        from auditor import pipeline

        pipeline.release(self._audited)

    def _repr_html_(self) -> str:
        return _summary_template().render(summary=self._summary(), rows=self._rows())

    def __repr__(self) -> str:
        s = self._summary()
        fragile = f", {s['not_robust']} flagged but not robust" if s["not_robust"] else ""
        return (f"<AuditResult {s['name']!r}: {s['comparisons']} comparisons, {s['flagged']} flagged{fragile}; "
                f"{s['rows_read']:,} rows read, {s['rows_rejected']:,} rejected>")

    def _summary(self) -> dict:
        doc = self.document
        return {"name": doc.audit.name, "platform": doc.audit.platform, "period": doc.audit.period,
                "input": doc.audit.table.name if doc.audit.table else ", ".join(f.path for f in doc.audit.inputs[:3]),
                "rows_read": doc.data_quality.rows_read, "rows_accepted": doc.data_quality.rows_accepted,
                "rows_rejected": doc.data_quality.rows_rejected, "comparisons": len(doc.findings),
                "flagged": sum(f.verdict == Verdict.FLAGGED for f in doc.findings),
                "not_robust": sum(f.verdict == Verdict.FLAGGED_NOT_ROBUST for f in doc.findings), "match": doc.audit.match,
                "notes": list(doc.notes)}

    def _rows(self) -> list[dict]:
        def pct(value, unit="%"):
            # a true minus sign, as in the report: a hyphen reads as a dash beside the interval's "…"
            return "—" if value is None or not math.isfinite(value) else f"{value * 100:+.1f}{unit}".replace("-", "−")

        def p(value):
            return "—" if value is None or not math.isfinite(value) else ("< 0.0001" if value < 1e-4 else f"{value:.3g}")

        return [{"segment": r.segment, "group": r.group, "reference": r.reference, "outcome": r.outcome,
                 # shares: a difference in percentage points, not a ratio
                 "premium": pct(r.premium, "%" if r.scale == Scale.RATIO else " pp"),
                 "interval": f"{pct(r.ci_low, '%' if r.scale == Scale.RATIO else ' pp')} … "
                             f"{pct(r.ci_high, '%' if r.scale == Scale.RATIO else ' pp')}",
                 "q_value": p(r.q_value), "verdict": r.verdict,
                 "users": "—" if r.users is None or (isinstance(r.users, float) and not math.isfinite(r.users))
                 else f"{int(r.users):,}"}
                for r in self.findings.itertuples()]


_SUMMARY = """<div class="auditor-result">
<p><strong>{{ summary.name }}</strong> ({{ summary.platform }}{% if summary.period %}, {{ summary.period }}{% endif %})
: {{ "{:,}".format(summary.comparisons) }} comparisons, <strong>{{ "{:,}".format(summary.flagged) }} flagged</strong>{% if summary.not_robust %}, {{ "{:,}".format(summary.not_robust) }} flagged but not robust{% endif %}.
{{ "{:,}".format(summary.rows_read) }} rows read from {{ summary.input }}, {{ "{:,}".format(summary.rows_accepted) }} accepted,
{{ "{:,}".format(summary.rows_rejected) }} rejected. Matched on {{ summary.match }}.</p>
{% for note in summary.notes %}<p><strong>Note:</strong> {{ note }}</p>{% endfor %}
<table>
<thead><tr><th>segment</th><th>group</th><th>reference</th><th>outcome</th><th>premium</th><th>interval</th>
<th>q</th><th>verdict</th><th>users</th></tr></thead>
<tbody>
{% for r in rows %}<tr><td>{{ r.segment }}</td><td>{{ r.group }}</td><td>{{ r.reference }}</td><td>{{ r.outcome }}</td>
<td>{{ r.premium }}</td><td>{{ r.interval }}</td><td>{{ r.q_value }}</td><td>{{ r.verdict }}</td><td>{{ r.users }}</td></tr>
{% endfor %}</tbody>
</table>
</div>"""


def _summary_template() -> jinja2.Template:
    # Log strings (segment values, the audit's name) may hold HTML: escape everything.
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    return env.from_string(_SUMMARY)
