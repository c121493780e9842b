"""The report's view: what the templates show, prepared from the findings model.

It works from the typed findings (auditor.findings.load: any findings.json, never Spark frames), so a
report can be re-rendered from an archived audit in either language. The view's parts have their own
modules: `words` (labels, match keys, windows), `cards` (one finding), `checks` (robustness), `changes`
(an earlier audit) and `charts`; the templates in `reports/templates/` only format what they prepare, and
are strict about undefined names, so each optional field is given an explicit default.
"""

from __future__ import annotations

from markupsafe import Markup

from auditor import vocabulary
from auditor.findings.document import AuditFindings, AuditRecord, SelfCheckResult, TableInput
from auditor.report import charts
from auditor.report.cards import EVIDENCE_SHOWN, VERDICT_ORDER, decomposition_shares, finding_view, sort_key
from auditor.report.changes import change_sentences, same_audit_sentence, segment_columns
from auditor.report.formats import Formats, css_string, finite, translations
from auditor.report.legal import provisions
from auditor.report.words import Words, bin_widths, bucket_width, match_spec, user_label
from auditor.summaries import DataQuality
from auditor.vocabulary import Verdict

CELL_CHARTS_MAX = 12  # per-finding evidence charts (keeps a 100-finding report small)
SUMMARY_SENTENCES = 6  # flagged findings spelled out in the summary; the rest are linked

__all__ = ["EVIDENCE_SHOWN", "VERDICT_ORDER", "build_view", "change_sentences", "decomposition_shares",
           "same_audit_sentence"]


def _charts(views: list[dict], audit: AuditRecord, language: str, formats: Formats) -> dict:
    _ = translations(language).gettext
    span = max([abs(v[k]) for v in views for k in ("ci_low", "ci_high", "raw_premium") if finite(v[k])] or [0])
    digits = 1 if span < 0.1 else 0

    def percent(value):
        return formats.pct(value, digits)

    glyphs: set[str] = set()  # each font glyph is defined once on the page
    materiality = audit.materiality if finite(audit.materiality) else 0

    forest = charts.forest_plot(
        [charts.ForestRow(v["title"], v["premium"], v["ci_low"], v["ci_high"], v["robust_flag"]) for v in views],
        materiality, chart_id="forest", language=language, percent=percent, glyphs=glyphs,
        title=_("Matched premium of every comparison, with its confidence interval"),
        xlabel=_("Matched premium (group over reference)"),
        band_label=_("Below materiality (±%(m)s)") % {"m": formats.pct(materiality, 1, False)},
        flagged_label=_("Flagged"), other_label=_("Not flagged"))
    gap = charts.gap_plot(
        [charts.GapRow(v["title"], v["raw_premium"], v["premium"]) for v in views],
        chart_id="gap", language=language, percent=percent, glyphs=glyphs,
        title=_("Raw gap against matched premium"), xlabel=_("Premium over the reference group"),
        raw_label=_("Raw gap (all purchases, unmatched)"), matched_label=_("Matched premium (same conditions)"))
    cell_charts = 0
    for view in views:
        if cell_charts < CELL_CHARTS_MAX and _cell_chart(view, language, percent, glyphs, _):
            cell_charts += 1
        _band_chart(view, language, percent, glyphs, _)
    return {"forest": Markup(forest), "gap": Markup(gap)}


def _cell_chart(view: dict, language: str, percent, glyphs: set[str], _) -> bool:
    """A flagged finding's published cells, each at its median gap (area: its weight), if it has two."""
    points = [charts.CellPoint(c["users_group"] + c["users_reference"], c["ratio"], c["weight_share"] or 0)
              for c in view["evidence"] if c["ratio"] is not None
              and isinstance(c["users_group"], int) and isinstance(c["users_reference"], int)]
    if not (view["flagged"] and len(points) >= 2):
        return False
    view["cell_chart"] = Markup(charts.cell_plot(
        points, view["premium"], chart_id=f"cells-{view['index'] + 1}", language=language,
        percent=percent, glyphs=glyphs, title=_("Median gap in each published cell"),
        xlabel=_("Distinct users in the cell"), ylabel=_("Median gap in the cell"),
        premium_label=_("Matched premium, all cells"), cell_label=_("Published cell (area = weight)")))
    return True


