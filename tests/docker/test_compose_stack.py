"""The container path end to end: docker-compose.yml's stack (LocalStack, the Glue service,
PostgreSQL with TLS), Glue job runs in the warm container of the (stand-in) Glue image, started
by the Glue service through Docker's SDK.

The tests run in file order on one compose project: the end-to-end check, the image check, a
job failing in the container, a burst, and last, the project taken down while a job runs.
"""

from __future__ import annotations

import io
import json
import re
from datetime import date, timedelta
from urllib.request import urlopen

from flightpipe.commands.e2e import check
from flightpipe.commands.status import fetch, status_rows
from flightpipe.devenv import compose
from flightpipe.stack.glue_containers import STACK_LABEL
from tests.support.pipeline import (
    SAMPLE,
    assert_burst_loads_each_day_once,
    fact_rows,
    finished,
    loaded_day,
    runs_of,
    upload,
    warehouse_unreachable,
)


def _run_logs(stack) -> dict[str, str]:
    folder = stack.settings.log_dir / "glue-jobs"
    return {path.stem: path.read_text(encoding="utf-8") for path in folder.glob("*.log")}


def test_the_sample_days_load_with_every_job_run_in_the_warm_container(compose_stack):
    stack = compose_stack
    env = dict(
        line.split("=", 1)
        for line in (stack.settings.state_dir / "stack.env").read_text().splitlines()
    )
    assert env["AWS_ENDPOINT_URL"] == stack.settings.endpoint_url
    health = json.load(urlopen(stack.settings.endpoint_url + "/_localstack/health", timeout=10))
    assert health["version"] == "4.13.1" and health["services"]["glue"] == "running"
    service_log = (stack.settings.log_dir / "glue.log").read_text()
    assert "Glue job runs in containers of" in service_log
    out = io.StringIO()

    assert check(stack.settings, env, out, 0.0) == 0, out.getvalue()

    report = out.getvalue()
    assert "335 rows loaded, 335 expected" in report and "MATCH" in report
    glue = stack.client("glue")
    runs = glue.get_job_runs(JobName=stack.pipeline.job)["JobRuns"]
    logs = _run_logs(stack)
    assert len(runs) == 7 and {r["JobRunState"] for r in runs} == {"SUCCEEDED"}
    for run in runs:
        log = logs[run["Id"]]
        assert f"# in the warm container of {compose.STANDIN_GLUE} (" in log, log[:2000]
        # The script as deployed (aws cloudformation package's key, written to a .py file as
        # Glue writes it), from the code the service read in S3, with the run's arguments.
        assert re.search(r": /home/hadoop/workspace/code/\w+/\w+\.py --", log), log[:2000]
        assert "GlueLogger: run report {" in log, log[-2000:]
        assert "\n# the run ended with code 0\n" in log, log[-2000:]
    # One warm container took them all; Spark's own lines are in its log.
    client = compose.docker_client()
    (service,) = client.containers.list(filters={"label": "com.docker.compose.service=glue"})
    warm = client.containers.list(filters={"label": f"{STACK_LABEL}={service.id}"})
    assert [c.labels["flightpipe.glue-run"] for c in warm] == ["warm"]
    assert "glue worker: ready on port" in (stack.settings.log_dir / "glue-warm.log").read_text()
    # The warehouse's TLS: the connection enforces it and names the local CA, as deployed.
    connection = glue.get_connection(Name=stack.pipeline.glue_connection)["Connection"]
    properties = connection["ConnectionProperties"]
    assert properties["JDBC_ENFORCE_SSL"] == "true"
    assert properties["CUSTOM_JDBC_CERT"].endswith("/warehouse-root-ca.pem")


def test_check_image_passes_every_step_against_the_stand_in(compose_stack):
    """``flightpipe compose check-image`` against the stack: the stand-in Glue image's facts and
    a verdict per step from a probe job run in a container of it; nothing of the probe is left."""
    from flightpipe.stack.image_check import STEPS, check

    stack = compose_stack
    report = check(
        stack.settings, compose.STANDIN_GLUE, compose.docker_client(), log=lambda _: None
    )

    assert report.passed, "\n".join(report.lines())
    assert [step for step in STEPS if report.verdicts[step][0]] == list(STEPS)
    facts = dict(report.facts)
    assert facts["spark"].startswith("3.5.") and facts["python"].startswith("3.11.")
    assert facts["user"] == "hadoop"
    assert facts["fs.s3.impl (as the job runs)"] == "org.apache.hadoop.fs.s3a.S3AFileSystem"
    assert facts["JDBC driver postgresql (org.postgresql.Driver)"] == "on the class path"
    assert "fs.s3" not in next(v for k, v in report.facts if k.startswith("spark-defaults.conf"))
    glue = stack.client("glue")
    assert not [d for d in glue.get_databases()["DatabaseList"] if "image_probe" in d["Name"]]
    assert not [j for j in glue.get_jobs()["Jobs"] if j["Name"].startswith("flightpipe-image")]


