"""Command line: `auditor run | validate | report | generate | demo | compare | init`."""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import sys
import threading
from pathlib import Path

from auditor import __version__
from auditor.vocabulary import LANGUAGES, Verdict
from auditor.errors import AuditError, NothingToCompare
from auditor.progress import Progress
from auditor.engine.failures import memory_hint, spark_failure
from auditor.console import jvm_stderr as _jvm_stderr


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    progress = Progress(quiet=getattr(args, "quiet", False))
    try:
        return args.handler(args, progress)
    except BrokenPipeError:
        # The reader went away (`auditor compare A B | head -3`): stop quietly, as `cat` would. Python's
        # final flush of stdout would fail again, so stdout now points at /dev/null.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a writer cut off by its reader
    except AuditError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        if _interrupted:  # a gateway call the interrupt broke, raised while unwinding: still the interrupt
            print("interrupted: no output was written", file=sys.stderr)
            return 130
        reason = spark_failure(exc)
        if reason is None:
            raise
        # Spark gave up (lost executors past retry, an unreadable file, the JVM gone): the staged
        # output was removed, so say so plainly instead of printing a Java stack.
        print(f"error: Spark failed during the audit, and no output was written: {reason}{memory_hint(exc, reason)}",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        _silence_py4j()  # and py4j's logs of the gateway connection closing at exit
        print("interrupted: no output was written", file=sys.stderr)
        return 130


def _silence_py4j() -> None:
    """Py4J logs each gateway call an interrupt cuts short, with its traceback, through Python's logging
    (partly the root logger): after an interrupt those are the expected end of the calls in flight, not
    news for the user, and nothing else is logged before the process ends."""
    import logging

    logging.disable(logging.CRITICAL)


_interrupted = False  # set by the SIGINT handler: whatever the interrupt breaks next, it is the interrupt


@contextlib.contextmanager
def _interrupts_end_quietly():
    """Ctrl-C during an audit: py4j's logging is silenced before anything else, then KeyboardInterrupt
    is raised, and main prints one line. Spark's own handler is not called from here: it cancels the jobs
    through the gateway connection the interrupted call is still reading (py4j then logs a reentrant-call
    error); the JVM ends with this process instead, its gateway's stdin closed."""
    import signal

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)

    def interrupted(signum, frame):
        global _interrupted
        _interrupted = True
        _silence_py4j()
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupted)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _memory_size(text: str) -> str:
    """A JVM memory size as Spark takes it (512m, 8g): checked here, not after Spark's start-up."""
    import re

    if not re.fullmatch(r"[0-9]+[kKmMgGtT]?", text.strip()) or text.strip().rstrip("kKmMgGtT") == "0":
        raise argparse.ArgumentTypeError(f"{text!r} is not a memory size: write e.g. 8g or 12000m")
    return text.strip().lower()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="auditor", description="Audit platform transaction logs for price discrimination (大数据杀熟).")
    parser.add_argument("--version", action="version", version=f"auditor {__version__}")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="audit a log as described by a TOML config")
    run.add_argument("--config", required=True, type=Path, help="the audit's TOML file")
    run.add_argument("--out", required=True, type=Path, help="output folder (findings.json, report.html, rejected/)")
    run.add_argument("--master", help="Spark master URL (default: local[*], or spark-submit's)")
    run.add_argument("--driver-memory", metavar="SIZE", type=_memory_size, help=(
        "heap of the embedded local Spark driver, e.g. 8g (default: half of this machine's memory; "
        "under spark-submit use its own --driver-memory)"))
    run.add_argument("--overwrite", action="store_true", help="replace --out if it exists (atomically)")
    run.add_argument("--language", choices=LANGUAGES,
                     help="language of report.html (default: the config's [report] language, else en)")
    run.add_argument("--quiet", action="store_true",
                     help="print nothing on success: no progress, no Spark log, no result line (errors still print)")
    run.set_defaults(handler=_run)

    validate = sub.add_parser("validate", help="check a config and its input without Spark, and say what the audit would do")
    validate.add_argument("--config", required=True, type=Path, help="the audit's TOML file")
    validate.add_argument("--sample-rows", type=int, default=10_000,
                          help="rows read (without Spark) to sample segment values (default: 10000)")
    validate.set_defaults(handler=_validate)
    report = sub.add_parser("report", help="re-render report.html from an archived findings.json (no Spark)")
    report.add_argument("findings", type=Path, metavar="FINDINGS.json", help="a findings.json an audit wrote")
    report.add_argument("--language", choices=LANGUAGES,
                        help="report language (default: the language the audit was run with)")
    report.add_argument("--out", type=Path, help="HTML file to write (default: report.LANGUAGE.html beside "
                                                 "FINDINGS.json)")
    report.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    report.add_argument("--quiet", action="store_true", help="print nothing on success")
    report.set_defaults(handler=_report)

    gen = sub.add_parser("generate", help="write synthetic platform logs with planted premiums, and their audit.toml")
    gen.add_argument("--scenario", default="rides", help=(
        "log scenario (default: rides): rides (iOS and loyalty premiums, a Simpson trap), hotel (diamond "
        "list-price premium), reseller (a channel markup, not a premium), coupons (equal list prices, unequal "
        "coupons), quotes (quote and purchase rows, drift after the quote), steering (pricier car levels, equal "
        "prices), loyalty (price rises with prior orders), null (nothing planted); four weeks of rides for 'is pricing "
        "personalised?': personal_null (nothing personal), personal_wtp (a hidden willingness-to-pay score, "
        "sd 3 %%, in no column), personal_phone (fares by phone model, a column no segment names), "
        "personal_tests (randomised price tests, a random arm per passenger per week)"))
    gen.add_argument("--rows", type=int, default=300_000, help="rows to write (default: 300000)")
    gen.add_argument("--seed", type=int, default=2026, help="random seed (default: 2026)")
    gen.add_argument("--format", default="parquet", choices=("parquet", "csv", "json"),
                     help="file format of the log (default: parquet; csv has a header row, json is JSON lines)")
    gen.add_argument("--out", required=True, type=Path, help="folder for data/, audit.toml and truth.json")
    gen.add_argument("--overwrite", action="store_true",
                     help="replace files in --out that an earlier generate did not write or that were edited since")
    gen.add_argument("--quiet", action="store_true", help="print nothing on success")
    gen.set_defaults(handler=_generate)

    compare = sub.add_parser("compare", help="compare an audit's findings with an earlier audit's")
    compare.add_argument("old", type=Path, help="the earlier audit's findings.json")
    compare.add_argument("new", type=Path, help="the later audit's findings.json")
    compare.add_argument("--language", default="en", choices=("en", "zh-CN"), help="language of the sentences")
    compare.set_defaults(handler=_compare)

    init = sub.add_parser("init", help="propose a commented starter config from a sample of a log")
    init.add_argument("--input", required=True, help="the log: a file, folder or glob")
    init.add_argument("--format", default=None, choices=("parquet", "csv", "json"),
                      help="the log's format (default: from the file name)")
    init.add_argument("--out", type=Path, default=Path("audit.toml"), help="the config to write (default: audit.toml)")
    init.add_argument("--rows", type=int, default=20_000, help="rows to sample from the start (default: 20000)")
    init.add_argument("--csv-delimiter", default=",", help="CSV field separator (default: ,)")
    init.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    init.set_defaults(handler=_init)

    demo = sub.add_parser("demo", help="generate a sample, audit it, and print where the report is")
    demo.add_argument("--out", type=Path, default=Path("demo-out"), help="folder for the sample and the audit")
    demo.add_argument("--rows", type=int, default=300_000, help="synthetic rows to generate (default: 300000)")
    demo.add_argument("--master", help="Spark master URL (default: local[*])")
    demo.add_argument("--driver-memory", metavar="SIZE", type=_memory_size,
                      help="heap of the embedded local Spark driver (default: half of this machine's memory)")
    demo.add_argument("--language", choices=LANGUAGES, help="report language (default: en)")
    demo.add_argument("--overwrite", action="store_true",
                      help="replace sample files in OUT/sample edited since the demo wrote them (e.g. audit.toml)")
    demo.add_argument("--quiet", action="store_true",
                      help="print only the report's path: no progress, no Spark log")
    demo.set_defaults(handler=_demo)
    return parser


