"""The container path's pieces that need no Docker engine: the job containers' command and
error, and docker-compose.yml and the Dockerfiles as files."""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess

import pytest
import yaml

from flightpipe.devenv import compose
from flightpipe.devenv.tls import server_tls
from flightpipe.gluelocal import aws
from flightpipe.paths import REPO
from flightpipe.settings import LocalSettings
from flightpipe.stack.glue_containers import (
    JDBC_DRIVER,
    ContainerJobs,
    Placement,
    aws_hostnames,
    job_error,
)
from flightpipe.stack.job_code import JobCode


def test_a_job_container_runs_spark_submit_as_aws_documents_for_its_glue_5_image(tmp_path):
    """docs.aws.amazon.com/glue/latest/dg/develop-local-docker-image.html: the workspace is
    mounted at /home/hadoop/workspace/ and the job runs as `spark-submit <script>`; the job's
    --extra-py-files are Spark's --py-files."""
    code_dir = tmp_path / "glue-code"
    libraries = code_dir / "abc123" / "lib"
    libraries.mkdir(parents=True)
    for name in ("flightjob.zip", "helpers.py", "notes.txt"):
        (libraries / name).write_text("")
    script = code_dir / "abc123" / "9f8e.py"
    placement = Placement("/host/glue-code", "net", "http://localstack:4566", "id", "p-")
    jobs = ContainerJobs("glue:5", code_dir, client=object(), placement=placement)

    command = jobs.command(JobCode(script, libraries), ["--JOB_NAME", "j"])

    assert command[0] == "spark-submit"
    assert command[-3:] == ["/home/hadoop/workspace/code/abc123/9f8e.py", "--JOB_NAME", "j"]
    assert command[-5:-3] == [
        "--py-files",
        "/home/hadoop/workspace/code/abc123/lib/flightjob.zip,"
        "/home/hadoop/workspace/code/abc123/lib/helpers.py",
    ]
    confs = dict(
        value.split("=", 1) for flag, value in itertools.pairwise(command) if flag == "--conf"
    )
    assert confs["spark.hadoop.fs.s3a.endpoint"] == "http://localstack:4566"
    assert confs["spark.hadoop.fs.s3a.path.style.access"] == "true"
    assert confs["spark.sql.session.timeZone"] == "UTC"
    assert jobs.environment()["AWS_ENDPOINT_URL"] == "http://localstack:4566"


