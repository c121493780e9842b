"""A catalog table audited by spark-submit on a standalone cluster, as a data team runs it.

The table lives in a Hive metastore (embedded Derby, in tmp) and a warehouse
folder; one spark-submit creates it (partitioned by day), the audit job reads it
on the cluster with a `where` that selects three days, and the findings must
equal an in-process audit of the same rows exported as files.
"""

from __future__ import annotations

import json
import math
import subprocess

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from auditor import Audit
from auditor.spec import parse_config
from auditor.synth import generate

from bench.standalone import SPARK_HOME, StandaloneCluster
from test_cluster import JOB

pytestmark = pytest.mark.slow

DAYS = ("2026-09-08", "2026-09-09", "2026-09-10")
WHERE = f"day BETWEEN '{DAYS[0]}' AND '{DAYS[-1]}'"
CREATE = """
import sys
from pyspark.sql import SparkSession, functions as F
spark = SparkSession.builder.getOrCreate()
spark.sql("CREATE DATABASE IF NOT EXISTS rides_db")
(spark.read.parquet(sys.argv[1]).withColumn("day", F.to_date("req_time"))
 .write.partitionBy("day").format("parquet").saveAsTable("rides_db.rides"))
print("partitions:", spark.sql("SHOW PARTITIONS rides_db.rides").count())
spark.stop()
"""


def test_spark_submit_reads_a_hive_table_with_where(spark, tmp_path):
    made = generate("rides", 3000, 5, tmp_path / "sample")
    catalog = {  # what a cluster's hive-site.xml would say: the metastore and the warehouse
        "spark.sql.catalogImplementation": "hive",
        "spark.hadoop.javax.jdo.option.ConnectionURL": f"jdbc:derby:;databaseName={tmp_path / 'metastore'};create=true",
        "spark.sql.warehouse.dir": str(tmp_path / "warehouse"),
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={tmp_path}",  # derby.log goes to tmp too
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.enabled": "false",
    }
    script = tmp_path / "create_table.py"
    script.write_text(CREATE)
    conf = [arg for key, value in catalog.items() for arg in ("--conf", f"{key}={value}")]
    created = subprocess.run([str(SPARK_HOME / "bin" / "spark-submit"), "--master", "local[1]", *conf, str(script),
                              str(made.data_path)], capture_output=True, text=True, timeout=600, cwd=tmp_path,
                             env=StandaloneCluster(tmp_path / "standalone").env())
    assert created.returncode == 0, created.stdout[-2000:] + created.stderr[-2000:]
    assert "partitions: 7" in created.stdout

    config = tmp_path / "table.toml"
    config.write_text(made.config_path.read_text().replace(
        'path = "data/rides.parquet"\nformat = "parquet"', f'table = "rides_db.rides"\nwhere = "{WHERE}"'))
    with StandaloneCluster(tmp_path / "standalone", workers=1) as cluster:
        done = cluster.submit(JOB, "--config", str(config), "--out", str(tmp_path / "out"), conf=catalog)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    submitted = json.loads((tmp_path / "out" / "findings.json").read_text())
    record = submitted["audit"]
    assert record["spark_master"] == cluster.url
    assert record["table"]["format"] == "parquet" and record["table"]["where"] == WHERE
    assert record["table"]["partitions"] == [f"day={d}" for d in DAYS]
    on_disk = sorted(str(p.resolve()) for d in DAYS
                     for p in (tmp_path / "warehouse" / "rides_db.db" / "rides" / f"day={d}").glob("*.parquet"))
    assert [i["path"] for i in record["inputs"]] == on_disk and on_disk

    # The same rows as files, audited in process: the same findings.
    log = pq.read_table(made.data_path)
    days = pc.strftime(log["req_time"], format="%Y-%m-%d")
    export = tmp_path / "export.parquet"
    pq.write_table(log.filter(pc.is_in(days, value_set=pa.array(DAYS))), export)
    text = made.config_path.read_text().replace('path = "data/rides.parquet"', f'path = "{export}"')
    local = Audit(parse_config(text)).run(spark).to_json()
    assert submitted["data_quality"] == local["data_quality"]
    assert len(submitted["findings"]) == len(local["findings"]) > 0
    for a, b in zip(submitted["findings"], local["findings"]):
        assert (a["group"], a["verdict"], a["cells"], a["users"]) == (b["group"], b["verdict"], b["cells"], b["users"])
        for key in ("premium", "ci_low", "ci_high", "p_value", "se_log"):
            assert math.isclose(a[key], b[key], rel_tol=1e-9), (a["group"], key, a[key], b[key])
