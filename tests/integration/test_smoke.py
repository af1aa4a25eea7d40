"""``make smoke``'s check, run against the local stack as it runs against a deployment: first on a
stack that has never seen an upload, as after a first ``make deploy``."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from flightpipe import cli
from flightpipe.commands import smoke
from flightpipe.infra import stages as stage
from tests.support.pipeline import fact_rows, runs_of, warehouse_unreachable
from tests.support.postgres import Server
from tests.support.stack import Stack, as_local_stage, started_stack


@pytest.fixture(scope="module")
def new_stack(server: Server) -> Iterator[Stack]:
    """A stack deployed a moment ago: no dimension, no day, no crawl."""
    with started_stack(server) as started:
        yield started


@pytest.fixture
def new_stage(new_stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Stack:
    return as_local_stage(new_stack, monkeypatch)


def local_targets() -> stage.Targets:
    """What ``make smoke STAGE=local`` finds: the deployed stack's outputs, on LocalStack."""
    return stage.targets_for("local", stage.session_for("local"))


def test_the_local_stage_is_found_from_the_deployed_stacks_outputs(local_stage):
    stack = local_stage
    assert local_targets() == stage.Targets(
        stack.pipeline.data_bucket,
        stack.pipeline.state_machine_arn,
        stack.pipeline.handler_failures_url,
        stack.pipeline.alerts_queue_url,
    )


def test_on_a_new_stack_the_smoke_test_loads_the_dimension_first_and_keeps_nothing(new_stage):
    stack = new_stage
    report = smoke.run(local_targets(), stack.client, timeout=300)

    assert report.ok, "\n".join(report.lines())
    bucket = stack.pipeline.data_bucket
    assert report.dimension.startswith(
        f"none accepted: uploaded {smoke.SHIPPED_AIRPORTS} to s3://{bucket}/dim/airports.csv, "
        "execution "
    )
    assert report.dimension.endswith(": SUCCEEDED")
    assert report.execution["status"] == "SUCCEEDED"
    assert (report.run_report["rows_read"], report.run_report["rows_loaded"]) == (1, 1)
    assert report.run_report["rehearsal"] is True
    assert report.notification == "SMOKE TEST: Flights 1900-01-01 loaded: 1 delayed flights"
    assert report.failures_waiting == 0
    assert "job run    1 row read, 1 loaded, rolled back" in report.lines()
    assert report.lines()[-1] == "SMOKE TEST PASSED"

    # Nothing of the smoke day in the warehouse or the catalog; the dimension is there.
    assert fact_rows(stack, smoke.SMOKE_DAY) == []
    assert runs_of(stack, smoke.SMOKE_DAY) == []
    with psycopg.connect(stack.database_url) as conn:
        assert conn.execute("SELECT count(*) FROM airlines.airports_dim").fetchone()[0] > 6000
    glue = stack.client("glue")
    database = glue.get_crawler(Name=stack.pipeline.crawler)["Crawler"]["DatabaseName"]
    assert glue.get_tables(DatabaseName=database)["TableList"] == []


def test_a_second_smoke_test_finds_the_dimension_accepted(new_stage):
    stack = new_stage
    report = smoke.run(local_targets(), stack.client, timeout=300)
    assert report.ok, "\n".join(report.lines())
    accepted = f"s3://{stack.pipeline.data_bucket}/{smoke.ACCEPTED_AIRPORTS_KEY}"
    assert report.lines()[0] == f"dimension  accepted: {accepted}"
    assert fact_rows(stack, smoke.SMOKE_DAY) == []


def test_the_smoke_test_keeps_a_loaded_day_as_it_was(with_airports, local_stage):
    """A real day loaded before the smoke test is untouched by its rolled-back load."""
    from tests.support.pipeline import loaded_day

    day = loaded_day(
        local_stage,
        "2014-03-01",
        "Carrier,OriginAirportID,DestAirportID,DepDelay,ArrDelay\nAA,10397,12478,90,80\n",
    )
    report = smoke.run(local_targets(), local_stage.client, timeout=300)
    assert report.ok, "\n".join(report.lines())
    assert fact_rows(local_stage, "2014-03-01") == day.rows
    assert runs_of(local_stage, "2014-03-01") == day.runs


def test_a_failing_pipeline_fails_the_smoke_test_with_its_cause(with_airports, local_stage):
    stack = local_stage
    with warehouse_unreachable(stack):
        report = smoke.run(local_targets(), stack.client, timeout=300)

    assert not report.ok
    assert report.execution["status"] == "FAILED"
    assert "the execution ended FAILED" in report.problems
    assert report.notification == "SMOKE TEST: Flight pipeline FAILED: day 1900-01-01"
    assert report.lines()[-1] == "SMOKE TEST FAILED"


def test_make_smoke_stage_local_prints_the_report_and_exits_zero(new_stage, capsys):
    assert cli.main(["smoke", "--stage", "local", "--timeout", "300"]) == 0
    output = capsys.readouterr().out.splitlines()
    assert f"-> {new_stage.pipeline.state_machine_arn}" in output[0]
    assert output[1].startswith("dimension  accepted: ")
    assert output[-1] == "SMOKE TEST PASSED"
