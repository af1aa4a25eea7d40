"""The local stack's IAM check: a call made with a role's session is refused as AWS would refuse it.

LocalStack community enforces no IAM, so a permission missing from infra/pipeline.yaml shows
only on AWS. Here, every request signed with the credentials of a role session (LocalStack's
Lambda assumes each function's role, its Step Functions the state machine's role, the project's
Glue service the crawler's role for a crawl and the job's role for a job run, through STS, whose
sessions moto records by access key) is evaluated against that role's policies as LocalStack's
IAM holds them (inline, and attached managed ones): the request's IAM action (the
operation name with the service's prefix, S3's exceptions aside), its resource ARNs and condition
keys go to ``@cloud-copilot/iam-simulate`` (npm, pinned in tools/iam), an evaluator of identity
policies with AWS's condition operators that also checks the resource ARN against the action's
resource types. Anything but "Allowed" for any resource is refused with AWS's error and message
("User: <principal> is not authorized to perform: <action> on resource: <arn> ..."), and written
as one JSON line to ``FLIGHTPIPE_IAM_DENIALS`` (the local stack's ``logs/iam-denied.jsonl``),
which ``make local-e2e`` reports.

A request whose resource this module cannot name is refused too, saying so: the check is never
weaker than AWS by omission. Requests with other credentials (the person's, the Glue service's
own) are not checked.

Enabled when ``FLIGHTPIPE_IAM_EVALUATOR`` names ``tools/iam/evaluate.mjs`` (the launcher sets it).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger("flightpipe.localstack.iam")
EVALUATOR_VARIABLE = "FLIGHTPIPE_IAM_EVALUATOR"
DENIALS_VARIABLE = "FLIGHTPIPE_IAM_DENIALS"

# S3 operations authorized by an action of another name (Service Authorization Reference,
# "Actions, resources, and condition keys for Amazon S3"): ListBucket grants ListObjects(V2),
# HeadBucket needs ListBucket, HeadObject needs GetObject, multipart uploads need PutObject.
S3_OPERATION_ACTIONS = {
    "ListObjectsV2": "ListBucket",
    "ListObjects": "ListBucket",
    "HeadBucket": "ListBucket",
    "HeadObject": "GetObject",
    "CreateMultipartUpload": "PutObject",
    "UploadPart": "PutObject",
    "CompleteMultipartUpload": "PutObject",
}
# Operations AWS authorizes without any permission (STS API reference, GetCallerIdentity: "No
# permissions are required to perform this operation").
UNCHECKED = {("sts", "GetCallerIdentity")}
# Lambda's Invoke is authorized by lambda:InvokeFunction (Service Authorization Reference,
# "Actions, resources, and condition keys for AWS Lambda").
LAMBDA_OPERATION_ACTIONS = {"Invoke": "InvokeFunction"}
# Each service's error for a refused call, as AWS answers it.
DENIED_ERRORS = {
    "s3": ("AccessDenied", 403),
    "sns": ("AuthorizationError", 403),
    "sqs": ("AccessDenied", 403),
}
DEFAULT_DENIED_ERROR = ("AccessDeniedException", 400)


# Characters the evaluator's wildcards do not match (it matches with JavaScript regular
# expressions, whose "." stops at line terminators), though AWS's "*" matches any character: an
# S3 key may hold them. Each is given to the evaluator as U+0001, which "*" and "?" match and
# no policy names.
_LINE_TERMINATORS = str.maketrans(dict.fromkeys("\n\r\u2028\u2029", "\u0001"))


def as_evaluated(text: str) -> str:
    """``text`` as the evaluator is given it (see ``_LINE_TERMINATORS``)."""
    return text.translate(_LINE_TERMINATORS)


class UnnamedResource(Exception):
    """The check cannot name the resource of a request."""


def operation_action(signing_name: str, service: str, operation: str) -> str:
    """The IAM action authorizing one operation: ``<signing name>:<operation>``, S3's and
    Lambda's exceptions aside."""
    if service == "s3":
        operation = S3_OPERATION_ACTIONS.get(operation, operation)
    elif service == "lambda":
        operation = LAMBDA_OPERATION_ACTIONS.get(operation, operation)
    return f"{signing_name}:{operation}"


