"""The local ``awsglue`` conforms to AWS's: every public name the shim provides exists in AWS's
package with the same module path, kind, parameters (names, kinds, order) and defaults, and the
checks AWS makes in Python before reaching Glue's JVM classes give the same results here.

AWS's package (AWSGlueDataplanePython, pinned with its wheel's sha256 in
tests/reference/aws-glue.txt) is installed by ``make install`` into .venv/reference/aws-glue,
never on the project's import path: it is described in a subprocess whose only ``awsglue`` it
is, and the shim in this process, by the same code (tests/reference/awsglue_surface.py).
"""

from __future__ import annotations

import json
import os
import pkgutil
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from flightpipe.gluelocal import SHIM_PATH
from flightpipe.paths import REPO
from tests.reference import awsglue_surface

if str(SHIM_PATH) not in sys.path:
    sys.path.insert(0, str(SHIM_PATH))

import awsglue
from awsglue import _jvm

PIN_FILE = REPO / "tests" / "reference" / "aws-glue.txt"
REFERENCE = Path(sys.prefix) / "reference" / "aws-glue"


def _pin() -> tuple[str, str]:
    text = PIN_FILE.read_text(encoding="utf-8")
    version = re.search(r"^AWSGlueDataplanePython==(\S+)", text, re.MULTILINE)
    digest = re.search(r"--hash=sha256:([0-9a-f]{64})", text)
    assert version and digest, f"{PIN_FILE} pins no version and hash"
    return version.group(1), digest.group(1)


def shim_modules() -> list[str]:
    """The shim's public modules: ``awsglue`` and every submodule not named with a ``_``."""
    assert Path(awsglue.__file__ or "").is_relative_to(SHIM_PATH), awsglue.__file__
    found = pkgutil.walk_packages(awsglue.__path__, prefix="awsglue.")
    public = (m.name for m in found if not any(p.startswith("_") for p in m.name.split(".")))
    return ["awsglue", *sorted(public)]


