"""``make smoke``'s check, run against the local stack as it runs against a deployment."""

from __future__ import annotations

import pytest

from flightpipe import smoke
from tests.integration.helpers import warehouse_unreachable

pytestmark = pytest.mark.integration


def test_the_smoke_test_passes_and_reports_what_it_checked(with_airports):
    stack = with_airports
    targets = smoke.Targets(stack.provisioned.data_bucket, stack.provisioned.state_machine_arn)

    report = smoke.run(targets, stack.client, timeout=240)

    assert report.ok, "\n".join(report.lines())
    assert report.execution["status"] == "SUCCEEDED"
    assert (report.run_report["rows_read"], report.run_report["rows_loaded"]) == (1, 1)
    assert report.notified
    assert report.lines()[-1] == "SMOKE TEST PASSED"


def test_a_failing_pipeline_fails_the_smoke_test_with_its_cause(with_airports):
    stack = with_airports
    with warehouse_unreachable(stack):
        report = smoke.run(
            smoke.Targets(stack.provisioned.data_bucket, stack.provisioned.state_machine_arn),
            stack.client,
            timeout=240,
        )

    assert not report.ok
    assert report.execution["status"] == "FAILED"
    assert "the execution ended FAILED" in report.problems
    assert report.lines()[-1] == "SMOKE TEST FAILED"
