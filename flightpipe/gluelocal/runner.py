"""Run a Glue job script locally: the ``awsglue`` shim on the path, a warm SparkSession, the
job's arguments as Glue passes them, and per-run scratch space.

A script with a ``main(argv)`` function is loaded once per process and called with the
arguments (no ``sys.argv`` juggling, so runs can share one warm session); any other script runs
as ``__main__`` with ``sys.argv`` set, as Glue runs it.
"""

from __future__ import annotations

import argparse
import json
import os
import runpy
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from flightpipe.gluelocal import SHIM_PATH
from flightpipe.gluelocal.aws import run_scope

_lock = threading.Lock()
_loaded: dict[Path, dict[str, Any]] = {}


def local_spark(app_name: str = "flightpipe-glue-local") -> Any:
    """The process's SparkSession, created once: local[*], no UI, UTC, small shuffles.

    Spark's Python workers run this process's interpreter: PySpark starts them with
    ``PYSPARK_PYTHON``, else with whatever ``python3`` is on PATH, and Spark's launcher runs
    ``PYSPARK_DRIVER_PYTHON`` (else that same default) to find its home. Either set by the user
    is kept; both must be set before the SparkContext starts.
    """
    from pyspark.sql import SparkSession

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    if sys.executable:
        for variable in ("PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON"):
            if not os.environ.get(variable):
                os.environ[variable] = sys.executable
    session = (
        SparkSession.builder.master("local[*]")
        .appName(app_name)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.ansi.enabled", "false")
        .config("spark.driver.extraJavaOptions", "-Duser.timezone=UTC")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("WARN")
    return session


def job_argv(script: Path, arguments: Mapping[str, str] | Sequence[str]) -> list[str]:
    """``sys.argv`` as Glue builds it: the script, then ``--key value`` pairs."""
    if isinstance(arguments, Mapping):
        flat: list[str] = []
        for key, value in arguments.items():
            flat += [key if key.startswith("--") else f"--{key}", str(value)]
        return [str(script), *flat]
    return [str(script), *arguments]


def _put_on_path(*paths: Path) -> None:
    for path in paths:
        entry = str(path)
        if entry not in sys.path:
            sys.path.insert(0, entry)


def run_job(
    script: Path,
    arguments: Mapping[str, str] | Sequence[str],
    scratch_parent: Path | None = None,
) -> Any:
    """Run ``script`` with Glue-style ``arguments``; returns what its ``main`` returns."""
    script = script.resolve()
    _put_on_path(SHIM_PATH, script.parent)
    local_spark()
    argv = job_argv(script, arguments)
    with run_scope(scratch_parent):
        with _lock:
            module = _loaded.get(script)
            if module is None:
                module = runpy.run_path(str(script), run_name="gluelocal_job")
                _loaded[script] = module
        main = module.get("main")
        if callable(main):
            return main(argv)
        saved = sys.argv
        sys.argv = argv
        try:
            runpy.run_path(str(script), run_name="__main__")
        finally:
            sys.argv = saved
        return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Run a Glue job script on the local Glue runtime.",
        epilog="Job arguments follow the script, as Glue passes them: --flight_date 2013-01-01 ...",
    )
    parser.add_argument("script", type=Path)
    known, job_args = parser.parse_known_args(argv)
    result = run_job(known.script, job_args)
    if result is not None:
        print(json.dumps(result, indent=2, sort_keys=True, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
