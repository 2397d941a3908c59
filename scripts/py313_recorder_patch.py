"""One more mechanical patch for the Home Assistant 2026.x test venv on Python 3.13 (beside the
shared builder's P1-P7, see ../shared/ha-current/README.md), logged like them.

P8: the recorder's database executor (``recorder/executor.py``) starts its worker threads with
Python 3.14's ``ThreadPoolExecutor._create_worker_context()`` and 3.14's ``_worker(executor, ctx,
work_queue)``. On 3.13 that attribute does not exist, so every recorder query run in the database
executor (history, statistics) fails with AttributeError. On 3.13 the worker takes
``(executor, work_queue, initializer, initargs)``: the patch passes those instead, which is what
Home Assistant 2025.x did on 3.13. Usage: py313_recorder_patch.py VENV
"""

from __future__ import annotations

import sys
from pathlib import Path

OLD = """        additional_args = (
            self._create_worker_context(),
            self._work_queue,
        )
"""
NEW = """        additional_args = (  # py3.13 patch (P8): 3.13's _worker signature
            self._work_queue,
            self._initializer,
            self._initargs,
        )
"""


def main(venv: str) -> int:
    if sys.version_info >= (3, 14):
        return 0
    site = Path(venv) / f"lib/python{sys.version_info.major}.{sys.version_info.minor}"
    path = site / "site-packages/homeassistant/components/recorder/executor.py"
    text = path.read_text()
    log = Path(venv) / ".py313-patches" / "P8_recorder_executor.txt"
    if "_create_worker_context" not in text:
        log.write_text(f"{path}: not needed (no _create_worker_context)\n")
        return 0
    if text.count(OLD) != 1:
        print(f"P8: {path} changed: the patch no longer applies", file=sys.stderr)
        return 1
    path.write_text(text.replace(OLD, NEW))
    log.parent.mkdir(exist_ok=True)
    log.write_text(f"{path}: additional_args for 3.13's concurrent.futures.thread._worker\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
