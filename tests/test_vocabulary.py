"""One vocabulary: every kind, outcome, verdict and reject reason the audit can produce has a label in
both report languages and (outcomes, kinds) a legal mapping; the report shows them in words; and no
other module or template spells a registry's id out instead of naming its entry."""

from __future__ import annotations

import re
import tomllib
from importlib import resources
from pathlib import Path

import pytest

from auditor import vocabulary
from auditor.spec import parse_config
from auditor.engine.estimate import DOSE, GROUP, SHARE_OUTCOMES, STEERING, plan
from auditor.findings.build import _outcome_name
from auditor.report import render, translations
from auditor.report.formats import LOCALES
from conftest import audit_toml

CJK = re.compile(r"[\u4e00-\u9fff]")

# A config that switches on every comparison the estimator knows: price parts, quotes, an adjustment,
# a dose segment and steering.
EVERYTHING = audit_toml(
    audit={"name": "all outcomes"}, input={"path": "/nonexistent/x.parquet"},
    columns={"transaction_id": "id", "user_id": "user", "timestamp": "ts", "price": "paid", "list_price": "list",
             "discount": "coupon", "net_price": "paid"},
    match={"time_bucket": None},
    segments=[{"name": "Device", "column": "os", "reference": "android", "groups": ["ios"]},
              {"name": "Loyalty", "kind": "dose", "column": "prior_orders"}],
    steering={"column": "level", "order": ["economy", "comfort"], "context": ["city"]},
    quotes={"event_column": "event", "quote_value": "quote", "purchase_value": "purchase", "quoted_price": "quoted",
            "request_id": "request"},
    adjustments=[{"name": "promo", "column": "promo", "value": "new_user"}])


class _Data:
    """The part of ComparisonData _outcome_name reads."""

    def __init__(self, comparison):
        self.comparison = comparison


def produced_outcomes() -> set[tuple[str, str]]:
    """(kind, outcome) of every finding the estimator plans for a config using every feature."""
    items = plan(parse_config(EVERYTHING))
    return {(c.kind, _outcome_name(_Data(c))) for c in items if c.kind in (GROUP, DOSE, STEERING)}


def legal() -> list[dict]:
    return tomllib.loads((resources.files("reports") / "legal.toml").read_text(encoding="utf-8"))["provision"]


def test_every_outcome_the_estimator_produces_is_in_the_registry_with_a_legal_mapping():
    produced = produced_outcomes()
    outcomes = {o for _, o in produced}
    # The plan really covers every kind and outcome (a config change that drops one would show here).
    assert outcomes == {"price", "list_price", "coupon_incidence", "coupon_amount", "price_undeclared",
                        "quote_drift", "conversion", "price_per_doubling", "offered_tier_price"}
    assert outcomes <= set(vocabulary.OUTCOMES)
    for kind, outcome in produced:
        cited = [p["id"] for p in legal() if kind in p["kinds"] and outcome in p["outcomes"]]
        assert cited, f"no provision in reports/legal.toml for a flagged {kind} finding on {outcome}"
    assert set(SHARE_OUTCOMES) == {o.id for o in vocabulary.OUTCOMES.values()
                                   if o.scale is vocabulary.Scale.DIFFERENCE}


def test_legal_mapping_names_only_registered_kinds_and_outcomes():
    for provision in legal():
        assert set(provision["kinds"]) <= {k.value for k in vocabulary.Kind}, provision["id"]
        assert set(provision["outcomes"]) <= set(vocabulary.OUTCOMES), provision["id"]


@pytest.mark.parametrize("outcome", sorted(vocabulary.OUTCOMES))
def test_every_outcome_has_words_in_both_languages(outcome):
    entry = vocabulary.OUTCOMES[outcome]
    for label in (entry.label, entry.noun):
        assert label("en") and label("en") != outcome  # words, not the id
        assert CJK.search(label("zh-CN")) and not re.search(r"[A-Za-z_]{3,}", label("zh-CN"))


def test_every_verdict_and_reject_reason_has_words_in_both_languages():
    for verdict in vocabulary.Verdict:
        assert verdict.label("en") and CJK.search(verdict.label("zh-CN")), verdict
        assert vocabulary.verdict(verdict.id) is verdict
    # Most serious first, one rank each: the report's order.
    assert [v.rank for v in vocabulary.Verdict] == list(range(len(vocabulary.Verdict)))
    assert set(vocabulary.CURRENT_VERDICTS) | {vocabulary.Verdict.NO_EVIDENCE} == set(vocabulary.Verdict)
    # "cleared" means shown immaterial; in Chinese it must not read as "excluded from the analysis".
    assert "排除" not in vocabulary.Verdict.CLEARED.label("zh-CN")
    assert set(vocabulary.REJECT_REASONS) == set(vocabulary.RejectReason)
    for label in vocabulary.REJECT_REASONS.values():
        assert label("en") and CJK.search(label("zh-CN"))


