"""S3 -> EventBridge events with the object key as S3 stored it (LocalStack 4.13.1).

LocalStack builds one notification context per event with ``key_name=quote(s3_object.key)``
(``services/s3/notifications.py:148``) and puts that in every notifier's payload, EventBridge's
too (``EventBridgeNotifier._get_event_payload``, ``notifications.py:651``): a key
``daily_flights/date=2024-01-02/part 1.csv`` reaches a rule as
``daily_flights/date%3D2024-01-02/part%201.csv``. AWS URL-encodes the key only in the classic
notification records (S3 User Guide, "Event message structure": SQS/SNS/Lambda, "red
flower.jpg" -> "red+flower.jpg"). For EventBridge its guide ("EventBridge event message
structure") shows no key that would encode; a real event a user published
(gist.github.com/vincentclaes/7a5eb53acc05b316c86769fed25d4e1a) has ``:`` unencoded in
``detail.object.key``, where classic notifications give ``%3A``. The pipeline's handler takes
the key as stored: with LocalStack's encoding ``parse_upload`` would find no ``date=`` and
ignore every day.

``install`` wraps ``EventBridgeNotifier._get_event_payload`` to build the payload from a copy
of the context whose key is unquoted (``unquote(quote(k)) == k``). The other notifiers keep
LocalStack's encoding.
"""

from __future__ import annotations

import dataclasses
import inspect
from urllib.parse import unquote

from flightpipe_localstack import patching

PATCH_ID = "flightpipe.s3_eventbridge_key"
QUOTED = "key_name=quote(s3_object.key)"  # in S3EventNotificationContext.from_request_context
USED = '"key": ctx.key_name'  # in EventBridgeNotifier._get_event_payload


def install() -> bool:
    from localstack.services.s3 import notifications

    cls = notifications.EventBridgeNotifier
    current = vars(cls).get("_get_event_payload")
    if (
        isinstance(current, staticmethod)
        and getattr(current.__func__, patching.MARK, None) == PATCH_ID
    ):
        return False
    if QUOTED not in inspect.getsource(
        notifications.S3EventNotificationContext.from_request_context
    ):
        raise patching.PatchError(
            f"[{PATCH_ID}] the context no longer has '{QUOTED}': review the patch"
        )

    def expect(value) -> str | None:
        if not isinstance(value, staticmethod):
            return f"is {type(value).__name__}, not a staticmethod"
        return None if USED in inspect.getsource(value.__func__) else f"no longer uses '{USED}'"

    original = current.__func__ if isinstance(current, staticmethod) else current

    def _get_event_payload(ctx, config_id=None):
        return original(dataclasses.replace(ctx, key_name=unquote(ctx.key_name)), config_id)

    setattr(_get_event_payload, patching.MARK, PATCH_ID)
    _get_event_payload.__wrapped__ = original
    return patching.replace(
        cls, "_get_event_payload", staticmethod(_get_event_payload), PATCH_ID, expect
    )
