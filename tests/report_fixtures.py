"""Findings documents for the report tests: real audits, varied through the findings model itself.

`enrich` reads a real findings.json (auditor.findings.load) and varies it with the model's own types and
rules, so that every branch of the report is exercised on one document in shapes the audit writes:
verdicts `cleared` and `inconclusive`, a dose finding (slope per doubling, its range and band curve) and a
steering finding (tier shift beside the implied price gap), published evidence cells (at most
EVIDENCE_PUBLISHED, in the input's time zone, each with enough users on both sides to publish), a
comparison carried by a few users, and a failed self-check whose calibrated p-values judge the flags
(auditor.findings.sensitivity.calibration). What it returns is the document as findings.json holds it
(`AuditFindings.to_json`), so the tests compare the page with the file a regulator would hold.

Older shapes of findings.json are the reader's business: tests/test_findings_model.py.
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from auditor.findings import EVIDENCE_PUBLISHED, AuditFindings, Finding, SelfCheckResult, load
from auditor.findings.model import ClusterWeight, Decomposition, Dose, DoseBand, DoseRange, Evidence, Steering
from auditor.findings.sensitivity import calibration
from auditor.spec import MatchSpec, Segment
from auditor.synth import generate
from auditor.vocabulary import KIND_OUTCOME, Kind, Verdict


def generated_audit(spark, root: Path, rows: int = 40_000, seed: int = 7, language: str = "en") -> tuple[dict, Path]:
    """Generate a ride log, audit it in Spark, and return (findings.json as a dict, data path)."""
    from auditor import pipeline
    from auditor.spec import load_config

    made = generate("rides", rows, seed, root / "sample")
    if language != "en":
        text = made.config_path.read_text() + f'\n[report]\nlanguage = "{language}"\n'
        made.config_path.write_text(text)
    pipeline.run(load_config(made.config_path), spark, root / "audit")
    return json.loads((root / "audit" / "findings.json").read_text()), made.data_path


NAMED_KEYS = {"city": ("Beijing", "Shanghai", "Shenzhen"), "car_level": ("express", "comfort")}


def _key_value(column: str, i: int) -> str:
    values = NAMED_KEYS.get(column) or tuple(f"G{j:02d}" for j in range(4))
    return values[i % len(values)]


def evidence_cells(rng: np.random.Generator, premium: float, match: MatchSpec, timezone: str,
                   min_cell_size: int, count: int = EVIDENCE_PUBLISHED) -> tuple[Evidence, ...]:
    """The heaviest cells of a comparison as the audit publishes them: one value for each exact key, each
    bin's lower edge, the time bucket's start in the input's time zone, and at least `min_cell_size`
    users on each side (some fewer than 40, so a stricter report withholds them)."""
    weights = rng.dirichlet(np.ones(count)) * rng.uniform(0.3, 0.9)
    start = datetime(2026, 9, 7, 8, tzinfo=ZoneInfo(timezone))
    cells = []
    for i in range(count):
        keys = {c: _key_value(c, i + n) for n, c in enumerate(match.exact)}
        keys.update({name: int(width * (i % 5)) for name, width in match.bins})
        bucket = None
        if match.time_bucket_seconds:
            bucket = (start + timedelta(seconds=match.time_bucket_seconds * 7 * i)).isoformat(timespec="minutes")
        users_group = int(rng.integers(min_cell_size, 30)) if i % 2 else int(rng.integers(40, 70))
        users_reference = int(rng.integers(max(min_cell_size, 40), 90))
        median_reference = float(np.round(rng.uniform(12, 80), 2))
        cells.append(Evidence(
            keys=keys, time_bucket=bucket,
            rows_group=users_group + int(rng.integers(0, 40)), rows_reference=users_reference + int(rng.integers(0, 60)),
            users_group=users_group, users_reference=users_reference,
            median_group=float(np.round(median_reference * (1 + premium + rng.normal(0, 0.01)), 2)),
            median_reference=median_reference, weight_share=float(weights[i])))
    return tuple(cells)


def _timezone(doc: AuditFindings) -> str:
    """The input's time zone, which the evidence's time buckets are written in (the recorded config's)."""
    try:
        return tomllib.loads(doc.audit.config_text).get("input", {}).get("timezone", "UTC")
    except tomllib.TOMLDecodeError:
        return "UTC"


def _dose(template: Finding) -> Finding:
    """A dose finding as findings.build writes one: a slope per doubling of 1 + prior_orders, its range
    over the bands' edges, and the band curve against the lowest band (no sides, no raw gap)."""
    loyalty = Segment(name="Loyalty", column="prior_orders", kind="dose", bands=(1, 2, 4, 16))
    per_doubling, low, high = 0.011, 0.006, 0.016
    doublings = math.log2(1 + loyalty.bands[-1]) - math.log2(1 + loyalty.bands[0])

    def over(slope):
        return math.expm1(math.log1p(slope) * doublings)

    span = DoseRange(loyalty.bands[0], loyalty.bands[-1], doublings, math.expm1(math.log1p(0.01) / doublings),
                     over(per_doubling), over(low), over(high))
    curve = tuple(DoseBand(loyalty.band_label(j), loyalty.band_label(0), p, p - 0.007, p + 0.007, rows, rows // 6)
                  for j, (p, rows) in enumerate(((0.009, 7000), (0.024, 9000), (0.041, 4000)), start=1))
    return replace(
        template, segment=loyalty.name, column=loyalty.column, group="per doubling",
        reference=f"log2(1 + {loyalty.column})", kind=Kind.DOSE.value, outcome=KIND_OUTCOME[Kind.DOSE],
        premium=per_doubling, ci_low=low, ci_high=high, p_value=1e-6, q_value=3e-6, flagged=True,
        verdict=Verdict.FLAGGED.value, raw_premium=None, decomposition=None, users_group=None,
        users_reference=None, evidence=(), evidence_suppressed=0, robustness=None,
        dose=Dose(per_doubling, span, curve))


def _steering(template: Finding, evidence: tuple[Evidence, ...]) -> Finding:
    """A steering finding: the offered tier's implied price gap, with the test on the tier itself."""
    return replace(
        template, kind=Kind.STEERING.value, outcome=KIND_OUTCOME[Kind.STEERING],
        premium=0.06, ci_low=0.04, ci_high=0.08, raw_premium=None, p_value=1e-9, q_value=5e-9, flagged=True,
        verdict=Verdict.FLAGGED.value, decomposition=None, rank_test=None, robustness=None, evidence=evidence,
        steering=Steering(0.12, 0.02, 3e-9, ("economy", "comfort", "premium"), "car_level"))


FAILED_SELF_CHECK = SelfCheckResult(
    splits=200, tested=199, rejections=31, rate=31 / 199, rate_low=0.1086, rate_high=0.2135, alpha=0.05,
    confidence=0.95, expected=9.95, warning=True, calibrated=True, population="os = android", seed=20260901,
    method="cv3_jackknife", users=5210, cells=8000, pairs=500000, cells_total=21000, pairs_total=1312000,
    sampled=True)


def _calibrated(f: Finding, i: int) -> float:
    """The dose flag is one the failed self-check does not support; the other flags hold."""
    if f.kind == Kind.DOSE:
        return 0.31
    return 0.005 if f.flagged else (0.31, 0.02)[i % 2]


def enrich(doc: dict, seed: int = 1) -> dict:
    """A real findings.json varied through the model so that the report shows every part it can."""
    rng = np.random.default_rng(seed)
    real = load(doc)
    match, zone, min_cell = real.audit.match_rules, _timezone(real), real.audit.min_cell_size
    findings = []
    for f in real.findings:
        premium = f.premium if f.premium is not None else 0.0
        published = f.kind == Kind.GROUP and f.outcome == "price"
        findings.append(replace(f, mde=0.0123, evidence=evidence_cells(rng, premium, match, zone, min_cell)
                                if published and f.flagged else (), evidence_suppressed=2 if f.flagged else 0))
    flagged = [i for i, f in enumerate(findings) if f.flagged]
    assert flagged and len(flagged) < len(findings), "the audit enriched needs a flag and a finding not flagged"
    # A few users carry the first flag (the report says so in words).
    findings[flagged[0]] = replace(findings[flagged[0]], cluster_weight=ClusterWeight(5.37, 0.312, 0.614, 1.4, True))
    others = [i for i, f in enumerate(findings) if not f.flagged]
    findings[others[0]] = replace(findings[others[0]], verdict=Verdict.CLEARED.value)
    if len(others) > 1:
        findings[others[1]] = replace(findings[others[1]], verdict=Verdict.INCONCLUSIVE.value)
    template = findings[flagged[0]]
    findings.append(_dose(template))
    findings.append(_steering(template, evidence_cells(rng, 0.06, match, zone, min_cell)))
    # The self-check failed: every finding has a calibrated p-value, and a flag whose calibrated p-value is
    # not below the level is not robust (the audit's own rule).
    findings = [calibration(replace(f, calibrated_p_value=_calibrated(f, i)), FAILED_SELF_CHECK.alpha)
                for i, f in enumerate(findings)]
    return replace(real, findings=tuple(findings), placebo=FAILED_SELF_CHECK).to_json()


def many_findings(doc: dict, count: int = 100, seed: int = 3) -> dict:
    """A document with `count` group findings (a third flagged, with their evidence) for size tests."""
    rng = np.random.default_rng(seed)
    rich = load(enrich(doc, seed))
    match, zone, min_cell = rich.audit.match_rules, _timezone(rich), rich.audit.min_cell_size
    groups = [f for f in rich.findings if f.kind == Kind.GROUP]
    flagged_base = [f for f in groups if f.flagged]
    other_base = [f for f in groups if not f.flagged]
    findings = []
    for i in range(count):
        flagged = i % 3 == 0
        base = (flagged_base if flagged else other_base)[i % len(flagged_base if flagged else other_base)]
        premium = float(rng.normal(0.01, 0.02))
        half = float(rng.uniform(0.002, 0.01))
        raw = premium + float(rng.normal(0, 0.02))
        unmatched = float(rng.normal(0, 0.01))
        parts = Decomposition(math.log1p(raw), unmatched, math.log1p(raw) - unmatched - math.log1p(premium),
                              math.log1p(premium))
        findings.append(replace(
            base, segment=f"Segment {i // 4}", group=f"group-{i}", premium=premium, ci_low=premium - half,
            ci_high=premium + half, raw_premium=raw, decomposition=parts, flagged=flagged,
            verdict=base.verdict if flagged else Verdict.INCONCLUSIVE.value,
            evidence=evidence_cells(rng, premium, match, zone, min_cell) if flagged else ()))
    return replace(rich, findings=tuple(findings)).to_json()
