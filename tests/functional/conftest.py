"""Functional tests isolate AWS with moto: in-process (``moto``), or, for the day job, whose
Spark reads and writes S3 from the JVM, the session's moto server (``moto_endpoint``, in
tests/conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

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


def chalice_package(out: Path, stage: str = "dev") -> Path:
    """``make package``'s merge: Chalice's template with infra/pipeline.yaml; the sam.yaml path."""
    from tests.conftest import REPO

    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1"}
    env.pop("AWS_ENDPOINT_URL", None)
    subprocess.run(
        [
            str(Path(sys.executable).parent / "chalice"),
            "package",
            "--stage",
            stage,
            "--merge-template",
            str(REPO / "infra" / "pipeline.yaml"),
            str(out),
        ],
        cwd=REPO / "chalice_app",
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    return out / "sam.yaml"
