"""The audit, top to bottom: config -> ingest -> estimate -> findings -> sensitivity -> report."""

from __future__ import annotations

import platform
import shlex
import sys
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from auditor import __version__
from auditor.findings import compare, load, load_findings
from auditor.spec import AuditConfig
from auditor.engine.estimate import SparkEngine, plan
from auditor.engine.personal import effective_split, personal_inputs
from auditor.findings import AuditFindings, AuditRecord, SelfCheckResult, build_findings
from auditor.findings.document import TableInput
from auditor.findings.personal_model import Personalisation
from auditor.engine.ingest import attribute_source, check_segments, ingest, list_inputs
from auditor.engine.placebos import placebo_population
from auditor.output import check_target, staged_output
from auditor.findings.personal import analyse
from auditor.stats.personal import choose_split
from auditor.preflight import preflight
from auditor.progress import Progress
from auditor.report import write_report
from auditor.findings.sensitivity import sensitivity
from auditor.engine.session import describe_resources, input_rows, size_input_splits, size_shuffles
from auditor.vocabulary import Verdict

if TYPE_CHECKING:  # the engine's types; Spark itself is imported by the engine alone
    from pyspark.sql import DataFrame, SparkSession


@dataclass(frozen=True)
class Audited:
    """An audit's results, before anything is written.

    `rejected` is the lazy Spark frame of rejected rows (None when none were):
    writing it re-reads the input, so it needs the same live Spark session and
    an unchanged input.
    """

    findings: AuditFindings
    rejected: DataFrame | None
    _release: Callable[[], None] = field(default=lambda: None, repr=False, compare=False)


def run(config: AuditConfig, spark: SparkSession, out: Path, overwrite: bool = False,
        progress: Progress | None = None, command: str | None = None) -> AuditFindings:
    """Audit the configured log and write findings.json, report.html and rejected/ into `out`."""
    progress = progress or Progress(quiet=True)
    check_target(out, overwrite)  # refuse an existing folder before the audit, not after it
    audited = audit(config, spark, progress, command, keep_cache=True)
    try:
        write(audited, out, overwrite, progress)
    finally:
        release(audited)
    progress.say(f"report written to {Path(out).resolve() / 'report.html'}")
    return audited.findings


def audit(config: AuditConfig, spark: SparkSession, progress: Progress | None = None,
          command: str | None = None, keep_cache: bool = False) -> Audited:
    """Audit the configured log; nothing is written."""
    progress = progress or Progress(quiet=True)
    started = _now()
    baseline = load_findings(config.baseline.findings) if config.baseline else None  # before any scan
    spark.conf.set("spark.sql.session.timeZone", config.input.timezone)
    inputs, table = _inputs(spark, config, progress)

    progress.phase("ingest", f"reading {config.input.description}")
    ingested = ingest(spark, config, inputs)
    try:
        quality = ingested.quality
        progress.say(f"{quality.rows_read:,} rows read{progress.rate(quality.rows_read)}, "
                     f"{quality.rows_accepted:,} accepted, {quality.rows_rejected:,} rejected")
        check_segments(ingested, config)

        comparisons = plan(config)
        progress.phase("estimate", f"{len(comparisons)} comparisons in cells by "
                                   f"{config.match.description}: within-cell premiums with user-clustered "
                                   "jackknife errors")
        engine = SparkEngine(ingested.accepted, config)
        try:
            findings, placebo = _estimate(engine, config, comparisons, quality.rows_accepted, progress)
        finally:
            engine.release()
        personalisation = personalise(spark, ingested.accepted, config, progress)
    except BaseException:
        ingested.release()
        raise
    if not keep_cache:
        ingested.release()  # writing rejected rows later recomputes the duplicated ids
    progress.done()
    result = AuditFindings(
        audit=_record(config, ingested.inputs, spark, started, command, progress.timings, table),
        data_quality=quality,
        findings=findings,
        placebo=placebo,
        notes=_notes(placebo),
        personalisation=personalisation,
    )
    if baseline is not None:
        # compared as it will be written and read back (undefined numbers as null)
        changes = compare(baseline, load(result.to_json()), before_path=config.baseline.findings)
        result = replace(result, baseline=changes)
    return Audited(findings=result, rejected=ingested.rejected if quality.rows_rejected else None,
                   _release=ingested.release)


def _inputs(spark: SparkSession, config: AuditConfig, progress: Progress):
    """The input's files (or table) listed and fingerprinted, and the splits and shuffles sized from them."""
    progress.phase("inputs", f"listing and fingerprinting {config.input.table or config.input.path}")
    preflight(config)  # a missing, empty or mislabelled file stops here, before any scan
    inputs, table = list_inputs(spark, config)
    input_bytes = sum(f.bytes for f in inputs)
    rows = input_rows([f.path for f in inputs], config.input.format, input_bytes)
    split = size_input_splits(spark, input_bytes, rows)
    partitions = size_shuffles(spark, input_bytes, rows)
    progress.say(f"{len(inputs):,} files, {input_bytes / 2**20:,.1f} MiB"
                 + (f", about {rows:,} rows in splits of {split / 2**20:,.1f} MiB" if rows and split else "")
                 + f"; {partitions} shuffle partitions; {describe_resources(spark)}")
    return inputs, table


