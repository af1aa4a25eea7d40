"""SNS Publish in the local stack, as strict as AWS about a message's Subject.

A notification whose Subject SNS refuses is not sent: in the state machine the publish Task
fails and the real error of the run is lost behind the notification's. moto 5.2.5 refuses only
a Subject longer than 100 characters (``len(subject) > 100``, in words of its own), so a Subject
that AWS refuses would pass every local test and fail on the first odd key in AWS.

AWS's rule, from the Publish API reference (Subject): "Subjects must be ASCII text that begins
with a letter, number, or punctuation mark; must not include line breaks or control characters;
and must be less than 100 characters long." The reference now words it "UTF-8 text with no line
breaks or control characters, and less than 100 characters long"; the stricter reading is the
one enforced here, since what the older text forbids may still be refused. AWS answers
``InvalidParameter`` with the message "Invalid parameter: Subject", whatever the fault: the
answer users report for a 101-character Subject (getmoto/moto#1503) and for an empty one
(wellcomecollection/platform#1107). The local log says which rule was broken.

``install`` makes moto's ``SNSBackend.publish`` refuse such a Subject with that error; Publish,
PublishBatch (as a failed entry) and the Step Functions ``sns:publish`` integration all go
through it.
"""

from __future__ import annotations

import logging
import string
from typing import Any

log = logging.getLogger("flightpipe.stack.sns")

SUBJECT_LIMIT = 100  # a Subject must be shorter than this
INVALID_SUBJECT = "Invalid parameter: Subject"
_FIRST = frozenset(string.ascii_letters + string.digits + string.punctuation)
_installed = False


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


def install() -> None:
    """Patch moto's SNS Publish to refuse the Subjects AWS refuses (idempotent)."""
    global _installed
    if _installed:
        return
    from moto.sns.exceptions import InvalidParameterValue
    from moto.sns.models import SNSBackend

    publish = SNSBackend.publish

    def strict_publish(self: Any, message: str, *args: Any, **kwargs: Any) -> str:
        subject = kwargs.get("subject")
        if subject is not None:
            problem = subject_problem(subject)
            if problem is not None:
                log.warning("SNS Publish refused, Subject %r: %s", subject, problem)
                raise InvalidParameterValue(INVALID_SUBJECT)
        return publish(self, message, *args, **kwargs)

    setattr(SNSBackend, "publish", strict_publish)
    _installed = True
