"""The Spark engine: reduce purchases to per-user scores and per-comparison sums.

The engine answers one question — given the plan (auditor.summaries), what are
the per-comparison summaries — and keeps the Spark plan to few exchanges:

    rows      each purchase exploded to the comparisons it takes part in, with
              its cell as a 96-bit hash (cells of another matching rule, for
              sensitivity, hash other keys of the same row)
    exchange  by (cell, comparison): ranked comparisons (group findings and
              doses) get within-cell mid-ranks from one ordered window; the
              others (bands and sensitivity variants) need no sort
    pairs     (cell, user) sums by hash aggregation on that partitioning; cell
              sums by a second aggregation joined back on the same partitioning
              (a shuffled hash join, no new exchange)
    exchange  by (comparison, user, left-out key value): each user's scores,
              exact deletion deltas and share of the totals; evidence cells ride
              along as plain sums and maxima

That last table is small (a row per user and key value, not per purchase) and
is kept: the totals, the user scores and every leave-one-key-value-out
re-estimate are read from it without touching the purchases again (deletion
deltas add over cells, and a key value's cells are its own).

What comes back to the driver is bounded: a few numbers per comparison, a few
evidence cells, and at most `test.max_clusters` user scores per comparison.
"""

from __future__ import annotations

import math
from functools import reduce

import numpy as np
from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from auditor.engine.evidence import evidence_cells
from auditor.engine.ingest import TS, USER
# The rows and the sums live in their own modules; the names other passes (personalisation, the
# self-check) and the tests read from here are kept here.
from auditor.engine.rows import (C1, C2, K, P1, P2, V, X, cell_hash, cell_keys, coarse_rule,  # noqa: F401
                                 explode, position, quote_name, quote_rows, with_conversion)
from auditor.engine.sums import PAIR_COLUMNS, cluster_id, collect_scores, plain_pairs, ranked_cell_sums, \
    ranked_pairs, totals_of
from auditor.engine.sums import per_user as _per_user
from auditor.spec import AuditConfig
from auditor.stats.premium import ComparisonSummary
# The plan and the summary types live in auditor.summaries (no Spark there); they are
# re-exported so that the engine's callers need one import.
from auditor.summaries import (BAND, DOSE, GROUP, SHARE_OUTCOMES, STEERING, TIME_POSITION,  # noqa: F401
                               Balance, Comparison, ComparisonData, EvidenceCell, LeftOut, outcomes, plan)

_cell_hash, _quote_rows, _coarse_rule = cell_hash, quote_rows, coarse_rule  # their earlier names