def _band_chart(view: dict, language: str, percent, glyphs: set[str], _) -> None:
    """A dose finding's premium by band against the lowest band."""
    bands = [(str(b["band"]), b["premium"], b["ci_low"], b["ci_high"]) for b in view["bands"]
             if finite(b["premium"]) and finite(b["ci_low"]) and finite(b["ci_high"])]
    if bands:
        view["band_chart"] = Markup(charts.band_plot(
            bands, chart_id=f"bands-{view['index'] + 1}", language=language, percent=percent, glyphs=glyphs,
            title=_("Premium by band"), xlabel=view["column"], ylabel=_("Premium over the lowest band")))


def _population(population, words: Words) -> str | None:
    """The placebo's population ("os = android" in findings.json) in the audit's labels: device “Android”."""
    if not isinstance(population, str):
        return None
    column, sep, value = population.partition(" = ")
    if not sep:
        return population
    space = "" if words.language == "zh-CN" else " "  # Chinese sets quotes without spaces
    return f"{words.column(column)}{space}“{words.value(column, value)}”"


_INTERVAL = ("rate", "rate_low", "rate_high", "alpha", "confidence")


def _self_check(placebo: SelfCheckResult | None, words: Words) -> dict | None:
    """The placebo self-check, shown whether it passed or failed.

    findings.json before the self-check had its interval held 4 splits and no rate: the rate is
    then the share tested, and the interval is not shown.
    """
    if placebo is None:
        return None
    view = {k: getattr(placebo, k) for k in ("splits", "tested", "rejections", "rate", "rate_low", "rate_high",
                                             "alpha", "confidence", "expected", "seed", "cells", "cells_total",
                                             "pairs", "pairs_total")}
    if view["tested"] is None:
        view["tested"] = view["splits"]
    view.update(warning=bool(placebo.warning), sampled=bool(placebo.sampled), calibrated=bool(placebo.calibrated),
                has_interval=all(finite(getattr(placebo, k)) for k in _INTERVAL),
                population=_population(placebo.population, words))
    return view


def _notes(doc: AuditFindings, words: Words, formats: Formats, language: str) -> list[dict]:
    """findings.json's notes, each in the report's language when the auditor wrote it (the placebo warning
    is rebuilt from the placebo's numbers); any other note is shown as written, marked as English."""
    _ = translations(language).gettext
    placebo = doc.placebo
    notes = []
    for note in doc.notes:
        if not (note.startswith("Self-check failed:") and placebo):
            notes.append({"text": note, "lang": "en"})
            continue
        numbers = {"rejections": formats.num(placebo.rejections), "tested": formats.num(placebo.tested or placebo.splits),
                   "population": _population(placebo.population, words) or "—"}
        if all(finite(getattr(placebo, k)) for k in _INTERVAL):
            text = _("Self-check failed: %(rejections)s of %(tested)s random placebo splits of %(population)s were "
                     "found significant (%(rate)s; %(confidence)s interval %(low)s to %(high)s, above the audit's "
                     "level of %(alpha)s). The inference is not reliable on this data; each finding also carries "
                     "a p-value calibrated against the splits.") % {
                **numbers, "rate": formats.pct(placebo.rate, 1, False),
                "confidence": formats.pct(placebo.confidence, 0, False),
                "low": formats.pct(placebo.rate_low, 1, False), "high": formats.pct(placebo.rate_high, 1, False),
                "alpha": formats.pct(placebo.alpha, 0, False)}
        else:  # findings.json from before the interval (4 splits)
            text = _("Self-check failed: %(rejections)s of %(tested)s random placebo splits of %(population)s were "
                     "found significant (about %(expected)s expected by chance). The inference is not reliable on "
                     "this data; treat p-values and flags with caution.") % {
                **numbers, "expected": formats.dec(placebo.expected, 2)}
        notes.append({"text": text, "lang": language})
    return notes


def _personalisation_html(doc: AuditFindings, words: Words, language: str) -> str:
    """The section "Is pricing personalised?" (auditor/report/personal.py), or nothing when it was not run."""
    block = doc.personalisation
    if block is None:
        return ""
    from auditor.report.personal import section

    searched = [c.column for c in block.scan] or (block.attributes.searched if block.attributes else ())
    # Only the columns the config labels: the section shows the others by their ids, as code.
    return section(block, language, labels={c: words.column(c) for c in searched if str(c) in words.columns},
                   value_label=words.value)


