"""``flightpipe compose check-image``: what the compose stack's Glue image is, and whether a job
in it reaches the stack by the mechanisms the stack gives every job container.

For a user who can pull AWS's image (``public.ecr.aws/glue/aws-glue-libs:5``, the default) and
wants to know, before trusting the container path, whether it behaves as the stand-in does. It
prints the image's facts from Docker (entry point, user, working folder), then runs
``image_probe_job.py`` as a Glue job of the running stack, so in a container of the image
started exactly as the pipeline's runs are, and prints what that job found (Spark, Python, Java
and boto3 versions, ``spark-defaults.conf``, ``fs.s3.impl``, the JDBC drivers) and a verdict per
step, with what to do about a failed one (``FIXES``; docs/containers.md, "Checking a Glue
image", says more). The probe's catalog table, job and S3 objects are removed afterwards.
"""

from __future__ import annotations

import contextlib
import csv
import io
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flightpipe.settings import LocalSettings, Pipeline
from flightpipe.stack.local import LocalStack

PROBE_SCRIPT = Path(__file__).resolve().parent / "image_probe_job.py"
PROBE_PREFIX = "image-probe/"
PROBE_ROWS = 3
STEPS = ("endpoints", "catalog", "connection", "s3", "jdbc")
FIXES = {
    "endpoints": (
        "the JVM did not reach Glue's AWS endpoint at LocalStack: job containers must use "
        "LocalStack's DNS server (FLIGHTPIPE_JOB_DNS; its log says which AWS names it resolves) "
        "and trust the stack's CA (the image needs keytool; an SSL error means the certificates "
        "no longer match: take the stack down and up again)"
    ),
    "catalog": (
        "the job could not read the Data Catalog through GlueContext, which calls Glue at AWS's "
        "own endpoint (AWS's image does not follow AWS_ENDPOINT_URL for it): see the endpoints "
        "step, and the Glue service's log for the call"
    ),
    "connection": (
        "the job could not resolve the Glue connection (and its secret, at Secrets Manager's "
        "AWS endpoint) through GlueContext: the same cause and fix as the catalog step"
    ),
    "s3": (
        "s3:// did not reach the stack's S3: the image must honour the S3A settings on the "
        "spark-submit command line (fs.s3.impl; AWS's Glue 5.0 image serves s3:// with EMRFS, "
        "which ignores fs.s3a.*), and have hadoop-aws on its class path"
    ),
    "jdbc": (
        "the warehouse could not be written or read over JDBC: the PostgreSQL JDBC driver must be "
        "on the job's class path (the stack adds the Glue service's with --jars; its log says "
        "when it has none, and the fact above whether the image has one), the "
        "connection's URL must reach the warehouse from the compose network, and the "
        "warehouse's TLS certificate must verify against the connection's CUSTOM_JDBC_CERT "
        "(make compose-up makes both; a certificate error means they no longer match: take the "
        "stack down and up again)"
    ),
}
_TERMINAL = {"SUCCEEDED", "FAILED", "ERROR", "STOPPED", "TIMEOUT"}


@dataclass
class Report:
    """What the check found: facts, and one verdict per step (None: the probe never said)."""

    image: str
    facts: list[tuple[str, str]] = field(default_factory=list)
    verdicts: dict[str, tuple[bool, str] | None] = field(default_factory=dict)
    run_state: str = ""
    run_error: str = ""

    @property
    def passed(self) -> bool:
        return all(v is not None and v[0] for v in (self.verdicts.get(s) for s in STEPS))

    def lines(self) -> list[str]:
        out = [f"# Glue image {self.image}"]
        out += [f"  {name}: {value}" for name, value in self.facts]
        out.append(
            f"# probe job run: {self.run_state}"
            + (f" ({self.run_error})" if self.run_error else "")
        )
        for step in STEPS:
            verdict = self.verdicts.get(step)
            if verdict is None:
                out.append(f"  {step:<10} NOT RUN  the probe ended before this step")
                out.append(f"             fix: {FIXES[step]}")
                continue
            passed, detail = verdict
            out.append(f"  {step:<10} {'PASS' if passed else 'FAIL'}     {detail}")
            if not passed:
                out.append(f"             fix: {FIXES[step]}")
        out.append("# verdict: " + ("the image works with the stack" if self.passed else "FAILED"))
        return out


def parse_probe_output(text: str, report: Report) -> None:
    """Read the probe job's ``FACT`` and ``PROBE`` lines from its log into ``report``."""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("FACT "):
            name, _, value = line.removeprefix("FACT ").partition(": ")
            report.facts.append((name, value))
        elif line.startswith("PROBE "):
            step, verdict, detail = [*line.removeprefix("PROBE ").split(" ", 2), "", ""][:3]
            if step in STEPS and verdict.rstrip(":") in ("PASS", "FAIL"):
                report.verdicts[step] = (verdict.rstrip(":") == "PASS", detail)


