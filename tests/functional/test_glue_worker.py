"""The warm Glue container's program (``flightpipe/stack/glue_worker.py``), run as the container
runs it (``spark-submit glue_worker.py --port N --warm-up``) with the local PySpark, and driven as
the Glue service drives it (``glue_containers.send_run``): what a run prints reaches the run's log,
the job's error becomes the run's, runs go on side by side in one driver, and the executors see the
run's modules.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from flightpipe.devenv.postgres import free_port
from flightpipe.stack import glue_worker
from flightpipe.stack.glue_containers import JobRunFailed, send_run

SPARK_SUBMIT = Path(sys.executable).with_name("spark-submit")

MODULE = """
def double(value):
    return value * 2
"""

JOB = """
import logging
import sys
import time
from pathlib import Path

from pyspark import SparkContext

import helper


def main(argv):
    if "--meet" in argv:
        meet(Path(argv[argv.index("--meet") + 1]), argv[argv.index("--name") + 1])
    doubled = SparkContext.getOrCreate().parallelize([1, 2, 3], 3).map(helper.double).collect()
    print("doubled", doubled, "argv", argv[1:])
    logging.getLogger("job").info("logged %s", argv[1:])
    if "--fail" in argv:
        raise ValueError("the input is bad")
    if "--exit" in argv:
        sys.exit(3)


def meet(folder, name):
    # Say this run is here, and wait (a minute at most) until another run is too.
    (folder / name).touch()
    deadline = time.monotonic() + 60
    while len(list(folder.iterdir())) < 2:
        if time.monotonic() > deadline:
            raise TimeoutError(f"run {name} waited a minute for another run to be there")
        time.sleep(0.05)
"""

NO_MAIN = """
import sys
print("as __main__:", __name__, sys.argv[1:])
"""


@pytest.fixture(scope="module")
def worker(tmp_path_factory):
    """The worker, started with spark-submit on a free port; its URL and a folder of code."""
    code = tmp_path_factory.mktemp("code")
    (code / "lib-a").mkdir()
    (code / "lib-a" / "helper.py").write_text(MODULE)
    (code / "lib-b").mkdir()
    (code / "lib-b" / "helper.py").write_text(MODULE)
    (code / "job.py").write_text(JOB)
    (code / "no_main.py").write_text(NO_MAIN)
    port = free_port()
    log = (code / "worker.log").open("wb")
    process = start_worker(port, log, warm_up=True)
    try:
        wait_until_it_answers(port, process, code / "worker.log")
        assert "glue worker: warm after" in (code / "worker.log").read_text()
        yield f"http://127.0.0.1:{port}", code
    finally:
        # spark-submit's JVM and the worker it runs, by the session's process group id.
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        log.close()


def test_the_worker_ends_when_its_spark_jvm_does(tmp_path):
    """spark-submit's JVM runs the worker as its child and does not end it on its way out; the
    worker ends itself rather than serve on without Spark."""
    port = free_port()
    with (tmp_path / "worker.log").open("wb") as log:
        jvm = start_worker(port, log, warm_up=True)
    try:
        deadline = time.monotonic() + 120
        while not (children := children_of(jvm.pid)):
            assert jvm.poll() is None and time.monotonic() < deadline, "no worker started"
            time.sleep(0.2)
        (worker_pid,) = children
        wait_until_it_answers(port, jvm, tmp_path / "worker.log")
        jvm.terminate()  # as a service stopping it would
        jvm.wait()
        deadline = time.monotonic() + 60
        while running(worker_pid):
            assert time.monotonic() < deadline, "the worker outlived its JVM by a minute"
            time.sleep(0.2)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(jvm.pid, signal.SIGKILL)


def wait_until_it_answers(port: int, process: subprocess.Popen, log: Path) -> None:
    """Until the worker's health answers (two minutes at most), while spark-submit runs."""
    deadline = time.monotonic() + 120
    while True:
        assert process.poll() is None, log.read_text()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                return
        except OSError:
            assert time.monotonic() < deadline, "the worker did not answer in 120 s"
            time.sleep(0.5)


