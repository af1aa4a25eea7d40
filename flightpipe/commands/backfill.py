"""``flightpipe backfill --from DAY --to DAY``: reprocess a range of days from the objects in S3.

For history that must run again (a fixed job, a fault that spanned days, a new stage filled
from its bucket) without uploading anything. Every day of the range with objects under
``daily_flights/date=<day>/`` gets one execution, started as ``make replay`` starts one (the
upload handler's input for the day's newest object, under a new name:
``flightpipe.commands.replay.start_day``). One per day is enough: the job loads every object
of its day, whichever one started it. Days without objects are skipped and listed, not failed.

At most ``window`` executions are in flight: by default the day job's ``MaxConcurrentRuns`` in
infra/pipeline.yaml plus one, so both job slots stay busy and no execution spends the state
machine's bounded job-slot retries (docs/decisions/job-slot-retries.md). ``--window`` changes
it.

Progress: on a terminal, one line rewritten in place (days done of total, running, failed,
elapsed), with each failure printed above it as it happens; elsewhere (CI logs, a pipe), one
line per day as it ends. Then a summary: days loaded, days failed (error, cause and the
command that reruns each), days skipped, rows loaded (from each run's report in
``run-reports/``) and the time taken. Exit status 1 if any day failed or did not end.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, TextIO

import botocore.exceptions

from flightpipe.commands.replay import REPLAY_COMMAND, Upload, day_uploads, run_stamp, start_day
from flightpipe.infra import executions
from flightpipe.infra.executions import ENDED_BADLY, TERMINAL, failure_of, readable_cause
from flightpipe.infra.stages import STAGES, Targets, run_report
from flightpipe.progress import Counts, Progress, clock_text, one_line

LOCAL_RERUN = REPLAY_COMMAND.replace("{stage}", "local")


def default_window() -> int:
    """The day job's ``MaxConcurrentRuns`` as deployed (infra/pipeline.yaml), plus one."""
    from flightpipe.infra.template import load

    job = load()["Resources"]["DelayedFlightsJob"]["Properties"]
    return int(job["ExecutionProperty"]["MaxConcurrentRuns"]) + 1


@dataclass
class DayRun:
    """One day of the range: skipped (no objects), waiting, running, or how it ended."""

    day: date
    status: str = "WAITING"
    execution_arn: str | None = None
    error: str = ""
    cause: str = ""
    rows_loaded: int | None = None
    seconds: float | None = None

    def line(self) -> str:
        """The day as one line of progress, when it has ended."""
        if self.status == "SUCCEEDED":
            rows = "no run report" if self.rows_loaded is None else f"{self.rows_loaded} rows"
            outcome = f"loaded {rows}"
        else:
            outcome = self.error
        took = f" in {self.seconds:.1f}s" if self.seconds is not None else ""
        return f"{self.day}  {self.status:<9}  {outcome}{took}"


def spans(days: Sequence[date]) -> str:
    """Days as runs of consecutive days: ``2013-01-01..2013-01-03, 2013-01-05``."""
    parts: list[str] = []
    ordered = sorted(days)
    start = 0
    for index in range(1, len(ordered) + 1):
        if index == len(ordered) or ordered[index] - ordered[index - 1] != timedelta(days=1):
            first, last = ordered[start], ordered[index - 1]
            parts.append(str(first) if first == last else f"{first}..{last}")
            start = index
    return ", ".join(parts)


@dataclass
class Summary:
    """What a backfill did, day by day."""

    first: date
    last: date
    days: list[DayRun]
    elapsed: float
    rerun: str = LOCAL_RERUN  # the command that reruns one day, with ``{day}``
    interrupted: bool = False

    def having(self, *statuses: str) -> list[DayRun]:
        return [run for run in self.days if run.status in statuses]

    @property
    def loaded(self) -> list[DayRun]:
        return self.having("SUCCEEDED")

    @property
    def failed(self) -> list[DayRun]:
        return self.having(*ENDED_BADLY)

    @property
    def skipped(self) -> list[DayRun]:
        return self.having("SKIPPED")

    @property
    def unfinished(self) -> list[DayRun]:
        return self.having("WAITING", "RUNNING")

    @property
    def rows(self) -> int:
        return sum(run.rows_loaded or 0 for run in self.loaded)

    @property
    def exit_status(self) -> int:
        if self.interrupted:
            return 130
        return 1 if self.failed or self.unfinished else 0

    def lines(self) -> list[str]:
        loaded, failed, skipped, unfinished = (
            self.loaded,
            self.failed,
            self.skipped,
            self.unfinished,
        )
        unreported = [run.day for run in loaded if run.rows_loaded is None]
        found = [
            f"backfill {self.first}..{self.last}",
            f"days loaded   {_listed(self.loaded)}",
            f"days failed   {len(failed)}",
        ]
        for run in failed:
            found += [
                f"  {run.day}  {run.status}  {run.error}",
                f"    cause: {one_line(readable_cause(run.cause)) or '(none given)'}",
                f"    rerun: {self.rerun.format(day=run.day)}",
            ]
        skipped = self.skipped
        found.append(f"days skipped  {_listed(skipped)}" + (" (no objects)" if skipped else ""))
        if unfinished:
            running = [run for run in unfinished if run.status == "RUNNING"]
            found.append(
                f"interrupted   {_listed(unfinished)}: {len(running)} still running in "
                "Step Functions, the others not started"
            )
            found += [f"  {run.day}  {run.execution_arn}" for run in running]
        found += [
            f"rows loaded   {self.rows}"
            + (f" (no run report for {spans(unreported)})" if unreported else ""),
            f"elapsed       {clock_text(self.elapsed)}",
        ]
        return found