def _estimate(engine: SparkEngine, config: AuditConfig, comparisons, rows_accepted: int, progress: Progress):
    """The findings and the self-check: estimate, split the population at random, re-estimate the flags
    under changed matching rules."""
    data = engine.estimate(comparisons)
    findings, placebo = build_findings(data, config)
    progress.say(f"{len(findings)} findings, {sum(f.flagged for f in findings)} flagged, "
                 f"from {rows_accepted:,} accepted rows{progress.rate(rows_accepted)}")
    if config.test.placebo_splits and placebo_population(config):
        progress.phase("self-check", f"{config.test.placebo_splits} random splits of "
                                     f"{' = '.join(placebo_population(config))}, from its (cell, user) sums")
        # Built again with the self-check: a failed one adds calibrated p-values (the verdicts,
        # from the analytic p-values, stay as printed above; sensitivity marks a flag not robust
        # where its calibrated p-value is not below the level).
        findings, placebo = build_findings(data, config, engine.placebo_pairs())
        if placebo:
            progress.say(f"{placebo.rejections} of {placebo.tested} splits significant at "
                         f"{placebo.alpha:g} ({placebo.rate:.1%}, {placebo.confidence:.0%} "
                         f"interval {placebo.rate_low:.1%}-{placebo.rate_high:.1%}) from "
                         f"{placebo.pairs:,} pairs"
                         + (f" (a sample of {placebo.pairs_total:,})" if placebo.sampled else ""))
    if any(f.flagged for f in findings):
        progress.phase("sensitivity", "re-estimating flagged findings under changed keys, bins and "
                                      "time buckets; balance checks")
        findings = sensitivity(engine, config, comparisons, findings)
        progress.say(f"{sum(f.verdict == Verdict.FLAGGED_NOT_ROBUST for f in findings)} of the flags not robust")
    return findings, placebo


def personalise(spark: SparkSession, accepted: DataFrame, config: AuditConfig,
                progress: Progress) -> Personalisation | None:
    """Is pricing personalised? findings.json's `personalisation` block (None when switched off)."""
    if not config.personalisation.enabled:
        return None
    progress.phase("personalisation", "do users pay differently for the same purchase, the same users each time, "
                                      "and what about them explains it")
    source, candidates = attribute_source(spark, config)  # every column of the log but roles and match keys
    requested = config.personalisation.split
    splits = tuple(dict.fromkeys(effective_split(config, s) for s in (("week", "day") if requested == "auto"
                                                                    else (requested,))))
    parts, scanned = personal_inputs(accepted, source, candidates, config, splits, choose_split)
    test = config.test
    sums, sample = parts[0]
    finding = replace(analyse(sums, sample, test.alpha, test.materiality, test.confidence, scanned),
                      split_requested=requested)
    if config.columns.disclosed:  # part 0 the undisclosed purchases, part 1 the disclosed ones
        finding = replace(finding, disclosure_column=config.columns.disclosed,
                          disclosed=analyse(*parts[1], test.alpha, test.materiality, test.confidence))
    progress.say(f"{finding.reading}: {finding.persistence.users:,} users in shared cells in both halves; "
                 f"{sum(c.kept for c in scanned)} of {len(scanned)} columns searched as user attributes")
    return Personalisation.from_json(finding.to_json())


def write(audited: Audited, out: Path, overwrite: bool = False, progress: Progress | None = None,
          flag: str = "--overwrite") -> Path:
    """Write findings.json, report.html and rejected/ into `out`, complete or not at all."""
    progress = progress or Progress(quiet=True)
    doc = audited.findings.to_json()
    audit_record = audited.findings.audit
    with staged_output(out, overwrite, flag) as staging:
        if audited.rejected is not None:
            progress.phase("rejected", f"writing {audited.findings.data_quality.rows_rejected:,} rejected rows")
            audited.rejected.write.parquet(str(staging / "rejected"))
        progress.phase("report")
        audited.findings.write(staging / "findings.json")
        write_report(doc, staging / "report.html", audit_record.language, audit_record.min_cell_size)
    progress.done()
    return Path(out).resolve()


def write_rejected(rejected: DataFrame, out: Path, overwrite: bool = False, flag: str = "--overwrite") -> Path:
    """An audit that stopped with nothing to compare still leaves its rejected rows to inspect: `out` gets
    rejected/ (and its manifest, so that a re-run may replace it), written whole or not at all."""
    with staged_output(out, overwrite, flag) as staging:
        rejected.write.parquet(str(staging / "rejected"))
    return Path(out).resolve() / "rejected"


def release(audited: Audited) -> None:
    """Free what the audit cached in Spark (the duplicated transaction ids)."""
    audited._release()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _record(config: AuditConfig, inputs, spark: SparkSession, started: str, command: str | None,
            timings: dict[str, float], table=None) -> AuditRecord:
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
        flag_rule=config.test.flag_rule,
        timings={phase: round(seconds, 3) for phase, seconds in timings.items()},
        table=TableInput.from_json(table.to_json()) if table else None,
        labels=config.labels, match_rules=config.match, user_column=config.columns.user_id,
    )


def _notes(placebo: SelfCheckResult | None) -> tuple[str, ...]:
    """Warnings a reader must see before the findings."""
    if placebo and placebo.warning:
        return (f"Self-check failed: {placebo.rejections} of {placebo.tested} random placebo splits of "
                f"{placebo.population} were found significant at {placebo.alpha:g} ({placebo.rate:.1%}; "
                f"{placebo.confidence:.0%} interval {placebo.rate_low:.1%} to {placebo.rate_high:.1%}, above "
                f"{placebo.alpha:.0%}). The inference is not reliable on this data; each finding also carries a "
                "p-value calibrated against the splits.",)
    return ()
