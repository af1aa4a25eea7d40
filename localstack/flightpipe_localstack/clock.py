"""The local stack's clock: how the state machine's timers and AWS's durations map to real time.

A **scale** (``FLIGHTPIPE_TIME_SCALE``, simulated seconds per real second, default 40) for every
timer of the state machine and for Lambda's waits between asynchronous attempts
(``LAMBDA_RETRY_BASE_DELAY``, set by the launchers); timeouts (``TimeoutSeconds``,
``HeartbeatSeconds``) stay real seconds. A **model** (``FLIGHTPIPE_TIME_MODEL``) of how long
AWS's own work takes: ``local`` (the default: crawls and runs take what they take, ``.sync``
checks every 200 ms) or ``aws`` (``crawl_seconds``, ``job_start_seconds``, ``job_run_seconds``,
``sync_poll_seconds``, all simulated; the Glue service pads crawls and runs to them,
``flightpipe/stack/glue.py``). Why a clock of our own, and why 40 (10 with a container per run):
docs/decisions/local-clock.md; the sources of the model's figures: the comment above ``MODELS``.

This module is the model, shared by the LocalStack plugin (``install``, run by ``hooks.py``) and
the Glue service (``use``); it imports LocalStack only in ``install``.

The three waits of the interpreter, and what replaces them:

* Wait state (``Seconds``, ``SecondsPath``, ``Timestamp``, ``TimestampPath`` and the JSONata
  forms all end in ``WaitFunction._wait_interval(env, wait_seconds)``,
  ``asl/component/state/state_wait/wait_function/wait_function.py:15``): replaced by a wait of
  ``wait_seconds / scale`` real seconds on ``env.program_state_event``, cut short when the
  execution stops. (LocalStack's version rounds the waited time to whole seconds and, woken
  early, waits again for the difference: a fraction of a second would be waited as 0 and the
  remainder again.) A ``Timestamp`` is turned into seconds from now by LocalStack
  (``timestamp.py:84``), so it too is reached at the scale.
* Retry (``IntervalSeconds`` x ``BackoffRate``^n, capped by ``MaxDelaySeconds``, then
  ``JitterStrategy`` FULL's ``random.uniform(0, interval)``, all computed in simulated seconds
  by the ``*_decl.py`` components) ends in ``time.sleep(interval_seconds)`` in
  ``RetrierDecl._eval_body`` (``asl/component/common/retry/retrier_decl.py:105``): that module's
  ``time`` becomes an object whose ``sleep`` divides by the scale (everything else is ``time``).
* The ``.sync`` poll (``StateTaskServiceCallback._eval_sync``,
  ``.../state_task/service/state_task_service_callback.py:139-144``) calls the resolver (for
  ``glue:startJobRun.sync`` one ``GetJobRun``, ``state_task_service_glue.py:192-194``) at once,
  then every ``_DELAY_SECONDS_SYNC_CONDITION_CHECK`` real seconds (module constant, 0.5,
  line 49) until the run is terminal: set to the model's poll (60 simulated seconds with
  ``aws``), never below 0.2 s real (``local``).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from dataclasses import replace as dataclass_replace
from typing import Any

from flightpipe_localstack import patching
from flightpipe_localstack.patching import PatchError

PATCH_ID = "flightpipe.clock"
SCALE_VARIABLE = "FLIGHTPIPE_TIME_SCALE"
MODEL_VARIABLE = "FLIGHTPIPE_TIME_MODEL"
DEFAULT_SCALE = 40.0
MIN_SYNC_POLL_REAL_SECONDS = 0.2

# What the patches replace, as in LocalStack 4.13.1.
WAIT_INTERVAL_DIGEST = "2baecc23124b"  # WaitFunction._wait_interval's source
RETRY_SLEEP = "time.sleep(interval_seconds)"  # in RetrierDecl._eval_body
SYNC_SLEEP = (
    "time.sleep(_DELAY_SECONDS_SYNC_CONDITION_CHECK)"  # in StateTaskServiceCallback._eval_sync
)
SYNC_DELAY_DEFAULT = 0.5


@dataclass(frozen=True)
class TimeModel:
    name: str
    scale: float = DEFAULT_SCALE
    crawl_seconds: float = 0.0
    job_start_seconds: float = 0.0
    job_run_seconds: float = 0.0
    sync_poll_seconds: float = 0.0

    def real(self, simulated: float) -> float:
        return simulated / self.scale

    def simulated(self, real: float) -> float:
        return real * self.scale

    def pad(self, started: float, simulated_minimum: float) -> None:
        """Sleep until ``simulated_minimum`` has passed since ``started`` (time.monotonic())."""
        remaining = self.real(simulated_minimum) - (time.monotonic() - started)
        if remaining > 0:
            time.sleep(remaining)


# The ``aws`` model's figures (simulated seconds) and their sources:
# - crawl 60: an AWS maintainer's figure for an average small crawl ("average crawler runs about
#   60 s", aws-solutions-library-samples/cloud-intelligence-dashboards-framework #1024); AWS
#   documents no minimum;
# - job start 60 and run 120: AWS documents no start-up time in seconds for Glue 4.0/5.0
#   ("reduced startup latency") nor the time to attach the ENIs of a VPC connection, and bills a
#   run for at least a minute; the start is an assumption, and the run is two minutes so that
#   local runs of a small day fit in it at the simulation's scale (benchmarks/simulate.py) and
#   the simulated run is the model's, not the machine's;
# - .sync poll 60: Step Functions polls a Glue job "once per minute for the first 10 minutes,
#   and every 5 minutes thereafter" (AWS re:Post answer; the developer guide gives no interval);
#   the model keeps one minute throughout, since a modelled run ends well within ten.
MODELS = {
    "local": TimeModel("local"),
    "aws": TimeModel(
        "aws", crawl_seconds=60, job_start_seconds=60, job_run_seconds=120, sync_poll_seconds=60
    ),
}
_current = MODELS["local"]
_sync_delay: float | None = None  # the value this module gave the .sync constant


def from_environment(environ: dict[str, str] | None = None) -> TimeModel:
    env = os.environ if environ is None else environ
    name = env.get(MODEL_VARIABLE) or "local"
    if name not in MODELS:
        raise ValueError(f"{MODEL_VARIABLE}={name!r}: expected one of {', '.join(MODELS)}")
    given = env.get(SCALE_VARIABLE) or str(DEFAULT_SCALE)
    try:
        scale = float(given)
    except ValueError:
        scale = 0.0
    if not scale > 0:
        raise ValueError(f"{SCALE_VARIABLE}={given!r}: expected a number of seconds above 0")
    return dataclass_replace(MODELS[name], scale=scale)


def current() -> TimeModel:
    """The model in effect in this process (``local`` at the default scale until set)."""
    return _current


def use(model: TimeModel) -> None:
    """Make ``model`` this process's without patching anything: the Glue service, which pads
    crawls and job runs to the model's durations, runs no Step Functions."""
    global _current
    _current = model


