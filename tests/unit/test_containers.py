"""The container path's pieces that need no Docker engine: the job containers' command and
error, LocalStack's init hooks, and docker-compose.yml and the Dockerfiles as files."""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from flightpipe import compose
from flightpipe.stack.glue_containers import ContainerJobs, Placement, job_error
from flightpipe.stack.init_hooks import InitHooks
from tests.conftest import REPO

pytestmark = pytest.mark.unit


def test_a_job_container_runs_spark_submit_as_aws_documents_for_its_glue_5_image():
    """docs.aws.amazon.com/glue/latest/dg/develop-local-docker-image.html: the workspace is
    mounted at /home/hadoop/workspace/ and the job runs as `spark-submit <script>`."""
    placement = Placement("/host/repo/glue_job", "net", "http://stack:4566", "id", "p-")
    jobs = ContainerJobs("glue:5", client=object(), placement=placement)

    command = jobs.command(Path("/app/glue_job/delayed_flights.py"), ["--JOB_NAME", "j"])

    assert command[0] == "spark-submit"
    assert command[-3:] == ["/home/hadoop/workspace/glue_job/delayed_flights.py", "--JOB_NAME", "j"]
    confs = dict(
        value.split("=", 1) for flag, value in itertools.pairwise(command) if flag == "--conf"
    )
    assert confs["spark.hadoop.fs.s3a.endpoint"] == "http://stack:4566"
    assert confs["spark.hadoop.fs.s3a.path.style.access"] == "true"
    assert confs["spark.sql.session.timeZone"] == "UTC"
    assert jobs.environment()["AWS_ENDPOINT_URL"] == "http://stack:4566"


def test_a_failed_containers_error_is_its_tracebacks_last_line_named_as_in_process():
    output = [
        "Traceback (most recent call last):",
        '  File "/home/hadoop/workspace/glue_job/delayed_flights.py", line 9, in <module>',
        "flightpipe.warehouse.WarehouseError: PostgreSQL: connection failed: Connection refused",
        "26/12/02 15:06:54 INFO ShutdownHookManager: Shutdown hook called",
    ]
    assert (
        job_error(output, 1) == "WarehouseError: PostgreSQL: connection failed: Connection refused"
    )
    assert job_error(["KeyboardInterrupt", "x"], 1).startswith("the job's container exited")
    assert job_error(["SystemExit"], 2) == "SystemExit"
    assert job_error(["Killed"], 137) == "the job's container exited with code 137: Killed"


def _hook(folder: Path, name: str, text: str, executable: bool = True) -> None:
    path = folder / name
    path.write_text(text)
    if executable:
        path.chmod(0o755)


def test_ready_hooks_run_in_order_and_report_as_localstack_does(tmp_path, monkeypatch):
    """docs.localstack.cloud/references/init-hooks: ready.d scripts run in alphanumerical order,
    a failed one does not stop the next, shell scripts must be executable, and
    /_localstack/init/ready answers {"completed", "scripts": [{"stage", "name", "state"}]}."""
    monkeypatch.setenv("FLIGHTPIPE_PROVISIONED_FILE", str(tmp_path / "provisioned.json"))
    ready = tmp_path / "init" / "ready.d"
    ready.mkdir(parents=True)
    seen = tmp_path / "seen"
    _hook(ready, "20-fails.sh", f"#!/bin/sh\necho 20 >> {seen}\nexit 3\n")
    _hook(ready, "10-ok.sh", f"#!/bin/sh\necho 10 >> {seen}\n")
    _hook(
        ready,
        "30-endpoint.py",
        f"import os\nopen({str(seen)!r}, 'a').write(os.environ['AWS_ENDPOINT_URL'] + '\\n')\n",
        executable=False,
    )
    _hook(ready, "40-not-executable.sh", "#!/bin/sh\nexit 0\n", executable=False)
    hooks = InitHooks(tmp_path / "init", port=4599)
    assert (hooks.state, hooks.localstack_answer()["completed"]) == ("running", False)

    hooks.run()

    assert seen.read_text().split() == ["10", "20", "http://127.0.0.1:4599"]
    assert hooks.localstack_answer() == {
        "completed": True,
        "scripts": [
            {"stage": "READY", "name": "10-ok.sh", "state": "SUCCESSFUL"},
            {"stage": "READY", "name": "20-fails.sh", "state": "ERROR"},
            {"stage": "READY", "name": "30-endpoint.py", "state": "SUCCESSFUL"},
            {"stage": "READY", "name": "40-not-executable.sh", "state": "ERROR"},
        ],
    }
    assert hooks.state == "failed: 20-fails.sh, 40-not-executable.sh"
    assert InitHooks(None, 4599).state == "none"


def test_the_shipped_provisioning_hook_is_executable_with_a_shebang():
    (hook,) = (REPO / "localstack" / "init" / "ready.d").iterdir()
    assert os.access(hook, os.X_OK) and hook.read_text().startswith("#!/bin/sh\n")


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
    assert set(services) == {"postgres", "stack", "glue"}


def test_every_service_is_pinned_initialised_health_checked_and_local_only():
    services = yaml.safe_load(compose.COMPOSE_FILE.read_text())["services"]
    for name, service in services.items():
        assert service.get("init") is True, name
        image = re.sub(r"\$\{\w+:-([^}]+)\}", r"\1", service["image"])
        assert re.fullmatch(r"[\w./-]+:[\w.-]+", image) and not image.endswith(":latest"), name
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), (name, port)
    for name in ("postgres", "stack"):
        assert services[name]["healthcheck"]["test"][0] == "CMD", name
    assert services["stack"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}


@pytest.mark.parametrize(
    "dockerfile",
    ["localstack/Dockerfile", "standins/postgres/Dockerfile", "standins/glue/Dockerfile"],
)
def test_every_image_base_is_a_build_argument(dockerfile):
    text = (REPO / dockerfile).read_text()
    stages = re.findall(r"^FROM \S+ AS (\w+)$", text, re.MULTILINE)
    bases = re.findall(r"^FROM (\S+)", text, re.MULTILINE)
    assert bases and re.search(r"^ARG BASE_IMAGE=\S+$", text, re.MULTILINE)
    assert all(base == "${BASE_IMAGE}" or base in stages for base in bases), bases


def test_the_stand_ins_are_named_as_such():
    for image in (compose.STANDIN_BASE, compose.STANDIN_POSTGRES, compose.STANDIN_GLUE):
        assert image.startswith("flightpipe-standin/"), image
    for dockerfile in ("standins/postgres/Dockerfile", "standins/glue/Dockerfile"):
        assert (REPO / dockerfile).read_text().startswith("# STAND-IN for "), dockerfile


def test_the_build_context_keeps_local_state_out_but_for_the_build_ca():
    ignored = (REPO / ".dockerignore").read_text().splitlines()
    assert "*" in ignored
    assert "!.local/build-ca.crt" in ignored and "!.local/" not in ignored
    tracked = subprocess.run(
        ["git", "ls-files", ".local"], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert tracked.stdout == ""
