"""Functional tests isolate AWS with moto: in-process (``moto``), or, for the day job, whose
Spark reads and writes S3 from the JVM, the session's moto server (``moto_endpoint``, in
tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto import mock_aws


@pytest.fixture
def moto(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto for every boto3 client made in the block: no endpoint, fake credentials."""
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    for name, value in (
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
    ):
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield
