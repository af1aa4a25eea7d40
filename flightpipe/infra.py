"""infra/pipeline.yaml evaluated as CloudFormation would, so the local stack deploys the same file.

The deployed resources are described once, in ``infra/pipeline.yaml``; the local stack has no
CloudFormation, so it provisions itself through the service APIs from this module's rendering
of that file (``flightpipe.stack.provision``). This is a CloudFormation evaluator limited to
what the template uses: ``Ref`` (parameters, the pseudo parameters ``AWS::Region``,
``AWS::AccountId``, ``AWS::Partition`` and ``AWS::StackName``, resources), ``Fn::Sub``,
``Fn::GetAtt``, ``Fn::If`` over ``Conditions`` built from ``Fn::Equals``, ``Fn::Join`` and
``Fn::ToJsonString``. Any other intrinsic, pseudo parameter or attribute is refused with its
place in the template, never passed through as data. Rendering is lazy: a parameter needs a
value only when something rendered refers to it, so the handlers' environment renders without
the warehouse's credentials.

A resource's ``Ref`` and attributes are what CloudFormation returns for its type; a resource the
template leaves unnamed gets the name given in ``names``, or CloudFormation's generated name
without its random suffix (``<stack name>-<logical id>``, lower case for buckets).

Why not moto's own CloudFormation (moto 5.2.5, tried on this template with the transforms
removed, since it runs neither the Chalice merge nor ``AWS::Serverless-2016-10-31`` nor
``AWS::LanguageExtensions``): ``CreateStack`` answers CREATE_COMPLETE while it silently skips
(a warning only) every ``AWS::Glue::*`` resource, the Secrets Manager secret, the SNS
subscription, the queue and bucket policies, the trail and the alarm; it creates the bucket
without its versioning, EventBridge notifications and lifecycle rules, and the state machine
with an empty definition (``DefinitionS3Location`` and ``DefinitionSubstitutions`` ignored).
With the transforms left in, it also drops both functions and their rules without a word.
What it would create correctly (a topic, a queue, the state machine's name) is the easy part;
the rest would still need the code below, and a deploy that reports success for a stack it did
not build is worse than none.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flightpipe.config import REPO

TEMPLATE = REPO / "infra" / "pipeline.yaml"
PSEUDO_PARAMETERS = ("AWS::Region", "AWS::AccountId", "AWS::Partition", "AWS::StackName")
INTRINSICS = ("Ref", "Fn::Sub", "Fn::GetAtt", "Fn::If", "Fn::Join", "Fn::ToJsonString")

# The property holding each type's physical name, where the template may set it.
_NAME_PROPERTY: dict[str, tuple[str, ...]] = {
    "AWS::S3::Bucket": ("BucketName",),
    "AWS::SNS::Topic": ("TopicName",),
    "AWS::SQS::Queue": ("QueueName",),
    "AWS::SecretsManager::Secret": ("Name",),
    "AWS::Glue::Database": ("DatabaseInput", "Name"),
    "AWS::Glue::Connection": ("ConnectionInput", "Name"),
    "AWS::Glue::Crawler": ("Name",),
    "AWS::Glue::Job": ("Name",),
    "AWS::StepFunctions::StateMachine": ("StateMachineName",),
    "AWS::Logs::LogGroup": ("LogGroupName",),
    "AWS::IAM::Role": ("RoleName",),
    "AWS::IAM::ManagedPolicy": ("ManagedPolicyName",),
    "AWS::Serverless::Function": ("FunctionName",),
    "AWS::Lambda::Function": ("FunctionName",),
    "AWS::Events::Rule": ("Name",),
    "AWS::CloudTrail::Trail": ("TrailName",),
    "AWS::CloudWatch::Alarm": ("AlarmName",),
}
_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


class TemplateError(ValueError):
    """The template uses something this evaluator does not know, or cannot be rendered."""


def load(path: Path = TEMPLATE) -> dict[str, Any]:
    """The template as plain data, decoded by cfn-lint's CloudFormation YAML reader (short-form
    tags such as ``!Sub`` become their ``Fn::`` mappings)."""
    from cfnlint.decode import cfn_yaml

    decoded = cfn_yaml.loads(path.read_text(encoding="utf-8"), str(path))
    plain: dict[str, Any] = json.loads(json.dumps(decoded))  # cfn-lint's nodes -> dict, str
    return plain


@dataclass(frozen=True)
class Physical:
    """What ``Ref`` and ``Fn::GetAtt`` answer for one resource."""

    ref: str
    attributes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Stack:
    """One template rendered for one set of parameter values, in one account and region.

    ``unchecked`` names parameters whose AllowedValues and AllowedPattern are not applied to the
    value given, with the reason (the local stack's stage and warehouse are not deployable ones).
    ``physical`` overrides a resource's ``Ref`` where only its creation tells it (a secret's ARN
    ends in a random suffix).
    """

    template: Mapping[str, Any]
    parameters: Mapping[str, str]
    stack_name: str
    region: str
    account_id: str
    partition: str = "aws"
    names: Mapping[str, str] = field(default_factory=dict)
    physical: Mapping[str, str] = field(default_factory=dict)
    unchecked: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = set(self.parameters) - set(self.template.get("Parameters", {}))
        if unknown:
            raise TemplateError(f"values for parameters the template does not have: {unknown}")

    # --- resources ------------------------------------------------------------------------

    def resources(self) -> dict[str, str]:
        """``{logical id: type}`` of the resources CloudFormation would create (their
        ``Condition`` holds)."""
        return {
            logical: str(resource.get("Type", ""))
            for logical, resource in self.template["Resources"].items()
            if "Condition" not in resource or self.condition(resource["Condition"])
        }

    def type(self, logical: str) -> str:
        return str(self._resource(logical).get("Type", ""))

    def properties(self, logical: str) -> dict[str, Any]:
        """The resource's Properties, every intrinsic evaluated."""
        return dict(self.property(logical) or {})

    def property(self, logical: str, *path: str) -> Any:
        """The value at ``path`` under the resource's Properties, evaluated; None if absent.
        Only what lies on the path is evaluated."""
        node: Any = self._resource(logical).get("Properties", {})
        where = f"Resources.{logical}.Properties"
        for key in path:
            node = self._shallow(node, where)
            if not isinstance(node, Mapping):
                raise TemplateError(f"{where}: not a mapping, no {key!r} under it")
            if key not in node:
                return None
            node, where = node[key], f"{where}.{key}"
        return self.render(node, where)

    def name(self, logical: str) -> str:
        """The resource's physical name: its name property, else ``names``, else generated."""
        resource = self._resource(logical)
        path = _NAME_PROPERTY.get(str(resource.get("Type")))
        if path is not None:
            given = self.property(logical, *path)
            if given is not None:
                return str(given)
        if logical in self.names:
            return self.names[logical]
        generated = f"{self.stack_name}-{logical}"
        return generated.lower() if resource.get("Type") == "AWS::S3::Bucket" else generated

    def ref(self, logical: str) -> str:
        return self._physical(logical).ref

    def get_att(self, logical: str, attribute: str) -> str:
        attributes = self._physical(logical).attributes
        if attribute not in attributes:
            raise TemplateError(
                f"Fn::GetAtt {logical}.{attribute}: {self.type(logical)} attributes known here: "
                f"{sorted(attributes)}"
            )
        return attributes[attribute]

    # --- evaluation -----------------------------------------------------------------------

    def condition(self, name: str) -> bool:
        conditions = self.template.get("Conditions", {})
        if name not in conditions:
            raise TemplateError(f"condition {name!r} is not in Conditions")
        return self._condition(conditions[name], f"Conditions.{name}")

    def render(self, node: Any, where: str = "template") -> Any:
        """``node`` with every intrinsic evaluated."""
        node = self._shallow(node, where)
        if isinstance(node, Mapping):
            return {key: self.render(value, f"{where}.{key}") for key, value in node.items()}
        if isinstance(node, list):
            return [self.render(value, f"{where}[{i}]") for i, value in enumerate(node)]
        return node

    def _shallow(self, node: Any, where: str) -> Any:
        """Evaluate ``node`` if it is an intrinsic (repeatedly), leaving its insides alone
        unless the intrinsic needs them."""
        while isinstance(node, Mapping) and len(node) == 1:
            ((key, argument),) = node.items()
            if key == "Ref":
                node = self._ref(argument, where)
            elif key == "Fn::Sub":
                node = self._sub(argument, where)
            elif key == "Fn::GetAtt":
                node = self._get_att(argument, where)
            elif key == "Fn::If":
                node = self._if(argument, where)
            elif key == "Fn::Join":
                node = self._join(argument, where)
            elif key == "Fn::ToJsonString":
                node = json.dumps(self.render(argument, where), separators=(",", ":"))
            elif key.startswith("Fn::"):
                raise TemplateError(
                    f"{where}: {key} is not supported by flightpipe.infra ({', '.join(INTRINSICS)})"
                )
            else:
                break
        return node

    def _ref(self, name: Any, where: str) -> Any:
        if not isinstance(name, str):
            raise TemplateError(f"{where}: Ref takes a name, not {name!r}")
        if name.startswith("AWS::"):
            return self._pseudo(name, where)
        if name in self.template.get("Parameters", {}):
            return self._parameter(name, where)
        if name in self.template["Resources"]:
            return self.ref(name)
        raise TemplateError(f"{where}: Ref {name}: no such parameter or resource")

    def _pseudo(self, name: str, where: str) -> str:
        values = {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::Partition": self.partition,
            "AWS::StackName": self.stack_name,
        }
        if name not in values:
            raise TemplateError(f"{where}: pseudo parameter {name} is not supported here")
        return values[name]

    def _parameter(self, name: str, where: str) -> Any:
        declared = self.template["Parameters"][name]
        if name in self.parameters:
            value = self.parameters[name]
        elif "Default" in declared:
            value = str(declared["Default"])
        else:
            raise TemplateError(f"{where}: parameter {name} has no value and no Default")
        if name not in self.unchecked and name in self.parameters:
            allowed = declared.get("AllowedValues")
            if allowed is not None and value not in [str(a) for a in allowed]:
                raise TemplateError(f"parameter {name}={value!r} is not one of {allowed}")
            pattern = declared.get("AllowedPattern")
            if pattern is not None and not re.fullmatch(pattern, value):
                raise TemplateError(f"parameter {name}={value!r} does not match {pattern!r}")
        if declared.get("Type") == "CommaDelimitedList":
            return value.split(",") if value else []
        return value

    def _sub(self, argument: Any, where: str) -> str:
        if isinstance(argument, str):
            text, variables = argument, {}
        elif isinstance(argument, list) and len(argument) == 2 and isinstance(argument[1], dict):
            text, variables = argument[0], argument[1]
        else:
            raise TemplateError(f"{where}: Fn::Sub takes a string or [string, {{variables}}]")

        def value(match: re.Match[str]) -> str:
            variable = match.group(1)
            if variable.startswith("!"):
                return "${" + variable[1:] + "}"  # ${!Literal} is written as ${Literal}
            if variable in variables:
                found = self.render(variables[variable], f"{where}.{variable}")
            elif "." in variable and not variable.startswith("AWS::"):
                found = self.get_att(*variable.split(".", 1))
            else:
                found = self._ref(variable, where)
            if not isinstance(found, str):
                raise TemplateError(f"{where}: ${{{variable}}} is not a string: {found!r}")
            return found

        return _SUB_VARIABLE.sub(value, str(text))

    def _get_att(self, argument: Any, where: str) -> str:
        if isinstance(argument, str):
            argument = argument.split(".", 1)
        if not (isinstance(argument, list) and len(argument) == 2):
            raise TemplateError(f"{where}: Fn::GetAtt takes [resource, attribute]")
        logical, attribute = argument
        if logical not in self.template["Resources"]:
            raise TemplateError(f"{where}: Fn::GetAtt {logical}: no such resource")
        return self.get_att(str(logical), str(self.render(attribute, where)))

    def _if(self, argument: Any, where: str) -> Any:
        if not (isinstance(argument, list) and len(argument) == 3):
            raise TemplateError(f"{where}: Fn::If takes [condition, if true, if false]")
        return argument[1] if self.condition(argument[0]) else argument[2]

    def _join(self, argument: Any, where: str) -> str:
        if not (isinstance(argument, list) and len(argument) == 2):
            raise TemplateError(f"{where}: Fn::Join takes [delimiter, [values]]")
        values = self.render(argument[1], where)
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise TemplateError(f"{where}: Fn::Join joins a list of strings, not {values!r}")
        return str(argument[0]).join(values)

    def _condition(self, node: Any, where: str) -> bool:
        if isinstance(node, Mapping) and set(node) == {"Fn::Equals"}:
            pair = node["Fn::Equals"]
            if not (isinstance(pair, list) and len(pair) == 2):
                raise TemplateError(f"{where}: Fn::Equals takes two values")
            return bool(self.render(pair[0], where) == self.render(pair[1], where))
        raise TemplateError(f"{where}: only Fn::Equals conditions are supported here: {node!r}")

    # --- physical ids ---------------------------------------------------------------------

    def _resource(self, logical: str) -> Mapping[str, Any]:
        resource = self.template["Resources"].get(logical)
        if resource is None:
            raise TemplateError(f"no resource {logical!r}")
        condition = resource.get("Condition")
        if condition is not None and not self.condition(condition):
            raise TemplateError(f"{logical} is not created: its condition {condition} is false")
        return dict(resource)

    def _physical(self, logical: str) -> Physical:
        kind = self.type(logical)
        name = self.name(logical)
        region, account, partition = self.region, self.account_id, self.partition

        def arn(service: str, resource: str, *, regional: bool = True) -> str:
            return f"arn:{partition}:{service}:{region if regional else ''}:{account}:{resource}"

        if kind == "AWS::S3::Bucket":
            return Physical(name, {"Arn": f"arn:{partition}:s3:::{name}"})
        if kind == "AWS::SNS::Topic":
            topic = arn("sns", name)
            return Physical(topic, {"TopicArn": topic, "TopicName": name})
        if kind == "AWS::SQS::Queue":
            url = f"https://sqs.{region}.amazonaws.com/{account}/{name}"
            return Physical(url, {"Arn": arn("sqs", name), "QueueName": name, "QueueUrl": url})
        if kind == "AWS::SecretsManager::Secret":
            secret = self.physical.get(logical) or arn("secretsmanager", f"secret:{name}")
            return Physical(secret, {"Id": secret})
        if kind in ("AWS::Glue::Database", "AWS::Glue::Connection", "AWS::Glue::Crawler"):
            return Physical(name)
        if kind in ("AWS::Glue::Job", "AWS::CloudWatch::Alarm"):
            return Physical(name)
        if kind == "AWS::StepFunctions::StateMachine":
            machine = arn("states", f"stateMachine:{name}")
            return Physical(machine, {"Arn": machine, "Name": name})
        if kind == "AWS::Logs::LogGroup":
            return Physical(name, {"Arn": arn("logs", f"log-group:{name}:*")})
        if kind == "AWS::IAM::Role":
            return Physical(name, {"Arn": arn("iam", f"role/{name}", regional=False)})
        if kind == "AWS::IAM::ManagedPolicy":
            policy = arn("iam", f"policy/{name}", regional=False)
            return Physical(policy, {"PolicyArn": policy})
        if kind in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
            return Physical(name, {"Arn": arn("lambda", f"function:{name}")})
        if kind == "AWS::Events::Rule":
            return Physical(name, {"Arn": arn("events", f"rule/{name}")})
        if kind == "AWS::CloudTrail::Trail":
            return Physical(name, {"Arn": arn("cloudtrail", f"trail/{name}")})
        raise TemplateError(f"Ref/Fn::GetAtt of {logical}: type {kind!r} is not known here")
