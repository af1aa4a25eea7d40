"""The local crawler over moto S3 and Glue (in-process)."""

from __future__ import annotations

import boto3
import pytest

from flightpipe.stack.crawler import CrawlError, crawl

pytestmark = pytest.mark.functional

BUCKET = "data"
HEADER = "Carrier,OriginAirportID,DestAirportID,DepDelay,ArrDelay"


@pytest.fixture
def aws(moto, monkeypatch):
    s3, glue = boto3.client("s3"), boto3.client("glue")
    s3.create_bucket(Bucket=BUCKET)
    glue.create_database(DatabaseInput={"Name": "flights"})
    yield s3, glue


def crawler(path: str, **extra) -> dict:
    return {
        "Name": "c",
        "DatabaseName": "flights",
        "Targets": {"S3Targets": [{"Path": path}]},
        **extra,
    }


def test_partitioned_csv_becomes_a_table_with_typed_columns_and_partitions(aws):
    s3, glue = aws
    s3.put_object(
        Bucket=BUCKET,
        Key="daily_flights/date=2013-01-01/flights.csv",
        Body=f"\ufeff{HEADER}\r\nAA,1,2,-3.00,\r\nUA,3,4,75.5,1\r\n".encode(),
    )
    s3.put_object(
        Bucket=BUCKET,
        Key="daily_flights/date=2013-01-02/flights.csv",
        Body=f"{HEADER}\nB6,5,6,1,2\n".encode(),
    )
    s3.put_object(Bucket=BUCKET, Key="daily_flights/date=2013-01-02/_SUCCESS", Body=b"")

    summary = crawl(glue, s3, crawler(f"s3://{BUCKET}/daily_flights/"))

    table = glue.get_table(DatabaseName="flights", Name="daily_flights")["Table"]
    assert [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]] == [
        ("carrier", "string"),
        ("originairportid", "bigint"),
        ("destairportid", "bigint"),
        ("depdelay", "double"),
        ("arrdelay", "bigint"),
    ]
    assert table["PartitionKeys"] == [{"Name": "date", "Type": "string"}]
    assert table["Parameters"]["skip.header.line.count"] == "1"
    partitions = glue.get_partitions(DatabaseName="flights", TableName="daily_flights")[
        "Partitions"
    ]
    assert sorted((p["Values"][0], p["StorageDescriptor"]["Location"]) for p in partitions) == [
        ("2013-01-01", f"s3://{BUCKET}/daily_flights/date=2013-01-01/"),
        ("2013-01-02", f"s3://{BUCKET}/daily_flights/date=2013-01-02/"),
    ]
    assert (summary.tables_created, summary.partitions_created) == (["daily_flights"], 2)


def test_recrawl_adds_new_partitions_only_and_widens_the_schema(aws):
    s3, glue = aws
    s3.put_object(
        Bucket=BUCKET,
        Key="daily_flights/date=2013-01-01/flights.csv",
        Body=f"{HEADER}\nAA,1,2,3,4\n".encode(),
    )
    crawl(glue, s3, crawler(f"s3://{BUCKET}/daily_flights/"))
    s3.put_object(
        Bucket=BUCKET,
        Key="daily_flights/date=2013-01-02/flights.csv",
        Body=f"{HEADER},Extra\nAA,1,2,NA,4,x\n".encode(),
    )

    summary = crawl(glue, s3, crawler(f"s3://{BUCKET}/daily_flights/"))

    columns = glue.get_table(DatabaseName="flights", Name="daily_flights")["Table"][
        "StorageDescriptor"
    ]["Columns"]
    assert [(c["Name"], c["Type"]) for c in columns][3:] == [
        ("depdelay", "string"),
        ("arrdelay", "bigint"),
        ("extra", "string"),
    ]
    assert (summary.tables_updated, summary.partitions_created) == (["daily_flights"], 1)


def test_folders_under_the_target_become_tables_and_non_csv_is_skipped(aws):
    s3, glue = aws
    s3.put_object(
        Bucket=BUCKET,
        Key="daily_flights/date=2013-01-01/flights.csv",
        Body=f"{HEADER}\nAA,1,2,3,4\n".encode(),
    )
    s3.put_object(
        Bucket=BUCKET, Key="dim/airports.csv", Body=b'airport_id,city,state,name\n1,"A, B",CC,D\n'
    )
    s3.put_object(Bucket=BUCKET, Key="dim/readme.txt", Body=b"hello")

    summary = crawl(glue, s3, crawler(f"s3://{BUCKET}/", TablePrefix="raw_"))

    names = sorted(t["Name"] for t in glue.get_tables(DatabaseName="flights")["TableList"])
    assert names == ["raw_daily_flights", "raw_dim"]
    assert summary.skipped == [f"s3://{BUCKET}/dim/readme.txt: not a CSV object"]


def test_missing_bucket_fails_the_crawl_with_a_message(aws):
    _, glue = aws
    with pytest.raises(CrawlError, match="bucket nope does not exist"):
        crawl(glue, boto3.client("s3"), crawler("s3://nope/daily_flights/"))


def test_missing_database_fails_the_crawl_with_a_message(aws):
    s3, glue = aws
    with pytest.raises(CrawlError, match="database other does not exist"):
        crawl(glue, s3, {**crawler(f"s3://{BUCKET}/x/"), "DatabaseName": "other"})
