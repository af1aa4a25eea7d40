"""Where a stage's pipeline is, and what its executions left: for the operator's commands.

``make smoke``, ``make replay`` and ``make backfill`` run from a person's machine against either
the local stack or a deployed stage, and need the same facts: the data bucket, the state
machine, the handler-failures queue. Every stage is the CloudFormation stack
``flightpipe-<stage>``, whose outputs name them (``flightpipe.settings.Pipeline``): a deployed
stage's in the account, with its usual credentials; ``local``'s on LocalStack, the stack
``make local-up`` deployed, reached with the endpoint and credentials of its ``stack.env``
(its outputs also name the alerts inbox, the queue only the stage local subscribes to the
alerts topic). An ended execution's
counts are in its job's run report, ``run-reports/date=<day>/<run id>.json``, the run id being
in the execution's output.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.exceptions

from flightpipe.settings import LocalSettings, Pipeline

STAGES = ("local", "dev", "prod")


class StageError(RuntimeError):
    """The stage's pipeline cannot be found: the local stack is down, or the stack is missing."""


@dataclass(frozen=True)
class Targets:
    """Where the pipeline of one stage is."""

    data_bucket: str
    state_machine_arn: str
    failures_queue_url: str | None = None
    # The stage local's queue subscribed to the alerts topic (a deployed stage emails them).
    alerts_queue_url: str | None = None

    @classmethod
    def of(cls, pipeline: Pipeline) -> Targets:
        return cls(
            pipeline.data_bucket,
            pipeline.state_machine_arn,
            pipeline.handler_failures_url,
            pipeline.alerts_queue_url,
        )


def local_values(settings: LocalSettings | None = None) -> dict[str, str]:
    """``stack.env`` as written by ``make local-up`` (in ``.local/``, or FLIGHTPIPE_STATE_DIR)."""
    from flightpipe.stack.local import LocalStack

    env_file = LocalStack(settings or LocalSettings.from_env()).env_file
    try:
        text = env_file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StageError(f"the local stack is not up: no {env_file} (make local-up)") from None
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def session_for(stage: str) -> Any:
    """A boto3 session for ``stage``. For ``local`` the stack's endpoint and credentials are put
    in the environment first, where boto3 reads them (``AWS_ENDPOINT_URL`` included)."""
    if stage == "local":
        os.environ.update({k: v for k, v in local_values().items() if k.startswith("AWS_")})
    return boto3.session.Session()


def targets_for(stage: str, session: Any) -> Targets:
    """Where the pipeline of ``stage`` is, from its stack's outputs (``stack_outputs``)."""
    stack_name = f"flightpipe-{stage}"
    try:
        return Targets.of(Pipeline.from_outputs(stack_outputs(stage, session)))
    except KeyError as missing:
        raise StageError(f"stack {stack_name} has no output {missing}: deploy it again") from None


def stack_outputs(stage: str, session: Any) -> dict[str, str]:
    """The outputs of the stack ``flightpipe-<stage>``: on LocalStack for ``local`` (the
    endpoint of its ``stack.env``, which ``session_for`` put in the environment), in the
    session's account otherwise."""
    stack_name = f"flightpipe-{stage}"
    where = (
        f"the local stack at {os.environ.get('AWS_ENDPOINT_URL')} (make local-up)"
        if stage == "local"
        else "the account"
    )
    try:
        stack = session.client("cloudformation").describe_stacks(StackName=stack_name)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
        raise StageError(
            f"cannot read the outputs of stack {stack_name} in {where}: {error}"
        ) from None
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Stacks"][0].get("Outputs", [])}


def run_report(s3: Any, bucket: str, day: str, execution: dict[str, Any]) -> dict[str, Any]:
    """The job's run report of an ended day execution; empty if the execution ran no job."""
    job = json.loads(execution.get("output") or "{}").get("job", {})
    if not job.get("id"):
        return {}
    key = f"run-reports/date={day}/{job['id']}.json"
    return dict(json.load(s3.get_object(Bucket=bucket, Key=key)["Body"]))
