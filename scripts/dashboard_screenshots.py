"""Screenshots of the dashboard's main views for the README, from the running stack.

    make local-up
    .venv/bin/python scripts/dashboard_screenshots.py --examples   # writes docs/screenshots/*.png

Needs a running stack with some history (the newest failed execution and the newest day with
quarantined lines are shown) and Chromium (Debian: apt-get install chromium). ``--examples``
makes that history first, on the pipeline the stack's outputs name: the sample airports and
days, a day with two bad lines, and a day whose load fails because the Glue connection points
where no warehouse listens (restored after).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
from typing import Any

from flightpipe.commands.status import fetch
from flightpipe.paths import REPO
from flightpipe.settings import LocalSettings
from flightpipe.stack.dashboard import DASHBOARD_PATH

OUT = REPO / "docs" / "screenshots"


def load_examples(settings: LocalSettings) -> None:
    """Upload the examples one after another, each once the run of the one before has ended (the
    day runs join the airports dimension the airports run accepted)."""
    from flightpipe.settings import Pipeline
    from flightpipe.stack.local import LocalStack

    session = LocalStack(settings).session()

    def client(service: str) -> Any:
        return session.client(service, endpoint_url=settings.endpoint_url)

    s3, glue = client("s3"), client("glue")
    pipeline = Pipeline.of_stack(client("cloudformation"), "local")
    bucket, sample = pipeline.data_bucket, REPO / "sample_data"

    def put(key: str, body: bytes) -> None:
        etag = s3.put_object(Bucket=bucket, Key=key, Body=body)["ETag"].strip('"')
        ended(client("stepfunctions"), pipeline.state_machine_arn, key, etag)

    put("dim/airports.csv", (sample / "airports.csv").read_bytes())
    for path in sorted(sample.glob("daily_flights/date=*/flights.csv")):
        put(str(path.relative_to(sample)), path.read_bytes())
    lines = (sample / "daily_flights/date=2013-01-03/flights.csv").read_text().splitlines()
    lines[5:5] = ["UA,10397,12478,twenty,5"]
    lines[9:9] = ["DL,12478,,75,80"]
    put("daily_flights/date=2013-01-08/flights.csv", ("\n".join(lines) + "\n").encode())
    name = pipeline.glue_connection
    found = glue.get_connection(Name=name, HidePassword=False)["Connection"]
    good = {
        "Name": name,
        "ConnectionType": "JDBC",
        "ConnectionProperties": found["ConnectionProperties"],
    }
    unreachable = {
        **good["ConnectionProperties"],
        "JDBC_CONNECTION_URL": "jdbc:postgresql://127.0.0.1:1/nowhere",
    }
    glue.update_connection(Name=name, ConnectionInput={**good, "ConnectionProperties": unreachable})
    try:
        put(
            "daily_flights/date=2013-01-09/flights.csv",
            (sample / "daily_flights/date=2013-01-04/flights.csv").read_bytes(),
        )
    finally:
        glue.update_connection(Name=name, ConnectionInput=good)


def ended(sfn: Any, machine: str, key: str, etag: str, timeout: float = 600.0) -> None:
    """Wait until the execution the upload of ``key`` (``etag``) started has ended."""
    deadline = time.monotonic() + timeout
    seen: set[str] = set()
    while time.monotonic() < deadline:
        for item in sfn.list_executions(stateMachineArn=machine)["executions"]:
            if item["executionArn"] in seen:
                continue
            described = sfn.describe_execution(executionArn=item["executionArn"])
            given = json.loads(described.get("input") or "{}")
            if (given.get("key"), given.get("etag")) != (key, etag):
                seen.add(item["executionArn"])
            elif described["status"] != "RUNNING":
                print(f"{key}: {described['status']}")
                return
        time.sleep(1.0)
    raise SystemExit(f"no execution for {key} ended within {timeout:.0f}s")


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", action="store_true", help="make some history first")
    args = parser.parse_args()
    settings = LocalSettings.from_env()
    if args.examples:
        load_examples(settings)
    browser = next(shutil.which(b) for b in ("chromium", "chromium-browser") if shutil.which(b))
    page = settings.endpoint_url + DASHBOARD_PATH
    executions = fetch(settings, "executions")
    days = fetch(settings, "days")
    views = {"executions": "#executions", "delays": "#delays", "days": "#days"}
    failed = next((e for e in executions if e["status"] == "FAILED"), None)
    if failed:
        views["failed-execution"] = "#execution=" + urllib.parse.quote(failed["arn"])
    quarantined = next((d for d in days if d["rows_quarantined"]), None)
    if quarantined:
        views["day-with-quarantine"] = "#day=" + quarantined["flight_date"]
    OUT.mkdir(parents=True, exist_ok=True)
    for name, fragment in views.items():
        path = OUT / f"{name}.png"
        subprocess.run(
            [
                browser,
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--window-size=1280,800",
                "--virtual-time-budget=15000",
                f"--screenshot={path}",
                page + fragment,
            ],
            capture_output=True,
            check=True,
            timeout=120,
        )
        print(f"{path.relative_to(REPO)}")


if __name__ == "__main__":
    main()
