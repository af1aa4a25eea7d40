"""Glue job runs in containers of the Glue image, started by the Glue service through Docker's SDK.

The compose stack sets ``FLIGHTPIPE_GLUE_RUNNER=containers``. ``FLIGHTPIPE_GLUE_CONTAINERS``
says how: ``warm`` (the default), one long-lived container that takes every run
(``WarmContainer``, running ``glue_worker.py``); ``per-run``, a container per StartJobRun,
started as AWS documents running a job in the image (``spark-submit`` of the script, with the
run's arguments as Glue passes them). A run's Spark settings go on the ``spark-submit`` command
line (``s3://`` served by S3A: the image's own is EMRFS), never JVM options or class path (they
would replace the image's); its exit code decides SUCCEEDED or FAILED. AWS's GlueContext calls
Glue and Secrets Manager at AWS's own endpoint names, whatever ``AWS_ENDPOINT_URL`` says, so job
containers resolve those names to LocalStack (``FLIGHTPIPE_JOB_DNS``) and trust the stack's CA
(``FLIGHTPIPE_JOB_CA_BUNDLE``). Containers carry the labels ``flightpipe.glue-run`` and
``flightpipe.stack`` and are removed when they or the service end.

Why one warm container, and how job containers reach the stack at AWS's endpoint names:
docs/decisions/warm-glue-container.md, docs/decisions/aws-endpoints-in-job-containers.md; the
path as a whole: docs/containers.md.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shlex
import shutil
import socket
import threading
import time
import urllib.request
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
from flightpipe.settings import DEFAULT_REGION
from flightpipe.stack.glue_worker import EXIT_MARK
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
# How job runs use containers (FLIGHTPIPE_GLUE_CONTAINERS): one warm container, or one per run.
CONTAINER_MODES = ("warm", "per-run")
WARM_LABEL = "warm"
# The warm container's program, copied into the code cache that job containers mount.
WORKER_DIR = "_warm"
WORKER_FILE = "glue_worker.py"
WORKER_PORT = 8998
WORKER_START_TIMEOUT = 180.0
# Longer than any local run; Glue's own timeout is the state machine's business.
WORKER_RUN_TIMEOUT = 3600.0
STARTING = "starting"
# A Java exception line inside a Py4JJavaError: ``: java.sql.SQLException: ...`` (the first one)
# and ``Caused by: org.postgresql.util.PSQLException: ...`` (its causes).
_JAVA_LINE = re.compile(r"^(?::|Caused by:)\s+([\w$.]+(?:Exception|Error|Throwable)\b.*)$")


# The services whose AWS names resolve to LocalStack for job containers, and so the names its
# gateway's certificate covers: the ones GlueContext calls itself (catalog tables and connections,
# their secrets), and STS, where AWS's Java clients may resolve the account.
AWS_OWN_ENDPOINT_SERVICES = ("glue", "secretsmanager", "sts")
# The JVM's trust store in a job container, made at its start from the stack's CA. Its password
# guards nothing (it holds one public certificate); PKCS12 stores need one.
TRUSTSTORE = "/tmp/flightpipe-truststore.p12"
TRUSTSTORE_PASSWORD = "changeit"
TRUST_DIR = "_tls"
# The PostgreSQL JDBC driver job containers get with --jars (added to the image's class path, not
# in place of it), for an image without one: the Glue service's own (Debian's in its image).
JDBC_DRIVER = Path(os.environ.get("PG_JDBC_JAR", "/usr/share/java/postgresql.jar"))
JARS_DIR = "_jars"
DNS_WAIT = 180.0


def aws_hostnames(region: str) -> list[str]:
    """The AWS endpoint names a job's own clients call in ``region``, which job containers
    resolve to LocalStack."""
    regional = [f"{service}.{region}.amazonaws.com" for service in AWS_OWN_ENDPOINT_SERVICES]
    return [*regional, "sts.amazonaws.com"]


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
    dns_host: str | None = None  # the host whose DNS server job containers use (LocalStack)
    ca_bundle: Path | None = None  # the CA job containers trust, as the service reads it


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
        self.warm: WarmContainer | None = None

    @classmethod
    def from_environment(cls, code_dir: Path) -> ContainerJobs:
        image = os.environ.get("FLIGHTPIPE_GLUE_IMAGE", "public.ecr.aws/glue/aws-glue-libs:5")
        mode = os.environ.get("FLIGHTPIPE_GLUE_CONTAINERS", "warm")
        if mode not in CONTAINER_MODES:
            raise ValueError(
                f"FLIGHTPIPE_GLUE_CONTAINERS={mode!r}: expected one of {', '.join(CONTAINER_MODES)}"
            )
        jobs = cls(image, code_dir)
        if mode == "warm":
            jobs.warm = WarmContainer(jobs)
            jobs.warm.start()
        return jobs

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
        ca_bundle = os.environ.get("FLIGHTPIPE_JOB_CA_BUNDLE")
        return Placement(
            source,
            networks[0] if networks else None,
            endpoint or f"http://{me.attrs['Config']['Hostname']}:4566",
            me.id,
            f"{me.labels.get('com.docker.compose.project', me.name)}-",
            os.environ.get("FLIGHTPIPE_JOB_DNS") or None,
            Path(ca_bundle) if ca_bundle else None,
        )

    def in_job(self, path: Path) -> str:
        """Where a file of the code cache is inside a job container."""
        return f"{CODE_IN_JOB}/{path.resolve().relative_to(self.code_dir.resolve()).as_posix()}"

    def spark_submit(self) -> list[str]:
        """``spark-submit`` with a run's settings: the local runtime's session settings and
        ``s3://`` served by S3A pointed at the stack."""
        settings = {
            **GLUE_SESSION_SETTINGS,
            **S3A_FILESYSTEMS,
            **s3a_endpoint_settings(self.placement.endpoint_url, environment_credentials()),
        }
        confs = [arg for key, value in settings.items() for arg in ("--conf", f"{key}={value}")]
        jars = self._jdbc_driver()
        return ["spark-submit", *confs, *(["--jars", jars] if jars else [])]

    def _jdbc_driver(self) -> str | None:
        """The PostgreSQL JDBC driver as job containers see it (copied into the code cache they
        mount); None, with a warning, where the service has none to give."""
        if not JDBC_DRIVER.is_file():
            log.warning("no PostgreSQL JDBC driver at %s for job containers", JDBC_DRIVER)
            return None
        target = self.code_dir / JARS_DIR / JDBC_DRIVER.name
        if not (target.is_file() and target.stat().st_size == JDBC_DRIVER.stat().st_size):
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(JDBC_DRIVER, target)
        return self.in_job(target)

    def modules(self, code: JobCode) -> list[str]:
        """The run's modules (Glue's ``--extra-py-files``) as the job container sees them."""
        found = sorted(code.libraries.iterdir()) if code.libraries else []
        found = [path for path in found if path.suffix in (".py", ".zip")]
        return [self.in_job(module) for module in found]

    def command(self, code: JobCode, argv: Sequence[str]) -> list[str]:
        """The container's command: ``spark-submit`` with the run's settings, its modules
        as ``--py-files``, the script and its arguments."""
        modules = self.modules(code)
        py_files = ["--py-files", ",".join(modules)] if modules else []
        return [*self.spark_submit(), *py_files, self.in_job(code.script), *argv]

    def environment(self, image_environment: Mapping[str, str] | None = None) -> dict[str, str]:
        """A job container's environment; ``image_environment`` is the image's own, which the
        JVM options of the trust store extend."""
        region = os.environ.get("AWS_DEFAULT_REGION", DEFAULT_REGION)
        environment = {
            "AWS_ENDPOINT_URL": self.placement.endpoint_url,
            "AWS_DEFAULT_REGION": region,
            "AWS_REGION": region,
            "TZ": "UTC",  # the JVM's default time zone, without touching the image's JVM options
            **environment_credentials(),
        }
        if self.placement.ca_bundle is not None:
            own = (image_environment or {}).get("JAVA_TOOL_OPTIONS", "")
            trust = (
                f"-Djavax.net.ssl.trustStore={TRUSTSTORE} -Djavax.net.ssl.trustStoreType=PKCS12 "
                f"-Djavax.net.ssl.trustStorePassword={TRUSTSTORE_PASSWORD}"
            )
            environment["AWS_CA_BUNDLE"] = self._trusted_ca()
            environment["JAVA_TOOL_OPTIONS"] = f"{own} {trust}".strip()
        return environment

    def _trusted_ca(self) -> str:
        """The stack's CA as job containers see it (copied into the code cache they mount)."""
        return self.in_job(self.code_dir / TRUST_DIR / "ca.crt")

    def with_trust_store(self, command: Sequence[str]) -> list[str]:
        """``command`` run after ``keytool`` made the JVM's trust store of the stack's CA, when
        job containers trust it."""
        if self.placement.ca_bundle is None:
            return list(command)
        script = (
            "command -v keytool >/dev/null || { echo \"keytool is not on this image's PATH: "
            "the JVM cannot be given the local stack's CA\" >&2; exit 1; }; "
            f"rm -f {TRUSTSTORE} && keytool -importcert -noprompt -alias flightpipe-local-ca "
            f'-file "$AWS_CA_BUNDLE" -keystore {TRUSTSTORE} -storetype PKCS12 '
            f'-storepass {TRUSTSTORE_PASSWORD} >/dev/null && exec "$@"'
        )
        return ["sh", "-c", script, "sh", *command]

    def create(self, command: Sequence[str], label: str, name: str) -> Any:
        """A container of the image with the stack's environment, code and network (and DNS,
        and trust in the stack's CA, where the placement says)."""
        self._ensure_image()
        options: dict[str, Any] = {}
        if self.placement.dns_host:
            options["dns"] = [self._dns_address(self.placement.dns_host)]
        if self.placement.ca_bundle is not None:
            target = self.code_dir / TRUST_DIR / "ca.crt"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.placement.ca_bundle, target)
        image_env = self.client.images.get(self.image).attrs["Config"].get("Env") or []
        return self.client.containers.create(
            self.image,
            command=self.with_trust_store(command),
            environment=self.environment(dict(item.split("=", 1) for item in image_env)),
            volumes={self.placement.code_source: {"bind": CODE_IN_JOB, "mode": "ro"}},
            network=self.placement.network,
            labels={RUN_LABEL: label, STACK_LABEL: self.placement.stack_id},
            name=f"{self.placement.name_prefix}{name}",
            init=True,
            **options,
        )

    @staticmethod
    def _dns_address(host: str) -> str:
        """``host``'s address (Docker takes DNS servers by address); LocalStack starts after
        the Glue service, so its name may not resolve yet."""
        deadline = time.monotonic() + DNS_WAIT
        while True:
            try:
                return socket.gethostbyname(host)
            except OSError as error:
                if time.monotonic() > deadline:
                    raise JobRunFailed(
                        f"{host} (FLIGHTPIPE_JOB_DNS) did not resolve within {DNS_WAIT:.0f} s: "
                        f"{error}"
                    ) from error
                time.sleep(1)

    def run(self, run_id: str, code: JobCode, argv: Sequence[str], log_path: Path) -> None:
        """Run the job (in the warm container, or one of its own); return when it succeeded,
        raise JobRunFailed if not."""
        if self.warm is not None:
            self.warm.run(run_id, code, argv, log_path)
            return
        command = self.command(code, argv)
        container = self.create(command, run_id, f"glue-{run_id.removeprefix('jr_')[:12]}")
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
        """Kill and remove the containers of runs still going, and the warm one (the stack is
        stopping)."""
        with self._lock:
            running = list(self._running.values())
        for container in running:
            _remove(container)
        if self.warm is not None:
            self.warm.close()


