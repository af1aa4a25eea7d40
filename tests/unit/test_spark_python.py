"""Spark's Python workers run the interpreter that runs the job, not whatever ``python3`` is.

PySpark starts its workers with ``PYSPARK_PYTHON``, else ``python3`` from PATH (pyspark 3.5
``context.py``: ``os.environ.get("PYSPARK_PYTHON", "python3")``), and Spark's launcher finds
SPARK_HOME with ``PYSPARK_DRIVER_PYTHON``, else that same default (``bin/find-spark-home``).
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from flightpipe.paths import REPO

NEEDS_PYTHON_WORKERS = """
from pyspark.sql import functions as F
from flightpipe.gluelocal.runner import local_spark

spark = local_spark("python-workers")
print(spark.sparkContext.parallelize([1, 2, 3], 2).map(lambda x: x * 10).collect())
doubled = F.udf(lambda x: x * 2, "int")
print([r[0] for r in spark.range(3).select(doubled(F.col("id").cast("int"))).collect()])
spark.stop()
"""


def broken_python(directory: Path) -> Path:
    """``python3`` and ``python`` that fail as an interpreter of the wrong version would."""
    directory.mkdir()
    for name in ("python3", "python"):
        script = directory / name
        script.write_text("#!/bin/sh\necho 'not the job interpreter' >&2\nexit 1\n")
        script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return directory


def test_workers_run_the_job_interpreter_whatever_python3_is_on_path(tmp_path):
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON", "SPARK_HOME")
    }
    env["PATH"] = f"{broken_python(tmp_path / 'bin')}{os.pathsep}{env.get('PATH', '')}"
    result = subprocess.run(
        [sys.executable, "-c", NEEDS_PYTHON_WORKERS],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines()[-2:] == ["[10, 20, 30]", "[0, 2, 4]"]