def _listed(runs: list[DayRun]) -> str:
    return f"{len(runs)}: {spans([run.day for run in runs])}" if runs else "0"


def run(
    targets: Targets,
    client: Callable[[str], Any],
    first: date,
    last: date,
    *,
    window: int | None = None,
    out: TextIO | None = None,
    rerun: str = LOCAL_RERUN,
    poll_seconds: float = 2.0,
    tty: bool | None = None,
) -> Summary:
    """Run every day of ``first``..``last`` that has objects, at most ``window`` at a time
    (``default_window()`` unless given: see the module's docstring), reporting progress on
    ``out`` (standard output by default); ``client(service)`` makes the boto3 clients."""
    out = out or sys.stdout
    if last < first:
        raise ValueError(f"the range ends ({last}) before it starts ({first})")
    window = window or default_window()
    started = time.monotonic()
    s3, sfn = client("s3"), client("stepfunctions")
    uploads = day_uploads(s3, targets.data_bucket, first, last)
    days = [DayRun(first + timedelta(days=n)) for n in range((last - first).days + 1)]
    queue: deque[tuple[DayRun, Upload]] = deque()
    for entry in days:
        if uploads.get(entry.day):
            queue.append((entry, uploads[entry.day][-1]))  # the newest object's input
        else:
            entry.status = "SKIPPED"
    total = len(queue)
    out.write(
        f"backfill {first}..{last} from s3://{targets.data_bucket}/: {total} days to run, "
        f"{len(days) - total} without objects, at most {window} at a time\n"
    )
    out.flush()
    progress = Progress(out, tty)
    running: list[DayRun] = []
    stamp = run_stamp()

    def counts() -> Counts:
        ended = [e for e in days if e.status in TERMINAL]
        failed = sum(e.status in ENDED_BADLY for e in ended)
        return Counts(len(ended), total, len(running), failed, time.monotonic() - started)

    interrupted = False
    try:
        while queue or running:
            while queue and len(running) < window:
                entry, upload = queue.popleft()
                entry.execution_arn = start_day(
                    upload, targets.state_machine_arn, sfn, label="backfill", stamp=stamp
                )
                entry.status = "RUNNING"
                running.append(entry)
            progress.update(counts())
            time.sleep(poll_seconds)
            ended = executions.wait(sfn, [str(e.execution_arn) for e in running], timeout=0)
            for entry in [e for e in running if e.execution_arn in ended]:
                _record(entry, ended[str(entry.execution_arn)], s3, sfn, targets.data_bucket)
                running.remove(entry)
                progress.ended(entry, counts())
    except KeyboardInterrupt:
        interrupted = True
    finally:
        progress.close()
    return Summary(first, last, days, time.monotonic() - started, rerun, interrupted)


def _record(entry: DayRun, execution: dict[str, Any], s3: Any, sfn: Any, bucket: str) -> None:
    entry.status = str(execution["status"])
    start, stop = execution.get("startDate"), execution.get("stopDate")
    if isinstance(start, datetime) and isinstance(stop, datetime):
        entry.seconds = (stop - start).total_seconds()
    if entry.status != "SUCCEEDED":
        entry.error, entry.cause = failure_of(sfn, execution)
        return
    try:
        report = run_report(s3, bucket, entry.day.isoformat(), execution)
    except botocore.exceptions.ClientError:  # the report is gone: the day's rows are unknown
        report = {}
    entry.rows_loaded = report.get("rows_loaded")


def rerun_command(stage: str) -> str:
    """How to rerun one day of ``stage`` (with ``{day}``)."""
    return REPLAY_COMMAND.replace("{stage}", stage)


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "backfill", help="reprocess a range of days from the objects already in S3"
    )
    parser.add_argument(
        "--from", dest="first", required=True, type=_day, metavar="YYYY-MM-DD", help="first day"
    )
    parser.add_argument(
        "--to", dest="last", required=True, type=_day, metavar="YYYY-MM-DD", help="last day"
    )
    parser.add_argument(
        "--stage",
        choices=STAGES,
        default="local",
        help="local (the stack of make local-up, the default) or a deployed stage",
    )
    parser.add_argument(
        "--window",
        type=_positive,
        help="executions in flight at most (default: the day job's MaxConcurrentRuns + 1)",
    )
    parser.set_defaults(handler=command)


def command(args: argparse.Namespace) -> int:
    """``flightpipe backfill``: resolve the stage, run, print the summary; the exit status."""
    from flightpipe.infra.stages import session_for, targets_for

    if args.last < args.first:
        raise SystemExit(f"backfill: --to {args.last} is before --from {args.first}")
    session = session_for(args.stage)
    targets = targets_for(args.stage, session)
    summary = run(
        targets,
        session.client,
        args.first,
        args.last,
        window=args.window,
        rerun=rerun_command(args.stage),
    )
    print("\n".join(summary.lines()))
    return summary.exit_status


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a day YYYY-MM-DD: {text!r}") from None


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"not a positive number: {text!r}")
    return int(text)
