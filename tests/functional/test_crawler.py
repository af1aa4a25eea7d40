"""The local crawler (flightpipe.stack.crawler) over moto S3 and Glue (in-process).

The Glue service runs this module for StartCrawler; the crawls it runs on the local stack are
tested through the Glue API in tests/integration/test_stack.py and test_crawls.py.
"""

from __future__ import annotations

import re

import boto3
import pytest

from flightpipe.infra.template import load
from flightpipe.stack.crawler import (
    CRAWL_EVERYTHING,
    CRAWL_NEW_FOLDERS_ONLY,
    ONLY_LOG_POLICY,
    ONLY_S3_TARGETS,
    CrawlerPolicyError,
    CrawlError,
    check_policies,
    crawl,
    excluded,
)

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


# AWS Glue Developer Guide, "Include and exclude patterns": "*" matches within a name component
# without crossing folder boundaries, "**" crosses them, "?" is one character of a component,
# "[...]" a bracket expression ("!" negates), "{...}" a group of subpatterns, "\\" escapes.
EXCLUDE_PATTERNS = [
    ("date=1900-01-01/**", "date=1900-01-01/smoke.csv", True),
    ("date=1900-01-01/**", "date=1900-01-02/flights.csv", False),
    ("*.csv", "flights.csv", True),
    ("*.csv", "date=2013-01-01/flights.csv", False),
    ("**.csv", "date=2013-01-01/flights.csv", True),
    ("date=2013-01-0?/*", "date=2013-01-05/a.csv", True),
    ("date=2013-01-0?/*", "date=2013-01-10/a.csv", False),
    ("date=2013-01-0[!5]/**", "date=2013-01-05/a.csv", False),
    ("date=2013-01-0[1-4]/**", "date=2013-01-03/a.csv", True),
    ("{date=2013-01-01,date=2013-01-02}/**", "date=2013-01-02/a.csv", True),
    ("{date=2013-01-01,date=2013-01-02}/**", "date=2013-01-03/a.csv", False),
    ("\\*.csv", "*.csv", True),
    ("\\*.csv", "a.csv", False),
]


@pytest.mark.parametrize(("pattern", "key", "matches"), EXCLUDE_PATTERNS)
def test_exclude_patterns_match_as_awss_crawler_matches_them(pattern, key, matches):
    assert excluded(key, pattern) is matches


def test_the_smoke_day_is_never_crawled(aws):
    """The template's crawler excludes make smoke's day: no table, partition or schema comes
    from a smoke file, even on a new stack's first crawl."""
    s3, glue = aws
    template = load()
    day = template["Mappings"]["SmokeTest"]["Day"]["Value"]
    target = template["Resources"]["Crawler"]["Properties"]["Targets"]["S3Targets"][0]
    pattern, variables = target["Exclusions"][0]["Fn::Sub"]
    assert variables == {"Day": {"Fn::FindInMap": ["SmokeTest", "Day", "Value"]}}
    s3.put_object(
        Bucket=BUCKET,
        Key=f"daily_flights/date={day}/smoke.csv",
        Body=f"{HEADER},Extra\nZZ,1,2,61,58,x\n".encode(),
    )
    path = f"s3://{BUCKET}/daily_flights/"
    exclusions = [pattern.replace("${Day}", day)]
    crawl(
        glue, s3, crawler(path, Targets={"S3Targets": [{"Path": path, "Exclusions": exclusions}]})
    )
    assert glue.get_tables(DatabaseName="flights")["TableList"] == []

    s3.put_object(
        Bucket=BUCKET,
        Key="daily_flights/date=2013-01-01/flights.csv",
        Body=f"{HEADER}\nAA,1,2,61,5\n".encode(),
    )
    crawl(
        glue, s3, crawler(path, Targets={"S3Targets": [{"Path": path, "Exclusions": exclusions}]})
    )
    table = glue.get_table(DatabaseName="flights", Name="daily_flights")["Table"]
    assert "extra" not in [c["Name"] for c in table["StorageDescriptor"]["Columns"]]
    partitions = glue.get_partitions(DatabaseName="flights", TableName="daily_flights")
    assert [p["Values"] for p in partitions["Partitions"]] == [["2013-01-01"]]


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


