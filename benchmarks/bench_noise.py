"""Repair benchmark: inject faults (in and outside the repair model) into telegram streams of every
generator meter style and into the real Sanxing log, decode, compare byte-exact with the originals;
the same streams through the original tool's five fixes and through dsmr_parser.

Run via scripts/bench-noise. Each damaged telegram sits between good ones, as on a real line, and
the stream is decoded in order, so the engine sees exactly what it sees live: the telegrams
before, and (it waits for it) the one after. Stream classes: ``first`` damages the first telegram
of a stream (nothing before it to learn from), ``run`` three consecutive telegrams. ``crc_blind``
damages two digits so that the telegram still matches its CRC: no reader can see it from the CRC;
what a reader accepts shows as miscorrected, what the continuity check of valid telegrams rejects
(a counter that jumps and comes back) as rejected.

Per class the table prints recovered / rejected / miscorrected, and for the engine the sum of the
expected false matches of the repairs it accepted ("E sum": what a 16-bit CRC leaves to chance if
every one of those faults had been outside the searched models) and the repair time.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "custom_components" / "p1_dsmr"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from baseline_original import OriginalRepair  # noqa: E402
from p1lib.crc import crc16, parse_crc_field  # noqa: E402
from p1lib.decoder import Decoder  # noqa: E402
from p1lib.faults import CRC_BLIND, OUTSIDE, SINGLE_FAULTS, inject, same_telegram  # noqa: E402
from p1lib.framing import Frame, Framer, normalize_line_ends  # noqa: E402
from p1lib.generator import STYLES, MeterSimulator  # noqa: E402
from p1lib.repair import BOUND, RepairEngine, RepairOutcome  # noqa: E402

REAL_LOG = ROOT.parent / "shared" / "samples" / "logs" / "seed_putty_20230502.log"
DSMR_SPECS = {
    "hu_sanxing": "EON_HUNGARY",
    "hu_sagemcom": "EON_HUNGARY",
    "nl_dsmr5": "V5",
    "nl_dsmr4": "V4",
    "be_fluvius": "BELGIUM_FLUVIUS",
    "real_sanxing": "EON_HUNGARY",
}
STREAM_CLASSES = ("first", "run")
CLEAN_SAMPLE = 100
"""Clean telegrams per stream given to dsmr_parser (about 1 ms each)."""
MODELLED = (*SINGLE_FAULTS, "burst", "two_faults", "first")
CLASSES = (*MODELLED, *OUTSIDE, "run", *CRC_BLIND)
TOOLS = ("ours", "original", "dsmr_parser")


SMALLER = (4, 16)
"""Recovery is also reported as it would be with the bound divided by these."""


@dataclass
class Tally:
    injected: int = 0
    recovered: int = 0
    rejected: int = 0
    miscorrected: int = 0
    risk: float = 0.0
    """Sum of the expected false matches of every damaged telegram's search."""
    times: list[float] = field(default_factory=list)
    smaller: dict[int, tuple[int, int]] = field(default_factory=dict)
    """Bound divisor -> (recovered, miscorrected) had the bound been that much smaller."""

    def add(self, other: Tally) -> None:
        self.injected += other.injected
        self.recovered += other.recovered
        self.rejected += other.rejected
        self.miscorrected += other.miscorrected
        self.risk += other.risk
        self.times += other.times
        for divisor, (recovered, miscorrected) in other.smaller.items():
            mine = self.smaller.get(divisor, (0, 0))
            self.smaller[divisor] = (mine[0] + recovered, mine[1] + miscorrected)


Tallies = dict[str, dict[str, Tally]]  # tool -> class ("" for clean telegrams) -> tally


def real_telegrams() -> list[bytes]:
    """The good telegrams of the real Sanxing log, in order."""
    decoder = Decoder()
    data = REAL_LOG.read_bytes()
    return [r.data for r in decoder.feed(data) + decoder.flush() if r.accepted]


class Source:
    """Successive good telegrams of one meter; ``fresh`` starts a new stream."""

    def __init__(self, name: str, seed: int) -> None:
        self.name = name
        self.seed = seed
        self._real = real_telegrams() if name == "real_sanxing" else None
        self._start = 0
        self._iterator: Iterator[bytes] = iter(())

    def stream(self) -> Iterator[bytes]:
        if self._real is not None:
            # Start at a different place each time, so faults meet different telegrams.
            start = self._start % len(self._real)
            self._start += 97
            return iter(self._real[start:])
        self.seed += 1
        return MeterSimulator(self.name, seed=self.seed, solar=True).telegrams(10**9)


