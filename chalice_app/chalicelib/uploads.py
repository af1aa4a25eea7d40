"""S3 "Object Created" events -> the pipeline work they ask for, validated at the edge.

Only two kinds of key mean work: ``daily_flights/date=YYYY-MM-DD/<name>.csv`` (a real calendar
date; any name S3 allows that is not hidden, i.e. not starting with ``_`` or ``.``, the objects
Hive and Glue skip, as the day job does) and the airports dimension key. Anything else is
ignored with a log line naming it. Key text never becomes an execution name (that is a digest)
nor a notification subject; it reaches SQL only as a JDBC parameter of the jobs' prepared
statements (``glue_job/flightjob/warehouse.py``), never as SQL text.

The idempotency key is the object version: the data bucket is versioned, and S3 puts the
version id in the event (``detail.object["version-id"]``), so every upload, identical bytes
included, runs once, and a second delivery of the same event (EventBridge and Lambda both
deliver at least once) starts nothing. Without a version id (a bucket that is not versioned)
the ETag stands in, which cannot tell a re-upload of the same bytes from a duplicate event.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date
from typing import Any

_DAY_KEY = re.compile(
    r"^(?P<prefix>.+/)?date=(?P<day>\d{4}-\d{2}-\d{2})/(?P<name>[^/_.][^/]*)\.(?i:csv)\Z", re.DOTALL
)


@dataclass(frozen=True)
class Upload:
    """A validated upload: a day of flights, or the airports dimension."""

    kind: str  # "day" or "airports"
    bucket: str
    key: str
    etag: str
    flight_date: date | None = None
    version_id: str | None = None

    @property
    def execution_name(self) -> str:
        """One name per object version (per ETag when the bucket is not versioned): a duplicate
        event finds its execution started, a new upload gets a new name. At most 80 characters.
        """
        identity = f"v:{self.version_id}" if self.version_id else f"e:{self.etag}"
        digest = hashlib.sha256(f"{self.bucket}/{self.key}#{identity}".encode()).hexdigest()[:32]
        label = self.flight_date.isoformat() if self.flight_date else "airports"
        return f"{label}-{digest}"

    def execution_input(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "bucket": self.bucket,
            "key": self.key,
            "etag": self.etag,
            "version_id": self.version_id,
            "flight_date": self.flight_date.isoformat() if self.flight_date else None,
        }


class Ignored(ValueError):
    """The event names an object the pipeline does not process; the message says why."""


def parse_upload(
    detail: dict[str, Any], expected_bucket: str, flights_prefix: str, airports_key: str
) -> Upload:
    """The upload an EventBridge S3 "Object Created" detail describes, or Ignored."""
    bucket = str(detail.get("bucket", {}).get("name", ""))
    obj = detail.get("object", {})
    key, etag = str(obj.get("key", "")), str(obj.get("etag", ""))
    # "null" is the version id of an object written while versioning was never enabled or
    # suspended: every such upload reuses it, so it identifies nothing.
    version = str(obj.get("version-id") or "")
    version_id = version if version not in ("", "null") else None
    if bucket != expected_bucket:
        raise Ignored(f"s3://{bucket}/{key}: not the data bucket {expected_bucket}")
    if not etag:
        raise Ignored(f"s3://{bucket}/{key}: event has no object etag")
    if key == airports_key:
        return Upload("airports", bucket, key, etag, version_id=version_id)
    match = _DAY_KEY.match(key)
    if (
        not key.startswith(flights_prefix)
        or match is None
        or match.group("prefix") != flights_prefix
    ):
        raise Ignored(
            f"s3://{bucket}/{key}: not {flights_prefix}date=YYYY-MM-DD/<name>.csv "
            f"nor {airports_key}"
        )
    try:
        day = date.fromisoformat(match.group("day"))
    except ValueError:
        raise Ignored(f"s3://{bucket}/{key}: {match.group('day')} is not a calendar date") from None
    return Upload("day", bucket, key, etag, day, version_id)