def docker_facts(client: Any, image: str) -> list[tuple[str, str]]:
    """Entry point, command, user and working folder of ``image``, as Docker has them."""
    config = client.images.get(image).attrs.get("Config") or {}
    return [
        ("entrypoint", " ".join(config.get("Entrypoint") or []) or "(none)"),
        ("cmd", " ".join(config.get("Cmd") or []) or "(none)"),
        ("image user", config.get("User") or "(root)"),
        ("working folder", config.get("WorkingDir") or "(/)"),
    ]


def check(
    settings: LocalSettings, image: str, docker_client: Any, log: Callable[[str], None] = print
) -> Report:
    """Run the probe in the running compose stack; the report of what it found."""
    report = Report(image, facts=docker_facts(docker_client, image))
    session = LocalStack(settings).session()

    def client(service: str) -> Any:
        return session.client(service, endpoint_url=settings.endpoint_url)

    glue, s3 = client("glue"), client("s3")
    pipeline = Pipeline.of_stack(client("cloudformation"), "local")
    bucket, suffix = pipeline.data_bucket, uuid.uuid4().hex[:8]
    prefix = f"{PROBE_PREFIX}{suffix}/"
    database, job_name = f"flightpipe_image_probe_{suffix}", f"flightpipe-image-probe-{suffix}"
    day_job = glue.get_job(JobName=pipeline.job)["Job"]
    try:
        _catalog_table(glue, s3, bucket, prefix, database)
        s3.upload_file(str(PROBE_SCRIPT), bucket, f"{prefix}image_probe_job.py")
        arguments = {
            **(day_job.get("DefaultArguments") or {}),
            "--probe_bucket": bucket,
            "--probe_prefix": prefix,
            "--probe_database": database,
            "--probe_table": "rows",
            "--probe_rows": str(PROBE_ROWS),
        }
        glue.create_job(
            Name=job_name,
            Role=day_job["Role"],
            Command={
                "Name": "glueetl",
                "ScriptLocation": f"s3://{bucket}/{prefix}image_probe_job.py",
                "PythonVersion": "3",
            },
            DefaultArguments=arguments,
            GlueVersion=day_job.get("GlueVersion", "5.0"),
            **({"Connections": day_job["Connections"]} if day_job.get("Connections") else {}),
        )
        run_id = glue.start_job_run(JobName=job_name)["JobRunId"]
        log(f"# probe job run {run_id} started in a container of {image}")
        run = _wait(glue, job_name, run_id)
        report.run_state = run["JobRunState"]
        report.run_error = run.get("ErrorMessage", "")
        run_log = settings.log_dir / "glue-jobs" / f"{run_id}.log"
        if run_log.is_file():
            parse_probe_output(run_log.read_text(encoding="utf-8", errors="replace"), report)
    finally:
        _remove(glue, s3, bucket, PROBE_PREFIX + suffix, database, job_name)
    return report


def _catalog_table(glue: Any, s3: Any, bucket: str, prefix: str, database: str) -> None:
    """A CSV table of ``PROBE_ROWS`` rows in a catalog database of the probe's own."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerows([(n, f"row {n}") for n in range(PROBE_ROWS)])
    s3.put_object(Bucket=bucket, Key=f"{prefix}table/rows.csv", Body=text.getvalue().encode())
    glue.create_database(DatabaseInput={"Name": database})
    glue.create_table(
        DatabaseName=database,
        TableInput={
            "Name": "rows",
            "TableType": "EXTERNAL_TABLE",
            "Parameters": {"classification": "csv"},
            "StorageDescriptor": {
                "Columns": [{"Name": "id", "Type": "bigint"}, {"Name": "label", "Type": "string"}],
                "Location": f"s3://{bucket}/{prefix}table/",
                "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
                "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
                "SerdeInfo": {
                    "SerializationLibrary": "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe",
                    "Parameters": {"field.delim": ","},
                },
            },
        },
    )


def _wait(glue: Any, job_name: str, run_id: str, timeout: float = 900) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        run: dict[str, Any] = glue.get_job_run(JobName=job_name, RunId=run_id)["JobRun"]
        if run["JobRunState"] in _TERMINAL or time.monotonic() > deadline:
            return run
        time.sleep(1.0)


def _remove(glue: Any, s3: Any, bucket: str, prefix: str, database: str, job_name: str) -> None:
    # Either may never have been created (an earlier step failed).
    with contextlib.suppress(Exception):
        glue.delete_job(JobName=job_name)
    with contextlib.suppress(Exception):
        glue.delete_database(Name=database)
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": keys})