@pytest.fixture(scope="module")
def aws() -> dict[str, Any]:
    """AWS's package described by a subprocess that has it, and only it, as ``awsglue``."""
    if not (REFERENCE / "awsglue" / "__init__.py").is_file():
        pytest.fail(
            f"AWS's awsglue reference is not installed in {REFERENCE}: run `make install`",
            pytrace=False,
        )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(REFERENCE)
    done = subprocess.run(
        [sys.executable, "-P", str(Path(awsglue_surface.__file__))],
        input=json.dumps(shim_modules()),
        capture_output=True,
        text=True,
        env=env,
        cwd=REFERENCE,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"describing AWS's awsglue failed:\n{done.stderr}"
    described: dict[str, Any] = json.loads(done.stdout)
    return described


@pytest.fixture(scope="module")
def shim() -> dict[str, Any]:
    return awsglue_surface.surface(shim_modules(), lambda obj: json.dumps(_jvm.options(obj)))


def test_the_reference_is_the_pinned_package(aws):
    """Source: package AWSGlueDataplanePython 5.0.0, wheel
    awsgluedataplanepython-5.0.0-py3-none-any.whl, sha256
    a397c5aabdad7ade0b7f238031d029b157c3db72ae5749e89bd4f218566c23f3 (tests/reference/aws-glue.txt,
    which this docstring must agree with)."""
    version, digest = _pin()
    assert aws["version"] == version
    docstring = " ".join((test_the_reference_is_the_pinned_package.__doc__ or "").split())
    assert f"AWSGlueDataplanePython {version}" in docstring
    assert digest in docstring
    for name, module in aws["modules"].items():
        if "file" in module:
            assert Path(module["file"]).is_relative_to(REFERENCE), name


def _differences(shim: Any, aws: Any, where: str) -> list[str]:
    """Where the shim's description is not AWS's. A class may have fewer members than AWS's;
    everything else (kind, origin, bases, signature, defaults, values) must be equal."""
    if not isinstance(shim, dict) or not isinstance(aws, dict):
        return [] if shim == aws else [f"{where}: local {shim!r}, AWS {aws!r}"]
    found = []
    for key in sorted(shim.keys() | aws.keys()):
        if key == "members" and key in shim and key in aws:
            for member in sorted(shim["members"]):
                if member not in aws["members"]:
                    found.append(f"{where}.{member}: AWS's class has no such member")
                else:
                    found += _differences(
                        shim["members"][member], aws["members"][member], f"{where}.{member}"
                    )
        elif shim.get(key) != aws.get(key):
            found.append(f"{where} ({key}): local {shim.get(key)!r}, AWS {aws.get(key)!r}")
    return found


def test_every_public_name_of_the_shim_is_awss_with_the_same_signature(shim, aws):
    """Source: package AWSGlueDataplanePython 5.0.0 (wheel sha256
    a397c5aabdad7ade0b7f238031d029b157c3db72ae5749e89bd4f218566c23f3), the modules
    ``awsglue``, ``awsglue/context.py``, ``awsglue/dynamicframe.py``, ``awsglue/job.py`` and
    ``awsglue/utils.py``: every public name, its parameters and their defaults.

    A name the shim provides and AWS does not, or any difference in module path, kind, base
    classes, parameter names, kinds, order or defaults (``repr``), fails; names AWS has and the
    shim leaves out do not (a job using one fails locally first). Instance attributes set in
    ``__init__`` (``spark_session``, ``create_dynamic_frame``...) cannot be read without Glue's
    JVM classes and are not compared."""
    used_by_jobs = {
        "awsglue.utils": "getResolvedOptions",
        "awsglue.context": "GlueContext",
        "awsglue.job": "Job",
        "awsglue.dynamicframe": "DynamicFrame",
    }
    for module, name in used_by_jobs.items():
        assert name in shim["modules"][module]["names"], f"{module}.{name} is not described"
    found = []
    for module, described in shim["modules"].items():
        theirs = aws["modules"][module]
        if "missing" in theirs:
            found.append(f"{module}: AWS's package has no such module ({theirs['missing']})")
            continue
        for name, local in described["names"].items():
            if name not in theirs["names"]:
                found.append(f"{module}.{name}: AWS's module has no such name")
            else:
                found += _differences(local, theirs["names"][name], f"{module}.{name}")
    assert not found, "the local awsglue differs from AWS's:\n" + "\n".join(found)


def _mismatches(cases: list[Any], local: list[Any], theirs: list[Any]) -> str:
    lines = [
        f"{case!r}:\n    local {mine}\n    AWS   {aws}"
        for case, mine, aws in zip(cases, local, theirs, strict=True)
        if mine != aws
    ]
    return "\n".join(lines)


def test_get_resolved_options_behaves_as_awss(shim, aws):
    """Source: package AWSGlueDataplanePython 5.0.0, ``awsglue/utils.py``,
    ``getResolvedOptions`` (wheel sha256
    a397c5aabdad7ade0b7f238031d029b157c3db72ae5749e89bd4f218566c23f3), run on the same
    arguments: the same dict (keys in the same order), or the same exception and message."""
    cases = awsglue_surface.RESOLVED_OPTIONS_CASES
    assert shim["resolved_options"] == aws["resolved_options"], _mismatches(
        cases, shim["resolved_options"], aws["resolved_options"]
    )


def test_options_reach_the_jvm_as_through_awss_make_options(shim, aws):
    """Source: package AWSGlueDataplanePython 5.0.0, ``awsglue/utils.py``, ``makeOptions``,
    which ``create_dynamic_frame_from_catalog`` (``additional_options``) and
    ``write_from_jdbc_conf`` (``connection_options``) in ``awsglue/context.py`` call: the same
    JSON for a dict, json's TypeError for what JSON cannot hold, and its NameError for anything
    that is not a dict."""
    cases = awsglue_surface.OPTIONS_CASES
    assert shim["options"] == aws["options"], _mismatches(cases, shim["options"], aws["options"])


def test_reader_and_writer_refuse_arguments_as_awss(shim, aws):
    """Source: package AWSGlueDataplanePython 5.0.0, ``awsglue/dynamicframe.py``,
    ``DynamicFrameReader.from_catalog`` (database, name_space and table_name checks), and
    ``awsglue/context.py``, ``write_dynamic_frame_from_jdbc_conf`` via ``write_from_jdbc_conf``
    (the frame's type)."""
    assert shim["reader"] == aws["reader"], _mismatches(
        awsglue_surface.READER_CASES, shim["reader"], aws["reader"]
    )
    assert shim["writer"] == aws["writer"], _mismatches(
        awsglue_surface.WRITER_FRAME_CASES, shim["writer"], aws["writer"]
    )
