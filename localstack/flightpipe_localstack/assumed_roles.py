"""Step Functions' calls without a new role session and client for every task (LocalStack 4.13.1).

For every Task state, LocalStack's Step Functions makes the task's client afresh
(``services/stepfunctions/asl/utils/boto_client.py``, ``boto_client_for``): an STS AssumeRole of
the state machine's role through the gateway (``aws/connect.py``,
``ClientFactory.with_assumed_role``, a new session name each time), then a boto3 client for the
new credentials, which no cache can hold. Building a client costs about as much as the call it
makes (its share of LocalStack's CPU in a burst: docs/performance.md), and in a burst the
executions retry StartJobRun for a job slot and poll their runs many times a second, on the
cores the job runs need. AWS keeps a role session for its hour.

``install`` keeps the client factory of an assumed role, for one role, principal, region,
endpoint and configuration object, for ``REUSE_SECONDS`` (well within the hour the credentials
last), so that the clients it makes are LocalStack's cached ones. Every other caller of
``with_assumed_role`` (Lambda, EventBridge targets, ...) gains the same.
"""

from __future__ import annotations

import functools
import inspect
import threading
import time
from typing import Any

from flightpipe_localstack import patching

PATCH_ID = "flightpipe.assumed_roles"
REUSE_SECONDS = 900.0


def install() -> bool:
    from localstack.aws.connect import ClientFactory

    original = vars(ClientFactory).get("with_assumed_role")
    # key -> (made, factory, config): the config is kept so that its id is not reused. A
    # configuration is told by its object, not its options: botocore adds to them when a client
    # is made from it (``retries`` gains ``mode``).
    cache: dict[tuple[Any, ...], tuple[float, Any, Any]] = {}
    lock = threading.Lock()

    def expect(current: Any) -> str | None:
        source = inspect.getsource(current)
        if "assume_role(" not in source:
            return "no longer assumes the role itself"
        if "cache" in source:
            return "caches sessions itself now (then drop this patch)"
        return None

    @functools.wraps(original)
    def with_assumed_role(self: Any, **kwargs: Any) -> Any:
        if kwargs.get("session_name") is not None:  # a caller that names its session
            return original(self, **kwargs)
        key = (
            id(self),
            kwargs.get("role_arn"),
            kwargs.get("service_principal"),
            kwargs.get("region_name"),
            kwargs.get("endpoint_url"),
            id(kwargs.get("config")),
        )
        now = time.monotonic()
        with lock:
            found = cache.get(key)
            if found is not None and now - found[0] < REUSE_SECONDS:
                return found[1]
        factory = original(self, **kwargs)
        with lock:
            for old in [k for k, (made, *_) in cache.items() if now - made >= REUSE_SECONDS]:
                del cache[old]
            cache[key] = (now, factory, kwargs.get("config"))
        return factory

    return patching.replace(ClientFactory, "with_assumed_role", with_assumed_role, PATCH_ID, expect)
