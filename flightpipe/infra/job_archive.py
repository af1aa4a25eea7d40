"""The Glue jobs' package as Glue gets it: one zip archive, ``flightjob.zip``, the jobs'
``--extra-py-files``.

AWS Glue's "Using Python libraries with AWS Glue" (docs.aws.amazon.com/glue/latest/dg/
aws-glue-programming-python-libraries.html, "Zipping libraries for inclusion"): a library that
is more than one ``.py`` file goes in a ``.zip`` whose root holds the package folder, with its
``__init__.py``. ``make deploy`` and the local deployment build it here, byte for byte the same
for the same sources (sorted entries, fixed times and modes), so that its digest can name it.
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

from flightpipe.paths import GLUE_JOB_DIR

PACKAGE = "flightjob"
ARCHIVE = f"{PACKAGE}.zip"
# Where a deployment builds it, in its output folder (dist/ for make deploy).
FOLDER = "glue-lib"
# zip's earliest time: the archive does not change with the files' times.
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)


def sources(job_dir: Path = GLUE_JOB_DIR) -> list[Path]:
    """The package's modules, in the order the archive holds them."""
    return sorted((job_dir / PACKAGE).glob("*.py"))


def build(out_dir: Path, job_dir: Path = GLUE_JOB_DIR) -> Path:
    """``out_dir/flightjob.zip`` from the package's modules; its path."""
    modules = sources(job_dir)
    if not any(path.name == "__init__.py" for path in modules):
        raise FileNotFoundError(f"{job_dir / PACKAGE} holds no __init__.py: not a package")
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / ARCHIVE
    partial = target.with_name(target.name + ".part")
    with zipfile.ZipFile(partial, "w") as archive:
        for path in modules:
            entry = zipfile.ZipInfo(f"{PACKAGE}/{path.name}", date_time=_FIXED_TIME)
            entry.external_attr = 0o644 << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, path.read_bytes())
    partial.replace(target)
    return target


def digest(archive: Path) -> str:
    """The first 16 hex digits of the archive's sha256: the prefix it is uploaded under."""
    return hashlib.sha256(archive.read_bytes()).hexdigest()[:16]
