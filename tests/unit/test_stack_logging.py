"""The Glue service's one logging configuration (``glue_service.configure_logging``).

The service's log (``.local/logs/glue.log``, or ``--log-file``) is where a crawl's or a job run's
failure is read after the fact, and the dashboard reads it too: every logger must reach it in
one format, once, and the chatty libraries only when something is wrong. Each test configures
logging in a Python process of its own, as the service's ``main`` does, so that pytest's own
handlers are left alone.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from flightpipe.paths import REPO

# "2026-12-05 03:20:40,145 INFO name: message": LOG_FORMAT's asctime, level, logger and message.
LINE = re.compile(
    r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (?P<level>[A-Z]+) (?P<name>\S+): (?P<text>.*)"
)


def service_log(
    tmp_path: Path, body: str, before: str = ""
) -> tuple[list[tuple[str, str, str]], str]:
    """Run ``before``, ``configure_logging(<tmp>/logs/glue.log)``, then ``body``; the file's
    records as (level, logger, message), and what went to stderr."""
    log_file = tmp_path / "logs" / "glue.log"
    script = (
        "import logging, warnings\n"
        "from pathlib import Path\n"
        "from flightpipe.stack.glue_service import configure_logging\n"
        f"{before}\n"
        f"configure_logging(Path({str(log_file)!r}))\n"
        f"{body}\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    lines = log_file.read_text(encoding="utf-8").splitlines()
    records: list[tuple[str, str, str]] = []
    for line in lines:
        match = LINE.fullmatch(line)
        if match:
            records.append((match["level"], match["name"], match["text"]))
        else:  # a record of several lines (a warning's ends in a line break)
            assert records, f"not in the service's format: {line!r}"
            level, name, text = records[-1]
            records[-1] = (level, name, f"{text}\n{line}")
    return records, done.stderr


def test_every_logger_reaches_the_log_file_and_stderr_in_one_format(tmp_path):
    records, stderr = service_log(
        tmp_path,
        "logging.getLogger('flightpipe.stack.glue').info('crawl of %s started', 'c')\n"
        "logging.getLogger('some.library.module').error('it broke')\n"
        "logging.getLogger('flightpipe.stack.glue').debug('too detailed')\n",
    )
    assert records == [
        ("INFO", "flightpipe.stack.glue", "crawl of c started"),
        ("ERROR", "some.library.module", "it broke"),
    ]
    assert [LINE.fullmatch(line)["text"] for line in stderr.splitlines()] == [
        "crawl of c started",
        "it broke",
    ]


def test_a_configuration_made_before_is_replaced_not_doubled(tmp_path):
    """A library that configured the root logger first (``basicConfig`` at import, plain
    messages at DEBUG) would otherwise print every record twice, once unformatted: the service's
    configuration replaces it (``force=True``) and sets INFO."""
    records, stderr = service_log(
        tmp_path,
        "logging.getLogger('flightpipe.stack').info('once')\n"
        "logging.getLogger('flightpipe.stack').debug('not at INFO')\n",
        before="logging.basicConfig(level=logging.DEBUG, format='%(message)s')",
    )
    assert records == [("INFO", "flightpipe.stack", "once")]
    assert [LINE.fullmatch(line)["text"] for line in stderr.splitlines()] == ["once"]


def test_warnings_are_logged_and_chatty_libraries_only_from_warning_up(tmp_path):
    records, _ = service_log(
        tmp_path,
        "warnings.warn('a deprecated call', UserWarning)\n"
        "for name in ('werkzeug', 'botocore', 'py4j'):\n"
        "    logging.getLogger(name + '.inner').info('every request')\n"
        "    logging.getLogger(name).warning('something is wrong')\n",
    )
    (warning, *rest) = records
    assert warning[:2] == ("WARNING", "py.warnings")
    assert "UserWarning: a deprecated call" in warning[2], warning
    assert rest == [
        ("WARNING", "werkzeug", "something is wrong"),
        ("WARNING", "botocore", "something is wrong"),
        ("WARNING", "py4j", "something is wrong"),
    ]
