"""HACS packaging, manifest, brand icons, translations and the quality scale, checked."""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path
from typing import Any

import homeassistant.components
import yaml
from awesomeversion import AwesomeVersion
from homeassistant.const import __version__ as HA_VERSION

from custom_components.p1_dsmr.binary_sensor import BINARY_SENSORS
from custom_components.p1_dsmr.p1lib.obis import REGISTRY
from custom_components.p1_dsmr.sensor import DERIVED_SENSORS, LINK_SENSORS, PHASE_SENSORS

ROOT = Path(__file__).resolve().parents[2]
COMPONENT = ROOT / "custom_components" / "p1_dsmr"
LANGUAGES = ("en", "hu", "nl")

RULES = {
    "bronze": """action-setup appropriate-polling brands common-modules config-flow
        config-flow-test-coverage dependency-transparency docs-actions docs-conditions
        docs-high-level-description docs-installation-instructions docs-removal-instructions
        docs-triggers entity-event-setup entity-unique-id has-entity-name runtime-data
        test-before-configure test-before-setup unique-config-entry""",
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


# The keys hassfest accepts in a custom integration's manifest (it rejects any other): Home
# Assistant reads no minimum release from it; hacs.json and the README state the supported ones.
MANIFEST_KEYS = {
    "domain", "name", "after_dependencies", "bluetooth", "codeowners", "config_flow",
    "dependencies", "dhcp", "disabled", "documentation", "homekit", "import_executor",
    "integration_type", "iot_class", "issue_tracker", "loggers", "mqtt", "quality_scale",
    "requirements", "single_config_entry", "ssdp", "usb", "version", "zeroconf",
}  # fmt: skip


def test_manifest() -> None:
    manifest = load("manifest.json")
    assert set(manifest) <= MANIFEST_KEYS
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


def rules_home_assistant_uses() -> set[str]:
    """Every rule id in the quality_scale.yaml of the installed Home Assistant's integrations
    (hassfest accepts no other: a rule it adds shows up here with the release that adds it)."""
    components = Path(homeassistant.components.__file__).parent
    rules: set[str] = set()
    for path in components.glob("*/quality_scale.yaml"):
        rules.update(yaml.safe_load(path.read_text(encoding="utf-8")).get("rules") or {})
    return rules


def test_quality_scale() -> None:
    scale = yaml.safe_load((COMPONENT / "quality_scale.yaml").read_text())["rules"]
    expected = {rule for tier in RULES.values() for rule in tier.split()}
    assert set(scale) == expected
    known = rules_home_assistant_uses()
    assert len(known) > 40  # the installed Home Assistant ships its integrations' scales
    assert known <= expected, sorted(known - expected)
    for rule, status in scale.items():
        if isinstance(status, dict):
            assert status["status"] in ("done", "exempt"), rule
            if status["status"] == "exempt":
                assert len(status.get("comment", "")) > 10, rule
        else:
            assert status == "done", rule


def test_quality_scale_exemptions_hold() -> None:
    """An exemption that stops being true (triggers added, say) fails here."""
    scale = yaml.safe_load((COMPONENT / "quality_scale.yaml").read_text())["rules"]
    files = {path.name for path in COMPONENT.iterdir()}
    manifest = load("manifest.json")
    exempt_unless = {
        "docs-triggers": {"triggers.yaml", "trigger.py", "device_trigger.py"},
        "docs-conditions": {"conditions.yaml", "condition.py", "device_condition.py"},
        "reauthentication-flow": set(),
        "inject-websession": set(),
        "discovery": set(),
    }
    for rule, present in exempt_unless.items():
        assert scale[rule]["status"] == "exempt", rule
        assert not files & present, (rule, files & present)
    assert "async_step_reauth" not in (COMPONENT / "config_flow.py").read_text()
    assert not {"usb", "zeroconf", "dhcp", "ssdp"} & set(manifest)
    assert not re.search(
        r"aiohttp|httpx|async_get_clientsession", (COMPONENT / "source.py").read_text()
    )


def test_supported_releases_are_stated_and_tested() -> None:
    """hacs.json's minimum is the oldest release the suite runs on; the README names it, the
    current release and the manifest's version; this run's Home Assistant is within the range."""
    minimum = json.loads((ROOT / "hacs.json").read_text())["homeassistant"]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    supported = re.search(r"\*\*Supported Home Assistant releases\*\*:(.+?)\n\n", readme, re.S)
    assert supported is not None
    statement = " ".join(supported.group(1).split())
    version = load("manifest.json")["version"]
    assert f"P1 DSMR {version} supports Home Assistant {minimum} (the oldest" in statement
    current = re.search(r"to (\d{4}\.\d+) \(the current release\)", statement)
    assert current is not None
    running = tuple(int(part) for part in HA_VERSION.split(".")[:2])
    assert tuple(int(part) for part in minimum.split(".")[:2]) <= running
    assert running <= tuple(int(part) for part in current.group(1).split("."))
    assert AwesomeVersion(HA_VERSION) >= AwesomeVersion(minimum)
