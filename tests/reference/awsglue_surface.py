"""Describe an ``awsglue`` package as plain data: its public names with their signatures and
defaults, and what its pure-Python checks do on fixed input cases.

tests/unit/test_awsglue_conformance.py runs this file as a script, with AWS's package
(``.venv/reference/aws-glue``) as the only ``awsglue`` on the path, and imports it to describe
the local shim the same way. It uses the standard library only, so both sides import it the
same way, and it never starts a JVM: only code that AWS runs before reaching Glue's JVM
classes is exercised.
"""

from __future__ import annotations

import datetime
import importlib
import inspect
import json
import sys
import types
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

# (argv, options) for getResolvedOptions: every rule of AWS's, its quirks and odd inputs.
RESOLVED_OPTIONS_CASES: list[tuple[Any, Any]] = [
    (["job.py", "--JOB_NAME", "j", "--day=2013-01-01", "--extra", "x"], ["JOB_NAME", "day"]),
    (["job.py"], []),
    ([], ["a"]),
    (["job.py"], ["a", "b"]),
    (["job.py", "--JOB_NAME", "j"], ["JOB_NAME", "day"]),
    (["job.py", "--JOB_NAME"], ["JOB_NAME"]),
    (["job.py", "--a", "1", "--a", "2"], ["a"]),
    (["job.py", "--a="], ["a"]),
    (["job.py", "--a", "-5"], ["a"]),
    (["job.py", "--a", "--b", "x"], ["a", "b"]),
    (["job.py", "--fl", "x"], ["flight_date"]),
    (["job.py", "--fl", "x"], ["flight_date", "flight_time"]),
    (["job.py", "--a-b", "x"], ["a-b"]),
    (
        [
            "job.py",
            "--JOB_NAME",
            "j",
            "--JOB_ID",
            "i",
            "--JOB_RUN_ID",
            "r",
            "--SECURITY_CONFIGURATION",
            "s",
        ],
        ["JOB_NAME"],
    ),
    *(
        (["job.py", "--JOB_RUN_ID", "r"], [name])
        for name in (
            "continuation-option",
            "--continuation-option",
            "job-bookmark-option",
            "job-bookmark-from",
            "--job-bookmark-from",
            "job-bookmark-to",
            "JOB_ID",
            "--JOB_ID",
            "JOB_RUN_ID",
            "--JOB_RUN_ID",
            "SECURITY_CONFIGURATION",
            "--SECURITY_CONFIGURATION",
            "encryption-type",
            "--encryption-type",
            "enable-data-lineage",
            "--enable-data-lineage",
            "JOB_NAME",
            "job_bookmark_option",
            "continuation_option",
        )
    ),
    (["job.py", "--TempDir", "s3://b/t/"], ["TempDir"]),
    (["job.py", "--RedshiftTempDir", "s3://b/r/"], ["RedshiftTempDir"]),
    (["job.py", "--TempDir", "s3://b/t/", "--RedshiftTempDir", "s3://b/r/"], []),
    (["job.py"], ["TempDir", "RedshiftTempDir"]),
    (["job.py", "--job-bookmark-option", "job-bookmark-enable"], []),
    (["job.py", "--job-bookmark-option", "job-bookmark-bogus"], []),
    (["job.py", "--continuation-option", "continuation-enabled"], []),
    (["job.py", "--continuation-option", "continuation-readonly"], []),
    (
        [
            "job.py",
            "--continuation-option",
            "continuation-ignore",
            "--job-bookmark-option",
            "job-bookmark-enable",
        ],
        [],
    ),
    (["job.py", "--job-bookmark-option", "job-bookmark-pause"], []),
    (["job.py", "--job-bookmark-option", "job-bookmark-pause", "--job-bookmark-from", "1"], []),
    (["job.py", "--job-bookmark-option", "job-bookmark-pause", "--job-bookmark-to", "2"], []),
    (
        [
            "job.py",
            "--job-bookmark-option",
            "job-bookmark-pause",
            "--job-bookmark-from",
            "1",
            "--job-bookmark-to",
            "2",
        ],
        [],
    ),
    (["job.py", "--job-bookmark-from", "1", "--job-bookmark-to", "2"], []),
    (["job.py", "--job-bookmark-from", "1"], []),
    (["job.py", "--encryption-type", "sse-s3"], []),
    (["job.py", "--encryption-type", "sse-kms"], []),
    (["job.py", "--enable-data-lineage", "true"], []),
    (["job.py", "--job_bookmark_option", "x"], ["job_bookmark_option"]),
    (["job.py", "--continuation_option", "x"], ["continuation_option"]),
    (("job.py", "--a", "1"), ("a",)),
    (["job.py", "--a", "1"], ["a", "a"]),
    (["job.py"], ["TempDir", "TempDir"]),
    (["job.py", "--a", "x", "--b", "y"], "ab"),
    (["job.py"], [["a"]]),
    (["job.py"], [1]),
    (["job.py"], [""]),
    ("job.py --a 1", ["a"]),
]

