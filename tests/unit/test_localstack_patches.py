"""The patches of localstack/flightpipe_localstack fit the LocalStack ``make install`` pins.

Each patch checks, before it changes anything, that LocalStack is what it was written for (a
source digest, a statement it rewrites, a check it makes stricter), and refuses otherwise, which
stops LocalStack's start-up. Run in LocalStack's own virtualenv, without starting it
(``tests/support/localstack_patch_probe.py``): every patch applies through the hook LocalStack loads
from its entry point, applying it again changes nothing, ``FLIGHTPIPE_LOCALSTACK_SKIP`` leaves
each out, and each refuses a LocalStack changed where it patches, so that an upgrade fails
loudly instead of running without a fix. What each patch fixes is shown on a running LocalStack
in tests/integration/test_localstack_fixes.py.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
from flightpipe_localstack import patching, s3_listing

from flightpipe.paths import REPO
from flightpipe.stack.local import LOCALSTACK_VENV
from tests.support.localstack_process import PATCHES

PROBE = REPO / "tests" / "support" / "localstack_patch_probe.py"
PLUGINS = REPO / "localstack" / "pyproject.toml"
REQUIREMENTS = REPO / "localstack" / "requirements.txt"
# The patches the probe knows where to look for (its MARKS).
PROBED = (
    "packages_fix",
    "sfn_sync_fix",
    "sfn_sdk_timestamps",
    "sfn_jsonpath_cache",
    "assumed_roles",
    "clock",
    "sns",
    "s3_events",
    "s3_listing",
    "events_rules",
    "catalog",
    "cfn",
    "cfn_state_machine_name",
    "lambda_log_group",
)
# The patches the probe can give a changed LocalStack to (all but packages_fix, which checks a
# file's text before importing it: a file a test cannot change).
REFUSING = PROBED[1:]


def hooks() -> dict[str, list[str]]:
    """The patches' hooks by namespace, as localstack/pyproject.toml registers them."""
    entry_points = tomllib.loads(PLUGINS.read_text(encoding="utf-8"))["project"]["entry-points"]
    return {
        namespace: [
            name
            for name, target in entry_points[namespace].items()
            if target.startswith("flightpipe_localstack.hooks:")
        ]
        for namespace in ("localstack.hooks.on_runtime_create", "localstack.hooks.on_infra_start")
    }


