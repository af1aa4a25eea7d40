"""SNS Publish as strict as AWS about a message's Subject (LocalStack 4.13.1).

A notification whose Subject SNS refuses is not sent: in the state machine the publish Task
fails and the run's real error is lost behind the notification's. LocalStack refuses only an
empty Subject (``services/sns/provider.py:563``, ``services/sns/v2/provider.py:649``: ``if
subject == "": raise InvalidParameterException("Invalid parameter: Subject")``), and
PublishBatch checks no Subject at all, so a Subject AWS refuses would pass every local test and
fail on the first odd key in AWS.

AWS's rule, from the Publish API reference (Subject): "Subjects must be ASCII text that begins
with a letter, number, or punctuation mark; must not include line breaks or control characters;
and must be less than 100 characters long." The reference now words it "UTF-8 text with no line
breaks or control characters, and less than 100 characters long"; the stricter reading is the
one enforced here, since what the older text forbids may still be refused. AWS answers
``InvalidParameter`` with the message "Invalid parameter: Subject", whatever the fault: the
answer users report for a 101-character Subject (getmoto/moto#1503) and for an empty one
(wellcomecollection/platform#1107). The log says which rule was broken.

``install`` wraps ``SnsProvider.publish`` (and ``publish_batch``: the whole batch is refused, as
LocalStack does for other invalid entries) of both providers to check the Subject first;
Publish, PublishBatch and Step Functions' ``sns:publish`` (a boto3 call through the gateway) all
reach them.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import logging
import string
from typing import Any

from flightpipe_localstack import patching

log = logging.getLogger("flightpipe.sns")

PATCH_ID = "flightpipe.sns_subject"
PROVIDERS = ("localstack.services.sns.provider", "localstack.services.sns.v2.provider")
LENIENT_CHECK = 'if subject == "":'  # what LocalStack checks, all it checks
SUBJECT_LIMIT = 100
INVALID_SUBJECT = "Invalid parameter: Subject"
_FIRST = frozenset(string.ascii_letters + string.digits + string.punctuation)


def subject_problem(subject: str) -> str | None:
    """Why SNS refuses ``subject``, or None when it is a valid Subject."""
    if not subject:
        return "it is empty"
    if len(subject) >= SUBJECT_LIMIT:
        return f"it has {len(subject)} characters, not less than {SUBJECT_LIMIT}"
    for position, character in enumerate(subject):
        if not " " <= character <= "~":
            kind = "a line break" if character in "\r\n" else f"character {character!r}"
            return f"{kind} at {position}: only printable ASCII is allowed"
    if subject[0] not in _FIRST:
        return "it does not begin with a letter, number or punctuation mark"
    return None


def _check(subject: Any, error: type[Exception]) -> None:
    if subject is None:
        return
    problem = subject_problem(subject)
    if problem is not None:
        log.warning("SNS Publish refused, Subject %r: %s", subject, problem)
        raise error(INVALID_SUBJECT)


def install() -> bool:
    from localstack.aws.api.sns import InvalidParameterException

    changed = False
    for name in PROVIDERS:
        cls = importlib.import_module(name).SnsProvider
        if patching.is_applied(cls, "publish", PATCH_ID) and patching.is_applied(
            cls, "publish_batch", PATCH_ID
        ):
            continue
        publish, batch = vars(cls).get("publish"), vars(cls).get("publish_batch")
        if publish is None or batch is None:
            raise patching.PatchError(
                f"[{PATCH_ID}] {name}.SnsProvider has no publish/publish_batch"
            )

        def expect_publish(current: Any) -> str | None:
            if "subject" not in inspect.signature(current).parameters:
                return "has no 'subject' parameter"
            if LENIENT_CHECK not in inspect.getsource(current):
                return f"no longer has '{LENIENT_CHECK}' (stricter now? then drop this patch)"
            return None

        def expect_batch(current: Any) -> str | None:
            parameters = inspect.signature(current).parameters
            return None if "publish_batch_request_entries" in parameters else "signature changed"

        @functools.wraps(publish)
        def strict_publish(self: Any, context: Any, *args: Any, _publish=publish, **kwargs: Any):
            bound = inspect.signature(_publish).bind_partial(self, context, *args, **kwargs)
            _check(bound.arguments.get("subject"), InvalidParameterException)
            return _publish(self, context, *args, **kwargs)

        @functools.wraps(batch)
        def strict_batch(self: Any, context: Any, *args: Any, _batch=batch, **kwargs: Any):
            bound = inspect.signature(_batch).bind_partial(self, context, *args, **kwargs)
            for entry in bound.arguments.get("publish_batch_request_entries") or ():
                _check(entry.get("Subject"), InvalidParameterException)
            return _batch(self, context, *args, **kwargs)

        changed |= patching.replace(cls, "publish", strict_publish, PATCH_ID, expect_publish)
        changed |= patching.replace(cls, "publish_batch", strict_batch, PATCH_ID, expect_batch)
    return changed
