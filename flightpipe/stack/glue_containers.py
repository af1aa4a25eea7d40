"""Glue job runs in containers of the Glue image, started by the Glue service through Docker's SDK.

The compose stack (docker-compose.yml) sets ``FLIGHTPIPE_GLUE_RUNNER=containers``: each
StartJobRun then starts one container of ``FLIGHTPIPE_GLUE_IMAGE`` (AWS's
``public.ecr.aws/glue/aws-glue-libs:5`` by default, or the stand-in ``make compose-standins``
builds), the way AWS documents running a job in that image::

    spark-submit [--py-files <the job's modules>] /home/hadoop/workspace/code/.../<script>.py \
        --JOB_NAME ... --<argument> <value> ...

with the run's arguments as Glue passes them (the job's default arguments merged with the run's,
then ``--JOB_RUN_ID`` and ``--JOB_NAME``), Spark settings as ``--conf`` (the session settings of
the local runtime, and ``s3://`` served by S3A pointed at LocalStack, which the real image needs
on its command line: its own ``s3://`` is EMRFS; never JVM options or class path, which would
replace the image's), LocalStack's endpoint and credentials
in the environment, and the job's code as the Glue service read it from S3
(``flightpipe.stack.job_code``), mounted read-only from the host folder the service's own code
cache comes from. The container joins the service's network. Its output is appended to the
run's log as it is written; its exit code decides the run: 0 is SUCCEEDED, anything else FAILED
with the job's exception (the last line of its traceback, and for a Java exception raised through
py4j, the Java exception and its causes) as ``ErrorMessage``.

Containers carry the label ``flightpipe.glue-run`` (the run id) and ``flightpipe.stack`` (the
service container's id), are removed when they end, and are killed and removed when the service
stops; ``flightpipe compose down`` removes any that a killed service left.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import threading
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flightpipe.gluelocal.runner import (
    GLUE_SESSION_SETTINGS,
    S3A_FILESYSTEMS,
    environment_credentials,
    s3a_endpoint_settings,
)
from flightpipe.stack.job_code import JobCode

log = logging.getLogger("flightpipe.stack.glue")

WORKSPACE = "/home/hadoop/workspace"
CODE_IN_JOB = f"{WORKSPACE}/code"
RUN_LABEL = "flightpipe.glue-run"
STACK_LABEL = "flightpipe.stack"
# The last line of a Python traceback: ``module.ExceptionName: message`` (or no message).
_EXCEPTION_LINE = re.compile(
    r"^(?:[A-Za-z_][\w]*\.)*([A-Za-z_]\w*(?:Error|Exception|Exit))(?::\s?(.*))?$"
)
# A Java stack trace inside a Python one runs to hundreds of lines; Spark's shutdown adds more.
_TAIL_LINES = 2000
# A Java exception line inside a Py4JJavaError: ``: java.sql.SQLException: ...`` (the first one)
# and ``Caused by: org.postgresql.util.PSQLException: ...`` (its causes).
_JAVA_LINE = re.compile(r"^(?::|Caused by:)\s+([\w$.]+(?:Exception|Error|Throwable)\b.*)$")


class JobRunFailed(RuntimeError):
    """The job's container ended with a non-zero exit code; the message is the job's error."""


@dataclass(frozen=True)
class Placement:
    """Where job containers go: the host folder of the job code, the network, the endpoint."""

    code_source: str
    network: str | None
    endpoint_url: str
    stack_id: str
    name_prefix: str  # job containers are named <prefix>glue-<run id's first 12 hex digits>


class ContainerJobs:
    """Starts, follows and cleans up job containers (one per run)."""

    def __init__(
        self,
        image: str,
        code_dir: Path,
        client: Any = None,
        placement: Placement | None = None,
    ):
        import docker

        self.image = image
        self.code_dir = code_dir
        self.client = client or docker.from_env()
        self.placement = placement or self._placement()
        self._running: dict[str, Any] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_environment(cls, code_dir: Path) -> ContainerJobs:
        image = os.environ.get("FLIGHTPIPE_GLUE_IMAGE", "public.ecr.aws/glue/aws-glue-libs:5")
        return cls(image, code_dir)

    def _placement(self) -> Placement:
        """Read the service's own container: the host folder mounted at its code cache and its
        network; without a container (a service run on the host) the code cache is the host's
        own folder and the network is the host's."""
        endpoint = os.environ.get("FLIGHTPIPE_JOB_ENDPOINT_URL")
        try:
            me = self.client.containers.get(socket.gethostname())
        except Exception:  # not in a container: docker.errors.NotFound, or no such host name
            me = None
        if me is None:
            fallback = os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
            return Placement(str(self.code_dir.resolve()), "host", endpoint or fallback, "", "")
        mounts = {m["Destination"]: m["Source"] for m in me.attrs.get("Mounts", [])}
        source = mounts.get(str(self.code_dir))
        if source is None:
            raise RuntimeError(
                f"the Glue service's container has no mount at {self.code_dir}: job containers "
                "mount the same host folder (see docker-compose.yml)"
            )
        networks = list(me.attrs["NetworkSettings"]["Networks"])
        return Placement(
            source,
            networks[0] if networks else None,
            endpoint or f"http://{me.attrs['Config']['Hostname']}:4566",
            me.id,
            f"{me.labels.get('com.docker.compose.project', me.name)}-",
        )

    def in_job(self, path: Path) -> str:
        """Where a file of the code cache is inside a job container."""
        return f"{CODE_IN_JOB}/{path.resolve().relative_to(self.code_dir.resolve()).as_posix()}"

    def command(self, code: JobCode, argv: Sequence[str]) -> list[str]:
        """The container's command: ``spark-submit`` with the run's settings, its modules
        (Glue's ``--extra-py-files``) as ``--py-files``, the script and its arguments."""
        settings = {
            **GLUE_SESSION_SETTINGS,
            **S3A_FILESYSTEMS,
            **s3a_endpoint_settings(self.placement.endpoint_url, environment_credentials()),
        }
        confs = [arg for key, value in settings.items() for arg in ("--conf", f"{key}={value}")]
        modules = sorted(code.libraries.glob("*.py")) if code.libraries else []
        py_files = ["--py-files", ",".join(self.in_job(m) for m in modules)] if modules else []
        return ["spark-submit", *confs, *py_files, self.in_job(code.script), *argv]

    def environment(self) -> dict[str, str]:
        region = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
        return {
            "AWS_ENDPOINT_URL": self.placement.endpoint_url,
            "AWS_DEFAULT_REGION": region,
            "AWS_REGION": region,
            "TZ": "UTC",  # the JVM's default time zone, without touching the image's JVM options
            **environment_credentials(),
        }

    def run(self, run_id: str, code: JobCode, argv: Sequence[str], log_path: Path) -> None:
        """Run the job in a container; return when it succeeded, raise JobRunFailed if not."""
        command = self.command(code, argv)
        self._ensure_image()
        container = self.client.containers.create(
            self.image,
            command=command,
            environment=self.environment(),
            volumes={self.placement.code_source: {"bind": CODE_IN_JOB, "mode": "ro"}},
            network=self.placement.network,
            labels={RUN_LABEL: run_id, STACK_LABEL: self.placement.stack_id},
            name=f"{self.placement.name_prefix}glue-{run_id.removeprefix('jr_')[:12]}",
            init=True,
        )
        with self._lock:
            self._running[run_id] = container
        tail: deque[str] = deque(maxlen=_TAIL_LINES)
        try:
            with log_path.open("a", encoding="utf-8") as out:
                out.write(f"# container {container.short_id} of {self.image}: {_shell(command)}\n")
                out.flush()
                container.start()
                pending = ""
                for chunk in container.logs(stream=True, follow=True):
                    pending += chunk.decode("utf-8", "replace")
                    *lines, pending = pending.split("\n")
                    for line in lines:
                        out.write(line + "\n")
                        tail.append(line)
                    out.flush()
                if pending:
                    out.write(pending + "\n")
                    tail.append(pending)
                exit_code = container.wait()["StatusCode"]
                out.write(f"# container {container.short_id} exited with code {exit_code}\n")
        finally:
            with self._lock:
                self._running.pop(run_id, None)
            _remove(container)
        if exit_code != 0:
            raise JobRunFailed(job_error(list(tail), exit_code))

    def _ensure_image(self) -> None:
        """Pull the image on the first run if the engine lacks it (AWS's is several GB)."""
        import docker

        with self._lock:
            try:
                self.client.images.get(self.image)
            except docker.errors.ImageNotFound:
                log.info("pulling %s for the first job run", self.image)
                self.client.images.pull(self.image)

    def close(self) -> None:
        """Kill and remove the containers of runs still going (the stack is stopping)."""
        with self._lock:
            running = list(self._running.values())
        for container in running:
            _remove(container)


