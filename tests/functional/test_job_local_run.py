"""The Glue job script run end to end on the local Glue runtime over the shipped sample days.

S3 and the Data Catalog are a moto server (the job's Spark reads S3 from the JVM, which
in-process moto cannot reach); the warehouse is the real local PostgreSQL. The catalog table is
registered the way the crawler registers it (lowercased columns, ``date`` partition key, one
partition per day). Expected rows come from DuckDB over the same files.
"""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import psycopg
import pytest

from flightpipe.commands.e2e import expected_fact_rows
from flightpipe.gluelocal.runner import run_job
from flightpipe.paths import REPO
from tests.support.aws import read_json_lines

SAMPLE = REPO / "sample_data"
SCRIPT = REPO / "glue_job" / "delayed_flights.py"
AIRPORTS_SCRIPT = REPO / "glue_job" / "load_airports.py"
ACCEPTED_AIRPORTS = "accepted/airports.csv"
BUCKET = "flights-data"
DATABASE = "flights_catalog"
TABLE = "daily_flights"
DAYS = sorted(
    p.parent.name.removeprefix("date=") for p in SAMPLE.glob("daily_flights/date=*/flights.csv")
)
# Airports left out of the uploaded dimension, so that some delayed flights have no match.
DROPPED_AIRPORTS = {"11298", "13930"}  # Dallas/Fort Worth, Chicago O'Hare


class Pipeline:
    """Moto S3 and Glue catalog plus the scratch warehouse, wired as the job expects them."""

    def __init__(self, warehouse_url: str):
        self.warehouse_url = warehouse_url
        self.database_name = urlsplit(warehouse_url).path.lstrip("/")
        self.s3, self.glue = boto3.client("s3"), boto3.client("glue")
        self.s3.create_bucket(Bucket=BUCKET)
        glue_connection(self.glue, warehouse_url)

    def upload(self, key: str, body: bytes) -> None:
        self.s3.put_object(Bucket=BUCKET, Key=key, Body=body)

    def upload_samples(self, days: list[str], dimension: bytes) -> None:
        for day in days:
            key = f"daily_flights/date={day}/flights.csv"
            self.upload(key, (SAMPLE / key).read_bytes())
        self.load_dimension(dimension)
        register_catalog(self.glue, days)

    def load_dimension(self, body: bytes, run_id: str = "jr_airports") -> dict:
        """Upload dim/airports.csv and run the airports job over it, as the pipeline does."""
        self.upload("dim/airports.csv", body)
        return run_job(
            AIRPORTS_SCRIPT,
            {
                "JOB_NAME": "load-airports",
                "JOB_RUN_ID": run_id,
                "data_bucket": BUCKET,
                "airports_key": "dim/airports.csv",
                "accepted_airports_key": ACCEPTED_AIRPORTS,
                "connection_name": "warehouse",
                "warehouse_database": self.database_name,
                "TempDir": f"s3://{BUCKET}/glue-temp/",
            },
        )

    def run(self, day: str, run_id: str) -> dict:
        return run_job(SCRIPT, job_arguments(day, self.database_name, run_id))

    def query(self, sql: str) -> list[tuple]:
        with psycopg.connect(self.warehouse_url) as conn:
            return conn.execute(sql).fetchall()


@pytest.fixture
def pipeline(moto_endpoint, warehouse_url):
    return Pipeline(warehouse_url)


def dimension_without_dropped() -> bytes:
    text = (SAMPLE / "airports.csv").read_text(encoding="utf-8")
    kept = [
        line
        for line in text.splitlines(keepends=True)
        if line.split(",", 1)[0] not in DROPPED_AIRPORTS
    ]
    assert len(kept) == len(text.splitlines()) - len(DROPPED_AIRPORTS)
    return "".join(kept).encode("utf-8")


def register_catalog(glue, days):
    """What the crawler leaves behind: a table over daily_flights/ with a date partition per day."""
    glue.create_database(DatabaseInput={"Name": DATABASE})
    header = (SAMPLE / f"daily_flights/date={days[0]}/flights.csv").read_text().splitlines()[0]
    serde = {
        "SerializationLibrary": "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe",
        "Parameters": {"field.delim": ","},
    }
    location = f"s3://{BUCKET}/daily_flights/"
    glue.create_table(
        DatabaseName=DATABASE,
        TableInput={
            "Name": TABLE,
            "StorageDescriptor": {
                "Columns": [
                    {"Name": c.lower(), "Type": "bigint" if c != "Carrier" else "string"}
                    for c in header.split(",")
                ],
                "Location": location,
                "SerdeInfo": serde,
            },
            "PartitionKeys": [{"Name": "date", "Type": "string"}],
            "Parameters": {"classification": "csv", "skip.header.line.count": "1"},
        },
    )
    for day in days:
        glue.create_partition(
            DatabaseName=DATABASE,
            TableName=TABLE,
            PartitionInput={
                "Values": [day],
                "StorageDescriptor": {"Location": f"{location}date={day}/", "SerdeInfo": serde},
            },
        )


