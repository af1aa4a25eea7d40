"""The local stack's clock: how the state machine's timers and AWS's durations map to real time.

Why our own: moto's Step Functions interpreter waits in real seconds (Wait states, Retry
intervals, the ``.sync`` poll), so the deployed definition's timers (a crawler polled every 30 s,
a job slot retried for minutes) would make a local burst take as long as on AWS, and a local
crawl or job run ends in a second where AWS's take minutes, so a test would never see the
retry budgets that a burst spends on AWS. Neither moto nor LocalStack offers a scaled clock.

The clock has a **scale**, simulated seconds per real second (``FLIGHTPIPE_TIME_SCALE``,
default 40: a simulated hour runs in 90 seconds). Every timer of the state machine runs at
that scale: a ``Wait`` of 30 s waits 0.75 s, a retry interval of 10 s waits 0.25 s. Nothing
else is scaled: execution and task timeouts stay real seconds (the longest execution's
simulated duration is reported by ``benchmarks/simulate.py`` beside the definition's
``TimeoutSeconds``).

Why 40 and not faster: the scale also shrinks the retry budgets in real time, while local job
runs do not speed up. The slot budget (ConcurrentRunsExceeded, about 1.5 simulated hours on
average) is 135 real seconds at 40x; a local burst of 30 days settles in 45 to 60 s, its last
day waiting about as long for a slot. At 60x (90 s) a burst whose runs were slower once ran out
of slot retries, a failure AWS would not have. Faster timers also cost CPU: every poll and
retry is a call through boto3 into this one process, beside the job runs. The first crawler
poll (30 simulated seconds) is most of what the clock adds to one day's flow: 0.75 s at 40x.

And a **model** of how long AWS's own work takes (``FLIGHTPIPE_TIME_MODEL``):

* ``local`` (default): crawls and job runs take the time they really take here; ``.sync``
  checks the job run every 200 ms. Local runs of a small day take 1.5 to 8 s (alone or in a
  burst), which at the default scale is 1 to 5 simulated minutes, no more than a Glue run
  takes, so the retry budgets are spent locally no faster than on AWS.
* ``aws``: each crawl stays RUNNING at least ``crawl_seconds``, each job run is STARTING for
  ``job_start_seconds`` and then RUNNING at least ``job_run_seconds``, and ``.sync`` polls every
  ``sync_poll_seconds`` (all simulated). The figures and their sources:

  - crawl 60 s: an AWS maintainer's figure for an average small crawl ("average crawler runs
    about 60 s", aws-solutions-library-samples/cloud-intelligence-dashboards-framework #1024);
    AWS documents no minimum;
  - job start 60 s and run 120 s: AWS documents no start-up time in seconds for Glue 4.0/5.0
    ("reduced startup latency") nor the time to attach the ENIs of a VPC connection, and a run
    is billed for at least a minute; the start is an assumption, and the run is two minutes so
    that local runs of a small day (2 to 5 s real, two at once) fit in it at the simulation's
    scale (20, ``benchmarks/simulate.py``) and the simulated run is the model's, not the
    machine's;
  - ``.sync`` poll 60 s: Step Functions polls a Glue job "once per minute for the first 10
    minutes, and every 5 minutes thereafter" (AWS re:Post answer; the developer guide gives no
    interval); the model keeps one minute throughout, since a modelled run ends well within ten.

The patches replace the waiting in moto's interpreter, nothing else: ``RetrierDecl`` sleeps
through the ``time`` of its module, ``WaitFunction._wait_interval`` is replaced (moto rounds
the waited seconds to whole seconds and would wait again forever for a fraction), and the
``.sync`` loop's delay is a module constant. ``tests/unit/test_clock.py`` pins each.
"""

from __future__ import annotations

import os
import threading
import time
import types
from dataclasses import dataclass, replace
from typing import Any

SCALE_VARIABLE = "FLIGHTPIPE_TIME_SCALE"
MODEL_VARIABLE = "FLIGHTPIPE_TIME_MODEL"
DEFAULT_SCALE = 40.0
# The shortest real pause of the ``.sync`` loop. A poll is a GetJobRun through boto3 and HTTP
# inside this process, which competes with the job runs for the interpreter: at 50 ms, two
# running jobs drew forty calls a second.
MIN_SYNC_POLL_REAL_SECONDS = 0.2


@dataclass(frozen=True)
class TimeModel:
    """How simulated seconds become real ones, and how long AWS's work lasts (simulated)."""

    name: str
    scale: float = DEFAULT_SCALE
    crawl_seconds: float = 0.0
    job_start_seconds: float = 0.0
    job_run_seconds: float = 0.0
    sync_poll_seconds: float = 0.0

    def real(self, simulated: float) -> float:
        """Real seconds for ``simulated`` seconds."""
        return simulated / self.scale

    def simulated(self, real: float) -> float:
        return real * self.scale

    def pad(self, started: float, simulated_minimum: float) -> None:
        """Sleep until ``simulated_minimum`` has passed since ``started`` (time.monotonic())."""
        remaining = self.real(simulated_minimum) - (time.monotonic() - started)
        if remaining > 0:
            time.sleep(remaining)


MODELS = {
    "local": TimeModel("local"),
    "aws": TimeModel(
        "aws", crawl_seconds=60, job_start_seconds=60, job_run_seconds=120, sync_poll_seconds=60
    ),
}

_current = MODELS["local"]
_installed = False


def from_environment(environ: dict[str, str] | None = None) -> TimeModel:
    """The model named by FLIGHTPIPE_TIME_MODEL at the scale FLIGHTPIPE_TIME_SCALE."""
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
    return replace(MODELS[name], scale=scale)


def current() -> TimeModel:
    """The model in effect in this process (``local`` at the default scale until installed)."""
    return _current


def install(model: TimeModel) -> None:
    """Run moto's Step Functions timers on ``model``'s clock (the patches once; the model may
    change between calls, as tests do)."""
    global _current, _installed
    _current = model
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_callback as callback_module,
    )

    callback_module._DELAY_SECONDS_SYNC_CONDITION_CHECK = max(  # type: ignore[misc]
        model.real(model.sync_poll_seconds), MIN_SYNC_POLL_REAL_SECONDS
    )
    if _installed:
        return
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import (
        WaitFunction,
    )

    setattr(retrier_decl, "time", types.SimpleNamespace(sleep=_scaled_sleep))
    setattr(WaitFunction, "_wait_interval", _wait_interval)
    _installed = True


def _scaled_sleep(simulated: float) -> None:
    time.sleep(_current.real(simulated))


def _wait_interval(self: Any, env: Any, wait_seconds: float) -> None:
    """A Wait state: ``wait_seconds`` simulated, cut short when the execution stops."""
    deadline = time.monotonic() + _current.real(wait_seconds)
    event: threading.Event = env.program_state_event
    while env.is_running():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        event.wait(remaining)
