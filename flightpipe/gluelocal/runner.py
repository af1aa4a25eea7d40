"""Run a Glue job script locally: the ``awsglue`` shim on the path, a warm SparkSession, the
job's arguments as Glue passes them, and per-run scratch space.

A script with a ``main(argv)`` function is loaded once per process and called with the
arguments (no ``sys.argv`` juggling, so runs can share one warm session); any other script runs
as ``__main__`` with ``sys.argv`` set, as Glue runs it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import runpy
import sys
import threading
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from flightpipe.gluelocal import SHIM_PATH
from flightpipe.gluelocal.aws import run_identity, run_scope

_lock = threading.Lock()
_loaded: dict[Path, dict[str, Any]] = {}


# The session every local job run gets, in the stack's process or in a Glue container
# (flightpipe.stack.glue_containers passes them as --conf): no UI, small shuffles, UTC as on
# Glue's machines. JVM options are not among them: a --conf of spark.driver.extraJavaOptions
# replaces the image's own value, so a container gets its time zone through TZ instead.
GLUE_SESSION_SETTINGS = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "4",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.ansi.enabled": "false",
}

# The in-process Spark's JVM (local mode: driver and executor in one JVM, which the launcher
# starts with these), sized for a machine that also runs LocalStack: a heap of 640 MiB, at most
# (Spark's default is 1 GiB; the memory a large day needs is in docs/performance.md), UTC, and
# G1's periodic collection, which gives an idle heap back to the system after a burst of work
# (JEP 346). The heap is most of what the stack holds right after a burst.
LOCAL_JVM_SETTINGS = {
    "spark.driver.memory": "640m",
    "spark.driver.extraJavaOptions": "-Duser.timezone=UTC -XX:G1PeriodicGCInterval=10000",
}

# ``s3://`` and ``s3a://`` served by Hadoop's S3A connector. AWS Glue 5.0 serves ``s3://`` with
# EMRFS, which ignores every ``fs.s3a.*`` setting; a job container gets these on its
# spark-submit command line, so that the real image's Spark reads the local stack's S3 too.
S3A_FILESYSTEMS = {
    "spark.hadoop.fs.s3.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
    "spark.hadoop.fs.s3a.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
}

# Where `make install` puts Hadoop's S3A connector (see flightpipe/gluelocal/s3a-jars.txt) and the
# PostgreSQL JDBC driver, which AWS Glue has on a job's class path (the Makefile says where from).
S3A_JARS_DIR = Path(sys.prefix) / "spark-jars"
S3A_JARS = ("hadoop-aws-3.3.1.jar", "aws-java-sdk-bundle-1.11.901.jar")
JDBC_JARS = ("postgresql.jar",)
# flightpipe/gluelocal/java/flightpipe/hadoop/RunFileSystem.java, compiled by `make install`:
# each run's S3 file systems, made with its credentials (run_session).
RUN_FILE_SYSTEM_JARS = ("flightpipe-run-fs.jar",)
RUN_FILE_SYSTEM = "flightpipe.hadoop.RunFileSystem"
RUN_CREDENTIALS = "flightpipe.hadoop.RunCredentials"
S3A_FILE_SYSTEM = "org.apache.hadoop.fs.s3a.S3AFileSystem"


def local_spark(app_name: str = "flightpipe-glue-local", master: str = "local[*]") -> Any:
    """The process's SparkSession, created once: local[*] (``master``: benchmarks/job_memory.py
    runs local-cluster, to keep the driver JVM apart from the executors), no UI, UTC, small
    shuffles, and ``s3://`` readable and writable.

    Spark's Python workers run this process's interpreter: PySpark starts them with
    ``PYSPARK_PYTHON``, else with whatever ``python3`` is on PATH, and Spark's launcher runs
    ``PYSPARK_DRIVER_PYTHON`` (else that same default) to find its home. Either set by the user
    is kept; both must be set before the SparkContext starts.

    S3: the day job reads its objects with ``spark.read.text("s3://...")`` and writes its
    quarantine with Spark. AWS Glue reads and writes ``s3://`` natively; plain PySpark has no S3
    filesystem, so this session maps ``s3://`` and ``s3a://`` to Hadoop's S3A connector, from the
    jars ``make install`` extracts (Maven is not reachable from here and the pinned
    ``sagemaker-pyspark`` sdist is the only PyPI source of them; see ``s3a-jars.txt``). Hadoop
    configuration is fixed when the SparkContext starts, so S3A is pointed at this process's
    environment as it is then: ``AWS_ENDPOINT_URL`` (path-style, TLS as its scheme says) and the
    credentials boto3 resolves. The local stack and the tests set them before Spark starts.
    """
    from pyspark.sql import SparkSession

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    if sys.executable:
        for variable in ("PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON"):
            if not os.environ.get(variable):
                os.environ[variable] = sys.executable
    builder = SparkSession.builder.master(master).appName(app_name)
    for key, value in {**GLUE_SESSION_SETTINGS, **LOCAL_JVM_SETTINGS, **s3a_settings()}.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("WARN")
    return session


def s3a_settings() -> dict[str, str]:
    """Spark settings that make ``s3://`` (and ``s3a://``) Hadoop's S3A filesystem, pointed at
    this process's endpoint (``AWS_ENDPOINT_URL``) with the credentials boto3 resolves."""
    jars = (*S3A_JARS, *JDBC_JARS, *RUN_FILE_SYSTEM_JARS)
    missing = [jar for jar in jars if not (S3A_JARS_DIR / jar).is_file()]
    if missing:
        raise RuntimeError(
            f"jars the local Spark needs are missing from {S3A_JARS_DIR} ({', '.join(missing)}): "
            "run `make install`"
        )
    settings = {"spark.jars": ",".join(str(S3A_JARS_DIR / jar) for jar in jars), **S3A_FILESYSTEMS}
    return settings | s3a_endpoint_settings(s3_endpoint(), environment_credentials())