class SparkEngine:
    """Estimates the plan's comparisons on the accepted purchases of one audit.

    `estimate` runs the main pass and keeps its per-user table for `left_out`;
    `release` frees it. Every method returns plain summaries (auditor.summaries).
    """

    def __init__(self, accepted: DataFrame, config: AuditConfig):
        self.accepted = accepted
        self.config = config
        self._users: DataFrame | None = None
        self._user_counts: dict[int, int] = {}

    def estimate(self, items: tuple[Comparison, ...], evidence: bool = True) -> dict[int, ComparisonData]:
        """The main pass: every comparison of the plan, with evidence cells for the report."""
        leave_out = self.config.sensitivity.leave_out
        data, users, counts = _summarize(self.accepted, self.config, items, evidence=evidence, split_by=leave_out)
        self.release()
        self._users, self._user_counts = users, counts
        return data

    def variants(self, items: tuple[Comparison, ...]) -> dict[int, ComparisonData]:
        """Re-estimates under other matching rules: one lean pass, nothing kept."""
        data, users, _ = _summarize(self.accepted, self.config, items, evidence=False, split_by=None)
        users.unpersist()
        return data

    def balance(self, items: tuple[Comparison, ...]) -> dict[int, list[Balance]]:
        """Where group and reference purchases sit within their time bucket and bins, in the audit's cells.

        One aggregation by (comparison, cell), no per-user step: with a 0/1 group
        indicator the cell-fixed-effects difference of a position is
        sum_c h_c (mean_gc - mean_rc) / sum_c h_c, h_c = n_gc n_rc / n_c (the
        weights of the premium itself), over cells holding both sides.
        """
        match = self.config.match
        measures = ([TIME_POSITION] if match.time_bucket_seconds else []) + [name for name, _ in match.bins]
        if not items or not measures:
            return {}
        raw = [TS, *(name for name, _ in match.bins)]
        frame = with_conversion(self.accepted, self.config, items)
        rows = explode(frame, self.config, items, keep=list(dict.fromkeys(raw)))
        x = F.col(X)
        sums = [F.count(F.lit(1)).alias("n"), F.sum(x).alias("n_g")]
        for i, measure in enumerate(measures):
            at = position(measure, match)
            sums += [F.sum(at).alias(f"s{i}"), F.sum(x * at).alias(f"sg{i}"),
                     F.sum(at * at).alias(f"ss{i}"), F.sum(x * at * at).alias(f"ssg{i}")]
        cells = rows.groupBy(K, C1, C2).agg(*sums).filter((F.col("n_g") > 0) & (F.col("n_g") < F.col("n")))
        n, n_g = F.col("n"), F.col("n_g")
        n_r = n - n_g
        weight = n_g * n_r / n
        totals = [F.sum(weight).alias("h"), F.sum(n_g).alias("n_g"), F.sum(n_r).alias("n_r")]
        for i in range(len(measures)):
            s, sg, ss, ssg = (F.col(f"{c}{i}") for c in ("s", "sg", "ss", "ssg"))
            gap = sg / n_g - (s - sg) / n_r
            totals += [F.sum(weight * gap).alias(f"hd{i}"), F.sum(sg).alias(f"sg{i}"), F.sum(s - sg).alias(f"sr{i}"),
                       F.sum(ssg).alias(f"ssg{i}"), F.sum(ss - ssg).alias(f"ssr{i}")]
        out: dict[int, list[Balance]] = {}
        for r in cells.groupBy(K).agg(*totals).collect():
            out[int(r[K])] = [Balance(
                measure=measure, difference=_ratio(r[f"hd{i}"], r["h"]),
                mean_group=_ratio(r[f"sg{i}"], r["n_g"]), mean_reference=_ratio(r[f"sr{i}"], r["n_r"]),
                square_group=_ratio(r[f"ssg{i}"], r["n_g"]), square_reference=_ratio(r[f"ssr{i}"], r["n_r"]))
                for i, measure in enumerate(measures)]
        return out

    def placebo_pairs(self):
        """The self-check's population as (cell, user) sums, bounded (auditor.engine.placebos)."""
        from auditor.engine.placebos import placebo_pairs  # noqa: PLC0415 (it reads this module's cell keys)

        return placebo_pairs(self.accepted, self.config)

    def common_values(self, column: str, limit: int) -> list[str]:
        """The most common values of a column among the accepted purchases, commonest first."""
        rows = (self.accepted.groupBy(F.col(quote_name(column)).cast("string").alias("value")).count()
                .orderBy(F.desc("count"), "value").limit(limit).collect())
        return [r["value"] for r in rows if r["value"] is not None]

    def left_out(self, items: tuple[Comparison, ...], values: list[str]) -> list[LeftOut]:
        """Each comparison re-estimated without the cells of each value of the leave-out key.

        Read from the main pass's per-user table: a key value's cells hold only its
        own rows, so removing them removes exactly their terms from each user's scores
        and deletion deltas (as re-running the pass without those rows would).
        """
        if self._users is None or not items or not values:
            return []
        ids = [c.id for c in items]
        pooled = [k for k in ids if self._user_counts.get(k, 0) > self.config.test.max_clusters]
        cluster = cluster_id(pooled, self.config.test.max_clusters)
        value = F.when(F.col(V).isin(values), F.col(V))  # other values stay in every variant
        table = (self._users.filter(F.col("clustered") & F.col(K).isin(ids))
                 .groupBy(K, cluster.alias(USER), value.alias(V))
                 .agg(*[F.sum(c).alias(c) for c in ("a", "b", "da", "db", "n_sup", "cells")],
                      *[F.coalesce(F.max(c), F.lit(0)).alias(c) for c in ("users_group", "users_reference")])
                 .toPandas())
        out = []
        for c in items:
            mine = table[table[K] == c.id]
            for v in values:
                kept = mine[mine[V] != v]  # a null value (any other) is never v
                per_user = kept.groupby(USER, sort=True).agg(
                    {"a": "sum", "b": "sum", "da": "sum", "db": "sum", "users_group": "max", "users_reference": "max"})
                sides = {} if c.kind == DOSE else {
                    "users_group": int(per_user["users_group"].sum()),
                    "users_reference": int(per_user["users_reference"].sum())}
                summary = ComparisonSummary(*(per_user[s].to_numpy(float) for s in ("a", "b", "da", "db")),
                                            rows=int(kept["n_sup"].sum()), cells=int(kept["cells"].sum()),
                                            users=int(per_user.shape[0]), **sides)
                out.append(LeftOut(comparison=c, value=v, summary=summary))
        return out

    def release(self) -> None:
        """Free the kept per-user table."""
        if self._users is not None:
            self._users.unpersist()
            self._users = None