# --- RecrawlPolicy ----------------------------------------------------------------------------
# AWS Glue Developer Guide, "Scheduling incremental crawls for adding new partitions"
# (https://docs.aws.amazon.com/glue/latest/dg/incremental-crawls.html): after a first full
# crawl, only folders added since the last crawl are crawled; update and delete behaviour are
# LOG, so the table is not changed and no table is added; objects whose schema is not compatible
# are not added and the crawl logs them.

INCREMENTAL = {
    "RecrawlPolicy": {"RecrawlBehavior": CRAWL_NEW_FOLDERS_ONLY},
    "SchemaChangePolicy": {"UpdateBehavior": "LOG", "DeleteBehavior": "LOG"},
}


def put_day(s3, day: str, body: str, name: str = "flights.csv") -> None:
    s3.put_object(Bucket=BUCKET, Key=f"daily_flights/date={day}/{name}", Body=body.encode())


def reads(s3) -> list[str]:
    """The keys of every GetObject the client makes from now on."""
    keys: list[str] = []
    s3.meta.events.register(
        "before-parameter-build.s3.GetObject", lambda params, **_: keys.append(params["Key"])
    )
    return keys


def partition(glue, day: str) -> dict:
    return glue.get_partition(
        DatabaseName="flights", TableName="daily_flights", PartitionValues=[day]
    )["Partition"]


def test_an_incremental_crawl_reads_only_the_new_folders(aws):
    """30 known days, then one new day (two files) and a new file in a known day: the crawl
    reads the new day's two files and nothing else."""
    s3, glue = aws
    days = [f"2016-03-{d:02d}" for d in range(1, 31)]
    for day in days:
        put_day(s3, day, f"{HEADER}\nAA,1,2,3,4\n")
    definition = crawler(f"s3://{BUCKET}/daily_flights/", **INCREMENTAL)
    read = reads(s3)
    first = crawl(glue, s3, definition)
    assert (first.incremental, first.objects_read, first.partitions_created) == (False, 30, 30)
    put_day(s3, "2016-03-31", f"{HEADER}\nAA,1,2,3,4\n", "a.csv")
    put_day(s3, "2016-03-31", f"{HEADER}\nUA,1,2,3,4\n", "b.csv")
    put_day(s3, "2016-03-01", f"{HEADER}\nB6,1,2,3,4\n", "late.csv")
    read.clear()

    second = crawl(glue, s3, definition, frozenset(first.folders))

    assert sorted(read) == [
        "daily_flights/date=2016-03-31/a.csv",
        "daily_flights/date=2016-03-31/b.csv",
    ]
    assert (second.incremental, second.objects_read, second.partitions_created) == (True, 2, 1)
    assert partition(glue, "2016-03-31")["StorageDescriptor"]["Location"] == (
        f"s3://{BUCKET}/daily_flights/date=2016-03-31/"
    )
    assert f"s3://{BUCKET}/daily_flights/date=2016-03-31/" in second.folders
    read.clear()
    third = crawl(glue, s3, definition, frozenset(second.folders))
    assert (read, third.partitions_created) == ([], 0)


def test_without_a_previous_crawl_new_folders_only_crawls_everything(aws):
    s3, glue = aws
    put_day(s3, "2016-03-01", f"{HEADER}\nAA,1,2,3,4\n")
    summary = crawl(glue, s3, crawler(f"s3://{BUCKET}/daily_flights/", **INCREMENTAL), None)
    assert (summary.incremental, summary.tables_created) == (False, ["daily_flights"])


def test_crawl_everything_ignores_what_the_last_crawl_saw(aws):
    s3, glue = aws
    put_day(s3, "2016-03-01", f"{HEADER}\nAA,1,2,3,4\n")
    definition = crawler(
        f"s3://{BUCKET}/daily_flights/", RecrawlPolicy={"RecrawlBehavior": CRAWL_EVERYTHING}
    )
    first = crawl(glue, s3, definition)
    read = reads(s3)
    second = crawl(glue, s3, definition, frozenset(first.folders))
    assert (second.incremental, read) == (False, ["daily_flights/date=2016-03-01/flights.csv"])


