"""What a person sees of the pipeline: `flightpipe status|runs|logs` and the stack's dashboard in
a real browser (Debian's headless Chromium), after a good day, a day with a bad line and a day
whose load failed. The browser tests are skipped, saying so, where no Chromium is installed."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from flightpipe.commands import status
from flightpipe.stack.dashboard import DASHBOARD_PATH
from tests.support.pipeline import finished, upload, warehouse_unreachable

HEADER = "Carrier,OriginAirportID,DestAirportID,DepDelay,ArrDelay\n"
GOOD, BAD, FAILED = "2015-08-01", "2015-08-02", "2015-08-03"
BAD_LINE = "UA,10397,12478,twenty,5"
BROWSERS = ("chromium", "chromium-browser", "google-chrome")


@dataclass
class Uploaded:
    stack: object
    executions: dict[str, dict]


@pytest.fixture(scope="module")
def uploaded(with_airports) -> Uploaded:
    stack = with_airports
    executions = {}
    for day, body in (
        (GOOD, HEADER + "AA,10397,12478,75,80\nDL,12478,10397,5,0\n"),
        (BAD, HEADER + f"AA,10397,12478,61,70\n{BAD_LINE}\n"),
    ):
        key = f"daily_flights/date={day}/flights.csv"
        executions[day] = finished(stack, key, upload(stack, key, body.encode()))
        assert executions[day]["status"] == "SUCCEEDED", executions[day].get("cause")
    key = f"daily_flights/date={FAILED}/flights.csv"
    with warehouse_unreachable(stack):
        executions[FAILED] = finished(
            stack, key, upload(stack, key, (HEADER + "AA,10397,12478,90,95\n").encode())
        )
    assert executions[FAILED]["status"] == "FAILED"
    return Uploaded(stack, executions)


def test_status_is_a_table_with_each_days_rows_and_the_failures_state_and_error(uploaded):
    out = io.StringIO()
    assert status.status(uploaded.stack.settings, as_json=False, out=out) == 0
    lines = {line.split()[0]: line for line in out.getvalue().splitlines() if line.strip()}
    assert lines["day"].split() == list(status.COLUMNS)
    assert lines[GOOD].split()[:6] == [GOOD, "SUCCEEDED", "2", "1", "0", "0"]
    assert lines[BAD].split()[:6] == [BAD, "SUCCEEDED", "2", "1", "1", "0"]
    assert lines[FAILED].split()[1] == "FAILED"
    assert "RunJob: States.TaskFailed: LoadError: " in lines[FAILED], lines[FAILED]

    out = io.StringIO()
    status.status(uploaded.stack.settings, as_json=True, out=out)
    rows = {row["day"]: row for row in json.loads(out.getvalue())}
    assert "Connection refused" in rows[FAILED]["problem"]
    assert json.loads(rows[FAILED]["cause"])["JobRunState"] == "FAILED"


def test_runs_and_logs_show_a_days_path_and_its_job_log(uploaded):
    settings = uploaded.stack.settings
    out = io.StringIO()
    assert status.runs(settings, FAILED, out=out) == 0
    text = out.getvalue()
    assert "FAILED" in text and "job run jr_" in text and "Connection refused" in text
    run_id = re.search(r"job run (jr_\w+)", text).group(1)

    out = io.StringIO()
    assert status.logs(settings, run_id, out=out) == 0
    assert "LoadError" in out.getvalue() and "Traceback" in out.getvalue()
    out = io.StringIO()
    assert status.logs(settings, uploaded.executions[FAILED]["name"], out=out) == 0
    assert f"==> job run {run_id}" in out.getvalue()


@pytest.fixture(scope="module")
def browser() -> str:
    found = next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)
    if found is None:
        pytest.skip("browser tests skipped: no Chromium (Debian: apt-get install chromium)")
    return found


def rendered(browser: str, url: str, screenshot: Path | None = None) -> str:
    """The page's DOM after its scripts ran, as headless Chromium renders it."""
    flags = [
        browser,
        "--headless=new",
        "--no-sandbox",  # as root, in CI
        "--disable-gpu",
        "--window-size=1280,1000",
        "--virtual-time-budget=15000",
    ]
    if screenshot is not None:
        subprocess.run(
            [*flags, f"--screenshot={screenshot}", url],
            capture_output=True,
            timeout=120,
            check=True,
        )
    result = subprocess.run(
        [*flags, "--dump-dom", url], capture_output=True, text=True, timeout=120, check=True
    )
    return result.stdout


@pytest.mark.browser
def test_the_dashboard_shows_the_failure_its_cause_and_the_quarantined_line(
    uploaded, browser, tmp_path
):
    page = uploaded.stack.settings.endpoint_url + DASHBOARD_PATH
    failed = uploaded.executions[FAILED]["executionArn"]

    listing = rendered(browser, page + "#executions", tmp_path / "executions.png")
    assert f"date={FAILED}/flights.csv" in listing and "FAILED" in listing
    assert (tmp_path / "executions.png").stat().st_size > 10_000

    detail = rendered(browser, page + "#execution=" + failed)
    failure = re.search(r'<p class="error" id="failure">(.*?)</p>', detail, re.S)
    assert failure and "Connection refused" in failure.group(1), detail[:3000]
    assert "LoadError" in detail  # the job log
    assert "Path through the state machine" in detail

    day = rendered(browser, page + f"#day={BAD}")
    table = re.search(r'<table id="quarantine">(.*?)</table>', day, re.S).group(1)
    assert BAD_LINE in table and ">3<" in table, table  # line 3 of the file, the header is 1
    assert "adds up" in day

    delays = rendered(browser, page + "#delays")
    assert len(re.findall(r"<rect class=\"bar", delays)) >= 3