def test_a_job_container_gets_s3a_on_its_command_line_and_keeps_the_images_jvm_settings(
    tmp_path, monkeypatch
):
    """AWS Glue 5.0 serves s3:// with EMRFS (the Glue 5.1 migration guide: "S3A filesystem has
    replaced EMRFS as the default S3 connector"), which ignores fs.s3a.*: the mapping to S3A must
    be on the command line, not in an image. JVM options and class path are the image's: a
    --conf would replace them, so the time zone goes through TZ."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    placement = Placement("/host/glue-code", "net", "http://localstack:4566", "id", "p-")
    jobs = ContainerJobs("glue:5", tmp_path, client=object(), placement=placement)
    command = jobs.command(JobCode(tmp_path / "job.py", None), [])
    confs = dict(
        value.split("=", 1) for flag, value in itertools.pairwise(command) if flag == "--conf"
    )
    s3a = "org.apache.hadoop.fs.s3a.S3AFileSystem"
    assert (confs["spark.hadoop.fs.s3.impl"], confs["spark.hadoop.fs.s3a.impl"]) == (s3a, s3a)
    assert confs["spark.hadoop.fs.s3a.aws.credentials.provider"].endswith(
        "SimpleAWSCredentialsProvider"
    )
    assert not [key for key in confs if "extraJavaOptions" in key or "extraClassPath" in key]
    assert jobs.environment()["TZ"] == "UTC"
    # The PostgreSQL driver is added with --jars (spark.jars, beside the image's class path).
    jars = command[command.index("--jars") + 1]
    assert jars == f"/home/hadoop/workspace/code/_jars/{JDBC_DRIVER.name}"
    copied = tmp_path / "_jars" / JDBC_DRIVER.name
    assert copied.read_bytes()[:2] == b"PK" and "--driver-class-path" not in command


def test_a_job_container_trusts_the_stacks_ca_extending_the_images_jvm_options(tmp_path):
    """The JVM's trust store goes in JAVA_TOOL_OPTIONS after the image's own value (never in
    place of it), Python's CA in AWS_CA_BUNDLE (botocore's setting); both name the stack's CA as
    the container sees it."""
    ca = server_tls(tmp_path / "tls", ["localstack"]).ca_cert
    placement = Placement(
        "/host/glue-code", "net", "http://localstack:4566", "id", "p-", "localstack", ca
    )
    jobs = ContainerJobs("glue:5", tmp_path / "glue-code", client=object(), placement=placement)
    environment = jobs.environment({"JAVA_TOOL_OPTIONS": "-XX:+UseG1GC"})
    assert environment["JAVA_TOOL_OPTIONS"].startswith("-XX:+UseG1GC -Djavax.net.ssl.trustStore=")
    assert environment["AWS_CA_BUNDLE"] == "/home/hadoop/workspace/code/_tls/ca.crt"
    assert "JAVA_TOOL_OPTIONS" not in ContainerJobs(
        "glue:5", tmp_path, client=object(), placement=Placement("/c", "n", "e", "i", "p")
    ).environment({"JAVA_TOOL_OPTIONS": "-XX:+UseG1GC"})


def test_the_trust_store_a_job_container_makes_holds_the_stacks_ca(tmp_path):
    """The wrapper's script run by sh with this machine's keytool (Java 17, as in Glue 5.0's
    image): the store it leaves is the one JAVA_TOOL_OPTIONS names, holding the CA."""
    ca = server_tls(tmp_path / "tls", ["localstack"]).ca_cert
    placement = Placement("/c", "n", "e", "i", "p", "localstack", ca)
    jobs = ContainerJobs("glue:5", tmp_path, client=object(), placement=placement)
    options = dict(
        option.removeprefix("-D").split("=", 1)
        for option in jobs.environment()["JAVA_TOOL_OPTIONS"].split()
    )
    listing = [
        "keytool", "-list", "-keystore", options["javax.net.ssl.trustStore"],
        "-storetype", options["javax.net.ssl.trustStoreType"],
        "-storepass", options["javax.net.ssl.trustStorePassword"],
    ]  # fmt: skip
    done = subprocess.run(
        jobs.with_trust_store(listing),
        env={**os.environ, "AWS_CA_BUNDLE": str(ca)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "flightpipe-local-ca" in done.stdout and "trustedCertEntry" in done.stdout
    bare = tmp_path / "bin"  # an image without keytool: sh alone on its PATH
    bare.mkdir()
    (bare / "sh").symlink_to(shutil.which("sh") or "/bin/sh")
    missing = subprocess.run(
        jobs.with_trust_store(["true"]),
        env={"PATH": str(bare), "AWS_CA_BUNDLE": str(ca)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert missing.returncode == 1
    assert "keytool is not on this image's PATH" in missing.stderr


def test_the_awsglue_stand_in_calls_glue_and_secrets_manager_at_aws_endpoints(monkeypatch):
    """AWS's GlueContext resolves catalog tables and connections through AWS's Java client,
    which does not follow AWS_ENDPOINT_URL (awslabs/aws-glue-libs issue 56, "The security token
    included in the request is invalid"): the stand-in image's awsglue does the same, S3 aside
    (the job's S3 goes through Spark's settings); the Docker-free path follows the environment."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://localstack:4566")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv(aws.AWS_ENDPOINTS_VARIABLE, "1")
    assert aws.service_client("glue").meta.endpoint_url == "https://glue.us-east-1.amazonaws.com"
    assert aws.service_client("secretsmanager", "eu-west-1").meta.endpoint_url == (
        "https://secretsmanager.eu-west-1.amazonaws.com"
    )
    assert aws.clients()[1].meta.endpoint_url == "http://localstack:4566"
    monkeypatch.delenv(aws.AWS_ENDPOINTS_VARIABLE)
    assert aws.service_client("glue").meta.endpoint_url == "http://localstack:4566"


