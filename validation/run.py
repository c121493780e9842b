"""The validation study: the audit's premium inference on simulated logs, written to docs/validation.md.

    python -m validation.run [--reps N] [--quick] [--spark] [--out PATH]

Each scenario (validation/scenarios.py) is simulated N times with no premium and
N/2 times each with a planted 2 % and 5 % premium. Rows are generated in numpy
and reduced with `user_scores`, the numpy twin of the Spark reduction; the
jackknife (CV3, the audit's headline) and analytic CR1 are then computed from
the same per-user summaries, so the two methods are compared on identical data.

Replicate r of scenario s at premium level l is drawn from
numpy.random.default_rng([seed, s, l, r]), so any single dataset can be
regenerated on its own. `--spark` also audits three of the datasets end to end
(Parquet, audit TOML, `auditor.pipeline.run` in local[2] Spark) and checks
findings.json against the numpy path.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats

from auditor.stats.multiple import bh_level, bh_qvalues
from auditor.stats.premium import (PremiumEstimate, cluster_robust, equivalence_p, jackknife, minimum_detectable,
                                   minimum_flaggable, user_scores)
from validation.sections import keep_sections, write
from validation.scenarios import FEW_SIDE, SCENARIOS, Scenario

SEED = 20260901
LEVELS = (0.0, 0.02, 0.05)  # true premiums: the null, then the planted ones
ALPHA = 0.05
CONFIDENCE = 0.95
MATERIALITY = 0.01
POWER = 0.8
LEVEL_TARGET = (0.035, 0.065)  # headline method's rejection rate under the null
COVERAGE_TARGET = (0.93, 0.97)
METHODS = {"cv3": ("Jackknife CV3 (headline)", jackknife), "cr1": ("CR1 analytic", cluster_robust)}
DEFAULT_REPS = 2000
QUICK_REPS = 200


@dataclass(frozen=True)
class Estimates:
    """One method's results over the replicates of one scenario at one premium level."""

    beta: np.ndarray
    se: np.ndarray
    dof: np.ndarray
    p_value: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    mde: np.ndarray
    tost_p_value: np.ndarray
    seconds: float  # computing this method, all replicates

    @property
    def defined(self) -> np.ndarray:
        return ~np.isnan(self.p_value)


@dataclass(frozen=True)
class Draws:
    """Replicates of one scenario at one true premium."""

    premium: float
    level_index: int
    reps: int
    estimates: dict[str, Estimates]
    raw_premium: np.ndarray
    rows: np.ndarray  # rows in supported cells
    cells: np.ndarray
    clusters: np.ndarray
    seconds_data: float  # simulating and reducing to per-user summaries, all replicates
    smaller_side: np.ndarray = None  # users on the smaller side (group or reference) in supported cells


def replicate_seed(seed: int, scenario_index: int, level_index: int, replicate: int) -> list[int]:
    """The entropy of one dataset's Generator."""
    return [seed, scenario_index, level_index, replicate]


def draw(scenario: Scenario, scenario_index: int, level_index: int, reps: int, seed: int = SEED) -> Draws:
    """Simulate `reps` logs at LEVELS[level_index], reduce each to user scores, estimate with every method."""
    premium = LEVELS[level_index]
    summaries, raw = [], np.empty(reps)
    start = time.perf_counter()
    for r in range(reps):
        rng = np.random.default_rng(replicate_seed(seed, scenario_index, level_index, r))
        rows = scenario.simulate(rng, premium)
        summaries.append(user_scores(rows.user, rows.cell, rows.x, rows.y))
        raw[r] = rows.raw_premium
    seconds_data = time.perf_counter() - start
    estimates = {}
    for key, (_, method) in METHODS.items():
        start = time.perf_counter()
        fits = [method(s, CONFIDENCE) for s in summaries]
        extra = [(minimum_detectable(f, ALPHA, POWER), equivalence_p(f, MATERIALITY)) for f in fits]
        seconds = time.perf_counter() - start
        column = {name: np.array([getattr(f, name) for f in fits], dtype=float)
                  for name in ("beta", "se", "dof", "p_value", "ci_low", "ci_high")}
        estimates[key] = Estimates(**column, mde=np.array([e[0] for e in extra]),
                                   tost_p_value=np.array([e[1] for e in extra]), seconds=seconds)
    return Draws(premium, level_index, reps, estimates, raw,
                 rows=np.array([s.rows for s in summaries]), cells=np.array([s.cells for s in summaries]),
                 clusters=np.array([s.clusters for s in summaries]), seconds_data=seconds_data,
                 smaller_side=np.array([min(s.users_group, s.users_reference) for s in summaries]))