class WarmContainer:
    """One long-lived container of the Glue image running ``glue_worker.py``; runs go to it
    over HTTP, two or more at once, their output streamed back into each run's log."""

    def __init__(self, jobs: ContainerJobs):
        self.jobs = jobs
        self._container: Any = None
        self._modules: dict[str, str] = {}  # module file name -> path given to the container
        self._active = 0
        self._changed = threading.Condition()

    @property
    def worker_in_job(self) -> str:
        return self.jobs.in_job(self.jobs.code_dir / WORKER_DIR / WORKER_FILE)

    @property
    def base_url(self) -> str:
        host = "127.0.0.1" if self.jobs.placement.network == "host" else self._name()
        return f"http://{host}:{WORKER_PORT}"

    def _name(self) -> str:
        return f"{self.jobs.placement.name_prefix}glue-warm"

    def start(self) -> None:
        """Start the container in the background: the first run waits for it (and, if this
        start failed, tries again)."""

        def ready() -> None:
            try:
                self._ready()
            except Exception as error:
                log.error("the warm Glue container did not start: %s", error)

        threading.Thread(target=ready, name="glue-warm-start", daemon=True).start()

    def _ready(self) -> Any:
        """The container, once its worker answers; one is started when none runs."""
        with self._changed:
            while self._container == STARTING:
                self._changed.wait()
            if self._container is None:
                self._container = STARTING
            else:
                return self._container
        try:
            container = self._launch()
        except BaseException:
            with self._changed:
                self._container = None
                self._changed.notify_all()
            raise
        with self._changed:
            self._container = container
            self._changed.notify_all()
        return container

    def _launch(self) -> Any:
        shutil.copyfile(Path(__file__).with_name(WORKER_FILE), self._worker_copy())
        command = [
            *self.jobs.spark_submit(),
            self.worker_in_job,
            "--port",
            str(WORKER_PORT),
            "--warm-up",
        ]
        stale = self._name()
        with contextlib.suppress(Exception):  # a container a killed service left
            _remove(self.jobs.client.containers.get(stale))
        container = self.jobs.create(command, WARM_LABEL, "glue-warm")
        container.start()
        log_path = self.jobs.code_dir.parent / "logs" / "glue-warm.log"
        threading.Thread(
            target=_follow, args=(container, log_path), name="glue-warm-log", daemon=True
        ).start()
        deadline = time.monotonic() + WORKER_START_TIMEOUT
        while time.monotonic() < deadline:
            container.reload()
            if container.status == "exited":
                _remove(container)
                raise JobRunFailed(
                    f"the warm Glue container exited at start (see {log_path}): "
                    + " | ".join(_tail(log_path, 5))
                )
            try:
                with urllib.request.urlopen(f"{self.base_url}/health", timeout=2):
                    return container
            except OSError:
                time.sleep(0.5)
        _remove(container)
        raise JobRunFailed(
            f"the warm Glue container did not answer within {WORKER_START_TIMEOUT} s"
        )

    def _worker_copy(self) -> Path:
        target = self.jobs.code_dir / WORKER_DIR / WORKER_FILE
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def _admit(self, modules: Sequence[str]) -> None:
        """Wait until the container can take a run with ``modules``: when one of them is known
        from another path, until the runs in it have ended, then retire it."""
        wanted = {module.rsplit("/", 1)[-1]: module for module in modules}
        with self._changed:
            while True:
                clash = any(self._modules.get(name, path) != path for name, path in wanted.items())
                if not clash:
                    self._modules.update(wanted)
                    self._active += 1
                    return
                if self._active == 0 and self._container not in (None, STARTING):
                    _remove(self._container)
                    self._container, self._modules = None, {}
                    continue
                self._changed.wait()

    def _release(self) -> None:
        with self._changed:
            self._active -= 1
            self._changed.notify_all()

    def run(self, run_id: str, code: JobCode, argv: Sequence[str], log_path: Path) -> None:
        modules = self.jobs.modules(code)
        self._admit(modules)
        try:
            container = self._ready()
            request = {
                "run_id": run_id,
                "script": self.jobs.in_job(code.script),
                "argv": list(argv),
                "py_files": modules,
            }
            header = (
                f"in the warm container of {self.jobs.image} ({self._name()}; Spark's own lines "
                "are in logs/glue-warm.log)"
            )
            try:
                send_run(self.base_url, request, log_path, header)
            except WorkerLost:
                self._lost(container)
                raise
        finally:
            self._release()

    def _lost(self, container: Any) -> None:
        """``container`` stopped answering: the next run starts another (unless another run
        found so first, and a new one already runs)."""
        with self._changed:
            if self._container is container:
                _remove(container)
                self._container, self._modules = None, {}
            self._changed.notify_all()

    def close(self) -> None:
        with self._changed:
            container, self._container = self._container, None
        if container not in (None, STARTING):
            _remove(container)


