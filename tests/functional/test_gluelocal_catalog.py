"""``from_catalog`` and ``extract_jdbc_conf`` of the local runtime against a moto Glue catalog."""

from __future__ import annotations

import sys

import boto3
import pytest

from flightpipe.gluelocal import SHIM_PATH

if str(SHIM_PATH) not in sys.path:
    sys.path.insert(0, str(SHIM_PATH))

from awsglue.context import GlueContext

BUCKET = "catalog-test"


@pytest.fixture
def catalog(moto, monkeypatch):
    s3, glue = boto3.client("s3"), boto3.client("glue")
    s3.create_bucket(Bucket=BUCKET)
    serde = {
        "SerializationLibrary": "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe",
        "Parameters": {"field.delim": ","},
    }
    glue.create_database(DatabaseInput={"Name": "db"})
    glue.create_table(
        DatabaseName="db",
        TableInput={
            "Name": "events",
            "StorageDescriptor": {
                "Columns": [
                    {"Name": "id", "Type": "bigint"},
                    {"Name": "score", "Type": "double"},
                    {"Name": "note", "Type": "string"},
                ],
                "Location": f"s3://{BUCKET}/events/",
                "SerdeInfo": serde,
            },
            "PartitionKeys": [{"Name": "date", "Type": "string"}],
            "Parameters": {"classification": "csv", "skip.header.line.count": "1"},
        },
    )
    for day, body in (
        ("2013-01-01", "id,score,note\n1,0.5,a\n2,1.5,b\n"),
        ("2013-01-02", "id,score,note\n3,2,c\n"),
        ("2013-02-01", "id,score,note\n4,3,d\n"),
    ):
        s3.put_object(Bucket=BUCKET, Key=f"events/date={day}/part.csv", Body=body.encode())
        glue.create_partition(
            DatabaseName="db",
            TableName="events",
            PartitionInput={
                "Values": [day],
                "StorageDescriptor": {
                    "Location": f"s3://{BUCKET}/events/date={day}/",
                    "SerdeInfo": serde,
                },
            },
        )
    yield glue


def test_push_down_predicate_selects_partitions_with_spark_sql(catalog, spark):
    glue_context = GlueContext(spark.sparkContext)
    frame = glue_context.create_dynamic_frame.from_catalog(
        database="db",
        table_name="events",
        push_down_predicate="date >= '2013-01-02' and date < '2013-02-01'",
    )
    assert [tuple(r) for r in frame.toDF().collect()] == [(3, 2.0, "c", "2013-01-02")]


def test_types_come_from_the_values_and_partition_columns_come_last(catalog, spark):
    df = (
        GlueContext(spark.sparkContext)
        .create_dynamic_frame.from_catalog(database="db", table_name="events")
        .toDF()
    )
    assert [(f.name, f.dataType.simpleString()) for f in df.schema.fields] == [
        ("id", "bigint"),
        ("score", "double"),
        ("note", "string"),
        ("date", "string"),
    ]
    assert df.count() == 4


def test_catalog_partition_predicate_filters_in_the_catalog(catalog, spark):
    frame = GlueContext(spark.sparkContext).create_dynamic_frame.from_catalog(
        database="db",
        table_name="events",
        additional_options={"catalogPartitionPredicate": "date = '2013-01-01'"},
    )
    assert frame.count() == 2


def test_missing_table_is_the_glue_error(catalog, spark):
    with pytest.raises(catalog.exceptions.EntityNotFoundException):
        GlueContext(spark.sparkContext).create_dynamic_frame.from_catalog(
            database="db", table_name="nope"
        )


def test_extract_jdbc_conf_reads_the_connection(catalog, spark):
    """The keys of AWS's GlueContext API page: ``url`` deprecated (protocol, host and port only),
    ``fullUrl`` as entered, ``enforceSSL`` from JDBC_ENFORCE_SSL, and the custom certificate's
    three keys when CUSTOM_JDBC_CERT is set."""
    catalog.create_connection(
        ConnectionInput={
            "Name": "wh",
            "ConnectionType": "JDBC",
            "ConnectionProperties": {
                "JDBC_CONNECTION_URL": "jdbc:postgresql://127.0.0.1:5439/flights",
                "USERNAME": "u",
                "PASSWORD": "p",
                "JDBC_ENFORCE_SSL": "TRUE",
                "CUSTOM_JDBC_CERT": "s3://certs/ca.pem",
            },
        }
    )
    assert GlueContext(spark.sparkContext).extract_jdbc_conf("wh") == {
        "url": "jdbc:postgresql://127.0.0.1:5439",
        "fullUrl": "jdbc:postgresql://127.0.0.1:5439/flights",
        "user": "u",
        "password": "p",
        "vendor": "postgresql",
        "enforceSSL": "true",
        "customJDBCCert": "s3://certs/ca.pem",
        "skipCustomJDBCCertValidation": "false",
        "customJDBCCertString": "",
    }
