"""AWS in the tests: the moto server's settings and what Spark wrote to S3."""

from __future__ import annotations

import json
from typing import Any

# Credentials and region for clients of the moto server (it accepts any).
MOTO_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def read_json_lines(s3: Any, prefix: str) -> list[dict[str, Any]]:
    """The records of the JSON-lines part files Spark wrote under ``prefix`` (s3://...), in
    (source, line_number) order."""
    bucket, _, key_prefix = prefix.removeprefix("s3://").partition("/")
    keys = [
        item["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key_prefix)
        for item in page.get("Contents", [])
        if item["Key"].rsplit("/", 1)[-1].startswith("part-")
    ]
    records = [
        json.loads(line)
        for key in keys
        for line in s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode().splitlines()
    ]
    return sorted(records, key=lambda r: (r["source"], r["line_number"]))
