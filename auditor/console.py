"""The Spark JVM's stderr as the terminal shows it: passed on line by line without Java's incubator-module
notice, or sent nowhere with --quiet."""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading

# Java's own start-up notice for the module Spark 4's launcher always adds (--add-modules=jdk.incubator.vector,
# in org.apache.spark.launcher.JavaModuleOptions, for MLlib's vectorised BLAS). The JVM prints it while it boots,
# before any log setting applies, and no JVM option turns it off (JDK 17/21); nor can the launcher be told to
# leave the module out. It is this exact line and no other that the filter below drops.
JVM_INCUBATOR_NOTICE = re.compile(rb"WARNING: Using incubator modules: [\w.]+(, [\w.]+)*\r?\n?")


@contextlib.contextmanager
def jvm_stderr(quiet: bool):
    """The stderr the Spark JVM this process launches inherits (it is launched inside this block).

    With --quiet, /dev/null: the JVM prints start-up lines no log setting reaches; Spark's failures still
    reach the user, as the exceptions the CLI turns into one line. Without it, a pipe whose every line is
    passed on to this process's stderr as it comes, except Java's incubator-module notice (see
    JVM_INCUBATOR_NOTICE): real errors from the JVM still show, unchanged."""
    sys.stderr.flush()
    saved = os.dup(2)
    if quiet:
        target = os.open(os.devnull, os.O_WRONLY)
    else:
        source, target = os.pipe()
        threading.Thread(target=forward_jvm_stderr, args=(source, os.dup(saved)), daemon=True,
                         name="jvm-stderr").start()
    try:
        os.dup2(target, 2)  # inherited by the JVM launched inside this block
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(target)  # the JVM keeps its own copy; the pipe ends when the JVM does


def forward_jvm_stderr(source: int, sink: int) -> None:
    """Copy the JVM's stderr to ours line by line, leaving out only Java's incubator-module notice."""
    with os.fdopen(source, "rb") as lines, os.fdopen(sink, "wb", buffering=0) as out:
        for line in lines:
            if JVM_INCUBATOR_NOTICE.fullmatch(line):
                continue
            try:
                out.write(line)
            except OSError:  # our stderr is gone: keep draining so the JVM never blocks on a full pipe
                continue