def test_the_stand_ins_glue_calls_reach_the_stack_only_through_its_dns_and_ca(compose_stack):
    """The stand-in's awsglue calls Glue at glue.<region>.amazonaws.com as AWS's Java client does
    (awslabs/aws-glue-libs issue 56), whatever AWS_ENDPOINT_URL says: in a container of the image
    on the stack's network, that name reaches the stack's Glue only with LocalStack's DNS server,
    over TLS verified against the stack's CA; without either the call fails."""
    stack = compose_stack
    client = compose.docker_client()
    (localstack,) = client.containers.list(
        filters={"label": "com.docker.compose.service=localstack"}
    )
    network = next(iter(localstack.attrs["NetworkSettings"]["Networks"]))
    address = localstack.attrs["NetworkSettings"]["Networks"][network]["IPAddress"]
    ca = stack.settings.state_dir / "tls" / "ca.crt"
    call = (
        "from flightpipe.gluelocal.aws import service_client; glue = service_client('glue'); "
        "print(glue.meta.endpoint_url); "
        "print(sorted(d['Name'] for d in glue.get_databases()['DatabaseList']))"
    )

    def run(dns: list[str] | None, bundle: str | None) -> tuple[int, str]:
        environment = {
            "AWS_ENDPOINT_URL": "http://localstack:4566",
            "AWS_DEFAULT_REGION": stack.settings.region,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            **({"AWS_CA_BUNDLE": bundle} if bundle else {}),
        }
        container = client.containers.run(
            compose.STANDIN_GLUE,
            ["python3", "-c", call],
            environment=environment,
            network=network,
            dns=dns,
            volumes={str(ca): {"bind": "/run/stack-ca.crt", "mode": "ro"}},
            detach=True,
        )
        try:
            code = container.wait(timeout=120)["StatusCode"]
            return code, container.logs().decode()
        finally:
            container.remove(force=True)

    code, out = run([address], "/run/stack-ca.crt")
    assert code == 0, out
    assert f"https://glue.{stack.settings.region}.amazonaws.com" in out
    assert stack.pipeline.glue_database in out
    code, out = run(None, "/run/stack-ca.crt")  # Docker's resolver: the name is not the stack's
    assert code != 0 and "EndpointConnectionError" in out, out
    code, out = run([address], None)  # LocalStack's DNS, the CA not trusted
    assert code != 0 and "CERTIFICATE_VERIFY_FAILED" in out, out


def test_a_job_failing_in_the_container_fails_the_run_with_its_error(compose_stack):
    stack, day = compose_stack, "2013-02-04"
    key = f"daily_flights/date={day}/flights.csv"
    before = loaded_day(
        stack, day, "Carrier,OriginAirportID,DestAirportID,DepDelay,ArrDelay\nAA,10397,12478,61,0\n"
    )
    sample = SAMPLE / "daily_flights/date=2013-01-04/flights.csv"

    with warehouse_unreachable(stack):
        etag = upload(stack, key, sample.read_bytes())
        execution = finished(stack, key, etag)

    assert (execution["status"], execution.get("error")) == ("FAILED", "PipelineFailed")
    glue = stack.client("glue")
    failed = [
        r
        for r in glue.get_job_runs(JobName=stack.pipeline.job)["JobRuns"]
        if r["JobRunState"] == "FAILED"
    ]
    assert len(failed) == 1
    error = failed[0]["ErrorMessage"]
    assert error.startswith(
        "LoadError: load into airlines.daily_flights_fact failed creating the staging table: "
        "org.postgresql.util.PSQLException: Connection to 127.0.0.1:"
    ), error
    assert "Caused by: java.net.ConnectException: Connection refused" in error, error
    log = _run_logs(stack)[failed[0]["Id"]]
    assert "Traceback (most recent call last)" in log
    assert "# the run ended with code 1" in log
    alert = stack.alert(lambda a: (a.get("body") or {}).get("key") == key, timeout=120)
    assert json.loads(alert["body"]["Cause"])["ErrorMessage"] == error
    assert (fact_rows(stack, day), runs_of(stack, day)) == (before.rows, before.runs)
    # what `flightpipe status` and the dashboard show of it, from the compose stack
    (row,) = [r for r in status_rows(fetch(stack.settings, "status")) if r["day"] == day]
    assert (row["status"], row["problem"]) == ("FAILED", f"RunJob: States.TaskFailed: {error}")
    assert "Traceback" in fetch(stack.settings, f"log?run={failed[0]['Id']}")["text"]


def test_fifteen_days_at_once_are_each_loaded_once_on_the_container_path(compose_stack, tmp_path):
    """A burst on the container path: no day is lost to ConcurrentRunsExceededException (the
    job start's retry budget, counted on the stack's clock, outlasts the queue of runs at
    MaxConcurrentRuns), and the warm container takes two runs at a time."""
    days = [date(2016, 5, 1) + timedelta(n) for n in range(15)]
    assert_burst_loads_each_day_once(compose_stack, days, tmp_path, timeout=900)


def test_down_while_a_job_runs_leaves_no_container_network_or_volume(
    compose_project, compose_stack
):
    project, settings = compose_project
    stack, key = compose_stack, "daily_flights/date=2013-01-05/flights.csv"
    client = compose.docker_client()
    (service_container,) = client.containers.list(
        filters={"label": [f"{compose.PROJECT_LABEL}={project}", "com.docker.compose.service=glue"]}
    )
    upload(stack, key, (SAMPLE / key).read_bytes())
    glue = stack.client("glue")
    stack.wait_for(
        lambda: [
            r
            for r in glue.get_job_runs(JobName=stack.pipeline.job)["JobRuns"]
            if r["JobRunState"] == "RUNNING"
        ],
        timeout=120,
        what="a job run in the warm container",
    )
    assert client.containers.list(filters={"label": f"{STACK_LABEL}={service_container.id}"})

    compose.down(settings)

    project_label = f"{compose.PROJECT_LABEL}={project}"
    assert client.containers.list(all=True, filters={"label": project_label}) == []
    assert (
        client.containers.list(all=True, filters={"label": f"{STACK_LABEL}={service_container.id}"})
        == []
    )
    assert client.networks.list(filters={"label": project_label}) == []
    assert client.volumes.list(filters={"label": project_label}) == []
    assert not (settings.state_dir / "stack.env").exists()
