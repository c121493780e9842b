"""One Spark session for the whole suite: local[2], UI off, few shuffle partitions."""

from __future__ import annotations

import pytest

from auditor.engine.session import spark_session


@pytest.fixture(scope="session")
def spark():
    session = spark_session("local[2]", app_name="auditor-tests", extra_conf={
        "spark.ui.enabled": "false",
        "spark.sql.shuffle.partitions": "4",
        "spark.default.parallelism": "2",
        "spark.driver.memory": "2g",
    })
    yield session
    session.stop()
