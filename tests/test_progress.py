"""Progress lines on stderr: phases with rows processed, and silence with --quiet."""

from __future__ import annotations

import io
import re

from auditor.cli import main
from auditor.generate import generate
from auditor.progress import Progress


def test_progress_lines_name_phase_and_rate():
    stream = io.StringIO()
    progress = Progress(stream=stream)
    progress.phase("ingest", "reading")
    progress.say(f"1,000 rows read ({progress.rate(1000)})")
    timings = progress.done()
    lines = stream.getvalue().splitlines()
    assert re.fullmatch(r"\[ *\d+\.\ds\] ingest: reading", lines[0])
    assert re.fullmatch(r"\[ *\d+\.\ds\] ingest: 1,000 rows read \(([\d,]+ rows/s|instant)\)", lines[1])
    assert set(timings) == {"ingest"}


def test_cli_quiet_silences_progress_and_default_prints_it(spark, tmp_path, capsys):
    made = generate("rides", 5_000, 3, tmp_path / "sample")
    args = ["run", "--config", str(made.config_path), "--master", "local[2]"]

    assert main([*args, "--out", str(tmp_path / "loud")]) == 0
    loud = capsys.readouterr()
    phases = re.findall(r"^\[ *\d+\.\ds\] (\w+): ", loud.err, flags=re.M)
    assert {"spark", "inputs", "ingest", "match", "estimate", "report"} <= set(phases)
    assert re.search(r"ingest: 5,0\d\d rows read \([\d,]+ rows/s\)", loud.err)

    assert main([*args, "--out", str(tmp_path / "quiet"), "--quiet"]) == 0
    quiet = capsys.readouterr()
    assert quiet.err == ""
    assert "Report:" in quiet.out  # the one-line result still goes to stdout
    assert (tmp_path / "quiet" / "findings.json").exists()
