"""A Glue job that checks what a Glue image gives a job, run in the compose stack by
``flightpipe compose check-image`` (``flightpipe.stack.image_check``), which reads its output.

It prints one line per fact (``FACT <name>: <value>``) and per step
(``PROBE <step> PASS|FAIL: <detail>``), then fails the run if a step failed. The steps use what
the pipeline's jobs use, by the same calls: Glue's own endpoint from the JVM (where AWS's Java
client sends GlueContext's calls), the Data Catalog through ``from_catalog``, the Glue
connection through ``extract_jdbc_conf``, ``s3://`` through Spark, and the warehouse through
``from_jdbc_conf`` and the job's own JDBC connection (``warehouse``, from ``--extra-py-files``).
No secret is printed.
"""

from __future__ import annotations

import getpass
import os
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from awsglue.context import GlueContext
from awsglue.dynamicframe import DynamicFrame
from awsglue.utils import getResolvedOptions
from pyspark.context import SparkContext

from flightjob import warehouse

ARGUMENTS = (
    "JOB_NAME",
    "probe_bucket",
    "probe_prefix",
    "probe_database",
    "probe_table",
    "probe_rows",
    "connection_name",
    "warehouse_database",
)


def fact(name: str, value: object) -> None:
    print(f"FACT {name}: {' '.join(str(value).split())}", flush=True)


def probe(name: str, check: Callable[[], tuple[bool, str]]) -> bool:
    try:
        passed, detail = check()
    except Exception as error:
        passed, detail = False, f"{type(error).__name__}: {warehouse.java_message(error)}"
    verdict = "PASS" if passed else "FAIL"
    print(f"PROBE {name} {verdict}: {' '.join(detail.split())[:2000]}", flush=True)
    return passed


def image_facts(glue_context: GlueContext) -> None:
    import boto3 as boto3_module

    spark = glue_context.spark_session
    sc = spark.sparkContext
    jvm = sc._jvm
    fact("user", getpass.getuser())
    fact("python", sys.version.split()[0])
    fact("spark", spark.version)
    fact("java", jvm.java.lang.System.getProperty("java.version"))
    fact("boto3", boto3_module.__version__)
    defaults = Path(os.environ.get("SPARK_HOME", "/usr/lib/spark")) / "conf" / "spark-defaults.conf"
    if defaults.is_file():
        lines = [
            line.strip()
            for line in defaults.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.lstrip().startswith("#")
        ]
        fact(f"spark-defaults.conf ({defaults})", " | ".join(lines) or "(empty)")
    else:
        fact("spark-defaults.conf", f"none at {defaults}")
    hadoop = sc._jsc.hadoopConfiguration()
    fact("fs.s3.impl (as the job runs)", hadoop.get("fs.s3.impl"))
    fact("spark.driver.extraJavaOptions", sc.getConf().get("spark.driver.extraJavaOptions", ""))
    loader = jvm.java.lang.Thread.currentThread().getContextClassLoader()
    for vendor, name in warehouse.DRIVER_CLASSES.items():
        try:
            jvm.java.lang.Class.forName(name, False, loader)
            found = "on the class path"
        except Exception:
            found = "missing"
        fact(f"JDBC driver {vendor} ({name})", found)


def main(argv: list[str] | None = None) -> None:
    args = getResolvedOptions(list(sys.argv if argv is None else argv), list(ARGUMENTS))
    glue_context = GlueContext(SparkContext.getOrCreate())
    spark = glue_context.spark_session
    image_facts(glue_context)
    expected = int(args["probe_rows"])

    def endpoints() -> tuple[bool, str]:
        # Where AWS's Java client in the image sends GlueContext's calls: Glue's own endpoint.
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
        host = f"glue.{region}.amazonaws.com"
        jvm: Any = spark.sparkContext._jvm
        address = jvm.java.net.InetAddress.getByName(host).getHostAddress()
        connection = jvm.java.net.URL(f"https://{host}/").openConnection()
        connection.setConnectTimeout(10_000)
        connection.setReadTimeout(10_000)
        status = connection.getResponseCode()
        return True, f"the JVM reached https://{host}/ at {address}, TLS verified (HTTP {status})"

    def catalog() -> tuple[bool, str]:
        frame = glue_context.create_dynamic_frame.from_catalog(
            database=args["probe_database"], table_name=args["probe_table"]
        )
        rows = frame.toDF().count()
        return rows == expected, f"{rows} rows read from the catalog table, {expected} expected"

    def connection() -> tuple[bool, str]:
        target = warehouse.job_target(
            glue_context, args["connection_name"], args["warehouse_database"]
        )
        tls = ", ".join(f"{k}={v}" for k, v in target.properties.items()) or "no TLS settings"
        return bool(target.user), f"{target.vendor} at {target.url} ({tls})"

    def s3() -> tuple[bool, str]:
        prefix = f"s3://{args['probe_bucket']}/{args['probe_prefix']}written/"
        spark.range(expected).write.mode("overwrite").json(prefix)
        rows = spark.read.json(prefix).count()
        listed = boto3.client("s3").list_objects_v2(
            Bucket=args["probe_bucket"], Prefix=f"{args['probe_prefix']}written/part-"
        )
        parts = listed.get("KeyCount", 0)
        return (
            rows == expected and parts > 0,
            f"wrote and read back {rows} rows at {prefix} ({parts} part files in the stack's S3)",
        )

    def jdbc() -> tuple[bool, str]:
        target = warehouse.job_target(
            glue_context, args["connection_name"], args["warehouse_database"]
        )
        table = f"airlines.image_probe_{uuid.uuid4().hex[:8]}"
        jvm: Any = spark.sparkContext._jvm
        with warehouse.transaction(jvm, target) as session:
            session.execute((f"CREATE TABLE {table} (id BIGINT)", ()))
        try:
            glue_context.write_dynamic_frame.from_jdbc_conf(
                frame=DynamicFrame.fromDF(spark.range(expected), glue_context, "probe"),
                catalog_connection=args["connection_name"],
                connection_options={"dbtable": table, "database": args["warehouse_database"]},
                redshift_tmp_dir=args.get("TempDir") or "",
            )
            rows = (
                spark.read.format("jdbc")
                .option("url", target.url)
                .option("dbtable", table)
                .option("user", target.user)
                .option("password", target.password)
                .option("driver", warehouse.DRIVER_CLASSES[target.vendor])
                .options(**target.properties)
                .load()
                .count()
            )
        finally:
            with warehouse.transaction(jvm, target) as session:
                session.execute((f"DROP TABLE IF EXISTS {table}", ()))
        return rows == expected, f"{rows} rows written through the connection and read back"

    steps = {
        "endpoints": endpoints,
        "catalog": catalog,
        "connection": connection,
        "s3": s3,
        "jdbc": jdbc,
    }
    results = [probe(name, check) for name, check in steps.items()]
    if not all(results):
        raise SystemExit("image probe: a step failed (see the PROBE lines)")


if __name__ == "__main__":
    main()