def children_of(pid: int) -> list[int]:
    """The live Python processes whose parent is ``pid`` and that run glue_worker.py (not
    spark-submit's launcher, whose arguments name it too)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            name, rest = stat.read_text().split(" (", 1)[1].rsplit(")", 1)
            fields = rest.split()
            command = (stat.parent / "cmdline").read_bytes()
            if (
                int(fields[1]) == pid
                and fields[0] != "Z"
                and name.startswith("python")
                and b"glue_worker.py" in command
            ):
                found.append(int(stat.parent.name))
    return found


def running(pid: int) -> bool:
    """Whether ``pid`` is a live process (an ended one that nobody reaped is a zombie, "Z")."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def start_worker(port: int, log: Any, warm_up: bool) -> subprocess.Popen:
    """``spark-submit glue_worker.py`` in a session of its own (its process group id is the
    JVM's pid), its output into ``log``."""
    environment = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    environment["PYSPARK_DRIVER_PYTHON"] = sys.executable
    command = [
        str(SPARK_SUBMIT),
        "--master",
        "local[2]",
        "--conf",
        "spark.ui.enabled=false",
        glue_worker.__file__,
        "--port",
        str(port),
        "--host",
        "127.0.0.1",
        *(["--warm-up"] if warm_up else []),
    ]
    return subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, env=environment, start_new_session=True
    )


def request(code: Path, *argv: str, script: str = "job.py", lib: str = "lib-a") -> dict:
    return {
        "run_id": "jr_test",
        "script": str(code / script),
        "argv": list(argv),
        "py_files": [str(code / lib / "helper.py")],
    }


def test_a_run_prints_into_its_log_and_its_executors_see_its_modules(worker, tmp_path):
    url, code = worker
    log = tmp_path / "run.log"
    send_run(url, request(code, "--JOB_NAME", "j"), log, "test")
    lines = log.read_text().splitlines()
    assert "doubled [2, 4, 6] argv ['--JOB_NAME', 'j']" in lines
    assert [line for line in lines if line.endswith("INFO job: logged ['--JOB_NAME', 'j']")]
    assert lines[-1] == "# the run ended with code 0"


def test_the_jobs_exception_is_the_runs_error(worker, tmp_path):
    url, code = worker
    with pytest.raises(JobRunFailed, match=r"^ValueError: the input is bad$"):
        send_run(url, request(code, "--fail"), tmp_path / "run.log", "test")
    assert "Traceback (most recent call last):" in (tmp_path / "run.log").read_text()


def test_an_exit_code_is_the_runs(worker, tmp_path):
    url, code = worker
    with pytest.raises(JobRunFailed, match="exited with code 3"):
        send_run(url, request(code, "--exit"), tmp_path / "run.log", "test")


def test_a_script_without_main_runs_as_main(worker, tmp_path):
    url, code = worker
    send_run(url, request(code, "--x", "1", script="no_main.py"), tmp_path / "run.log", "test")
    assert "as __main__: __main__ ['--x', '1']" in (tmp_path / "run.log").read_text()


def test_runs_go_on_side_by_side_each_with_its_own_output(worker, tmp_path):
    """Each run waits inside its job until the other is in its job too: run one after the
    other, the first would give up."""
    url, code = worker
    meeting = tmp_path / "meeting"
    meeting.mkdir()
    errors: list[BaseException] = []

    def one(name: str) -> None:
        argv = ("--name", name, "--meet", str(meeting))
        try:
            send_run(url, request(code, *argv), tmp_path / f"{name}.log", "test")
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=one, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for name, other in (("a", "b"), ("b", "a")):
        text = (tmp_path / f"{name}.log").read_text()
        assert f"argv ['--name', '{name}', '--meet', '{meeting}']" in text
        assert f"'--name', '{other}'" not in text


def test_modules_from_another_path_are_refused_by_a_running_driver(worker, tmp_path):
    url, code = worker
    send_run(url, request(code), tmp_path / "first.log", "test")
    with pytest.raises(JobRunFailed, match="a new container is needed"):
        send_run(url, request(code, lib="lib-b"), tmp_path / "second.log", "test")
