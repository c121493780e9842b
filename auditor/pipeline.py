"""The audit, top to bottom: config -> ingest -> match -> estimate -> findings -> report."""

from __future__ import annotations

import platform
import shlex
import sys
from datetime import datetime, timezone
from pathlib import Path

from pyspark.sql import SparkSession

from auditor import __version__
from auditor.config import AuditConfig
from auditor.estimate import plan, summarize
from auditor.findings import AuditFindings, AuditRecord, build_findings
from auditor.ingest import check_segments, ingest, list_input_files
from auditor.match import with_cells
from auditor.output import staged_output
from auditor.progress import Progress
from auditor.report import write_report
from auditor.sensitivity import sensitivity
from auditor.session import size_shuffles


def run(config: AuditConfig, spark: SparkSession, out: Path, overwrite: bool = False,
        progress: Progress | None = None, command: str | None = None) -> AuditFindings:
    """Audit the configured log and write findings.json, report.html and rejected/ into `out`."""
    progress = progress or Progress(quiet=True)
    started = _now()
    spark.conf.set("spark.sql.session.timeZone", config.input.timezone)
    progress.phase("inputs", f"listing and fingerprinting {config.input.path}")
    inputs = list_input_files(config.input.path)
    input_bytes = sum(f.bytes for f in inputs)
    partitions = size_shuffles(spark, input_bytes)
    progress.say(f"{len(inputs):,} files, {input_bytes / 2**20:,.1f} MiB; {partitions} shuffle partitions")
    with staged_output(out, overwrite) as staging:
        progress.phase("ingest", f"reading {config.input.format} from {config.input.path}")
        ingested = ingest(spark, config, inputs)
        quality = ingested.quality
        progress.say(f"{quality.rows_read:,} rows read{progress.rate(quality.rows_read)}, "
                     f"{quality.rows_accepted:,} accepted, {quality.rows_rejected:,} rejected")
        check_segments(ingested, config)
        if quality.rows_rejected:
            ingested.rejected.write.parquet(str(staging / "rejected"))

        progress.phase("match", f"cells by {config.match.description}")
        accepted = ingested.accepted
        matched = with_cells(accepted, config.match)

        comparisons = plan(config)
        progress.phase("estimate", f"{len(comparisons)} comparisons (placebo checks included), "
                                   "within-cell premiums with user-clustered jackknife errors")
        data = summarize(matched, config, comparisons)
        findings, placebo = build_findings(data, config)
        progress.say(f"{len(findings)} findings, {sum(f.flagged for f in findings)} flagged, "
                     f"from {quality.rows_accepted:,} accepted rows{progress.rate(quality.rows_accepted)}")
        if any(f.flagged for f in findings):
            progress.phase("sensitivity", "re-estimating flagged findings under changed keys and bins")
            findings = sensitivity(accepted, config, comparisons, findings)
        notes = _notes(placebo)

        progress.phase("report")
        result = AuditFindings(
            audit=_record(config, ingested.inputs, spark, started, command, progress.timings),
            data_quality=quality,
            findings=findings,
            placebo=placebo,
            notes=notes,
        )
        result.write(staging / "findings.json")
        write_report(result.to_json(), staging / "report.html", config.report.language,
                     config.report.min_cell_size)
        ingested.release()
    progress.done()
    progress.say(f"report written to {Path(out).resolve() / 'report.html'}")
    return result


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _record(config: AuditConfig, inputs, spark: SparkSession, started: str, command: str | None,
            timings: dict[str, float]) -> AuditRecord:
    return AuditRecord(
        name=config.name, platform=config.platform, period=config.period,
        config_path=config.source_path, config_sha256=config.sha256, config_text=config.source_text,
        inputs=inputs, input_format=config.input.format, match=config.match.description,
        alpha=config.test.alpha, materiality=config.test.materiality, confidence=config.test.confidence,
        spark_version=spark.version, spark_master=spark.sparkContext.master,
        auditor_version=__version__, python_version=platform.python_version(),
        started_at=started, finished_at=_now(),
        command=command or shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        language=config.report.language, min_cell_size=config.report.min_cell_size,
        timings={phase: round(seconds, 3) for phase, seconds in timings.items()},
        labels=config.labels.to_json(),
    )


def _notes(placebo: dict | None) -> tuple[str, ...]:
    """Warnings a reader must see before the findings."""
    if placebo and placebo["warning"]:
        return (f"Self-check failed: {placebo['rejections']} of {placebo['tested']} random placebo splits of "
                f"{placebo['population']} were found significant (about {placebo['expected']:.2f} expected by chance). "
                "The inference is not reliable on this data; treat p-values and flags with caution.",)
    return ()
