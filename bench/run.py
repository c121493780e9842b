"""Benchmark: the full audit against a DuckDB kernel and the Parquet scan floor.

    python -m bench.run --rows 1000000 10000000 30000000 --repeat 3
    python -m bench.run --rows 30000000 --repeat 1 --add   # add a size to the last run's table
    python -m bench.run --driver-check 30000000        # spark-submit --driver-memory 1g, peak RSS

For each size a synthetic ride-hailing log is generated once (not timed), then
each repeat times, in one process on this machine:

- the full audit (`auditor.pipeline.run`, local[2]) phase by phase, with the
  Spark jobs, stages and stage metrics of each phase from the Spark UI's REST API;
- `bench.kernels.duckdb_premium`: the same matched iOS premium and CR1 error in DuckDB;
- `bench.kernels.scan_floor`: pyarrow reading the audit's columns and taking log(price).

Medians go to stdout and into docs/performance.md (between the bench markers;
the prose around them is kept). The audit's iOS finding must agree with DuckDB's.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil

from auditor.progress import Progress
from bench.watch import watch

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "performance.md"
SEED = 2026
PHASES = ("inputs", "ingest", "estimate", "sensitivity", "report")


class PhaseGroups(Progress):
    """Progress that tags the Spark jobs of each phase with a job group, so they can be counted."""

    def __init__(self, spark, run: str):
        super().__init__(quiet=True)
        self.spark, self.run = spark, run

    def phase(self, name: str, message: str = "") -> None:
        super().phase(name, message)
        self.spark.sparkContext.setJobGroup(f"{self.run}:{name}", name)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def machine() -> dict:
    """What the numbers were measured on."""
    import duckdb
    import pyarrow
    import pyspark

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "cpu": cpu,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "pyspark": pyspark.__version__,
        "java": java[0] if java else "?",
        "duckdb": duckdb.__version__,
        "pyarrow": pyarrow.__version__,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def dataset(rows: int, data_root: Path):
    """The generated log for this size (generated once and reused)."""
    from auditor.synth import generate

    out = data_root / f"rides-{rows}"
    if not (out / "truth.json").exists():
        started = time.monotonic()
        generate("rides", rows, SEED, out)
        print(f"generated {rows:,} rows in {time.monotonic() - started:.1f}s (not timed)", file=sys.stderr)
    return out / "audit.toml", out / "data" / "rides.parquet"


def bench_config(config_path: Path, rows: int):
    """The generated config, with max_clusters above the user count so CR1 is unpooled (as DuckDB's is)."""
    from auditor.spec import load_config

    config = load_config(config_path)
    return dataclasses.replace(config, test=dataclasses.replace(config.test, max_clusters=max(200_000, rows)))


def spark_profile(spark, run: str) -> dict:
    """Jobs, stages and the biggest stages of each phase, from the Spark UI's REST API."""
    url = spark.sparkContext.uiWebUrl
    app = spark.sparkContext.applicationId
    if not url:
        return {}
    with urllib.request.urlopen(f"{url}/api/v1/applications/{app}/jobs", timeout=30) as reply:
        jobs = [j for j in json.load(reply) if str(j.get("jobGroup", "")).startswith(f"{run}:")]
    with urllib.request.urlopen(f"{url}/api/v1/applications/{app}/stages", timeout=30) as reply:
        stages = {s["stageId"]: s for s in json.load(reply) if s.get("status") == "COMPLETE"}
    profile = {}
    for job in jobs:
        phase = job["jobGroup"].split(":", 1)[1]
        entry = profile.setdefault(phase, {"jobs": 0, "stages": 0, "skipped_stages": 0, "tasks": 0, "top": []})
        entry["jobs"] += 1
        for sid in job["stageIds"]:
            stage = stages.get(sid)
            if stage is None:
                entry["skipped_stages"] += 1
                continue
            entry["stages"] += 1
            entry["tasks"] += stage["numTasks"]
            entry["top"].append({
                "stage": sid, "name": stage["name"].split(" at ")[0], "tasks": stage["numTasks"],
                "run_s": round(stage["executorRunTime"] / 1000, 1),
                "input_mb": round(stage["inputBytes"] / 2**20, 1),
                "shuffle_write_mb": round(stage["shuffleWriteBytes"] / 2**20, 1),
                "shuffle_read_mb": round(stage["shuffleReadBytes"] / 2**20, 1),
                "spill_mb": round(stage["diskBytesSpilled"] / 2**20, 1),
            })
    for entry in profile.values():
        entry["top"] = sorted(entry["top"], key=lambda s: -s["run_s"])[:4]
    return profile


def time_audit(spark, config, rows: int, scratch: Path, run: str) -> dict:
    from auditor import pipeline

    out = scratch / f"audit-{rows}"
    shutil.rmtree(out, ignore_errors=True)
    progress = PhaseGroups(spark, run)
    started = time.monotonic()
    result = pipeline.run(config, spark, out, progress=progress)
    total = time.monotonic() - started
    spark.sparkContext.setJobGroup("bench:idle", "idle")
    phases = dict(progress.timings)
    phases.setdefault("inputs", total - sum(phases.values()))  # listing and fingerprinting the inputs
    ios = next(f for f in result.findings if f.column == "os" and f.group == "ios")
    # The audit's work in rows: each finding compares all rows of its two sides.
    compared = sum(f.rows_group_all + f.rows_reference_all for f in result.findings)
    return {"total": total, "phases": phases, "ios": ios, "rows_read": result.data_quality.rows_read,
            "row_comparisons": compared}


def agreement(ios, kernel) -> dict:
    """The audit's iOS finding against DuckDB's: premium to 1e-6, CR1 error to 1e-6 relative.

    The CR1 result sits in `analytic` once the headline is the calibrated jackknife,
    and in the finding itself before that.
    """
    cr1 = getattr(ios, "analytic", None) or {"premium": ios.premium, "se_log": ios.se_log}
    premium, se = cr1["premium"], cr1["se_log"]
    return {
        "premium_audit": premium, "premium_duckdb": kernel.premium, "premium_diff": abs(premium - kernel.premium),
        "se_audit": se, "se_duckdb": kernel.se, "se_rel_diff": abs(se - kernel.se) / kernel.se,
        "counts_equal": (ios.cells, ios.rows_group + ios.rows_reference, ios.clusters)
                        == (kernel.cells, kernel.rows, kernel.clusters),
        "ok": abs(premium - kernel.premium) < 1e-6 and abs(se - kernel.se) / kernel.se < 1e-6,
    }


def run_sizes(repeats: dict[int, int], data_root: Path, driver_memory: str) -> dict:
    from bench.kernels import duckdb_premium, scan_floor
    from auditor.engine.session import spark_session

    started = time.monotonic()
    spark = spark_session("local[2]", app_name="auditor-bench", extra_conf={
        "spark.driver.memory": driver_memory, "spark.ui.enabled": "true", "spark.ui.port": str(free_port()),
        "spark.ui.retainedJobs": "5000", "spark.ui.retainedStages": "20000"})
    spark_start = time.monotonic() - started
    results = {"machine": machine(), "spark_start_s": spark_start, "driver_memory": driver_memory, "sizes": {}}
    scratch = data_root / "out"
    for rows in sorted(repeats):
        measured = {"measured": time.strftime("started %Y-%m-%d %H:%M %Z"), "load_average_at_start": os.getloadavg(),
                    "spark_start_s": spark_start}
        config_path, data_path = dataset(rows, data_root)
        config = bench_config(config_path, rows)
        runs = []
        for i in range(repeats[rows]):
            run = f"n{rows}-r{i}"
            audit = time_audit(spark, config, rows, scratch, run)
            t0 = time.monotonic()
            kernel = duckdb_premium(data_path, threads=2)
            duck = time.monotonic() - t0
            t0 = time.monotonic()
            scan_floor(data_path, list(config.used_columns), config.columns.price)
            scan = time.monotonic() - t0
            runs.append({"audit": audit, "duckdb": duck, "scan": scan, "kernel": kernel, "run": run})
            print(f"{rows:>11,} rows  repeat {i + 1}: audit {audit['total']:.1f}s "
                  f"({', '.join(f'{k} {v:.1f}' for k, v in audit['phases'].items())}), "
                  f"duckdb {duck:.2f}s, scan floor {scan:.2f}s", flush=True)
        median_run = sorted(runs, key=lambda r: r["audit"]["total"])[len(runs) // 2]
        audit_s = statistics.median(r["audit"]["total"] for r in runs)
        duck_s = statistics.median(r["duckdb"] for r in runs)
        scan_s = statistics.median(r["scan"] for r in runs)
        check = agreement(median_run["audit"]["ios"], median_run["kernel"])
        results["sizes"][rows] = {
            "audit_s": audit_s, "duckdb_s": duck_s, "scan_s": scan_s,
            "phases_s": {p: statistics.median(r["audit"]["phases"].get(p, 0.0) for r in runs) for p in PHASES},
            "audit_rows_per_s": rows / audit_s, "duckdb_rows_per_s": rows / duck_s, "scan_rows_per_s": rows / scan_s,
            "ratio_duckdb": audit_s / duck_s, "ratio_scan": audit_s / scan_s,
            "row_comparisons_per_s": median_run["audit"]["row_comparisons"] / audit_s,
            "all_audit_s": [r["audit"]["total"] for r in runs], "repeats": len(runs),
            "agreement": check, "profile": spark_profile(spark, median_run["run"]), **measured,
        }
        s = results["sizes"][rows]
        print(f"{rows:>11,} rows  median: audit {audit_s:.1f}s = {rows / audit_s:,.0f} rows/s "
              f"({s['row_comparisons_per_s']:,.0f} row-comparisons/s); "
              f"audit/duckdb {s['ratio_duckdb']:.1f}x, audit/scan floor {s['ratio_scan']:.1f}x; "
              f"agrees with DuckDB: {check['ok']} (premium diff {check['premium_diff']:.1e}, "
              f"se rel diff {check['se_rel_diff']:.1e})", flush=True)
    spark.stop()
    return results


def driver_check(rows: int, data_root: Path, driver_memory: str = "1g") -> dict:
    """Run jobs/audit.py through spark-submit with a small driver; sample the driver's RSS."""
    import pyspark

    config_path, _ = dataset(rows, data_root)
    out = data_root / "out" / f"driver-{rows}"
    spark_home = Path(pyspark.__file__).resolve().parent
    env = dict(os.environ, SPARK_HOME=str(spark_home), PYSPARK_PYTHON=sys.executable,
               PYSPARK_DRIVER_PYTHON=sys.executable)
    command = [str(spark_home / "bin" / "spark-submit"), "--master", "local[2]", "--driver-memory", driver_memory,
               "--conf", "spark.ui.enabled=false", str(ROOT / "jobs" / "audit.py"),
               "--config", str(config_path), "--out", str(out), "--overwrite"]
    watched = watch(command, env=env)
    lines, elapsed = watched.lines, watched.seconds
    findings = json.loads((out / "findings.json").read_text()) if watched.returncode == 0 else None
    result = {"rows": rows, "driver_memory": driver_memory, "returncode": watched.returncode, "seconds": elapsed,
              "peak_jvm_rss_mib": watched.peak_jvm_rss / 2**20, "peak_python_rss_mib": watched.peak_python_rss / 2**20,
              "rows_read": findings["data_quality"]["rows_read"] if findings else None,
              "progress": [line.rstrip() for line in lines if "] " in line and ": " in line][-12:]}
    print(f"spark-submit --driver-memory {driver_memory} on {rows:,} rows: exit {watched.returncode} in {elapsed:.0f}s; "
          f"peak RSS: JVM {result['peak_jvm_rss_mib']:.0f} MiB, Python {result['peak_python_rss_mib']:.0f} MiB",
          flush=True)
    if watched.returncode != 0:
        print("".join(lines[-40:]), file=sys.stderr)
    return result


def _fmt_rate(rate: float | None) -> str:
    if rate is None:  # a size kept from a run that did not measure it
        return "–"
    return f"{rate / 1e6:.2f} M" if rate >= 1e5 else f"{rate / 1e3:.1f} k"


def sizes_markdown(results: dict) -> str:
    m = results["machine"]
    when = "; ".join(f"{int(rows):,} rows {s.get('measured', 'at an unrecorded time')} (load average "
                     f"{', '.join(f'{x:.2f}' for x in s.get('load_average_at_start', []))}, "
                     f"Spark start-up {s.get('spark_start_s', results['spark_start_s']):.1f} s)"
                     for rows, s in results["sizes"].items())
    lines = [
        f"Measured by `python -m bench.run` on: {m['nproc']} cores "
        f"({m['cpu']}), {m['memory_gib']} GiB RAM, {m['os']}; Python {m['python']}, PySpark {m['pyspark']}, "
        f"{m['java']}, DuckDB {m['duckdb']}, pyarrow {m['pyarrow']}. When: {when}. "
        "The machine is shared: compare ratios within a row.",
        "",
        f"Audit: `auditor.pipeline.run` in one local[2] session, driver memory {results['driver_memory']}; "
        "Spark start-up is excluded. DuckDB: 2 threads. "
        "Seconds are medians of the repeats (the last column lists every repeat).",
        "",
        "| rows | audit s | audit rows/s | row-comparisons/s | DuckDB s | DuckDB rows/s | scan floor s | scan rows/s "
        "| audit / DuckDB | audit / scan floor | s per M rows |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for rows, s in results["sizes"].items():
        lines.append(f"| {int(rows):,} | {s['audit_s']:.1f} | {_fmt_rate(s['audit_rows_per_s'])} "
                     f"| {_fmt_rate(s.get('row_comparisons_per_s'))} | {s['duckdb_s']:.2f} "
                     f"| {_fmt_rate(s['duckdb_rows_per_s'])} | {s['scan_s']:.2f} | {_fmt_rate(s['scan_rows_per_s'])} "
                     f"| {s['ratio_duckdb']:.1f}x | {s['ratio_scan']:.1f}x | {s['audit_s'] / int(rows) * 1e6:.2f} |")
    lines += ["", "Audit phases (seconds, median; `inputs` is listing and SHA-256 fingerprinting the files; "
              "`estimate` builds the cells and runs every comparison):", "",
              "| rows | " + " | ".join(PHASES) + " | all repeats (s) |", "|---:|" + "---:|" * (len(PHASES) + 1)]
    for rows, s in results["sizes"].items():
        lines.append(f"| {int(rows):,} | " + " | ".join(f"{s['phases_s'][p]:.1f}" for p in PHASES)
                     + f" | {', '.join(f'{t:.1f}' for t in s['all_audit_s'])} |")
    lines += ["", "Agreement of the audit's iOS finding with the DuckDB kernel (median repeat):", "",
              "| rows | premium (audit) | premium (DuckDB) | abs diff | se_log (audit) | CR1 se (DuckDB) "
              "| rel diff | cells, rows, clusters equal |", "|---:|---:|---:|---:|---:|---:|---:|:--|"]
    for rows, s in results["sizes"].items():
        a = s["agreement"]
        lines.append(f"| {int(rows):,} | {a['premium_audit']:.8f} | {a['premium_duckdb']:.8f} | {a['premium_diff']:.1e} "
                     f"| {a['se_audit']:.8f} | {a['se_duckdb']:.8f} | {a['se_rel_diff']:.1e} | {a['counts_equal']} |")
    lines += ["", "Spark work per phase (median repeat; from the UI's REST API): jobs, stages run (and skipped "
              "because their shuffle output was reused), tasks, and the stages that took longest "
              "(executor run time summed over tasks, input read, shuffle written/read, spill):", ""]
    for rows, s in results["sizes"].items():
        lines += [f"**{int(rows):,} rows**", "", "| phase | jobs | stages (skipped) | tasks | longest stages |",
                  "|---|---:|---:|---:|---|"]
        for phase in PHASES:
            p = s["profile"].get(phase)
            if not p:
                continue
            top = "; ".join(f"#{t['stage']} {t['name']} {t['run_s']}s in {t['input_mb']} MB, "
                            f"shuffle w {t['shuffle_write_mb']} / r {t['shuffle_read_mb']} MB"
                            + (f", spill {t['spill_mb']} MB" if t["spill_mb"] else "") for t in p["top"])
            lines.append(f"| {phase} | {p['jobs']} | {p['stages']} ({p['skipped_stages']}) | {p['tasks']} | {top} |")
        lines.append("")
    return "\n".join(lines)


def targets_markdown(results: dict) -> str:
    sizes = {int(k): v for k, v in results["sizes"].items()}
    lines = []
    for rows, limit in ((1_000_000, 60), (10_000_000, 35)):
        if rows in sizes:
            s = sizes[rows]
            lines.append(f"- {rows // 1_000_000}M rows, audit within {limit}x of DuckDB: {s['ratio_duckdb']:.1f}x — "
                         f"{'met' if s['ratio_duckdb'] <= limit else 'missed'}.")
    if 300_000 in sizes:
        s = sizes[300_000]
        lines.append(f"- 300k rows (the demo's size), audit under 30 s after Spark has started: {s['audit_s']:.1f} s — "
                     f"{'met' if s['audit_s'] < 30 else 'missed'}.")
    if len(sizes) >= 2:
        small, large = min(sizes), max(sizes)
        growth = sizes[large]["audit_s"] / sizes[small]["audit_s"]
        lines.append(f"- Time from {small:,} to {large:,} rows grows {growth:.1f}x for {large / small:.0f}x the rows — "
                     f"{'no worse than linear (met)' if growth <= large / small else 'worse than linear (missed)'}.")
        ordered = sorted(sizes)
        if len(ordered) > 2:  # a super-linear step can hide inside a linear whole
            lines += [f"  - {a:,} to {b:,} rows: {sizes[b]['audit_s'] / sizes[a]['audit_s']:.2f}x for {b / a:.0f}x "
                      f"({sizes[a]['audit_s'] / a * 1e6:.0f} to {sizes[b]['audit_s'] / b * 1e6:.0f} s per million rows)"
                      for a, b in zip(ordered, ordered[1:])]
    return "\n".join(lines)


def driver_markdown(d: dict) -> str:
    return "\n".join([
        f"`spark-submit --master local[2] --driver-memory {d['driver_memory']} jobs/audit.py` on {d['rows']:,} rows "
        f"(the generated config, `max_clusters` at its default of 200,000): exit code {d['returncode']}, "
        f"{d['seconds']:.0f} s wall clock, {d['rows_read'] or 0:,} rows read.", "",
        "| peak RSS, sampled every 0.2 s with psutil | MiB |", "|---|---:|",
        f"| driver JVM (in local mode it also runs the tasks) | {d['peak_jvm_rss_mib']:.0f} |",
        f"| driver Python | {d['peak_python_rss_mib']:.0f} |", "",
        "Progress lines of that run:", "", "```", *d["progress"], "```"])


def write_doc(section: str, body: str) -> None:
    """Replace one generated section of docs/performance.md, keeping the prose around it."""
    begin, end = f"<!-- bench:{section}:begin -->", f"<!-- bench:{section}:end -->"
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else "# Performance\n"
    block = f"{begin}\n{body}\n{end}"
    if begin in text:
        text = text[:text.index(begin)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + f"\n\n{block}\n"
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="*", default=[], help="log sizes to time")
    parser.add_argument("--repeat", type=int, nargs="*", default=[3],
                        help="repeats: one number for every size, or one per size (in --rows order)")
    parser.add_argument("--data", type=Path, default=Path("/tmp/auditor-bench"), help="where logs are generated")
    parser.add_argument("--driver-memory", default="4g", help="driver memory of the timed local[2] session")
    parser.add_argument("--driver-check", type=int, metavar="ROWS",
                        help="also run spark-submit --driver-memory 1g on ROWS rows and report peak RSS")
    parser.add_argument("--add", action="store_true",
                        help="keep the other sizes of the last run (results.json) and add or replace these")
    parser.add_argument("--no-doc", action="store_true", help="print only; leave docs/performance.md alone")
    args = parser.parse_args(argv)
    args.data.mkdir(parents=True, exist_ok=True)
    if args.rows:
        if len(args.repeat) not in (1, len(args.rows)):
            parser.error("--repeat: give one number, or one per size in --rows")
        repeats = dict(zip(args.rows, args.repeat * len(args.rows) if len(args.repeat) == 1 else args.repeat))
        previous = args.data / "results.json"
        kept = {}
        if args.add and previous.exists():  # checked before timing: a 30M-row size takes most of an hour
            last = json.loads(previous.read_text())
            if (last["machine"]["cpu"], last["driver_memory"]) != (machine()["cpu"], args.driver_memory):
                parser.error("--add: the last run was on another machine or driver memory; time every size again")
            kept = {int(k): v for k, v in last["sizes"].items()}
        results = run_sizes(repeats, args.data, args.driver_memory)
        results["sizes"] = dict(sorted({**kept, **results["sizes"]}.items()))
        (args.data / "results.json").write_text(json.dumps(results, indent=2, default=str))
        if not args.no_doc:
            write_doc("sizes", sizes_markdown(results))
            write_doc("targets", targets_markdown(results))
        print(targets_markdown(results))
    if args.driver_check:
        checked = driver_check(args.driver_check, args.data)
        if not args.no_doc:
            write_doc("driver", driver_markdown(checked))
        if checked["returncode"] != 0:
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
