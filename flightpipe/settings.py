"""The pipeline's resources and the local stack's settings, read in one place.

The resources are what the deployed stack's outputs name (``Pipeline``), for the stage local as
for a stage on AWS; the local stack's own settings (ports, state directory) come from the
environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flightpipe.paths import LOCAL_DIR

# The region of the local stack, and of a command given none.
DEFAULT_REGION = "us-east-1"
# The log lines of the local stack's own processes (the Glue service, job runs).
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Credentials of the local stack: LocalStack takes any, and "test" selects its default account,
# 000000000000.
LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}


@dataclass(frozen=True)
class Pipeline:
    """The deployed pipeline's resources, as its stack's outputs name them (the Outputs of
    infra/pipeline.yaml): the same for a stage on AWS and for the stage local on LocalStack."""

    data_bucket: str
    state_machine_arn: str
    alerts_topic_arn: str
    handler_failures_url: str
    glue_database: str
    crawler: str
    job: str
    airports_job: str
    glue_connection: str
    # The stage local's queue subscribed to the alerts topic, so notifications can be read.
    alerts_queue_url: str | None = None

    @classmethod
    def from_outputs(cls, outputs: Mapping[str, str]) -> Pipeline:
        return cls(
            data_bucket=outputs["DataBucket"],
            state_machine_arn=outputs["StateMachineArn"],
            alerts_topic_arn=outputs["AlertsTopicArn"],
            handler_failures_url=outputs["HandlerFailuresQueueUrl"],
            glue_database=outputs["GlueDatabaseName"],
            crawler=outputs["CrawlerName"],
            job=outputs["DelayedFlightsJobName"],
            airports_job=outputs["LoadAirportsJobName"],
            glue_connection=outputs["WarehouseConnectionName"],
            alerts_queue_url=outputs.get("AlertsInboxQueueUrl"),
        )

    @classmethod
    def of_stack(cls, cloudformation: Any, stage: str) -> Pipeline:
        """The pipeline deployed as the stack ``flightpipe-<stage>`` (through ``cloudformation``,
        a client of the account, or of LocalStack for the stage local)."""
        stack = cloudformation.describe_stacks(StackName=f"flightpipe-{stage}")["Stacks"][0]
        return cls.from_outputs({o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]})

    @property
    def state_machine(self) -> str:
        return self.state_machine_arn.rsplit(":", 1)[-1]


@dataclass(frozen=True)
class LocalSettings:
    """Where the local stack listens and keeps its state."""

    stack_port: int = 4566
    postgres_port: int = 5439
    region: str = DEFAULT_REGION
    state_dir: Path = LOCAL_DIR

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LocalSettings:
        env = os.environ if env is None else env
        return cls(
            stack_port=int(env.get("FLIGHTPIPE_STACK_PORT", cls.stack_port)),
            postgres_port=int(env.get("FLIGHTPIPE_POSTGRES_PORT", cls.postgres_port)),
            region=env.get("AWS_DEFAULT_REGION", cls.region),
            state_dir=Path(env.get("FLIGHTPIPE_STATE_DIR", str(LOCAL_DIR))),
        )

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.stack_port}"
