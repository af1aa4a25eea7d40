"""Package and deploy the pipeline's CloudFormation stack: ``make deploy``'s steps, in one place.

1. ``chalice package --stage <stage> --merge-template infra/pipeline.yaml``: the Chalice
   functions' SAM template merged with the rest of the pipeline (``dist/sam.yaml``) and the
   Lambda deployment package, the code AWS runs;
2. the Glue jobs' library modules uploaded under a prefix named by their content
   (``GlueLibraryPrefix``);
3. ``aws cloudformation package``: the deployment package, job scripts and state machine
   definition uploaded under content-addressed keys (a stack update never runs old scripts with
   new arguments);
4. the stack ``flightpipe-<stage>`` created or updated through a change set, and its outputs.

``deploy_local`` runs the same steps against LocalStack for the stage ``local`` (``flightpipe
local up``), with the local PostgreSQL as the warehouse: the template's own conditions leave
out what the local stage has no use for. The AWS CLI and Chalice are the project's pinned ones
(run as programs, exactly as a person would), pointed at LocalStack through
``AWS_ENDPOINT_URL``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import boto3
from botocore.exceptions import ClientError

from flightpipe.infra import job_archive
from flightpipe.paths import REPO
from flightpipe.settings import LOCAL_CREDENTIALS, LocalSettings

TEMPLATE = REPO / "infra" / "pipeline.yaml"
CHALICE_APP = REPO / "chalice_app"
LOCAL_STAGE = "local"
# Glue, Step Functions and the functions reach the data and the stack's name from these.
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"]
# Where the stage local's network parameters point: LocalStack creates no VPC resources for it
# (the template's IsLocal condition), but the Glue connection records them.
LOCAL_NETWORK = {
    "VpcId": "vpc-local",
    "GlueSubnetId": "subnet-local",
    "GlueSecurityGroupId": "sg-local",
    "GlueAvailabilityZone": "us-east-1a",
}
# The local crawler ends within a second of real time, where AWS's takes a minute or more: it is
# polled every 15 simulated seconds (0.375 s at the default clock scale) rather than the
# template's 30, for the same bound on the whole wait (80 polls, 20 minutes). Polling more often
# slows the crawl itself in a burst, the waiting executions' polls keeping LocalStack busy
# (docs/performance.md).
LOCAL_CRAWLER_POLLING = {"CrawlerPollSeconds": "15", "CrawlerMaxPolls": "80"}


class DeployError(RuntimeError):
    """Packaging or deploying failed; the message says which step and why."""


def stack_name(stage: str) -> str:
    return f"flightpipe-{stage}"


@dataclass(frozen=True)
class Deployment:
    """One deployment's settings: where it goes and the programs' environment."""

    stage: str
    artifact_bucket: str
    out_dir: Path
    env: Mapping[str, str]
    template: Path = TEMPLATE  # a test deploys a changed copy

    @property
    def prefix(self) -> str:
        return stack_name(self.stage)

    def run(self, command: Sequence[str], cwd: Path = REPO) -> str:
        done = subprocess.run(
            list(command), cwd=cwd, env=dict(self.env), capture_output=True, text=True
        )
        if done.returncode != 0:
            raise DeployError(
                f"{Path(command[0]).name} {command[1]} failed ({done.returncode}):\n"
                f"{(done.stderr or done.stdout).strip()}"
            )
        return done.stdout


def tool(name: str) -> str:
    """A program of the project's virtualenv (chalice, aws, cfn-lint)."""
    return str(Path(sys.executable).parent / name)


def package(deployment: Deployment) -> Path:
    """``chalice package --merge-template``: the merged template, ``<out>/sam.yaml``."""
    deployment.run(
        [
            tool("chalice"),
            "package",
            "--stage",
            deployment.stage,
            "--merge-template",
            str(deployment.template),
            str(deployment.out_dir),
        ],
        cwd=CHALICE_APP,
    )
    return deployment.out_dir / "sam.yaml"


