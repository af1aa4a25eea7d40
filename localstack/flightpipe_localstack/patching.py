"""How every patch of this package replaces something in LocalStack: only what it expects,
once, and loudly when LocalStack has changed under it."""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import textwrap
from collections.abc import Callable
from typing import Any

MARK = "__flightpipe_patch__"
_MISSING = object()


class PatchError(RuntimeError):
    """LocalStack is not what a patch was written against: review the patch, do not force it."""


def source_digest(function: Callable[..., Any]) -> str:
    """sha256 (12 hex) of a function's dedented source: pins a method a patch replaces whole."""
    return hashlib.sha256(textwrap.dedent(inspect.getsource(function)).encode()).hexdigest()[:12]


def is_applied(owner: Any, name: str, patch_id: str) -> bool:
    return getattr(vars(owner).get(name), MARK, None) == patch_id


def replace(
    owner: Any, name: str, new: Any, patch_id: str, expect: Callable[[Any], str | None]
) -> bool:
    """``owner.name = new`` (owner a class or module, the attribute its own, not inherited).

    ``expect(current)`` returns None when the current value is the one the patch was written
    for, or what differs. Returns False when ``patch_id`` is applied already (idempotent).
    """
    current = vars(owner).get(name, _MISSING)
    if getattr(current, MARK, None) == patch_id:
        return False
    qualname = getattr(owner, "__qualname__", owner.__name__)
    where = f"{getattr(owner, '__module__', '')}.{qualname}.{name}"
    if current is _MISSING:
        raise PatchError(
            f"[{patch_id}] {where} does not exist: LocalStack changed, review the patch"
        )
    problem = expect(current)
    if problem is not None:
        raise PatchError(f"[{patch_id}] {where}: {problem}: LocalStack changed, review the patch")
    # A value that takes no attribute (a float constant, say) is tracked by the caller.
    with contextlib.suppress(AttributeError, TypeError):
        setattr(new, MARK, patch_id)
    setattr(owner, name, new)
    return True


def expect_digest(digest: str) -> Callable[[Any], str | None]:
    def check(current: Any) -> str | None:
        found = source_digest(current)
        return None if found == digest else f"source digest {found}, expected {digest}"

    return check
