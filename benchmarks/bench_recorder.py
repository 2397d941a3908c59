"""Home Assistant's database load: state rows written per minute, P1 DSMR beside the built-in
``dsmr`` integration, in one real Home Assistant with the recorder (SQLite).

Simulated meters stream over TCP on 127.0.0.1 at their own pace (a Dutch DSMR 5 meter, one
telegram a second; a DSMR 4 meter, one every 10 s), each stream read by one config entry:

- P1 DSMR with default options (the update interval chosen from the meter's clock),
- P1 DSMR following every telegram (update interval 0 s: the old default),
- P1 DSMR averaging over 30 s,
- the built-in ``dsmr`` integration with its defaults (a 30 s throttle that drops telegrams),
  when its library (``dsmr_parser``) can be imported; ``scripts/bench-recorder`` installs it
  beside the test venv, never into it.

Each entry gets its own meter identity (the same meter's streams, another equipment id), so all of
them run side by side in the same Home Assistant and the same minutes. After a warm-up, the rows
of the ``states`` table are counted per entry over the measured minutes (``--minutes``), read from
the database file Home Assistant writes. Printed: rows per minute, per day, and the ratio to the
built-in integration on the same meter. Counts of rows, not timings: the machine's speed does not
enter, only the pace of the meters (wall-clock seconds).

Run: ``scripts/bench-recorder [--minutes N]`` (not by CI: it takes minutes of wall-clock time).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import re
import sqlite3
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from hass_demo import HassProcess, free_port  # noqa: E402

from custom_components.p1_dsmr.p1lib.crc import crc16  # noqa: E402
from custom_components.p1_dsmr.p1lib.generator import MeterSimulator  # noqa: E402

_EQUIPMENT = re.compile(rb"0-0:96\.1\.1\(([0-9A-Fa-f]*)\)")


@dataclass
class Stream:
    """A simulated meter on a TCP port: every client gets the telegram of the current second."""

    style: str
    number: int
    telegrams: list[bytes] = field(default_factory=list)
    port: int = 0
    period: float = 1.0

    def prepare(self, count: int) -> None:
        sim = MeterSimulator(self.style, seed=self.number, solar=True)
        self.period = float(sim.period)
        ident = f"E00440073822460{self.number:02d}".encode().hex().upper().encode()
        for telegram in sim.telegrams(count):
            body = telegram[: telegram.rindex(b"!") + 1]
            body = _EQUIPMENT.sub(b"0-0:96.1.1(" + ident + b")", body, count=1)
            self.telegrams.append(body + b"%04X\r\n" % crc16(body))


class Meters:
    """The TCP servers of the streams, in a thread of their own, all on one wall clock."""

    def __init__(self, streams: list[Stream]) -> None:
        self.streams = streams
        self.started = time.monotonic()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> Meters:
        self._thread.start()
        for stream in self.streams:
            asyncio.run_coroutine_threadsafe(self._serve(stream), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _serve(self, stream: Stream) -> None:
        async def client(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while True:
                    elapsed = time.monotonic() - self.started
                    index = int(elapsed / stream.period)
                    writer.write(stream.telegrams[index % len(stream.telegrams)])
                    await writer.drain()
                    await asyncio.sleep((index + 1) * stream.period - elapsed)
            writer.close()

        server = await asyncio.start_server(client, "127.0.0.1", 0)
        stream.port = server.sockets[0].getsockname()[1]


@dataclass(frozen=True)
class Entry:
    """A config entry under measurement."""

    label: str
    meter: str
    entry_id: str
    domain: str


def add_p1(hass: HassProcess, stream: Stream, interval: float | None) -> str:
    flow = hass.request("POST", "/api/config/config_entries/flow", {"handler": "p1_dsmr"})
    flow = hass.request(
        "POST", f"/api/config/config_entries/flow/{flow['flow_id']}", {"next_step_id": "network"}
    )
    result = hass.request(
        "POST",
        f"/api/config/config_entries/flow/{flow['flow_id']}",
        {"host": "127.0.0.1", "port": stream.port},
    )
    assert result["type"] == "create_entry", result
    entry_id = str(result["result"]["entry_id"])
    if interval is not None:
        flow = hass.request(
            "POST", "/api/config/config_entries/options/flow", {"handler": entry_id}
        )
        defaults = {
            "voltage_threshold": 253.0,
            "current_threshold": 25.0,
            "repair": True,
            "archive_days": 14,
            "update_interval": interval,
        }
        result = hass.request(
            "POST", f"/api/config/config_entries/options/flow/{flow['flow_id']}", defaults
        )
        assert result["type"] == "create_entry", result
    return entry_id


def add_dsmr(hass: HassProcess, stream: Stream, version: str) -> str:
    flow = hass.request("POST", "/api/config/config_entries/flow", {"handler": "dsmr"})
    fields = {field["name"] for field in flow.get("data_schema", [])}
    if "type" in fields:  # Home Assistant 2025.4: serial or network, then host and port
        flow = hass.request(
            "POST", f"/api/config/config_entries/flow/{flow['flow_id']}", {"type": "Network"}
        )
        answer: dict[str, Any] = {"host": "127.0.0.1", "port": stream.port}
    else:  # 2026: one port field that takes a socket:// URL
        answer = {"port": f"socket://127.0.0.1:{stream.port}"}
    result = hass.request(
        "POST",
        f"/api/config/config_entries/flow/{flow['flow_id']}",
        {**answer, "dsmr_version": version},
    )
    assert result["type"] == "create_entry", result
    return str(result["result"]["entry_id"])


def state_rows(database: Path) -> dict[str, int]:
    """Rows of the ``states`` table per entity id."""
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        db.execute("PRAGMA busy_timeout = 10000")
        query = (
            "SELECT m.entity_id, COUNT(*) FROM states s"
            " JOIN states_meta m ON s.metadata_id = m.metadata_id GROUP BY m.entity_id"
        )
        return dict(db.execute(query))


def rows_by_entry(hass: HassProcess, counts: dict[str, int]) -> dict[str, int]:
    (entities,) = hass.ws({"type": "config/entity_registry/list"})
    owner = {e["entity_id"]: e["config_entry_id"] for e in entities}
    totals: dict[str, int] = defaultdict(int)
    for entity, count in counts.items():
        if entity in owner:
            totals[owner[entity]] += count
    return totals


def enabled_entities(hass: HassProcess) -> dict[str, int]:
    (entities,) = hass.ws({"type": "config/entity_registry/list"})
    totals: dict[str, int] = defaultdict(int)
    for entity in entities:
        if entity["disabled_by"] is None:
            totals[entity["config_entry_id"]] += 1
    return totals


def dsmr_available() -> bool:
    return importlib.util.find_spec("dsmr_parser") is not None


@contextlib.contextmanager
def home_assistant(config_dir: Path) -> Iterator[HassProcess]:
    hass = HassProcess(config_dir, free_port(), frontend=False, history=True)
    hass.write_config()
    try:
        hass.start()
        hass.onboard()
        yield hass
    finally:
        hass.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0, help="measured minutes (3)")
    parser.add_argument("--warmup", type=float, default=60.0, help="seconds before (60)")
    args = parser.parse_args()
    measured = args.minutes * 60.0
    total = args.warmup + measured + 120.0
    builtin = dsmr_available()
    plan: list[tuple[str, str, Stream, Any]] = []
    number = 0
    for style, meter, version in (
        ("nl_dsmr5", "DSMR 5, 1 s", "5"),
        ("nl_dsmr4", "DSMR 4, 10 s", "4"),
    ):
        variants: list[tuple[str, Any]] = [
            ("P1 DSMR, default (automatic)", None),
            ("P1 DSMR, every telegram (0 s)", 0),
            ("P1 DSMR, 30 s", 30),
        ]
        if builtin:
            variants.append(("built-in dsmr, default", ("dsmr", version)))
        for label, how in variants:
            number += 1
            stream = Stream(style, number)
            plan.append((label, meter, stream, how))
    for _label, _meter, stream, _how in plan:
        stream.prepare(int(total / (1 if stream.style == "nl_dsmr5" else 10)) + 10)
    with (
        tempfile.TemporaryDirectory(prefix="bench-recorder-") as tmp,
        Meters([stream for _label, _meter, stream, _how in plan]),
    ):
        config_dir = Path(tmp) / "config"
        with home_assistant(config_dir) as hass:
            entries: list[Entry] = []
            for label, meter, stream, how in plan:
                if isinstance(how, tuple):
                    try:
                        entry_id = add_dsmr(hass, stream, how[1])
                    except (AssertionError, OSError) as err:  # its library does not import
                        print(f"built-in dsmr not measured on {meter}: {err}", flush=True)
                        builtin = False
                        continue
                    entries.append(Entry(label, meter, entry_id, "dsmr"))
                else:
                    entries.append(Entry(label, meter, add_p1(hass, stream, how), "p1_dsmr"))
            print(f"{len(entries)} entries; warming up {args.warmup:g} s", flush=True)
            time.sleep(args.warmup)
            database = config_dir / "home-assistant_v2.db"
            before = rows_by_entry(hass, state_rows(database))
            started = time.monotonic()
            print(f"measuring {args.minutes:g} min", flush=True)
            time.sleep(measured)
            after = rows_by_entry(hass, state_rows(database))
            minutes = (time.monotonic() - started) / 60.0
            enabled = enabled_entities(hass)
    print_table(entries, before, after, minutes, enabled, builtin)


def print_table(
    entries: list[Entry],
    before: dict[str, int],
    after: dict[str, int],
    minutes: float,
    enabled: dict[str, int],
    builtin: bool,
) -> None:
    rates = {
        e.entry_id: (after.get(e.entry_id, 0) - before.get(e.entry_id, 0)) / minutes
        for e in entries
    }
    peers = {e.meter: rates[e.entry_id] for e in entries if e.domain == "dsmr"}
    print(f"\nstate rows written per minute over {minutes:.1f} min, in one Home Assistant:")
    header = ("meter", "integration, options", "entities", "rows/min", "per day", "x built-in")
    print("{:<14} {:<32} {:>8} {:>9} {:>9} {:>10}".format(*header))
    for e in entries:
        rate = rates[e.entry_id]
        peer = peers.get(e.meter)
        ratio = f"{rate / peer:.1f}" if peer else "-"
        print(
            f"{e.meter:<14} {e.label:<32} {enabled.get(e.entry_id, 0):>8} {rate:>9.0f}"
            f" {rate * 1440 / 1e6:>8.2f}M {ratio:>10}"
        )
    if not builtin:
        print("(the built-in dsmr integration was not measured: see above, or no dsmr_parser)")


if __name__ == "__main__":
    main()
