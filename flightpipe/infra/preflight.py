"""``flightpipe preflight`` (``make preflight STAGE=... ARTIFACT_BUCKET=... PARAMS_FILE=...``):
what can be checked by API before a deployment, each check with a verdict and, when it fails,
the fix.

A first ``make deploy`` that fails rolls the whole stack back after minutes; most causes are facts
of the account a few read-only calls establish first, with the parameters the deployment will
take (``flightpipe.infra.parameters``): the parameters, the artifact bucket, the network (subnet,
security group, each service's route from the subnet, endpoints: AWS allows one interface
endpoint with private DNS per service and VPC) and the warehouse credentials. The checks one by
one: docs/operations.md ("Checking before the first deployment"). Against the stage ``local``
they run on LocalStack, where the template leaves the network out.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import botocore.exceptions

from flightpipe.infra import template as infra
from flightpipe.infra.parameters import SET_BY_MAKE_DEPLOY

OK, FAIL = "ok", "FAIL"
# The services the jobs call from their subnet, with the switch that creates each one's endpoint.
ENDPOINT_SWITCHES = {
    "s3": "CreateS3GatewayEndpoint",
    "glue": "CreateGlueEndpoint",
    "secretsmanager": "CreateSecretsManagerEndpoint",
    "logs": "CreateLogsEndpoint",
    "sts": "CreateStsEndpoint",
}


@dataclass(frozen=True)
class Check:
    name: str
    verdict: str
    detail: str
    fix: str = ""

    def lines(self) -> list[str]:
        found = [f"{self.verdict:<5} {self.name:<24} {self.detail}"]
        if self.fix:
            found.append(f"{'':<30} fix: {self.fix}")
        return found


def run(
    values: Mapping[str, str], artifact_bucket: str, region: str, client: Callable[[str], Any]
) -> list[Check]:
    """Every check, in the order a person would fix them; ``client(service)`` makes the boto3
    clients of the account and region to deploy to."""
    template = infra.load()
    params = {
        name: str(values.get(name, spec.get("Default", "")))
        for name, spec in template["Parameters"].items()
    }
    checks = [_parameters(template, values)]
    checks.append(_artifact_bucket(client("s3"), artifact_bucket, region))
    checks.append(_credentials(client("secretsmanager"), params))
    if not all(params[name] for name in ("VpcId", "GlueSubnetId", "GlueSecurityGroupId")):
        return checks  # the network checks need all three (reported as missing above)
    ec2 = client("ec2")
    checks.append(_subnet(ec2, params))
    checks.append(_security_group(ec2, params))
    checks.extend(_reachability(ec2, params, region))
    return checks


def _parameters(template: Mapping[str, Any], values: Mapping[str, str]) -> Check:
    """The parameters without a default that a person gives (make deploy sets the others)."""
    required = [
        n
        for n, spec in template["Parameters"].items()
        if "Default" not in spec and n not in SET_BY_MAKE_DEPLOY
    ]
    missing = [n for n in required if not values.get(n)]
    unknown = sorted(set(values) - set(template["Parameters"]))
    if missing or unknown:
        detail = "; ".join(
            part
            for part in (
                missing and f"missing {', '.join(missing)}",
                unknown and f"not parameters of the template: {', '.join(unknown)}",
            )
            if part
        )
        return Check("parameters", FAIL, detail, "add them to PARAMS_FILE (docs/operations.md)")
    return Check("parameters", OK, f"the {len(required)} parameters without a default are given")


def _artifact_bucket(s3: Any, bucket: str, region: str) -> Check:
    if not bucket:
        return Check("artifact-bucket", FAIL, "no ARTIFACT_BUCKET", "ARTIFACT_BUCKET=<bucket>")
    try:
        where = s3.get_bucket_location(Bucket=bucket).get("LocationConstraint") or "us-east-1"
    except botocore.exceptions.ClientError as error:
        return Check(
            "artifact-bucket",
            FAIL,
            f"s3://{bucket}: {_code(error)}",
            f"create it in {region} (aws s3 mb s3://{bucket} --region {region}) or name one",
        )
    if where != region:
        return Check(
            "artifact-bucket",
            FAIL,
            f"s3://{bucket} is in {where}, the stack in {region}",
            f"an artifact bucket in {region}: CloudFormation and Lambda read it from there",
        )
    return Check("artifact-bucket", OK, f"s3://{bucket} in {region}")


def _credentials(secrets: Any, params: Mapping[str, str]) -> Check:
    arn = params["WarehouseSecretArn"]
    if not arn:
        if params["WarehouseUser"] and params["WarehousePassword"]:
            return Check("credentials", OK, "WarehouseUser and WarehousePassword given")
        return Check(
            "credentials",
            FAIL,
            "no WarehouseSecretArn, and not both WarehouseUser and WarehousePassword",
            "WarehouseSecretArn=<secret with username and password> in PARAMS_FILE",
        )
    try:
        text = secrets.get_secret_value(SecretId=arn).get("SecretString") or ""
    except botocore.exceptions.ClientError as error:
        return Check("credentials", FAIL, f"{arn}: {_code(error)}", "the full ARN of a secret")
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    keys = sorted(value) if isinstance(value, dict) else []
    missing = [k for k in ("username", "password") if not isinstance(_get(value, k), str)]
    if missing:
        return Check(
            "credentials",
            FAIL,
            f"{arn} is not JSON with text username and password (keys: {keys or 'none'})",
            'put {"username": ..., "password": ...} in the secret (the Glue connection reads '
            "those keys)",
        )
    return Check("credentials", OK, f"{arn} has username and password")


def _get(value: Any, key: str) -> Any:
    return value.get(key) if isinstance(value, dict) else None


def _subnet(ec2: Any, params: Mapping[str, str]) -> Check:
    subnet_id, vpc, zone = params["GlueSubnetId"], params["VpcId"], params["GlueAvailabilityZone"]
    try:
        subnet = ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"][0]
    except botocore.exceptions.ClientError as error:
        return Check("subnet", FAIL, f"{subnet_id}: {_code(error)}", "GlueSubnetId=<subnet id>")
    problems, fixes = [], []
    if subnet["VpcId"] != vpc:
        problems.append(f"{subnet_id} is in {subnet['VpcId']}, not VpcId {vpc}")
        fixes.append(f"VpcId={subnet['VpcId']} or a subnet of {vpc}")
    if subnet["AvailabilityZone"] != zone:
        problems.append(f"{subnet_id} is in {subnet['AvailabilityZone']}, not {zone}")
        fixes.append(f"GlueAvailabilityZone={subnet['AvailabilityZone']}")
    if problems:
        return Check("subnet", FAIL, "; ".join(problems), "; ".join(fixes))
    return Check("subnet", OK, f"{subnet_id} in {vpc}, {zone}")


def _security_group(ec2: Any, params: Mapping[str, str]) -> Check:
    group_id, vpc = params["GlueSecurityGroupId"], params["VpcId"]
    adds_rule = params["CreateSecurityGroupSelfRule"] == "true"
    try:
        group = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
    except botocore.exceptions.ClientError as error:
        return Check(
            "security-group", FAIL, f"{group_id}: {_code(error)}", "GlueSecurityGroupId=<id>"
        )
    if group["VpcId"] != vpc:
        return Check(
            "security-group",
            FAIL,
            f"{group_id} is in {group['VpcId']}, not VpcId {vpc}",
            f"a security group of {vpc}",
        )
    has_rule = any(_self_all_tcp(rule, group_id) for rule in group.get("IpPermissions", []))
    if has_rule and adds_rule:
        return Check(
            "security-group",
            FAIL,
            f"{group_id} has Glue's self-referencing all-TCP rule already: the stack's would "
            "fail with InvalidPermission.Duplicate",
            "CreateSecurityGroupSelfRule=false",
        )
    if not has_rule and not adds_rule:
        return Check(
            "security-group",
            FAIL,
            f"{group_id} has no self-referencing all-TCP inbound rule, which Glue requires",
            "CreateSecurityGroupSelfRule=true",
        )
    how = "the stack adds Glue's self rule" if adds_rule else "it has Glue's self rule"
    return Check("security-group", OK, f"{group_id} in {vpc}; {how}")


def _self_all_tcp(rule: Mapping[str, Any], group_id: str) -> bool:
    everything = rule.get("IpProtocol") == "-1"
    all_tcp = rule.get("IpProtocol") == "tcp" and (rule.get("FromPort"), rule.get("ToPort")) == (
        0,
        65535,
    )
    pairs = rule.get("UserIdGroupPairs", [])
    return (everything or all_tcp) and any(p.get("GroupId") == group_id for p in pairs)


def _reachability(ec2: Any, params: Mapping[str, str], region: str) -> Iterator[Check]:
    vpc, subnet_id = params["VpcId"], params["GlueSubnetId"]
    routes = _subnet_route_table(ec2, vpc, subnet_id)
    nat = any(
        r.get("DestinationCidrBlock") == "0.0.0.0/0" and r.get("NatGatewayId")
        for r in (routes or {}).get("Routes", [])
    )
    existing = {
        e["ServiceName"]: e
        for e in ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [vpc]}])[
            "VpcEndpoints"
        ]
        if e.get("State", "available").lower() not in ("deleted", "deleting", "failed")
    }
    interface_asked = False
    for service, switch in ENDPOINT_SWITCHES.items():
        name = f"com.amazonaws.{region}.{service}"
        creates, there = params[switch] == "true", existing.get(name)
        if creates and there:
            yield Check(
                f"endpoint {service}",
                FAIL,
                f"{vpc} has {there['VpcEndpointId']} for {name} already; the stack's would "
                "collide with it",
                f"{switch}=false: the jobs use the one there",
            )
        elif creates:
            interface_asked |= service != "s3"
            yield Check(f"endpoint {service}", OK, f"the stack creates one ({switch}=true)")
        elif there:
            yield Check(f"endpoint {service}", OK, f"{there['VpcEndpointId']} in {vpc}")
        elif nat:
            yield Check(f"endpoint {service}", OK, f"through the NAT route of {subnet_id}")
        else:
            yield Check(
                f"endpoint {service}",
                FAIL,
                f"{subnet_id} has no NAT route and {vpc} no endpoint for {name}: the jobs "
                "cannot reach it",
                f"{switch}=true, or a NAT gateway route for {subnet_id}",
            )
    if interface_asked:
        yield _vpc_dns(ec2, vpc)
    if params["CreateS3GatewayEndpoint"] == "true":
        yield _gateway_route_tables(ec2, params, routes)


def _subnet_route_table(ec2: Any, vpc: str, subnet_id: str) -> dict[str, Any] | None:
    """The subnet's route table: its own association, else the VPC's main table."""
    for filters in (
        [{"Name": "association.subnet-id", "Values": [subnet_id]}],
        [{"Name": "vpc-id", "Values": [vpc]}, {"Name": "association.main", "Values": ["true"]}],
    ):
        tables = ec2.describe_route_tables(Filters=filters)["RouteTables"]
        if tables:
            return dict(tables[0])
    return None


def _vpc_dns(ec2: Any, vpc: str) -> Check:
    off = [
        attribute
        for attribute, key in (
            ("enableDnsSupport", "EnableDnsSupport"),
            ("enableDnsHostnames", "EnableDnsHostnames"),
        )
        if not ec2.describe_vpc_attribute(VpcId=vpc, Attribute=attribute)[key]["Value"]
    ]
    if off:
        return Check(
            "vpc-dns",
            FAIL,
            f"{vpc} has {' and '.join(off)} off: interface endpoints' private DNS needs both",
            " && ".join(f"aws ec2 modify-vpc-attribute --vpc-id {vpc} --{_dashed(a)}" for a in off),
        )
    return Check("vpc-dns", OK, f"{vpc} has enableDnsSupport and enableDnsHostnames on")


def _dashed(attribute: str) -> str:
    return "".join(f"-{c.lower()}" if c.isupper() else c for c in attribute)


def _gateway_route_tables(
    ec2: Any, params: Mapping[str, str], subnet_table: dict[str, Any] | None
) -> Check:
    named = [t.strip() for t in params["PrivateRouteTableIds"].split(",") if t.strip()]
    if not named:
        return Check(
            "route-tables",
            FAIL,
            "CreateS3GatewayEndpoint=true without PrivateRouteTableIds",
            "PrivateRouteTableIds=<the route tables of GlueSubnetId>",
        )
    try:
        tables = ec2.describe_route_tables(RouteTableIds=named)["RouteTables"]
    except botocore.exceptions.ClientError as error:
        return Check("route-tables", FAIL, f"{', '.join(named)}: {_code(error)}", "route table ids")
    elsewhere = [t["RouteTableId"] for t in tables if t["VpcId"] != params["VpcId"]]
    if elsewhere:
        return Check(
            "route-tables",
            FAIL,
            f"{', '.join(elsewhere)} not in {params['VpcId']}",
            "ids of the VPC",
        )
    own = (subnet_table or {}).get("RouteTableId")
    if own and own not in named:
        return Check(
            "route-tables",
            FAIL,
            f"{params['GlueSubnetId']} routes through {own}, which PrivateRouteTableIds leaves out",
            f"add {own} to PrivateRouteTableIds",
        )
    return Check("route-tables", OK, f"{', '.join(named)} in {params['VpcId']}")


def _code(error: botocore.exceptions.ClientError) -> str:
    failure = error.response.get("Error", {})
    return f"{failure.get('Code', 'error')}: {failure.get('Message', '')}".rstrip(": ")


def report(checks: list[Check]) -> list[str]:
    failed = [c for c in checks if c.verdict == FAIL]
    lines = [line for check in checks for line in check.lines()]
    lines.append(
        f"PREFLIGHT {'FAILED' if failed else 'PASSED'}"
        + (f": {len(failed)} check(s) failed" if failed else "")
    )
    return lines