class WorkerLost(JobRunFailed):
    """The warm container stopped answering during a run."""


def send_run(url: str, request: Mapping[str, Any], log_path: Path, header: str) -> None:
    """Run ``request`` on the warm worker at ``url`` (``glue_worker.py``), its output appended
    to ``log_path`` after a line naming ``header``; return if the run ended with code 0, else
    raise JobRunFailed with the job's error (WorkerLost if the worker stopped answering)."""
    tail: deque[str] = deque(maxlen=_TAIL_LINES)
    code: int | None = None
    post = urllib.request.Request(
        f"{url}/runs",
        data=json.dumps(request).encode(),
        headers={"Content-Type": "application/json"},
    )
    with log_path.open("a", encoding="utf-8") as out:
        out.write(f"# {header}: {request['script']} {_shell(request['argv'])}\n")
        out.flush()
        try:
            with urllib.request.urlopen(post, timeout=WORKER_RUN_TIMEOUT) as answer:
                for raw in answer:
                    line = raw.decode("utf-8", "replace").rstrip("\n")
                    if line.startswith(EXIT_MARK):
                        code = int(line.removeprefix(EXIT_MARK))
                        continue
                    out.write(line + "\n")
                    out.flush()
                    tail.append(line)
        except OSError as error:
            out.write(f"# the worker stopped answering: {error}\n")
        out.write(f"# the run ended with code {code}\n")
    if code is None:
        raise WorkerLost(
            "the warm Glue container ended during the run (see logs/glue-warm.log): "
            + " | ".join(list(tail)[-3:])
        )
    if code != 0:
        raise JobRunFailed(job_error(list(tail), code))


def _follow(container: Any, log_path: Path) -> None:
    """The container's output appended to ``log_path`` as it comes."""
    with contextlib.suppress(Exception), log_path.open("ab") as out:
        for chunk in container.logs(stream=True, follow=True):
            out.write(chunk)
            out.flush()


def _tail(path: Path, count: int) -> list[str]:
    try:
        return path.read_text(errors="replace").splitlines()[-count:]
    except OSError:
        return []


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
    return " ".join(shlex.quote(part) for part in command)


def labels_filter(stack_id: str | None = None) -> Mapping[str, Any]:
    """The filter that finds job containers (of one stack, or of any)."""
    return {"label": f"{STACK_LABEL}={stack_id}" if stack_id else RUN_LABEL}