# Values given as connection_options / additional_options, which AWS passes to makeOptions.
OPTIONS_CASES: list[Any] = [
    {},
    {"dbtable": "t", "preactions": "a;b", "n": 1, "x": 1.5, "l": [1, "x"], "k": {"z": None}},
    {1: "an int key", "t": ("a", "b"), "f": float("nan")},
    OrderedDict(dbtable="t"),
    {"d": datetime.date(2013, 1, 1)},
    {"s": {"a"}},
    {"b": b"bytes"},
    None,
    "{}",
    [("dbtable", "t")],
    3,
]

# Keyword arguments of DynamicFrameReader.from_catalog that AWS refuses before any JVM call.
READER_CASES: list[dict[str, Any]] = [
    {},
    {"table_name": "t"},
    {"database": "d", "name_space": "n", "table_name": "t"},
    {"database": "d"},
    {"name_space": "n"},
    {"database": None, "table_name": None},
]

# Frames that GlueContext.write_dynamic_frame_from_jdbc_conf refuses before any JVM call.
WRITER_FRAME_CASES: list[Any] = [None, "frame", 3, {"dbtable": "t"}]


def _origin(obj: Any) -> str | None:
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if isinstance(module, str) and isinstance(qualname, str):
        return f"{module}.{qualname}"
    return None


def _is_awsglue(origin: str | None) -> bool:
    return origin is not None and (origin == "awsglue" or origin.startswith("awsglue."))


def _value(obj: Any) -> str:
    if isinstance(obj, set | frozenset):
        return f"{type(obj).__name__}({sorted(obj, key=repr)!r})"
    return repr(obj)


def _signature(function: Callable[..., Any]) -> list[list[Any]] | None:
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return None
    return [
        [
            p.name,
            p.kind.name,
            None if p.default is inspect.Parameter.empty else _value(p.default),
        ]
        for p in signature.parameters.values()
    ]


def _member(cls: type, name: str) -> dict[str, Any]:
    owner = next(k for k in cls.__mro__ if name in vars(k))
    raw = vars(owner)[name]
    described: dict[str, Any] = {"defined_in": _origin(owner)}
    if isinstance(raw, classmethod | staticmethod):
        kind = type(raw).__name__
        described |= {"kind": kind, "signature": _signature(raw.__func__)}
        parameters = described["signature"] or []
        if kind == "classmethod" and _is_awsglue(_origin(owner)) and len(parameters) == 1:
            described["returns"] = _outcome(lambda: _value(getattr(cls, name)()))
    elif isinstance(raw, property):
        described["kind"] = "property"
    elif isinstance(raw, types.FunctionType):
        described |= {"kind": "function", "signature": _signature(raw)}
    elif callable(raw):
        described |= {"kind": "builtin", "signature": _signature(raw)}
    else:
        described |= {"kind": "data", "value": _value(raw)}
    return described