def job_error(lines: Sequence[str], code: int) -> str:
    """The job's error from the end of its output: the last traceback's exception, named
    without its module (as the in-process runner names it), with the Java exception and its
    causes when it is a Py4JJavaError; else the exit code and the last lines."""
    for index in range(len(lines) - 1, -1, -1):
        match = _EXCEPTION_LINE.match(lines[index].strip())
        if match:
            name, message = match.groups()
            found = f"{name}: {message}" if message else name
            if name == "Py4JJavaError":
                java = [m.group(1) for m in map(_JAVA_LINE.match, lines[index + 1 :]) if m]
                found = " Caused by: ".join([found, *java[:8]])
            return found
    last = " | ".join(line for line in lines[-5:] if line.strip())
    return f"the job's container exited with code {code}" + (f": {last}" if last else "")


def _remove(container: Any) -> None:
    try:
        container.remove(force=True)
    except Exception as error:  # already gone (docker.errors.NotFound) or removal in progress
        log.debug("container %s: %s", container.short_id, error)


def _shell(command: Sequence[str]) -> str:
    import shlex

    return " ".join(shlex.quote(part) for part in command)


def labels_filter(stack_id: str | None = None) -> Mapping[str, Any]:
    """The filter that finds job containers (of one stack, or of any)."""
    return {"label": f"{STACK_LABEL}={stack_id}" if stack_id else RUN_LABEL}
