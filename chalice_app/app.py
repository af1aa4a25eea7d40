"""Chalice handlers of the flight pipeline: adapters only, the logic is in chalicelib/."""

import logging

from chalice import Chalice
from chalicelib.pipeline import alert_if_unnotified, start_run
from chalicelib.settings import settings
from chalicelib.uploads import Ignored, parse_upload

app = Chalice(app_name="flightpipe")
app.log.setLevel(logging.INFO)

OBJECT_CREATED = {"source": ["aws.s3"], "detail-type": ["Object Created"]}
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
            event.detail, config.data_bucket, config.flights_prefix, config.airports_key
        )
    except Ignored as reason:
        app.log.info("ignored: %s", reason)
        return
    start_run(upload, config.state_machine_arn)


@app.on_cw_event(EXECUTION_ENDED_BADLY, name="on_execution_failed")
def on_execution_failed(event):
    config = settings()
    alert_if_unnotified(event.detail, config.state_machine_arn, config.alerts_topic_arn)