class _ScaledTime:
    """``retrier_decl.time``: ``sleep`` on the model's clock, the rest is the ``time`` module."""

    @staticmethod
    def sleep(simulated: float) -> None:
        time.sleep(_current.real(simulated))

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def _wait_interval(self: Any, env: Any, wait_seconds: float) -> None:
    """A Wait state: ``wait_seconds`` simulated, cut short when the execution stops."""
    deadline = time.monotonic() + _current.real(wait_seconds)
    event: threading.Event = env.program_state_event
    while env.is_running():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        event.wait(remaining)


def _source_has(function: Any, text: str, where: str) -> None:
    import inspect

    if inspect.getsource(function).count(text) != 1:
        raise PatchError(f"[{PATCH_ID}] {where} no longer has '{text}' once: review the patch")


def install(model: TimeModel | None = None) -> TimeModel:
    """Run the interpreter's timers on ``model`` (the environment's by default). The patches are
    applied once; the model may change between calls."""
    global _current, _sync_delay
    model = from_environment() if model is None else model
    from localstack.services.stepfunctions.asl.component.common.retry import retrier_decl
    from localstack.services.stepfunctions.asl.component.state.state_execution.state_task.service import (  # noqa: E501
        state_task_service_callback as callback,
    )
    from localstack.services.stepfunctions.asl.component.state.state_wait.wait_function.wait_function import (  # noqa: E501
        WaitFunction,
    )

    # Check all three before changing any.
    _source_has(retrier_decl.RetrierDecl._eval_body, RETRY_SLEEP, "RetrierDecl._eval_body")
    _source_has(callback.StateTaskServiceCallback._eval_sync, SYNC_SLEEP, "_eval_sync")
    delay = getattr(callback, "_DELAY_SECONDS_SYNC_CONDITION_CHECK", None)
    if delay not in (SYNC_DELAY_DEFAULT, _sync_delay):
        raise PatchError(f"[{PATCH_ID}] _DELAY_SECONDS_SYNC_CONDITION_CHECK is {delay!r}, not 0.5")
    if not patching.is_applied(WaitFunction, "_wait_interval", PATCH_ID):
        problem = patching.expect_digest(WAIT_INTERVAL_DIGEST)(WaitFunction._wait_interval)
        if problem:
            raise PatchError(
                f"[{PATCH_ID}] WaitFunction._wait_interval: {problem}: review the patch"
            )

    _current = model
    patching.replace(WaitFunction, "_wait_interval", _wait_interval, PATCH_ID, lambda _: None)
    patching.replace(
        retrier_decl,
        "time",
        _ScaledTime(),
        PATCH_ID,
        lambda current: None if current is time else f"is {current!r}, not the time module",
    )
    _sync_delay = max(model.real(model.sync_poll_seconds), MIN_SYNC_POLL_REAL_SECONDS)
    callback._DELAY_SECONDS_SYNC_CONDITION_CHECK = _sync_delay
    return model
