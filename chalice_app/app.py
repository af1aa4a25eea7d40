"""Chalice handlers of the flight pipeline: adapters only, the logic is in chalicelib/."""

import logging

from chalice import Chalice
from chalicelib.days import check_day_free
from chalicelib.pipeline import alert_if_unnotified, client, start_run, stored_key
from chalicelib.settings import AIRPORTS_KEY, FLIGHTS_PREFIX, day_job_name, settings
from chalicelib.uploads import Ignored, parse_upload

# configure_logs=False: Chalice would give the ``flightpipe`` logger its own stdout handler
# without timestamps and stop it propagating, which takes every ``flightpipe.*`` logger of the
# process with it. Lambda's Python runtime puts a handler on the root logger before it imports
# this module (timestamp, request id, level; JSON when the function's log format is JSON), and
# the local stack puts its own there, so records only need to propagate.
app = Chalice(app_name="flightpipe", configure_logs=False)
app.log.setLevel(logging.INFO)

# Only the keys that mean work reach the handler (infra/pipeline.yaml adds the bucket), so the
# pipeline's own writes (glue-temp/, run-reports/, quarantine/, accepted/) invoke nothing.
OBJECT_CREATED = {
    "source": ["aws.s3"],
    "detail-type": ["Object Created"],
    "detail": {"object": {"key": [{"prefix": FLIGHTS_PREFIX}, AIRPORTS_KEY]}},
}
EXECUTION_ENDED_BADLY = {
    "source": ["aws.states"],
    "detail-type": ["Step Functions Execution Status Change"],
    "detail": {"status": ["FAILED", "TIMED_OUT", "ABORTED"]},
}


@app.on_cw_event(OBJECT_CREATED, name="on_object_created")
def on_object_created(event):
    config = settings()
    try:
        upload = parse_upload(
            stored_key(event.detail), config.data_bucket, config.flights_prefix, config.airports_key
        )
    except Ignored as reason:
        app.log.info("ignored: %s", reason)
        return
    start_run(upload, config.state_machine_arn)


@app.on_cw_event(EXECUTION_ENDED_BADLY, name="on_execution_failed")
def on_execution_failed(event):
    config = settings()
    alert_if_unnotified(
        event.detail, config.state_machine_arn, config.alerts_topic_arn, config.stage
    )


@app.lambda_function(name="day_is_free")
def day_is_free(event, context):
    """Asked by the state machine before the day job runs: returns when no run of the event's
    day is active, else raises DayBusy, on which the state machine waits and asks again."""
    return check_day_free(client("glue"), day_job_name(), event["day"])