def test_every_report_language_has_a_locale_and_a_catalogue():
    assert set(LOCALES) == set(vocabulary.LANGUAGES)
    for language in vocabulary.LANGUAGES:
        assert translations(language) is not None


# Ids the registries own: a comparison or return of one of them spelled out as text elsewhere is a copy.
REGISTRIES = (vocabulary.Verdict, vocabulary.InsufficientReason, vocabulary.RobustnessReason,
              vocabulary.RejectReason)
IDS = sorted({member.value for registry in REGISTRIES for member in registry}, key=len, reverse=True)
SPELLED = re.compile(r'(?:[=!]=\s*|return\s+|\bin\s+\(\s*)["\'](' + "|".join(IDS) + r')["\']')


def test_no_module_or_template_spells_out_a_verdict_or_reason_the_vocabulary_defines():
    root = Path(vocabulary.__file__).parent
    sources = [*(p for p in root.rglob("*.py") if p.name != "vocabulary.py"),
               *(resources.files("reports") / "templates").iterdir()]
    spelled = [f"{Path(str(path)).name}: {found.group(0)}" for path in sources if str(path).endswith((".py", ".j2"))
               for found in SPELLED.finditer(Path(str(path)).read_text(encoding="utf-8"))]
    assert not spelled, ("name the vocabulary's entry (vocabulary.Verdict.FLAGGED, or Verdict.FLAGGED in a "
                         "template): " + "; ".join(spelled))


def insufficient(reason: str) -> dict:
    return {**finding("group", "price"), "verdict": "insufficient_data", "flagged": False,
            "insufficient_reason": reason, "users_group": 12, "users_reference": 900, "cells": 3,
            "cluster_weight": {"effective_users": 2.5}}


def test_every_insufficient_reason_a_finding_can_have_reads_as_its_own_sentence():
    """The card says why a comparison was not judged, one sentence per reason (the sensitivity-only
    reasons, no purchases of a side left, belong to re-estimates, not findings)."""
    reasons = [r for r in vocabulary.InsufficientReason
               if r not in (vocabulary.InsufficientReason.NO_GROUP_ROWS, vocabulary.InsufficientReason.NO_REFERENCE_ROWS)]
    doc = {"audit": {"name": "A", "platform": "P", "alpha": 0.05, "materiality": 0.01, "confidence": 0.95,
                     "config_text": '[match]\nexact = ["city"]\n'},
           "data_quality": {"rows_read": 1, "rows_accepted": 1, "rows_rejected": 0},
           "findings": [insufficient(reason) for reason in reasons]}
    for language in vocabulary.LANGUAGES:
        html = render(doc, language, 10)
        sentences = set()
        for index, reason in enumerate(reasons):
            card = re.search(rf'<article [^>]*data-finding="{index}">.*?</article>', html, re.S).group(0)
            words = " ".join(re.sub(r"<[^>]+>", " ", card).split())
            assert reason not in words
            sentences.add(words)
        assert len(sentences) == len(reasons), language


def finding(kind: str, outcome: str, column: str = "os", group: str = "ios", reference: str = "android") -> dict:
    return {"segment": "Device", "column": column, "group": group, "reference": reference, "kind": kind,
            "outcome": outcome, "premium": 0.04, "ci_low": 0.02, "ci_high": 0.06, "raw_premium": 0.05,
            "p_value": 1e-6, "q_value": 1e-5, "flagged": True, "verdict": "flagged", "cells": 40,
            "rows_group": 500, "rows_reference": 900, "rows_group_all": 520, "rows_reference_all": 950,
            "users": 300, "coverage": 0.95, "se_log": 0.01, "dof": 299, "clusters": 300,
            "pooled_clusters": False, "method": "cv3_jackknife", "per_doubling": 0.04 if kind == "dose" else None}


@pytest.mark.parametrize("kind,outcome", sorted(produced_outcomes()))
def test_flagged_findings_of_every_outcome_read_in_words_with_their_provisions(kind, outcome):
    doc = {"audit": {"name": "A", "platform": "P", "alpha": 0.05, "materiality": 0.01, "confidence": 0.95,
                     "config_text": '[match]\nexact = ["city"]\n'},
           "data_quality": {"rows_read": 1, "rows_accepted": 1, "rows_rejected": 0},
           "findings": [finding(kind, outcome, *(("prior_orders", "per doubling", "log2(1 + prior_orders)")
                                               if kind == "dose" else ()))]}
    for language in vocabulary.LANGUAGES:
        html = render(doc, language, 10)
        card = re.search(r'<article [^>]*data-finding="0">.*?</article>', html, re.S).group(0)
        words = re.sub(r"<[^>]+>", " ", card)
        assert vocabulary.OUTCOMES[outcome].label(language) in words
        if "_" in outcome:
            assert outcome not in words  # the id never stands in for the words
        assert 'href="#law-' in card, (kind, outcome, language)
