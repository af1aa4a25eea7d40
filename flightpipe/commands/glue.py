"""``flightpipe glue run SCRIPT [ARGS]``: a Glue job script on the local Glue runtime."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def run(args: argparse.Namespace) -> int:
    from flightpipe.gluelocal.runner import main as run_main

    return run_main([str(args.script), *args.job_args])


def register(commands: Any) -> None:
    glue = commands.add_parser("glue", help="the local Glue runtime")
    actions = glue.add_subparsers(dest="action", required=True)
    job = actions.add_parser("run", help="run a Glue job script locally")
    job.add_argument("script", type=Path)
    job.add_argument("job_args", nargs=argparse.REMAINDER)
    job.set_defaults(handler=run)
