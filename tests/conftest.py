"""One Spark session for the whole suite: local[2], UI off, few shuffle partitions.

Tests that start Spark are marked `spark`, automatically: those that use the `spark` fixture (directly
or through another fixture), and those whose code (the test, its fixtures and the module's helpers
they call) starts a JVM itself — a standalone cluster, a Spark session, or `auditor run`/`demo`,
spark-submit or jobs/audit.py in a child process. `python -m pytest -m "not spark"` runs the rest
(statistics, config, vocabulary, findings, report, generator, starter) without a JVM; there, a test
that still reaches Spark fails and says to mark it. The fast lane also leaves out `slow` tests
(`-m "not spark and not slow"`: the validation study's Monte Carlo checks).

`audit_toml(**tables)` is the suite's one config builder: a small valid audit.toml, any table
replaced or extended by keyword (`audit_toml(input={"path": ...}, test={"materiality": 0.02})`),
written by the config's own TOML writer. The `config_file` fixture writes one to a file.
"""

from __future__ import annotations

import ast
import functools
import inspect
import re
import textwrap
from pathlib import Path

import pytest

from auditor.engine.session import spark_session
from auditor.spec import to_toml

# The smallest config the suite's logs share: a table given to audit_toml replaces these keys (None drops one).
DEFAULT_TABLES = {
    "audit": {"name": "t", "platform": "P"},
    "input": {"path": "x.parquet", "format": "parquet"},
    "columns": {"transaction_id": "order_no", "user_id": "passenger_id", "timestamp": "req_time", "price": "fare"},
    "match": {"exact": ["city"], "time_bucket": "1h"},
    "segments": [{"name": "Device", "column": "os", "reference": "android", "groups": ["ios"]}],
}


def audit_toml(**tables) -> str:
    """An audit config's TOML text: the default tables, each key given here replacing the default's
    (a dict table is merged key by key, None drops a key or a table; a list, e.g. segments, replaces)."""
    merged = {name: (dict(table) if isinstance(table, dict) else table) for name, table in DEFAULT_TABLES.items()}
    for name, table in tables.items():
        if table is None:
            merged.pop(name, None)
        elif isinstance(table, dict) and isinstance(merged.get(name), dict):
            merged[name].update(table)
            merged[name] = {k: v for k, v in merged[name].items() if v is not None}
        else:
            merged[name] = table
    return to_toml(merged)


@pytest.fixture
def config_file(tmp_path):
    """Write an audit config (audit_toml's keywords) to a file in the test's folder; returns its path."""
    def write(name: str = "audit.toml", **tables) -> Path:
        path = tmp_path / name
        path.write_text(audit_toml(**tables), encoding="utf-8")
        return path
    return write

# Code that starts a JVM other than through the `spark` fixture.
STARTS_SPARK = re.compile(r'StandaloneCluster|\bspark_session\(|SparkSession\.builder|spark-submit|jobs/audit\.py'
                          r'|"-m",\s*"auditor",\s*"(run|demo)"')


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


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "spark" in getattr(item, "fixturenames", ()) or _starts_spark(item):
            item.add_marker(pytest.mark.spark)


def _starts_spark(item) -> bool:
    """Whether the test's own code, its fixtures' or the module helpers they call start Spark."""
    module = getattr(item, "module", None)
    function = getattr(item, "function", None)
    if module is None or function is None:
        return False
    fixtures = item._fixtureinfo.name2fixturedefs if hasattr(item, "_fixtureinfo") else {}
    return any(_code_starts_spark(code, module) for code in (function, *(d[-1].func for d in fixtures.values() if d)))


@functools.cache
def _code_starts_spark(code, module) -> bool:
    """Whether a function of the test module, or a module function it calls (transitively), starts Spark."""
    todo, seen = [code], set()
    while todo:
        code = todo.pop()
        if code in seen or getattr(code, "__module__", None) != module.__name__:
            continue
        seen.add(code)
        try:
            source = textwrap.dedent(inspect.getsource(code))
        except (OSError, TypeError):
            continue
        if STARTS_SPARK.search(source):
            return True
        called = {n.id for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Name)}
        todo += [getattr(module, name) for name in called if inspect.isfunction(getattr(module, name, None))]
    return False


@pytest.fixture(autouse=True)
def _spark_only_when_marked(request, monkeypatch):
    """In a test not marked `spark`, starting a session fails the test: the fast lane stays fast."""
    if request.node.get_closest_marker("spark") is None:
        def refuse(*args, **kwargs):
            pytest.fail("this test starts Spark: give it the `spark` fixture (or teach tests/conftest.py how it "
                        "starts Spark) so that it is marked `spark`")
        monkeypatch.setattr("auditor.engine.session.spark_session", refuse)
