"""A job run's code as the Glue service fetches it from S3 (``flightpipe/stack/job_code.py``):
jobs that name the same modules share one folder of them, which the warm Glue container needs
(a running SparkContext cannot add a module of the same name from another path), and a module
changed in S3 gets a folder of its own."""

from __future__ import annotations

import boto3

from flightpipe.stack.job_code import fetch


def test_jobs_naming_the_same_modules_share_their_folder(moto_endpoint, tmp_path):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="code")
    for key, body in {
        "scripts/day-abc": "print('day')",
        "scripts/airports-def": "print('airports')",
        "lib/helpers.py": "IO = 1",
        "lib/extra.py": "LOAD = 1",
    }.items():
        s3.put_object(Bucket="code", Key=key, Body=body.encode())
    modules = "s3://code/lib/helpers.py,s3://code/lib/extra.py"

    day = fetch(s3, tmp_path, "s3://code/scripts/day-abc", modules)
    airports = fetch(s3, tmp_path, "s3://code/scripts/airports-def", modules)

    assert day.script.read_text() == "print('day')" and day.script.suffix == ".py"
    assert airports.script.parent != day.script.parent
    assert airports.libraries == day.libraries
    assert sorted(p.name for p in day.libraries.iterdir()) == ["extra.py", "helpers.py"]

    s3.put_object(Bucket="code", Key="lib/extra.py", Body=b"LOAD = 2")
    changed = fetch(s3, tmp_path, "s3://code/scripts/day-abc", modules)
    assert changed.libraries != day.libraries
    assert (changed.libraries / "extra.py").read_text() == "LOAD = 2"
    assert (day.libraries / "extra.py").read_text() == "LOAD = 1"
