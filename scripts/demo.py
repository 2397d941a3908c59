"""The demo: real Home Assistant, onboarded, replaying the bundled sample log (see scripts/demo)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hass_demo import ROOT, SAMPLE_LOG, HassProcess, describe


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--check", action="store_true", help="headless: wait for values, print, exit"
    )
    parser.add_argument("--port", type=int, default=8123)
    parser.add_argument("--config", type=Path, default=ROOT / ".demo" / "config")
    args = parser.parse_args()
    hass = HassProcess(args.config.resolve(), args.port, frontend=True)
    hass.write_config()
    log = hass.config_dir / "p1_sample.log"
    log.write_bytes(SAMPLE_LOG.read_bytes())
    print(f"Starting Home Assistant in {hass.config_dir} ...", flush=True)
    try:
        hass.start()
        hass.onboard()
        entry = hass.add_file_meter(log)
        print(f"Added {entry['title']} (replaying {log.name} at the meter's pace, looping)")
        states = hass.wait_for_values()
        print(f"\nHome Assistant: {hass.url}")
        print(f"User: {hass.username}  Password: {hass.password}\n")
        print("\n".join(describe(states)), flush=True)
        if args.check:
            return 0
        print("\nPress Ctrl-C to stop.", flush=True)
        while True:
            time.sleep(10)
            print("\n".join(describe(hass.states())), flush=True)
    except KeyboardInterrupt:
        return 0
    except Exception as err:
        print(
            f"demo: {err}\n(Home Assistant's output: {hass.config_dir / 'hass.out'})",
            file=sys.stderr,
        )
        return 1
    finally:
        hass.stop()


if __name__ == "__main__":
    sys.exit(main())