def rate(hits: np.ndarray) -> tuple[float, float]:
    """A Monte Carlo proportion and its standard error."""
    n = hits.size
    p = float(hits.mean()) if n else math.nan
    return p, math.sqrt(p * (1 - p) / n) if n else math.nan


def rejections(e: Estimates) -> np.ndarray:
    """Two-sided rejections at ALPHA; an undefined test does not reject."""
    return np.where(e.defined, e.p_value < ALPHA, False)


def covers(e: Estimates, premium: float) -> np.ndarray:
    return (e.ci_low <= premium) & (premium <= e.ci_high)


def shifted_power(e: Estimates, premium: float) -> float:
    """Power at a planted premium computed from null replicates (see premium_for_power)."""
    ok = e.defined
    crit = stats.t.ppf(1 - ALPHA / 2, e.dof[ok])
    return float(np.sum(np.abs(e.beta[ok] + math.log1p(premium)) > crit * e.se[ok]) / e.beta.size)


def premium_for_power(e: Estimates, power: float = POWER, step: float = 1e-4, top: float = 1.0) -> float:
    """The smallest planted premium the test detects with this power, from null replicates.

    Planting a premium d in a log adds d * x to every log price, which shifts the
    estimate by exactly log(1 + d) and leaves both standard errors unchanged (A
    gains d * B per user and every deletion estimate shifts by d). So the test's
    power at d is the share of null replicates with |beta + log(1 + d)| > t * se.
    The independent 2 % and 5 % replicates check this.
    """
    ok = e.defined
    beta, se = e.beta[ok], e.se[ok]
    crit = stats.t.ppf(1 - ALPHA / 2, e.dof[ok])
    shifts = np.arange(0.0, top, step)
    for chunk in np.array_split(shifts, max(1, shifts.size // 500)):
        power_at = (np.abs(beta[None, :] + chunk[:, None]) > (crit * se)[None, :]).sum(axis=1) / e.beta.size
        hit = np.nonzero(power_at >= power)[0]
        if hit.size:
            return math.expm1(float(chunk[hit[0]]))
    return math.nan


@dataclass(frozen=True)
class MethodRow:
    """The headline table's row for one scenario and method."""

    null_rejection: tuple[float, float]
    coverage: dict[float, tuple[float, float]]  # by true premium
    power: dict[float, tuple[float, float]]
    mean_mde: float
    power_premium: float  # empirical premium with POWER
    tost_clears: tuple[float, float]
    variance_ratio: float  # mean estimated variance / Monte Carlo variance of the estimate, under the null
    undefined: float
    ms_per_dataset: float


def method_row(draws: list[Draws], key: str) -> MethodRow:
    null = draws[0].estimates[key]
    coverage = {d.premium: rate(covers(d.estimates[key], d.premium)) for d in draws}
    power = {d.premium: rate(rejections(d.estimates[key])) for d in draws[1:]}
    tost = np.where(null.defined, null.tost_p_value < ALPHA, False)
    seconds = sum(d.estimates[key].seconds for d in draws)
    undefined = float(np.mean(np.concatenate([~d.estimates[key].defined for d in draws])))
    ok = null.defined
    variance_ratio = float(np.mean(null.se[ok] ** 2) / np.var(null.beta[ok], ddof=1))
    return MethodRow(rate(rejections(null)), coverage, power, float(np.nanmean(null.mde)), premium_for_power(null),
                     rate(tost), variance_ratio, undefined, 1000 * seconds / sum(d.reps for d in draws))


def bias(d: Draws, key: str = "cv3") -> tuple[float, float]:
    """Mean estimated premium minus the truth, with its Monte Carlo standard error."""
    e = d.estimates[key]
    error = np.expm1(e.beta[e.defined]) - d.premium
    return float(error.mean()), float(error.std(ddof=1) / math.sqrt(error.size))


def run_study(reps: int, seed: int = SEED, scenarios=SCENARIOS, log=print) -> dict[str, list[Draws]]:
    """All scenarios at all levels: reps null replicates, reps // 2 at each planted premium."""
    out = {}
    for s_index, scenario in enumerate(scenarios):
        start = time.perf_counter()
        out[scenario.name] = [draw(scenario, s_index, l_index, reps if l_index == 0 else max(reps // 2, 1), seed)
                              for l_index in range(len(LEVELS))]
        log(f"{scenario.name}: {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return out


# ---------------------------------------------------------------------------------------------
# Few users on one side, and the flag rule end to end

MIN_USERS = 30  # the default test.min_users, applied to each side
MIN_CELLS = 5  # the default test.min_cells
FAMILY = 5  # comparisons per simulated audit, for the BH step of the flag rule
FEW_SIDE_INDEX = 100  # scenario numbers of the few-users rows in the replicate seeds: 100 + row


@dataclass(frozen=True)
class FewSideRow:
    """A group of k users among 600, no premium: how often each reference rejects, and the verdicts."""

    scenario: Scenario
    reps: int
    users_group: float  # mean group users in supported cells
    level: tuple[float, float]  # headline: jackknife, t(smaller side - 1)
    level_before: tuple[float, float]  # the same jackknife with t(G - 1) over both sides
    level_cr1: tuple[float, float]  # CR1, t(smaller side - 1)
    insufficient: float  # share with fewer than MIN_USERS group users: insufficient_data at the defaults
    flagged: tuple[float, float]  # the flag rule at the defaults (min counts, p < alpha, materiality)


def few_side_study(reps: int, seed: int = SEED, log=print, scenarios=FEW_SIDE) -> list[FewSideRow]:
    """Replicate r of row i (numbered in FEW_SIDE) is drawn from numpy.random.default_rng([seed, 100 + i, 0, r])."""
    out = []
    for scenario in scenarios:
        i = FEW_SIDE.index(scenario)
        start = time.perf_counter()
        fits = []
        for r in range(reps):
            rows = scenario.simulate(np.random.default_rng(replicate_seed(seed, FEW_SIDE_INDEX + i, 0, r)), 0.0)
            s = user_scores(rows.user, rows.cell, rows.x, rows.y)
            cv3, cr1 = jackknife(s, CONFIDENCE), cluster_robust(s, CONFIDENCE)
            before = (2 * stats.t.sf(abs(cv3.beta / cv3.se), s.clusters - 1)
                      if cv3.se > 0 and s.clusters > 1 else math.nan)
            fits.append((s.users_group, s.users_reference, s.cells, cv3.p_value, before, cr1.p_value, cv3.premium))
        a = np.array(fits, dtype=float)
        reject = [np.where(np.isnan(a[:, c]), False, a[:, c] < ALPHA) for c in (3, 4, 5)]
        sufficient = (np.minimum(a[:, 0], a[:, 1]) >= MIN_USERS) & (a[:, 2] >= MIN_CELLS)
        flagged = sufficient & reject[0] & (np.abs(a[:, 6]) >= MATERIALITY)
        out.append(FewSideRow(scenario, reps, float(a[:, 0].mean()), rate(reject[0]), rate(reject[1]), rate(reject[2]),
                              float(1 - sufficient.mean()), rate(flagged)))
        log(f"{scenario.name}: {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return out


@dataclass(frozen=True)
class FlagRuleRow:
    """The whole flag rule (BH over an audit of FAMILY comparisons, materiality, minimum counts)."""

    null_flagged: tuple[float, float]  # per comparison
    null_audits_flagged: tuple[float, float]  # audits of FAMILY null comparisons with any flag
    flagged: dict[float, tuple[float, float]]  # planted premium -> flag rate (estimate rule)
    flagged_interval: dict[float, tuple[float, float]]  # the same under flag_rule = "interval"
    mean_mde: float  # the flag MDE the audit prints, mean over null replicates
    mde_power: float  # share of planted-at-the-printed-MDE comparisons flagged (target: POWER)


def _estimate(e: Estimates, i: int) -> PremiumEstimate:
    return PremiumEstimate(e.beta[i], e.se[i], int(e.dof[i]), e.p_value[i], e.ci_low[i], e.ci_high[i], "cv3_jackknife")


def _flags(e: Estimates, q: np.ndarray, sufficient: np.ndarray, rule: str = "estimate") -> np.ndarray:
    if rule == "interval":
        material = (e.ci_low >= MATERIALITY) | (e.ci_high <= -MATERIALITY)
    else:
        material = np.abs(np.expm1(e.beta)) >= MATERIALITY
    return np.where(np.isnan(q), False, q < ALPHA) & material & sufficient


def flag_rule_row(draws: list[Draws]) -> FlagRuleRow:
    """Null replicates grouped into audits of FAMILY comparisons; each planted replicate joins FAMILY - 1 nulls."""
    null = draws[0]
    e = null.estimates["cv3"]
    sufficient = lambda d: (d.smaller_side >= MIN_USERS) & (d.cells >= MIN_CELLS)  # noqa: E731
    n = (null.reps // FAMILY) * FAMILY
    q = np.full(null.reps, np.nan)
    for start in range(0, n, FAMILY):
        q[start:start + FAMILY] = bh_qvalues(e.p_value[start:start + FAMILY])
    null_flags = _flags(e, q, sufficient(null))[:n]
    others = [[(FAMILY - 1) * i + j for j in range(FAMILY - 1)] for i in range(null.reps)]
    others = [[k % null.reps for k in o] for o in others]
    flagged, flagged_interval = {}, {}
    for d in draws[1:]:
        pe = d.estimates["cv3"]
        q_planted = np.array([bh_qvalues([pe.p_value[i], *e.p_value[others[i]]])[0] for i in range(d.reps)])
        flagged[d.premium] = rate(_flags(pe, q_planted, sufficient(d)))
        flagged_interval[d.premium] = rate(_flags(pe, q_planted, sufficient(d), "interval"))
    # The printed MDE, and whether planting it is flagged POWER of the time: a planted premium
    # shifts beta by log(1 + premium) and leaves the standard error unchanged (see premium_for_power).
    mdes, hits = [], []
    for i in range(null.reps):
        if not e.defined[i]:
            continue
        level = bh_level(e.p_value[others[i]], ALPHA)
        mde = minimum_flaggable(_estimate(e, i), level, MATERIALITY, POWER, "estimate", CONFIDENCE)
        beta = e.beta[i] + math.log1p(mde)
        crit = stats.t.ppf(1 - level / 2, e.dof[i])
        mdes.append(mde)
        hits.append(abs(beta) > crit * e.se[i] and abs(math.expm1(beta)) >= MATERIALITY and sufficient(null)[i])
    return FlagRuleRow(rate(null_flags), rate(null_flags.reshape(-1, FAMILY).any(axis=1)), flagged, flagged_interval,
                       float(np.mean(mdes)) if mdes else math.nan, float(np.mean(hits)) if hits else math.nan)


# ---------------------------------------------------------------------------------------------
# End-to-end check in Spark

SPARK_DATASETS = (("heavy_users", 0), ("baseline", 1), ("simpson", 2))  # (scenario, level index), replicate 0


def spark_check(seed: int = SEED, log=print) -> list[dict]:
    """Audit three simulated logs with the full Spark pipeline; compare findings.json with the numpy path."""
    import pandas as pd

    from auditor import pipeline
    from auditor.spec import parse_config
    from auditor.engine.session import spark_session

    spark = spark_session("local[2]", app_name="auditor-validation", extra_conf={
        "spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "4", "spark.default.parallelism": "2",
        "spark.driver.memory": "2g"})
    index = {s.name: i for i, s in enumerate(SCENARIOS)}
    results = []
    try:
        with tempfile.TemporaryDirectory(prefix="auditor-validation-") as tmp:
            for name, level_index in SPARK_DATASETS:
                scenario, premium = SCENARIOS[index[name]], LEVELS[level_index]
                entropy = replicate_seed(seed, index[name], level_index, 0)
                rows = scenario.simulate(np.random.default_rng(entropy), premium)
                n = rows.y.size
                frame = pd.DataFrame({
                    "order_no": [f"o{i}" for i in range(n)],
                    "uid": [f"u{u:06d}" for u in rows.user],
                    "ts": pd.Timestamp("2026-09-07", tz="UTC") + pd.to_timedelta(np.arange(n) % 86400, unit="s"),
                    "price": np.exp(rows.y),
                    "cell": [f"c{c}" for c in rows.cell],
                    "segment": np.where(rows.x > 0, "group", "reference"),
                })
                data = Path(tmp) / f"{name}.parquet"
                frame.to_parquet(data)
                config = parse_config(_audit_toml(name, data))
                start = time.perf_counter()
                pipeline.run(config, spark, Path(tmp) / f"audit-{name}")
                seconds = time.perf_counter() - start
                doc = json.loads((Path(tmp) / f"audit-{name}" / "findings.json").read_text())
                (finding,) = [f for f in doc["findings"] if f["kind"] == "group"]
                # The numpy path, from the very prices Spark read.
                twin = user_scores(frame.uid.to_numpy(), frame.cell.to_numpy(), rows.x, np.log(frame.price.to_numpy()))
                cv3, cr1 = jackknife(twin, CONFIDENCE), cluster_robust(twin, CONFIDENCE)
                pairs = {"premium": (finding["premium"], cv3.premium), "se_log": (finding["se_log"], cv3.se),
                         "analytic se_log": (finding["analytic"]["se_log"], cr1.se),
                         "p_value": (finding["p_value"], cv3.p_value)}
                results.append({
                    "scenario": name, "premium": premium, "seed": entropy, "rows": n, "seconds": seconds,
                    "counts_equal": (finding["cells"], finding["users"], finding["clusters"])
                    == (twin.cells, twin.users, twin.clusters),
                    "values": {k: {"spark": a, "numpy": b, "relative": abs(a - b) / abs(b)} for k, (a, b) in pairs.items()},
                })
                log(f"spark {name}: {seconds:.1f} s", file=sys.stderr)
    finally:
        spark.stop()
    return results


def _audit_toml(name: str, data: Path) -> str:
    return f'''
[audit]
name = "validation {name}"
platform = "simulated"
[input]
path = "{data}"
format = "parquet"
[columns]
transaction_id = "order_no"
user_id = "uid"
timestamp = "ts"
price = "price"
[match]
exact = ["cell"]
[[segments]]
name = "Segment"
column = "segment"
reference = "reference"
groups = ["group"]
'''


# ---------------------------------------------------------------------------------------------
# The report

def _pct(value: float, digits: int = 1) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{100 * value:.{digits}f} %"


def _pm(pair: tuple[float, float], digits: int = 1) -> str:
    p, se = pair
    return f"{100 * p:.{digits}f} ± {100 * se:.{digits}f} %"


def render(study: dict[str, list[Draws]], command: str, seed: int, seconds: float,
           spark: list[dict] | None = None, scenarios=SCENARIOS, few_side: list[FewSideRow] | None = None) -> str:
    """docs/validation.md from the study's results."""
    rows = {s.name: {k: method_row(study[s.name], k) for k in METHODS} for s in scenarios}
    reps_null = study[scenarios[0].name][0].reps
    reps_planted = study[scenarios[0].name][1].reps
    out = [
        "# Validation study",
        "",
        "How the audit's premium inference behaves on simulated logs where the truth is known: whether it",
        "keeps its level when there is no premium, whether its intervals cover the true premium, how often",
        "it finds a planted one, and whether the minimum detectable effect it prints is honest.",
        "",
        "Regenerate this file (the numbers below come from exactly this run):",
        "",
        "```sh",
        command,
        "```",
        "",
        f"{reps_null:,} datasets per scenario with no premium and {reps_planted:,} each with a planted 2 % and 5 %",
        f"premium; α = {ALPHA:g} (two-sided), {100 * CONFIDENCE:g} % intervals, materiality {100 * MATERIALITY:g} % for the",
        f"equivalence test, power {100 * POWER:g} % for the minimum detectable effect (MDE). Replicate r of scenario s",
        "(numbered from 0 in the order below) at premium level l (0: none, 1: 2 %, 2: 5 %) is drawn from",
        f"`numpy.random.default_rng([{seed}, s, l, r])`. Each dataset's rows are generated in numpy and reduced",
        "with `auditor.stats.premium.user_scores` (the numpy twin of the Spark reduction) to per-user scores",
        "and exact leave-one-user-out deltas; both methods are then computed from the same summaries:",
        "",
        "- **CV3** — `jackknife`: leave-one-user-out jackknife variance. The audit's headline.",
        "- **CR1** — `cluster_robust`: analytic user-clustered variance with the small-sample factor",
        "  G/(G − 1) · (N − 1)/(N − K) counting the absorbed cells in K. Shown beside it in findings.",
        "",
        "Both test against t(G_min − 1), G_min being the users on the smaller side (group or reference) in",
        "cells with common support (see *Few users on one side* below).",
        "",
        f"Full run: {seconds / 60:.1f} minutes on {platform.machine()} (Python {platform.python_version()},",
        "a shared 2-core machine).",
        "",
        "## Headline table",
        "",
        "Rates are over replicates with their Monte Carlo standard errors (±). *Rejects under the null* is",
        "the false-positive rate at α = 5 % (target for CV3: 3.5 %–6.5 %). *Coverage* is the share of 95 %",
        "intervals holding the true premium (target 93 %–97 %). *80 %-power premium* is the premium the",
        "test actually detects 80 % of the time (from the null replicates: planting a premium shifts the",
        "estimate by exactly log(1 + premium) and leaves both standard errors unchanged); the *mean MDE* is",
        "what the audit would print as detectable — the two should agree. *TOST clears* is the share of",
        "null datasets that the equivalence test clears (premium shown within ±1 %). *SE² / actual variance*",
        "is the method's mean estimated variance over the variance of the estimate across the null datasets",
        "(1 is right; its Monte Carlo error is about ±√(2/R) for R datasets, more when estimates are heavy-tailed).",
        "",
        "| scenario | method | rejects under null | coverage, 2 % | coverage, 5 % | power, 2 % | power, 5 % "
        "| mean MDE | 80 %-power premium | TOST clears (null) | SE² / actual variance |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in scenarios:
        for key, (label, _) in METHODS.items():
            r = rows[s.name][key]
            out.append(f"| {s.title} | {label} | {_pm(r.null_rejection)} | {_pm(r.coverage[0.02])} | "
                       f"{_pm(r.coverage[0.05])} | {_pm(r.power[0.02])} | {_pm(r.power[0.05])} | "
                       f"{_pct(r.mean_mde, 2)} | {_pct(r.power_premium, 2)} | {_pm(r.tost_clears)} | {r.variance_ratio:.2f} |")
    out += ["", "### Against the targets (CV3)", ""]
    for s in scenarios:
        r = rows[s.name]["cv3"]
        level_ok = LEVEL_TARGET[0] <= r.null_rejection[0] <= LEVEL_TARGET[1]
        cover = [r.coverage[p][0] for p in LEVELS]
        cover_ok = all(COVERAGE_TARGET[0] <= c <= COVERAGE_TARGET[1] for c in cover)
        out.append(f"- {s.title}: level {_pct(r.null_rejection[0])} "
                   f"({'within' if level_ok else '**outside**'} 3.5 %–6.5 %); coverage "
                   f"{', '.join(_pct(c) for c in cover)} at 0, 2, 5 % "
                   f"({'within' if cover_ok else '**outside**'} 93 %–97 %).")
    out += [
        "",
        "## Bias, data shape and runtime",
        "",
        "Both methods share the point estimate, so the bias is the estimator's (mean estimated premium minus",
        "the true premium, in percentage points, ± Monte Carlo SE). The raw premium is the unmatched gap",
        "(ratio of geometric means) at no true premium. Rows, cells and users (clusters) are means over the",
        "null datasets, counting only cells that hold both groups. Runtime is per dataset: simulating and",
        "reducing the rows, then each method.",
        "",
        "| scenario | bias, no premium | bias, 2 % | bias, 5 % | raw premium | rows | cells | users "
        "| ms: data | ms: CV3 | ms: CR1 | undefined |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in scenarios:
        draws = study[s.name]
        biases = [bias(d) for d in draws]
        null = draws[0]
        ms_data = 1000 * sum(d.seconds_data for d in draws) / sum(d.reps for d in draws)
        out.append(f"| {s.title} | " + " | ".join(f"{100 * b:+.3f} ± {100 * se:.3f} pp" for b, se in biases)
                   + f" | {_pct(float(np.mean(null.raw_premium)))} | {null.rows.mean():,.0f} | {null.cells.mean():,.0f} "
                   f"| {null.clusters.mean():,.0f} | {ms_data:.1f} | {rows[s.name]['cv3'].ms_per_dataset:.2f} "
                   f"| {rows[s.name]['cr1'].ms_per_dataset:.2f} | {_pct(rows[s.name]['cv3'].undefined)} |")
    out += _flag_rule_section(study, scenarios)
    if few_side:
        out += _few_side_section(few_side, seed)
    out += ["", "## Scenarios", "",
            "Log price = 3 + cell level + user effect + log(1 + premium) · group + noise; the group is a",
            "property of the user, drawn independently of everything else.", "",
            "| # | scenario | what it stresses | parameters |", "|---|---|---|---|"]
    for i, s in enumerate(scenarios):
        out.append(f"| {i} | {s.title} (`{s.name}`) | {s.about} | {s.parameters()} |")
    out += ["", *EXPLANATION]
    if spark:
        out += ["", "## End to end in Spark", "",
                "Replicate 0 of these scenarios was written to Parquet with an audit TOML (`exact = [\"cell\"]`,",
                "defaults otherwise) and audited by `auditor.pipeline.run` in a local[2] Spark session; the",
                "numbers in findings.json are compared with the numpy path (`user_scores` on the same prices, then",
                "`jackknife` and `cluster_robust`). Relative difference = |Spark − numpy| / |numpy|.", "",
                "| scenario | premium | rows | seed | findings premium | relative diff | se_log (CV3) | relative diff "
                "| analytic se_log (CR1) | relative diff | p-value rel. diff | cells, users equal | audit seconds |",
                "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in spark:
            v = r["values"]
            out.append(f"| {r['scenario']} | {_pct(r['premium'], 0)} | {r['rows']:,} | `{r['seed']}` "
                       f"| {v['premium']['spark']:.10f} | {v['premium']['relative']:.1e} "
                       f"| {v['se_log']['spark']:.10f} | {v['se_log']['relative']:.1e} "
                       f"| {v['analytic se_log']['spark']:.10f} | {v['analytic se_log']['relative']:.1e} "
                       f"| {v['p_value']['relative']:.1e} | {'yes' if r['counts_equal'] else '**no**'} "
                       f"| {r['seconds']:.1f} |")
        worst = max(x["relative"] for r in spark for k, x in r["values"].items() if k != "p_value")
        out += ["", f"Largest relative difference in premium and standard errors: {worst:.1e} "
                    f"({'within' if worst <= 1e-9 else '**outside**'} 1e-9)."]
    return "\n".join(out) + "\n"


def _few_side_section(rows: list[FewSideRow], seed: int) -> list[str]:
    out = ["", "## Few users on one side", "",
           "A group of k users among 600 reference users, heavy users (the Heavy users layout: Pareto activity,",
           f"commuters in home cells), no premium; {rows[0].reps:,} datasets per row, replicate r of row i (numbered",
           f"from 0 in the order below) drawn from `numpy.random.default_rng([{seed}, {FEW_SIDE_INDEX} + i, 0, r])`.",
           "*Rejects* is the share of datasets with p < 5 % (the test alone, as if `test.min_users` were 2):",
           "with the audit's t reference, t(G_min − 1) on the smaller side's users, and — before — t(G − 1) over",
           "both sides. *Insufficient* is the share whose verdict is `insufficient_data` at the defaults",
           f"(`test.min_users = {MIN_USERS}` on each side, `min_cells = {MIN_CELLS}`); *flagged* applies the whole rule at",
           f"the defaults (minimum counts, p < 5 %, |premium| ≥ {100 * MATERIALITY:g} %). Target: rejects within",
           "3.5 %–6.5 %, or every dataset `insufficient_data`.", "",
           "| group users | mean group users matched | rejects, t(G_min − 1) (headline) | rejects, t(G − 1) (before) "
           "| rejects, CR1 t(G_min − 1) | insufficient at defaults | flagged at defaults | target |",
           "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        level_ok = LEVEL_TARGET[0] <= r.level[0] <= LEVEL_TARGET[1]
        verdict = ("within (level)" if level_ok else "within (insufficient_data)" if r.insufficient == 1.0
                   else "**outside**")
        out.append(f"| {r.scenario.group_users} | {r.users_group:.1f} | {_pm(r.level)} | {_pm(r.level_before)} "
                   f"| {_pm(r.level_cr1)} | {_pct(r.insufficient)} | {_pm(r.flagged)} | {verdict} |")
    out += ["", *FEW_SIDE_EXPLANATION]
    return out


def _flag_rule_section(study: dict[str, list[Draws]], scenarios) -> list[str]:
    out = ["", "## The flag rule end to end", "",
           f"A finding is flagged when it has enough data (at least {MIN_USERS} users on each side and {MIN_CELLS} cells),",
           f"its Benjamini–Hochberg q-value over the audit's comparisons is below {ALPHA:g}, and its premium reaches",
           f"materiality ({100 * MATERIALITY:g} %): the estimate (`flag_rule = \"estimate\"`, the default) or the whole interval",
           f"(`\"interval\"`). Here each null dataset joins an audit of {FAMILY} null comparisons (consecutive replicates),",
           f"and each planted dataset an audit with {FAMILY - 1} null ones. *Printed MDE* is the audit's `mde`: the",
           "smallest premium that would be flagged with 80 % power, at the level BH gives this comparison with",
           "the others' p-values as observed, materiality included; *flagged at the printed MDE* plants exactly",
           "that premium in each null dataset (a shift of the estimate, as in the power column above) and applies",
           "the rule (target: about 80 %).", "",
           "| scenario | null: flagged per comparison | null: audits with any flag | 2 %: flagged | 5 %: flagged "
           "| 5 %: flagged, interval rule | printed MDE (mean) | flagged at the printed MDE |",
           "|---|---|---|---|---|---|---|---|"]
    for s in scenarios:
        r = flag_rule_row(study[s.name])
        out.append(f"| {s.title} | {_pm(r.null_flagged)} | {_pm(r.null_audits_flagged)} | {_pm(r.flagged[0.02])} "
                   f"| {_pm(r.flagged[0.05])} | {_pm(r.flagged_interval[0.05])} | {_pct(r.mean_mde, 2)} "
                   f"| {_pct(r.mde_power)} |")
    out += ["", *FLAG_RULE_EXPLANATION]
    return out


FEW_SIDE_EXPLANATION = [
    "What limits user-clustered inference is the number of users on the *smaller* side: with two group",
    "users the gap is known through two clusters, whatever the 600 on the other side. Testing against",
    "t(G − 1) over both sides treats it as 600 and rejects far too often; the audit's t(G_min − 1) holds",
    "the level from five group users on and is conservative below (with two or three users a t with one",
    "or two degrees of freedom has very wide tails). The defaults never get that far: below 30 users on a",
    "side the verdict is `insufficient_data`, with the side's count in the report. A wild cluster",
    "bootstrap (restricted, Webb weights) is the other standard answer; it is known to be unreliable with",
    "very few treated clusters too (MacKinnon & Webb 2017), and needs the rows, not the per-user",
    "summaries the audit keeps, so the audit uses the smaller side's degrees of freedom instead.",
]

FLAG_RULE_EXPLANATION = [
    "With no premium, the whole rule flags well under α per comparison: materiality removes the",
    "significant-but-tiny estimates, and BH keeps the share of false flags among flags at or below α.",
    "The printed MDE is larger than the test's bare MDE wherever the audit has other comparisons (BH",
    "asks more of each) or the standard error is small (materiality, not noise, is then the limit).",
    "Planting the printed MDE is flagged close to 80 % of the time wherever the data suffice. The Few",
    "users logs have about fourteen group users, fewer than `min_users` = 30 on that side, so every",
    "one is `insufficient_data` and nothing is flagged, whatever the premium.",
]


EXPLANATION = [
    "## Reading the results",
    "",
    "- **Level.** The jackknife holds the 5 % level in every scenario but one, including heavy users,",
    "  heavy-tailed prices, the Simpson trap and forty users. CR1 rejects too often wherever a user is",
    "  a large part of their cells (the CR1 rows of the table: most with heavy users, then tiny cells).",
    "  Coverage mirrors this (coverage at no premium is one minus the rejection rate).",
    "- **The miss: tiny cells.** With cells of two to four purchases, CV3 rejects about 3 % of nulls",
    "  and covers about 97 %: conservative, just outside the 3.5 %–6.5 % target. A cell bought by",
    "  exactly two users is removed entirely whichever of the two is deleted, so the jackknife counts",
    "  that cell's noise twice (its variance here is about 1.2 times the true sampling variance, against",
    "  about 0.8 for CR1). It errs towards not flagging; the price is power (96 % rather than 98 % at",
    "  2 %). The simulation was not tuned to hide this.",
    "- **Power and the printed MDE.** The mean MDE the audit prints is close to the premium the test",
    "  actually detects 80 % of the time; with heavy users it overstates it slightly (6.7 % printed vs",
    "  6.3 % detected), because the MDE averages a skewed spread of standard errors. With heavy users",
    "  a log of 1,000 users cannot see 2 % (power about 23 %): a few accounts carry most of the",
    "  information, and the report says so through the MDE.",
    "- **Clearing.** Clearing a premium within ±1 % needs a standard error below about 0.6 %; only the",
    "  3,000-user tiny-cell logs get there, some of the time. Elsewhere a null log is *inconclusive*",
    "  with its MDE stated, never *cleared* on thin evidence. (CR1's higher clearing rate with tiny cells",
    "  is its too-small standard error, not extra information.)",
    "- **Bias.** None detectable: every bias is within about two Monte Carlo standard errors of zero,",
    "  and the Simpson trap's 22 % raw gap disappears within cells.",
    "",
    "## Why CR1 over-rejects here and CV3 does not",
    "",
    "The premium is estimated after subtracting each cell's mean price. A user who makes many of a",
    "cell's purchases pulls that mean towards their own prices, so part of their own price noise is",
    "removed before their residuals are seen; and users who share a cell share its mean, so each one's",
    "residuals carry some of the others' noise. CR1 adds up each user's squared score as if users",
    "were independent and their residuals complete, so it misses both the absorbed noise and the",
    "shared part. When activity is Pareto and commuters dominate their home cells, a handful of users",
    "carry much of the estimate and CR1's variance is about half the true one (its small-sample factor",
    "is one number for everyone and cannot say whom it understates). The jackknife instead deletes each",
    "user, recomputes the cell means without them and refits — exactly, from the deltas Spark computes",
    "— so it measures how far the estimate really moves without that user, through their own prices",
    "and through the cell means they set for others. That is the cluster analogue of HC3 against HC1",
    "(MacKinnon, Nielsen & Webb 2023): it leans conservative when clusters have high leverage, and",
    "agrees with CR1 when no user dominates (the baseline rows).",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m validation.run", description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=None,
                        help=f"null datasets per scenario (default {DEFAULT_REPS}; planted: half as many)")
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK_REPS} null datasets per scenario; print the report instead of writing it")
    parser.add_argument("--spark", action="store_true", help="also audit three datasets end to end in Spark")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--out", type=Path, default=None, help="where to write the report (default docs/validation.md)")
    args = parser.parse_args(argv)
    reps = args.reps or (QUICK_REPS if args.quick else DEFAULT_REPS)
    if reps < 2:
        parser.error("--reps must be at least 2")
    command = "python -m validation.run" + (f" --reps {reps}" if args.reps else "") + (" --quick" if args.quick else "") \
        + (" --spark" if args.spark else "") + (f" --seed {args.seed}" if args.seed != SEED else "")
    start = time.perf_counter()
    study = run_study(reps, args.seed)
    few_side = few_side_study(reps, args.seed)
    spark = spark_check(args.seed) if args.spark else None
    text = render(study, command, args.seed, time.perf_counter() - start, spark, few_side=few_side)
    out = args.out or (None if args.quick else Path("docs/validation.md"))
    if out is None:
        sys.stdout.write(text)
    else:  # the other studies' sections have scripts of their own: kept as they are
        write(out, keep_sections(out.read_text(encoding="utf-8") if out.exists() else "", text))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