def summarize(accepted: DataFrame, config: AuditConfig, items: tuple[Comparison, ...] | None = None,
              evidence: bool = True) -> dict[int, ComparisonData]:
    """Per-comparison summaries of the accepted purchases (one pass, nothing kept)."""
    data, users, _ = _summarize(accepted, config, items if items is not None else plan(config), evidence, None)
    users.unpersist()
    return data


def _summarize(accepted: DataFrame, config: AuditConfig, items: tuple[Comparison, ...], evidence: bool,
               split_by: str | None
               ) -> tuple[dict[int, ComparisonData], DataFrame, dict[int, int]]:
    """The pass itself: summaries, the persisted per-user table, and users per comparison.

    The self-check's placebo splits are not in this pass: they are computed from the
    placebo population's (cell, user) sums (auditor.engine.placebos).
    """
    # A comparison asked twice would put each of its rows in its cells twice.
    items = tuple({c.id: c for c in items}.values())
    frame = with_conversion(accepted, config, items)
    carried = [V] if split_by else []
    pairs = _all_pairs(frame, config, items, split_by, carried)

    # Everything the driver needs is additive over users, so one aggregation by
    # (comparison, user[, key value]) carries it, and only that table (a row per user,
    # not per purchase) is kept for the small reads below and for leave-outs.
    evidence_ids = [c.id for c in items if _with_evidence(c)] if evidence else []
    # On disk, not in memory: the table grows with users and cells, and read back it streams.
    users = _per_user(pairs, evidence_ids, split_by is not None).persist(StorageLevel.DISK_ONLY)
    totals = totals_of(users)
    scores, user_counts, side_counts = collect_scores(users, config.test.max_clusters)
    cells_found = evidence_cells(accepted, users, config, items, totals, evidence_ids) if evidence_ids else {}
    return _assemble(items, config, totals, scores, user_counts, side_counts, cells_found), users, user_counts


def _all_pairs(frame: DataFrame, config: AuditConfig, items: tuple[Comparison, ...], split_by: str | None,
               carried: list[str]) -> DataFrame:
    """The (cell, user) pairs of every comparison: ranked ones from one ordered window, the others
    aggregated to pairs first."""
    ranked = tuple(c for c in items if c.ranked and (config.test.rank_test or c.kind == STEERING))
    plain = tuple(c for c in items if c not in ranked)
    # The cell hash leads every partitioning and sort key: Spark's sorts compare an 8-byte
    # prefix of the first key first, and the comparison number (a handful of values) as
    # prefix would send nearly every comparison to the slow full-row path.
    parts = []
    if ranked:
        rows = explode(frame, config, ranked, split_by=split_by).repartition(C1, C2, K)
        parts.append(ranked_pairs(ranked_cell_sums(rows, [c.id for c in ranked if c.kind == STEERING]), carried))
    if plain:
        parts.append(_unranked_pairs(frame, config, plain, split_by, carried))
    return reduce(DataFrame.unionByName, [part.select(*PAIR_COLUMNS, *carried) for part in parts])