def test_job_containers_resolve_the_names_the_gateway_certificate_covers():
    """One list: the names LocalStack's DNS resolves for job containers are the ones `make
    compose-up` issues the gateway's certificate for, in the stack's region."""
    settings = LocalSettings(region="eu-west-1")
    names = compose.compose_environment(settings)["FLIGHTPIPE_AWS_HOSTNAMES"].split(",")
    assert names == aws_hostnames("eu-west-1")
    assert {"glue.eu-west-1.amazonaws.com", "secretsmanager.eu-west-1.amazonaws.com"} < set(names)


def test_a_failed_containers_error_is_its_tracebacks_last_line_named_as_in_process():
    output = [
        "Traceback (most recent call last):",
        '  File "/home/hadoop/workspace/glue_job/delayed_flights.py", line 9, in <module>',
        "flightpipe.warehouse.connections.WarehouseError: PostgreSQL: connection failed: "
        "Connection refused",
        "26/12/02 15:06:54 INFO ShutdownHookManager: Shutdown hook called",
    ]
    assert (
        job_error(output, 1) == "WarehouseError: PostgreSQL: connection failed: Connection refused"
    )
    assert job_error(["KeyboardInterrupt", "x"], 1).startswith("the job's container exited")
    assert job_error(["SystemExit"], 2) == "SystemExit"
    assert job_error(["Killed"], 137) == "the job's container exited with code 137: Killed"


def test_a_java_failure_names_the_java_exception_and_its_causes():
    """How PySpark prints a Py4JJavaError: the Python line, then Java's trace with its causes."""
    output = [
        "Traceback (most recent call last):",
        '  File "/usr/lib/spark/python/lib/py4j-src.zip/py4j/protocol.py", line 326, in x',
        "py4j.protocol.Py4JJavaError: An error occurred while calling o84.save.",
        ": java.sql.BatchUpdateException: Batch entry 0 INSERT INTO t was aborted.",
        "\tat org.postgresql.jdbc.BatchResultHandler.handleError(BatchResultHandler.java:165)",
        *["\tat org.apache.spark.Frame.call(Frame.java:1)"] * 150,
        "Caused by: org.postgresql.util.PSQLException: ERROR: value too long for type "
        "character varying(10)",
        "\tat org.postgresql.core.v3.QueryExecutorImpl.receiveErrorResponse(Q.java:2676)",
        "\t... 23 more",
        "",
        "26/12/05 15:06:54 INFO ShutdownHookManager: Shutdown hook called",
    ]
    assert job_error(output, 1) == (
        "Py4JJavaError: An error occurred while calling o84.save. Caused by: "
        "java.sql.BatchUpdateException: Batch entry 0 INSERT INTO t was aborted. Caused by: "
        "org.postgresql.util.PSQLException: ERROR: value too long for type character varying(10)"
    )