def _run(args, progress: Progress) -> int:
    import dataclasses

    from auditor.spec import check_placeholders, load_config

    config = load_config(args.config)  # a bad config stops here, before Spark starts
    check_placeholders(config)
    if args.language:
        config = dataclasses.replace(config, report=dataclasses.replace(config.report, language=args.language))
    _check_input_path(config)
    return _audit(config, args.out, args.master, args.overwrite, progress, args.driver_memory)


def _check_input_path(config) -> None:
    """A local input path that does not exist stops the run before Spark starts, saying where a relative
    path was looked for (a copied audit.toml keeps its relative path, now taken from the copy's folder)."""
    import glob
    import tomllib

    from auditor.errors import AuditInputError

    path = config.input.path
    if config.input.table or "://" in path or glob.has_magic(path) or Path(path).exists():
        return
    written = str(tomllib.loads(config.source_text).get("input", {}).get("path", path))
    if Path(written).is_absolute() or config.source_path is None:
        return  # pre-flight says so, in its words
    folder = Path(config.source_path).resolve().parent
    raise AuditInputError(
        f"[input] path = {written!r} does not exist: relative paths are taken from the config file's folder "
        f"({folder}), so it points to {path}; give an absolute path or move the config beside its data")


def _audit(config, out: Path, master: str | None, overwrite: bool, progress: Progress,
           driver_memory: str | None = None) -> int:
    from auditor.output import check_target
    from auditor.preflight import preflight

    check_target(out, overwrite)  # refuse an existing --out before Spark starts
    preflight(config)  # and a missing, empty or mislabelled input, before Spark is even imported
    from auditor.api import Audit
    from auditor.engine.session import spark_session

    progress.phase("spark", "starting Spark")
    with _jvm_stderr(progress.quiet):
        spark = spark_session(master, driver_memory=driver_memory)
    progress.say(f"Spark {spark.version} on {spark.sparkContext.master}")
    with _interrupts_end_quietly():  # installed after Spark's own SIGINT handler, which it then calls
        try:
            result = Audit(config).run(spark, progress=progress, command=shlex.join(["auditor", *sys.argv[1:]]))
        except NothingToCompare as exc:
            if exc.rejected is None:
                raise
            from auditor.pipeline import write_rejected
            written = write_rejected(exc.rejected, out, overwrite)
            raise NothingToCompare(f"{exc}; each rejected row, with its reason, is in {written}/") from None
        result.write(out, overwrite=overwrite, progress=progress, _flag="--overwrite")
    findings = result.document.findings
    flagged = sum(f.verdict == Verdict.FLAGGED for f in findings)
    fragile = sum(f.verdict == Verdict.FLAGGED_NOT_ROBUST for f in findings)
    if not progress.quiet:
        counted = f"{flagged} flagged" + (f", {fragile} flagged but not robust" if fragile else "")
        print(f"{len(findings)} comparisons, {counted}. Report: {Path(out).resolve() / 'report.html'}")
    return 0


