"""An audit compared with an earlier one, in words: the report's section and what `auditor compare` prints."""

from __future__ import annotations

from auditor import vocabulary
from auditor.findings.changes import AuditChanges, Change
from auditor.findings.document import AuditFindings
from auditor.report.formats import Formats, finite, translations
from auditor.report.words import Words
from auditor.spec import Labels
from auditor.vocabulary import Scale


def change_sentences(changes: AuditChanges | None, language: str, labels: Labels | None = None,
                     columns: dict | None = None) -> dict | None:
    """An audit compared with an earlier one (findings.json `baseline`), in words: one sentence per
    comparison in both audits, one per comparison whose definition changed, and those in only one.

    Names are shown in the audit's `labels` and outcomes in the language's words; `columns` maps each
    segment to its column, so a group's value label can be found."""
    if not changes:
        return None
    _ = translations(language).gettext
    formats = Formats(language)
    words = Words(labels, language)
    columns = columns or {}

    def amount(value, scale):
        if scale == Scale.DIFFERENCE:  # a difference of shares: percentage points
            sign = "" if not finite(value) or round(value * 100, 1) == 0 else ("+" if value > 0 else "−")
            return _("%(n)s pp") % {"n": sign + formats.pp(value)}
        return formats.pct(value)

    def names(item) -> dict:
        column = columns.get(str(item.segment))
        reference = getattr(item, "reference", None)
        return {"segment": words.segment(item.segment),
                "group": words.value(column, item.group) if column else str(item.group),
                "reference": words.value(column, reference) if column else str(reference),
                "outcome": vocabulary.outcome(item.outcome).label(language)}

    compared = []
    for c in changes.changes:
        template = (_("%(segment)s “%(group)s” vs “%(reference)s”, %(outcome)s: was %(before)s, now %(after)s: "
                      "the difference is significant (change %(change)s, %(level)s CI %(low)s to %(high)s).")
                    if c.significant else
                    _("%(segment)s “%(group)s” vs “%(reference)s”, %(outcome)s: was %(before)s, now %(after)s: "
                      "the difference is not significant (change %(change)s, %(level)s CI %(low)s to %(high)s)."))
        scale = c.scale or Scale.RATIO
        text = template % {
            **names(c), "before": amount(c.premium_before, scale),
            "after": amount(c.premium_after, scale), "change": amount(c.change, scale),
            "level": formats.pct(changes.confidence if changes.confidence is not None else 0.95, 0, False),
            "low": amount(c.ci_low, scale), "high": amount(c.ci_high, scale)}
        compared.append({"significant": bool(c.significant), "text": text + _verdict_change(c, language)})
    not_comparable = []
    for n in changes.not_comparable:
        reasons = _("; ").join(_("%(field)s was %(before)s, now %(after)s") % {
            "field": r.field, "before": _shown(r.before), "after": _shown(r.after)} for r in n.reasons)
        not_comparable.append(_("%(segment)s “%(group)s”, %(outcome)s: not comparable: %(reasons)s.") % {
            **names(n), "reasons": reasons})
    named = lambda items: _(", ").join(_("%(segment)s “%(group)s” (%(outcome)s)") % names(i) for i in items)  # noqa: E731
    return {
        "earlier": _("Earlier audit: %(name)s, run %(started)s.") % {
            "name": changes.before.name or "—", "started": formats.when(changes.before.started_at)},
        "compared": compared,
        "not_comparable": not_comparable,
        "only_before": _("Only in the earlier audit: %(list)s.") % {"list": named(changes.only_before)}
        if changes.only_before else None,
        "only_after": _("Only in this audit: %(list)s.") % {"list": named(changes.only_after)}
        if changes.only_after else None,
    }


def _verdict_change(c: Change, language: str) -> str:
    """" Verdict: was …, now …." when a comparison's verdict changed (e.g. a flag that no longer survives)."""
    known = c.verdict_before in vocabulary.VERDICTS and c.verdict_after in vocabulary.VERDICTS
    if not known or c.verdict_before == c.verdict_after:
        return ""
    _ = translations(language).gettext
    return " " + _("Verdict: was %(before)s, now %(after)s.") % {
        "before": vocabulary.verdict(c.verdict_before).label(language),
        "after": vocabulary.verdict(c.verdict_after).label(language)}


def segment_columns(*docs: AuditFindings) -> dict[str, str]:
    """Each segment's column, from the findings of one or more audits (later ones win)."""
    return {str(f.segment): str(f.column) for doc in docs for f in doc.findings if f.column is not None}


def same_audit_sentence(doc: AuditFindings, language: str) -> str:
    """What `auditor compare` says when both files hold the same audit: nothing changed, nothing to test."""
    _ = translations(language).gettext
    return _("Both files hold the same audit (%(name)s, run %(started)s): there is no change to compare.") % {
        "name": doc.audit.name or "—", "started": Formats(language).when(doc.audit.started_at)}


def _shown(value) -> str:
    return "—" if value is None else str(value)