def library_prefix(deployment: Deployment) -> str:
    """Where the jobs' archive goes (``GlueLibraryPrefix``): a prefix named by its content."""
    archive = job_archive.build(deployment.out_dir / job_archive.FOLDER)
    return f"s3://{deployment.artifact_bucket}/{deployment.prefix}/glue-lib/{job_archive.digest(archive)}/"


def upload_libraries(deployment: Deployment, s3: Any) -> str:
    """The jobs' archive under its content's prefix; returns it (``GlueLibraryPrefix``)."""
    prefix = library_prefix(deployment)
    key = urlsplit(prefix).path.lstrip("/") + job_archive.ARCHIVE
    archive = deployment.out_dir / job_archive.FOLDER / job_archive.ARCHIVE
    s3.upload_file(str(archive), deployment.artifact_bucket, key)
    return prefix


def cloudformation_package(deployment: Deployment, template: Path) -> Path:
    packaged = deployment.out_dir / "packaged.yaml"
    deployment.run(
        [
            tool("aws"),
            "cloudformation",
            "package",
            "--template-file",
            str(template),
            "--s3-bucket",
            deployment.artifact_bucket,
            "--s3-prefix",
            deployment.prefix,
            "--output-template-file",
            str(packaged),
        ]
    )
    return packaged


def apply_stack(
    cloudformation: Any,
    deployment: Deployment,
    packaged: Path,
    parameters: Mapping[str, str],
    poll_seconds: float = 0.25,
    timeout: float = 600.0,
) -> dict[str, str]:
    """Create or update the stack through a change set (as ``aws cloudformation deploy``
    does), wait for it, and return its outputs. A template with no change changes nothing."""
    name = stack_name(deployment.stage)
    exists = _stack_status(cloudformation, name) not in (None, "REVIEW_IN_PROGRESS")
    change_set = f"{name}-{int(time.time() * 1000)}"
    body = packaged.read_text(encoding="utf-8")
    cloudformation.create_change_set(
        StackName=name,
        ChangeSetName=change_set,
        ChangeSetType="UPDATE" if exists else "CREATE",
        TemplateBody=body,
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=CAPABILITIES,
    )
    described = _wait(
        lambda: cloudformation.describe_change_set(StackName=name, ChangeSetName=change_set),
        lambda d: d["Status"] not in ("CREATE_PENDING", "CREATE_IN_PROGRESS"),
        poll_seconds,
        timeout,
    )
    if described["Status"] == "FAILED":
        reason = described.get("StatusReason", "")
        if not described.get("Changes") and (
            "didn't contain changes" in reason or "No updates" in reason
        ):
            cloudformation.delete_change_set(StackName=name, ChangeSetName=change_set)
            return outputs(cloudformation, name)
        raise DeployError(f"change set {change_set} of {name} failed: {reason}")
    if exists and not described.get("Changes"):
        cloudformation.delete_change_set(StackName=name, ChangeSetName=change_set)
        return outputs(cloudformation, name)
    cloudformation.execute_change_set(StackName=name, ChangeSetName=change_set)
    final = _wait(
        lambda: cloudformation.describe_stacks(StackName=name)["Stacks"][0],
        lambda s: not s["StackStatus"].endswith("_IN_PROGRESS"),
        poll_seconds,
        timeout,
    )
    if final["StackStatus"] not in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
        raise DeployError(
            f"stack {name} ended {final['StackStatus']}: {_failures(cloudformation, name)}"
        )
    return outputs(cloudformation, name)


def outputs(cloudformation: Any, name: str) -> dict[str, str]:
    """The stack's outputs; DeployError naming any the stack gave no value (an attribute the
    deployment did not set)."""
    stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
    found = stack.get("Outputs", [])
    empty = sorted(o["OutputKey"] for o in found if "OutputValue" not in o)
    if empty:
        raise DeployError(f"stack {name}: output(s) without a value: {', '.join(empty)}")
    return {o["OutputKey"]: o["OutputValue"] for o in found}