def s3_endpoint() -> str | None:
    """S3's endpoint in this process's environment, as boto3 reads it."""
    return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")


def environment_credentials() -> dict[str, str]:
    """The credentials boto3 resolves in this process, as ``AWS_*`` environment variables."""
    import boto3

    found = boto3.Session().get_credentials()
    if found is None:
        return {}
    frozen = found.get_frozen_credentials()
    return {
        "AWS_ACCESS_KEY_ID": frozen.access_key,
        "AWS_SECRET_ACCESS_KEY": frozen.secret_key,
        **({"AWS_SESSION_TOKEN": frozen.token} if frozen.token else {}),
    }


def s3a_endpoint_settings(endpoint: str | None, credentials: Mapping[str, str]) -> dict[str, str]:
    """S3A pointed at ``endpoint`` (path-style, TLS as its scheme says) with ``credentials``
    (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, optional ``AWS_SESSION_TOKEN``) and the
    credentials provider that reads them, named rather than left to an image's defaults."""
    settings: dict[str, str] = {}
    if endpoint:
        settings |= {
            "spark.hadoop.fs.s3a.endpoint": endpoint,
            "spark.hadoop.fs.s3a.path.style.access": "true",
            "spark.hadoop.fs.s3a.connection.ssl.enabled": str(
                urlsplit(endpoint).scheme == "https"
            ).lower(),
        }
    if credentials.get("AWS_ACCESS_KEY_ID"):
        settings |= {
            "spark.hadoop.fs.s3a.access.key": credentials["AWS_ACCESS_KEY_ID"],
            "spark.hadoop.fs.s3a.secret.key": credentials["AWS_SECRET_ACCESS_KEY"],
            "spark.hadoop.fs.s3a.aws.credentials.provider": (
                "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider"
            ),
        }
        if credentials.get("AWS_SESSION_TOKEN"):
            settings |= {
                "spark.hadoop.fs.s3a.session.token": credentials["AWS_SESSION_TOKEN"],
                "spark.hadoop.fs.s3a.aws.credentials.provider": (
                    "org.apache.hadoop.fs.s3a.TemporaryAWSCredentialsProvider"
                ),
            }
    return settings


