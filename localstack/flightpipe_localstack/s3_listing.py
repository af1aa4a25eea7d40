"""S3 listings with ``EncodingType=url`` that start where they are asked to (LocalStack 4.13.1).

boto3 asks every ListObjects, ListObjectsV2 and ListObjectVersions for ``encoding-type=url`` and
decodes the answer. LocalStack then compares the *encoded* keys with the *raw* ``StartAfter``,
``Marker``, ``KeyMarker`` and continuation token (``services/s3/provider.py``,
``list_objects_v2``: ``key = urlparse.quote(s3_object.key) if encoding_type else ...`` then
``if key <= start_after: continue``). A key holding a character that encodes (``=`` in every
``daily_flights/date=YYYY-MM-DD/`` key) sorts before its raw self, so ``StartAfter=
"daily_flights/date=2013-01-04"`` returns nothing, and a listing of more than a page skips or
repeats keys. AWS compares raw keys (it lists "in ascending order based on the key name", the
key being the name, not its encoding) and encodes only what it returns: "Delimiter, Prefix, Key,
and StartAfter" (ListObjectsV2), "Delimiter, Marker, Prefix, NextMarker, Key" (ListObjects),
"KeyMarker, NextKeyMarker, Prefix, Key, and Delimiter" (ListObjectVersions), per the
EncodingType element of each in the Amazon S3 API Reference.

``install`` wraps the three so that LocalStack lists raw keys, and encodes those elements of the
answer afterwards, with the function LocalStack itself uses (``urllib.parse.quote``).
"""

from __future__ import annotations

import functools
import inspect
from typing import Any
from urllib.parse import quote

from flightpipe_localstack import patching

PATCH_ID = "flightpipe.s3_listing_encoding"
COMPARES_ENCODED = "key = urlparse.quote("
TOP_LEVEL = (
    "Prefix",
    "Delimiter",
    "StartAfter",
    "Marker",
    "NextMarker",
    "KeyMarker",
    "NextKeyMarker",
)
LISTS = {"Contents": "Key", "Versions": "Key", "DeleteMarkers": "Key", "CommonPrefixes": "Prefix"}
OPERATIONS = ("list_objects", "list_objects_v2", "list_object_versions")


def encode(answer: dict[str, Any]) -> dict[str, Any]:
    """The answer's key names URL-encoded, as S3 returns them for ``EncodingType=url``."""
    for field in TOP_LEVEL:
        if answer.get(field):
            answer[field] = quote(answer[field])
    for field, name in LISTS.items():
        for item in answer.get(field) or ():
            item[name] = quote(item[name])
    answer["EncodingType"] = "url"
    return answer


def install() -> bool:
    from localstack.services.s3.provider import S3Provider

    changed = False
    for name in OPERATIONS:
        original = vars(S3Provider).get(name)
        if original is None or patching.is_applied(S3Provider, name, PATCH_ID):
            continue

        def expect(current: Any) -> str | None:
            if "encoding_type" not in inspect.signature(current).parameters:
                return "has no 'encoding_type' parameter"
            if COMPARES_ENCODED not in inspect.getsource(current):
                return "no longer encodes keys before comparing them (fixed upstream?)"
            return None

        @functools.wraps(original)
        def listing(self: Any, *args: Any, _original=original, **kwargs: Any) -> Any:
            bound = inspect.signature(_original).bind(self, *args, **kwargs)
            encoding = bound.arguments.get("encoding_type")
            if not encoding:
                return _original(*bound.args, **bound.kwargs)
            bound.arguments["encoding_type"] = None
            return encode(_original(*bound.args, **bound.kwargs))

        changed |= patching.replace(S3Provider, name, listing, PATCH_ID, expect)
    return changed
