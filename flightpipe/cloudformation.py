"""The CloudFormation that ``chalice package --merge-template`` adds to the Chalice functions.

Chalice owns the two Lambda functions, their role and their EventBridge rules; this template
adds everything else the pipeline needs and wires the functions to it:

* the data bucket (EventBridge notifications on, encrypted, no public access) and a CloudTrail
  trail recording its object-level data events, with its own log bucket;
* the alerts topic with an email subscription (parameter ``AlertEmail``);
* the Glue database, crawler, both jobs (scripts in the data bucket under ``glue-scripts/``)
  and the JDBC connection, whose credentials live in Secrets Manager (parameters marked NoEcho,
  never echoed or stored in plain parameters of a resource);
* the state machine from ``stepfunctions/pipeline.asl.json`` with its placeholders filled by
  ``DefinitionSubstitutions``;
* one IAM role per actor (crawler, Glue jobs, state machine, CloudTrail), each allowed only what
  it does, and the Chalice role's added permissions (start executions, publish alerts).

Built as data in Python so that ARNs are CloudFormation references, not strings.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flightpipe.config import REPO, Names

DEFINITION = REPO / "stepfunctions" / "pipeline.asl.json"
LIBRARIES = ("flight_transforms.py", "flight_io.py", "day_load.py")
Json = dict[str, Any]
PRIVATE_BUCKET: Json = {
    "BucketEncryption": {
        "ServerSideEncryptionConfiguration": [
            {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
        ]
    },
    "PublicAccessBlockConfiguration": {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    },
}


def _sub(text: str) -> Json:
    return {"Fn::Sub": text}


def _ref(name: str) -> Json:
    return {"Ref": name}


def _arn(name: str) -> Json:
    return {"Fn::GetAtt": [name, "Arn"]}


def _role(service: str, statements: list[Json], managed: list[str] | None = None) -> Json:
    properties: Json = {
        "AssumeRolePolicyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
            ],
        },
        "Policies": [
            {
                "PolicyName": "least-privilege",
                "PolicyDocument": {"Version": "2012-10-17", "Statement": statements},
            }
        ],
    }
    if managed:
        properties["ManagedPolicyArns"] = managed
    return {"Type": "AWS::IAM::Role", "Properties": properties}


def _allow(actions: list[str], resources: list[Any]) -> Json:
    return {"Effect": "Allow", "Action": actions, "Resource": resources}


def _objects(*prefixes: str) -> list[Json]:
    return [_sub(f"${{DataBucket.Arn}}/{prefix}*") for prefix in prefixes]


def merge_template(names: Names) -> Json:
    """The merge template for ``chalice package``."""
    catalog = [
        _sub("arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:catalog"),
        _sub(
            f"arn:${{AWS::Partition}}:glue:${{AWS::Region}}:${{AWS::AccountId}}:database/{names.glue_database}"
        ),
        _sub(
            f"arn:${{AWS::Partition}}:glue:${{AWS::Region}}:${{AWS::AccountId}}:table/{names.glue_database}/*"
        ),
    ]
    logs = _allow(
        ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
        [_sub("arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:/aws-glue/*")],
    )
    job_arguments = {
        "--extra-py-files": ",".join(
            f"s3://${{DataBucket}}/glue-scripts/{name}" for name in LIBRARIES
        ),
        "--data_bucket": "${DataBucket}",
        "--connection_name": names.glue_connection,
        "--warehouse_database": "${WarehouseDatabase}",
        "--accepted_airports_key": names.accepted_airports_key,
        "--TempDir": "s3://${DataBucket}/glue-temp/",
        "--job-bookmark-option": "job-bookmark-disable",
    }

    def glue_job(name: str, script: str, extra: Json, concurrency: int) -> Json:
        return {
            "Type": "AWS::Glue::Job",
            "Properties": {
                "Name": name,
                "Role": _arn("GlueJobRole"),
                "GlueVersion": "5.0",
                "WorkerType": "G.1X",
                "NumberOfWorkers": 2,
                "Timeout": 60,
                "MaxRetries": 0,
                "Command": {
                    "Name": "glueetl",
                    "PythonVersion": "3",
                    "ScriptLocation": _sub(f"s3://${{DataBucket}}/glue-scripts/{script}"),
                },
                "DefaultArguments": {
                    k: _sub(v) if "${" in v else v for k, v in {**job_arguments, **extra}.items()
                },
                "Connections": {"Connections": [_ref("WarehouseConnection")]},
                "ExecutionProperty": {"MaxConcurrentRuns": concurrency},
            },
        }

    resources: Json = {
        "DataBucket": {
            "Type": "AWS::S3::Bucket",
            "Properties": {
                "NotificationConfiguration": {
                    "EventBridgeConfiguration": {"EventBridgeEnabled": True}
                },
                **PRIVATE_BUCKET,
                "VersioningConfiguration": {"Status": "Enabled"},
            },
        },
        "TrailBucket": {
            "Type": "AWS::S3::Bucket",
            "Properties": {
                **PRIVATE_BUCKET,
            },
        },
        "TrailBucketPolicy": {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {
                "Bucket": _ref("TrailBucket"),
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "cloudtrail.amazonaws.com"},
                            "Action": "s3:GetBucketAcl",
                            "Resource": _arn("TrailBucket"),
                        },
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "cloudtrail.amazonaws.com"},
                            "Action": "s3:PutObject",
                            "Resource": _sub("${TrailBucket.Arn}/AWSLogs/${AWS::AccountId}/*"),
                            "Condition": {
                                "StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}
                            },
                        },
                    ],
                },
            },
        },
        "DataEventsTrail": {
            "Type": "AWS::CloudTrail::Trail",
            "DependsOn": ["TrailBucketPolicy"],
            "Properties": {
                "IsLogging": True,
                "S3BucketName": _ref("TrailBucket"),
                "EnableLogFileValidation": True,
                "IncludeGlobalServiceEvents": False,
                "EventSelectors": [
                    {
                        "ReadWriteType": "WriteOnly",
                        "IncludeManagementEvents": False,
                        "DataResources": [
                            {"Type": "AWS::S3::Object", "Values": [_sub("${DataBucket.Arn}/")]}
                        ],
                    }
                ],
            },
        },
        "AlertsTopic": {
            "Type": "AWS::SNS::Topic",
            "Properties": {"TopicName": _sub(f"{names.alerts_topic}-${{Stage}}")},
        },
        "AlertsEmail": {
            "Type": "AWS::SNS::Subscription",
            "Properties": {
                "TopicArn": _ref("AlertsTopic"),
                "Protocol": "email",
                "Endpoint": _ref("AlertEmail"),
            },
        },
        "WarehouseSecret": {
            "Type": "AWS::SecretsManager::Secret",
            "Properties": {
                "Description": "Warehouse credentials of the flight pipeline's Glue connection",
                "SecretString": _sub(
                    '{"username":"${WarehouseUser}","password":"${WarehousePassword}"}'
                ),
            },
        },
        "GlueDatabase": {
            "Type": "AWS::Glue::Database",
            "Properties": {
                "CatalogId": _ref("AWS::AccountId"),
                "DatabaseInput": {"Name": names.glue_database},
            },
        },
        "WarehouseConnection": {
            "Type": "AWS::Glue::Connection",
            "Properties": {
                "CatalogId": _ref("AWS::AccountId"),
                "ConnectionInput": {
                    "Name": names.glue_connection,
                    "ConnectionType": "JDBC",
                    "ConnectionProperties": {
                        "JDBC_CONNECTION_URL": _ref("WarehouseJdbcUrl"),
                        "SECRET_ID": _ref("WarehouseSecret"),
                    },
                    "PhysicalConnectionRequirements": {
                        "SubnetId": _ref("GlueSubnetId"),
                        "SecurityGroupIdList": [_ref("GlueSecurityGroupId")],
                        "AvailabilityZone": _ref("GlueAvailabilityZone"),
                    },
                },
            },
        },
        "Crawler": {
            "Type": "AWS::Glue::Crawler",
            "Properties": {
                "Name": names.crawler,
                "Role": _arn("CrawlerRole"),
                "DatabaseName": _ref("GlueDatabase"),
                "Targets": {
                    "S3Targets": [{"Path": _sub(f"s3://${{DataBucket}}/{names.flights_table}/")}]
                },
                "SchemaChangePolicy": {
                    "UpdateBehavior": "UPDATE_IN_DATABASE",
                    "DeleteBehavior": "DEPRECATE_IN_DATABASE",
                },
            },
        },
        "DelayedFlightsJob": glue_job(
            names.job,
            "delayed_flights.py",
            {"--catalog_database": names.glue_database, "--flights_table": names.flights_table},
            2,
        ),
        "LoadAirportsJob": glue_job(
            names.airports_job, "load_airports.py", {"--airports_key": "dim/airports.csv"}, 1
        ),
        "CrawlerRole": _role(
            "glue.amazonaws.com",
            [
                _allow(["s3:ListBucket"], [_arn("DataBucket")]),
                _allow(["s3:GetObject"], _objects(f"{names.flights_table}/")),
                _allow(
                    [
                        "glue:GetDatabase",
                        "glue:GetTable",
                        "glue:CreateTable",
                        "glue:UpdateTable",
                        "glue:GetPartition",
                        "glue:GetPartitions",
                        "glue:BatchCreatePartition",
                        "glue:BatchGetPartition",
                        "glue:UpdatePartition",
                    ],
                    catalog,
                ),
                logs,
            ],
        ),
        "GlueJobRole": _role(
            "glue.amazonaws.com",
            [
                _allow(["s3:ListBucket"], [_arn("DataBucket")]),
                _allow(
                    ["s3:GetObject"],
                    [
                        *_objects(f"{names.flights_table}/", "dim/", "glue-scripts/", "glue-temp/"),
                        _sub(f"${{DataBucket.Arn}}/{names.accepted_airports_key}"),
                    ],
                ),
                _allow(
                    ["s3:PutObject", "s3:DeleteObject"],
                    [
                        *_objects("quarantine/", "run-reports/", "glue-temp/"),
                        _sub(f"${{DataBucket.Arn}}/{names.accepted_airports_key}"),
                    ],
                ),
                # The day job serialises its runs of one day through Glue's list of its runs.
                _allow(
                    ["glue:GetJobRuns"],
                    [
                        _sub(
                            f"arn:${{AWS::Partition}}:glue:${{AWS::Region}}:${{AWS::AccountId}}:job/{names.job}"
                        )
                    ],
                ),
                _allow(
                    [
                        "glue:GetDatabase",
                        "glue:GetTable",
                        "glue:GetPartition",
                        "glue:GetPartitions",
                        "glue:GetConnection",
                    ],
                    [
                        *catalog,
                        _sub(
                            f"arn:${{AWS::Partition}}:glue:${{AWS::Region}}:${{AWS::AccountId}}:connection/{names.glue_connection}"
                        ),
                    ],
                ),
                _allow(["secretsmanager:GetSecretValue"], [_ref("WarehouseSecret")]),
                _allow(
                    [
                        "ec2:CreateNetworkInterface",
                        "ec2:DeleteNetworkInterface",
                        "ec2:DescribeNetworkInterfaces",
                        "ec2:DescribeSubnets",
                        "ec2:DescribeSecurityGroups",
                        "ec2:DescribeVpcEndpoints",
                        "ec2:DescribeRouteTables",
                        "ec2:CreateTags",
                        "ec2:DeleteTags",
                    ],
                    ["*"],
                ),
                logs,
            ],
        ),
        "StateMachineRole": _role(
            "states.amazonaws.com",
            [
                _allow(
                    ["glue:StartCrawler", "glue:GetCrawler"],
                    [
                        _sub(
                            f"arn:${{AWS::Partition}}:glue:${{AWS::Region}}:${{AWS::AccountId}}:crawler/{names.crawler}"
                        )
                    ],
                ),
                _allow(
                    [
                        "glue:StartJobRun",
                        "glue:GetJobRun",
                        "glue:GetJobRuns",
                        "glue:BatchStopJobRun",
                    ],
                    [
                        _sub(
                            f"arn:${{AWS::Partition}}:glue:${{AWS::Region}}:${{AWS::AccountId}}:job/{name}"
                        )
                        for name in (names.job, names.airports_job)
                    ],
                ),
                _allow(["s3:GetObject"], _objects("run-reports/")),
                _allow(["sns:Publish"], [_ref("AlertsTopic")]),
            ],
        ),
        "PipelineStateMachine": {
            "Type": "AWS::StepFunctions::StateMachine",
            "Properties": {
                "StateMachineName": _sub(f"{names.state_machine}-${{Stage}}"),
                "RoleArn": _arn("StateMachineRole"),
                "Definition": json.loads(DEFINITION.read_text(encoding="utf-8")),
                "DefinitionSubstitutions": {
                    "CrawlerName": _ref("Crawler"),
                    "JobName": _ref("DelayedFlightsJob"),
                    "AirportsJobName": _ref("LoadAirportsJob"),
                    "AlertsTopicArn": _ref("AlertsTopic"),
                    "CrawlerPollSeconds": _ref("CrawlerPollSeconds"),
                    "CrawlerMaxPolls": _ref("CrawlerMaxPolls"),
                },
            },
        },
        "DefaultRole": {
            "Properties": {
                "Policies": [
                    {
                        "PolicyName": "FlightPipelineHandlers",
                        "PolicyDocument": {
                            "Version": "2012-10-17",
                            "Statement": [
                                # Replaces Chalice's policy list: repeat its logging grant.
                                _allow(
                                    [
                                        "logs:CreateLogGroup",
                                        "logs:CreateLogStream",
                                        "logs:PutLogEvents",
                                    ],
                                    [
                                        _sub(
                                            "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:*"
                                        )
                                    ],
                                ),
                                _allow(["states:StartExecution"], [_ref("PipelineStateMachine")]),
                                _allow(["sns:Publish"], [_ref("AlertsTopic")]),
                            ],
                        },
                    }
                ]
            }
        },
    }
    handler_environment = {
        "Environment": {
            "Variables": {
                "DATA_BUCKET": _ref("DataBucket"),
                "STATE_MACHINE_ARN": _ref("PipelineStateMachine"),
                "ALERTS_TOPIC_ARN": _ref("AlertsTopic"),
            }
        }
    }
    resources["OnObjectCreated"] = {
        "Properties": {
            **handler_environment,
            "Events": {
                "OnObjectCreatedEvent": {
                    "Properties": {
                        "Pattern": {"detail": {"bucket": {"name": [_ref("DataBucket")]}}}
                    }
                }
            },
        }
    }
    resources["OnExecutionFailed"] = {
        "Properties": {
            **handler_environment,
            "Events": {
                "OnExecutionFailedEvent": {
                    "Properties": {
                        "Pattern": {"detail": {"stateMachineArn": [_ref("PipelineStateMachine")]}}
                    }
                }
            },
        }
    }
    return {
        "Parameters": {
            "Stage": {"Type": "String", "Default": "dev", "AllowedValues": ["dev", "prod"]},
            "AlertEmail": {"Type": "String", "Description": "Where alerts are emailed"},
            "WarehouseJdbcUrl": {
                "Type": "String",
                "Description": "jdbc:redshift://<endpoint>:5439/<database>",
            },
            "WarehouseDatabase": {"Type": "String", "Default": "dev"},
            "WarehouseUser": {"Type": "String", "NoEcho": True},
            "WarehousePassword": {"Type": "String", "NoEcho": True},
            "GlueSubnetId": {
                "Type": "AWS::EC2::Subnet::Id",
                "Description": "A private subnet that reaches the warehouse",
            },
            "GlueSecurityGroupId": {"Type": "AWS::EC2::SecurityGroup::Id"},
            "GlueAvailabilityZone": {"Type": "AWS::EC2::AvailabilityZone::Name"},
            "CrawlerPollSeconds": {"Type": "String", "Default": "30", "AllowedPattern": "[0-9]+"},
            "CrawlerMaxPolls": {"Type": "String", "Default": "40", "AllowedPattern": "[0-9]+"},
        },
        "Resources": resources,
        "Outputs": {
            "DataBucket": {"Value": _ref("DataBucket")},
            "StateMachineArn": {"Value": _ref("PipelineStateMachine")},
            "AlertsTopicArn": {"Value": _ref("AlertsTopic")},
        },
    }


def write(path: Path, names: Names | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(merge_template(names or Names()), indent=2) + "\n", encoding="utf-8")
    return path


if __name__ == "__main__":
    import sys

    print(write(Path(sys.argv[1] if len(sys.argv) > 1 else "dist/merge-template.json")))
