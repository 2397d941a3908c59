"""The converter on hostile noise: time per byte against real telegrams, growth and memory.

Run with any Python 3.11+: ``python3 benchmarks/bench_convert_noise.py [--mib N]``. Each kind of
stream (real telegrams, and noise an attacker or a broken line can send) is converted whole, as
``p1-dsmr convert`` does (framing, decoding, repair attempts, the three outputs), in a process of
its own, at N and 4N MiB. It prints, per kind: seconds per MiB against real telegrams measured in
the same run (the slowdown factor), t(4N) / t(N) (about 4 when the work per byte is bounded, 16
when it is quadratic), the peak memory of the process (RSS) and the size of the outputs.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LIBRARY = Path(__file__).resolve().parent.parent / "custom_components" / "p1_dsmr"
sys.path.insert(0, str(LIBRARY))

from p1lib.generator import MeterSimulator  # noqa: E402


def stream(kind: str, size: int) -> bytes:
    """``size`` bytes of ``kind``."""

    def repeat(piece: bytes) -> bytes:
        return (piece * (size // len(piece) + 1))[:size]

    if kind == "telegrams":
        sim = MeterSimulator("hu_sanxing", seed=1, solar=True)
        return repeat(b"".join(sim.telegrams(600)))
    if kind == "random":
        return os.urandom(size)
    pieces = {
        "x/ABC": b"x/ABC",
        "x/ABC, a line end every 101 bytes": b"x/ABC" * 20 + b"\n",
        "( then x/ABC x 200": b"(" + b"x/ABC" * 200,
        "/ and a line end": b"/\n",
        "headers (/ABC CRLF)": b"/ABC\r\n",
        "headers and '!' (/ABC5 CRLF CRLF ! CRLF)": b"/ABC5\r\n\r\n!\r\n",
    }
    return repeat(pieces[kind])


KINDS = (
    "telegrams",
    "random",
    "x/ABC",
    "x/ABC, a line end every 101 bytes",
    "( then x/ABC x 200",
    "/ and a line end",
    "headers (/ABC CRLF)",
    "headers and '!' (/ABC5 CRLF CRLF ! CRLF)",
)


def child(path: str) -> None:
    """Convert ``path`` (a log file) into a temporary directory; print seconds, RSS, output size."""
    import resource

    from p1lib.converter import ConvertOptions, batch_collection, convert

    with tempfile.TemporaryDirectory() as out, batch_collection():
        started = time.perf_counter()
        summary = convert(Path(path), Path(out), ConvertOptions())
        seconds = time.perf_counter() - started
        written = sum(f.stat().st_size for f in Path(out).iterdir())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    with contextlib.suppress(OSError, StopIteration):  # ru_maxrss may count the parent's (exec)
        status = Path("/proc/self/status").read_text().splitlines()
        peak = int(next(x for x in status if x.startswith("VmHWM:")).split()[1]) * 1024
    print(
        json.dumps(
            {
                "seconds": seconds,
                "rss": peak,
                "out": written,
                "telegrams": summary.telegrams,
                "problem": summary.problem,
            }
        )
    )


def measure(data: bytes, directory: Path, name: str = "log.log") -> dict[str, float]:
    path = directory / name
    path.write_bytes(data)
    done = subprocess.run(
        [sys.executable, __file__, "--child", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mib", type=float, default=1.0, help="N: the smaller size in MiB")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    n = int(args.mib * (1 << 20))
    with tempfile.TemporaryDirectory() as temporary:
        directory = Path(temporary)
        results = {}
        for kind in KINDS:
            small = measure(stream(kind, n), directory)
            large = measure(stream(kind, 4 * n), directory)
            results[kind] = (small, large)
        per_mib = {k: large["seconds"] / (4 * n / (1 << 20)) for k, (_, large) in results.items()}
        base = per_mib["telegrams"]
        print(
            f"{'kind':42} {'s/MiB':>7} {'x telegrams':>11} {'t(4N)/t(N)':>10} "
            f"{'RSS MB':>7} {'outputs KB':>10}"
        )
        worst_slow, worst_growth = 0.0, 0.0
        for kind, (small, large) in results.items():
            growth = large["seconds"] / max(small["seconds"], 1e-9)
            slow = per_mib[kind] / base
            if kind != "telegrams":
                worst_slow, worst_growth = max(worst_slow, slow), max(worst_growth, growth)
            print(
                f"{kind:42} {per_mib[kind]:7.3f} {slow:11.1f} {growth:10.2f} "
                f"{large['rss'] / 1e6:7.0f} {large['out'] / 1e3:10.1f}"
            )
        # A small gzip that decompresses into much noise (a "slash bomb").
        bomb = gzip.compress(stream("x/ABC", 4 * n), 9)
        packed = measure(bomb, directory, "bomb.log.gz")
        print(
            f"{'gzip of x/ABC, ' + str(len(bomb) // 1000) + ' KB -> ' + str(4 * n >> 20) + ' MiB':42} "
            f"{packed['seconds'] / (4 * n / (1 << 20)):7.3f} "
            f"{packed['seconds'] / (4 * n / (1 << 20)) / base:11.1f} {'':>10} "
            f"{packed['rss'] / 1e6:7.0f} {packed['out'] / 1e3:10.1f}"
        )
        print(
            f"worst over the noise kinds: {worst_slow:.1f}x the time per byte of real telegrams;"
            f" growth t(4N)/t(N) {worst_growth:.2f} (linear 4, quadratic 16)"
        )


if __name__ == "__main__":
    main()
