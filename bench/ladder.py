"""The scale ladder: `auditor run` as a user runs it, on each log shape and size.

    python -m bench.ladder --shape sparse skewed generated --rows 1000000 10000000
    python -m bench.ladder --shape sparse --rows 30000000 --driver-memory 2g --add

Each rung runs `auditor run --config audit.toml --out DIR` in a fresh process
with the project's default settings (no extra memory unless --driver-memory is
given, as a user would give it), and records:

- wall time, and time after Spark's start-up, from the progress lines, with each phase;
- peak RSS of the JVM and of the Python process (sampled every 0.2 s with psutil);
- from Spark's event log (the one setting the bench adds): executor CPU seconds,
  shuffle bytes written, bytes spilled to memory and disk, and the largest peak
  execution memory of any task;
- the DuckDB kernel on the same file (2 threads), and the ratio;
- the audit's iOS premium against the kernel's (they must agree).

Results accumulate in DATA/ladder.json and the table goes into docs/performance.md
between the `bench:ladder` markers.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import time
from datetime import datetime, timezone
from pathlib import Path


from bench.run import SEED, machine, write_doc
from bench.shapes import SHAPES, write_shape
from bench.watch import watch

LADDER_SHAPES = ("generated", *SHAPES)
PROGRESS = re.compile(r"^\[\s*([0-9.]+)s\] ([\w-]+): (.*)$")


def rung_data(shape: str, rows: int, root: Path) -> tuple[Path, Path]:
    """The config and Parquet file of one rung (written once, not timed)."""
    out = root / f"{shape}-{rows}"
    started = time.monotonic()
    if shape == "generated":
        from auditor.synth import generate

        if not (out / "truth.json").exists():
            generate("rides", rows, SEED, out)
        config, data = out / "audit.toml", out / "data" / "rides.parquet"
    else:
        config, data = write_shape(shape, rows, out, SEED)
    if time.monotonic() - started > 1:
        print(f"wrote the {shape} log of {rows:,} rows in {time.monotonic() - started:.0f}s (not timed)",
              file=sys.stderr, flush=True)
    return config, data


def run_rung(shape: str, rows: int, root: Path, driver_memory: str | None = None, master: str | None = None,
             conf: dict[str, str] | None = None) -> dict:
    """One rung; `master` runs it on that cluster instead of the embedded local one (bench.capacity)."""
    config, data = rung_data(shape, rows, root)
    name = f"{shape}-{rows}" + ("-cluster" if master else "")
    out = root / "out" / name
    events = root / "events" / name
    command = [sys.executable, "-m", "auditor", "run", "--config", str(config), "--out", str(out), "--overwrite",
               *(["--driver-memory", driver_memory] if driver_memory else []), *(["--master", master] if master else [])]
    load = os.getloadavg()
    watched = watch(command, env=_with_event_log(events, conf))
    lines, wall = watched.lines, watched.seconds
    phases, spark_ready = _phases(lines)
    result = {
        "shape": shape, "rows": rows, "driver_memory": driver_memory or "default", "master": master,
        "measured": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "load_average_at_start": [round(x, 2) for x in load],
        "returncode": watched.returncode, "wall_s": round(wall, 1),
        "audit_s": round(phases.get("__end", wall) - spark_ready, 1) if spark_ready is not None else None,
        "phases_s": {k: round(v, 1) for k, v in phases.items() if not k.startswith("__")},
        "peak_jvm_rss_mib": round(watched.peak_jvm_rss / 2**20),
        "peak_python_rss_mib": round(watched.peak_python_rss / 2**20),
        "inputs_line": next((line.strip() for line in lines if "shuffle partitions" in line), None),
        **_event_metrics(events),
    }
    if watched.returncode == 0:
        result.update(_audited(json.loads((out / "findings.json").read_text())))
    else:
        result["error"] = [line.rstrip() for line in lines[-6:]]
    result.update(_kernel(data))
    if result.get("audit_s") and result.get("duckdb_s"):
        result["ratio_duckdb"] = round(result["audit_s"] / result["duckdb_s"], 1)
    print(json.dumps({k: v for k, v in result.items() if k not in ("error",)}), flush=True)
    if watched.returncode != 0:
        print("".join(lines[-30:]), file=sys.stderr)
    return result


def _with_event_log(events: Path, conf: dict[str, str] | None) -> dict[str, str]:
    """The environment of a rung: one plain-text event log in `events` (Spark 4 compresses and may roll it
    by default), read after the run, and any other Spark conf."""
    shutil.rmtree(events, ignore_errors=True)
    events.mkdir(parents=True)
    extra = "".join(f"--conf {k}={v} " for k, v in (conf or {}).items())
    return dict(os.environ, PYSPARK_SUBMIT_ARGS=(
        f"--conf spark.eventLog.enabled=true --conf spark.eventLog.dir=file://{events} "
        f"--conf spark.eventLog.compress=false --conf spark.eventLog.rolling.enabled=false {extra}pyspark-shell"))


def _audited(findings: dict) -> dict:
    """What the rung's findings.json says: the iOS price premium (checked against the kernel), rows read,
    and row-comparisons (each finding compares all rows of its two sides, as bench.run counts them)."""
    ios = next((f for f in findings["findings"] if f.get("group") == "ios" and f.get("outcome") == "price"), None)
    return {"premium_audit": ios and ios.get("premium"), "rows_read": findings["data_quality"]["rows_read"],
            "row_comparisons": sum((f.get("rows_group_all") or 0) + (f.get("rows_reference_all") or 0)
                                   for f in findings["findings"])}


def _phases(lines: list[str]) -> tuple[dict[str, float], float | None]:
    """Seconds spent in each phase, from the `[elapsed] phase: message` progress lines."""
    marks = []
    for line in lines:
        m = PROGRESS.match(line.strip())
        if m:
            marks.append((float(m.group(1)), m.group(2), m.group(3)))
    spark_ready = next((t for t, phase, msg in marks if phase == "spark" and msg.startswith("Spark ")), None)
    phases: dict[str, float] = {}
    for (t, phase, _), (t_next, _, _) in zip(marks, marks[1:] + [(marks[-1][0] if marks else 0, "", "")]):
        if phase != "spark":
            phases[phase] = phases.get(phase, 0.0) + (t_next - t)
    if marks:
        phases["__end"] = marks[-1][0]
    return phases, spark_ready


def _event_metrics(events: Path) -> dict:
    """CPU, shuffle, spill and peak task memory summed over the run's tasks, from Spark's event log."""
    cpu_ns = shuffle = spill_memory = spill_disk = peak_task = tasks = 0
    for log in (p for p in events.rglob("*") if p.is_file() and not p.name.startswith(".")):
        with open(log, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if '"SparkListenerTaskEnd"' not in line:
                    continue
                metrics = json.loads(line).get("Task Metrics") or {}
                tasks += 1
                cpu_ns += metrics.get("Executor CPU Time", 0)
                shuffle += (metrics.get("Shuffle Write Metrics") or {}).get("Shuffle Bytes Written", 0)
                spill_memory += metrics.get("Memory Bytes Spilled", 0)
                spill_disk += metrics.get("Disk Bytes Spilled", 0)
                peak_task = max(peak_task, metrics.get("Peak Execution Memory", 0))
    return {"tasks": tasks, "cpu_s": round(cpu_ns / 1e9, 1), "shuffle_mib": round(shuffle / 2**20),
            "spill_memory_mib": round(spill_memory / 2**20), "spill_disk_mib": round(spill_disk / 2**20),
            "peak_task_memory_mib": round(peak_task / 2**20)}


def _kernel(data: Path) -> dict:
    from bench.kernels import duckdb_premium

    started = time.monotonic()
    kernel = duckdb_premium(data, threads=2)
    return {"duckdb_s": round(time.monotonic() - started, 2), "premium_duckdb": kernel.premium}


def ladder_markdown(rungs: list[dict]) -> str:
    m = machine()
    lines = [
        f"Measured by `python -m bench.ladder` on {m['nproc']} cores ({m['cpu']}), {m['memory_gib']} GiB RAM; "
        f"PySpark {m['pyspark']}, DuckDB {m['duckdb']}. Each rung is `auditor run` in a fresh process with default "
        "settings (the driver sized from the machine) unless the driver column says otherwise; seconds are after "
        "Spark's start-up; RSS is the peak of the JVM (which in local mode also runs every task) and of Python; "
        "CPU, shuffle and spill are summed over tasks from Spark's event log. The machine is shared: the load "
        "average at the start of each rung is given, compare ratios within a rung.",
        "",
        "| shape | rows | driver | exit | audit s | ingest | estimate | sensitivity | personalisation | rows/s "
        "| row-comparisons/s "
        "| JVM RSS MiB "
        "| Python RSS MiB | CPU s | shuffle MiB | spill MiB (disk) | peak task MiB | DuckDB s | audit / DuckDB "
        "| premium audit / DuckDB | load |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in sorted(rungs, key=lambda r: (LADDER_SHAPES.index(r["shape"]), r["rows"], r["driver_memory"])):
        p = r.get("phases_s", {})
        ok = r.get("audit_s") and r["returncode"] == 0
        personal = f"{p['personalisation']:.0f}" if "personalisation" in p else "–"  # rungs before it existed
        rate = f"{r['rows'] / r['audit_s'] / 1e3:,.1f} k" if ok else "–"
        compared = f"{r['row_comparisons'] / r['audit_s'] / 1e3:,.1f} k" if ok and r.get("row_comparisons") else "–"
        agree = (f"{r['premium_audit']:.6f} / {r['premium_duckdb']:.6f}" if r.get("premium_audit") is not None
                 else "–")
        lines.append(
            f"| {r['shape']} | {r['rows']:,} | {r['driver_memory']} | {r['returncode']} | {r.get('audit_s') or '–'} "
            f"| {p.get('ingest', 0):.0f} | {p.get('estimate', 0):.0f} | {p.get('sensitivity', 0):.0f} "
            f"| {personal} | {rate} "
            f"| {compared} "
            f"| {r['peak_jvm_rss_mib']:,} | {r['peak_python_rss_mib']:,} | {r['cpu_s']:,.0f} | {r['shuffle_mib']:,} "
            f"| {r['spill_disk_mib']:,} | {r['peak_task_memory_mib']:,} | {r['duckdb_s']:.2f} "
            f"| {r.get('ratio_duckdb', '–')}x | {agree} | {', '.join(f'{x:.1f}' for x in r['load_average_at_start'])} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ladder", description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", nargs="+", choices=LADDER_SHAPES, default=list(LADDER_SHAPES))
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--driver-memory", help="hold the embedded driver to this heap (default: the auditor's)")
    parser.add_argument("--data", type=Path, default=Path("/tmp/auditor-bench/ladder"))
    parser.add_argument("--add", action="store_true", help="keep the other rungs of DATA/ladder.json")
    parser.add_argument("--no-doc", action="store_true", help="print only; leave docs/performance.md alone")
    args = parser.parse_args(argv)
    args.data.mkdir(parents=True, exist_ok=True)
    store = args.data / "ladder.json"
    rungs = json.loads(store.read_text()) if args.add and store.exists() else []
    failed = 0
    for shape in args.shape:
        for rows in args.rows:
            result = run_rung(shape, rows, args.data, args.driver_memory)
            failed += result["returncode"] != 0
            rungs = [r for r in rungs if (r["shape"], r["rows"], r["driver_memory"])
                     != (shape, rows, result["driver_memory"])] + [result]
            store.write_text(json.dumps(rungs, indent=2))
    if not args.no_doc:
        write_doc("ladder", ladder_markdown(rungs))
    print(ladder_markdown(rungs))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
