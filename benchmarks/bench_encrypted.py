"""Converter throughput on encrypted logs against the same telegrams in plain (scripts/bench-encrypted).

The same generated telegrams are converted (frame, decrypt, CRC, parse, derive, CSV) as a plain log
and encrypted as a Luxembourg Smarty meter sends them, in both modes; the runs alternate so that
all see the same machine noise, and the ratios are of the best runs. The cost of looking for
encrypted frames in a plain log (what every conversion now does) is measured against the plain
decoder alone.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "custom_components" / "p1_dsmr"))

from p1lib.cipher import AUTHENTICATION_KEY_EXAMPLE, encrypt_telegram  # noqa: E402
from p1lib.converter import ConvertOptions, batch_collection, convert_stream  # noqa: E402
from p1lib.decoder import Decoder  # noqa: E402
from p1lib.encrypted import EncryptedDecoder  # noqa: E402
from p1lib.generator import MeterSimulator, putty_header  # noqa: E402
from p1lib.repair import RepairEngine  # noqa: E402

KEY = bytes.fromhex("0A1B2C3D4E5F60718293A4B5C6D7E8F9")
TITLE = b"SAG5\x00\x03\xd8\x2e"


def logs(style: str, count: int) -> tuple[bytes, bytes]:
    """The plain log and the same telegrams encrypted."""
    sim = MeterSimulator(style, seed=1, solar=True)
    header = putty_header(sim.now)
    telegrams = list(sim.telegrams(count))
    encrypted = b"".join(
        encrypt_telegram(t, KEY, TITLE, 1 + n, AUTHENTICATION_KEY_EXAMPLE)
        for n, t in enumerate(telegrams)
    )
    return header + b"".join(telegrams), header + encrypted


def converter(log: bytes, options: ConvertOptions) -> Callable[[], tuple[float, int]]:
    """One run of the converter as the command line runs it: (seconds, valid telegrams)."""

    def run() -> tuple[float, int]:
        outputs = [io.StringIO(), io.StringIO(), io.StringIO()]
        started = time.perf_counter()
        with batch_collection():
            summary = convert_stream(io.BytesIO(log), "bench", *outputs, None, options)
        return time.perf_counter() - started, summary.valid

    return run


def decoder(log: bytes, make: Callable[[], Decoder]) -> Callable[[], tuple[float, int]]:
    """Decoding alone (frame, CRC, parse), in 1 MiB chunks as the converter reads."""

    def run() -> tuple[float, int]:
        started = time.perf_counter()
        with batch_collection():
            instance = make()
            valid = 0
            for start in range(0, len(log), 1 << 20):
                valid += sum(r.accepted for r in instance.feed(log[start : start + (1 << 20)]))
            valid += sum(r.accepted for r in instance.flush())
        return time.perf_counter() - started, valid

    return run


def best(runs: dict[str, Callable[[], tuple[float, int]]], repeat: int) -> dict[str, float]:
    """Best telegrams per second of each, runs interleaved."""
    seconds = dict.fromkeys(runs, float("inf"))
    counts: dict[str, int] = {}
    for _ in range(repeat):
        for name, run in runs.items():
            elapsed, counts[name] = run()
            seconds[name] = min(seconds[name], elapsed)
    first = next(iter(counts.values()))
    assert all(count == first for count in counts.values()), counts
    return {name: first / value for name, value in seconds.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    print(
        f"converter (frame + decrypt + CRC + parse + derive + CSV), {args.count} telegrams,"
        f" best of {args.repeat} runs each, interleaved"
    )
    for style in ("nl_dsmr5", "be_fluvius", "hu_sanxing"):
        plain, encrypted = logs(style, args.count)
        rates = best(
            {
                "plain": converter(plain, ConvertOptions()),
                "unverified": converter(encrypted, ConvertOptions(key=KEY)),
                "authenticated": converter(
                    encrypted, ConvertOptions(key=KEY, auth_key=AUTHENTICATION_KEY_EXAMPLE)
                ),
            },
            args.repeat,
        )
        size = len(plain) // args.count
        print(
            f"  {style:10s} ({size:4d} B) plain {rates['plain']:6.0f}/s"
            f"  unverified {rates['unverified']:6.0f}/s"
            f" (ratio {rates['unverified'] / rates['plain']:.3f})"
            f"  authenticated {rates['authenticated']:6.0f}/s"
            f" (ratio {rates['authenticated'] / rates['plain']:.3f})"
        )
    print("looking for encrypted frames in a plain log: the decoder with repair, plain logs")
    for style in ("nl_dsmr5", "hu_sanxing"):
        plain, _ = logs(style, args.count)
        rates = best(
            {
                "Decoder": decoder(plain, lambda: Decoder(repair=RepairEngine())),
                "EncryptedDecoder": decoder(plain, lambda: EncryptedDecoder(repair=RepairEngine())),
            },
            args.repeat,
        )
        print(
            f"  {style:10s} Decoder {rates['Decoder']:6.0f}/s"
            f"  EncryptedDecoder {rates['EncryptedDecoder']:6.0f}/s"
            f"  (ratio {rates['EncryptedDecoder'] / rates['Decoder']:.3f})"
        )


if __name__ == "__main__":
    main()
