"""Everything Spark: the session, inputs and catalog tables, reading and classifying rows, the estimate's
plan, evidence. Nothing outside this package imports pyspark (tests/test_engine.py checks it).

The rest of the audit sees the engine through `Engine`: comparisons (auditor.summaries.plan) go in,
summaries come out. This module itself imports no Spark, so the command line can load the engine's
names (and fail fast on a bad config) before Spark is even imported.

    session    the Spark session, sized from the machine; shuffle and input split sizing
    catalog    catalog table inputs: lookup, where check, partitions and files read
    ingest     read, classify every row once, count
    match      cell keys: exact keys, time bucket, bins
    estimate   SparkEngine: per-cell and per-user summaries of every comparison in one pass
    placebos   the self-check's population as bounded (cell, user) sums
    failures   Spark's errors in one line, with the setting to change
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # the package itself imports nothing heavy: the command line loads it before Spark
    from auditor.stats.placebo import PlaceboPairs
    from auditor.summaries import Balance, Comparison, ComparisonData, LeftOut


class Engine(Protocol):
    """What the audit asks of an estimate engine (SparkEngine is the one there is)."""

    def estimate(self, items: tuple[Comparison, ...], evidence: bool = True) -> dict[int, ComparisonData]:
        """The main pass: every comparison, with evidence cells; keeps what left_out reads."""

    def variants(self, items: tuple[Comparison, ...]) -> dict[int, ComparisonData]:
        """Re-estimates under other matching rules."""

    def left_out(self, items: tuple[Comparison, ...], values: list[str]) -> list[LeftOut]:
        """Each comparison without the cells of each value of the leave-out key."""

    def balance(self, items: tuple[Comparison, ...]) -> dict[int, list[Balance]]:
        """Where group and reference purchases sit within their time bucket and bins."""

    def placebo_pairs(self) -> PlaceboPairs | None:
        """The self-check's population (the first segment's reference users) as (cell, user) sums."""

    def common_values(self, column: str, limit: int) -> list[str]:
        """The commonest values of a column among the accepted purchases."""

    def release(self) -> None:
        """Free what the main pass kept."""
