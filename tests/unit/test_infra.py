"""flightpipe.infra: CloudFormation's intrinsics as the template uses them, and nothing else."""

from __future__ import annotations

import json

import pytest
from cfnlint.decode import cfn_yaml

from flightpipe.infra import Stack, TemplateError, load

pytestmark = pytest.mark.unit

TEMPLATE = """
Parameters:
  Stage: {Type: String, AllowedValues: [dev, prod]}
  Prefix: {Type: String, Default: flightpipe}
  Lists: {Type: CommaDelimitedList, Default: "a,b"}
  NoDefault: {Type: String}
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
Resources:
  Bucket: {Type: AWS::S3::Bucket}
  Topic:
    Type: AWS::SNS::Topic
    Properties: {TopicName: !Sub "${Prefix}-${Stage}-alerts"}
  Queue:
    Type: AWS::SQS::Queue
    Properties: {QueueName: !Join ["-", [!Ref Prefix, !Ref "AWS::Region", queue]]}
  ProdOnly:
    Type: AWS::SNS::Topic
    Condition: IsProd
  Secret:
    Type: AWS::SecretsManager::Secret
    Properties:
      Name: !Sub "${AWS::StackName}/warehouse"
      SecretString: {"Fn::ToJsonString": {username: !Ref Prefix, list: !Ref Lists}}
  Uses:
    Type: AWS::SNS::Topic
    Properties:
      TopicName: x
      Arn: !GetAtt Bucket.Arn
      Short: !GetAtt "Queue.QueueName"
      InSub: !Sub "${Bucket.Arn}/* in ${AWS::Partition} ${AWS::AccountId} ${!Literal}"
      Chosen: !If [IsProd, !Ref ProdOnly, !Ref Topic]
      Missing: !Ref NoDefault
      Unknown: !Select [0, [a]]
      BadAttribute: !GetAtt Topic.Nothing
"""


def stack(**parameters: str) -> Stack:
    return Stack(
        cfn_yaml.loads(TEMPLATE),
        {"Stage": "dev", **parameters},
        stack_name="flightpipe-dev",
        region="eu-west-1",
        account_id="111122223333",
        names={"Bucket": "my-data"},
    )


def test_refs_subs_joins_and_pseudo_parameters():
    s = stack()
    assert s.ref("Topic") == "arn:aws:sns:eu-west-1:111122223333:flightpipe-dev-alerts"
    assert s.name("Queue") == "flightpipe-eu-west-1-queue"
    assert s.property("Uses", "Arn") == "arn:aws:s3:::my-data"
    assert s.property("Uses", "Short") == "flightpipe-eu-west-1-queue"
    assert s.property("Uses", "InSub") == "arn:aws:s3:::my-data/* in aws 111122223333 ${Literal}"
    assert s.property("Secret", "Name") == "flightpipe-dev/warehouse"


def test_to_json_string_writes_compact_json_of_the_rendered_value():
    secret = stack().property("Secret", "SecretString")
    assert secret == '{"username":"flightpipe","list":["a","b"]}'
    assert json.loads(secret)["list"] == ["a", "b"]


def test_if_evaluates_only_the_branch_its_condition_chooses():
    assert stack().property("Uses", "Chosen") == stack().ref("Topic")
    prod = stack(Stage="prod")
    assert prod.property("Uses", "Chosen") == prod.ref("ProdOnly")
    assert "ProdOnly" not in stack().resources()
    with pytest.raises(TemplateError, match="ProdOnly is not created"):
        stack().ref("ProdOnly")


def test_unnamed_resources_get_cloudformations_name_without_its_suffix():
    s = Stack(
        cfn_yaml.loads(TEMPLATE),
        {"Stage": "dev"},
        stack_name="Flight-Dev",
        region="r",
        account_id="1",
    )
    assert s.name("Bucket") == "flight-dev-bucket"  # buckets: lower case


def test_parameter_constraints_and_missing_values_fail_with_their_names():
    with pytest.raises(TemplateError, match=r"Stage='local' is not one of"):
        stack(Stage="local").property("Topic", "TopicName")
    unchecked = Stack(
        cfn_yaml.loads(TEMPLATE),
        {"Stage": "local"},
        stack_name="s",
        region="r",
        account_id="1",
        unchecked={"Stage": "the local stack"},
    )
    assert unchecked.property("Topic", "TopicName") == "flightpipe-local-alerts"
    with pytest.raises(TemplateError, match="parameter NoDefault has no value"):
        stack().property("Uses", "Missing")
    with pytest.raises(TemplateError, match="parameters the template does not have"):
        stack(Nope="x")


def test_what_the_evaluator_does_not_know_is_refused_with_its_place():
    with pytest.raises(TemplateError, match=r"Resources\.Uses\.Properties\.Unknown: Fn::Select"):
        stack().property("Uses", "Unknown")
    with pytest.raises(TemplateError, match=r"Topic\.Nothing"):
        stack().property("Uses", "BadAttribute")


def test_the_pipeline_template_decodes_to_plain_data():
    template = load()
    assert type(template["Resources"]) is dict
    role = template["Resources"]["Crawler"]["Properties"]["Role"]
    assert role == {"Fn::GetAtt": ["CrawlerRole", "Arn"]}
