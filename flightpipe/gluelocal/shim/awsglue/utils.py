"""``awsglue.utils``: job argument parsing that behaves as AWS's ``getResolvedOptions``
(AWSGlueDataplanePython 5.0.0, ``awsglue/utils.py``), which tests/unit/test_awsglue_conformance.py
runs side by side with this one on a corpus of arguments.

What AWS's version does, and this one therefore does too: argparse that raises
``GlueArgumentError`` instead of exiting; unknown arguments ignored; Glue's own arguments always
accepted; ``TempDir``/``RedshiftTempDir`` never required and copied onto each other; the
bookmark option defaulting to ``job-bookmark-disable`` (or translated from the older
``--continuation-option``); a bookmark range only with ``job-bookmark-pause``, and then both
ends. Reserved names are refused as AWS refuses them, quirks included: the bookmark and
continuation options by their bare names (``job-bookmark-from``), the run ids, encryption type
and data lineage only when spelled with their dashes (``--JOB_RUN_ID``); a bare ``JOB_RUN_ID``
fails in argparse instead, with its "conflicting option string" error.
"""

from __future__ import annotations

import argparse
import typing

from awsglue.job import Job

if typing.TYPE_CHECKING:
    from typing import Any, NoReturn

_global_args: dict[str, Any] = {}


class GlueArgumentError(Exception):
    pass


class GlueArgumentParser(argparse.ArgumentParser):
    def error(self, msg: str) -> NoReturn:
        raise GlueArgumentError(msg)


def _refuse_reserved(options: Any, name: str, shown: str | None = None) -> None:
    if name in options:
        raise RuntimeError("Using reserved arguments " + (shown or name))


def getResolvedOptions(args: Any, options: Any) -> dict[str, Any]:
    """Parse ``--KEY value`` or ``--KEY=value`` job arguments (``args[0]`` is the script);
    every name in ``options`` is required, except ``TempDir`` and ``RedshiftTempDir``."""
    parser = GlueArgumentParser()
    bookmark, continuation = Job.job_bookmark_options(), Job.continuation_options()
    _refuse_reserved(options, continuation[0][2:])
    _refuse_reserved(options, bookmark[0][2:])
    parser.add_argument(bookmark[0], choices=bookmark[1:], required=False)
    parser.add_argument(continuation[0], choices=continuation[1:], required=False)
    for flag in Job.job_bookmark_range_options():
        _refuse_reserved(options, flag[2:], flag)
        parser.add_argument(flag, required=False)
    for flag in Job.id_params()[1:]:  # a job may require --JOB_NAME
        _refuse_reserved(options, flag)
        parser.add_argument(flag, required=False)
    encryption = Job.encryption_type_options()
    _refuse_reserved(options, encryption[0])
    parser.add_argument(encryption[0], choices=encryption[1:])
    lineage = Job.data_lineage_options()[0]
    _refuse_reserved(options, lineage)
    parser.add_argument(lineage, required=False)

    temp_dirs = {"RedshiftTempDir", "TempDir"}
    required = [option for option in options if option not in temp_dirs]
    for name in ("RedshiftTempDir", "TempDir"):
        parser.add_argument("--" + name, required=False)
    for option in required:
        parser.add_argument("--" + option, required=True)

    parsed, _unknown = parser.parse_known_args(args[1:])
    resolved = vars(parsed)
    if resolved["TempDir"] is not None:
        resolved["RedshiftTempDir"] = resolved["TempDir"]
    elif resolved["RedshiftTempDir"] is not None:
        resolved["TempDir"] = resolved["RedshiftTempDir"]

    legacy = resolved.pop("continuation_option", None)
    if resolved.get("job_bookmark_option") is None:
        resolved["job_bookmark_option"] = (
            bookmark[3] if legacy is None else bookmark[continuation.index(legacy)]
        )
    _check_bookmark_range(resolved)
    _global_args.update(resolved)
    return resolved


def _check_bookmark_range(resolved: dict[str, Any]) -> None:
    """A range (``--job-bookmark-from``/``-to``) needs both ends with ``job-bookmark-pause``
    and is refused whole with any other bookmark option."""
    flags = Job.job_bookmark_range_options()
    absent = [f for f in flags if resolved.get(f[2:].replace("-", "_")) is None]
    if resolved["job_bookmark_option"] == "job-bookmark-pause":
        if len(absent) == 1:
            raise RuntimeError("Missing option or value for " + absent[0])
    elif not absent:
        raise RuntimeError("Invalid option(s)" + " ".join(flags))
