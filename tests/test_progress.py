"""Progress lines on stderr: phases with rows processed, and silence with --quiet."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

from auditor.cli import main
from auditor.synth import generate
from auditor.progress import Progress


def test_progress_lines_name_phase_and_rate():
    stream = io.StringIO()
    progress = Progress(stream=stream)
    progress.phase("ingest", "reading")
    progress.say(f"1,000 rows read{progress.rate(1000)}")
    progress.phase_started -= 20  # a phase of 20 s over 5M rows: a rate worth printing
    progress.say(f"5,000,000 rows read{progress.rate(5_000_000)}")
    timings = progress.done()
    lines = stream.getvalue().splitlines()
    assert re.fullmatch(r"\[ *\d+\.\ds\] ingest: reading", lines[0])
    assert re.fullmatch(r"\[ *\d+\.\ds\] ingest: 1,000 rows read", lines[1])  # start-up, not a rate
    found = re.fullmatch(r"\[ *\d+\.\ds\] ingest: 5,000,000 rows read \(([\d,]+) rows/s\)", lines[2])
    assert found and 200_000 <= int(found[1].replace(",", "")) <= 250_000
    assert set(timings) == {"ingest"}


def test_cli_quiet_silences_progress_and_default_prints_it(spark, tmp_path, capsys):
    made = generate("rides", 5_000, 3, tmp_path / "sample")
    args = ["run", "--config", str(made.config_path), "--master", "local[2]"]

    assert main([*args, "--out", str(tmp_path / "loud")]) == 0
    loud = capsys.readouterr()
    phases = re.findall(r"^\[ *\d+\.\ds\] (\w+): ", loud.err, flags=re.M)
    assert {"spark", "inputs", "ingest", "estimate", "report"} <= set(phases)
    assert re.search(r"ingest: 5,0\d\d rows read, ", loud.err)  # no rate on a start-up-sized input
    assert "rows/s" not in loud.err

    assert main([*args, "--out", str(tmp_path / "quiet"), "--quiet"]) == 0
    quiet = capsys.readouterr()
    assert quiet.err == "" and quiet.out == ""  # success says nothing; the exit code says it worked
    assert (tmp_path / "quiet" / "findings.json").exists()


def test_quiet_run_prints_nothing_from_the_first_line_of_a_fresh_process(tmp_path):
    """A real `auditor run --quiet` in its own process: no progress, no result line and none of Spark's
    start-up warnings (native-hadoop, hostname, UI port), which come before any setLogLevel could act."""
    made = generate("rides", 3_000, 5, tmp_path / "sample")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run([sys.executable, "-m", "auditor", "run", "--config", str(made.config_path),
                           "--out", str(tmp_path / "audit"), "--master", "local[1]", "--quiet"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert (tmp_path / "audit" / "report.html").exists()


def test_a_run_without_quiet_prints_progress_and_nothing_of_the_jvm_s_start_up(tmp_path):
    """Every stderr line of a fresh `auditor run` is a progress line: no Java incubator-module notice, no
    Spark start-up warning."""
    made = generate("rides", 3_000, 5, tmp_path / "sample")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run([sys.executable, "-m", "auditor", "run", "--config", str(made.config_path),
                           "--out", str(tmp_path / "audit"), "--master", "local[1]"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "incubator" not in done.stderr
    assert all(re.match(r"\[ *\d+\.\ds\] [\w-]+: ", line) for line in done.stderr.splitlines()), done.stderr
    assert re.fullmatch(r"\d+ comparisons, \d+ flagged\. Report: .*report\.html\n", done.stdout)


def test_ctrl_c_mid_audit_prints_one_line_and_exits_130(tmp_path):
    """SIGINT once Spark is scanning: `interrupted: no output was written`, exit 130, no py4j traceback,
    and nothing written."""
    import signal
    import time
    made = generate("rides", 200_000, 5, tmp_path / "sample")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    out = tmp_path / "audit"
    child = subprocess.Popen([sys.executable, "-m", "auditor", "run", "--config", str(made.config_path),
                              "--out", str(out), "--master", "local[1]"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    seen = []
    for line in child.stderr:  # wait until the audit is under way in Spark
        seen.append(line)
        if re.search(r"\] (ingest|estimate): ", line):
            break
    time.sleep(2)
    child.send_signal(signal.SIGINT)
    rest = child.communicate(timeout=300)[1]
    assert child.returncode == 130, rest
    after = [line for line in rest.splitlines() if not re.match(r"\[ *\d+\.\ds\] [\w-]+: ", line)]
    assert after == ["interrupted: no output was written"], rest
    assert not out.exists() and not list(tmp_path.glob(".audit.*"))
