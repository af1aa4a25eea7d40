"""EventBridge delivers no event to a disabled rule's targets (LocalStack 4.13.1).

"When you disable a rule, the rule no longer matches events" (EventBridge API reference,
DisableRule; a rule's ``State`` is ``ENABLED`` or ``DISABLED``, PutRule). LocalStack keeps the
state (``DisableRule`` sets ``rule.state = RuleState.DISABLED``, ``services/events/provider.py``)
but ``EventsProvider._process_rules``, which matches an event against one rule and sends it to
that rule's targets, never looks at it: an upload still starts an execution through a rule
someone disabled to stop exactly that (a backfill that takes uploads aside, an operator during an
incident), so local runs would load a day twice that AWS loads once.

``install`` wraps ``_process_rules`` to skip a rule whose state is ``DISABLED``.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

from flightpipe_localstack import patching

PATCH_ID = "flightpipe.events_disabled_rules"


def install() -> bool:
    from localstack.aws.api.events import RuleState
    from localstack.services.events.provider import EventsProvider

    original = vars(EventsProvider).get("_process_rules")

    def expect(current: Any) -> str | None:
        source = inspect.getsource(current)
        if ".state" in source:
            return "looks at the rule's state itself now (fixed upstream?)"
        return None if "rule.event_pattern" in source else "no longer matches rule.event_pattern"

    @functools.wraps(original)
    def _process_rules(self: Any, rule: Any, *args: Any, **kwargs: Any) -> Any:
        if getattr(rule, "state", None) == RuleState.DISABLED:
            return None
        return original(self, rule, *args, **kwargs)

    return patching.replace(EventsProvider, "_process_rules", _process_rules, PATCH_ID, expect)
