"""Comparability cells: purchases agreeing on the exact keys, time bucket and bins."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from auditor.spec import MatchSpec
from auditor.engine.ingest import TS

TIME_BUCKET = "__time_bucket"


def cell_columns(match: MatchSpec) -> list[str]:
    """The columns whose values together name a cell."""
    cols = list(match.exact)
    if match.time_bucket_seconds:
        cols.append(TIME_BUCKET)
    cols += [name for name, _ in match.bins]
    return cols


def bucket_start(width: int) -> Column:
    """Epoch seconds at the start of a purchase's time bucket of `width` seconds.

    Buckets of a day or less are aligned to local midnight (the session's time zone
    is the config's), so '1h' means a clock hour and '1d' a calendar day.
    """
    seconds = F.unix_seconds(F.col(TS))
    if width <= 86400:
        midnight = F.unix_seconds(F.date_trunc("DAY", F.col(TS)))
        start = midnight + F.floor((seconds - midnight) / width) * width
    else:
        start = F.floor(seconds / width) * width
    return start.cast("long")


def with_cells(accepted: DataFrame, match: MatchSpec) -> DataFrame:
    """Add the time bucket and replace binned columns by their bin's lower edge.

    Time buckets of a day or less are aligned to local midnight (the session's
    time zone is the config's), so '1h' means a clock hour and '1d' a calendar day.
    """
    frame = accepted
    width = match.time_bucket_seconds
    if width:
        frame = frame.withColumn(TIME_BUCKET, bucket_start(width))
    if match.bins:
        frame = frame.withColumns({
            name: F.floor(F.col(f"`{name}`") / width) * width for name, width in match.bins})
    return frame