def run_file_system_settings(run_id: str, credentials: Mapping[str, str]) -> dict[str, str]:
    """A run's session settings that make its ``s3://`` and ``s3a://`` file systems its own,
    made with ``credentials`` (``RunFileSystem``: Hadoop caches one file system per bucket and
    user, whatever the configuration says, so without these every run would reach S3 through
    the first run's)."""
    settings = {"flightpipe.run.id": run_id, "flightpipe.run.fs.impl": S3A_FILE_SYSTEM}
    for scheme in ("s3", "s3a"):
        settings[f"fs.{scheme}.impl"] = RUN_FILE_SYSTEM
        settings[f"fs.{scheme}.impl.disable.cache"] = "true"
    for key, value in s3a_endpoint_settings(s3_endpoint(), credentials).items():
        settings[key.removeprefix("spark.hadoop.")] = value
    settings["fs.s3a.aws.credentials.provider"] = RUN_CREDENTIALS
    return settings


@contextlib.contextmanager
def run_session(spark: Any, run_id: str, credentials: Mapping[str, str]) -> Iterator[Any]:
    """A SparkSession of the process's Spark for one run, whose S3 reads and writes are made
    with ``credentials``; its file systems are closed when the run ends."""
    session = spark.newSession()
    for key, value in run_file_system_settings(run_id, credentials).items():
        session.conf.set(key, value)
    try:
        yield session
    finally:
        session.sparkContext._jvm.flightpipe.hadoop.RunFileSystem.closeRun(run_id)


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


_libraries: list[Path] = []


def _library_entries(folder: Path) -> list[str]:
    """``sys.path`` entries for the files of Glue's ``--extra-py-files`` in ``folder``: the
    folder for ``.py`` modules, and each ``.zip`` archive (of packages) itself."""
    return [str(folder), *(str(archive) for archive in sorted(folder.glob("*.zip")))]


def _top_level_names(folder: Path) -> set[str]:
    """The modules and packages ``folder``'s files provide, by their top-level names."""
    names = {path.stem for path in folder.glob("*.py")}
    for archive in folder.glob("*.zip"):
        with zipfile.ZipFile(archive) as opened:
            names |= {
                PurePosixPath(entry).parts[0].removesuffix(".py") for entry in opened.namelist()
            }
    return names


def _use_libraries(folder: Path) -> None:
    """Make ``folder``'s modules the ones the job imports (Glue's ``--extra-py-files``). A module
    of the same name this process imported from elsewhere (an earlier deployment's folder, or
    the working tree, which the warm-up reads) is forgotten, so that the job's own loads."""
    folder = folder.resolve()
    if _libraries and _libraries[-1] == folder:
        return
    for old in _libraries:
        for entry in _library_entries(old):
            if entry in sys.path:
                sys.path.remove(entry)
    provided = _top_level_names(folder)
    for name, module in list(sys.modules.items()):
        origin = getattr(module, "__file__", None)
        if name.split(".")[0] in provided and origin and not Path(origin).is_relative_to(folder):
            del sys.modules[name]
    _libraries[:] = [folder]
    for entry in reversed(_library_entries(folder)):
        sys.path.insert(0, entry)


def run_job(
    script: Path,
    arguments: Mapping[str, str] | Sequence[str],
    scratch_parent: Path | None = None,
    libraries: Path | None = None,
    credentials: Mapping[str, str] | None = None,
) -> Any:
    """Run ``script`` with Glue-style ``arguments``; returns what its ``main`` returns. Its
    modules are imported from ``libraries`` when given, else from the script's folder. With
    ``credentials`` (a role's session, as ``AWS_*`` variables) the run calls AWS with them, from
    boto3 and from Spark, as a Glue job calls AWS with its role's."""
    script = script.resolve()
    with _lock:
        if libraries is not None:
            _use_libraries(libraries)
            _put_on_path(SHIM_PATH)
        else:
            _put_on_path(SHIM_PATH, script.parent)
    spark = local_spark()
    argv = job_argv(script, arguments)
    with contextlib.ExitStack() as scope:
        scope.enter_context(run_scope(scratch_parent))
        if credentials is not None:
            run_id = _argument(argv, "--JOB_RUN_ID") or f"gluelocal-{threading.get_ident()}"
            session = scope.enter_context(run_session(spark, run_id, credentials))
            scope.enter_context(run_identity(credentials, session))
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


def _argument(argv: Sequence[str], name: str) -> str | None:
    """The value after ``name`` in ``argv``, if any."""
    for index, item in enumerate(argv[:-1]):
        if item == name:
            return argv[index + 1]
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