def _audit_view(audit: AuditRecord, words: Words) -> dict:
    return {
        "name": words.audit_field("name", audit.name),
        "platform": words.audit_field("platform", audit.platform),
        "period": audit.period, "config_path": audit.config_path, "config_sha256": audit.config_sha256 or "",
        "config_text": audit.config_text or "",
        "inputs": [{"path": str(i.path or ""), "bytes": i.bytes, "sha256": i.sha256} for i in audit.inputs],
        "input_format": audit.input_format or "",
        "table": _table_view(audit.table),
        "alpha": audit.alpha, "materiality": audit.materiality, "confidence": audit.confidence,
        "spark_version": audit.spark_version or "", "spark_master": audit.spark_master or "",
        "auditor_version": audit.auditor_version or "", "python_version": audit.python_version or "",
        "started_at": audit.started_at, "finished_at": audit.finished_at, "command": audit.command or "",
    }


def build_view(doc: AuditFindings, language: str, min_cell_size: int) -> dict:
    """Everything the template shows, prepared from the findings model."""
    formats = Formats(language)
    audit = doc.audit
    words = Words(audit.labels, language)
    views = sorted((finding_view(i, f, bucket_width(audit), min_cell_size, formats, language, words, audit.alpha,
                                 bin_widths(audit)) for i, f in enumerate(doc.findings)), key=sort_key)
    chart_svgs = _charts(views, audit, language, formats) if views else {"forest": None, "gap": None}
    # The summary counts robust flags apart from flags that did not survive their checks.
    flagged = [v for v in views if v["robust_flag"]]
    fragile = [v for v in views if v["verdict"] == Verdict.FLAGGED_NOT_ROBUST]
    return {
        "language": language,
        "personalisation_html": _personalisation_html(doc, words, language),
        "user_label": user_label(audit, words),
        "audit": _audit_view(audit, words),
        "print_header": css_string(words.audit_field("name", audit.name)),
        "match": match_spec(audit, words, formats),
        "quality": _quality_view(doc.data_quality, language),
        "findings": views,
        "flagged": flagged,
        "summary_flagged": flagged[:SUMMARY_SENTENCES],
        "fragile": fragile,
        "summary_fragile": fragile[:SUMMARY_SENTENCES],
        "counts": _verdict_counts(views, language),
        "verdict_names": {v: vocabulary.verdict(v).label(language) for v in VERDICT_ORDER},
        "placebo": _self_check(doc.placebo, words),
        "legal": provisions(language),
        "notes": _notes(doc, words, formats, language),
        "min_cell_size": min_cell_size,
        "evidence_shown": EVIDENCE_SHOWN,
        "charts": chart_svgs,
        "methods": sorted({v["method"] for v in views if v["method"]}),
        "any_pooled": any(v["pooled_clusters"] for v in views),
        "schema_version": doc.schema_version,
        "baseline": change_sentences(doc.baseline, language, audit.labels, segment_columns(doc)),
    }


def _quality_view(quality: DataQuality, language: str) -> dict:
    """Rows read, accepted and rejected, the reasons most frequent first."""
    return {
        "rows_read": quality.rows_read, "rows_accepted": quality.rows_accepted,
        "rows_rejected": quality.rows_rejected,
        "reasons": [(reason, vocabulary.reject_reason(reason)(language), count) for reason, count in
                    sorted(quality.rejected_by_reason.items(), key=lambda kv: -(kv[1] or 0))],
    }


def _verdict_counts(views: list[dict], language: str) -> list[tuple[str, int]]:
    """(label, findings) for each verdict but the flags, which the summary counts apart; verdicts no finding has are left out."""
    counts = [(vocabulary.verdict(v).label(language), sum(1 for f in views if f["verdict"] == v))
              for v in VERDICT_ORDER if v not in vocabulary.FLAG_VERDICTS]
    return [(label, count) for label, count in counts if count]


def _table_view(table: TableInput | None) -> dict | None:
    """A catalog table input's provenance (findings.json `audit.table`), with every field defaulted."""
    if table is None:
        return None
    return {"name": str(table.name or ""), "qualified": str(table.qualified or table.name or ""),
            "format": str(table.format or "—"), "location": table.location,
            "where": table.where, "partitions": [str(p) for p in table.partitions or ()]}
