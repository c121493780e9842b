"""Pure statistics over small summaries: numpy and scipy only, no Spark, no reports."""
