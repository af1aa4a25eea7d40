"""The Glue jobs' package as Glue gets it (flightpipe/infra/job_archive.py): one zip archive
whose root holds the package folder with its ``__init__.py``, as AWS Glue's "Using Python
libraries with AWS Glue" ("Zipping libraries for inclusion") asks of ``--extra-py-files``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from flightpipe.infra import job_archive
from flightpipe.paths import GLUE_JOB_DIR


def test_the_archive_holds_the_package_at_its_root(tmp_path):
    archive = job_archive.build(tmp_path)
    with zipfile.ZipFile(archive) as opened:
        names = opened.namelist()
    modules = [f"flightjob/{path.name}" for path in job_archive.sources()]
    assert names == modules
    assert "flightjob/__init__.py" in names


def test_the_same_sources_make_the_same_bytes_whatever_their_times(tmp_path):
    job_dir = tmp_path / "glue_job"
    shutil.copytree(GLUE_JOB_DIR / "flightjob", job_dir / "flightjob")
    first = job_archive.build(tmp_path / "a", job_dir)
    for path in job_archive.sources(job_dir):
        os.utime(path, (0, 0))  # other times, the same content
    second = job_archive.build(tmp_path / "b", job_dir)
    assert second.read_bytes() == first.read_bytes()
    assert job_archive.digest(second) == job_archive.digest(first)
    (job_dir / "flightjob" / "lines.py").write_text("# changed\n")
    assert job_archive.digest(job_archive.build(tmp_path / "c", job_dir)) != job_archive.digest(
        first
    )


def test_a_job_imports_the_package_from_the_archive_alone(tmp_path):
    """With only the archive on the path (no glue_job/ folder), as on Glue."""
    archive = job_archive.build(tmp_path)
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); "
        "from flightjob import airports, aws_io, flights, lines, warehouse; "
        "print(flights.__file__)"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-c", code, str(archive)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        check=True,
    )
    assert done.stdout.strip() == f"{archive}/flightjob/flights.py"


def test_a_folder_without_the_package_is_refused(tmp_path):
    (tmp_path / "flightjob").mkdir()
    (tmp_path / "flightjob" / "lines.py").write_text("")
    with pytest.raises(FileNotFoundError, match=r"no __init__\.py: not a package"):
        job_archive.build(tmp_path / "out", job_dir=tmp_path)
    assert GLUE_JOB_DIR.joinpath("flightjob", "__init__.py").is_file()
