"""A job run's code, as Glue gets it: the script at the job's ``ScriptLocation`` and the modules
of its ``--extra-py-files``, read from S3 (LocalStack's), never from the working tree.

So a local run runs what was deployed: ``aws cloudformation package`` uploads the scripts under
content-addressed keys without ``.py`` (Glue writes the script to a ``.py`` file of its own
before running it; so does this), and a redeployment after an edit gives new keys. Each script
is fetched once per ETag into ``<cache>/<digest>/``, and each set of modules into
``<cache>/lib/<digest>/``, and reused by later runs.
"""

from __future__ import annotations

import hashlib
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from flightpipe.gluelocal.aws import s3_location

_lock = threading.Lock()
# Where modules are cached, beside the scripts' folders.
LIBRARIES = "lib"


class JobCodeError(RuntimeError):
    """The job's script or a library could not be read from S3."""


@dataclass(frozen=True)
class JobCode:
    script: Path
    libraries: Path | None  # a folder holding the --extra-py-files modules


def _split(uri: str) -> tuple[str, str]:
    try:
        bucket, key = s3_location(uri)
    except ValueError:
        bucket, key = "", ""
    if not key.strip("/"):
        raise JobCodeError(f"{uri!r} is not an s3://bucket/key URI")
    return bucket, key


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
        folder = cache / _digest(tags.items())
        name = PurePosixPath(_split(script_location)[1]).name
        script = folder / (name if name.endswith(".py") else name + ".py")
        libraries = _libraries(s3, cache, {uri: tags[uri] for uri in uris}) if uris else None
        if not script.is_file():
            folder.mkdir(parents=True, exist_ok=True)
            _fetch(s3, script_location, script)
    return JobCode(script, libraries)


def _digest(items: Any) -> str:
    return hashlib.sha256(repr(sorted(items)).encode()).hexdigest()[:16]


def _libraries(s3: Any, cache: Path, tags: dict[str, str]) -> Path:
    """The folder of the modules at ``tags``' URIs, one per set of modules and ETags, whichever
    job names them: jobs that share their modules share the folder (and so the files a warm
    Glue container has added)."""
    libraries = cache / LIBRARIES / _digest(tags.items())
    if not libraries.is_dir():
        partial = libraries.with_name(libraries.name + ".part")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        for uri in tags:
            _fetch(s3, uri, partial / PurePosixPath(_split(uri)[1]).name)
        partial.rename(libraries)
    return libraries
