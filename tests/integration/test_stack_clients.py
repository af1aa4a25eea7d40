"""Other clients reach the local stack: the AWS CLI with --endpoint-url, and localstack-client."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def test_aws_cli_sees_the_provisioned_pipeline(stack):
    aws = Path(sys.executable).parent / "aws"
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": stack.settings.region,
    }
    env.pop("AWS_ENDPOINT_URL", None)

    def cli(*args: str) -> dict:
        result = subprocess.run(
            [str(aws), "--endpoint-url", stack.settings.endpoint_url, "--output", "json", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=True,
        )
        return json.loads(result.stdout)

    assert cli("glue", "get-job", "--job-name", stack.pipeline.job)["Job"]["GlueVersion"] == "5.0"
    machines = cli("stepfunctions", "list-state-machines")["stateMachines"]
    assert stack.pipeline.state_machine_arn in [m["stateMachineArn"] for m in machines]
    buckets = [b["Name"] for b in cli("s3api", "list-buckets")["Buckets"]]
    assert stack.pipeline.data_bucket in buckets


def test_localstack_client_reaches_the_stack(stack, monkeypatch):
    from localstack_client.session import Session

    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    session = Session(
        localstack_host=f"127.0.0.1:{stack.settings.stack_port}", region_name=stack.settings.region
    )
    topics = session.client("sns").list_topics()["Topics"]
    assert stack.pipeline.alerts_topic_arn in [t["TopicArn"] for t in topics]
