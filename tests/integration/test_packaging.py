"""HACS packaging, manifest, brand icons, translations and the quality scale, checked."""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path
from typing import Any

import yaml

from custom_components.p1_dsmr.binary_sensor import BINARY_SENSORS
from custom_components.p1_dsmr.p1lib.obis import REGISTRY
from custom_components.p1_dsmr.sensor import DERIVED_SENSORS, LINK_SENSORS, PHASE_SENSORS

ROOT = Path(__file__).resolve().parents[2]
COMPONENT = ROOT / "custom_components" / "p1_dsmr"
LANGUAGES = ("en", "hu", "nl")

RULES = {
    "bronze": """action-setup appropriate-polling brands common-modules config-flow
        config-flow-test-coverage dependency-transparency docs-actions docs-high-level-description
        docs-installation-instructions docs-removal-instructions entity-event-setup
        entity-unique-id has-entity-name runtime-data test-before-configure test-before-setup
        unique-config-entry""",
    "silver": """action-exceptions config-entry-unloading docs-configuration-parameters
        docs-installation-parameters entity-unavailable integration-owner log-when-unavailable
        parallel-updates reauthentication-flow test-coverage""",
    "gold": """devices diagnostics discovery discovery-update-info docs-data-update docs-examples
        docs-known-limitations docs-supported-devices docs-supported-functions docs-troubleshooting
        docs-use-cases dynamic-devices entity-category entity-device-class
        entity-disabled-by-default entity-translations exception-translations icon-translations
        reconfiguration-flow repair-issues stale-devices""",
    "platinum": "async-dependency inject-websession strict-typing",
}


def load(name: str) -> Any:
    return json.loads((COMPONENT / name).read_text(encoding="utf-8"))


def keys(tree: Any, prefix: str = "") -> set[str]:
    if isinstance(tree, dict):
        out: set[str] = set()
        for key, value in tree.items():
            out |= keys(value, f"{prefix}{key}.")
        return out
    return {prefix.rstrip(".")}


def test_hacs_json() -> None:
    hacs = json.loads((ROOT / "hacs.json").read_text())
    allowed = {
        "name",
        "content_in_root",
        "country",
        "filename",
        "hacs",
        "hide_default_branch",
        "homeassistant",
        "persistent_directory",
        "render_readme",
        "zip_release",
    }
    assert set(hacs) <= allowed
    assert re.fullmatch(r"\d{4}\.\d+\.\d+", hacs["homeassistant"])
    assert [
        p.name
        for p in (ROOT / "custom_components").iterdir()
        if p.is_dir() and not p.name.startswith("__")
    ] == ["p1_dsmr"]


def test_manifest() -> None:
    manifest = load("manifest.json")
    order = list(manifest)
    assert order[:2] == ["domain", "name"]
    assert order[2:] == sorted(order[2:])
    assert manifest["domain"] == "p1_dsmr"
    assert manifest["iot_class"] == "local_push"
    assert manifest["config_flow"] is True
    for key in (
        "version",
        "codeowners",
        "documentation",
        "issue_tracker",
        "integration_type",
        "requirements",
        "loggers",
    ):
        assert manifest[key], key


def test_brand_icons() -> None:
    for name, size in (("icon.png", 256), ("icon@2x.png", 512)):
        data = (COMPONENT / "brand" / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        assert struct.unpack(">II", data[16:24]) == (size, size)


def test_translations_are_complete_in_every_language() -> None:
    english = load("translations/en.json")
    for language in LANGUAGES[1:]:
        other = load(f"translations/{language}.json")
        assert keys(other) == keys(english), language
        for key in keys(english):

            def value(tree: Any, path: str = key) -> str:
                for part in path.split("."):
                    tree = tree[part]
                return str(tree)

            assert set(re.findall(r"{\w+}", value(english))) == set(
                re.findall(r"{\w+}", value(other))
            ), (language, key)


def test_every_entity_has_a_name() -> None:
    english = load("translations/en.json")
    sensors = english["entity"]["sensor"]
    for info in REGISTRY.values():
        assert info.key in sensors, info.key
    for description in (*DERIVED_SENSORS, *PHASE_SENSORS, *LINK_SENSORS):
        assert description.translation_key in sensors, description.key
    for name in ("obis_code", "mbus_reading_time"):
        assert name in sensors
    for description in BINARY_SENSORS:
        assert description.translation_key in english["entity"]["binary_sensor"]


def test_services_and_icons_match_translations() -> None:
    english = load("translations/en.json")
    services = yaml.safe_load((COMPONENT / "services.yaml").read_text())
    icons = load("icons.json")
    assert set(services) == set(english["services"]) == set(icons["services"])
    for name, service in services.items():
        assert set(service["fields"]) == set(english["services"][name]["fields"])
        for field in service["fields"].values():
            select = field.get("selector", {}).get("select")
            if select and "translation_key" in select:
                options = english["selector"][select["translation_key"]]["options"]
                assert set(select["options"]) == set(options)
    for platform, entities in icons["entity"].items():
        assert set(entities) <= set(english["entity"][platform]), platform


def test_quality_scale() -> None:
    scale = yaml.safe_load((COMPONENT / "quality_scale.yaml").read_text())["rules"]
    expected = {rule for tier in RULES.values() for rule in tier.split()}
    assert set(scale) == expected
    for rule, status in scale.items():
        if isinstance(status, dict):
            assert status["status"] in ("done", "exempt"), rule
            if status["status"] == "exempt":
                assert len(status.get("comment", "")) > 10, rule
        else:
            assert status == "done", rule
