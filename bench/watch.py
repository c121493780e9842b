"""Run a command as a user would and watch its memory: the peak RSS of its JVM and of its Python.

One sampler for the benchmark, the ladder and the memory tests, so that every
peak quoted in docs/performance.md and asserted in CI is measured the same way:
the process tree's resident set every 0.2 s with psutil, summed by kind (in
local mode the one JVM runs the driver and every task).
"""

from __future__ import annotations

import subprocess
import threading
import time
from dataclasses import dataclass

import psutil

INTERVAL_S = 0.2


@dataclass(frozen=True)
class Watched:
    returncode: int
    lines: list[str]  # stdout and stderr, interleaved as printed
    seconds: float
    peak_jvm_rss: int  # bytes
    peak_python_rss: int  # bytes

    @property
    def output(self) -> str:
        return "".join(self.lines)


def watch(command: list[str], env: dict[str, str] | None = None) -> Watched:
    """Run `command` to its end, reading its output as it comes, and sample its tree's RSS."""
    started = time.monotonic()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    peak = {"jvm": 0, "python": 0}
    root = psutil.Process(proc.pid)
    while proc.poll() is None:
        try:
            usage = {"jvm": 0, "python": 0}
            for p in [root, *root.children(recursive=True)]:
                name = p.name()
                kind = "jvm" if name == "java" else "python" if name.startswith("python") else None
                if kind:
                    usage[kind] += p.memory_info().rss
            peak = {k: max(peak[k], usage[k]) for k in peak}
        except psutil.Error:
            pass  # a process of the tree ended between the listing and the reading
        time.sleep(INTERVAL_S)
    reader.join(timeout=10)
    return Watched(proc.returncode, lines, time.monotonic() - started, peak["jvm"], peak["python"])