def test_a_new_column_in_a_new_day_is_recorded_on_its_partition_not_on_the_table(aws):
    s3, glue = aws
    put_day(s3, "2016-03-01", f"{HEADER}\nAA,1,2,3,4\n")
    definition = crawler(f"s3://{BUCKET}/daily_flights/", **INCREMENTAL)
    first = crawl(glue, s3, definition)
    put_day(s3, "2016-03-02", f"{HEADER},TailNum\nAA,1,2,3,4,N123\n")

    summary = crawl(glue, s3, definition, frozenset(first.folders))

    table = glue.get_table(DatabaseName="flights", Name="daily_flights")["Table"]
    names = [c["Name"] for c in table["StorageDescriptor"]["Columns"]]
    assert names == ["carrier", "originairportid", "destairportid", "depdelay", "arrdelay"]
    new = [c["Name"] for c in partition(glue, "2016-03-02")["StorageDescriptor"]["Columns"]]
    assert new == [*names, "tailnum"]
    assert (summary.tables_updated, summary.partitions_created, summary.skipped) == ([], 1, [])


def test_a_new_day_without_a_column_of_the_table_is_not_added_and_is_logged(aws):
    s3, glue = aws
    put_day(s3, "2016-03-01", f"{HEADER}\nAA,1,2,3,4\n")
    definition = crawler(f"s3://{BUCKET}/daily_flights/", **INCREMENTAL)
    first = crawl(glue, s3, definition)
    put_day(s3, "2016-03-02", "Carrier,OriginAirportID,DestAirportID,ArrDelay\nAA,1,2,4\n")

    summary = crawl(glue, s3, definition, frozenset(first.folders))

    with pytest.raises(glue.exceptions.EntityNotFoundException):
        partition(glue, "2016-03-02")
    assert summary.partitions_created == 0
    assert summary.skipped == [
        f"s3://{BUCKET}/daily_flights/date=2016-03-02/: schema not compatible with table "
        "daily_flights (no column depdelay); not added"
    ]


def test_an_incremental_crawl_adds_no_table(aws):
    s3, glue = aws
    put_day(s3, "2016-03-01", f"{HEADER}\nAA,1,2,3,4\n")
    definition = crawler(f"s3://{BUCKET}/daily_flights/", **INCREMENTAL)
    first = crawl(glue, s3, definition)
    glue.delete_table(DatabaseName="flights", Name="daily_flights")
    put_day(s3, "2016-03-02", f"{HEADER}\nAA,1,2,3,4\n")

    summary = crawl(glue, s3, definition, frozenset(first.folders))

    assert glue.get_tables(DatabaseName="flights")["TableList"] == []
    assert summary.skipped == [
        f"s3://{BUCKET}/daily_flights/: no table daily_flights in the catalog, and an "
        "incremental crawl adds no tables (run a full crawl)"
    ]


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        ({**INCREMENTAL, "SchemaChangePolicy": None}, ONLY_LOG_POLICY),
        (
            {
                **INCREMENTAL,
                "SchemaChangePolicy": {
                    "UpdateBehavior": "UPDATE_IN_DATABASE",
                    "DeleteBehavior": "LOG",
                },
            },
            ONLY_LOG_POLICY,
        ),
        (
            {**INCREMENTAL, "Targets": {"CatalogTargets": [{"DatabaseName": "d", "Tables": []}]}},
            ONLY_S3_TARGETS,
        ),
        ({"RecrawlPolicy": {"RecrawlBehavior": "CRAWL_EVENT_MODE"}}, "CRAWL_EVENT_MODE"),
    ],
)
def test_policies_aws_refuses_are_refused_in_its_words(aws, definition, message):
    """AWS's messages as its InvalidInputException answers hold them (quoted in
    hashicorp/terraform-provider-aws#22868 and LBHackney-IT/Data-Platform#2418)."""
    s3, glue = aws
    given = {**crawler(f"s3://{BUCKET}/daily_flights/"), **definition}
    with pytest.raises(CrawlerPolicyError, match=re.escape(message)):
        check_policies(given)
    with pytest.raises(CrawlError, match=re.escape(message)):
        crawl(glue, s3, given)


def test_the_policies_the_template_deploys_are_accepted():
    """The crawler of infra/pipeline.yaml as written (its Targets' path is an ``Fn::Sub``, an S3
    target whatever it resolves to): the Glue service's CreateCrawler would refuse it otherwise,
    and the stack would not deploy."""
    from flightpipe.infra.template import load

    crawler = load()["Resources"]["Crawler"]["Properties"]
    assert crawler["RecrawlPolicy"]["RecrawlBehavior"] == CRAWL_NEW_FOLDERS_ONLY
    check_policies(crawler)