def _stack_status(cloudformation: Any, name: str) -> str | None:
    try:
        return str(cloudformation.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"])
    except ClientError as error:
        if "does not exist" in str(error):
            return None
        raise


def _failures(cloudformation: Any, name: str) -> str:
    """The stack's failed resources with their reasons, the first failure first."""
    events = cloudformation.describe_stack_events(StackName=name)["StackEvents"]
    failed = [
        f"{e['LogicalResourceId']} ({e['ResourceType']}): {e.get('ResourceStatusReason', '')}"
        for e in reversed(events)
        if e["ResourceStatus"].endswith("_FAILED")
    ]
    return "; ".join(failed) or "no resource reported a failure"


def _wait(read: Any, done: Any, poll_seconds: float, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise DeployError(f"still in progress after {timeout:.0f}s: {value}")
        time.sleep(poll_seconds)


def local_parameters(
    warehouse_url: str, artifact_bucket: str, library: str, root_certificate: str = ""
) -> dict[str, str]:
    """The stage local's parameters: the local PostgreSQL (``warehouse_url``, as the job runs
    reach it) as the warehouse, its TLS certificate's CA at ``root_certificate`` (s3://)."""
    url = urlsplit(warehouse_url)
    database = url.path.lstrip("/")
    return {
        "Stage": LOCAL_STAGE,
        "AlertEmail": "nobody@localhost",  # the email subscription is left out locally
        "ArtifactBucket": artifact_bucket,
        "ArtifactPrefix": stack_name(LOCAL_STAGE),
        "GlueLibraryPrefix": library,
        "WarehouseJdbcUrl": f"jdbc:postgresql://{url.hostname}:{url.port or 5432}/{database}",
        "WarehouseDatabase": database,
        "WarehouseRootCertificate": root_certificate,
        "WarehouseUser": unquote(url.username or ""),
        "WarehousePassword": unquote(url.password or ""),
        **LOCAL_NETWORK,
        **LOCAL_CRAWLER_POLLING,
    }


# What a local deployment is made of: a change to any of these files deploys again; with none,
# `make local-up` while up leaves the stack as it is.
DEPLOYED_FILES = (
    "infra/pipeline.yaml",
    "stepfunctions/pipeline.asl.json",
    "chalice_app/app.py",
    "chalice_app/requirements.txt",
    "chalice_app/.chalice/config.json",
    "chalice_app/chalicelib/*.py",
    "glue_job/*.py",
    "glue_job/flightjob/*.py",
)


def inputs_digest(parameters: Mapping[str, str]) -> str:
    """A digest of the deployed files and the deployment's parameters."""
    digest = hashlib.sha256()
    for pattern in DEPLOYED_FILES:
        for path in sorted(REPO.glob(pattern)):
            digest.update(f"{path.relative_to(REPO)}\0".encode() + path.read_bytes() + b"\0")
    digest.update(json.dumps(dict(parameters), sort_keys=True).encode())
    return digest.hexdigest()


class LocalPackage:
    """``chalice package`` of the stage local, made in a folder of its own at the repository's
    root: the template's paths (``../glue_job/...``, ``../stepfunctions/...``) are relative to
    the packaged template, as to ``dist/``; ``make package``'s ``dist/`` and other stacks' are
    left alone. Made in the background (``start``), so that it overlaps the stack's start-up;
    removed by ``close``."""

    def __init__(self, env: Mapping[str, str], template: Path = TEMPLATE):
        self.out_dir = Path(tempfile.mkdtemp(prefix=".dist-local-", dir=REPO))
        self.deployment = Deployment(
            LOCAL_STAGE, f"{stack_name(LOCAL_STAGE)}-artifacts", self.out_dir, env, template
        )
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def start(self) -> LocalPackage:
        def make() -> None:
            try:
                package(self.deployment)
            except BaseException as error:  # reported by template()
                self._error = error

        self._thread = threading.Thread(target=make, name="chalice-package", daemon=True)
        self._thread.start()
        return self

    def template(self) -> Path:
        if self._thread is None:
            self.start()
        assert self._thread is not None
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self.out_dir / "sam.yaml"

    def close(self) -> None:
        if self._thread is not None:
            self._thread.join()
        shutil.rmtree(self.out_dir, ignore_errors=True)


def local_environment(settings: LocalSettings) -> dict[str, str]:
    """The programs' environment for a deployment to LocalStack."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        **LOCAL_CREDENTIALS,
        "AWS_DEFAULT_REGION": settings.region,
        "AWS_ENDPOINT_URL": settings.endpoint_url,
    }


ROOT_CERTIFICATE_KEY = f"{stack_name(LOCAL_STAGE)}/warehouse-root-ca.pem"


def upload_root_certificate(s3: Any, bucket: str, certificate: Path | None) -> str:
    """``certificate`` (else ``PGSSLROOTCERT``'s file) put in ``bucket``; its s3:// URI, or ""
    when there is none."""
    path = certificate or (
        Path(os.environ["PGSSLROOTCERT"]) if "PGSSLROOTCERT" in os.environ else None
    )
    if path is None:
        return ""
    s3.put_object(Bucket=bucket, Key=ROOT_CERTIFICATE_KEY, Body=path.read_bytes())
    return f"s3://{bucket}/{ROOT_CERTIFICATE_KEY}"


def deploy_local(
    session: boto3.session.Session,
    settings: LocalSettings,
    database_url: str,
    jobs_database_url: str | None = None,
    made: LocalPackage | None = None,
    root_certificate: Path | None = None,
    overrides: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Deploy the stage ``local`` to LocalStack at ``settings.endpoint_url``, apply the warehouse
    schema through ``database_url``, return the stack's outputs. The Glue connection gets
    ``jobs_database_url`` when the job runs reach the warehouse elsewhere (the compose network),
    else ``database_url``, and the CA that issued the warehouse's TLS certificate
    (``root_certificate``, else the file libpq's ``PGSSLROOTCERT`` names), uploaded beside the
    artifacts: the connection enforces SSL, as deployed. ``made``: the package, when it was
    started beforehand; ``overrides``: parameters besides the stage's own. Nothing is
    deployed when the stack stands and neither the deployed files nor the parameters changed
    since its last deployment. What was deployed is kept in the state folder
    (``dist/packaged.yaml``)."""
    from flightpipe.warehouse.connections import warehouse_from_url

    made = made or LocalPackage(local_environment(settings))
    try:
        deployment = made.deployment
        cloudformation = session.client("cloudformation", endpoint_url=settings.endpoint_url)
        library = library_prefix(deployment)
        s3 = session.client("s3", endpoint_url=settings.endpoint_url)
        try:
            s3.head_bucket(Bucket=deployment.artifact_bucket)
        except ClientError:
            s3.create_bucket(Bucket=deployment.artifact_bucket)
        parameters = local_parameters(
            jobs_database_url or database_url,
            deployment.artifact_bucket,
            library,
            upload_root_certificate(s3, deployment.artifact_bucket, root_certificate),
        ) | dict(overrides or {})
        kept = settings.state_dir / "dist"
        digest_file = kept / "inputs.sha256"
        digest = inputs_digest(parameters)
        standing = _stack_status(cloudformation, stack_name(LOCAL_STAGE)) in (
            "CREATE_COMPLETE",
            "UPDATE_COMPLETE",
        )
        if standing and digest_file.is_file() and digest_file.read_text() == digest:
            found = outputs(cloudformation, stack_name(LOCAL_STAGE))
        else:
            template = made.template()
            upload_libraries(deployment, s3)
            cloudformation_package(deployment, template)
            shutil.rmtree(kept, ignore_errors=True)
            shutil.copytree(made.out_dir, kept)
            digest_file.unlink(missing_ok=True)
            found = apply_stack(cloudformation, deployment, kept / "packaged.yaml", parameters)
            digest_file.write_text(digest)
    finally:
        made.close()
    warehouse_from_url(database_url).apply_schema()
    return found