def _validate(args, progress: Progress) -> int:
    import time

    from auditor.spec import check_placeholders, load_config
    from auditor.validate import summary

    started = time.perf_counter()
    config = load_config(args.config)
    check_placeholders(config)
    print(summary(config, args.config, sample_rows=args.sample_rows, started=started))
    return 0


def _report(args, progress: Progress) -> int:
    """Re-render a report from findings.json alone: no Spark, any language."""
    import os
    import tempfile

    from auditor.errors import AuditOutputError
    from auditor.findings import load
    from auditor.output import record_in_manifest
    from auditor.report import write_report

    doc = load(args.findings)
    language = args.language or doc.audit.language or "en"
    if language not in LANGUAGES:
        language = "en"
    out = args.out or args.findings.resolve().parent / f"report.{language}.html"
    if out.exists() and not args.overwrite:
        raise AuditOutputError(f"{out} exists: give another --out, or --overwrite to replace it")
    min_cell_size = doc.audit.min_cell_size
    # Written beside the target and renamed into place: a failed render leaves the old file whole.
    handle, staging = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.resolve().parent)
    os.close(handle)
    try:
        write_report(doc, Path(staging), language, min_cell_size)
        # mkstemp makes the file private (0600); a report is a file like any other the user writes
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(staging, 0o666 & ~umask)
        os.replace(staging, out)
    finally:
        if os.path.exists(staging):
            os.unlink(staging)
    # Beside its audit's findings, the new report joins the folder's manifest: a re-run may replace it.
    if out.resolve().parent == args.findings.resolve().parent:
        record_in_manifest(out)
    if not progress.quiet:
        print(f"Report ({language}): {out.resolve()}")
    return 0


