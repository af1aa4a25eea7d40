"""The stack's dashboard: a page at ``/_flightpipe/dashboard`` and the JSON it reads.

Neither moto nor LocalStack's free edition shows a local pipeline the way AWS's consoles do;
the stack serves a small page (``dashboard.html``: plain HTML and JavaScript, no build step) and,
under ``/_flightpipe/api/``, what ``flightpipe.stack.observe`` reads:

* ``executions`` (newest first) and ``execution?arn=`` (its states, job logs, notifications);
* ``days`` (each day's last run, reconciled) and ``quarantine?date=`` (its quarantined lines);
* ``delays`` (from the fact table: per day, worst airports and carriers);
* ``log?run=`` (a job run's log);
* ``status``: ``executions`` and ``days`` together, for ``flightpipe status``.

The Glue service serves it (LocalStack routes ``/_flightpipe/`` there). It reads what AWS would
keep, through LocalStack's endpoint (boto3): the stack's outputs, Step Functions' executions and
their histories (the notifications the state machine sent are in them), the handlers' logs in
CloudWatch Logs (the alerts they sent), S3; the warehouse through the pipeline's Glue
connection, and job logs from its log folder; so the page works the same on the Docker-free and
the compose stack.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from botocore.exceptions import ClientError

from flightpipe.stack.observe import Observer

log = logging.getLogger("flightpipe.stack.dashboard")

PREFIX = "/_flightpipe/"
DASHBOARD_PATH = PREFIX + "dashboard"
API = PREFIX + "api/"
PAGE = Path(__file__).with_name("dashboard.html")
Answer = tuple[str, str, bytes]


class Dashboard:
    def __init__(self, aws_endpoint: str, log_dir: Path):
        self.aws_endpoint = aws_endpoint
        self.log_dir = log_dir
        self._observer: Observer | None = None

    def observer(self) -> Observer:
        if self._observer is None:
            import boto3

            from flightpipe.settings import DEFAULT_REGION, LOCAL_CREDENTIALS, Pipeline

            session = boto3.session.Session(
                aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                region_name=os.environ.get("AWS_DEFAULT_REGION", DEFAULT_REGION),
            )
            made: dict[str, Any] = {}

            def clients(service: str) -> Any:
                if service not in made:
                    made[service] = session.client(service, endpoint_url=self.aws_endpoint)
                return made[service]

            pipeline = Pipeline.of_stack(clients("cloudformation"), "local")
            self._observer = Observer(
                clients,
                pipeline.state_machine_arn,
                pipeline.data_bucket,
                pipeline.glue_connection,
                self.log_dir,
            )
        return self._observer

    def answer(self, path: str, query: str) -> Answer | None:
        """The response for ``path``, or None when it is not the dashboard's."""
        if path == DASHBOARD_PATH:
            return "200 OK", "text/html; charset=utf-8", PAGE.read_bytes()
        if not path.startswith(API):
            return None
        params = {k: v[-1] for k, v in parse_qs(query).items()}
        route = self._routes().get(path.removeprefix(API))
        if route is None:
            return _json("404 Not Found", {"error": f"no such API: {path}"})
        try:
            return _json("200 OK", route(params))
        except ClientError as error:
            if "does not exist" not in str(error):
                raise
            return _json("503 Service Unavailable", {"error": "the pipeline is not deployed"})
        except Exception as error:  # shown on the page; the stack goes on
            log.exception("dashboard %s failed", path)
            return _json("500 Internal Server Error", {"error": f"{type(error).__name__}: {error}"})

    def _routes(self) -> dict[str, Callable[[dict[str, str]], Any]]:
        return {
            "executions": lambda p: self.observer().executions(int(p.get("limit", "100"))),
            "execution": lambda p: self.observer().execution(p["arn"]),
            "days": lambda p: self.observer().days(),
            "quarantine": lambda p: self.observer().quarantined(p["date"], p.get("run")),
            "delays": lambda p: self.observer().delays(),
            "log": lambda p: {"run": p["run"], "text": self.observer().job_log(p["run"])},
            "status": lambda p: {
                "executions": self.observer().executions(int(p.get("limit", "100"))),
                "days": self.observer().days(),
            },
        }


def _json(status: str, value: Any) -> Answer:
    return status, "application/json", json.dumps(value, default=str).encode()
