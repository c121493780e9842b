"""Shuffle sizing from the input's size and the executors' memory."""

from __future__ import annotations

from hypothesis import given, strategies as st

from auditor.session import MIB, shuffle_plan, task_memory

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