def glue_connection(glue, database_url: str) -> None:
    parts = urlsplit(database_url)
    properties = {
        "JDBC_CONNECTION_URL": f"jdbc:postgresql://{parts.hostname}:{parts.port}{parts.path}",
        "USERNAME": parts.username or "",
    }
    if parts.password:
        properties["PASSWORD"] = parts.password
    glue.create_connection(
        ConnectionInput={
            "Name": "warehouse",
            "ConnectionType": "JDBC",
            "ConnectionProperties": properties,
        }
    )


def job_arguments(day: str, database_name: str, run_id: str) -> dict[str, str]:
    return {
        "JOB_NAME": "delayed-flights",
        "JOB_RUN_ID": run_id,
        "flight_date": day,
        "data_bucket": BUCKET,
        "catalog_database": DATABASE,
        "flights_table": TABLE,
        "connection_name": "warehouse",
        "warehouse_database": database_name,
        "input_key": f"daily_flights/date={day}/flights.csv",
        "accepted_airports_key": ACCEPTED_AIRPORTS,
        "TempDir": f"s3://{BUCKET}/glue-temp/",
    }


def expected_rows(tmp_path: Path) -> list[tuple]:
    """The fact table computed independently, with DuckDB over the same files."""
    dim = tmp_path / "airports.csv"
    dim.write_bytes(dimension_without_dropped())
    return expected_fact_rows(str(SAMPLE / "daily_flights" / "date=*" / "flights.csv"), dim)


def test_job_loads_the_sample_days_exactly(pipeline, tmp_path):
    pipeline.upload_samples(DAYS, dimension_without_dropped())

    reports = [pipeline.run(day, f"jr_{i}") for i, day in enumerate(DAYS)]

    loaded = pipeline.query("SELECT * FROM airlines.daily_flights_fact")
    runs = pipeline.query(
        "SELECT flight_date, rows_loaded, status FROM airlines.pipeline_runs ORDER BY flight_date"
    )
    expected = expected_rows(tmp_path)
    assert sorted(loaded, key=repr) == sorted(expected, key=repr)
    unmatched = [r for r in expected if r[3] is None or r[4] is None]
    assert unmatched, "the dropped airports must leave some delayed flights unmatched"
    assert sum(r["rows_unmatched_airports"] for r in reports) == len(unmatched)
    assert runs == [
        (
            date.fromisoformat(d),
            sum(1 for e in expected if e[11] == date.fromisoformat(d)),
            "SUCCEEDED",
        )
        for d in DAYS
    ]
    for report, day in zip(reports, DAYS, strict=True):
        with (SAMPLE / f"daily_flights/date={day}/flights.csv").open() as handle:
            data_rows = sum(1 for _ in csv.reader(handle)) - 1
        assert report["rows_read"] == data_rows
        partition = f"s3://{BUCKET}/daily_flights/date={day}/"
        assert (
            f"registered by the crawler at {partition}, listed and read"
            in (report["catalog_check"])
        )
        assert report["rows_read"] == (
            report["rows_loaded"]
            + report["rows_below_threshold"]
            + report["rows_missing_delay"]
            + report["rows_quarantined"]
        )
        stored = pipeline.s3.get_object(
            Bucket=BUCKET, Key=f"run-reports/date={day}/{report['run_id']}.json"
        )
        assert json.load(stored["Body"]) == report


def test_rerunning_a_day_replaces_it_and_quarantines_bad_rows(pipeline):
    day = DAYS[0]
    key = f"daily_flights/date={day}/flights.csv"
    pipeline.upload_samples([day], (SAMPLE / "airports.csv").read_bytes())
    first = pipeline.run(day, "jr_first")
    corrected = (
        "Carrier,OriginAirportID,DestAirportID,DepDelay,ArrDelay\n"
        "AA,10397,12478,61,2\n"
        "AA,10397,12478,bad,2\n"
    )
    pipeline.upload(key, corrected.encode())
    second = pipeline.run(day, "jr_second")

    assert first["rows_loaded"] > 1
    assert (second["rows_read"], second["rows_loaded"], second["rows_quarantined"]) == (2, 1, 1)
    assert pipeline.query("SELECT carrier, dep_delay FROM airlines.daily_flights_fact") == [
        ("AA", 61)
    ]
    assert second["quarantine_prefix"] == f"s3://{BUCKET}/quarantine/date={day}/run=jr_second/"
    assert read_json_lines(pipeline.s3, second["quarantine_prefix"]) == [
        {
            "source": f"s3://{BUCKET}/{key}",
            "line_number": 3,
            "reason": "DepDelay 'bad' is not a number",
            "raw": "AA,10397,12478,bad,2",
        }
    ]


