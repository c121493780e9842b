"""A capacity model for a real cluster, from the ladder's figures, checked on a standalone cluster.

    python -m bench.capacity                               # project 10^9 rows from DATA/ladder.json
    python -m bench.capacity --check sparse 1000000        # and check it on a 2-worker standalone cluster

The audit's work is a fixed plan over the rows: every stage is a scan, a sort-free hash or sort
aggregation or an exchange whose cost per row does not depend on where it runs. So the model is
per row, fitted on the ladder's local rungs of one shape (default driver, completed):

- executor CPU seconds = a + b * rows (least squares over the shape's rungs; through zero with one);
- shuffle bytes written = s * rows, likewise;
- peak execution memory of a task, by rung: what Spark's aggregations and sorts took because it
  was free (they grow until refused, then spill), not what they need — the plan completes in a
  512 MiB heap for two task slots (tests/test_scale.py), so an executor needs no more than Spark's
  default of about 1 GiB per core, and more memory only spills less;
- parallel efficiency e = CPU seconds / (audit seconds * cores) on the largest local rung: the
  share of the cores the plan keeps busy (the rest is the driver's statistics, scheduling, skew).

On a cluster of k executors with c cores each, N rows take about (a + b N) / (k c e) seconds of
wall time and write s N bytes of shuffle (which the cluster's local disks must hold while a stage
runs; it is spread over the executors).

`--check` runs the same rung on the test suite's standalone cluster (bench/standalone.py: 2
workers on loopback, 1 core each) with `auditor run --master`, and compares its CPU seconds,
shuffle bytes and wall time with the model's prediction from the local rung of the same size.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

from bench.ladder import run_rung
from bench.run import write_doc

ROWS = 1_000_000_000
CLUSTERS = ((10, 4), (50, 4), (100, 8))  # executors, cores each
CHECK_WORKERS = 2  # the check's standalone cluster: workers of one core each, on this machine
CHECK_CORES = CHECK_WORKERS


def fit(rungs: list[dict], shape: str) -> dict | None:
    """The per-row model of one shape from its completed, default-driver local rungs."""
    done = sorted((r for r in rungs if r["shape"] == shape and r["returncode"] == 0
                   and r["driver_memory"] == "default" and not r.get("master") and r.get("audit_s")),
                  key=lambda r: r["rows"])
    if not done:
        return None
    rows = np.array([r["rows"] for r in done], float)
    cpu = np.array([r["cpu_s"] for r in done], float)
    shuffle = np.array([r["shuffle_mib"] * 2**20 for r in done], float)
    if len(done) > 1:
        b, a = np.polyfit(rows, cpu, 1)
        s = float(np.dot(rows, shuffle) / np.dot(rows, rows))
    else:
        a, b, s = 0.0, cpu[0] / rows[0], shuffle[0] / rows[0]
    largest = done[-1]
    cores = _cores(largest)
    return {"shape": shape, "rungs": [int(r) for r in rows], "cpu_fixed_s": float(a), "cpu_per_million_s": float(b) * 1e6,
            "shuffle_bytes_per_row": s, "peak_task_mib": max(r["peak_task_memory_mib"] for r in done),
            "peak_task_mib_by_rung": [r["peak_task_memory_mib"] for r in done],
            "efficiency": largest["cpu_s"] / (largest["audit_s"] * cores), "cores": cores}


def _cores(rung: dict) -> int:
    line = rung.get("inputs_line") or ""
    for part in line.split(","):
        if part.strip().endswith("cores"):
            return int(part.split()[0])
    return os.cpu_count() or 1


def project(model: dict, rows: int, executors: int, cores: int) -> dict:
    cpu = model["cpu_fixed_s"] + model["cpu_per_million_s"] * rows / 1e6
    shuffle = model["shuffle_bytes_per_row"] * rows / 2**30
    return {"cpu_h": cpu / 3600, "wall_min": cpu / (executors * cores * model["efficiency"]) / 60,
            "shuffle_gib": shuffle, "shuffle_gib_per_executor": shuffle / executors}


def check(shape: str, rows: int, root: Path) -> dict:
    """The rung on a standalone cluster of CHECK_WORKERS one-core workers."""
    from bench.standalone import StandaloneCluster

    with StandaloneCluster(root / "standalone", workers=CHECK_WORKERS, cores=1, memory="3g") as cluster:
        measured = run_rung(shape, rows, root, master=cluster.url,
                            conf={"spark.executor.memory": "2g", "spark.executor.cores": "1"})
    return measured


def capacity_markdown(models: list[dict], checked: list[tuple[dict, dict, dict]]) -> str:
    lines = ["Per-row figures from the ladder's local rungs (default driver), and what 10⁹ rows would cost on "
             "three cluster sizes: wall time = CPU / (executors × cores × the local run's parallel efficiency); "
             "shuffle written in all and per executor (local disk). Memory per executor: about 1 GiB per core "
             "(the plan completes in 512 MiB for two task slots); the peak task memory below is what Spark took "
             "because it was free.",
             "",
             "| shape | rungs fitted | CPU s per 1M rows | fixed CPU s | shuffle bytes / row | peak task MiB (by rung) "
             "| efficiency | " + " | ".join(f"10⁹ rows on {k} × {c} cores: wall min · CPU h · shuffle GiB (per executor)"
                                          for k, c in CLUSTERS) + " |",
             "|---|---|---:|---:|---:|---|---:|" + "---|" * len(CLUSTERS)]
    for m in models:
        cells = []
        for k, c in CLUSTERS:
            p = project(m, ROWS, k, c)
            cells.append(f"{p['wall_min']:,.0f} · {p['cpu_h']:,.0f} · {p['shuffle_gib']:,.0f} "
                         f"({p['shuffle_gib_per_executor']:,.0f})")
        lines.append(f"| {m['shape']} | {', '.join(f'{r / 1e6:g}M' for r in m['rungs'])} "
                     f"| {m['cpu_per_million_s']:,.1f} | {m['cpu_fixed_s']:,.0f} | {m['shuffle_bytes_per_row']:,.0f} "
                     f"| {', '.join(f'{x:,}' for x in m['peak_task_mib_by_rung'])} | {m['efficiency']:.2f} | "
                     + " | ".join(cells) + " |")
    if checked:
        lines += ["", "The model checked on the test suite's standalone cluster (2 workers on loopback, 1 core "
                      "each; `python -m bench.capacity --check`), against the local rung of the same size:", "",
                  "| shape | rows | figure | local rung | cluster predicted | cluster measured | measured / predicted |",
                  "|---|---:|---|---:|---:|---:|---:|"]
        for local, measured, model in checked:
            # The same plan on the same number of cores: the local rung's own efficiency at this size.
            predicted_wall = local["audit_s"] * _cores(local) / CHECK_CORES
            for name, here, predicted, there in (
                    ("executor CPU s", local["cpu_s"], local["cpu_s"], measured["cpu_s"]),
                    ("shuffle MiB", local["shuffle_mib"], local["shuffle_mib"], measured["shuffle_mib"]),
                    ("audit s (wall)", local["audit_s"], predicted_wall, measured["audit_s"]),
                    ("peak task MiB", local["peak_task_memory_mib"], local["peak_task_memory_mib"],
                     measured["peak_task_memory_mib"])):
                ratio = f"{there / predicted:.2f}" if predicted and there else "–"
                lines.append(f"| {local['shape']} | {local['rows']:,} | {name} | {here:,.1f} | {predicted:,.1f} "
                             f"| {there or 0:,.1f} | {ratio} |")
            same = local.get("premium_audit") == measured.get("premium_audit")
            lines.append(f"| {local['shape']} | {local['rows']:,} | premium (iOS) | {local.get('premium_audit') or 0:.6f} "
                         f"| – | {measured.get('premium_audit') or 0:.6f} | {'equal' if same else 'differs'} |")
    return "\n".join(lines)


def _local_rung(rungs: list[dict], shape: str, rows: int) -> dict | None:
    """The ladder's local rung of this shape and size with the default driver, if it ran."""
    return next((r for r in rungs if (r["shape"], r["rows"], r["driver_memory"]) == (shape, rows, "default")
                 and not r.get("master")), None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.capacity", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("/tmp/auditor-bench/ladder"))
    parser.add_argument("--check", nargs=2, metavar=("SHAPE", "ROWS"),
                        help="run this rung on a 2-worker standalone cluster and compare")
    parser.add_argument("--no-doc", action="store_true", help="print only; leave docs/performance.md alone")
    args = parser.parse_args(argv)
    store = args.data / "ladder.json"
    rungs = json.loads(store.read_text()) if store.exists() else []
    checks_store = args.data / "capacity-checks.json"
    checks = json.loads(checks_store.read_text()) if checks_store.exists() else []
    if args.check:
        shape, rows = args.check[0], int(args.check[1])
        if _local_rung(rungs, shape, rows) is None:
            print(f"no local {shape} rung of {rows:,} rows in {store}: run python -m bench.ladder --shape {shape} "
                  f"--rows {rows} --add first", file=sys.stderr)
            return 2
        measured = check(shape, rows, args.data)
        checks = [c for c in checks if (c["shape"], c["rows"]) != (shape, rows)] + [measured]
        checks_store.write_text(json.dumps(checks, indent=2))
    models = [m for m in (fit(rungs, s) for s in ("generated", "sparse", "skewed")) if m]
    checked = []
    for measured in (m for m in checks if m["returncode"] == 0):
        local = _local_rung(rungs, measured["shape"], measured["rows"])
        model = next((m for m in models if m["shape"] == measured["shape"]), None)
        if local and model:
            checked.append((local, measured, model))
    text = capacity_markdown(models, checked)
    if not args.no_doc:
        write_doc("capacity", text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