def _describe(obj: Any) -> dict[str, Any]:
    origin = _origin(obj)
    if not _is_awsglue(origin) and (isinstance(obj, type) or callable(obj)):
        return {"kind": "import", "origin": origin}
    if isinstance(obj, type):
        names = sorted({n for n in dir(obj) if not n.startswith("_")} | {"__init__"})
        return {
            "kind": "class",
            "origin": origin,
            "bases": [_origin(base) for base in obj.__bases__],
            "members": {name: _member(obj, name) for name in names},
        }
    if callable(obj):
        return {"kind": "function", "origin": origin, "signature": _signature(obj)}
    return {"kind": "data", "value": _value(obj)}


def describe_module(name: str) -> dict[str, Any]:
    """The module's public names (imports included, modules and ``__future__`` directives not:
    they are not names a job can use), each described; ``{"missing": ...}`` if it cannot be
    imported."""
    try:
        module = importlib.import_module(name)
    except ImportError as error:
        return {"missing": f"{type(error).__name__}: {error}"}
    names: dict[str, Any] = {}
    for attribute, obj in vars(module).items():
        if (
            attribute.startswith("_")
            or isinstance(obj, types.ModuleType)
            or type(obj).__module__ == "__future__"
        ):
            continue
        names[attribute] = _describe(obj)
    if "__all__" in vars(module):
        names["__all__"] = {"kind": "data", "value": repr(module.__all__)}
    return {"file": module.__file__, "names": names}


def _outcome(call: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
    try:
        return {"returns": call(*args, **kwargs)}
    except (Exception, SystemExit) as error:
        return {"raises": [f"{type(error).__module__}.{type(error).__qualname__}", str(error)]}


def resolved_options() -> list[dict[str, Any]]:
    """``getResolvedOptions`` on every case: the dict as a list of items (order matters)."""
    from awsglue.utils import getResolvedOptions

    def items(argv: Any, options: Any) -> list[list[Any]]:
        return [list(item) for item in getResolvedOptions(argv, options).items()]

    return [_outcome(items, argv, options) for argv, options in RESOLVED_OPTIONS_CASES]


def options_outcomes(to_json: Callable[[Any], str]) -> list[dict[str, Any]]:
    """What each options case becomes on its way to the JVM: a JSON string, or an error."""
    return [_outcome(to_json, case) for case in OPTIONS_CASES]


def reader_outcomes() -> list[dict[str, Any]]:
    from awsglue.dynamicframe import DynamicFrameReader

    return [_outcome(DynamicFrameReader(None).from_catalog, **c) for c in READER_CASES]


def writer_outcomes() -> list[dict[str, Any]]:
    """``write_dynamic_frame_from_jdbc_conf`` on an uninitialised GlueContext: only the checks
    made before anything touches the context (or the JVM) can answer."""
    from awsglue.context import GlueContext

    context = object.__new__(GlueContext)
    write = context.write_dynamic_frame_from_jdbc_conf
    return [_outcome(write, frame, "connection") for frame in WRITER_FRAME_CASES]


def surface(module_names: Iterable[str], to_json: Callable[[Any], str]) -> dict[str, Any]:
    return {
        "modules": {name: describe_module(name) for name in module_names},
        "resolved_options": resolved_options(),
        "options": options_outcomes(to_json),
        "reader": reader_outcomes(),
        "writer": writer_outcomes(),
    }


class _JsonOptionsJvm:
    """Stands in for ``sc._jvm`` where AWS's ``makeOptions`` calls ``JsonOptions(json)``."""

    @staticmethod
    def JsonOptions(json_string: str) -> str:
        return json_string


class _SparkContextStub:
    _jvm = _JsonOptionsJvm()


def _aws_to_json(py_obj: Any) -> str:
    from awsglue.utils import makeOptions

    result: str = makeOptions(_SparkContextStub(), py_obj)
    return result


def main() -> None:
    """Describe the ``awsglue`` on the path (AWS's) for the module names read from stdin."""
    from importlib.metadata import version

    module_names = json.load(sys.stdin)
    described = surface(module_names, _aws_to_json)
    described["version"] = version("AWSGlueDataplanePython")
    json.dump(described, sys.stdout)


if __name__ == "__main__":
    main()
