"""The handlers' settings, read from the environment once: what infra/pipeline.yaml gives each
function, or ``chalice deploy`` from ``.chalice/config.json`` (``make chalice-config``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache

# Where uploads that mean work land. The upload rule's pattern (app.py) is built from these, so
# they are constants, not settings: an event outside them never reaches the handler.
FLIGHTS_PREFIX = "daily_flights/"
AIRPORTS_KEY = "dim/airports.csv"


class MissingSetting(RuntimeError):
    """A required environment variable is not set for this stage."""


@dataclass(frozen=True)
class Settings:
    data_bucket: str
    state_machine_arn: str
    alerts_topic_arn: str
    stage: str
    flights_prefix: str = FLIGHTS_PREFIX
    airports_key: str = AIRPORTS_KEY


def _required(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise MissingSetting(f"environment variable {name} is not set for this stage")
    return value


@cache
def settings() -> Settings:
    return Settings(
        data_bucket=_required("DATA_BUCKET"),
        state_machine_arn=_required("STATE_MACHINE_ARN"),
        alerts_topic_arn=_required("ALERTS_TOPIC_ARN"),
        stage=_required("STAGE"),
    )


def day_job_name() -> str:
    """The day job's name: the one setting of the function that asks whether a day is free
    (``day_is_free``), which the other handlers' settings do not need."""
    return _required("DAY_JOB_NAME")
