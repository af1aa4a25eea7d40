"""Simulation: a burst and a backfill under AWS-like timings (the ``aws`` time model).

Starts a local stack of its own (its own ports and state directory, so a running ``make
local-up`` is left alone) with ``FLIGHTPIPE_TIME_MODEL=aws``: every crawl lasts at least a
simulated minute, every job run starts for a minute and runs for at least two, ``.sync`` polls
once a simulated minute, and every timer of the state machine runs at the clock's scale
(``--scale`` simulated seconds per real second, 20 by default, slower than the local stack's
default clock; ``flightpipe.stack.clock``). The model holds only while the real job runs fit in
the modelled ones: two local Spark runs at once on this 2-core machine take 2 to 5 s, 200
simulated seconds at 40x where the model gives 120. The report says how many runs outlasted
the model.
The deployed definition runs unchanged: its retry budgets are the ones under test.

1. **Burst**: ``--burst-days`` new days of ``--rows`` flights are uploaded at once.
2. **Backfill**: ``--backfill-days`` more days are put into S3 with the upload rule disabled (a
   bucket that already holds history), then ``flightpipe.backfill`` loads them, at most its
   default window (the job's MaxConcurrentRuns + 1) at a time.

Each part ends when every execution it started has ended. It then checks, from the warehouse,
that every day was loaded exactly once (one SUCCEEDED run in ``pipeline_runs``, fact rows equal
to that run's count) and that no execution failed; and reports, in simulated time, the settle
time against the lower bound set by the deployed limits:

    lower bound = one crawl + ceil(days / MaxConcurrentRuns) x (job start + job run)

(no day can run before a crawl has catalogued it, and each job slot holds one run at a time),
with the crawls made, the most slot retries (ConcurrentRunsExceeded) any execution spent
against its budget, and the longest execution against the definition's TimeoutSeconds.

    .venv/bin/python benchmarks/simulate.py                       # 30-day burst, 365-day backfill
    .venv/bin/python benchmarks/simulate.py --backfill-days 0     # the burst only

Exit status 1 if a check fails. Nothing else is asserted.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import re
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import psycopg
from stack_client import accept_airports

from flightpipe import backfill
from flightpipe.config import LocalSettings
from flightpipe.generate import generate_day
from flightpipe.infra import load
from flightpipe.postgres import free_port
from flightpipe.stack import clock, local
from flightpipe.stack.provision import STATE_MACHINE_FILE
from flightpipe.stage import Targets

WARM_UP_DAY = date(2016, 12, 31)
BURST_FIRST = date(2017, 1, 1)
BACKFILL_FIRST = date(2018, 1, 1)
CRAWL_LINE = re.compile(r"crawler \S+ \((full|incremental) crawl\)")


@dataclass
class Outcome:
    name: str
    days: list[date]
    real_seconds: float
    executions: list[dict[str, Any]]


def definition_limits() -> tuple[int, int, dict[str, Any]]:
    """(the day job's MaxConcurrentRuns, the execution's TimeoutSeconds, the slot Retry)."""
    template = load()["Resources"]
    slots = int(
        template["DelayedFlightsJob"]["Properties"]["ExecutionProperty"]["MaxConcurrentRuns"]
    )
    definition = json.loads(STATE_MACHINE_FILE.read_text())
    (retry,) = [
        r
        for r in definition["States"]["RunJob"]["Retry"]
        if "Glue.ConcurrentRunsExceededException" in r["ErrorEquals"]
    ]
    return slots, int(definition["TimeoutSeconds"]), retry


def executions_since(sfn: Any, machine: str, since: datetime) -> list[dict[str, Any]]:
    pages = sfn.get_paginator("list_executions").paginate(stateMachineArn=machine)
    return [e for page in pages for e in page["executions"] if e["startDate"] >= since]


def wait_until_ended(sfn: Any, machine: str, since: datetime, count: int) -> list[dict[str, Any]]:
    while True:
        found = executions_since(sfn, machine, since)
        if len(found) >= count and all(e["status"] != "RUNNING" for e in found):
            return found
        time.sleep(0.25)


def slot_retries(sfn: Any, execution_arn: str) -> int:
    """How many times RunJob was refused a job slot in one execution."""
    pages = sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn)
    return sum(
        1
        for page in pages
        for event in page["events"]
        if event["type"] == "TaskFailed"
        and "ConcurrentRunsExceeded" in event["taskFailedEventDetails"].get("error", "")
    )


def burst(s3: Any, sfn: Any, values: dict[str, str], days: list[date], rows: int) -> Outcome:
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for day in days:
            files[day] = Path(tmp) / f"{day}.csv"
            generate_day(files[day], day, rows, seed=day.toordinal())
        since = datetime.now(UTC)
        started = time.monotonic()

        def put(day: date) -> None:
            s3.upload_file(str(files[day]), values["DATA_BUCKET"], key(day))

        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(put, days))
        print(f"burst: {len(days)} days uploaded in {time.monotonic() - started:.1f}s real")
        executions = wait_until_ended(sfn, values["STATE_MACHINE_ARN"], since, len(days))
    return Outcome("burst", days, time.monotonic() - started, executions)


def backfilled(
    s3: Any, sfn: Any, events: Any, values: dict[str, str], days: list[date], rows: int
) -> Outcome:
    (rule,) = [r["Name"] for r in events.list_rules()["Rules"] if "OnObjectCreated" in r["Name"]]
    events.disable_rule(Name=rule)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "day.csv"
            for day in days:
                generate_day(path, day, rows, seed=day.toordinal())
                s3.upload_file(str(path), values["DATA_BUCKET"], key(day))
    finally:
        events.enable_rule(Name=rule)
    since = datetime.now(UTC)
    started = time.monotonic()
    out = io.StringIO()
    summary = backfill.run(
        Targets(values["DATA_BUCKET"], values["STATE_MACHINE_ARN"]),
        boto3.client,
        days[0],
        days[-1],
        out=out,
        poll_seconds=0.25,
        tty=False,
    )
    real = time.monotonic() - started
    print(out.getvalue().splitlines()[0])
    print("\n".join(summary.lines()))
    executions = executions_since(sfn, values["STATE_MACHINE_ARN"], since)
    return Outcome("backfill", days, real, executions)


def key(day: date) -> str:
    return f"daily_flights/date={day}/flights.csv"


def loaded_once(database_url: str, days: list[date]) -> list[str]:
    """Problems with the warehouse's record of ``days``: each must have exactly one SUCCEEDED
    run and fact rows equal to that run's count."""
    with psycopg.connect(database_url) as conn:
        runs = dict(
            conn.execute(
                "SELECT flight_date, array_agg(rows_loaded) FROM airlines.pipeline_runs "
                "WHERE status = 'SUCCEEDED' AND flight_date = ANY(%s) GROUP BY flight_date",
                (days,),
            ).fetchall()
        )
        facts = dict(
            conn.execute(
                "SELECT flight_date, count(*) FROM airlines.daily_flights_fact "
                "WHERE flight_date = ANY(%s) GROUP BY flight_date",
                (days,),
            ).fetchall()
        )
    problems = []
    for day in days:
        loaded = runs.get(day, [])
        if len(loaded) != 1:
            problems.append(f"{day}: {len(loaded)} successful runs")
        elif facts.get(day, 0) != loaded[0]:
            problems.append(f"{day}: {facts.get(day, 0)} fact rows, the run loaded {loaded[0]}")
    return problems


