"""Simulation: a burst and a backfill under AWS-like timings (the ``aws`` time model).

Starts a local stack of its own (PostgreSQL, the Glue service and LocalStack on free ports,
with a state folder of its own, so a running ``make local-up`` is left alone; the pipeline
deployed as ``make local-up`` deploys it) with ``FLIGHTPIPE_TIME_MODEL=aws`` for LocalStack and
the Glue service alike: every crawl lasts at least a simulated minute, every job run starts for
a minute and runs for at least two, ``.sync`` polls once a simulated minute, and every timer of
the state machine runs at the clock's scale (``--scale`` simulated seconds per real second, 20
by default, slower than the local stack's default clock; ``flightpipe_localstack.clock``). The
model holds only while the real job runs fit in the modelled ones: at the local stack's default
scale of 40, two local Spark runs at once can outlast the model's two minutes
(docs/performance.md), hence 20 here. The report says how many runs outlasted the model (their
real durations are in the run reports the Glue service logs). The deployed definition runs
unchanged: its retry budgets are the ones under test. The stack is stopped at the end, and its
state folder removed unless a check failed.

1. **Burst**: ``--burst-days`` new days of ``--rows`` flights are uploaded at once.
2. **Backfill**: ``--backfill-days`` more days are put into S3 while the upload rule has no
   target (a bucket that already holds history), then ``flightpipe backfill`` loads them, at
   most its default window (the job's MaxConcurrentRuns + 1) at a time.

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
import contextlib
import io
import json
import math
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import psycopg
from flightpipe_localstack import clock
from local_stack import accept_airports

from flightpipe.commands import backfill
from flightpipe.commands.generate import generate_day
from flightpipe.devenv.postgres import free_port
from flightpipe.infra.stages import Targets
from flightpipe.settings import LocalSettings, Pipeline
from flightpipe.stack.deploy import deploy_local
from flightpipe.stack.local import LocalStack, stack_env_values

WARM_UP_DAY = date(2016, 12, 31)
BURST_FIRST = date(2017, 1, 1)
BACKFILL_FIRST = date(2018, 1, 1)
# Longer than S3 takes here to hand an object's event to EventBridge, even under load.
EVENT_DELIVERY_SECONDS = 5.0
CRAWL_LINE = re.compile(r"crawler \S+ \((full|incremental) crawl\)")


@dataclass
class Outcome:
    name: str
    days: list[date]
    real_seconds: float
    executions: list[dict[str, Any]]


def definition_limits(pipeline: Pipeline) -> tuple[int, int, dict[str, Any]]:
    """(the day job's MaxConcurrentRuns, the execution's TimeoutSeconds, the slot Retry), as
    deployed."""
    glue, sfn = boto3.client("glue"), boto3.client("stepfunctions")
    slots = int(glue.get_job(JobName=pipeline.job)["Job"]["ExecutionProperty"]["MaxConcurrentRuns"])
    described = sfn.describe_state_machine(stateMachineArn=pipeline.state_machine_arn)
    definition = json.loads(described["definition"])
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


def burst(s3: Any, sfn: Any, pipeline: Pipeline, days: list[date], rows: int) -> Outcome:
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for day in days:
            files[day] = Path(tmp) / f"{day}.csv"
            generate_day(files[day], day, rows, seed=day.toordinal())
        since = datetime.now(UTC)
        started = time.monotonic()

        def put(day: date) -> None:
            s3.upload_file(str(files[day]), pipeline.data_bucket, key(day))

        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(put, days))
        print(f"burst: {len(days)} days uploaded in {time.monotonic() - started:.1f}s real")
        executions = wait_until_ended(sfn, pipeline.state_machine_arn, since, len(days))
    return Outcome("burst", days, time.monotonic() - started, executions)


@contextlib.contextmanager
def uploads_unheard(events: Any) -> Iterator[None]:
    """Objects put meanwhile start no execution: the upload rule's targets are taken off, and
    put back once the events of the last puts have had time to arrive (S3 sends them to
    EventBridge asynchronously). Not DisableRule: LocalStack 4.13.1 still delivers a disabled
    rule's events to its targets (``_process_rules`` in its events provider never reads the
    rule's state)."""
    (rule,) = [r["Name"] for r in events.list_rules()["Rules"] if "OnObjectCreated" in r["Name"]]
    targets = events.list_targets_by_rule(Rule=rule)["Targets"]
    events.remove_targets(Rule=rule, Ids=[target["Id"] for target in targets])
    try:
        yield
        time.sleep(EVENT_DELIVERY_SECONDS)
    finally:
        events.put_targets(Rule=rule, Targets=targets)