def build(
    source: Source, fault: str, count: int, rng: random.Random
) -> list[list[tuple[bytes, bytes, str]]]:
    """Streams of (sent, original, fault) telegrams holding ``count`` faults of class ``fault``."""
    streams: list[list[tuple[bytes, bytes, str]]] = []
    if fault == "first":
        for _ in range(count):
            telegrams = source.stream()
            original = next(telegrams)
            damage = rng.choice(sorted(SINGLE_FAULTS))
            stream = [(inject(original, damage, rng), original, fault)]
            stream += [(t, t, "") for t in (next(telegrams), next(telegrams))]
            streams.append(stream)
        return streams
    stream: list[tuple[bytes, bytes, str]] = []
    telegrams = source.stream()
    injected = 0
    while injected < count:
        try:
            for _ in range(2):
                clean = next(telegrams)
                stream.append((clean, clean, ""))
            if fault == "run":
                for _ in range(3):
                    original = next(telegrams)
                    damage = rng.choice(sorted(SINGLE_FAULTS))
                    stream.append((inject(original, damage, rng), original, fault))
                    injected += 1
            else:
                original = next(telegrams)
                stream.append((inject(original, fault, rng), original, fault))
                injected += 1
        except StopIteration:  # the real log ended: a new stream
            streams.append(stream)
            stream = []
            telegrams = source.stream()
    clean = next(telegrams, None)
    if clean is not None:
        stream.append((clean, clean, ""))
    streams.append(stream)
    return streams


class TimedEngine(RepairEngine):
    """Records how long each repair took, by the frame's stream offset."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: dict[int, float] = {}
        self.risk: dict[int, float] = {}

    def repair(self, frame: Frame, *args: object, **kwargs: object) -> RepairOutcome:
        # CPU time of this thread: the machine's other work (the other benchmark process, other
        # users) does not count as the engine's.
        started = time.thread_time()
        outcome = super().repair(frame, *args, **kwargs)  # type: ignore[arg-type]
        seconds = time.thread_time() - started
        self.seconds[frame.offset] = self.seconds.get(frame.offset, 0.0) + seconds
        self.risk[frame.offset] = max(self.risk.get(frame.offset, 0.0), outcome.expected_false)
        return outcome


def owners(stream: list[tuple[bytes, bytes, str]]) -> list[int]:
    return list(accumulate((len(sent) for sent, _, _ in stream[:-1]), initial=0))


def account(
    stream: list[tuple[bytes, bytes, str]],
    outcome: dict[int, list[tuple[bool, bytes, float]]],
    tallies: dict[str, Tally],
    seconds: dict[int, float],
    risk: dict[int, float] | None = None,
    skip_unseen: bool = False,
) -> None:
    for index, (_, original, fault) in enumerate(stream):
        if skip_unseen and index not in outcome:
            continue
        tally = tallies[fault]
        tally.injected += 1
        accepted = [(data, e) for ok, data, e in outcome.get(index, []) if ok]
        wrong = any(not same_telegram(data, original) for data, _ in accepted)
        if wrong:
            tally.miscorrected += 1
        elif accepted:
            tally.recovered += 1
        else:
            tally.rejected += 1
        if fault and risk is not None:
            tally.risk += risk.get(index, 0.0)
            expected = max((e for _, e in accepted), default=0.0)
            for divisor in SMALLER:
                kept = bool(accepted) and expected <= BOUND / divisor
                recovered, miscorrected = tally.smaller.get(divisor, (0, 0))
                tally.smaller[divisor] = (
                    recovered + (kept and not wrong),
                    miscorrected + (kept and wrong),
                )
        if fault and index in seconds:
            tally.times.append(seconds[index])


def ours(stream: list[tuple[bytes, bytes, str]], tallies: dict[str, Tally]) -> None:
    engine = TimedEngine()
    decoder = Decoder(repair=engine)
    starts = owners(stream)
    outcome: dict[int, list[tuple[bool, bytes, float]]] = defaultdict(list)
    results = []
    for sent, _, _ in stream:
        results += decoder.feed(sent)
    results += decoder.flush()
    for result in results:
        owner = bisect_right(starts, result.frame.offset) - 1
        expected = result.repair.expected_false if result.repair is not None else 0.0
        outcome[owner].append((result.accepted, result.data, expected))
    seconds = {bisect_right(starts, offset) - 1: s for offset, s in engine.seconds.items()}
    risk = {bisect_right(starts, offset) - 1: e for offset, e in engine.risk.items()}
    account(stream, outcome, tallies, seconds, risk)


def original_tool(stream: list[tuple[bytes, bytes, str]], tallies: dict[str, Tally]) -> None:
    """The original tool's five fixes on the same frames."""
    repair = OriginalRepair()
    framer = Framer()
    starts = owners(stream)
    outcome: dict[int, list[tuple[bool, bytes, float]]] = defaultdict(list)
    frames = []
    for sent, _, _ in stream:
        frames += framer.feed(sent)
    frames += framer.flush()
    for frame in frames:
        owner = bisect_right(starts, frame.offset) - 1
        data = normalize_line_ends(frame.data)
        sent_crc = parse_crc_field(frame.crc_text)
        if not frame.complete:
            outcome[owner].append((False, b"", 0.0))
            continue
        if frame.has_header and sent_crc is not None and crc16(data) == sent_crc:
            repair.learn(data)
            outcome[owner].append((True, data + frame.crc_text + b"\r\n", 0.0))
            continue
        fixed = repair.repair(data, sent_crc)
        if fixed is None:
            outcome[owner].append((False, b"", 0.0))
        else:
            outcome[owner].append((True, fixed + frame.crc_text + b"\r\n", 0.0))
    account(stream, outcome, tallies, {})