def _unranked_pairs(frame: DataFrame, config: AuditConfig, plain: tuple[Comparison, ...], split_by: str | None,
                    carried: list[str]) -> DataFrame:
    coarse = coarse_rule(config, plain)
    if coarse is None:
        rows = explode(frame, config, plain, split_by=split_by).repartition(C1, C2, K)
        return plain_pairs(rows, carried, [C1, C2])
    # Every rule's cells lie within a cell of the coarse rule: the rows cross the
    # exchange once, by that cell, and are exploded to their comparisons after it.
    frame = frame.withColumns(dict(zip((P1, P2), cell_hash(cell_keys(coarse))))).repartition(P1, P2)
    rows = explode(frame, config, plain, split_by=split_by, keep=[P1, P2])
    return plain_pairs(rows, carried, [P1, P2, C1, C2])


def _with_evidence(c: Comparison) -> bool:
    """Evidence cells are read for the audit's own group price comparisons and steering."""
    return c.match is None and c.exclude is None and ((c.kind == GROUP and c.outcome == "price") or c.kind == STEERING)


def _assemble(items, config: AuditConfig, totals, scores, user_counts, side_counts,
              cells_found) -> dict[int, ComparisonData]:
    out = {}
    for c in items:
        t = totals.get(c.id, {})
        s = scores.get(c.id)
        users_n = int(user_counts.get(c.id, 0))
        rows_sup = int(t.get("n_sup") or 0)
        cells_n = int(t.get("cells") or 0)
        empty = np.zeros(0)
        binary = c.kind != DOSE
        # Users per side (a dose has no sides): the t reference's degrees of freedom and
        # test.min_users go by the smaller side.
        group_users, reference_users = side_counts.get(c.id, (0, 0))
        sides = {"users_group": group_users, "users_reference": reference_users} if binary else {}

        def summary(a, da):
            if s is None:
                return ComparisonSummary(empty, empty, empty, empty, rows=rows_sup, cells=cells_n, users=users_n, **sides)
            return ComparisonSummary(s[a], s["b"], s[da], s["db"], rows=rows_sup, cells=cells_n, users=users_n, **sides)

        g_all = int(t.get("sx_all") or 0) if binary else int(t.get("n_all") or 0)
        r_all = int((t.get("n_all") or 0) - (t.get("sx_all") or 0)) if binary else 0
        g_sup = int(t.get("sx_sup") or 0) if binary else rows_sup
        r_sup = rows_sup - g_sup if binary else 0
        found = cells_found.get(c.id, ())
        out[c.id] = ComparisonData(
            comparison=c,
            primary=summary("a", "da"),
            secondary=summary("a2", "da2") if c.ranked and (config.test.rank_test or c.kind == STEERING) else None,
            rows_group=g_sup, rows_reference=r_sup, rows_group_all=g_all, rows_reference_all=r_all,
            mean_group_all=_ratio(t.get("sxy_all"), t.get("sx_all")),
            mean_reference_all=_ratio(_minus(t.get("sy_all"), t.get("sxy_all")), _minus(t.get("n_all"), t.get("sx_all"))),
            mean_group_matched=_ratio(t.get("sxy_sup"), t.get("sx_sup")),
            mean_reference_matched=_ratio(_minus(t.get("sy_sup"), t.get("sxy_sup")), _minus(t.get("n_sup"), t.get("sx_sup"))),
            price_gap_matched=_ratio(t.get("price_part"), t.get("sx_sup")),
            pooled_clusters=users_n > config.test.max_clusters,
            odds_ratio=_ratio(t.get("mh_ad"), t.get("mh_bc")) if c.outcome in SHARE_OUTCOMES else math.nan,
            evidence=found,
        )
    return out


def _ratio(num, den) -> float:
    return float(num) / float(den) if num is not None and den else math.nan


def _minus(a, b):
    return None if a is None or b is None else a - b
