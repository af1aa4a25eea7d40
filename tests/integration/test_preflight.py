"""``make preflight``'s checks against the local stack's LocalStack: a VPC built as a user's
would be (EC2, Secrets Manager and S3 answer as AWS's APIs do), checked once as it should be and
once with every fault the checks look for."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from flightpipe import cli
from flightpipe.infra import preflight
from tests.support.stack import Stack

REGION = "us-east-1"


@dataclass
class Network:
    vpc: str
    subnet: str
    zone: str
    group: str
    route_table: str
    secret: str
    bucket: str

    def values(self, **overrides: str) -> dict[str, str]:
        return {
            "Stage": "dev",
            "AlertEmail": "ops@example.com",
            "WarehouseJdbcUrl": "jdbc:redshift://example:5439/dev",
            "VpcId": self.vpc,
            "GlueSubnetId": self.subnet,
            "GlueSecurityGroupId": self.group,
            "GlueAvailabilityZone": self.zone,
            "WarehouseSecretArn": self.secret,
            **overrides,
        }


def network(stack: Stack, nat: bool) -> Network:
    """A VPC with a private subnet (routed through a NAT gateway when ``nat``), the jobs' security
    group, the warehouse secret and an artifact bucket."""
    ec2, name = stack.client("ec2"), uuid.uuid4().hex[:8]
    vpc = ec2.create_vpc(CidrBlock="10.60.0.0/16")["Vpc"]["VpcId"]
    zone = f"{REGION}a"
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.60.1.0/24", AvailabilityZone=zone)
    subnet_id = subnet["Subnet"]["SubnetId"]
    table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.associate_route_table(RouteTableId=table, SubnetId=subnet_id)
    if nat:
        public = ec2.create_subnet(VpcId=vpc, CidrBlock="10.60.2.0/24", AvailabilityZone=zone)
        allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
        gateway = ec2.create_nat_gateway(
            SubnetId=public["Subnet"]["SubnetId"], AllocationId=allocation
        )["NatGateway"]["NatGatewayId"]
        ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=gateway)
    group = ec2.create_security_group(GroupName=f"glue-{name}", Description="jobs", VpcId=vpc)
    secret = stack.client("secretsmanager").create_secret(
        Name=f"warehouse-{name}",
        SecretString=json.dumps({"username": "loader", "password": "p$ss;(|"}),
    )["ARN"]
    bucket = f"artifacts-{name}"
    stack.client("s3").create_bucket(Bucket=bucket)
    return Network(vpc, subnet_id, zone, group["GroupId"], table, secret, bucket)


def verdicts(checks: list[preflight.Check]) -> dict[str, str]:
    return {check.name: check.verdict for check in checks}


def test_a_vpc_ready_for_the_deployment_passes_every_check(stack):
    net = network(stack, nat=True)
    checks = preflight.run(net.values(), net.bucket, REGION, stack.client)
    assert verdicts(checks) == {
        "parameters": "ok",
        "artifact-bucket": "ok",
        "credentials": "ok",
        "subnet": "ok",
        "security-group": "ok",
        "endpoint s3": "ok",
        "endpoint glue": "ok",
        "endpoint secretsmanager": "ok",
        "endpoint logs": "ok",
        "endpoint sts": "ok",
    }, "\n".join(preflight.report(checks))
    assert checks[0].detail == "the 6 parameters without a default are given"
    assert preflight.report(checks)[-1] == "PREFLIGHT PASSED"


def test_each_fault_fails_its_check_with_the_fix(stack):
    net = network(stack, nat=False)
    ec2 = stack.client("ec2")
    # Glue's self rule is there already; an S3 gateway endpoint too; DNS hostnames are off.
    ec2.authorize_security_group_ingress(
        GroupId=net.group,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 0,
                "ToPort": 65535,
                "UserIdGroupPairs": [{"GroupId": net.group}],
            }
        ],
    )
    ec2.create_vpc_endpoint(
        VpcId=net.vpc,
        ServiceName=f"com.amazonaws.{REGION}.s3",
        VpcEndpointType="Gateway",
        RouteTableIds=[net.route_table],
    )
    ec2.modify_vpc_attribute(VpcId=net.vpc, EnableDnsHostnames={"Value": False})
    secrets = stack.client("secretsmanager")
    secrets.put_secret_value(SecretId=net.secret, SecretString=json.dumps({"user": "loader"}))
    values = net.values(
        GlueAvailabilityZone=f"{REGION}b",
        CreateS3GatewayEndpoint="true",
        PrivateRouteTableIds=net.route_table,
        CreateGlueEndpoint="true",
    )
    del values["AlertEmail"]

    checks = {c.name: c for c in preflight.run(values, "no-such-bucket-x1", REGION, stack.client)}

    assert checks["parameters"].verdict == "FAIL"
    assert "missing AlertEmail" in checks["parameters"].detail
    assert checks["artifact-bucket"].verdict == "FAIL"
    assert "NoSuchBucket" in checks["artifact-bucket"].detail
    assert checks["credentials"].verdict == "FAIL"
    assert "keys: ['user']" in checks["credentials"].detail
    assert checks["subnet"].verdict == "FAIL"
    assert checks["subnet"].fix == f"GlueAvailabilityZone={REGION}a"
    assert checks["security-group"].verdict == "FAIL"
    assert checks["security-group"].fix == "CreateSecurityGroupSelfRule=false"
    assert checks["endpoint s3"].verdict == "FAIL"
    assert checks["endpoint s3"].fix.startswith("CreateS3GatewayEndpoint=false")
    assert checks["endpoint glue"].verdict == "ok"  # the stack creates it
    for service, switch in (
        ("secretsmanager", "CreateSecretsManagerEndpoint"),
        ("logs", "CreateLogsEndpoint"),
        ("sts", "CreateStsEndpoint"),
    ):
        assert checks[f"endpoint {service}"].verdict == "FAIL"
        assert "no NAT route" in checks[f"endpoint {service}"].detail
        assert checks[f"endpoint {service}"].fix.startswith(f"{switch}=true")
    assert checks["vpc-dns"].verdict == "FAIL"
    assert checks["vpc-dns"].fix == (
        f"aws ec2 modify-vpc-attribute --vpc-id {net.vpc} --enable-dns-hostnames"
    )
    assert checks["route-tables"].verdict == "ok"


def test_a_gateway_endpoint_without_the_subnets_route_table_is_refused(stack):
    net = network(stack, nat=True)
    other = stack.client("ec2").create_route_table(VpcId=net.vpc)["RouteTable"]["RouteTableId"]
    values = net.values(CreateS3GatewayEndpoint="true", PrivateRouteTableIds=other)
    checks = {c.name: c for c in preflight.run(values, net.bucket, REGION, stack.client)}
    assert checks["route-tables"].verdict == "FAIL"
    assert checks["route-tables"].fix == f"add {net.route_table} to PrivateRouteTableIds"


def test_make_preflight_reads_the_parameters_file_and_exits_non_zero_on_a_failure(
    local_stage, tmp_path, capsys
):
    net = network(local_stage, nat=True)
    params = tmp_path / "params.json"
    values = net.values()
    values.pop("Stage")
    params.write_text(
        json.dumps([{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()])
    )
    arguments = ["preflight", "--stage", "local", "--file", str(params)]

    assert cli.main([*arguments, "--artifact-bucket", net.bucket]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "PREFLIGHT PASSED"
    assert cli.main([*arguments, "--artifact-bucket", "no-such-bucket-x2"]) == 1
    output = capsys.readouterr().out.splitlines()
    assert output[0] == f"preflight of flightpipe-local in {REGION}"
    assert output[-1] == "PREFLIGHT FAILED: 1 check(s) failed"
    assert cli.main([*arguments, "WarehousePassword=x"]) == 2
