"""Run a real Home Assistant with P1 DSMR: start it, onboard it, add a meter through the config flow.

Used by ``scripts/demo`` and by the end-to-end tests. The standard library and aiohttp (Home
Assistant's own HTTP library, for the websocket API), plus the Home Assistant in the same virtual
environment, started as a separate process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
COMPONENT = ROOT / "custom_components" / "p1_dsmr"
SAMPLE_LOG = COMPONENT / "p1lib" / "samples" / "hu_sanxing_demo.log"
CLIENT_ID = "http://127.0.0.1/"

# What default_config brings for the pages a user looks at: more-info history graphs, /history,
# /logbook and the Energy dashboard (without default_config's integrations that need packages
# Home Assistant installs at runtime, which --skip-pip does not).
HISTORY_COMPONENTS = ("recorder", "history", "logbook", "energy")

# Onboarding's steps other than creating the user. Finishing "core_config" through the API sets up
# onboarding's default integrations (Met.no, Radio Browser, Google Translate TTS, Shopping list),
# whose packages --skip-pip does not install: they would show as failed. Marked done in advance,
# only the user is created, and nothing else is set up.
_ONBOARDED_STEPS = ("core_config", "analytics", "integration")

_HTTP_FAILED = b"Failed to create HTTP server"
_MARKER = ".p1-dsmr-demo"


class PortInUse(RuntimeError):
    """The port is taken by another program (often another Home Assistant)."""


class NotOurHomeAssistant(RuntimeError):
    """Something else answers on the port: never talk to it."""


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int) -> bool:
    """Whether something listens on, or holds, ``port`` of the loopback interface."""
    with socket.socket() as probe:
        probe.settimeout(1.0)
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            return True
    with socket.socket() as sock:
        # as Home Assistant binds (connections of a stopped one, in TIME_WAIT, do not count)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


# Run first in the Home Assistant process (Linux): it gets SIGTERM when the process that started it
# dies, even by SIGKILL, so a killed demo or test leaves no Home Assistant behind.
_PARENT_WATCH = (
    "import ctypes, os, signal; ctypes.CDLL(None).prctl(1, signal.SIGTERM); "  # PR_SET_PDEATHSIG
    "os.getppid() == {parent} or os._exit(1); "
)


def _watching_parent(command: list[str]) -> list[str]:
    """``command`` (``python -m homeassistant ...`` or ``python -c CODE ...``) with the parent
    watch run first."""
    if not sys.platform.startswith("linux"):
        return command
    watch = _PARENT_WATCH.format(parent=os.getpid())
    if command[1] == "-m":
        run = f"import runpy; runpy.run_module({command[2]!r}, run_name='__main__', alter_sys=True)"
        return [command[0], "-c", watch + run, *command[3:]]
    return [command[0], "-c", watch + command[2], *command[3:]]


class HassProcess:
    """A Home Assistant process with its own configuration directory.

    ``frontend`` adds the web interface; ``history`` adds the recorder, history, logbook and energy
    (what default_config brings for graphs and the Energy dashboard).
    """

    def __init__(
        self, config_dir: Path, port: int, frontend: bool = True, history: bool = False
    ) -> None:
        self.config_dir = config_dir
        self.port = port
        self.frontend = frontend
        self.history = history
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.token: str | None = None
        self.refresh_token: str | None = None
        self.username = "demo"
        self.password = secrets.token_urlsafe(9)
        self.country = "HU"
        self.time_zone = "Europe/Budapest"

    # --- process ---------------------------------------------------------------------------------

    def write_config(self) -> None:
        """A fresh configuration directory with P1 DSMR installed as a custom integration.

        A directory that is there already is replaced only when it is empty or one of these (its
        marker, or ``hass.out``): never someone's real configuration.
        """
        if self.config_dir.exists():
            if not (
                (self.config_dir / _MARKER).exists()
                or (self.config_dir / "hass.out").exists()
                or not any(self.config_dir.iterdir())
            ):
                raise FileExistsError(
                    f"{self.config_dir} is not a configuration directory this made: choose an"
                    " empty or new one"
                )
            shutil.rmtree(self.config_dir)
        (self.config_dir / "custom_components").mkdir(parents=True)
        (self.config_dir / _MARKER).write_text("made by scripts/hass_demo.py; replaced on start\n")
        shutil.copytree(
            COMPONENT,
            self.config_dir / "custom_components" / "p1_dsmr",
            ignore=shutil.ignore_patterns("__pycache__"),
        )
        components = ["frontend:"] if self.frontend else ["api:", "config:", "onboarding:"]
        if self.history:
            components += [f"{component}:" for component in HISTORY_COMPONENTS]
        (self.config_dir / "configuration.yaml").write_text(
            "\n".join(
                [
                    "homeassistant:",
                    "  name: P1 DSMR demo",
                    f"  time_zone: {self.time_zone}",
                    f"  country: {self.country}",
                    "  unit_system: metric",
                    "  allowlist_external_dirs:",
                    f"    - {self.config_dir}",
                    "http:",
                    "  server_host: 127.0.0.1",
                    f"  server_port: {self.port}",
                    *components,
                    "logger:",
                    "  default: warning",
                    # Notices about optional speed-ups this machine lacks, nothing a P1 meter
                    # uses: libturbojpeg (camera snapshots; onboarding imports the cloud, which
                    # imports the camera), zlib-ng/isal (compression) and, on Home Assistant
                    # 2026.x, the ffmpeg program (camera streams; the cloud's camera again).
                    "  filters:",
                    "    homeassistant.components.camera.img_util:",
                    "      - '^Error loading libturbojpeg'",
                    "    aiohttp_fast_zlib:",
                    "      - 'zlib_ng and isal are not available'",
                    "    haffmpeg.core:",
                    "      - \"^FFmpeg fails .*No such file or directory: 'ffmpeg'\"",
                    "    haffmpeg.tools:",
                    "      - '^Error starting FFmpeg'",
                    "",
                ]
            )
        )
        storage = self.config_dir / ".storage"
        storage.mkdir()
        (storage / "onboarding").write_text(
            json.dumps(
                {
                    "version": 4,
                    "minor_version": 1,
                    "key": "onboarding",
                    "data": {"done": list(_ONBOARDED_STEPS)},
                },
                indent=2,
            )
        )

    def command(self) -> list[str]:
        """``python -m homeassistant`` for this configuration directory.

        In the test venv that ../shared/ha-current/make-venv builds (Home Assistant 2026.x, which
        declares Python >= 3.14, patched to run on this machine's 3.13: it leaves
        ``.py313-patches`` in the venv), Home Assistant's own Python version check would refuse
        to start; there it is skipped, and everything else runs as ``python -m homeassistant``.
        """
        args = ["-c", str(self.config_dir), "--skip-pip"]
        if (Path(sys.prefix) / ".py313-patches").is_dir():
            skip_check = (
                "import sys; from homeassistant import __main__ as main; "
                "main.validate_python = lambda: None; sys.exit(main.main())"
            )
            return [sys.executable, "-c", skip_check, *args]
        return [sys.executable, "-m", "homeassistant", *args]

    def start(self, timeout: float = 180.0) -> None:
        """Start Home Assistant and wait until its HTTP API answers.

        Raises :class:`PortInUse` when the port is taken (before starting, or when Home Assistant
        could not bind it), so that nothing is ever sent to another program on that port.
        """
        if port_in_use(self.port):
            raise PortInUse(f"port {self.port} is in use (another Home Assistant?)")
        out = self.config_dir / "hass.out"
        size = out.stat().st_size if self.process and out.exists() else 0
        with out.open("ab" if self.process else "wb") as log:  # a restart adds to it
            self.process = subprocess.Popen(
                _watching_parent(self.command()),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Home Assistant exited; see {out}")
            if _HTTP_FAILED in out.read_bytes()[size:]:
                self.stop()
                raise PortInUse(f"Home Assistant could not listen on port {self.port}; see {out}")
            try:
                # onboarding's views exist until it is done; the API needs a token
                self.request("GET", "/api/" if self.token else "/api/onboarding")
                return
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.5)
        raise TimeoutError(f"Home Assistant did not answer on {self.url} in {timeout:g} s")

    @property
    def running(self) -> bool:
        """Whether the Home Assistant process is alive."""
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 60.0) -> None:
        """Stop Home Assistant (SIGTERM, SIGKILL after ``timeout`` or on a second Ctrl-C)."""
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=timeout)
        except (subprocess.TimeoutExpired, KeyboardInterrupt):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        except ProcessLookupError:
            self.process.wait()

    # --- HTTP and websocket ----------------------------------------------------------------------

    def request(
        self, method: str, path: str, body: dict[str, Any] | None = None, form: bool = False
    ) -> Any:
        """A request to the API (JSON, or a form for the token endpoint)."""
        headers = {}
        data = None
        if body is not None and form:
            data = urllib.parse.urlencode(body).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        for attempt in (1, 2):
            if self.token:
                headers["Authorization"] = f"Bearer {self.token}"
            request = urllib.request.Request(
                self.url + path, data=data, headers=headers, method=method
            )
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    text = response.read().decode()
                break
            except urllib.error.HTTPError as err:
                # access tokens expire after 30 minutes: a long demo gets a new one
                if err.code != 401 or attempt == 2 or not self.refresh_token:
                    raise
                self.refresh()
        return json.loads(text) if text else None

    def refresh(self) -> None:
        """A new access token from the refresh token."""
        self.token = None
        tokens = self.request(
            "POST",
            "/auth/token",
            {
                "grant_type": "refresh_token",
                "refresh_token": self.refresh_token,
                "client_id": CLIENT_ID,
            },
            form=True,
        )
        self.token = tokens["access_token"]

    def ws(self, *commands: dict[str, Any]) -> list[Any]:
        """Send commands over the websocket API (one connection); their results, in order."""
        import aiohttp

        async def run() -> list[Any]:
            async with (
                aiohttp.ClientSession() as session,
                session.ws_connect(f"{self.url}/api/websocket") as ws,
            ):
                assert (await ws.receive_json(timeout=30))["type"] == "auth_required"
                await ws.send_json({"type": "auth", "access_token": self.token})
                reply = await ws.receive_json(timeout=30)
                if reply["type"] != "auth_ok":
                    raise PermissionError(f"websocket authentication failed: {reply}")
                results = []
                for number, command in enumerate(commands, 1):
                    await ws.send_json({"id": number, **command})
                    while True:
                        reply = await ws.receive_json(timeout=60)
                        if reply.get("id") == number and reply.get("type") == "result":
                            break
                    if not reply["success"]:
                        raise RuntimeError(f"{command['type']}: {reply.get('error')}")
                    results.append(reply["result"])
                return results

        try:
            return asyncio.run(run())
        except PermissionError:
            if not self.refresh_token:
                raise
            self.refresh()  # the access token expired
            return asyncio.run(run())

    def onboard(self) -> None:
        """Create the owner (a local user) and keep an access token.

        Onboarding's other steps are marked done by :meth:`write_config`, so no default
        integration is set up. Raises :class:`NotOurHomeAssistant` when the Home Assistant that
        answers is not the one started here (already onboarded, or another configuration).
        """
        try:
            created = self.request(
                "POST",
                "/api/onboarding/users",
                {
                    "client_id": CLIENT_ID,
                    "name": "P1 DSMR demo",
                    "username": self.username,
                    "password": self.password,
                    "language": "en",
                },
            )
        except urllib.error.HTTPError as err:
            raise NotOurHomeAssistant(
                f"the Home Assistant on {self.url} is already onboarded ({err}): "
                "not the fresh one started here"
            ) from err
        tokens = self.request(
            "POST",
            "/auth/token",
            {
                "grant_type": "authorization_code",
                "code": created["auth_code"],
                "client_id": CLIENT_ID,
            },
            form=True,
        )
        self.token = tokens["access_token"]
        self.refresh_token = tokens["refresh_token"]
        config_dir = self.request("GET", "/api/config")["config_dir"]
        if Path(config_dir).resolve() != self.config_dir.resolve():
            raise NotOurHomeAssistant(f"{self.url} runs the configuration in {config_dir}")

    # --- the integration -------------------------------------------------------------------------

    def add_file_meter(self, log: Path, mode: str = "replay", loop: bool = True) -> dict[str, Any]:
        """Add a P1 DSMR entry for a log file through the config flow's HTTP API."""
        flow = self.request("POST", "/api/config/config_entries/flow", {"handler": "p1_dsmr"})
        assert flow["type"] == "menu", flow
        flow = self.request(
            "POST", f"/api/config/config_entries/flow/{flow['flow_id']}", {"next_step_id": "file"}
        )
        assert flow["step_id"] == "file", flow
        result = self.request(
            "POST",
            f"/api/config/config_entries/flow/{flow['flow_id']}",
            {"path": str(log), "mode": mode, "loop": loop},
        )
        assert result["type"] == "create_entry", result
        return dict(result["result"])

    def meter_device(self, entry_id: str) -> dict[str, Any] | None:
        """The electricity meter's device of an entry (the one not behind another device)."""
        (devices,) = self.ws({"type": "config/device_registry/list"})
        return _meter_device(devices, entry_id)

    def meter_entities(self, entry_id: str) -> dict[str, str]:
        """Entity ids of an entry by the integration's value keys (``voltage_l1``...), from the
        registries (entity ids depend on names and may change; the keys do not)."""
        devices, entities = self.ws(
            {"type": "config/device_registry/list"}, {"type": "config/entity_registry/list"}
        )
        device = _meter_device(devices, entry_id)
        if device is None:
            return {}
        base = next(ident for domain, ident in device["identifiers"] if domain == "p1_dsmr")
        prefix = f"{base}_"
        return {
            entity["unique_id"][len(prefix) :]: entity["entity_id"]
            for entity in entities
            if entity["config_entry_id"] == entry_id and entity["unique_id"].startswith(prefix)
        }

    def states(self) -> dict[str, dict[str, Any]]:
        """Every entity's state."""
        return {state["entity_id"]: state for state in self.request("GET", "/api/states")}

    def wait_for_values(
        self, timeout: float = 120.0, entry_id: str | None = None, tick: Any = None
    ) -> dict[str, dict[str, Any]]:
        """Wait until a meter's voltage L1 has a value (of the entry, or of any P1 DSMR entry);
        ``tick`` is called about once a second while waiting."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            entries = [entry_id] if entry_id else self._entry_ids()
            voltages = [self.meter_entities(entry).get("voltage_l1") for entry in entries]
            states = self.states()
            for voltage in voltages:
                state = states.get(voltage or "")
                if state and state["state"] not in ("unknown", "unavailable"):
                    return states
            if tick is not None:
                tick()
            time.sleep(1)
        raise TimeoutError("the meter's sensors got no values")

    def _entry_ids(self) -> list[str]:
        entries = self.request("GET", "/api/config/config_entries/entry?domain=p1_dsmr")
        return [entry["entry_id"] for entry in entries]


def _meter_device(devices: list[dict[str, Any]], entry_id: str) -> dict[str, Any] | None:
    for device in devices:
        if entry_id in device["config_entries"] and device["via_device_id"] is None:
            return device
    return None