def probe(folder: Path, *args: str, skip: str = "") -> Any:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("FLIGHTPIPE_", "LOCALSTACK_", "PYTHON")) and key != "VIRTUAL_ENV"
    }
    env.update(FILESYSTEM_ROOT=str(folder), TMPDIR=str(folder), FLIGHTPIPE_LOCALSTACK_SKIP=skip)
    python = LOCALSTACK_VENV / "bin" / "python"
    assert python.is_file(), f"{python} is missing: run make install"
    done = subprocess.run(
        [str(python), "-P", str(PROBE), *args],
        env=env,
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def applied(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return dict(probe(tmp_path_factory.mktemp("applied"), "apply", json.dumps(hooks())))


@pytest.fixture(scope="module")
def skipped(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("skipped")
    return dict(probe(folder, "apply", json.dumps(hooks()), skip=",".join(PATCHES)))


@pytest.fixture(scope="module")
def refused(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return dict(probe(tmp_path_factory.mktemp("refused"), "refuse"))


def test_the_localstack_installed_is_the_one_pinned(applied):
    """The patches were written for this version, on this Python (the packages fix is for a
    Python before 3.13)."""
    (pin,) = re.findall(r"^localstack-core\[runtime\]==(\S+)$", REQUIREMENTS.read_text(), re.M)
    assert (applied["localstack"], applied["python"]) == (pin, [3, 11])


def test_every_patch_a_hook_can_skip_is_checked_here():
    """A patch added to hooks.py needs its place in the probe (and its defect shown in
    tests/integration/test_localstack_fixes.py)."""
    assert sorted(set(PATCHES) - set(PROBED)) == [], "patches of hooks.py not checked here"
    assert sorted(set(PROBED) - set(PATCHES)) == [], "checked here, but no longer in hooks.py"


@pytest.mark.parametrize("patch", PROBED)
def test_each_patch_applies_to_the_pinned_localstack_through_its_hook(applied, patch):
    assert applied["applied"][patch] is True, applied["applied"][patch]


@pytest.mark.parametrize("patch", PROBED)
def test_applying_a_patch_again_changes_nothing(applied, patch):
    """LocalStack may run a hook more than once (a hook applies the packages fix itself when
    the one of on_runtime_create did not run); the clock may be given another model."""
    unchanged = {"clock": "local", "cfn": [False, False]}.get(patch, False)
    assert applied["again"][patch] == unchanged


@pytest.mark.parametrize("patch", PROBED)
def test_a_skipped_patch_is_left_out_and_says_so(skipped, patch):
    assert skipped["applied"][patch] is not True
    assert f"flightpipe: patch {patch} skipped (FLIGHTPIPE_LOCALSTACK_SKIP)" in skipped["log"]


@pytest.mark.parametrize("patch", REFUSING)
def test_a_patch_refuses_a_localstack_changed_where_it_patches(refused, patch):
    """Each target replaced by a stand-in of what an upgrade could bring (upstream's own fix,
    a stricter check, a different wait): the patch raises PatchError naming itself."""
    assert refused[patch].startswith("PatchError: [flightpipe."), refused[patch]


# --- the patches' common mechanics, in the project's virtualenv (no LocalStack needed) ----------


class Owner:
    def method(self) -> str:
        return "LocalStack's"


def test_replace_puts_the_new_value_in_place_once_and_marks_it():
    owner = type("Owner", (Owner,), {"method": Owner.method})

    def new(self: Any) -> str:
        return "patched"

    assert patching.replace(owner, "method", new, "tests.patch", lambda current: None)
    assert owner().method() == "patched" and patching.is_applied(owner, "method", "tests.patch")
    assert not patching.replace(
        owner, "method", lambda self: "again", "tests.patch", lambda c: None
    )
    assert owner().method() == "patched"


def test_replace_refuses_what_it_was_not_written_for():
    owner = type("Owner", (Owner,), {"method": Owner.method})
    with pytest.raises(patching.PatchError, match=r"\[tests.patch\] .*method: changed upstream"):
        patching.replace(
            owner, "method", lambda self: "x", "tests.patch", lambda c: "changed upstream"
        )
    with pytest.raises(patching.PatchError, match="does not exist"):
        patching.replace(owner, "other", lambda self: "x", "tests.patch", lambda c: None)
    subclass = type("Subclass", (owner,), {})  # an inherited attribute is not the class's own
    with pytest.raises(patching.PatchError, match="does not exist"):
        patching.replace(subclass, "method", lambda self: "x", "tests.patch", lambda c: None)
    assert owner().method() == "LocalStack's"


def test_a_digest_pins_a_functions_source():
    expected = patching.source_digest(Owner.method)
    assert patching.expect_digest(expected)(Owner.method) is None
    assert patching.expect_digest("000000000000")(Owner.method) == (
        f"source digest {expected}, expected 000000000000"
    )


def test_a_listing_answer_is_encoded_as_s3_encodes_it():
    """Amazon S3 API Reference, ListObjectsV2, EncodingType: with ``url``, S3 encodes
    "Delimiter, Prefix, Key, and StartAfter" in the answer; boto3 decodes them."""
    answer = s3_listing.encode(
        {
            "Prefix": "daily_flights/date=",
            "StartAfter": "daily_flights/date=2013-01-04/a b.csv",
            "Delimiter": "/",
            "Contents": [{"Key": "daily_flights/date=2013-01-05/é.csv", "Size": 1}],
            "CommonPrefixes": [{"Prefix": "daily_flights/date=2013-01-05/"}],
        }
    )
    assert answer == {
        "Prefix": "daily_flights/date%3D",
        "StartAfter": "daily_flights/date%3D2013-01-04/a%20b.csv",
        "Delimiter": "/",
        "Contents": [{"Key": "daily_flights/date%3D2013-01-05/%C3%A9.csv", "Size": 1}],
        "CommonPrefixes": [{"Prefix": "daily_flights/date%3D2013-01-05/"}],
        "EncodingType": "url",
    }
