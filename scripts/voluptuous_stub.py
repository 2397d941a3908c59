"""Write a type stub that shows mypy ``voluptuous`` as Home Assistant 2026.9 and later run it.

Since 2026.9 Home Assistant validates with probatio, and at startup it registers probatio's
voluptuous shim as the ``voluptuous`` module (``probatio.compat.install_as_voluptuous``): an
integration's ``import voluptuous as vol`` gets probatio's classes, and Home Assistant's APIs are
typed with those. mypy does not see that aliasing and types such code with the real voluptuous
package, whose classes Home Assistant's signatures no longer name. With the stub this script writes
on its path (MYPYPATH), mypy sees what runs.

Usage: VENV/bin/python scripts/voluptuous_stub.py DIR  (run with the Python of the venv to type-check
against: the stub re-exports exactly the names that its Home Assistant's ``voluptuous`` takes from
probatio). Writes DIR/voluptuous/__init__.pyi; exits 1 if ``voluptuous`` is not probatio there
(Home Assistant before 2026.9 needs no stub).
"""

from __future__ import annotations

import sys
import types
from pathlib import Path


def stub_text() -> str:
    """The stub: every name of the running ``voluptuous`` that is probatio's public object."""
    import homeassistant  # noqa: F401  # registers the voluptuous shim (2026.9 and later)
    import probatio
    import voluptuous

    names = sorted(
        name
        for name in probatio.__all__
        if hasattr(voluptuous, name)
        and not isinstance(getattr(voluptuous, name), types.ModuleType)
        and getattr(probatio, name) is getattr(voluptuous, name)
    )
    if "Schema" not in names:
        raise SystemExit("voluptuous is not probatio's shim here: no stub needed")
    lines = [
        '"""``voluptuous`` as Home Assistant 2026.9+ runs it: probatio (scripts/voluptuous_stub.py)."""',
        "",
        *(f"from probatio import {name} as {name}" for name in names),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    package = Path(argv[1]) / "voluptuous"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.pyi").write_text(stub_text(), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