def request_resources(
    service: str, operation: str, params: Mapping[str, Any], region: str, account: str
) -> tuple[list[str], dict[str, str]]:
    """The ARNs a request acts on and its condition keys."""
    rule = RESOURCE_RULES.get(service)
    if rule is None:
        raise UnnamedResource(f"no resource rule for the service {service}")
    return rule(operation, params, region, account)


def request_checks(
    signing_name: str,
    service: str,
    operation: str,
    params: Mapping[str, Any],
    region: str,
    account: str,
) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """Each (action, resource ARN) a request needs allowed, and its condition keys. One action
    for all the request's resources, but for S3's copies and multi-object deletes (Amazon S3 API
    reference: CopyObject and UploadPartCopy need ``s3:GetObject`` on the source and
    ``s3:PutObject`` on the target; DeleteObjects needs ``s3:DeleteObject`` on each key)."""
    if service == "s3" and operation == "DeleteObjects":
        bucket = params.get("Bucket")
        keys = [item.get("Key") for item in (params.get("Delete") or {}).get("Objects") or []]
        if not bucket or not keys or None in keys:
            raise UnnamedResource("s3.DeleteObjects names no bucket or no keys")
        action = f"{signing_name}:DeleteObject"
        return [(action, f"arn:aws:s3:::{bucket}/{key}") for key in keys], {}
    action = operation_action(signing_name, service, operation)
    resources, context = request_resources(service, operation, params, region, account)
    checks = [(action, resource) for resource in resources]
    if service == "s3" and operation in ("CopyObject", "UploadPartCopy"):
        checks = [(f"{signing_name}:PutObject", resource) for resource in resources]
        checks.append((f"{signing_name}:GetObject", _copy_source(params.get("CopySource"))))
    return checks, context


def _copy_source(source: Any) -> str:
    """The object ARN of a copy's ``CopySource`` (``bucket/key``, URL-encoded, perhaps with a
    leading ``/`` and a ``?versionId=``)."""
    from urllib.parse import unquote

    text = unquote(str(source or "").split("?versionId=", 1)[0]).lstrip("/")
    bucket, _, key = text.partition("/")
    if not bucket or not key:
        raise UnnamedResource(f"the copy source {source!r} names no bucket and key")
    return f"arn:aws:s3:::{bucket}/{key}"


def _s3(operation: str, params: Mapping[str, Any], _r: str, _a: str) -> tuple[list[str], dict]:
    bucket = params.get("Bucket")
    if not bucket:
        raise UnnamedResource(f"s3.{operation} names no bucket")
    context = {}
    if operation in ("ListObjects", "ListObjectsV2"):
        context["s3:prefix"] = params.get("Prefix") or ""
    if params.get("Key") is not None:
        return [f"arn:aws:s3:::{bucket}/{params['Key']}"], context
    return [f"arn:aws:s3:::{bucket}"], context


def _states(operation: str, params: Mapping[str, Any], _r: str, _a: str) -> tuple[list[str], dict]:
    for name in ("executionArn", "stateMachineArn"):
        if params.get(name):
            return [str(params[name])], {}
    raise UnnamedResource(f"states.{operation} names no state machine or execution")


def _sns(operation: str, params: Mapping[str, Any], _r: str, _a: str) -> tuple[list[str], dict]:
    if params.get("TopicArn"):
        return [str(params["TopicArn"])], {}
    raise UnnamedResource(f"sns.{operation} names no topic")


def _sqs(operation: str, params: Mapping[str, Any], region: str, _a: str) -> tuple[list[str], dict]:
    url = params.get("QueueUrl")
    if not url:
        raise UnnamedResource(f"sqs.{operation} names no queue")
    account, name = urlsplit(str(url)).path.strip("/").split("/")[-2:]
    return [f"arn:aws:sqs:{region}:{account}:{name}"], {}


