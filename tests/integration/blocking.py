"""Home Assistant's blocking-call detection, strict for custom integrations, in every test.

Home Assistant watches file, directory, sleep, import and SSL calls made in the event loop
(``homeassistant.block_async_io``). For custom integrations it only logs them, and in tests it
leaves the file and directory calls out entirely. Here every one of them made in the event loop on
behalf of an integration raises, as it does for core integrations, and the test fails at teardown
even when the integration caught the error (a reader that logs and goes on).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
from collections.abc import Callable, Iterator
from typing import Any

from homeassistant import block_async_io
from homeassistant.util.loop import raise_for_blocking_call


def _protect(
    original: Callable[..., Any],
    check_allowed: Callable[[dict[str, Any]], bool] | None,
    loop_thread: int,
    found: list[str],
) -> Callable[..., Any]:
    @functools.wraps(original)
    def protected(*args: Any, **kwargs: Any) -> Any:
        if threading.get_ident() == loop_thread and asyncio._get_running_loop() is not None:
            try:
                raise_for_blocking_call(
                    original,
                    check_allowed=check_allowed,
                    strict=True,
                    strict_core=False,
                    args=args,
                    kwargs=kwargs,
                )
            except RuntimeError as err:
                found.append(str(err))
                raise
        return original(*args, **kwargs)

    return protected


@contextlib.contextmanager
def strict_blocking_calls() -> Iterator[list[str]]:
    """Within: blocking calls in this thread's event loop by an integration raise and are listed."""
    found: list[str] = []
    loop_thread = threading.get_ident()
    restore = []
    for call in block_async_io._BLOCKING_CALLS:
        original = getattr(call.object, call.function)
        restore.append((call.object, call.function, original))
        protected = _protect(original, call.check_allowed, loop_thread, found)
        setattr(call.object, call.function, protected)
    try:
        yield found
    finally:
        for owner, name, original in reversed(restore):
            setattr(owner, name, original)