def dsmr_parser(
    source: str, stream: list[tuple[bytes, bytes, str]], tallies: dict[str, Tally]
) -> bool:
    try:
        from dsmr_parser import telegram_specifications
        from dsmr_parser.parsers import TelegramParser
    except ImportError:
        return False
    parser = TelegramParser(getattr(telegram_specifications, DSMR_SPECS[source]))
    outcome: dict[int, list[tuple[bool, bytes, float]]] = defaultdict(list)
    clean = 0
    for index, (sent, _, fault) in enumerate(stream):
        if not fault:  # it is slow: a sample of the clean telegrams is enough
            clean += 1
            if clean > CLEAN_SAMPLE:
                continue
        try:
            # What its serial reader hands the parser: ASCII text (0xFF raises there).
            parser.parse(sent.decode("ascii"))
        except Exception:
            outcome[index].append((False, b"", 0.0))
        else:
            outcome[index].append((True, sent, 0.0))
    account([(s, o, f) for s, o, f in stream], outcome, tallies, {}, skip_unseen=True)
    return True


def task(
    source_name: str, fault: str, count: int, seed: int, tools: tuple[str, ...] = TOOLS
) -> tuple[str, Tallies, bool]:
    """One source, one class: build the streams and decode them with ``tools``."""
    rng = random.Random(f"{seed}:{source_name}:{fault}")
    source = Source(source_name, seed * 1000 + CLASSES.index(fault) * 10)
    tallies: Tallies = {tool: defaultdict(Tally) for tool in TOOLS}
    have_dsmr = True
    for stream in build(source, fault, count, rng):
        if "ours" in tools:
            ours(stream, tallies["ours"])
        if "original" in tools:
            original_tool(stream, tallies["original"])
        if "dsmr_parser" in tools:
            have_dsmr = dsmr_parser(source_name, stream, tallies["dsmr_parser"]) and have_dsmr
    return source_name, {tool: dict(t) for tool, t in tallies.items()}, have_dsmr


def pct(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.2f}%" if whole else "-"


def p99(times: list[float]) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] if ordered else 0.0


