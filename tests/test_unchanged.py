"""Moving code must not change what the audit says: the demo's findings.json and the text of its
reports in both languages are compared with a baseline recorded before the packages moved.

The baseline (tests/baselines/demo/) was recorded from main at ec09274, before the code moved into
spec/, findings/, report/, synth/ and starter/, with

    auditor demo --out OUT --rows 20000 --quiet
    auditor report OUT/audit/findings.json --language zh-CN

and `python tests/test_unchanged.py OUT` (which writes the files below from that folder). Only the
schema version, the times (started, finished, phase timings) and the output folder may differ, and
what another machine changes: the Spark master, Spark's and Python's versions, the generated Parquet
file's bytes and SHA-256 (pyarrow writes its own version into it); numbers are equal to 1e-9 (another
machine's core count changes Spark's partitions, hence the last bits of sums).
An intended change to the findings or the report re-records the baseline the same way, in its own commit.
"""

from __future__ import annotations

import html
import json
import math
import re
import subprocess
import sys
from pathlib import Path

BASELINE = Path(__file__).parent / "baselines" / "demo"
ROWS = "20000"
# Times as the findings and both reports write them; the Spark master (local[*] or the suite's local[2]).
TIMES = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?[+-]\d{2}:\d{2}"
                   r"|[A-Z][a-z]{2} \d{1,2}, \d{4}, \d{1,2}:\d{2}:\d{2}\s?[AP]M UTC"
                   r"|\d{4}年\d{1,2}月\d{1,2}日 \d{2}:\d{2}:\d{2} UTC")
MASTER = re.compile(r"local\[[^\]]*\]")
VERSIONS = re.compile(r"Apache Spark \S+ · Python \S+")
# The input file's line in the provenance table, then its size and SHA-256 (the config's stays).
INPUT_FILE = re.compile(r"^(OUT/sample/data/\S+)\n[^\n]*\n[^\n]*$", re.M)


def findings_record(path: Path, out: Path) -> dict:
    """findings.json without what may differ: the schema version, times and the output folder."""
    doc = json.loads(path.read_text(encoding="utf-8").replace(str(out), "OUT"))
    doc.pop("schema_version", None)
    for key in ("started_at", "finished_at", "timings", "spark_version", "python_version"):
        doc["audit"].pop(key, None)
    doc["audit"]["spark_master"] = MASTER.sub("local[N]", doc["audit"]["spark_master"])
    doc["audit"]["inputs"] = [{"path": f["path"]} for f in doc["audit"]["inputs"]]
    return doc


def report_text(path: Path, out: Path) -> str:
    """The report as a reader sees it: the text of every element (chart labels included), one line each."""
    page = path.read_text(encoding="utf-8").replace(str(out), "OUT")
    page = re.sub(r"<style.*?</style>", " ", page, flags=re.S)
    lines = (" ".join(html.unescape(part).split()) for part in re.split(r"<[^>]+>", page))
    text = "\n".join(VERSIONS.sub("VERSIONS", MASTER.sub("local[N]", TIMES.sub("TIME", line)))
                     for line in lines if line) + "\n"
    return INPUT_FILE.sub(r"\1\nSIZE\nSHA-256", text)


def same(a, b, where="") -> list[str]:
    """Where two JSON documents differ, numbers compared to 1e-9."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b)) for d in
                (same(a[k], b[k], f"{where}.{k}") if k in a and k in b else [f"{where}.{k}: only in one"])]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{where}: {len(a)} items, now {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in same(x, y, f"{where}[{i}]")]
    if isinstance(a, float) or isinstance(b, float):
        if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool) \
                and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12):
            return []
    return [] if a == b else [f"{where}: {a!r}, now {b!r}"]


def record(out: Path, into: Path = BASELINE) -> None:
    """Write the baseline files from a demo folder (OUT/audit/ with both reports)."""
    audit = out / "audit"
    into.mkdir(parents=True, exist_ok=True)
    (into / "findings.json").write_text(json.dumps(findings_record(audit / "findings.json", out), indent=1,
                                                   ensure_ascii=False) + "\n", encoding="utf-8")
    for name in ("report.html", "report.zh-CN.html"):
        (into / f"{name}.txt").write_text(report_text(audit / name, out), encoding="utf-8")


def test_the_demo_says_what_it_said_before_the_code_moved(tmp_path):
    out = tmp_path / "demo"
    demo = subprocess.run([sys.executable, "-m", "auditor", "demo", "--out", str(out), "--rows", ROWS, "--quiet"],
                          capture_output=True, text=True)
    assert demo.returncode == 0, demo.stderr
    report = subprocess.run([sys.executable, "-m", "auditor", "report", str(out / "audit" / "findings.json"),
                             "--language", "zh-CN"], capture_output=True, text=True)
    assert report.returncode == 0, report.stderr
    now = tmp_path / "now"
    record(out, now)
    before = json.loads((BASELINE / "findings.json").read_text(encoding="utf-8"))
    after = json.loads((now / "findings.json").read_text(encoding="utf-8"))
    assert not same(before, after), same(before, after)[:20]
    for name in ("report.html.txt", "report.zh-CN.html.txt"):
        assert (now / name).read_text(encoding="utf-8") == (BASELINE / name).read_text(encoding="utf-8"), name


if __name__ == "__main__":
    record(Path(sys.argv[1]))
