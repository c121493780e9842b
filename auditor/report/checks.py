"""A flagged finding's robustness checks in words: its sensitivity rows, balance, timing curve, and why
the flag did or did not hold."""

from __future__ import annotations

from auditor.findings.document import Finding
from auditor.findings.model import CurveStep, RobustReason, SensitivityRow
from auditor.report.formats import Formats, finite
from auditor.report.words import Words, duration
from auditor.vocabulary import InsufficientReason, RobustnessReason


def change_label(change: SensitivityRow, words: Words, _) -> tuple[str, bool]:
    """A sensitivity change in the report's words (and whether it is a translation or the raw text)."""
    if change.left_out is not None and change.left_out.column is not None:
        column = change.left_out.column
        return _("without %(column)s “%(value)s”") % {"column": words.column(column),
                                                     "value": words.value(column, change.left_out.value)}, True
    for factor, smaller, larger in ((change.bins_factor, _("bins half as wide"), _("bins twice as wide")),
                                    (change.time_bucket_factor, _("time windows half as long"),
                                     _("time windows twice as long"))):
        if finite(factor) and factor != 1:
            return (smaller if factor < 1 else larger), True
    return str(change.change or ""), False


def balance_measure(measure: str, words: Words, _) -> str:
    if measure == "time_bucket":
        return _("when in the time window they bought")
    return _("where within the %(column)s band they fall") % {"column": words.column(measure)}


def unestimable_words(change: SensitivityRow, f: Finding, words: Words, _) -> str:
    """Why a sensitivity change left nothing to estimate, in words (findings' `unestimable_reason`)."""
    reason = change.unestimable_reason
    names = {"group": words.value(f.column, f.group), "reference": words.value(f.column, f.reference)}
    left_out = change.left_out
    if left_out is not None:
        names.update(column=words.column(left_out.column), value=words.value(left_out.column, left_out.value))
    if reason == InsufficientReason.NO_GROUP_ROWS:
        return (_("not estimable: no “%(group)s” purchases remain — every matched one is in %(column)s “%(value)s”")
                if left_out else _("not estimable: no “%(group)s” purchases remain in shared cells")) % names
    if reason == InsufficientReason.NO_REFERENCE_ROWS:
        return (_("not estimable: no “%(reference)s” purchases remain — every matched one is in %(column)s “%(value)s”")
                if left_out else _("not estimable: no “%(reference)s” purchases remain in shared cells")) % names
    if reason == InsufficientReason.NO_COMMON_SUPPORT:
        return _("not estimable: no cell holds comparable purchases of both groups")
    if reason == InsufficientReason.TOO_FEW_USERS_GROUP:
        return _("not judged: too few “%(group)s” users remain") % names
    if reason == InsufficientReason.TOO_FEW_USERS_REFERENCE:
        return _("not judged: too few “%(reference)s” users remain") % names
    if reason == InsufficientReason.TOO_FEW_CELLS:
        return _("not judged: too few cells hold comparable purchases of both groups")
    return _("not estimable: no user-clustered estimate exists")


def _numbers(r: RobustReason, formats: Formats, language: str) -> dict:
    return {"window": duration(r.time_bucket_seconds, language), "premium": formats.pct(r.premium),
            "original": formats.pct(r.original_premium), "low": formats.pct(r.ci_low), "high": formats.pct(r.ci_high)}


def _reason_words(r: RobustReason, labels: dict, words: Words, formats: Formats, _) -> tuple[str, str, str] | None:
    """A reason the flag did not hold: (the card's sentence, the summary's, what to check first)."""
    timing_check = _("Check first when each group bought within the time window (surges, peak minutes) before "
                     "reading the gap as a price for the same purchase.")
    numbers = _numbers(r, formats, words.language)
    if r.reason == RobustnessReason.NOT_SIGNIFICANT_CALIBRATED:
        shown = {"p": formats.p(r.calibrated_p_value), "alpha": formats.pct(r.alpha, 0, False)}
        return (_("The method self-check failed on these data, and against its random splits of the same users "
                  "this premium is not significant (calibrated p %(p)s, not below %(alpha)s): the flag rests on "
                  "a test that finds differences between random halves of users too often.") % shown,
                _("against the self-check's random splits it is not significant (calibrated p %(p)s).") % shown,
                _("Check first what the method self-check says about these users (a few heavy users, or "
                  "prices that vary by user) before relying on the flag."))
    if r.reason == RobustnessReason.LOSES_FLAG:
        changes = _("; ").join(labels.get(str(c), str(c)) for c in r.changes or ())
        return (_("The flag does not hold under every change in the table above."),
                _("the flag does not hold under: %(changes)s.") % {"changes": changes},
                _("Check first what sets apart the purchases behind that change: the premium may rest on them "
                  "alone."))
    if r.reason == RobustnessReason.TIME_BUCKET_MOVES:
        return (_("With time windows half as long, the premium moves from %(original)s to %(premium)s, outside "
                  "its interval (%(low)s to %(high)s): part of it may come from when purchases were made "
                  "within the window.") % numbers,
                _("halving the time window moves it from %(original)s to %(premium)s; purchases of the two "
                  "groups may differ in timing within the window.") % numbers, timing_check)
    if r.reason == RobustnessReason.EXPLAINED_BY_TIMING:
        return (_("Compared within %(window)s of each other, the premium falls from %(original)s to "
                  "%(premium)s (%(low)s to %(high)s), below materiality: it is explained by timing within the "
                  "window.") % numbers,
                _("compared within %(window)s of each other, it falls from %(original)s to %(premium)s: it "
                  "is explained by timing within the window.") % numbers, timing_check)
    if r.reason == RobustnessReason.SHRINKS_WITH_WINDOW:
        return (_("As the time window narrows the premium shrinks at every halving, from %(original)s to "
                  "%(premium)s within %(window)s (%(low)s to %(high)s): part of it is explained by timing within "
                  "the window.") % numbers,
                _("compared closer in time it shrinks at every halving, from %(original)s to %(premium)s "
                  "within %(window)s; part of it is explained by timing within the window.") % numbers,
                timing_check)
    if r.reason == RobustnessReason.IMBALANCE:
        shown = {"measure": balance_measure(str(r.measure), words, _), "smd": formats.dec(r.smd)}
        return (_("Within the matched purchases the two groups differ in %(measure)s (standardized "
                  "difference %(smd)s; above 0.1 the comparison is not like for like).") % shown,
                _("within the matched purchases the two groups differ in %(measure)s (standardized "
                  "difference %(smd)s).") % shown,
                timing_check if r.measure == "time_bucket" else _(
                    "Check first where each group's purchases fall within the %(column)s band before reading the "
                    "gap as a price for the same purchase.") % {"column": words.column(r.measure)})
    return None


