"""Where things are in the repository. Imports nothing of the project, so anything may use it."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# Everything the local tooling makes (PostgreSQL's cluster, the stack's state, logs).
LOCAL_DIR = REPO / ".local"
TEMPLATE = REPO / "infra" / "pipeline.yaml"
SQL_DIR = REPO / "sql"
SAMPLE_DIR = REPO / "sample_data"
CHALICE_DIR = REPO / "chalice_app"
GLUE_JOB_DIR = REPO / "glue_job"