def _generate(args, progress: Progress) -> int:
    from auditor.synth import generate

    try:
        made = generate(args.scenario, args.rows, args.seed, args.out, fmt=args.format, overwrite=args.overwrite,
                        flag="--overwrite")
    except ValueError as exc:
        raise AuditError(str(exc)) from None
    if not progress.quiet:
        print(f"wrote {made.rows:,} rows to {made.data_path}\nconfig: {made.config_path}\ntruth: {made.truth_path}")
    return 0


def _compare(args, progress: Progress) -> int:
    from auditor.findings import compare, load_findings, same_audit
    from auditor.report import change_sentences, same_audit_sentence, segment_columns

    before, after = load_findings(args.old, "OLD"), load_findings(args.new, "NEW")
    if same_audit(before, after):
        print(same_audit_sentence(after, args.language))
        return 0
    changes = compare(before, after, before_path=str(args.old), after_path=str(args.new))
    text = change_sentences(changes, args.language, after.audit.labels, segment_columns(before, after))
    lines = [text["earlier"], *(c["text"] for c in text["compared"]), *text["not_comparable"]]
    lines += [line for line in (text["only_before"], text["only_after"]) if line]
    print("\n".join(lines))
    return 0


def _init(args, progress: Progress) -> int:
    from auditor.spec import check_placeholders, load_config
    from auditor.starter import guess_format, init

    fmt = args.format or guess_format(args.input)
    if args.rows < 100:
        raise AuditError(f"--rows {args.rows}: sample at least 100 rows")
    proposal = init(args.input, fmt, args.out, rows=args.rows, overwrite=args.overwrite,
                    delimiter=args.csv_delimiter)
    roles = ", ".join(f"{role} = {column or 'TODO'}" for role, column in proposal.roles.items())
    print(f"wrote {args.out} from {proposal.sample_rows:,} sampled rows: {roles}")
    try:
        check_placeholders(load_config(args.out))
    except AuditError as exc:
        print(f"to do before running: {exc}")
    else:
        print(f"check every proposal in {args.out}, then: auditor run --config {args.out} --out DIR")
    return 0


def _demo(args, progress: Progress) -> int:
    import dataclasses

    from auditor.spec import load_config
    from auditor.synth import generate
    from auditor.output import check_target

    # Everything the demo would replace is checked before it writes anything: the audit folder (a previous
    # demo's output, reports added by `auditor report` included), then the sample's own files.
    check_target(args.out / "audit", True)
    progress.phase("generate", f"{args.rows:,} synthetic ride-hailing rows")
    try:
        made = generate("rides", args.rows, 2026, args.out / "sample", overwrite=args.overwrite, flag="--overwrite")
    except ValueError as exc:
        raise AuditError(str(exc)) from None
    config = load_config(made.config_path)
    if args.language:
        config = dataclasses.replace(config, report=dataclasses.replace(config.report, language=args.language))
    code = _audit(config, args.out / "audit", args.master, True, progress, args.driver_memory)
    if progress.quiet:
        print((args.out / "audit" / "report.html").resolve())
    return code