# Glue's resource ARNs ("Specifying AWS Glue resource ARNs"): a catalog call acts on the catalog,
# the database and the table at once.
def _glue(operation: str, params: Mapping[str, Any], region: str, account: str):
    base = f"arn:aws:glue:{region}:{account}"
    if params.get("JobName"):
        return [f"{base}:job/{params['JobName']}"], {}
    if operation in ("GetCrawler", "StartCrawler", "StopCrawler", "GetCrawlerMetrics"):
        return [f"{base}:crawler/{params.get('Name') or ''}"], {}
    database = params.get("DatabaseName")
    if database:
        found = [f"{base}:catalog", f"{base}:database/{database}"]
        table = (
            params.get("TableName")
            or (params.get("TableInput") or {}).get("Name")
            or (params.get("Name") if operation in ("GetTable", "DeleteTable") else None)
            or ("*" if operation == "GetTables" else None)
        )
        if table:
            found.append(f"{base}:table/{database}/{table}")
        return found, {}
    if operation == "GetDatabase" and params.get("Name"):
        return [f"{base}:catalog", f"{base}:database/{params['Name']}"], {}
    if operation == "GetConnection" and params.get("Name"):
        return [f"{base}:catalog", f"{base}:connection/{params['Name']}"], {}
    raise UnnamedResource(f"glue.{operation} names no job, crawler, database or connection")


def _logs(operation: str, params: Mapping[str, Any], region: str, account: str):
    group = params.get("logGroupName")
    if not group:
        raise UnnamedResource(f"logs.{operation} names no log group")
    arn = f"arn:aws:logs:{region}:{account}:log-group:{group}"
    if params.get("logStreamName"):
        return [f"{arn}:log-stream:{params['logStreamName']}"], {}
    return [arn], {}


def _lambda(operation: str, params: Mapping[str, Any], region: str, account: str):
    """A function's ARN from its name, ARN or partial ARN, with the qualifier the call names
    (Lambda: a policy on the unqualified ARN does not cover a version or alias)."""
    given = str(params.get("FunctionName") or "")
    if not given:
        raise UnnamedResource(f"lambda.{operation} names no function")
    parts = given.split(":")
    if given.startswith("arn:"):
        region, account, name, qualifier = parts[3], parts[4], parts[6], parts[7:]
    elif len(parts) >= 3 and parts[1] == "function":  # 123456789012:function:name[:qualifier]
        account, name, qualifier = parts[0], parts[2], parts[3:]
    else:  # name[:qualifier]
        name, qualifier = parts[0], parts[1:]
    if params.get("Qualifier"):
        qualifier = [str(params["Qualifier"])]
    arn = f"arn:aws:lambda:{region}:{account}:function:{name}"
    return [":".join([arn, *qualifier[:1]])], {}


def _secretsmanager(operation: str, params: Mapping[str, Any], region: str, account: str):
    """A secret's ARN: as given, or the ARN of the secret of that name (its random suffix
    included, as AWS evaluates it)."""
    secret = params.get("SecretId")
    if not secret:
        raise UnnamedResource(f"secretsmanager.{operation} names no secret")
    if str(secret).startswith("arn:"):
        return [str(secret)], {}
    try:
        from moto.secretsmanager.models import secretsmanager_backends

        return [secretsmanager_backends[account][region].secrets[secret].arn], {}
    except Exception:  # no such secret: AWS evaluates the name's ARN, which no policy names
        return [f"arn:aws:secretsmanager:{region}:{account}:secret:{secret}"], {}


RESOURCE_RULES: dict[str, Callable[..., tuple[list[str], dict[str, str]]]] = {
    "s3": _s3,
    "stepfunctions": _states,
    "sns": _sns,
    "sqs": _sqs,
    "glue": _glue,
    "logs": _logs,
    "secretsmanager": _secretsmanager,
    "lambda": _lambda,
}


class Evaluator:
    """``tools/iam/evaluate.mjs``, one long-lived Node process; answers are kept."""

    def __init__(self, script: str):
        self._script = script
        self._process: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()
        self._answers: dict[str, tuple[str | None, Any]] = {}
        self._next = 0

    def decide(
        self,
        principal: str,
        action: str,
        resource: str,
        account: str,
        context: Mapping[str, str],
        policies: list[dict[str, Any]],
    ) -> tuple[str | None, Any]:
        asked = {
            "principal": principal,
            "action": action,
            "resource": resource,
            "account": account,
            "context": dict(context),
            "policies": policies,
        }
        key = json.dumps({**asked, "principal": principal.rsplit("/", 1)[0]}, sort_keys=True)
        with self._lock:
            if key in self._answers:
                return self._answers[key]
            if self._process is None or self._process.poll() is not None:
                self._process = subprocess.Popen(
                    ["node", self._script],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                    bufsize=1,
                )
            assert self._process.stdin is not None and self._process.stdout is not None
            self._next += 1
            self._process.stdin.write(json.dumps({"id": self._next, **asked}) + "\n")
            self._process.stdin.flush()
            answer = json.loads(self._process.stdout.readline() or "{}")
            found = (answer.get("result"), answer.get("errors"))
            self._answers[key] = found
            return found


