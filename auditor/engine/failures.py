"""Spark's failures in one line, for the command line: what Spark said, and the setting to change.

py4j and pyspark are imported inside the functions: the command line loads this
module before it knows whether Spark will start at all.
"""

from __future__ import annotations


def spark_failure(exc: BaseException) -> str | None:
    """The first line of a Spark or Py4J error, or None for any other exception (a bug: show its trace)."""
    from py4j.protocol import Py4JError
    from pyspark.errors import PySparkException

    if isinstance(exc, ConnectionError) and _raised_in_py4j(exc):
        # The JVM is gone (in local mode a task's OutOfMemoryError ends it): the driver's next call finds
        # no one listening.
        return f"the Spark JVM stopped ({exc.strerror or type(exc).__name__})"
    if not isinstance(exc, (PySparkException, Py4JError)):
        return None
    text = _java_text(exc)
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0][:500] if lines else type(exc).__name__


# What Spark says when a task or the driver ran out of memory, in its error classes and Java's, and
# what the driver sees when the JVM ended under it (as it does after an OutOfMemoryError in local mode).
_OUT_OF_MEMORY = ("OutOfMemoryError", "AGGREGATE_OUT_OF_MEMORY", "UNABLE_TO_ACQUIRE_MEMORY", "Java heap space",
                  "GC overhead limit exceeded", "Container killed by YARN for exceeding memory",
                  "the Spark JVM stopped", "driverEndpoint()", "SparkContext was shut down",
                  "Cannot call methods on a stopped SparkContext")


def _java_text(exc: BaseException) -> str:
    """The Java exception's text, or the Python one's where the JVM can no longer be asked."""
    java = getattr(exc, "java_exception", None)
    if java is not None:
        try:
            return str(java.toString())
        except Exception:  # the JVM that held it has ended
            pass
    return str(exc)


def _raised_in_py4j(exc: BaseException) -> bool:
    tb = exc.__traceback__
    while tb is not None:
        if "py4j" in tb.tb_frame.f_code.co_filename:
            return True
        tb = tb.tb_next
    return False


def memory_hint(exc: BaseException, reason: str) -> str:
    """The setting to change when Spark ran out of memory (or the JVM died, as it does then in local mode)."""
    from py4j.protocol import Py4JNetworkError

    text = f"{reason} {_java_text(exc)}"
    if any(marker in text for marker in _OUT_OF_MEMORY) or isinstance(exc, Py4JNetworkError) or (
            "Answer from Java side is empty" in text or "Connection refused" in text):
        return (" — Spark ran out of memory or its JVM stopped: give the local driver more with "
                "`--driver-memory 16g` (spark-submit: --driver-memory / --executor-memory), or cut the work per "
                "task with `--conf spark.sql.shuffle.partitions=N` under spark-submit (N several times the "
                "partitions on the inputs line)")
    return ""
