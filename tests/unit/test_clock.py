"""The local stack's clock (``flightpipe_localstack.clock``): how it is chosen and what it scales.

One setting, read from the environment by LocalStack's Step Functions (the clock patch), by the
Glue service (crawl and job-run durations of the ``aws`` model) and by ``flightpipe local up``
(LocalStack's Lambda retry delay). That LocalStack's interpreter really runs its Wait states,
retries and ``.sync`` polls on it is tested on a running LocalStack, in
tests/integration/test_localstack_fixes.py (a unit test starts no server).
"""

from __future__ import annotations

import time

import pytest
from flightpipe_localstack import clock

from flightpipe.settings import LocalSettings
from flightpipe.stack.local import LAMBDA_RETRY_BASE_SECONDS, localstack_environment


def test_the_model_and_scale_come_from_the_environment():
    model = clock.from_environment({"FLIGHTPIPE_TIME_MODEL": "aws", "FLIGHTPIPE_TIME_SCALE": "120"})
    assert (model.name, model.scale, model.real(60), model.simulated(0.5)) == ("aws", 120, 0.5, 60)
    assert (model.crawl_seconds, model.job_start_seconds, model.job_run_seconds) == (60, 60, 120)
    assert model.sync_poll_seconds == 60


def test_unset_or_empty_means_the_local_model_at_the_default_scale():
    assert clock.from_environment({}) == clock.MODELS["local"]
    assert (
        clock.from_environment({"FLIGHTPIPE_TIME_MODEL": "", "FLIGHTPIPE_TIME_SCALE": ""})
        == (clock.MODELS["local"])
    )
    local = clock.MODELS["local"]
    assert (local.scale, local.crawl_seconds, local.job_run_seconds) == (clock.DEFAULT_SCALE, 0, 0)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"FLIGHTPIPE_TIME_MODEL": "slow"}, "FLIGHTPIPE_TIME_MODEL='slow': expected one of"),
        ({"FLIGHTPIPE_TIME_SCALE": "0"}, "FLIGHTPIPE_TIME_SCALE='0'"),
        ({"FLIGHTPIPE_TIME_SCALE": "-5"}, "FLIGHTPIPE_TIME_SCALE='-5'"),
        ({"FLIGHTPIPE_TIME_SCALE": "fast"}, "FLIGHTPIPE_TIME_SCALE='fast'"),
        ({"FLIGHTPIPE_TIME_SCALE": "nan"}, "FLIGHTPIPE_TIME_SCALE='nan'"),
    ],
)
def test_a_value_that_cannot_be_a_clock_is_refused_with_its_name(environ, message):
    """A typo must stop the stack at start, not run it on a clock nobody chose (a scale of 0
    would divide by zero in every Wait state, a negative one never wait)."""
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        clock.from_environment(environ)


def test_pad_holds_a_step_until_its_simulated_minimum_has_passed():
    """The Glue service keeps a crawl RUNNING at least ``crawl_seconds`` simulated (the ``aws``
    model): 60 simulated seconds at a scale of 600 are 0.1 s real."""
    model = clock.from_environment({"FLIGHTPIPE_TIME_MODEL": "aws", "FLIGHTPIPE_TIME_SCALE": "600"})
    started = time.monotonic()
    model.pad(started, model.crawl_seconds)
    assert time.monotonic() - started >= model.real(model.crawl_seconds)
    later = time.monotonic()
    model.pad(started - 10, model.crawl_seconds)  # its time has passed: no wait at all
    assert time.monotonic() - later < model.real(model.crawl_seconds)


def test_use_sets_the_processs_model_without_patching_localstack():
    before = clock.current()
    model = clock.from_environment({"FLIGHTPIPE_TIME_MODEL": "aws"})
    try:
        clock.use(model)
        assert clock.current() is model
    finally:
        clock.use(before)


@pytest.mark.parametrize(("scale", "delay"), [("1", "60"), ("40", "2"), ("60", "1"), ("1000", "1")])
def test_lambdas_retries_run_on_the_clock_in_whole_seconds(monkeypatch, tmp_path, scale, delay):
    """Lambda waits about a minute, then two, between the attempts of an asynchronous invocation;
    LocalStack waits n x LAMBDA_RETRY_BASE_DELAY whole seconds, so the stack gives it the
    scaled minute, never less than one second."""
    monkeypatch.setenv("FLIGHTPIPE_TIME_SCALE", scale)
    monkeypatch.delenv("FLIGHTPIPE_TIME_MODEL", raising=False)
    env = localstack_environment(LocalSettings(state_dir=tmp_path), "http://127.0.0.1:1")
    assert LAMBDA_RETRY_BASE_SECONDS == 60
    assert env["LAMBDA_RETRY_BASE_DELAY"] == delay
