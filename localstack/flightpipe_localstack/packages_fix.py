"""Fix: ``localstack/packages/api.py`` (4.13.1) cannot be imported on Python 3.11.

Line 60, ``def __init__(self, name, version, install_lock: Lock | None = None)``, evaluates
``threading.Lock | None`` when the class body runs; before Python 3.13 ``threading.Lock`` is a
builtin function, so the import raises ``TypeError: unsupported operand type(s) for |``. Every
service that imports ``localstack.packages`` fails on its first request: Lambda, and Step
Functions too (``asl/eval/states.py`` -> ``asl/jsonata/jsonata.py`` -> ``stepfunctions/packages.py``
-> ``localstack.packages``), whose every operation answers 500 InternalError.

The fix imports that module once, early, while ``threading.Lock`` is a class that builds real
locks (so a thread taking a lock meanwhile is unaffected), then puts ``threading.Lock`` and the
module's own ``Lock`` back. No file changes; nothing to do on a Python where ``Lock | None``
works or once the module is imported.
"""

from __future__ import annotations

import _thread
import importlib
import importlib.util
import sys
import threading
from pathlib import Path

from flightpipe_localstack.patching import PatchError

PATCH_ID = "flightpipe.packages_fix"
MODULE = "localstack.packages.api"
EXPECTED = "install_lock: Lock | None = None"


class _Lock:
    """``threading.Lock`` while the module is imported: a class, so ``_Lock | None`` is valid."""

    def __new__(cls):
        return _thread.allocate_lock()


def install() -> bool:
    if MODULE in sys.modules:
        return False
    try:
        threading.Lock | None
        return False  # this Python evaluates it (3.13+): nothing to fix
    except TypeError:
        pass
    package = importlib.util.find_spec("localstack.packages")  # imports only ``localstack``
    path = Path(package.submodule_search_locations[0], "api.py") if package else None
    if path is None or not path.is_file() or EXPECTED not in path.read_text():
        raise PatchError(f"[{PATCH_ID}] {MODULE} has no '{EXPECTED}': review the patch")
    real = threading.Lock
    threading.Lock = _Lock  # type: ignore[misc,assignment]
    try:
        module = importlib.import_module(MODULE)
    finally:
        threading.Lock = real  # type: ignore[misc]
    if module.Lock is not _Lock:
        raise PatchError(f"[{PATCH_ID}] {MODULE}.Lock is {module.Lock!r}, not the stand-in")
    module.Lock = real
    return True