def test_missing_required_column_fails_the_run_and_keeps_the_day(pipeline):
    day = DAYS[0]
    pipeline.upload_samples([day], (SAMPLE / "airports.csv").read_bytes())
    before = pipeline.run(day, "jr_good")["rows_loaded"]
    pipeline.upload(
        f"daily_flights/date={day}/flights.csv",
        b"Carrier,OriginAirportID,DestAirportID,ArrDelay\nAA,10397,12478,2\n",
    )

    with pytest.raises(Exception, match="missing required column DepDelay"):
        pipeline.run(day, "jr_bad")

    assert pipeline.query("SELECT count(*) FROM airlines.daily_flights_fact") == [(before,)]
    assert pipeline.query("SELECT run_id FROM airlines.pipeline_runs") == [("jr_good",)]


def test_header_only_file_succeeds_with_zero_rows(pipeline):
    day = DAYS[0]
    pipeline.upload_samples([day], (SAMPLE / "airports.csv").read_bytes())
    pipeline.upload(
        f"daily_flights/date={day}/flights.csv",
        b"\xef\xbb\xbfCarrier,OriginAirportID,DestAirportID,DepDelay,ArrDelay\r\n",
    )

    report = pipeline.run(day, "jr_empty")

    assert (report["rows_read"], report["rows_loaded"], report["quarantine_prefix"]) == (0, 0, None)
    assert pipeline.query("SELECT rows_read, status FROM airlines.pipeline_runs") == [
        (0, "SUCCEEDED")
    ]


def test_a_refused_dimension_leaves_the_days_loading_against_the_accepted_one(pipeline):
    day = DAYS[0]
    pipeline.upload_samples([day], dimension_without_dropped())
    accepted = pipeline.s3.get_object(Bucket=BUCKET, Key=ACCEPTED_AIRPORTS)["Body"].read()
    duplicated = (SAMPLE / "airports.csv").read_bytes() + b"10397,Elsewhere,GA,Second Atlanta\n"

    with pytest.raises(Exception, match="duplicate airport_id 10397"):
        pipeline.load_dimension(duplicated, run_id="jr_dup")
    report = pipeline.run(day, "jr_after")

    assert pipeline.s3.get_object(Bucket=BUCKET, Key=ACCEPTED_AIRPORTS)["Body"].read() == accepted
    assert pipeline.query("SELECT count(*) FROM airlines.airports_dim") == [
        (len(dimension_without_dropped().splitlines()) - 1,)
    ]
    assert report["rows_loaded"] > 0
    assert pipeline.query(
        "SELECT count(*) FROM airlines.daily_flights_fact WHERE dep_airport = 'Second Atlanta'"
    ) == [(0,)]


def test_a_day_before_any_accepted_dimension_fails_saying_so(pipeline):
    day = DAYS[0]
    key = f"daily_flights/date={day}/flights.csv"
    pipeline.upload(key, (SAMPLE / key).read_bytes())
    register_catalog(pipeline.glue, [day])

    with pytest.raises(Exception, match="no airports dimension has been accepted yet"):
        pipeline.run(day, "jr_no_dimension")
    assert pipeline.query("SELECT count(*) FROM airlines.daily_flights_fact") == [(0,)]


def test_a_day_of_several_files_counts_every_line_once_with_its_own_number(pipeline):
    """Spark reads the day's objects by their exact keys (a glob character is a character) and
    numbers each file's lines from 1; no file is read twice."""
    day = DAYS[0]
    pipeline.upload_samples([day], (SAMPLE / "airports.csv").read_bytes())
    sample = SAMPLE / f"daily_flights/date={day}/flights.csv"
    other = f"daily_flights/date={day}/late [1] *?; 100%s.csv"
    pipeline.upload(
        other,
        b"\xef\xbb\xbf\r\nDepDelay,Carrier,OriginAirportID,DestAirportID,ArrDelay\r"
        b"75,AA,10397,12478,0\r\n\nlate,AA,10397,12478,0\n",
    )

    report = pipeline.run(day, "jr_two_files")

    sample_rows = len(sample.read_text().splitlines()) - 1
    assert report["sources"] == [
        f"s3://{BUCKET}/{key}" for key in sorted([other, str(sample.relative_to(SAMPLE))])
    ]
    assert (report["rows_read"], report["rows_quarantined"]) == (sample_rows + 2, 1)
    assert read_json_lines(pipeline.s3, report["quarantine_prefix"]) == [
        {
            "source": f"s3://{BUCKET}/{other}",
            "line_number": 5,
            "reason": "DepDelay 'late' is not a number",
            "raw": "late,AA,10397,12478,0",
        }
    ]
    assert pipeline.query(
        "SELECT count(*) FROM airlines.daily_flights_fact WHERE dep_delay = 75 AND arr_delay = 0"
    ) == [(1 + sum(1 for line in sample.read_text().splitlines() if line.endswith(",75,0")),)]
