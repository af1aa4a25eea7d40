"""What the benchmarks need from a running local stack: its settings, and an accepted dimension.

Day runs join the airports dimension the airports job last accepted, so a benchmark uploads
``dim/airports.csv`` and waits until the pipeline has accepted it before it times any day.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from flightpipe.config import LOCAL_DIR, REPO, Names

AIRPORTS = REPO / "sample_data" / "airports.csv"


def load_stack_env(path: Path = LOCAL_DIR / "stack.env") -> None:
    """Point this process's AWS clients at the stack ``make local-up`` started."""
    for line in path.read_text().splitlines():
        key, _, value = line.partition("=")
        os.environ[key] = value


def accept_airports(s3: Any, bucket: str, timeout: float = 300.0) -> None:
    """Upload the shipped dimension and wait until the airports job has accepted it."""
    body = AIRPORTS.read_bytes()
    accepted = Names.local().accepted_airports_key
    s3.put_object(Bucket=bucket, Key="dim/airports.csv", Body=body)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if s3.get_object(Bucket=bucket, Key=accepted)["Body"].read() == body:
                return
        except s3.exceptions.NoSuchKey:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the airports dimension was not accepted within {timeout:.0f}s")
