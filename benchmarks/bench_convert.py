"""Converter throughput against dsmr_parser, and memory on a large log (run via scripts/bench)."""

from __future__ import annotations

import argparse
import io
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "custom_components" / "p1_dsmr"))

from p1lib.converter import ConvertOptions, batch_collection, convert_stream  # noqa: E402
from p1lib.generator import MeterSimulator, putty_header  # noqa: E402


def make_log(style: str, count: int, seed: int = 1) -> bytes:
    sim = MeterSimulator(style, seed=seed, solar=True)
    return putty_header(sim.now) + b"".join(sim.telegrams(count))


def ours(log: bytes) -> tuple[float, int]:
    """One run of the converter as the command line runs it: (seconds, telegrams)."""
    outputs = [io.StringIO(), io.StringIO(), io.StringIO()]
    started = time.perf_counter()
    with batch_collection():
        summary = convert_stream(io.BytesIO(log), "bench", *outputs, None, ConvertOptions())
    return time.perf_counter() - started, summary.valid


def theirs(log: bytes, spec_name: str) -> Callable[[], tuple[float, int]]:
    """dsmr_parser's parse (with its CRC check) over the same telegrams: one run per call."""
    from dsmr_parser import telegram_specifications
    from dsmr_parser.parsers import TelegramParser

    # Plain telegrams (dsmr_parser expects some countries' meters to send encrypted frames).
    spec = {**getattr(telegram_specifications, spec_name), "general_global_cipher": False}
    parser = TelegramParser(spec)
    texts = ["/" + part.decode("ascii") for part in log.split(b"\r\n/")[1:] if part.strip()]

    def run() -> tuple[float, int]:
        started = time.perf_counter()
        for text in texts:
            parser.parse(text)
        return time.perf_counter() - started, len(texts)

    return run


def rates(log: bytes, spec_name: str | None, repeat: int) -> tuple[float, int, float | None]:
    """Best rates of ours and theirs, runs interleaved so both see the same machine noise."""
    peer = theirs(log, spec_name) if spec_name is not None else None
    best_ours = best_theirs = float("inf")
    telegrams = peer_telegrams = 0
    for _ in range(repeat):
        seconds, telegrams = ours(log)
        best_ours = min(best_ours, seconds)
        if peer is not None:
            seconds, peer_telegrams = peer()
            best_theirs = min(best_theirs, seconds)
    return telegrams / best_ours, telegrams, peer_telegrams / best_theirs if peer else None


def memory_child(path: str) -> None:
    # Output goes to /dev/null: written for real, but not kept, so only the converter's own memory
    # is measured.
    with (
        open(path, "rb") as source,
        open(os.devnull, "w") as records,
        open(os.devnull, "w") as validity,
        open(os.devnull, "w") as errors,
        batch_collection(),
    ):
        summary = convert_stream(source, path, records, validity, errors, None, ConvertOptions())
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"{summary.telegrams} {rss}")


def memory(count_small: int, count_large: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        results = {}
        for count in (count_small, count_large):
            path = Path(tmp) / f"log{count}.log"
            sim = MeterSimulator("nl_dsmr5", seed=3)
            with path.open("wb") as handle:
                handle.write(putty_header(sim.now))
                for telegram in sim.telegrams(count):
                    handle.write(telegram)
            out = subprocess.run(
                [sys.executable, __file__, "--memory-child", str(path)],
                check=True,
                capture_output=True,
                text=True,
            ).stdout.split()
            results[count] = (int(out[0]), int(out[1]), path.stat().st_size)
        (n1, r1, s1), (n2, r2, s2) = results[count_small], results[count_large]
        print(
            f"memory: {n1} telegrams ({s1 / 1e6:.1f} MB) peak RSS {r1 / 1024:.1f} MiB; "
            f"{n2} telegrams ({s2 / 1e6:.1f} MB) peak RSS {r2 / 1024:.1f} MiB; "
            f"ratio {r2 / r1:.3f} (1.0 = constant memory)"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--memory-child")
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.memory_child)
        return
    print(
        f"converter (frame + CRC + parse + derive + CSV) vs dsmr_parser parse (+CRC), "
        f"{args.count} telegrams, best of {args.repeat} runs each, interleaved"
    )
    for style, spec in (
        ("hu_sagemcom", "EON_HUNGARY"),
        ("nl_dsmr5", "V5"),
        ("be_fluvius", "BELGIUM_FLUVIUS"),
        ("hu_sanxing", None),
        ("at_sagemcom", "SAGEMCOM_T210_D_R"),
        ("lu_smarty", "LUXEMBOURG_SMARTY"),
        ("nl_two_mbus", "V5"),
    ):
        log = make_log(style, args.count)
        rate, telegrams, peer = rates(log, spec, args.repeat)
        line = f"  {style:12s} ours {rate:9.0f}/s ({1e6 / rate:6.1f} us)"
        if peer is None:
            line += "  dsmr_parser: cannot decode (0xFF bytes raise UnicodeDecodeError)"
        else:
            line += f"  dsmr_parser {peer:7.0f}/s ({1e6 / peer:7.1f} us)  ratio {rate / peer:5.1f}x"
        assert telegrams == args.count, (style, telegrams)
        print(line)
    if args.large:
        memory(args.large // 10, args.large)


if __name__ == "__main__":
    main()