def report(
    outcome: Outcome,
    sfn: Any,
    model: clock.TimeModel,
    slots: int,
    timeout: int,
    retry: dict[str, Any],
    crawls: int,
    runs: list[float],
) -> bool:
    days = len(outcome.days)
    bound = model.crawl_seconds + math.ceil(days / slots) * (
        model.job_start_seconds + model.job_run_seconds
    )
    settle = model.simulated(outcome.real_seconds)
    failed = [e for e in outcome.executions if e["status"] != "SUCCEEDED"]
    retries = max(slot_retries(sfn, e["executionArn"]) for e in outcome.executions)
    longest = max((e["stopDate"] - e["startDate"]).total_seconds() for e in outcome.executions)
    problems = loaded_once(os.environ["DATABASE_URL"], outcome.days)
    problems += [f"execution {e['name']} {e['status']}" for e in failed]
    if len(outcome.executions) != days:
        problems.append(f"{len(outcome.executions)} executions for {days} days")
    print(
        f"{outcome.name}: {days} days settled in {settle / 60:.1f} simulated minutes "
        f"({outcome.real_seconds:.0f}s real); lower bound {bound / 60:.1f} min "
        f"(a crawl of {model.crawl_seconds:.0f}s + {math.ceil(days / slots)} rounds of "
        f"{slots} job slots x {model.job_start_seconds + model.job_run_seconds:.0f}s); "
        f"ratio {settle / bound:.2f}\n"
        f"  {crawls} crawls; most slot retries in one execution {retries} of "
        f"{retry['MaxAttempts']}; longest execution {model.simulated(longest) / 60:.1f} "
        f"simulated minutes of TimeoutSeconds {timeout / 60:.0f}; "
        f"{len(failed)} executions not SUCCEEDED"
    )
    modelled = model.real(model.job_run_seconds)
    longer = sum(seconds > modelled for seconds in runs)
    print(
        f"  job runs longer (real) than the modelled run of {modelled:.1f}s: {longer} of "
        f"{len(runs)} (longest {max(runs, default=0):.1f}s); "
        + (
            "the model held"
            if longer <= len(runs) // 10
            else "the machine, not the model, set the pace: use a lower --scale"
        )
    )
    for problem in problems[:20]:
        print(f"  PROBLEM {problem}")
    return not problems


