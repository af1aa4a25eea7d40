"""What the IAM roles of infra/pipeline.yaml allow, and which AWS calls the code and the state
machine make: the three readers behind tests/unit/test_iam_calls.py.

- ``template_grants``: the actions each role and managed policy allows (inline policies, the
  template's managed policies it attaches, and policies that name it), from the template as
  cfn-lint decodes it (``!Sub``, ``!Ref`` and ``!GetAtt`` included).
- ``code_calls``: the boto3 client calls and the awsglue calls reachable from an entry point
  (``file:function``), by reading the code with ``ast``: calls into the project's own modules are
  followed, receivers are resolved pragmatically (a name assigned from ``boto3.client(...)``, or
  a variable, attribute or parameter named like the service).
- ``task_resources`` and ``integration_actions``: the state machine's Task resources and the IAM
  actions AWS documents for each.

Mapping from a call to IAM actions is botocore's operation name with the service's signing name
as prefix, except for the few S3 operations listed in ``S3_OPERATION_ACTIONS``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import botocore.session
from botocore import xform_name

# S3 operations authorized by an action of another name: one table, the local IAM check's.
from flightpipe_localstack.iam_check import S3_OPERATION_ACTIONS

# Receivers named like a service are clients of it (``s3``, ``self.glue``, a parameter ``sfn``).
CLIENT_NAMES = {
    "s3": "s3",
    "glue": "glue",
    "sfn": "stepfunctions",
    "stepfunctions": "stepfunctions",
    "sns": "sns",
    "sqs": "sqs",
    "events": "events",
    "secretsmanager": "secretsmanager",
}

# Client methods that are not API calls themselves (the paginator's name is, see below).
NOT_API_CALLS = frozenset({"can_paginate", "close", "get_paginator"})

# boto3's S3 transfer methods (boto3 docs, "S3 / Client / upload_fileobj" and friends): an upload
# is PutObject or, above the multipart threshold, Create/UploadPart/CompleteMultipartUpload; a
# download is HeadObject then GetObject. AbortMultipartUpload only follows a failed multipart
# upload (its action is s3:AbortMultipartUpload; the bucket's lifecycle rule cleans up instead).
TRANSFER_OPERATIONS = {
    ("s3", "upload_fileobj"): ("PutObject",),
    ("s3", "upload_file"): ("PutObject",),
    ("s3", "download_fileobj"): ("HeadObject", "GetObject"),
    ("s3", "download_file"): ("HeadObject", "GetObject"),
}

# awsglue calls with which Glue itself calls AWS, with the job's role.
AWSGLUE_CALLS = frozenset(
    {
        "create_dynamic_frame.from_catalog",
        "create_dynamic_frame.from_options",
        "write_dynamic_frame.from_catalog",
        "write_dynamic_frame.from_options",
        "write_dynamic_frame.from_jdbc_conf",
    }
)
# GlueContext methods with which Glue calls AWS, whatever the context's variable is named.
AWSGLUE_CONTEXT_CALLS = frozenset({"extract_jdbc_conf"})

# Optimized Step Functions integrations, and what the role needs for each.
INTEGRATION_ACTIONS = {
    # "IAM policies for calling AWS Glue", Run a Job (.sync): Step Functions polls the run and
    # stops it when the execution stops.
    # https://docs.aws.amazon.com/step-functions/latest/dg/connect-glue.html
    "glue:startJobRun.sync": {
        "glue:StartJobRun",
        "glue:GetJobRun",
        "glue:GetJobRuns",
        "glue:BatchStopJobRun",
    },
    "glue:startJobRun": {"glue:StartJobRun"},
    # "IAM policies for calling Amazon SNS"
    # https://docs.aws.amazon.com/step-functions/latest/dg/connect-sns.html
    "sns:publish": {"sns:Publish"},
    # "IAM policies for calling AWS Lambda" (Invoke, request response)
    # https://docs.aws.amazon.com/step-functions/latest/dg/connect-lambda.html
    "lambda:invoke": {"lambda:InvokeFunction"},
}

# AWS SDK integrations (arn:aws:states:::aws-sdk:<service>:<apiAction>) need the service's IAM
# action for the API (https://docs.aws.amazon.com/step-functions/latest/dg/supported-services-awssdk.html).
# The SDK service names that differ from botocore's:
SDK_SERVICE_NAMES = {"sfn": "stepfunctions"}

_TASK_RESOURCE = re.compile(r"^arn:[^:]+:states:::(?P<integration>.+)$")
_SDK_INTEGRATION = re.compile(r"^aws-sdk:(?P<service>[a-z0-9]+):(?P<api>[A-Za-z0-9]+)$")


# --- the template ---------------------------------------------------------------------------


@dataclass
class Grants:
    """What one role or managed policy allows: its actions, and the managed policies it attaches
    (template logical ids; anything else, e.g. an AWS managed policy ARN, in ``external``)."""

    actions: set[str] = field(default_factory=set)
    managed_policies: set[str] = field(default_factory=set)
    external: list[str] = field(default_factory=list)


def _statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    statements = document["Statement"]
    return [statements] if isinstance(statements, dict) else list(statements)


def _allowed_actions(document: dict[str, Any], where: str) -> set[str]:
    actions: set[str] = set()
    for statement in _statements(document):
        if "NotAction" in statement:
            raise ValueError(f"{where}: NotAction cannot be justified call by call")
        if statement.get("Effect") != "Allow":
            continue
        listed = statement["Action"]
        for action in [listed] if isinstance(listed, str) else listed:
            if not isinstance(action, str):
                raise ValueError(f"{where}: action {action!r} is not text")
            actions.add(str(action))
    return actions


def logical_id(value: Any) -> str | None:
    """The logical id behind ``!Ref X`` or ``!GetAtt X.Arn``."""
    if isinstance(value, dict) and "Ref" in value:
        return str(value["Ref"])
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        target = value["Fn::GetAtt"]
        return str(target[0] if isinstance(target, list) else target.split(".")[0])
    return None


def template_grants(template: dict[str, Any]) -> dict[str, Grants]:
    """Per role and per managed policy (logical id), what it allows."""
    resources = template["Resources"]
    grants = {
        name: Grants()
        for name, resource in resources.items()
        if resource.get("Type") in ("AWS::IAM::Role", "AWS::IAM::ManagedPolicy")
    }
    for name, resource in resources.items():
        kind, props = resource.get("Type"), resource.get("Properties", {})
        if kind == "AWS::IAM::Role":
            for policy in props.get("Policies", []):
                where = f"{name}/{policy['PolicyName']}"
                grants[name].actions |= _allowed_actions(policy["PolicyDocument"], where)
            for arn in props.get("ManagedPolicyArns", []):
                target = logical_id(arn)
                if target and resources.get(target, {}).get("Type") == "AWS::IAM::ManagedPolicy":
                    grants[name].managed_policies.add(target)
                else:
                    grants[name].external.append(str(arn))
        elif kind == "AWS::IAM::ManagedPolicy":
            grants[name].actions |= _allowed_actions(props["PolicyDocument"], name)
            for role in props.get("Roles", []):
                grants[str(logical_id(role))].managed_policies.add(name)
        elif kind in ("AWS::IAM::Policy", "AWS::IAM::RolePolicy"):
            roles = props.get("Roles", []) or [props.get("RoleName")]
            for role in roles:
                target = str(logical_id(role))
                grants[target].actions |= _allowed_actions(props["PolicyDocument"], name)
    return grants


def effective_actions(grants: dict[str, Grants], name: str) -> set[str]:
    """What a role can do: its own actions and those of the managed policies it attaches."""
    own = grants[name]
    return own.actions.union(*(grants[p].actions for p in own.managed_policies))


# --- botocore: calls to IAM actions ---------------------------------------------------------


_session = botocore.session.get_session()


def _service_model(service: str) -> Any:
    return _session.get_service_model(service)


def operation_for(service: str, method: str) -> str:
    """The botocore operation behind ``client.<method>``; KeyError if the client has none."""
    by_method = {xform_name(op): op for op in _service_model(service).operation_names}
    return by_method[method]


def call_actions(service: str, method: str, paginator: str | None = None) -> set[str]:
    """The IAM actions a client call needs (``paginator``: the name given to get_paginator)."""
    if paginator is not None:
        operations: tuple[str, ...] = (operation_for(service, paginator),)
    elif (service, method) in TRANSFER_OPERATIONS:
        operations = TRANSFER_OPERATIONS[(service, method)]
    else:
        operations = (operation_for(service, method),)
    return {operation_action(service, op) for op in operations}


def operation_action(service: str, operation: str) -> str:
    """The IAM action authorizing one operation: ``<signing name>:<operation>``, S3's exceptions
    aside."""
    prefix = _service_model(service).signing_name
    if service == "s3":
        operation = S3_OPERATION_ACTIONS.get(operation, operation)
    return f"{prefix}:{operation}"


# --- the code -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CodeCall:
    """One AWS call written in the code: ``call`` as iam-calls.yaml spells it, ``where`` as
    ``file:function`` (``file:Class.method`` inside a class)."""

    kind: str  # "call" (boto3) or "glue" (awsglue)
    call: str
    where: str
    service: str | None = None
    method: str | None = None
    paginator: str | None = None


@dataclass
class _Module:
    path: Path
    tree: ast.Module
    defs: dict[str, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef]
    modules: dict[str, str]  # local alias -> dotted module (import x / import x as y)
    names: dict[str, tuple[str, str]]  # local name -> (dotted module, name) (from x import y)


def _load(path: Path) -> _Module:
    tree = ast.parse(path.read_text(), filename=str(path))
    defs = {
        node.name: node
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    }
    modules: dict[str, str] = {}
    names: dict[str, tuple[str, str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                modules[alias.asname or alias.name.split(".")[0]] = (
                    alias.name if alias.asname else alias.name.split(".")[0]
                )
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                names[alias.asname or alias.name] = (node.module, alias.name)
    return _Module(path, tree, defs, modules, names)


def _module_path(root: Path, dotted: str) -> Path | None:
    """The project file of a module imported by code run from ``root``, or None (a library)."""
    base = root.joinpath(*dotted.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _boto3_client_service(node: ast.AST) -> str | None:
    """``x`` for ``boto3.client("x")`` (or ``service_name="x"``)."""
    if not (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "client"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "boto3"
    ):
        return None
    args = [*node.args, *(k.value for k in node.keywords if k.arg == "service_name")]
    if args and isinstance(args[0], ast.Constant) and isinstance(args[0].value, str):
        return args[0].value
    return None


def _client_variables(function: ast.AST) -> dict[str, str]:
    """Names assigned a boto3 client in ``function`` (``s3, glue = boto3.client(...), ...`` and
    ``sfn = sfn or boto3.client(...)`` included)."""
    found: dict[str, str] = {}
    for node in ast.walk(function):
        if not isinstance(node, ast.Assign):
            continue
        for target in node.targets:
            pairs: list[tuple[ast.AST, ast.AST]] = [(target, node.value)]
            if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                pairs = list(zip(target.elts, node.value.elts, strict=False))
            for name, value in pairs:
                service = _service_of(value, {})
                if isinstance(name, ast.Name) and service:
                    found[name.id] = service
    return found


def _service_of(node: ast.AST, variables: dict[str, str]) -> str | None:
    """The service whose client ``node`` is, if it looks like one."""
    direct = _boto3_client_service(node)
    if direct:
        return direct
    if isinstance(node, ast.Name):
        return variables.get(node.id) or CLIENT_NAMES.get(node.id)
    if isinstance(node, ast.Attribute):
        return CLIENT_NAMES.get(node.attr)
    if isinstance(node, ast.BoolOp):
        return next((s for v in node.values if (s := _service_of(v, variables))), None)
    return None


def _calls_in(function: ast.AST, where: str) -> Iterator[CodeCall]:
    variables = _client_variables(function)
    for node in ast.walk(function):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        method, receiver = node.func.attr, node.func.value
        if isinstance(receiver, ast.Attribute) and f"{receiver.attr}.{method}" in AWSGLUE_CALLS:
            yield CodeCall("glue", f"{receiver.attr}.{method}", where)
            continue
        if method in AWSGLUE_CONTEXT_CALLS:
            yield CodeCall("glue", method, where)
            continue
        service = _service_of(receiver, variables)
        if service is None:
            continue
        if method == "get_paginator":
            first = node.args[0] if node.args else None
            name = str(first.value) if isinstance(first, ast.Constant) else "?"
            yield CodeCall(
                "call", f'{service}.get_paginator("{name}")', where, service, method, name
            )
        elif method not in NOT_API_CALLS:
            yield CodeCall("call", f"{service}.{method}", where, service, method)


def _followed(function: ast.AST, module: _Module, root: Path) -> Iterator[tuple[Path, str]]:
    """The project functions and classes ``function`` calls."""
    for node in ast.walk(function):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id in module.defs:
            yield module.path, func.id
        elif isinstance(func, ast.Name) and func.id in module.names:
            dotted, name = module.names[func.id]
            path = _module_path(root, dotted)
            if path is not None:
                yield path, name
        elif (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and func.value.id in module.modules
        ):
            path = _module_path(root, module.modules[func.value.id])
            if path is not None:
                yield path, func.attr
        elif (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and func.value.id in module.names
        ):  # a module of a package (from package import module)
            path = _module_path(root, ".".join(module.names[func.value.id]))
            if path is not None:
                yield path, func.attr


def code_calls(repo: Path, entry: str) -> set[CodeCall]:
    """The AWS calls reachable from ``entry`` (``path/to/file.py:function``, from ``repo``).

    Imports resolve from the entry file's directory, as Lambda and Glue put it on the path.
    """
    file, function = entry.split(":")
    root = (repo / file).parent
    modules: dict[Path, _Module] = {}
    found: set[CodeCall] = set()
    todo, seen = [(repo / file, function)], set()
    while todo:
        path, name = todo.pop()
        if (path, name) in seen:
            continue
        seen.add((path, name))
        module = modules.setdefault(path, _load(path))
        node = module.defs.get(name)
        if node is None:
            if (path, name) == (repo / file, function):
                raise LookupError(f"{entry}: no such function")
            continue  # a name the module imports from a library, or a module attribute
        members = [node] if not isinstance(node, ast.ClassDef) else node.body
        relative = path.relative_to(repo).as_posix()
        for member in members:
            if isinstance(member, ast.ClassDef):
                continue
            if not isinstance(member, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            label = name if member is node else f"{name}.{member.name}"
            found.update(_calls_in(member, f"{relative}:{label}"))
            todo.extend(_followed(member, module, root))
    return found


# --- the state machine ----------------------------------------------------------------------


def task_resources(definition: dict[str, Any]) -> dict[str, str]:
    """Task state name -> Resource, through Parallel branches and Map processors."""
    found: dict[str, str] = {}
    for name, state in definition["States"].items():
        if state["Type"] == "Task":
            found[name] = state["Resource"]
        for branch in state.get("Branches", []):
            found.update(task_resources(branch))
        for key in ("ItemProcessor", "Iterator"):
            if key in state:
                found.update(task_resources(state[key]))
    return found


def integration_actions(resource: str) -> set[str]:
    """The IAM actions the state machine's role needs for a Task ``resource``; KeyError for an
    integration not in the tables above."""
    match = _TASK_RESOURCE.match(resource)
    if match is None:
        raise KeyError(f"{resource}: not a Step Functions service integration")
    integration = match["integration"]
    sdk = _SDK_INTEGRATION.match(integration)
    if sdk is None:
        return set(INTEGRATION_ACTIONS[integration])
    service = SDK_SERVICE_NAMES.get(sdk["service"], sdk["service"])
    operation = sdk["api"][0].upper() + sdk["api"][1:]
    if operation not in _service_model(service).operation_names:
        raise KeyError(f"{resource}: {service} has no operation {operation}")
    return {operation_action(service, operation)}
