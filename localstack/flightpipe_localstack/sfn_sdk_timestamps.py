"""Fix: timestamps in the results of ``aws-sdk:*`` tasks stay Python datetimes (LocalStack 4.13.1),
so the state data is not JSON and ``States.JsonToString`` fails the execution.

LocalStack calls the service with boto3 and keeps its answer as boto3 parsed it
(``StateTaskServiceAwsSdk._eval_service_task``, ``state_task_service_aws_sdk.py``); the one
normalisation of response values, ``StateTaskService._from_boto_response_value``
(``state_task_service.py``), turns a streaming body into text and leaves a timestamp a
``datetime``. History events and DescribeExecution serialise it (``utils/encoding.py``), but
``States.JsonToString`` (``json_to_string.py``: plain ``json.dumps``) raises, and the execution
fails with ``States.Runtime``, "TypeError(Object of type datetime is not JSON serializable)": the
pipeline's ``CrawlFailed`` state (``States.JsonToString($.crawler.crawler.LastCrawl)``) does on
every failed crawl. On AWS a task's result is a JSON document whose timestamps are strings such
as ``"2013-08-23T01:02:15.422Z"`` (DescribeStacks through the aws-sdk integration, quoted in
sam-goodwin/functionless#489).

``install`` wraps ``_from_boto_response_value`` so that a datetime becomes that string (UTC,
milliseconds); every other value is left to LocalStack.
"""

from __future__ import annotations

import datetime
import inspect
from typing import Any

from flightpipe_localstack.patching import replace

PATCH_ID = "flightpipe.sfn_sdk_timestamps"
METHOD = "_from_boto_response_value"
EXPECTED = "isinstance(response_value, StreamingBody)"  # what LocalStack's version handles


def aws_timestamp(value: datetime.datetime | datetime.date) -> str:
    """A timestamp as Step Functions writes it into a task's result."""
    if not isinstance(value, datetime.datetime):
        value = datetime.datetime(value.year, value.month, value.day, tzinfo=datetime.UTC)
    elif value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    value = value.astimezone(datetime.UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def install() -> bool:
    from localstack.services.stepfunctions.asl.component.state.state_execution.state_task.service import (  # noqa: E501
        state_task_service as module,
    )

    cls = module.StateTaskService
    current = vars(cls).get(METHOD)
    original = current.__func__ if isinstance(current, staticmethod) else current

    def expect(value: Any) -> str | None:
        if not isinstance(value, staticmethod):
            return f"is {type(value).__name__}, not a staticmethod"
        return (
            None if EXPECTED in inspect.getsource(value.__func__) else f"no longer has '{EXPECTED}'"
        )

    def _from_boto_response_value(response_value: Any) -> Any:
        if isinstance(response_value, datetime.date):
            return aws_timestamp(response_value)
        return original(response_value)

    _from_boto_response_value.__wrapped__ = original  # type: ignore[attr-defined]
    new = staticmethod(_from_boto_response_value)
    return replace(cls, METHOD, new, PATCH_ID, expect)
