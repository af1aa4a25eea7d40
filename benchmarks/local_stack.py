"""The local stack as the benchmarks use it: its values, its pipeline, an accepted airports
dimension, and the memory of its processes.

A benchmark runs against the stack ``make local-up`` started: ``stack.env`` in ``.local/``, or in
``FLIGHTPIPE_STATE_DIR`` for a stack started with other settings (``LocalSettings.from_env``).
Day runs join the airports dimension the airports job last accepted, so a benchmark has the
shipped ``airports.csv`` accepted before it times any day.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import boto3

from flightpipe.paths import REPO
from flightpipe.settings import LocalSettings, Pipeline
from flightpipe.stack.local import LocalStack, read_env_file

AIRPORTS = REPO / "sample_data" / "airports.csv"
STAGE = "local"


def stack_values(settings: LocalSettings | None = None) -> dict[str, str]:
    """The running stack's ``stack.env``; its AWS settings (endpoint, region, credentials) are
    put in this process's environment, where boto3 reads them."""
    env_file = LocalStack(settings or LocalSettings.from_env()).env_file
    if not env_file.is_file():
        raise SystemExit(f"the local stack is not up: no {env_file} (make local-up)")
    values = read_env_file(env_file)
    os.environ.update({key: value for key, value in values.items() if key.startswith("AWS_")})
    return values


def deployed_pipeline() -> Pipeline:
    """The pipeline's resources, from the outputs of the stack deployed to LocalStack."""
    return Pipeline.of_stack(boto3.client("cloudformation"), STAGE)


def wait_until_warm(settings: LocalSettings, timeout: float = 600.0) -> None:
    """Wait until the Glue service has warmed its Spark (``"spark": "warm"`` in its health; job
    runs in containers have nothing to warm): until then job runs share the CPU with the
    warm-up and are not what a warm stack does."""
    stack = LocalStack(settings)
    deadline = time.monotonic() + timeout
    while True:
        glue = (stack.health() or {}).get("flightpipe") or {}
        if glue.get("spark") not in (None, "starting"):
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"Spark was not warm within {timeout:.0f}s: {glue}")
        time.sleep(1)


def accept_airports(pipeline: Pipeline, timeout: float = 300.0) -> None:
    """Have the shipped dimension accepted by the airports job (uploaded where its job reads
    it) unless it already is; waits until it is."""
    s3, glue = boto3.client("s3"), boto3.client("glue")
    arguments = glue.get_job(JobName=pipeline.airports_job)["Job"]["DefaultArguments"]
    upload, accepted = arguments["--airports_key"], arguments["--accepted_airports_key"]
    body = AIRPORTS.read_bytes()

    def is_accepted() -> bool:
        try:
            found = s3.get_object(Bucket=pipeline.data_bucket, Key=accepted)["Body"].read()
        except s3.exceptions.NoSuchKey:
            return False
        return bool(found == body)

    if is_accepted():
        return
    s3.put_object(Bucket=pipeline.data_bucket, Key=upload, Body=body)
    deadline = time.monotonic() + timeout
    while not is_accepted():
        if time.monotonic() > deadline:
            raise SystemExit(f"the airports dimension was not accepted within {timeout:.0f}s")
        time.sleep(0.2)


# --- memory -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Footprint:
    """Resident memory of one process of the stack and of everything it started."""

    name: str
    pid: int | None
    own_mib: float
    children: tuple[tuple[str, float], ...]  # (command name, MiB) of each descendant

    @property
    def total_mib(self) -> float:
        return self.own_mib + sum(mib for _, mib in self.children)


def rss_mib(pid: int) -> float:
    """``VmRSS`` of ``/proc/<pid>/status`` in MiB; 0 for a process that has just ended."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return 0.0
    for line in lines:
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def command_name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


def descendants(pid: int) -> list[int]:
    """Every process started by ``pid``, at any depth (``/proc/<pid>/task/*/children``)."""
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            found += [child, *descendants(child)]
    return found


def footprint(name: str, pid: int | None) -> Footprint:
    if pid is None:
        return Footprint(name, None, 0.0, ())
    children = tuple((command_name(child), rss_mib(child)) for child in descendants(pid))
    return Footprint(name, pid, rss_mib(pid), children)


def stack_memory(settings: LocalSettings) -> tuple[list[Footprint], Footprint]:
    """(LocalStack with its children (the Lambda invocations), the Glue service with its
    children (Spark's JVM)), and PostgreSQL's processes apart."""
    stack = LocalStack(settings)
    glue_pid = stack.glue(0).pid()  # the pid file does not depend on the port
    measured = [footprint("LocalStack", stack.pid()), footprint("Glue service", glue_pid)]
    return measured, footprint("PostgreSQL", stack.postgres.pid())


def memory_lines(settings: LocalSettings) -> list[str]:
    """The stack's resident memory, one line per process and for its children, then the
    total; PostgreSQL apart."""
    measured, postgres = stack_memory(settings)
    lines = ["stack memory (RSS from /proc):"]
    for part in measured:
        if part.pid is None:
            lines.append(f"  {part.name:<24} not running")
            continue
        lines.append(f"  {part.name:<24} {part.own_mib:>7,.0f} MiB  (pid {part.pid})")
        names = sorted({name for name, _ in part.children})
        lines.append(
            f"  {'  its children':<24} {part.total_mib - part.own_mib:>7,.0f} MiB  "
            f"({len(part.children)} process(es){': ' if names else ''}{', '.join(names)})"
        )
    total = sum(part.total_mib for part in measured)
    lines.append(f"  {'total':<24} {total:>7,.0f} MiB")
    if postgres.pid is None:
        lines.append("  PostgreSQL (apart)       not the stack's own (DATABASE_URL)")
    else:
        lines.append(
            f"  {'PostgreSQL (apart)':<24} {postgres.total_mib:>7,.0f} MiB  "
            f"({1 + len(postgres.children)} processes; shared buffers counted in each)"
        )
    return lines


def yardstick_line() -> str:
    """How fast this machine runs plain Python right now, the same measure each time
    (``python -m timeit -n 200 "sum(range(100000))"``, best of 5): the same commit's figures
    moved by a third within an hour on a shared 2-core machine, and this says how much of a
    difference between two runs is the machine's."""
    import timeit

    best = min(timeit.repeat("sum(range(100000))", number=200, repeat=5)) / 200
    return f"machine yardstick: sum(range(100000)) {best * 1000:.2f} ms (best of 5 x 200)"
