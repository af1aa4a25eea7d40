"""Screenshots of the dashboard's main views for the README, from the running stack.

    make local-up
    .venv/bin/python scripts/dashboard_screenshots.py --examples   # writes docs/screenshots/*.png

Needs a running stack with some history (the newest failed execution and the newest day with
quarantined lines are shown) and Chromium (Debian: apt-get install chromium). ``--examples``
makes that history first: the sample airports and days, a day with two bad lines, and a day
whose load fails because the Glue connection points where no warehouse listens (restored after).
"""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.parse

from flightpipe.config import REPO, LocalSettings
from flightpipe.stack.dashboard import DASHBOARD_PATH
from flightpipe.status import fetch

OUT = REPO / "docs" / "screenshots"


def load_examples(settings: LocalSettings) -> None:
    from flightpipe.config import Names
    from flightpipe.stack.local import LocalStack

    session = LocalStack(settings).session()
    s3 = session.client("s3", endpoint_url=settings.endpoint_url)
    glue = session.client("glue", endpoint_url=settings.endpoint_url)
    names = Names.local()
    bucket, sample = names.data_bucket, REPO / "sample_data"
    s3.upload_file(str(sample / "airports.csv"), bucket, "dim/airports.csv")
    time.sleep(15)
    for path in sorted(sample.glob("daily_flights/date=*/flights.csv")):
        s3.upload_file(str(path), bucket, str(path.relative_to(sample)))
    lines = (sample / "daily_flights/date=2013-01-03/flights.csv").read_text().splitlines()
    lines[5:5] = ["UA,10397,12478,twenty,5"]
    lines[9:9] = ["DL,12478,,75,80"]
    s3.put_object(
        Bucket=bucket,
        Key="daily_flights/date=2013-01-08/flights.csv",
        Body=("\n".join(lines) + "\n").encode(),
    )
    time.sleep(60)
    name = names.glue_connection
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
        s3.upload_file(
            str(sample / "daily_flights/date=2013-01-04/flights.csv"),
            bucket,
            "daily_flights/date=2013-01-09/flights.csv",
        )
        time.sleep(30)
    finally:
        glue.update_connection(Name=name, ConnectionInput=good)


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
