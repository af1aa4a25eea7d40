"""The pipeline's names and local settings, read from the environment in one place.

Every resource name has a default, so a fresh clone works without configuration; each can be
overridden with a ``FLIGHTPIPE_*`` variable. Values that have no sensible default are required
by the code that needs them and fail there with their name.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LOCAL_DIR = REPO / ".local"


@dataclass(frozen=True)
class Names:
    """Names of the pipeline's AWS resources (the same locally and in an AWS account)."""

    data_bucket: str = "flightpipe-data"
    alerts_topic: str = "flightpipe-alerts"
    alerts_queue: str = "flightpipe-alerts-inbox"
    glue_database: str = "flightpipe"
    flights_table: str = "daily_flights"
    # Written only by the airports job, after it checked and loaded the upload; the day runs
    # join it. Outside the prefixes that start executions.
    accepted_airports_key: str = "accepted/airports.csv"
    crawler: str = "flightpipe-daily-flights"
    job: str = "flightpipe-delayed-flights"
    airports_job: str = "flightpipe-load-airports"
    glue_connection: str = "flightpipe-warehouse"
    warehouse_database: str = "flights"
    state_machine: str = "flightpipe-pipeline"
    object_created_rule: str = "flightpipe-object-created"
    execution_status_rule: str = "flightpipe-execution-status"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Names:
        env = os.environ if env is None else env
        values = {}
        for f in fields(cls):
            variable = f"FLIGHTPIPE_{f.name.upper()}"
            if env.get(variable):
                values[f.name] = env[variable]
        return cls(**values)


@dataclass(frozen=True)
class LocalSettings:
    """Where the local stack listens and keeps its state."""

    stack_port: int = 4566
    postgres_port: int = 5439
    region: str = "us-east-1"
    state_dir: Path = LOCAL_DIR
    chalice_apps: tuple[Path, ...] = (REPO / "chalice_app",)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LocalSettings:
        env = os.environ if env is None else env
        return cls(
            stack_port=int(env.get("FLIGHTPIPE_STACK_PORT", cls.stack_port)),
            postgres_port=int(env.get("FLIGHTPIPE_POSTGRES_PORT", cls.postgres_port)),
            region=env.get("AWS_DEFAULT_REGION", cls.region),
            state_dir=Path(env.get("FLIGHTPIPE_STATE_DIR", str(LOCAL_DIR))),
            chalice_apps=tuple(
                Path(p)
                for p in env.get("FLIGHTPIPE_CHALICE_APPS", str(REPO / "chalice_app")).split(":")
            ),
        )

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.stack_port}"