def backfilled(
    s3: Any, sfn: Any, events: Any, pipeline: Pipeline, days: list[date], rows: int
) -> Outcome:
    with uploads_unheard(events), tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "day.csv"
        for day in days:
            generate_day(path, day, rows, seed=day.toordinal())
            s3.upload_file(str(path), pipeline.data_bucket, key(day))
    since = datetime.now(UTC)
    started = time.monotonic()
    out = io.StringIO()
    summary = backfill.run(
        Targets(pipeline.data_bucket, pipeline.state_machine_arn),
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
    executions = executions_since(sfn, pipeline.state_machine_arn, since)
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
    database_url: str,
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
    problems = loaded_once(database_url, outcome.days)
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
    """The real duration of each job run of ``days`` (its run report, in the Glue service's
    log)."""
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


def start_stack(settings: LocalSettings) -> tuple[Pipeline, str]:
    """PostgreSQL, the Glue service and LocalStack under ``settings``, the pipeline deployed;
    this process's AWS clients pointed at it. Returns the pipeline and the warehouse's URL."""
    stack = LocalStack(settings)
    database_url = stack.postgres.start()
    stack.start()
    outputs = deploy_local(
        stack.session(), settings, database_url, root_certificate=stack.postgres.ca_cert
    )
    values = stack_env_values(settings, database_url, outputs)
    os.environ.update({key: value for key, value in values.items() if key.startswith("AWS_")})
    return Pipeline.from_outputs(outputs), database_url


def stop_stack(settings: LocalSettings) -> list[str]:
    stack = LocalStack(settings)
    stopped = stack.stop()
    if stack.postgres.stop():
        stopped.append("postgres")
    return stopped


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--burst-days", type=int, default=30)
    parser.add_argument("--backfill-days", type=int, default=365)
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--scale", type=float, default=SIMULATION_SCALE)
    args = parser.parse_args()
    state = Path(tempfile.mkdtemp(prefix="flightpipe-simulation-"))
    # Read by LocalStack's Step Functions and by the Glue service, which inherit them.
    os.environ.update({clock.MODEL_VARIABLE: "aws", clock.SCALE_VARIABLE: str(args.scale)})
    settings = LocalSettings(stack_port=free_port(), postgres_port=free_port(), state_dir=state)
    model = clock.from_environment()
    print(f"time model {model}; state in {state}")
    ok, keep_state = False, True  # kept if a check fails or the run stops on an error
    try:
        pipeline, database_url = start_stack(settings)
        slots, timeout, retry = definition_limits(pipeline)
        s3, sfn, events = boto3.client("s3"), boto3.client("stepfunctions"), boto3.client("events")
        accept_airports(pipeline)
        # One day first, not counted: the first runs in a new Spark are several times slower.
        warm = burst(s3, sfn, pipeline, [WARM_UP_DAY], args.rows)
        print(f"warm-up day: {warm.real_seconds:.0f}s real (not counted)")
        log = LocalStack(settings).glue(0).log_file  # crawls and run reports
        ok = True
        if args.burst_days:
            before = count_crawls(log)
            days = [BURST_FIRST + timedelta(n) for n in range(args.burst_days)]
            outcome = burst(s3, sfn, pipeline, days, args.rows)
            crawls = count_crawls(log) - before
            runs = run_seconds(log, days)
            ok &= report(outcome, database_url, sfn, model, slots, timeout, retry, crawls, runs)
        if args.backfill_days:
            before = count_crawls(log)
            days = [BACKFILL_FIRST + timedelta(n) for n in range(args.backfill_days)]
            outcome = backfilled(s3, sfn, events, pipeline, days, args.rows)
            crawls = count_crawls(log) - before
            runs = run_seconds(log, days)
            ok &= report(outcome, database_url, sfn, model, slots, timeout, retry, crawls, runs)
        keep_state = not ok
    finally:
        print("stopped:", ", ".join(stop_stack(settings)) or "nothing")
        if keep_state:
            print(f"the stack's state and logs are kept in {state}")
        else:
            LocalStack(settings).postgres.delete()  # and the directory it moved to, if it did
            shutil.rmtree(state, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
