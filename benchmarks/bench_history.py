"""Importing a month of 1-second telegrams into long-term statistics (run via scripts/bench-history).

1. A generated month of a Dutch DSMR 5 meter (a telegram a second, gas, solar export) is written
   to a temporary log, with a few damaged telegrams.
2. The library part (decode, repair, hourly aggregates) runs on it, and the converter (the peer,
   the same decoder writing the records CSV to /dev/null) on the same file, in turns: the ratio is
   what this machine's noise cannot change. Peak memory is measured in subprocesses for a tenth of
   the month and for the month (bounded: the ratio stays near 1).
3. With ``--hass``: a real Home Assistant process with its recorder (SQLite) imports the month
   through the action, and the wall time of the whole import is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "custom_components" / "p1_dsmr"))
sys.path.insert(0, str(ROOT / "scripts"))

from p1lib.converter import ConvertOptions, batch_collection, convert_stream  # noqa: E402
from p1lib.faults import inject  # noqa: E402
from p1lib.generator import MeterSimulator, putty_header  # noqa: E402
from p1lib.history import read_history_file  # noqa: E402

DAY = 86_400


def write_log(path: Path, seconds: int, start: datetime) -> int:
    """A log of ``seconds`` one-second telegrams (one in 20,000 damaged); its telegram count."""
    sim = MeterSimulator("nl_dsmr5", seed=30, solar=True, start=start)
    rng = random.Random(30)
    with path.open("wb") as handle:
        handle.write(putty_header(sim.now))
        batch = []
        for index in range(seconds):
            telegram = sim.telegram()
            if index % 20_000 == 10_000:
                telegram = inject(telegram, "bit_loss", rng)
            batch.append(telegram)
            if len(batch) == 10_000:
                handle.write(b"".join(batch))
                batch = []
        handle.write(b"".join(batch))
    return seconds


def time_import(path: Path) -> tuple[float, int, int]:
    started = time.perf_counter()
    history = read_history_file(path)
    hours = max(len(series) for series in history.series.values())
    return time.perf_counter() - started, history.stats.aggregated, hours


def time_convert(path: Path) -> float:
    started = time.perf_counter()
    with (
        path.open("rb") as source,
        open(os.devnull, "w") as records,
        open(os.devnull, "w") as validity,
        open(os.devnull, "w") as errors,
        batch_collection(),
    ):
        convert_stream(source, str(path), records, validity, errors, None, ConvertOptions())
    return time.perf_counter() - started


def memory_child(path: str) -> None:
    history = read_history_file(Path(path))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"{history.stats.aggregated} {rss}")


def peak_memory(path: Path) -> tuple[int, int]:
    out = subprocess.run(
        [sys.executable, __file__, "--memory-child", str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return int(out[0]), int(out[1])


def hass_import(folder: Path, log: Path, last: bytes) -> float:
    """The whole import through the action, in a real Home Assistant with its recorder."""
    import aiohttp
    from hass_demo import HassProcess, free_port

    hass = HassProcess(folder / "config", free_port(), frontend=False)
    hass.write_config()
    with (hass.config_dir / "configuration.yaml").open("a", encoding="utf-8") as handle:
        handle.write("recorder:\n  commit_interval: 1\n")
    inside = hass.config_dir / "p1_dsmr" / log.name  # the integration's folder is allowed
    inside.parent.mkdir(parents=True, exist_ok=True)
    log.replace(inside)
    log = inside
    live = folder / "live.log"
    live.write_bytes(last)
    try:
        hass.start()
        hass.onboard()
        entry = hass.add_file_meter(live, mode="follow", loop=False)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            state = hass.states().get("sensor.electricity_meter_energy_import_tariff_1")
            if state and state["state"] not in ("unknown", "unavailable"):
                break
            time.sleep(0.5)

        async def call() -> tuple[dict[str, object], dict[str, float]]:
            async with (
                aiohttp.ClientSession() as session,
                session.ws_connect(f"{hass.url}/api/websocket", timeout=3600) as ws,
            ):
                await ws.receive_json()
                await ws.send_json({"type": "auth", "access_token": hass.token})
                await ws.receive_json()
                # As in a running installation: Home Assistant has its first 5-minute statistics
                # of the meter (the import would wait for them otherwise).
                query = 100
                while True:
                    query += 1
                    await ws.send_json(
                        {
                            "id": query,
                            "type": "recorder/statistics_during_period",
                            "start_time": "2000-01-01T00:00:00Z",
                            "statistic_ids": ["sensor.electricity_meter_energy_import_tariff_1"],
                            "period": "5minute",
                            "types": ["sum"],
                        }
                    )
                    answer = await ws.receive_json()
                    assert answer.get("success"), answer
                    if answer["result"]:
                        break
                    await asyncio.sleep(5)
                await ws.send_json(
                    {
                        "id": 1001,
                        "type": "subscribe_events",
                        "event_type": "p1_dsmr_import_progress",
                    }
                )
                await ws.receive_json()
                started = time.perf_counter()
                stages: dict[str, float] = {}
                await ws.send_json(
                    {
                        "id": 1002,
                        "type": "call_service",
                        "domain": "p1_dsmr",
                        "service": "import_history",
                        "service_data": {"config_entry_id": entry["entry_id"], "path": str(log)},
                        "return_response": True,
                    }
                )
                while True:
                    reply = await ws.receive_json(timeout=3600)
                    if reply.get("type") == "event":
                        stage = reply["event"]["data"]["stage"]
                        stages.setdefault(stage, time.perf_counter() - started)
                        continue
                    if reply.get("id") == 1002:
                        break
                stages["total"] = time.perf_counter() - started
            assert reply["success"], reply
            return dict(reply["result"]["response"]), stages

        summary, stages = asyncio.run(call())
        print(
            f"  hass: {summary['telegrams']} telegrams, {summary['hours_written']} hours written"
            f" into {len(summary['statistics'])} statistics, {summary['repaired']} repaired,"  # type: ignore[arg-type]
            f" {summary['rejected']} rejected; reading {stages.get('writing', 0):.1f} s,"
            f" writing {stages['total'] - stages.get('writing', 0):.1f} s"
        )
        return stages["total"]
    finally:
        hass.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=float, default=30)
    parser.add_argument("--hass", action="store_true", help="also import through a hass process")
    parser.add_argument("--only-hass", action="store_true", help="only the hass import")
    parser.add_argument("--memory-child")
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.memory_child)
        return
    seconds = int(args.days * DAY)
    start = datetime.now().replace(microsecond=0) - timedelta(days=args.days + 1)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        log = folder / "month.log"
        small = folder / "tenth.log"
        made = time.perf_counter()
        write_log(log, seconds, start)
        if not args.only_hass:
            write_log(small, seconds // 10, start)
        print(
            f"generated {seconds} one-second telegrams ({log.stat().st_size / 1e9:.2f} GB) in"
            f" {time.perf_counter() - made:.0f} s"
        )
        if args.only_hass:
            peer = time_convert(log)
            print(f"converter on the same log: {peer:.1f} s")
            last = log.read_bytes()[-2000:]
            total = hass_import(folder, log, last[last.rindex(b"/") :])
            print(
                f"whole import in Home Assistant: {total:.1f} s; ratio to the converter"
                f" {total / peer:.2f}"
            )
            return
        ours, aggregated, hours = time_import(log)
        peer = time_convert(log)
        ours = min(ours, time_import(log)[0])
        peer = min(peer, time_convert(log))
        print(
            f"library (decode, repair, hourly aggregates): {ours:.1f} s"
            f" ({1e6 * ours / aggregated:.1f} us per telegram, {hours} hours);"
            f" converter on the same log: {peer:.1f} s; ratio {ours / peer:.2f}"
        )
        n1, r1 = peak_memory(small)
        n2, r2 = peak_memory(log)
        print(
            f"memory: {n1} telegrams peak RSS {r1 / 1024:.1f} MiB; {n2} telegrams peak RSS"
            f" {r2 / 1024:.1f} MiB; ratio {r2 / r1:.3f} (1.0 = bounded by hours, not telegrams)"
        )
        if args.hass:
            sim_last = log.read_bytes()[-2000:]
            last = sim_last[sim_last.rindex(b"/") :]
            total = hass_import(folder, log, last)
            print(
                f"whole import in Home Assistant (read, join, write): {total:.1f} s;"
                f" ratio to the converter {total / peer:.2f}"
            )


if __name__ == "__main__":
    main()
