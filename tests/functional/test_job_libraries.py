"""A job's ``--extra-py-files`` on the local Glue runtime (``flightpipe.gluelocal.runner``): the
modules a run imports are its deployment's, from a ``.zip`` of packages as from ``.py`` files,
whatever this process imported before under the same name (the working tree's, which the Glue
service's warm-up reads, or an earlier deployment's)."""

from __future__ import annotations

import sys
import zipfile

import pytest

from flightpipe.gluelocal.runner import run_job

SCRIPT = """
def main(argv):
    import probepkg
    import probemodule
    return probepkg.VALUE, probemodule.VALUE, probepkg.__file__
"""


def deployment(folder, value):
    """A folder of libraries as the Glue service fetches them: a package in a zip, a module."""
    folder.mkdir(parents=True)
    with zipfile.ZipFile(folder / "probepkg.zip", "w") as archive:
        archive.writestr("probepkg/__init__.py", f"VALUE = {value!r}\n")
    (folder / "probemodule.py").write_text(f"VALUE = {value!r}\n")
    return folder


@pytest.fixture
def imported_from_the_tree(tmp_path, monkeypatch):
    """``probepkg`` imported from a folder of its own, as the warm-up imports the job's package."""
    tree = tmp_path / "tree"
    (tree / "probepkg").mkdir(parents=True)
    (tree / "probepkg" / "__init__.py").write_text("VALUE = 'tree'\n")
    monkeypatch.syspath_prepend(str(tree))
    import probepkg  # noqa: F401

    yield
    for name in [n for n in sys.modules if n.split(".")[0] in ("probepkg", "probemodule")]:
        del sys.modules[name]


def test_each_run_imports_its_own_deployments_modules(spark, tmp_path, imported_from_the_tree):
    script = tmp_path / "job.py"
    script.write_text(SCRIPT)
    first = deployment(tmp_path / "lib" / "first", "first")
    second = deployment(tmp_path / "lib" / "second", "second")

    assert run_job(script, [], libraries=first)[:2] == ("first", "first")
    value, module_value, origin = run_job(script, [], libraries=second)
    assert (value, module_value) == ("second", "second")
    assert origin == str(second / "probepkg.zip" / "probepkg" / "__init__.py")
