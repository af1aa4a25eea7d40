"""``flightpipe.stack.moto_speedups``: each patch is in place and answers as moto does."""

from __future__ import annotations

import importlib
import json

from jsonpath_ng import parse as plain_parse
from jsonpath_ng.ext import parse as ext_parse

from flightpipe.stack import moto_speedups

SERVICES = "moto.stepfunctions.parser.asl.component.state.exec.state_task.service"


def integration(name: str):  # type: ignore[no-untyped-def]
    return importlib.import_module(f"{SERVICES}.state_task_service_{name}")


def test_tasks_share_one_client_per_region_and_service():
    moto_speedups.apply()
    glue, aws_sdk, sns = integration("glue"), integration("aws_sdk"), integration("sns")

    first = glue.boto_client_for(region="us-east-1", service="glue", state_credentials=None)

    assert aws_sdk.boto_client_for(region="us-east-1", service="glue") is first
    assert glue.boto_client_for(region="us-east-1", service="glue") is first
    assert sns.boto_client_for(region="us-east-1", service="sns") is not first
    assert glue.boto_client_for(region="eu-west-1", service="glue") is not first


def test_shared_clients_keep_motos_settings_and_pool_many_connections():
    moto_speedups.apply()
    client = integration("glue").boto_client_for(region="us-east-1", service="glue")

    config = client.meta.config
    assert config.retries["total_max_attempts"] == 1  # as moto: a task retries by its Retry
    assert config.max_pool_connections >= 30  # the executions of a 30-day burst at once
    assert client.meta.endpoint_url.startswith("http://localhost:")


def test_moto_modules_are_listed_once_and_as_moto_lists_them():
    import os

    import moto
    from moto import backends

    moto_speedups.apply()

    root = os.path.dirname(moto.__file__)
    on_disk = sorted(
        name
        for name in os.listdir(root)
        if os.path.isdir(os.path.join(root, name)) and not name.startswith("__")
    )
    assert list(backends.list_of_moto_modules()) == on_disk
    assert backends.list_of_moto_modules() is backends.list_of_moto_modules()
    assert "glue" in backends.list_of_moto_modules()


def test_json_paths_are_parsed_once_and_find_what_jsonpath_ng_finds():
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import json_path

    moto_speedups.apply()
    data = {"job": {"JobRunState": "SUCCEEDED", "Arguments": [1, 2]}}

    for path in ("$.job.JobRunState", "$.job.Arguments[1]", "$"):
        assert json_path.parse(path) is json_path.parse(path)
        found = [m.value for m in json_path.parse(path).find(data)]
        assert found == [m.value for m in ext_parse(path).find(data)]
    assert json_path.extract_json("$.job.JobRunState", data) == "SUCCEEDED"
    assert result_path.parse("$.report") is result_path.parse("$.report")
    assert str(result_path.parse("$.report")) == str(plain_parse("$.report"))


def test_a_definition_is_parsed_once_and_each_execution_gets_its_own_program():
    import pytest
    from moto.stepfunctions.parser.asl.parse.asl_parser import (
        AmazonStateLanguageParser,
        ASLParserException,
    )

    moto_speedups.apply()
    definition = json.dumps(
        {
            "StartAt": "Configure",
            "States": {
                "Configure": {"Type": "Pass", "Result": {"a": 1}, "Next": "Done"},
                "Done": {"Type": "Succeed"},
            },
        }
    )

    first, first_tree = AmazonStateLanguageParser.parse(definition)
    second, second_tree = AmazonStateLanguageParser.parse(definition)

    assert second_tree is first_tree
    assert second is not first
    assert type(second) is type(first)
    assert list(second.states.states) == list(first.states.states) == ["Configure", "Done"]
    for _ in range(2):  # a definition that does not parse is refused every time
        with pytest.raises(ASLParserException):
            AmazonStateLanguageParser.parse('{"StartAt": "X", "States": {"X": {"Type": 1}}}')
