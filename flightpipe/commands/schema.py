"""``flightpipe schema apply``: the warehouse DDL in ``sql/``, on Redshift or PostgreSQL."""

from __future__ import annotations

import argparse
import os
from typing import Any


def apply(args: argparse.Namespace) -> int:
    from flightpipe.warehouse.connections import warehouse_from_url

    url = args.database_url or os.environ.get("DATABASE_URL")
    if not url:
        raise SystemExit("schema apply needs --database-url or DATABASE_URL")
    for name in warehouse_from_url(url).apply_schema():
        print(f"applied {name}")
    return 0


def register(commands: Any) -> None:
    schema = commands.add_parser("schema", help="the warehouse DDL in sql/")
    actions = schema.add_subparsers(dest="action", required=True)
    applied = actions.add_parser("apply", help="apply sql/ (Redshift or PostgreSQL by URL)")
    applied.add_argument("--database-url")
    applied.set_defaults(handler=apply)
