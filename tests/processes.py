"""Helpers for tests that run a program of this project as a process of its own."""

from __future__ import annotations

import os


def untraced() -> dict[str, str]:
    """The environment for a process that is sent a signal: without the test run's subprocess
    coverage. Coverage 7.6's C tracer takes its data lock through a Python method; a signal
    handler that raises there (``Terminated``, ``KeyboardInterrupt``) leaves the lock held, and
    the process's next traced line waits for it for ever (seen: SIGTERM to a traced converter hung
    3 times in 150 tries on a loaded machine, its stack in ``Collector.lock_data``; without the
    tracer, 0 in 150)."""
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("COV_CORE_", "COVERAGE_PROCESS_"))
    }
