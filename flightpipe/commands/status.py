"""``flightpipe status|runs|logs``: the pipeline on the running stack, for a person or a script.

Each reads the stack's dashboard API (``flightpipe.stack.dashboard``), so it works against the
Docker-free stack and the compose stack alike:

* ``status``: one line per day (its newest execution) and the airports reloads: status, rows
  read, loaded, quarantined and unmatched, duration, and for a failure the state that failed
  and its error; ``--json`` for machines;
* ``runs --date D``: every execution of the day, each with its path through the state machine;
* ``logs ID``: a job run's log (``jr_...``), or the job logs of an execution (name or ARN).
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from datetime import date
from typing import Any, TextIO

from flightpipe.settings import LocalSettings
from flightpipe.stack.dashboard import API, DASHBOARD_PATH

COLUMNS = ("day", "status", "read", "loaded", "quarantined", "unmatched", "seconds", "problem")


class StackUnavailable(RuntimeError):
    """The stack does not answer, or its API refused."""


def fetch(settings: LocalSettings, path: str) -> Any:
    url = settings.endpoint_url + API + path
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:
        detail = json.loads(error.read() or b"{}").get("error", error.reason)
        raise StackUnavailable(f"{url}: {detail}") from error
    except (urllib.error.URLError, OSError) as error:
        raise StackUnavailable(
            f"no stack answers at {settings.endpoint_url} ({error}): make local-up or "
            "make compose-up"
        ) from error


def status_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per day (its newest execution, with the run record of the day when that
    execution loaded it) and per airports reload, newest first."""
    days = {d["flight_date"]: d for d in report["days"]}
    rows, seen = [], set()
    for execution in report["executions"]:  # newest first
        day = execution["day"] if execution["kind"] == "day" else None
        if day is not None and day in seen:
            continue
        if day is not None:
            seen.add(day)
        record = days.get(day or "", {})
        succeeded = execution["status"] == "SUCCEEDED"
        problem = ""
        if not succeeded and execution["status"] != "RUNNING":
            problem = ": ".join(
                part for part in (execution["failed_state"], execution["error"]) if part
            )
        rows.append(
            {
                "day": day or "airports",
                "status": execution["status"],
                "read": record.get("rows_read") if succeeded else None,
                "loaded": record.get("rows_loaded") if succeeded else None,
                "quarantined": record.get("rows_quarantined") if succeeded else None,
                "unmatched": record.get("rows_unmatched_airports") if succeeded else None,
                "seconds": execution["seconds"],
                "problem": problem,
                "cause": execution["cause"] if problem else None,
                "key": execution["key"],
                "execution": execution["name"],
                "started": execution["started"],
            }
        )
    return rows


def print_table(rows: list[dict[str, Any]], out: TextIO, width: int = 160) -> None:
    shown = [[_cell(row[c]) for c in COLUMNS] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in shown)]) for i, c in enumerate(COLUMNS[:-1])]
    numeric = {"read", "loaded", "quarantined", "unmatched", "seconds"}

    def line(cells: list[str]) -> str:
        parts = [
            cell.rjust(w) if name in numeric else cell.ljust(w)
            for name, cell, w in zip(COLUMNS[:-1], cells[:-1], widths, strict=True)
        ]
        text = "  ".join([*parts, cells[-1]])
        return text if len(text) <= width else text[: width - 1] + "…"

    print(line(list(COLUMNS)), file=out)
    for cells in shown:
        print(line(cells), file=out)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    return " ".join(str(value).split())


def status(settings: LocalSettings, as_json: bool, out: TextIO = sys.stdout) -> int:
    rows = status_rows(fetch(settings, "status"))
    if as_json:
        print(json.dumps(rows, indent=2), file=out)
    elif not rows:
        print("no execution yet: upload a file (see the README)", file=out)
    else:
        print_table(rows, out)
        print(f"\ndashboard: {settings.endpoint_url}{DASHBOARD_PATH}", file=out)
    return 0


def runs(settings: LocalSettings, day: str, out: TextIO = sys.stdout) -> int:
    executions = [e for e in fetch(settings, "executions?limit=100000") if e["day"] == day]
    if not executions:
        print(f"no execution for {day}", file=out)
        return 1
    for execution in reversed(executions):  # oldest first, like a history
        detail = fetch(settings, "execution?arn=" + urllib.parse.quote(execution["arn"]))
        print(
            f"{execution['started']}  {execution['status']}  {execution['key']}  "
            f"({execution['name']}, {execution['seconds'] or '-'}s)",
            file=out,
        )
        for step in detail["steps"]:
            retries = f", {step['retries']} retries" if step["retries"] else ""
            error = f"  {step['error']}" if step["error"] else ""
            run = f"  job run {step['job_run_id']}" if step["job_run_id"] else ""
            print(
                f"    {step['state']:<28} {step['seconds'] or 0:>6}s{retries}{run}{error}",
                file=out,
            )
        if execution["status"] not in ("SUCCEEDED", "RUNNING"):
            print(f"    error: {execution['error']}: {_cell(execution['cause'])}", file=out)
    return 0


def logs(settings: LocalSettings, ident: str, out: TextIO = sys.stdout) -> int:
    if ident.startswith("jr_"):
        texts = {ident: fetch(settings, "log?run=" + urllib.parse.quote(ident))["text"]}
    else:
        found = [
            e for e in fetch(settings, "executions?limit=100000") if ident in (e["name"], e["arn"])
        ]
        if not found:
            print(f"no execution or job run {ident!r}", file=out)
            return 1
        detail = fetch(settings, "execution?arn=" + urllib.parse.quote(found[0]["arn"]))
        texts = detail["job_logs"]
        if not texts:
            print(f"{ident}: no job run (it ended before the job)", file=out)
            return 1
    for run, text in texts.items():
        print(f"==> job run {run}", file=out)
        print(text if text is not None else "(no log file for this run)", file=out)
    return 0


def register(commands: Any) -> None:
    shown = commands.add_parser(
        "status", help="each day's last run: status, rows, duration, the failure's state and error"
    )
    shown.add_argument("--json", action="store_true", help="rows as JSON")
    shown.set_defaults(handler=lambda args: status(LocalSettings.from_env(), args.json))
    day = commands.add_parser(
        "runs", help="every execution of a day with its path through the state machine"
    )
    day.add_argument("--date", required=True, type=date.fromisoformat)
    day.set_defaults(handler=lambda args: runs(LocalSettings.from_env(), args.date.isoformat()))
    log = commands.add_parser(
        "logs", help="a job run's log (jr_...), or the job logs of an execution (name or ARN)"
    )
    log.add_argument("id")
    log.set_defaults(handler=lambda args: logs(LocalSettings.from_env(), args.id))
