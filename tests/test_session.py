"""Shuffle sizing from the input's size and the executors' memory."""

from __future__ import annotations

from hypothesis import given, strategies as st

from auditor.engine.session import MIB, shuffle_plan, task_memory
from conftest import audit_toml

GIB = 1024 * MIB


def test_a_task_with_a_gib_keeps_eight_mb_of_input_per_partition():
    # The sizing the 1M and 10M benchmarks ran with (4 GiB driver, local[2]).
    assert shuffle_plan(821 * MIB, GIB, 2) == (103, 64 * MIB)
    assert shuffle_plan(23 * MIB, GIB, 2) == (4, 64 * MIB)


def test_a_small_driver_gets_smaller_partitions_that_stay_small():
    # 1 GiB local[2] driver: ~206 MiB of execution memory per task, a fifth of a GiB,
    # so about five times the 103 partitions, and merged back to no more than ~13 MB.
    partitions, advisory = shuffle_plan(821 * MIB, 206 * MIB, 2)
    assert 500 <= partitions <= 520
    assert 12 * MIB <= advisory <= 14 * MIB


@given(st.integers(0, 10**13), st.integers(0, 64 * GIB), st.integers(1, 512))
def test_partitions_grow_with_input_and_shrink_with_memory(input_bytes, memory, slots):
    partitions, advisory = shuffle_plan(input_bytes, memory, slots)
    assert 2 * slots <= partitions
    assert partitions <= max(4000, 2 * slots)
    assert MIB * 8 <= advisory <= 64 * MIB
    assert shuffle_plan(input_bytes + 64 * MIB, memory, slots)[0] >= partitions
    assert shuffle_plan(input_bytes, memory // 2, slots)[0] >= partitions
    per_partition = advisory // 8
    if 2 * slots < partitions < 4000:  # neither floor nor cap: the input is cut to fit the task's memory
        assert per_partition <= max(MIB, memory // 128)
        assert (partitions - 1) * per_partition <= input_bytes < partitions * per_partition


def test_task_memory_matches_sparks_own_unified_pool(spark):
    memory, cores = task_memory(spark)
    # Spark's block manager reports the unified pool (execution + storage) it sized at start-up.
    status = spark.sparkContext._jsc.sc().getExecutorMemoryStatus()
    pool = status.values().head()._1()
    assert cores == 2
    assert abs(memory * 2 - pool) / pool < 0.02


# The embedded driver is sized from the machine unless the user sized it.

def test_the_default_driver_takes_half_the_machine_within_the_jvms_limits():
    from auditor.engine.session import default_driver_memory

    assert default_driver_memory(24 * GIB) == 12 * GIB
    assert default_driver_memory(int(23.5 * GIB)) == int(23.5 * GIB) // 2 // MIB * MIB
    assert default_driver_memory(GIB) == GIB  # never below PySpark's own default
    assert default_driver_memory(256 * GIB) == 31 * GIB  # compressed object pointers end at 32 GiB
    # On a machine busy with other work, no more than 60 % of what is free: a heap the kernel cannot
    # back is killed outright (seen here: a 12 GiB driver beside three other JVMs), a smaller one spills.
    assert default_driver_memory(24 * GIB, available=20 * GIB) == 12 * GIB
    assert default_driver_memory(24 * GIB, available=10 * GIB) == 6 * GIB
    assert default_driver_memory(24 * GIB, available=GIB) == GIB


def test_a_driver_the_user_sized_is_left_alone(tmp_path):
    from auditor.engine.session import MEMORY_SOURCE, driver_memory_conf, user_driver_memory

    assert user_driver_memory(None, env={}) is None
    assert user_driver_memory({"spark.driver.memory": "3g"}, env={}) == "spark.driver.memory"
    assert user_driver_memory(None, env={"PYSPARK_SUBMIT_ARGS": "--driver-memory 4g pyspark-shell"}) \
        == "PYSPARK_SUBMIT_ARGS"
    assert user_driver_memory(None, env={"SPARK_DRIVER_MEMORY": "4g"}) == "SPARK_DRIVER_MEMORY"
    (tmp_path / "spark-defaults.conf").write_text("spark.executor.memory 2g\nspark.driver.memory   6g\n")
    assert user_driver_memory(None, env={"SPARK_CONF_DIR": str(tmp_path)}) == str(tmp_path / "spark-defaults.conf")
    # The --driver-memory option wins; a cluster master's driver is not this process's to size.
    assert driver_memory_conf(None, None, "3g") == {"spark.driver.memory": "3g", MEMORY_SOURCE: "--driver-memory"}
    assert driver_memory_conf("spark://host:7077") == {}


def test_input_splits_are_sized_by_rows_not_bytes(tmp_path):
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from auditor.engine.session import ROWS_PER_SPLIT, input_rows, split_bytes

    path = tmp_path / "log.parquet"
    pq.write_table(pa.table({"x": np.arange(50_000), "s": [f"u{i % 977}" for i in range(50_000)]}), path)
    size = path.stat().st_size
    assert input_rows([str(path)], "parquet", size) == 50_000  # from the footer, exactly
    csv = tmp_path / "log.csv"
    csv.write_text("a,b\n" + "".join(f"{i},{i * 7}\n" for i in range(100_000)))
    estimate = input_rows([str(csv)], "csv", csv.stat().st_size)
    assert abs(estimate - 100_000) / 100_000 < 0.1  # from the first MiB's lines
    # A tightly encoded file (few bytes a row) gets small splits; a wide one large; both hold the same rows.
    assert split_bytes(10 * 2**30, 1_000_000_000) == 10 * 2**30 * ROWS_PER_SPLIT // 1_000_000_000
    assert split_bytes(100 * MIB, 10_000_000) == 10 * MIB
    assert split_bytes(100 * GIB, 10_000_000) == 128 * MIB  # Spark's default is the ceiling
    assert split_bytes(MIB // 2, 10_000_000) == MIB
    assert split_bytes(100 * MIB, None) is None


def test_ingests_row_sized_caches_live_on_disk(spark, tmp_path):
    """The classified rows are cached on disk only: in memory they would hold Spark's storage pool
    against the estimate, and a block read back into memory is read whole."""
    import pandas as pd

    from auditor.spec import parse_config
    from auditor.engine.ingest import ingest

    data = tmp_path / "log.parquet"
    pd.DataFrame({"t": ["a", "b", "c"], "u": ["x", "y", "z"], "ts": pd.to_datetime(["2026-01-01"] * 3, utc=True),
                  "p": [1.0, 2.0, 3.0], "os": ["ios", "android", "ios"]}).to_parquet(data)
    config = parse_config(audit_toml(input={"path": str(data)}, match={"exact": []},
                                     columns={"transaction_id": "t", "user_id": "u", "timestamp": "ts", "price": "p"}))
    ingested = ingest(spark, config)
    try:
        level = ingested.cached.storageLevel
        assert (level.useDisk, level.useMemory) == (True, False)
    finally:
        ingested.release()
