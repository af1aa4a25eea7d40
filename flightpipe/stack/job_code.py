"""A job run's code, as Glue gets it: the script at the job's ``ScriptLocation`` and the modules
of its ``--extra-py-files``, read from S3 (LocalStack's), never from the working tree.

So a local run runs what was deployed: ``aws cloudformation package`` uploads the scripts under
content-addressed keys without ``.py`` (Glue writes the script to a ``.py`` file of its own
before running it; so does this), and a redeployment after an edit gives new keys. Each object
is fetched once per ETag into ``<cache>/<digest>/`` and reused by later runs.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

_lock = threading.Lock()


class JobCodeError(RuntimeError):
    """The job's script or a library could not be read from S3."""


@dataclass(frozen=True)
class JobCode:
    script: Path
    libraries: Path | None  # a folder holding the --extra-py-files modules


def _split(uri: str) -> tuple[str, str]:
    parts = urlsplit(uri)
    if parts.scheme != "s3" or not parts.netloc or not parts.path.strip("/"):
        raise JobCodeError(f"{uri!r} is not an s3://bucket/key URI")
    return parts.netloc, parts.path.lstrip("/")


def _etag(s3: Any, uri: str) -> str:
    bucket, key = _split(uri)
    try:
        return str(s3.head_object(Bucket=bucket, Key=key)["ETag"])
    except Exception as error:  # botocore's ClientError, or the endpoint unreachable
        raise JobCodeError(f"cannot read {uri}: {error}") from error


def _fetch(s3: Any, uri: str, target: Path) -> None:
    bucket, key = _split(uri)
    partial = target.with_name(target.name + ".part")
    s3.download_file(bucket, key, str(partial))
    partial.replace(target)


def fetch(s3: Any, cache: Path, script_location: str, extra_py_files: str | None) -> JobCode:
    """The run's script and libraries, fetched unless already cached for the same ETags."""
    uris = [u.strip() for u in (extra_py_files or "").split(",") if u.strip()]
    tags = {uri: _etag(s3, uri) for uri in [script_location, *uris]}
    with _lock:
        digest = hashlib.sha256(repr(sorted(tags.items())).encode()).hexdigest()[:16]
        folder = cache / digest
        name = PurePosixPath(_split(script_location)[1]).name
        script = folder / (name if name.endswith(".py") else name + ".py")
        libraries = folder / "lib" if uris else None
        if not script.is_file():
            folder.mkdir(parents=True, exist_ok=True)
            if libraries is not None:
                libraries.mkdir(exist_ok=True)
                for uri in uris:
                    _fetch(s3, uri, libraries / PurePosixPath(_split(uri)[1]).name)
            _fetch(s3, script_location, script)
    return JobCode(script, libraries)
