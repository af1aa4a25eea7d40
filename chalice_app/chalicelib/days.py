"""Whether a day's job run may start now: no run of the day job for that day is active.

The state machine asks before it starts the day job (``WaitForTheDay``) and, while a run of the
same day is active, waits and asks again, so that runs of one day follow one another without a
job run sitting in a billed slot while it waits. It is a courtesy, not the guarantee: two
executions that ask at the same moment are both told the day is free, and the job's own wait
(``glue_job/flightjob/aws_io.py``, ``wait_for_earlier_runs``) orders their runs. That module
cannot be imported here (the Glue job and the functions are packaged apart), so the listing is
repeated.

Why two waits rather than a lock or Glue's job queue: docs/decisions/same-day-runs.md.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

ACTIVE_RUN_STATES = frozenset({"STARTING", "RUNNING", "STOPPING", "WAITING"})
DAY_ARGUMENT = "--flight_date"
# Glue lists a job's runs newest first, and no run lasts longer than a Glue job's largest timeout
# (7 days): listing stops at a page of runs older than that.
_LONGEST_RUN = timedelta(days=7)


class DayBusy(Exception):
    """A run of the day is active. The state machine retries on this error's name."""


def active_runs_of_day(glue: Any, job_name: str, day: str) -> list[str]:
    """The active runs of ``job_name`` for ``day``, as "<run id> (<state>)"."""
    found: list[str] = []
    newest = None
    for page in glue.get_paginator("get_job_runs").paginate(JobName=job_name):
        runs = page["JobRuns"]
        for run in runs:
            arguments = run.get("Arguments") or {}
            if run["JobRunState"] in ACTIVE_RUN_STATES and arguments.get(DAY_ARGUMENT) == day:
                found.append(f"{run['Id']} ({run['JobRunState']})")
        starts = [run["StartedOn"] for run in runs]
        newest = max([*starts, *([newest] if newest else [])], default=None)
        if newest and starts and max(starts) < newest - _LONGEST_RUN:
            break
    return found


def check_day_free(glue: Any, job_name: str, day: str) -> dict[str, str]:
    """``{"day": day}`` when no run of ``day`` is active; else raise DayBusy naming them."""
    active = active_runs_of_day(glue, job_name, day)
    if active:
        raise DayBusy(f"day {day}: run {', '.join(active)} of {job_name} is still active")
    return {"day": day}
