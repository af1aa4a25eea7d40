"""The stack process has one logging configuration, whatever its Chalice apps do to theirs."""

from __future__ import annotations

import logging
import uuid

import pytest

from flightpipe.stack.server import propagate_to_root

pytestmark = pytest.mark.unit


def test_a_chalice_app_that_configures_its_logger_logs_through_the_root_logger(caplog):
    """``Chalice(configure_logs=True)`` (the default) gives the app's logger a stdout handler and
    stops it propagating (chalice 1.34.0 ``app.py``, ``Chalice._configure_logging``)."""
    from chalice import Chalice

    app = Chalice(app_name=f"stack-logging-{uuid.uuid4().hex[:8]}", env={})
    child = logging.getLogger(f"{app.app_name}.handlers")
    assert not app.log.propagate
    propagate_to_root()
    assert app.log.propagate and app.log.handlers == []
    with caplog.at_level(logging.ERROR):
        child.error("from a handler module")
    assert [(r.name, r.getMessage()) for r in caplog.records] == [
        (child.name, "from a handler module")
    ]


def test_a_logger_that_keeps_its_own_handlers_is_left_alone():
    own = logging.getLogger(f"own-{uuid.uuid4().hex[:8]}")
    handler = logging.NullHandler()
    own.addHandler(handler)
    own.propagate = False
    propagate_to_root()
    assert (own.propagate, own.handlers) == (False, [handler])
