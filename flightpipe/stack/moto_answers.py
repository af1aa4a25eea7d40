"""What moto 5.2.5 leaves out of its answers, put back as AWS answers it.

* S3 GetBucketNotificationConfiguration leaves out ``EventBridgeConfiguration``, although
  PutBucketNotificationConfiguration stores it and moto's S3 sends the bucket's events to
  EventBridge because of it (``moto/s3/responses.py``, ``get_bucket_notification``). AWS
  returns it (an empty element, which boto3 reads as ``{}``).
* Glue GetConnection leaves out ``ConnectionType`` (``moto/glue/models.py``,
  ``FakeConnection.as_dict``), which AWS returns and which moto keeps from CreateConnection.

Provisioning reads both to leave a resource alone when it already matches the template, and
the parity test compares them with the template. Only answers change, never state: the patches
are safe in any process using moto (the stack, and the functional tests' ``mock_aws``), on
moto's classes (no moto file is modified). ``tests/functional/test_template_parity.py`` fails
if they stop working.
"""

from __future__ import annotations

from typing import Any

_applied = False


def apply() -> None:
    """Apply every patch (idempotent)."""
    global _applied
    if _applied:
        return
    _bucket_event_bridge()
    _connection_type()
    _applied = True


def _bucket_event_bridge() -> None:
    from moto.core.responses import ActionResult
    from moto.s3.responses import S3Response

    original = S3Response.get_bucket_notification

    def get_bucket_notification(self: Any) -> Any:
        configuration = self.backend.get_bucket_notification_configuration(self.bucket_name)
        if configuration is None or configuration.event_bridge is None:
            return original(self)
        serialized = self.serialized

        def with_event_bridge(result: Any) -> Any:
            answer: Any = result.result if isinstance(result, ActionResult) else None
            fields = dict(answer or {})
            return serialized(ActionResult({**fields, "EventBridgeConfiguration": {}}))

        self.serialized = with_event_bridge
        try:
            return original(self)
        finally:
            del self.serialized

    setattr(S3Response, "get_bucket_notification", get_bucket_notification)


def _connection_type() -> None:
    from moto.glue.models import FakeConnection

    original = FakeConnection.as_dict

    def as_dict(self: Any, hide_password: bool = False) -> dict[str, Any]:
        answer = original(self, hide_password)
        if self.connection_input.get("ConnectionType"):
            answer["ConnectionType"] = self.connection_input["ConnectionType"]
        return answer

    setattr(FakeConnection, "as_dict", as_dict)
