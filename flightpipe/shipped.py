"""The code the project ships to AWS, for the local tools that use it: the upload handler's
``chalicelib`` (packaged by Chalice) and the Glue job's modules (uploaded to S3 and given to the
job as ``--extra-py-files``). Neither is installed in the virtualenv, so their folders are put
on ``sys.path``: here, and nowhere else."""

from __future__ import annotations

import sys
from pathlib import Path

from flightpipe.paths import CHALICE_DIR, GLUE_JOB_DIR


def _reach(folder: Path) -> None:
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))


def reach_handler_code() -> None:
    """Make ``chalicelib`` importable."""
    _reach(CHALICE_DIR)


def reach_job_code() -> None:
    """Make the Glue job's modules (the ``flightjob`` package) importable."""
    _reach(GLUE_JOB_DIR)