def test_docker_compose_yml_is_valid_compose():
    compose_binary = compose.compose_command()
    result = subprocess.run(
        [
            *compose_binary,
            "--file",
            str(compose.COMPOSE_FILE),
            "--profile",
            "tools",
            "config",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    assert set(services) == {"postgres", "localstack", "glue", "shell"}


def test_every_service_is_pinned_initialised_health_checked_and_local_only():
    services = yaml.safe_load(compose.COMPOSE_FILE.read_text())["services"]
    for name, service in services.items():
        assert service.get("init") is True, name
        image = re.sub(r"\$\{\w+:-([^}]+)\}", r"\1", service["image"])
        assert re.fullmatch(r"[\w./-]+:[\w.-]+", image) and not image.endswith(":latest"), name
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), (name, port)
    for name in ("postgres", "localstack", "glue"):
        assert services[name]["healthcheck"]["test"][0] == "CMD", name
    assert services["localstack"]["depends_on"] == {"glue": {"condition": "service_healthy"}}


def test_localstack_is_the_official_image_at_the_pinned_version_by_default():
    """The compose path runs LocalStack's own community image, the version make install pins
    for the Docker-free path, with the project's plugins installed on top of it."""
    services = yaml.safe_load(compose.COMPOSE_FILE.read_text())["services"]
    default = services["localstack"]["build"]["args"]["LOCALSTACK_IMAGE"]
    requirements = (REPO / "localstack" / "requirements.txt").read_text()
    (pin,) = re.findall(r"^localstack-core\[runtime\]==(\S+)$", requirements, re.MULTILINE)
    assert default == f"${{LOCALSTACK_IMAGE:-localstack/localstack:{pin}}}"
    assert services["localstack"]["env_file"] == "localstack/localstack.env"


@pytest.mark.parametrize(
    ("dockerfile", "argument"),
    [
        ("Dockerfile", "BASE_IMAGE"),
        ("localstack/Dockerfile", "LOCALSTACK_IMAGE"),
        ("standins/postgres/Dockerfile", "BASE_IMAGE"),
        ("standins/localstack/Dockerfile", "BASE_IMAGE"),
        ("standins/glue/Dockerfile", "BASE_IMAGE"),
    ],
)
def test_every_image_base_is_a_build_argument(dockerfile, argument):
    text = (REPO / dockerfile).read_text()
    stages = re.findall(r"^FROM \S+ AS (\w+)$", text, re.MULTILINE)
    bases = re.findall(r"^FROM (\S+)", text, re.MULTILINE)
    assert bases and re.search(rf"^ARG {argument}=\S+$", text, re.MULTILINE)
    assert all(base == f"${{{argument}}}" or base in stages for base in bases), bases


def test_the_stand_ins_are_named_as_such():
    standins = (
        compose.STANDIN_BASE,
        compose.STANDIN_POSTGRES,
        compose.STANDIN_LOCALSTACK,
        compose.STANDIN_GLUE,
    )
    for image in standins:
        assert image.startswith("flightpipe-standin/"), image
    for folder in ("postgres", "localstack", "glue"):
        text = (REPO / "standins" / folder / "Dockerfile").read_text()
        assert text.startswith("# STAND-IN for "), folder


def test_the_build_context_keeps_local_state_out_but_for_the_build_ca():
    ignored = (REPO / ".dockerignore").read_text().splitlines()
    assert "*" in ignored
    assert "!.local/build-ca.crt" in ignored and "!.local/" not in ignored
    tracked = subprocess.run(
        ["git", "ls-files", ".local"], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert tracked.stdout == ""


def test_the_compose_clock_is_the_same_in_docker_compose_yml_and_in_compose_up():
    """`make compose-up` passes its scale; a plain `docker compose up` takes the file's default:
    both must be the one scale the compose path's default (the warm container) runs at."""
    services = yaml.safe_load(compose.COMPOSE_FILE.read_text())["services"]
    assert services["glue"]["environment"]["FLIGHTPIPE_GLUE_CONTAINERS"] == (
        "${FLIGHTPIPE_GLUE_CONTAINERS:-warm}"
    )
    for name in ("localstack", "glue"):
        scale = services[name]["environment"]["FLIGHTPIPE_TIME_SCALE"]
        assert scale == f"${{FLIGHTPIPE_TIME_SCALE:-{compose.COMPOSE_TIME_SCALE}}}", name


def test_a_container_per_run_slows_the_compose_clock(tmp_path, monkeypatch):
    monkeypatch.delenv("FLIGHTPIPE_TIME_SCALE", raising=False)
    settings = LocalSettings(state_dir=tmp_path)
    monkeypatch.setenv("FLIGHTPIPE_GLUE_CONTAINERS", "per-run")
    assert compose.compose_environment(settings)["FLIGHTPIPE_TIME_SCALE"] == "10"
    monkeypatch.setenv("FLIGHTPIPE_GLUE_CONTAINERS", "warm")
    assert compose.compose_environment(settings)["FLIGHTPIPE_TIME_SCALE"] == "40"
