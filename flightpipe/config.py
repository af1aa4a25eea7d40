"""The pipeline's names and local settings, read in one place.

The resource names are the template's (infra/pipeline.yaml) for the stage ``local``, read through
``flightpipe.stack.template``, so the local stack is named as a deployment of that stage would
be. The local stack's own settings (ports, state directory) come from the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LOCAL_DIR = REPO / ".local"


@dataclass(frozen=True)
class Names:
    """Names of the pipeline's resources in the local stack (infra/pipeline.yaml, stage local)."""

    data_bucket: str
    alerts_topic: str
    alerts_queue: str  # local only: the SQS queue subscribed to the alerts topic
    glue_database: str
    flights_table: str
    # Written only by the airports job, after it checked and loaded the upload; the day runs
    # join it. Outside the prefixes that start executions.
    accepted_airports_key: str
    crawler: str
    job: str
    airports_job: str
    glue_connection: str
    warehouse_database: str
    state_machine: str
    object_created_rule: str
    execution_status_rule: str

    @classmethod
    def local(cls) -> Names:
        return _local_names()


@cache
def _local_names() -> Names:
    from flightpipe.stack.template import local_names

    return Names(**local_names())


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
