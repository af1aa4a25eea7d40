"""The stack's dashboard: a page at ``/_flightpipe/dashboard`` and the JSON it reads.

Neither moto nor LocalStack's free edition shows a local pipeline the way AWS's consoles do;
the stack serves a small page (``dashboard.html``: plain HTML and JavaScript, no build step) and,
under ``/_flightpipe/api/``, what ``flightpipe.observe`` reads:

* ``executions`` (newest first) and ``execution?arn=`` (its states, job logs, notifications);
* ``days`` (each day's last run, reconciled) and ``quarantine?date=`` (its quarantined lines);
* ``delays`` (from the fact table: per day, worst airports and carriers);
* ``log?run=`` (a job run's log);
* ``status``: ``executions`` and ``days`` together, for ``flightpipe status``.

The stack reads itself through its own endpoint (boto3), the warehouse through the pipeline's
Glue connection, notifications from moto's record of what the alerts topic published, and job
logs from its log folder; so the page works the same on the Docker-free and the compose stack.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from flightpipe.observe import Observer

log = logging.getLogger("flightpipe.stack.dashboard")

PREFIX = "/_flightpipe/"
DASHBOARD_PATH = PREFIX + "dashboard"
API = PREFIX + "api/"
PAGE = Path(__file__).with_name("dashboard.html")
Answer = tuple[str, str, bytes]


class Dashboard:
    def __init__(self, port: int, log_dir: Path):
        self.port = port
        self.log_dir = log_dir
        self._observer: Observer | None = None

    def observer(self) -> Observer:
        if self._observer is None:
            import boto3

            from flightpipe.config import Names
            from flightpipe.stack.server import LOCAL_CREDENTIALS

            names = Names.local()
            session = boto3.session.Session(
                aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
            )
            endpoint = f"http://127.0.0.1:{self.port}"
            made: dict[str, Any] = {}

            def clients(service: str) -> Any:
                if service not in made:
                    made[service] = session.client(service, endpoint_url=endpoint)
                return made[service]

            machines = clients("stepfunctions").list_state_machines()["stateMachines"]
            arn = next(m["stateMachineArn"] for m in machines if m["name"] == names.state_machine)
            self._observer = Observer(
                clients,
                arn,
                names.data_bucket,
                names.glue_connection,
                self.log_dir,
                notifications=lambda: published(names.alerts_topic),
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
        except StopIteration:
            return _json("503 Service Unavailable", {"error": "the pipeline is not provisioned"})
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


def published(topic_name: str) -> list[dict[str, Any]]:
    """What the topic published, oldest first, from moto's record of it."""
    from moto.sns.models import sns_backends

    found = []
    for account in sns_backends.values():
        for backend in account.values():
            for topic in backend.topics.values():
                if topic.name == topic_name:
                    for message_id, message, subject, attributes, _ in topic.sent_notifications:
                        found.append(
                            {
                                "id": message_id,
                                "subject": subject,
                                "message": message,
                                "status": ((attributes or {}).get("status") or {}).get(
                                    "StringValue"
                                ),
                            }
                        )
    return found