def table(title: str, tallies: dict[str, Tally], classes: list[str], engine: bool) -> None:
    print(f"\n{title}")
    head = f"  {'fault class':16s} {'injected':>8s} {'recovered':>9s} {'rejected':>9s} {'miscorr.':>8s}"
    if engine:
        head += f" {'risk':>7s} {'median ms':>9s} {'p99 ms':>7s}"
        head += "".join(f" {'B/' + str(d) + ' rec.':>10s}" for d in SMALLER)
    print(head)
    for name in classes:
        if name not in tallies:
            continue
        t = tallies[name]
        line = (
            f"  {name:16s} {t.injected:8d} {pct(t.recovered, t.injected):>9s}"
            f" {pct(t.rejected, t.injected):>9s} {t.miscorrected:8d}"
        )
        if engine:
            median = 1000 * statistics.median(t.times) if t.times else 0.0
            line += f" {t.risk:7.2f} {median:9.2f} {1000 * p99(t.times):7.2f}"
            for divisor in SMALLER:
                recovered, miscorrected = t.smaller.get(divisor, (0, 0))
                line += f" {pct(recovered, t.injected):>7s}/{miscorrected:<2d}"
        print(line)
        if name == MODELLED[-1]:
            print(f"  {'-- outside the model --':16s}")
        if name == "run" and any(c in tallies for c in CRC_BLIND):
            print("  -- damage the CRC cannot see (it still matches): only the values tell --")
    clean = tallies.get("")
    if clean is not None:
        print(
            f"  clean telegrams kept: {clean.recovered}/{clean.injected}"
            f" ({pct(clean.recovered, clean.injected)}); miscorrected {clean.miscorrected}"
        )
    if engine:
        print(
            "  risk: the sum over the class's damaged telegrams of the expected false matches of"
            " every family\n  that could have given a repair (the expected number of"
            " miscorrections had every fault been\n  outside the searched models);"
            " B/n rec.: recovered / miscorrected with a bound n times smaller."
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--faults", type=int, default=3000, help="faults per class, spread over the sources"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sources", default=",".join((*STYLES, "real_sanxing")))
    parser.add_argument("--classes", default=",".join(CLASSES))
    parser.add_argument("--jobs", type=int, default=max(1, min(2, os.cpu_count() or 1)))
    parser.add_argument(
        "--tools",
        default=",".join(TOOLS),
        help="what decodes the streams (ours: the engine alone, for large runs)",
    )
    args = parser.parse_args()
    tools = tuple(t for t in args.tools.split(",") if t)
    if "ours" not in tools or not set(tools) <= set(TOOLS):
        parser.error(f"--tools: ours and any of {', '.join(TOOLS[1:])}")
    sources = [s for s in args.sources.split(",") if s]
    if "real_sanxing" in sources and not REAL_LOG.is_file():
        print(f"({REAL_LOG} is not available: the real telegrams are skipped)")
        sources.remove("real_sanxing")
    classes = [c for c in args.classes.split(",") if c]
    print(
        f"{args.faults} faults per class over {', '.join(sources)};"
        f" acceptance bound {BOUND:.2e} expected false matches"
    )
    jobs = []
    for fault in classes:
        for number, source in enumerate(sources):
            share = args.faults // len(sources) + (number < args.faults % len(sources))
            step = 2000 if fault not in ("first",) else 500
            for chunk in range(0, share, step):
                jobs.append((source, fault, min(step, share - chunk), args.seed + chunk, tools))
    totals: Tallies = {tool: defaultdict(Tally) for tool in TOOLS}
    per_source: dict[str, dict[str, Tally]] = defaultdict(lambda: defaultdict(Tally))
    have_dsmr = True
    started = time.perf_counter()
    with ProcessPoolExecutor(args.jobs) as pool:
        futures = [pool.submit(task, *job) for job in jobs]
        for done, future in enumerate(futures, 1):
            source, tallies, dsmr = future.result()
            have_dsmr = have_dsmr and dsmr
            for tool, by_class in tallies.items():
                for name, tally in by_class.items():
                    totals[tool][name].add(tally)
                    if tool == "ours" and name and name not in CRC_BLIND:
                        per_source[source][name].add(tally)
            if done % max(1, len(futures) // 20) == 0:
                print(
                    f"  {done}/{len(futures)} ({time.perf_counter() - started:.0f} s)", flush=True
                )
    table("P1 DSMR repair engine", totals["ours"], classes, engine=True)
    if "original" in tools:
        table("Original tool's five fixes (baseline)", totals["original"], classes, engine=False)
    if have_dsmr and "dsmr_parser" in tools:
        table(
            "dsmr_parser (drops what fails the CRC; clean telegrams: a sample)",
            totals["dsmr_parser"],
            classes,
            False,
        )
    print(
        "\nP1 DSMR repair engine per source (recovered / miscorrected, every class the CRC can see)"
    )
    for source, by_class in per_source.items():
        total = Tally()
        for tally in by_class.values():
            total.add(tally)
        print(
            f"  {source:14s} {total.injected:8d} faults"
            f"  recovered {pct(total.recovered, total.injected)}"
            f"  miscorrected {total.miscorrected}  p99 {1000 * p99(total.times):.1f} ms"
        )
    ours_ = totals["ours"]
    singles = [ours_[name] for name in (*SINGLE_FAULTS, "first") if name in ours_]
    multi = [ours_[name] for name in ("burst", "two_faults") if name in ours_]
    sanxing = per_source.get("hu_sanxing", {})
    big_times = [s for t in sanxing.values() for s in t.times] + [
        s for t in per_source.get("real_sanxing", {}).values() for s in t.times
    ]
    verdicts = [
        ("clean telegrams kept 100%", ours_[""].recovered == ours_[""].injected),
        (
            "0 miscorrected in every class the CRC can see",
            all(t.miscorrected == 0 for name, t in ours_.items() if name not in CRC_BLIND),
        ),
        (
            "modelled single faults >= 99% recovered (each class, first telegrams included)",
            all(t.recovered >= 0.99 * t.injected for t in singles),
        ),
        (
            "bursts and two faults >= 90% recovered",
            all(t.recovered >= 0.9 * t.injected for t in multi),
        ),
        ("p99 repair time of a 2.3 kB telegram < 50 ms", p99(big_times) < 0.050),
    ]
    ran = {
        "modelled single faults >= 99% recovered (each class, first telegrams included)": singles,
        "bursts and two faults >= 90% recovered": multi,
        "p99 repair time of a 2.3 kB telegram < 50 ms": big_times,
    }
    print()
    for text, ok in verdicts:
        if text in ran and not ran[text]:
            print(f"  [not run] {text}")
            continue
        print(f"  [{'met' if ok else 'MISSED'}] {text}")
    print(f"  ({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