def role_policies(role: Any) -> list[dict[str, Any]]:
    """A moto IAM role's identity policies: inline, then attached managed ones."""
    found = []
    for name, document in role.policies.items():
        found.append({"name": name, "policy": _document(document)})
    for arn, policy in role.managed_policies.items():
        found.append({"name": arn, "policy": _document(policy.document)})
    return found


def _document(document: Any) -> dict[str, Any]:
    if isinstance(document, str):
        from urllib.parse import unquote

        text = document if document.lstrip().startswith("{") else unquote(document)
        return dict(json.loads(text))
    return dict(document)


def install() -> bool:
    script = os.environ.get(EVALUATOR_VARIABLE, "")
    if not script:
        return False
    modules = Path(script).parent / "node_modules" / "@cloud-copilot" / "iam-simulate"
    if shutil.which("node") is None or not modules.is_dir():
        raise RuntimeError(
            f"the IAM check needs node and {modules} ({EVALUATOR_VARIABLE}={script}): "
            "run `make install`"
        )
    from localstack.aws.api import CommonServiceException
    from localstack.aws.handlers import serve_custom_service_request_handlers
    from localstack.utils.aws.request_context import extract_access_key_id_from_auth_header
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends

    evaluator = Evaluator(script)
    denials = os.environ.get(DENIALS_VARIABLE, "")

    def check(_chain: Any, context: Any, _response: Any) -> None:
        if context.service is None or context.operation is None:
            return
        if (context.service.service_name, context.operation.name) in UNCHECKED:
            return
        key = extract_access_key_id_from_auth_header(context.request.headers)
        if not key or not context.account_id:
            return
        account, partition = context.account_id, context.partition or "aws"
        assumed = sts_backends[account][partition].get_assumed_role_from_access_key(key)
        if assumed is None:
            return
        role_name = assumed.role_arn.rsplit("/", 1)[-1]
        try:
            role = iam_backends[account][partition].get_role(role_name)
        except Exception:  # a role IAM does not hold (a test's made-up ARN): nothing to check
            return
        service = context.service.service_name
        operation = context.operation.name
        signing_name = context.service.signing_name
        principal = f"arn:aws:sts::{account}:assumed-role/{role_name}/{assumed.session_name}"
        params = context.service_request or {}
        try:
            checks, keys = request_checks(
                signing_name, service, operation, params, context.region, account
            )
        except UnnamedResource as reason:
            action = operation_action(signing_name, service, operation)
            _deny(service, principal, action, f"(unnamed: {reason})", "", denials)
            return
        policies = role_policies(role)
        keys = {name: as_evaluated(value) for name, value in keys.items()}
        for action, resource in checks:
            result, errors = evaluator.decide(
                principal, action, as_evaluated(resource), account, keys, policies
            )
            if result != "Allowed":
                why = f"the evaluator refused the request: {errors}" if errors else ""
                _deny(service, principal, action, resource, why, denials)

    def _deny(
        service: str, principal: str, action: str, resource: str, why: str, path: str
    ) -> None:
        message = (
            f"User: {principal} is not authorized to perform: {action} on resource: {resource} "
            f"because no identity-based policy allows the {action} action"
        )
        if why:
            message += f" ({why})"
        log.warning("IAM check: %s", message)
        if path:
            record = {"principal": principal, "action": action, "resource": resource, "why": why}
            with open(path, "a", encoding="utf-8") as out:
                out.write(json.dumps(record) + "\n")
        code, status = DENIED_ERRORS.get(service, DEFAULT_DENIED_ERROR)
        raise CommonServiceException(code, message, status_code=status)

    serve_custom_service_request_handlers.append(check)
    return True
