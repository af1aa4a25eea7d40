"""Helpers of the pipeline tests: upload as a user does, find the execution it started."""

from __future__ import annotations

import json
from datetime import date

import psycopg

from tests.conftest import REPO

SAMPLE = REPO / "sample_data"


def upload(stack, key: str, body: bytes) -> str:
    s3 = stack.client("s3")
    s3.put_object(Bucket=stack.provisioned.data_bucket, Key=key, Body=body)
    return s3.head_object(Bucket=stack.provisioned.data_bucket, Key=key)["ETag"].strip('"')


def executions_for(stack, key: str) -> list[dict]:
    sfn = stack.client("stepfunctions")
    found = []
    for item in sfn.list_executions(stateMachineArn=stack.provisioned.state_machine_arn)[
        "executions"
    ]:
        described = sfn.describe_execution(executionArn=item["executionArn"])
        if json.loads(described["input"]).get("key") == key:
            found.append(described)
    return found


def finished(stack, key: str, etag: str) -> dict:
    def done():
        for execution in executions_for(stack, key):
            started_with = json.loads(execution["input"])
            if started_with["etag"] == etag and execution["status"] != "RUNNING":
                return stack.client("stepfunctions").describe_execution(
                    executionArn=execution["executionArn"]
                )
        return None

    return stack.wait_for(done, timeout=240, what=f"the execution for {key}")


def fact_rows(stack, day: str) -> list[tuple]:
    with psycopg.connect(stack.database_url) as conn:
        return conn.execute(
            "SELECT carrier, dep_delay FROM airlines.daily_flights_fact WHERE flight_date = %s",
            (date.fromisoformat(day),),
        ).fetchall()


def load_airports(stack):
    etag = upload(stack, "dim/airports.csv", (SAMPLE / "airports.csv").read_bytes())
    assert finished(stack, "dim/airports.csv", etag)["status"] == "SUCCEEDED"
    return stack
