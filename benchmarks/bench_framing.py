"""Framing is linear in its input for any bytes: the time of 4n bytes against n bytes, per kind.

Run with any Python 3.11+: ``python3 benchmarks/bench_framing.py``. For each kind of stream (real
telegrams and hostile noise) it frames n and 4n bytes in 4 KiB chunks (a live source) and in 1 MiB
chunks (the converter) and prints t(4n) / t(n): about 4 when the work per byte is bounded, 16 when
it is quadratic. Throughput is printed against real telegrams measured in the same run.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "custom_components" / "p1_dsmr"))

from p1lib.framing import Framer
from p1lib.generator import MeterSimulator


def streams(size: int) -> dict[str, bytes]:
    """Streams of ``size`` bytes, by kind."""
    rng = random.Random(1)

    def repeat(piece: bytes) -> bytes:
        return (piece * (size // len(piece) + 1))[:size]

    telegrams = b"".join(MeterSimulator("hu_sanxing", seed=1, solar=True).telegrams(600))
    return {
        "telegrams": repeat(telegrams),
        "random": rng.randbytes(size),
        "'/'-rich (x/ABC)": repeat(b"x/ABC"),
        "headers (/ABC CRLF)": repeat(b"/ABC\r\n"),
        "'!'-rich": repeat(b"!"),
        "'!' at line starts": repeat(b"\n!"),
        "'(' and '/'": repeat(b"(/ABC"),
        "0xFF": repeat(b"\xff"),
        "NUL": repeat(b"\x00"),
        "one long line": repeat(b"x"),
    }


def frame(data: bytes, chunk: int) -> float:
    framer = Framer()
    started = time.perf_counter()
    for start in range(0, len(data), chunk):
        framer.feed(data[start : start + chunk])
    framer.flush()
    return time.perf_counter() - started


def best(data: bytes, chunk: int, repeat: int) -> float:
    return min(frame(data, chunk) for _ in range(repeat))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256 * 1024, help="n in bytes (default 256 KiB)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    small, large = streams(args.size), streams(4 * args.size)
    print(
        f"framing n = {args.size // 1024} KiB and 4n, best of {args.repeat}; t(4n)/t(n) ~ 4: linear"
    )
    for chunk, label in ((4096, "4 KiB chunks"), (1 << 20, "1 MiB chunks")):
        reference = best(large["telegrams"], chunk, args.repeat)
        print(f"  {label}")
        worst = 0.0
        for kind in small:
            t_n = best(small[kind], chunk, args.repeat)
            t_4n = best(large[kind], chunk, args.repeat)
            ratio = t_4n / max(t_n, 1e-9)
            if kind != "telegrams":
                worst = max(worst, ratio)
            speed = 4 * args.size / max(t_4n, 1e-9) / 1e6
            print(
                f"    {kind:22} n {1000 * t_n:8.1f} ms  4n {1000 * t_4n:8.1f} ms  "
                f"ratio {ratio:5.2f}  {speed:7.1f} MB/s  "
                f"({t_4n / max(reference, 1e-9):5.1f}x the time of real telegrams)"
            )
        print(f"    worst ratio over the noise kinds: {worst:.2f} (quadratic would be 16)")


if __name__ == "__main__":
    main()
