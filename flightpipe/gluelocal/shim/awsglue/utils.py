"""``awsglue.utils``: job argument parsing, behaving as AWS's ``getResolvedOptions``.

Mirrors awslabs/aws-glue-libs ``awsglue/utils.py``: argparse that raises ``GlueArgumentError``
instead of exiting, unknown arguments ignored, Glue's reserved arguments always accepted (and
refused as option names), ``TempDir``/``RedshiftTempDir`` never required and aliased to each
other, and the bookmark option defaulting to ``job-bookmark-disable``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any, NoReturn

_global_args: dict[str, Any] = {}

BOOKMARK_OPTIONS = ("job-bookmark-enable", "job-bookmark-pause", "job-bookmark-disable")
CONTINUATION_OPTIONS = ("continuation-enabled", "continuation-readonly", "continuation-ignore")
ID_PARAMS = ("--JOB_ID", "--JOB_RUN_ID", "--SECURITY_CONFIGURATION")


class GlueArgumentError(Exception):
    pass


class GlueArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise GlueArgumentError(message)


def getResolvedOptions(args: Sequence[str], options: Sequence[str]) -> dict[str, Any]:
    """Parse ``--KEY value`` or ``--KEY=value`` job arguments; ``options`` are all required."""
    parser = GlueArgumentParser()
    reserved = {
        "continuation-option": "continuation-option",
        "job-bookmark-option": "job-bookmark-option",
        "job-bookmark-from": "--job-bookmark-from",
        "job-bookmark-to": "--job-bookmark-to",
        **{p[2:]: p for p in ID_PARAMS},
        "encryption-type": "--encryption-type",
        "enable-data-lineage": "--enable-data-lineage",
    }
    for option in options:
        if option in reserved:
            raise RuntimeError("Using reserved arguments " + reserved[option])

    parser.add_argument("--job-bookmark-option", choices=BOOKMARK_OPTIONS, required=False)
    parser.add_argument("--continuation-option", choices=CONTINUATION_OPTIONS, required=False)
    parser.add_argument("--job-bookmark-from", required=False)
    parser.add_argument("--job-bookmark-to", required=False)
    for param in ID_PARAMS:
        parser.add_argument(param, required=False)
    parser.add_argument("--encryption-type", choices=["sse-s3"], required=False)
    parser.add_argument("--enable-data-lineage", required=False)
    parser.add_argument("--RedshiftTempDir", required=False)
    parser.add_argument("--TempDir", required=False)
    for option in options:
        if option in ("RedshiftTempDir", "TempDir"):
            continue
        parser.add_argument("--" + option, required=True)

    parsed, _extra = parser.parse_known_args(list(args)[1:])
    result = vars(parsed)
    if result["TempDir"] is not None:
        result["RedshiftTempDir"] = result["TempDir"]
    elif result["RedshiftTempDir"] is not None:
        result["TempDir"] = result["RedshiftTempDir"]

    continuation = result.pop("continuation_option", None)
    if result["job_bookmark_option"] is None:
        if continuation is None:
            result["job_bookmark_option"] = BOOKMARK_OPTIONS[2]
        else:
            result["job_bookmark_option"] = BOOKMARK_OPTIONS[
                CONTINUATION_OPTIONS.index(continuation)
            ]
    _check_bookmark_range(result)
    _global_args.update(result)
    return result


def _check_bookmark_range(result: dict[str, Any]) -> None:
    start, end = result["job_bookmark_from"], result["job_bookmark_to"]
    if result["job_bookmark_option"] == "job-bookmark-pause":
        if start is None and end is not None:
            raise RuntimeError("Missing option or value for --job-bookmark-from")
        if end is None and start is not None:
            raise RuntimeError("Missing option or value for --job-bookmark-to")
    elif start is not None and end is not None:
        raise RuntimeError("Invalid option(s)--job-bookmark-from --job-bookmark-to")
