"""Findings documents for the report tests: real audits, enriched with the fields findings.json is growing.

`enrich` adds to a real findings.json dict the optional fields the estimator
produces only on some data (verdicts `cleared`/`inconclusive`, dose and steering
findings with the outcomes the estimator gives them — `price_per_doubling`,
`offered_tier_price` — `decomposition` with all three parts, `sensitivity` rows
as sensitivity.py writes them, cell-level `evidence`, and a failed `placebo`), so
every branch of the report is exercised on one document.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np

from auditor.synth import generate


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


def evidence_cells(rng: np.random.Generator, premium: float, count: int, city: str = "Beijing",
                   level: str = "express") -> list[dict]:
    """Cells of the shape findings.json will carry; a few are too small to publish."""
    cells = []
    weights = rng.dirichlet(np.ones(count))
    for i in range(count):
        users_group = int(rng.integers(3, 60)) if i % 4 == 3 else int(rng.integers(10, 60))
        users_reference = int(rng.integers(10, 90))
        median_reference = float(np.round(rng.uniform(12, 80), 2))
        cells.append({
            "keys": {"city": city, "car_level": level, "start_grid": f"G{i % 4:02d}", "end_grid": f"G{(i + 1) % 4:02d}"},
            "time_bucket": f"2026-09-{7 + i % 7:02d}T{8 + i % 10:02d}:00:00" if i % 5 else None,
            "rows_group": users_group + int(rng.integers(0, 40)),
            "rows_reference": users_reference + int(rng.integers(0, 60)),
            "users_group": users_group,
            "users_reference": users_reference,
            "median_group": float(np.round(median_reference * (1 + premium + rng.normal(0, 0.01)), 2)),
            "median_reference": median_reference,
            "weight_share": float(weights[i]),
        })
    return cells


def enrich(doc: dict, seed: int = 1) -> dict:
    """A copy of a real findings.json dict with every optional field the report understands."""
    rng = np.random.default_rng(seed)
    doc = copy.deepcopy(doc)
    for f in doc["findings"]:
        premium = f["premium"] if f["premium"] is not None else 0.0
        f.setdefault("kind", "group")
        f.setdefault("outcome", "price")
        f["mde"] = 0.0123
        f["analytic"] = {"method": "cr1", "se_log": f["se_log"], "p_value": f["p_value"],
                         "ci_low": f["ci_low"], "ci_high": f["ci_high"]}
        f["rank_test"] = {"p_value": min(1.0, (f["p_value"] or 0) * 3), "agrees": True}
        raw = float(np.log1p(f["raw_premium"])) if f["raw_premium"] is not None else None
        if raw is not None and f.get("decomposition") is None:
            price = float(np.log1p(premium))
            f["decomposition"] = {"raw": raw, "unmatched": -0.011, "mix": raw + 0.011 - price, "price_group_weighted": price}
        f["sensitivity"] = [
            {"change": "without city = Beijing", "left_out": {"column": "city", "value": "Beijing"},
             "premium": premium * 0.97, "ci_low": f["ci_low"], "ci_high": f["ci_high"], "p_value": 1e-5,
             "rows": 1000, "flagged": f["flagged"]},
            {"change": "bins halved", "bins_factor": 0.5, "premium": premium * 1.02,
             "ci_low": f["ci_low"], "ci_high": f["ci_high"], "p_value": 1e-5, "rows": 1200, "flagged": f["flagged"]},
        ]
        f["evidence"] = evidence_cells(rng, premium, 14) if f["flagged"] else []
        f["evidence_suppressed"] = 2 if f["flagged"] else 0
    flagged = [f for f in doc["findings"] if f["flagged"]]
    if flagged:  # a few users carry the first flag (the report says so in words)
        flagged[0]["cluster_weight"] = {"effective_users": 5.37, "top_share": 0.312, "top5_share": 0.614,
                                        "top_pull": 1.4, "few_users_carry": True}
    not_flagged = [f for f in doc["findings"] if not f["flagged"]]
    if not_flagged:
        not_flagged[0]["verdict"] = "cleared"
    if len(not_flagged) > 1:
        not_flagged[1]["verdict"] = "inconclusive"
    template = doc["findings"][0]
    doc["findings"].append({
        **copy.deepcopy(template), "segment": "Loyalty", "column": "prior_orders", "group": "per doubling",
        "reference": "log2(1 + prior_orders)", "kind": "dose", "outcome": "price_per_doubling", "premium": 0.011, "ci_low": 0.006,
        "ci_high": 0.016, "per_doubling": 0.011, "p_value": 1e-6, "q_value": 3e-6, "flagged": True,
        "verdict": "flagged", "raw_premium": None, "decomposition": None,
        "bands": [{"band": "1", "premium": 0.0, "ci_low": 0.0, "ci_high": 0.0, "rows": 5000},
                  {"band": "2–3", "premium": 0.009, "ci_low": 0.002, "ci_high": 0.016, "rows": 7000},
                  {"band": "4–15", "premium": 0.024, "ci_low": 0.015, "ci_high": 0.033, "rows": 9000},
                  {"band": "16+", "premium": 0.041, "ci_low": 0.028, "ci_high": 0.054, "rows": 4000}],
        "evidence": evidence_cells(rng, 0.03, 6),
    })
    doc["findings"].append({
        **copy.deepcopy(template), "segment": "Device", "column": "os", "group": "ios", "reference": "android",
        "kind": "steering", "outcome": "offered_tier_price", "premium": 0.06, "ci_low": 0.04, "ci_high": 0.08,
        "raw_premium": None, "p_value": 1e-9, "tier_shift": 0.12, "tier_shift_se": 0.02,
        "tier_order": ["economy", "comfort", "premium"], "option_column": "car_level", "q_value": 5e-9, "flagged": True, "verdict": "flagged",
        "decomposition": None, "analytic": None, "rank_test": None, "evidence": evidence_cells(rng, 0.06, 5),
    })
    doc["placebo"] = {"splits": 20, "tested": 20, "rejections": 4, "expected": 1.0, "chance": 0.016,
                      "warning": True, "p_values": [0.001, 0.002, 0.004, 0.03] + [0.5] * 16,
                      "population": "os = android"}
    return doc


def many_findings(doc: dict, count: int = 100, seed: int = 3) -> dict:
    """A document with `count` findings (about a third flagged, all with evidence) for size tests."""
    rng = np.random.default_rng(seed)
    rich = enrich(doc, seed)
    base = [f for f in rich["findings"] if f.get("kind") == "group"]
    findings = []
    for i in range(count):
        f = copy.deepcopy(base[i % len(base)])
        premium = float(rng.normal(0.01, 0.02))
        half = float(rng.uniform(0.002, 0.01))
        flagged = i % 3 == 0
        f.update(segment=f"Segment {i // 4}", group=f"group-{i}", premium=premium, ci_low=premium - half,
                 ci_high=premium + half, raw_premium=premium + float(rng.normal(0, 0.02)),
                 flagged=flagged, verdict="flagged" if flagged else "no_evidence",
                 evidence=evidence_cells(rng, premium, 14) if flagged else [])
        findings.append(f)
    rich["findings"] = findings
    return rich
