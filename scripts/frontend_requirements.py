"""Print the packages the Home Assistant frontend needs that this venv lacks, one requirement a line.

The end-to-end tests start ``hass`` with ``--skip-pip`` (no installs at run time). Home Assistant
2025.4 depended on the packages of its built-in integrations itself; 2026.x leaves them to each
integration's manifest and installs them when it sets the integration up. Without them the frontend
never finishes loading: its ``get_services`` call validates every integration's services.yaml,
which imports the base entity components (helpers/service.py ``_base_components``), and those import
hassil, mutagen, PyTurboJPEG and more. Every ``hass`` process also sets up bootstrap's default
integrations (2026.x adds entity platforms such as ``infrared`` and ``radio_frequency``, whose
packages it lacks too), and the demo adds the recorder, history, logbook and energy. This lists the
requirements of ``frontend``, of those components and of their dependencies (manifest
``dependencies`` and ``after_dependencies``, recursively) that are not installed, or installed at
a version the manifest's pin excludes (the test harness pins an older ``aiohasupervisor`` than
``hassio`` does), as pinned in the manifests; install them with Home Assistant's
package_constraints.txt.

Usage: VENV/bin/python scripts/frontend_requirements.py  (with the Python of the venv to complete)
"""

from __future__ import annotations

import json
import re
from importlib import metadata
from pathlib import Path

import homeassistant.components
import homeassistant.helpers.service
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name


def base_components() -> set[str]:
    """The components whose import validating service descriptions needs."""
    source = Path(homeassistant.helpers.service.__file__).read_text(encoding="utf-8")
    match = re.search(r"def _base_components\(\).*?from homeassistant\.components import \((.*?)\)",
                      source, re.S)  # fmt: skip
    if match is None:
        return set()
    return set(re.findall(r"^\s*(\w+),", match.group(1), re.M))


def requirements(roots: set[str]) -> list[str]:
    """The manifest requirements of ``roots`` and their dependencies, not installed here."""
    components = Path(homeassistant.components.__file__).parent
    seen: set[str] = set()
    todo = sorted(roots)
    found: dict[str, str] = {}
    while todo:
        domain = todo.pop()
        if domain in seen or not (components / domain / "manifest.json").is_file():
            continue
        seen.add(domain)
        manifest = json.loads((components / domain / "manifest.json").read_text(encoding="utf-8"))
        todo.extend(manifest.get("dependencies", []))
        todo.extend(manifest.get("after_dependencies", []))
        for line in manifest.get("requirements", []):
            found.setdefault(canonicalize_name(Requirement(line).name), line)
    missing = []
    for name, line in sorted(found.items()):
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            missing.append(line)
            continue
        if not Requirement(line).specifier.contains(installed, prereleases=True):
            missing.append(line)  # the test harness pins an older one (aiohasupervisor)
    return missing


def started_components() -> set[str]:
    """What every ``hass`` process sets up by itself (bootstrap's default integrations, which
    2026.x extends with entity platforms such as ``infrared`` and ``radio_frequency``), and what the
    demo adds for graphs (``hass_demo.HISTORY_COMPONENTS``)."""
    from homeassistant import bootstrap

    return set(bootstrap.DEFAULT_INTEGRATIONS) | {"recorder", "history", "logbook", "energy"}


if __name__ == "__main__":
    roots = {"frontend"} | base_components() | started_components()
    print("\n".join(requirements(roots)))
