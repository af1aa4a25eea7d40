"""Chalice in the tests: ``make package``'s merged template."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from flightpipe.paths import REPO


def chalice_package(out: Path, stage: str = "dev") -> Path:
    """``make package``'s merge: Chalice's template with infra/pipeline.yaml; the sam.yaml path."""
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
