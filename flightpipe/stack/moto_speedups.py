"""Work moto 5.2.5 repeats on every call, done once, in the local stack's process.

Why our own: moto is written for tests, where a call or two a second is the load. In a local
burst the stack serves dozens of calls a second (executions retrying StartJobRun for a slot,
``.sync`` polls) in the same process that runs the job drivers, and profiles of a 30-day burst
showed these four costs, none of which changes an answer:

1. Every Step Functions task builds a new boto3 client (``asl.utils.boto_client
   .boto_client_for``), about 8 ms of CPU, and opens a new connection: a fifth of the stack's
   CPU in a burst. Clients are made once per region and service (botocore's clients are
   thread-safe), with moto's settings and a connection pool sized for many executions.
2. Every request the server routes lists moto's package directory
   (``backends.list_of_moto_modules``, a directory listing and 150 ``stat`` calls): the list is
   made once, since the installed package does not change while the stack runs.
3. Every JSONPath of the state machine (``InputPath``, ``ResultPath``, ``.$`` parameters) is
   parsed again by jsonpath-ng's parser each time it is evaluated: parsed paths are kept
   (``find`` and ``update_or_create`` change the data, never the parsed path).

4. Every execution parses its state machine's definition again, with ANTLR's pure-Python
   runtime (``AmazonStateLanguageParser.parse``): a third of the stack's CPU in a burst, and
   part of each execution's start. The parse tree of a definition is kept (ANTLR's trees are
   not changed by visiting them); each execution still gets program components of its own
   from moto's preprocessor, so no execution shares state with another.

``tests/unit/test_moto_speedups.py`` checks each patch is in place and answers as moto does.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
import threading
from typing import Any

# Connections a shared client keeps: one per execution calling at once, in a burst of days.
CLIENT_POOL_CONNECTIONS = 64
# Parse trees kept: a stack holds a few state machines, each definition version once.
PARSED_DEFINITIONS = 64
_applied = False


def apply() -> None:
    """Apply every speed-up (idempotent)."""
    global _applied
    if _applied:
        return
    _one_client_per_service()
    _moto_modules_listed_once()
    _json_paths_parsed_once()
    _definitions_parsed_once()
    _applied = True


def _one_client_per_service() -> None:
    import boto3
    from botocore.config import Config
    from moto.stepfunctions.parser.asl.component.state import exec as integrations
    from moto.stepfunctions.parser.asl.utils import boto_client

    clients: dict[tuple[Any, ...], Any] = {}
    lock = threading.Lock()

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        # moto's function ignores state_credentials too: every call uses the same keys.
        stubbed = boto_client.botocore_stubber.enabled
        port = boto_client.moto_server_port()
        key = (region, service, stubbed, port)
        with lock:
            client = clients.get(key)
            if client is None:
                client = clients[key] = boto3.client(
                    aws_access_key_id="ak",
                    region_name=region,
                    service_name=service,
                    aws_secret_access_key="sk",
                    config=Config(
                        parameter_validation=False,
                        retries={"max_attempts": 0, "total_max_attempts": 1},
                        connect_timeout=boto_client.TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
                        read_timeout=boto_client.TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
                        max_pool_connections=CLIENT_POOL_CONNECTIONS,
                    ),
                    **({} if stubbed else {"endpoint_url": f"http://localhost:{port}"}),
                )
        return client

    # Each integration imported the function by name: replace it in every module that holds it.
    for module in pkgutil.walk_packages(integrations.__path__, f"{integrations.__name__}."):
        loaded = importlib.import_module(module.name)
        if getattr(loaded, "boto_client_for", None) is boto_client.boto_client_for:
            setattr(loaded, "boto_client_for", boto_client_for)
    setattr(boto_client, "boto_client_for", boto_client_for)


def _moto_modules_listed_once() -> None:
    from moto import backends

    listed = tuple(backends.list_of_moto_modules())
    setattr(backends, "list_of_moto_modules", lambda: listed)


def _json_paths_parsed_once() -> None:
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import json_path

    for module in (json_path, result_path):  # each imported a parser of jsonpath-ng's by name
        setattr(module, "parse", functools.lru_cache(maxsize=4096)(module.parse))


def _definitions_parsed_once() -> None:
    from moto.stepfunctions.parser.asl.parse import asl_parser

    parser = asl_parser.AmazonStateLanguageParser
    parse_whole = parser.parse
    trees: dict[str, Any] = {}
    lock = threading.Lock()

    def parse(definition: str) -> tuple[Any, Any]:
        with lock:
            tree = trees.get(definition)
        if tree is None:
            _, tree = parse_whole(definition)  # a definition that does not parse raises here
            with lock:
                if len(trees) >= PARSED_DEFINITIONS:
                    trees.pop(next(iter(trees)))
                trees[definition] = tree
        return asl_parser.Preprocessor().visit(tree), tree

    setattr(parser, "parse", staticmethod(parse))