def run_seconds(log: Path, days: list[date]) -> list[float]:
    """The real duration of each job run of ``days`` (its run report, in the stack's log)."""
    wanted = {day.isoformat() for day in days}
    found = []
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        _, marker, document = line.partition("run report ")
        if marker:
            run = json.loads(document)
            if run.get("flight_date") in wanted:
                found.append(float(run["duration_seconds"]))
    return found


# At this scale a modelled job run (120 simulated seconds) lasts 6 real seconds, longer than
# two local runs at once take here, so the model, not the machine, sets the pace.
SIMULATION_SCALE = 20.0


def count_crawls(log: Path) -> int:
    return len(CRAWL_LINE.findall(log.read_text(encoding="utf-8", errors="replace")))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--burst-days", type=int, default=30)
    parser.add_argument("--backfill-days", type=int, default=365)
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--scale", type=float, default=SIMULATION_SCALE)
    args = parser.parse_args()
    state = Path(tempfile.mkdtemp(prefix="flightpipe-simulation-"))
    os.environ.update(
        {
            clock.MODEL_VARIABLE: "aws",
            clock.SCALE_VARIABLE: str(args.scale),
            "FLIGHTPIPE_STATE_DIR": str(state),
            "FLIGHTPIPE_STACK_PORT": str(free_port()),
            "FLIGHTPIPE_POSTGRES_PORT": str(free_port()),
        }
    )
    os.environ.pop("DATABASE_URL", None)
    settings = LocalSettings.from_env()
    model = clock.from_environment()
    slots, timeout, retry = definition_limits()
    print(f"time model {model}; state in {state}")
    try:
        values = local.up(settings)
        os.environ.update(values)
        s3, sfn, events = boto3.client("s3"), boto3.client("stepfunctions"), boto3.client("events")
        accept_airports(s3, values["DATA_BUCKET"])
        # One day first, not counted: the first runs in a new Spark are several times slower.
        warm = burst(s3, sfn, values, [WARM_UP_DAY], args.rows)
        print(f"warm-up day: {warm.real_seconds:.0f}s real (not counted)")
        log = settings.log_dir / "stack.log"
        ok = True
        if args.burst_days:
            before = count_crawls(log)
            days = [BURST_FIRST + timedelta(n) for n in range(args.burst_days)]
            outcome = burst(s3, sfn, values, days, args.rows)
            crawls = count_crawls(log) - before
            runs = run_seconds(log, days)
            ok &= report(outcome, sfn, model, slots, timeout, retry, crawls, runs)
        if args.backfill_days:
            before = count_crawls(log)
            days = [BACKFILL_FIRST + timedelta(n) for n in range(args.backfill_days)]
            outcome = backfilled(s3, sfn, events, values, days, args.rows)
            crawls = count_crawls(log) - before
            runs = run_seconds(log, days)
            ok &= report(outcome, sfn, model, slots, timeout, retry, crawls, runs)
    finally:
        print("stopped:", ", ".join(local.down(settings)) or "nothing")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
