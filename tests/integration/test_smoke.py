"""``make smoke``'s check, run against the local stack as it runs against a deployment."""

from __future__ import annotations

import pytest

from flightpipe import smoke, stage
from tests.integration.helpers import warehouse_unreachable

pytestmark = pytest.mark.integration


def local_targets() -> stage.Targets:
    """What ``make smoke STAGE=local`` finds: the deployed stack's outputs, on LocalStack."""
    return stage.targets_for("local", stage.session_for("local"))


def test_the_local_stage_is_found_from_the_deployed_stacks_outputs(with_airports, local_stage):
    stack = local_stage
    assert local_targets() == stage.Targets(
        stack.pipeline.data_bucket,
        stack.pipeline.state_machine_arn,
        stack.pipeline.handler_failures_url,
        stack.pipeline.alerts_queue_url,
    )


def test_the_smoke_test_passes_and_reports_what_it_checked(with_airports, local_stage):
    stack = local_stage

    report = smoke.run(local_targets(), stack.client, timeout=240)

    assert report.ok, "\n".join(report.lines())
    assert report.execution["status"] == "SUCCEEDED"
    assert (report.run_report["rows_read"], report.run_report["rows_loaded"]) == (1, 1)
    assert report.notified
    assert report.notification == "Flights 1900-01-01 loaded: 1 delayed flights"
    assert report.failures_waiting == 0
    assert f"notified   yes: {report.notification}" in report.lines()
    assert report.lines()[-1] == "SMOKE TEST PASSED"


def test_a_failing_pipeline_fails_the_smoke_test_with_its_cause(with_airports, local_stage):
    stack = local_stage
    with warehouse_unreachable(stack):
        report = smoke.run(local_targets(), stack.client, timeout=240)

    assert not report.ok
    assert report.execution["status"] == "FAILED"
    assert "the execution ended FAILED" in report.problems
    assert report.notification == "Flight pipeline FAILED: day 1900-01-01"
    assert report.lines()[-1] == "SMOKE TEST FAILED"


def test_make_smoke_stage_local_prints_the_report_and_exits_zero(
    with_airports, local_stage, capsys
):
    assert smoke.main(["--stage", "local", "--timeout", "240"]) == 0
    output = capsys.readouterr().out
    assert f"-> {local_stage.pipeline.state_machine_arn}" in output.splitlines()[0]
    assert output.splitlines()[-1] == "SMOKE TEST PASSED"
