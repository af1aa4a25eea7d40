"""The handlers' settings, read from the environment once (``.chalice/config.json`` per stage)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache


class MissingSetting(RuntimeError):
    """A required environment variable is not set for this stage."""


@dataclass(frozen=True)
class Settings:
    data_bucket: str
    state_machine_arn: str
    alerts_topic_arn: str
    flights_prefix: str = "daily_flights/"
    airports_key: str = "dim/airports.csv"


def _required(name: str) -> str:
    value = os.environ.get(name, "")
    if not value or value == "REPLACED-AT-DEPLOY":
        raise MissingSetting(f"environment variable {name} is not set for this stage")
    return value


@cache
def settings() -> Settings:
    return Settings(
        data_bucket=_required("DATA_BUCKET"),
        state_machine_arn=_required("STATE_MACHINE_ARN"),
        alerts_topic_arn=_required("ALERTS_TOPIC_ARN"),
        flights_prefix=os.environ.get("FLIGHTS_PREFIX", "daily_flights/"),
        airports_key=os.environ.get("AIRPORTS_KEY", "dim/airports.csv"),
    )