def robustness(f: Finding, words: Words, formats: Formats, _) -> dict | None:
    """Whether a flag held under the sensitivity changes, timing curve and balance checks, and why not,
    in words: every reason for the card, the first (most telling) for the summary, and what to check."""
    checks = f.robustness
    if checks is None or checks.robust is None:
        return None
    labels = {str(r.change): change_label(r, words, _)[0] for r in checks.sensitivity or ()}
    found = [w for w in (_reason_words(r, labels, words, formats, _) for r in checks.robust_reasons) if w]
    return {"robust": bool(checks.robust), "reasons": [card for card, _short, _advice in found],
            "balance": [{"measure": balance_measure(str(b.measure), words, _), "smd": b.smd,
                         "balanced": bool(b.balanced)} for b in checks.balance or ()],
            "summary": found[0][1] if found else None, "check_first": found[0][2] if found else None,
            "untested": _untested(checks, _), "curve": timing_curve(checks.time_curve, checks.time_curve_stop,
                                                                     checks.time_curve_min_coverage, formats,
                                                                     words.language, _),
            "less_data": _("Where a change is no longer flagged but its premium stays inside the finding's "
                           "interval, it has less data to go on; it does not move the estimate, and does not count "
                           "against the flag.") if _less_data(f) else None}


def _less_data(f: Finding) -> bool:
    """A change no longer flagged whose premium stays inside the finding's interval: it had less data."""
    if not (finite(f.ci_low) and finite(f.ci_high)):
        return False
    return any(r.estimable and r.flagged is False and finite(r.premium) and f.ci_low <= r.premium <= f.ci_high
               for r in f.robustness.sensitivity or ())


def _untested(checks, _) -> str | None:
    """Changes that could not be estimated, and what that means for the flag."""
    if not (isinstance(checks.variants_unestimable, int) and checks.variants_unestimable):
        return None
    if checks.variants_estimable == 0:
        return _("None of the changes above could be estimated, so the flag could not be tested against "
                 "them; its robustness rests on the other checks alone.")
    return _("Changes that leave nothing to compare are shown as not estimable; they do not count "
             "against the flag.")


def _trend(steps: tuple[CurveStep, ...], formats: Formats, _) -> str | None:
    premiums = [s.premium for s in steps]
    if not all(finite(p) for p in premiums) or len(steps) < 3:
        return None
    sizes = [abs(p) for p in premiums]
    last = steps[-1]
    apart = finite(last.ci_low) and finite(last.ci_high) and not (last.ci_low <= premiums[0] <= last.ci_high)
    if apart and all(b < a for a, b in zip(sizes, sizes[1:])):
        return _("Here the premium shrinks at every halving, from %(first)s to %(last)s: timing within the "
                 "window explains at least part of it.") % {"first": formats.pct(premiums[0]),
                                                            "last": formats.pct(premiums[-1])}
    if all(finite(s.ci_low) and finite(s.ci_high) and s.ci_low <= premiums[0] <= s.ci_high for s in steps[1:]):
        return _("Here the premium stays within the finer windows' intervals: it is robust to timing.")
    return None


def timing_curve(steps: tuple[CurveStep, ...], stop: str | None, share: float | None, formats: Formats,
                 language: str, _) -> dict | None:
    """The premium as the time window narrows (findings' `time_curve`), with why it ends where it does."""
    if len(steps) < 2:
        return None
    ends = {"coverage": _("Finer windows are not shown: they would compare less than %(share)s of the purchases "
                          "this finding rests on.") % {"share": formats.pct(share, 0, False)},
            "resolution": _("Finer windows are not shown: they change nothing, because the timestamps are no "
                            "finer."),
            "unestimable": _("Finer windows are not shown: they leave no estimate.")}
    return {"steps": [{"window": duration(s.time_bucket_seconds, language), "audit": bool(s.audit),
                       "premium": s.premium, "ci_low": s.ci_low, "ci_high": s.ci_high, "coverage": s.coverage}
                      for s in steps],
            "stop": ends.get(stop), "trend": _trend(steps, formats, _)}
