"""Repair benchmark: inject every fault class into generated telegram streams, decode, compare
byte-exact with the originals; the same for the original tool's repair and for dsmr_parser.

Run via scripts/bench-noise. Each damaged telegram follows a clean one, as on a real line where
about 1 telegram in 1000 is damaged; the stream is decoded in order, so the engine learns from the
telegrams before, exactly as it does live.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "custom_components" / "p1_dsmr"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from baseline_original import OriginalRepair  # noqa: E402
from p1lib.decoder import Decoder  # noqa: E402
from p1lib.faults import FAULTS, SINGLE_FAULTS, inject, same_telegram  # noqa: E402
from p1lib.framing import Framer, normalize_line_ends  # noqa: E402
from p1lib.generator import STYLES, MeterSimulator  # noqa: E402
from p1lib.repair import RepairEngine  # noqa: E402

DSMR_SPECS = {
    "hu_sanxing": "EON_HUNGARY",
    "hu_sagemcom": "EON_HUNGARY",
    "nl_dsmr5": "V5",
    "nl_dsmr4": "V4",
    "be_fluvius": "BELGIUM_FLUVIUS",
}


@dataclass
class Tally:
    injected: int = 0
    recovered: int = 0
    rejected: int = 0
    miscorrected: int = 0
    times: list[float] = field(default_factory=list)


def build_stream(
    style: str, per_class: int, seed: int
) -> tuple[list[bytes], list[bytes], list[str]]:
    """(sent, originals, fault) per telegram: clean and damaged ones alternate."""
    rng = random.Random(seed)
    sim = MeterSimulator(style, seed=seed, solar=True)
    classes = [name for name in FAULTS for _ in range(per_class)]
    rng.shuffle(classes)
    sent: list[bytes] = []
    originals: list[bytes] = []
    faults: list[str] = []
    for _ in range(3):  # a few clean telegrams to learn from
        telegram = sim.telegram()
        sent.append(telegram)
        originals.append(telegram)
        faults.append("")
    for fault in classes:
        clean = sim.telegram()
        sent.append(clean)
        originals.append(clean)
        faults.append("")
        original = sim.telegram()
        sent.append(inject(original, fault, rng))
        originals.append(original)
        faults.append(fault)
    return sent, originals, faults


def ours(
    sent: list[bytes],
    originals: list[bytes],
    faults: list[str],
    tallies: dict[str, Tally],
    clean: Tally,
) -> None:
    decoder = Decoder(repair=RepairEngine())
    starts = list(accumulate((len(t) for t in sent[:-1]), initial=0))
    outcome: dict[int, list[tuple[bool, bytes]]] = defaultdict(list)
    elapsed: dict[int, float] = {}
    for index, telegram in enumerate(sent):
        started = time.perf_counter()
        results = decoder.feed(telegram)
        elapsed[index] = time.perf_counter() - started
        for result in results:
            owner = bisect_right(starts, result.frame.offset) - 1
            outcome[owner].append((result.accepted, result.data))
    for result in decoder.flush():
        owner = bisect_right(starts, result.frame.offset) - 1
        outcome[owner].append((result.accepted, result.data))
    account(originals, faults, outcome, tallies, clean, elapsed)


def account(
    originals: list[bytes],
    faults: list[str],
    outcome: dict[int, list[tuple[bool, bytes]]],
    tallies: dict[str, Tally],
    clean: Tally,
    elapsed: dict[int, float],
) -> None:
    for index, original in enumerate(originals):
        tally = tallies[faults[index]] if faults[index] else clean
        tally.injected += 1
        accepted = [data for ok, data in outcome.get(index, []) if ok]
        if any(not same_telegram(data, original) for data in accepted):
            tally.miscorrected += 1
        elif accepted:
            tally.recovered += 1
        else:
            tally.rejected += 1
        if faults[index] and index in elapsed:
            tally.times.append(elapsed[index])


def original_tool(
    sent: list[bytes],
    originals: list[bytes],
    faults: list[str],
    tallies: dict[str, Tally],
    clean: Tally,
) -> None:
    """The original tool's five fixes on the same frames."""
    repair = OriginalRepair()
    framer = Framer()
    starts = list(accumulate((len(t) for t in sent[:-1]), initial=0))
    outcome: dict[int, list[tuple[bool, bytes]]] = defaultdict(list)
    elapsed: dict[int, float] = {}
    frames = []
    for index, telegram in enumerate(sent):
        frames += [(index, f) for f in framer.feed(telegram)]
    frames += [(len(sent), f) for f in framer.flush()]
    from p1lib.crc import crc16, parse_crc_field

    for _, frame in frames:
        owner = bisect_right(starts, frame.offset) - 1
        data = normalize_line_ends(frame.data)
        sent_crc = parse_crc_field(frame.crc_text)
        started = time.perf_counter()
        if not frame.complete:
            outcome[owner].append((False, b""))
            continue
        if frame.has_header and sent_crc is not None and crc16(data) == sent_crc:
            repair.learn(data)
            outcome[owner].append((True, data + frame.crc_text + b"\r\n"))
            continue
        fixed = repair.repair(data, sent_crc)
        elapsed[owner] = time.perf_counter() - started
        if fixed is None:
            outcome[owner].append((False, b""))
        else:
            outcome[owner].append((True, fixed + frame.crc_text + b"\r\n"))
    account(originals, faults, outcome, tallies, clean, elapsed)


def dsmr_parser(
    style: str,
    sent: list[bytes],
    originals: list[bytes],
    faults: list[str],
    tallies: dict[str, Tally],
    clean: Tally,
) -> bool:
    try:
        from dsmr_parser import telegram_specifications
        from dsmr_parser.parsers import TelegramParser
    except ImportError:
        return False
    parser = TelegramParser(getattr(telegram_specifications, DSMR_SPECS[style]))
    outcome: dict[int, list[tuple[bool, bytes]]] = defaultdict(list)
    elapsed: dict[int, float] = {}
    for index, telegram in enumerate(sent):
        started = time.perf_counter()
        try:
            # What its serial reader hands the parser: ASCII text (0xFF raises there).
            text = telegram.decode("ascii")
            parser.parse(text)
        except Exception:
            outcome[index].append((False, b""))
        else:
            outcome[index].append((True, telegram))
        elapsed[index] = time.perf_counter() - started
    account(originals, faults, outcome, tallies, clean, elapsed)
    return True


def table(title: str, tallies: dict[str, Tally], clean: Tally, timed: bool = True) -> None:
    print(f"\n{title}")
    print(
        f"  {'fault class':14s} {'injected':>8s} {'recovered':>10s} {'rejected':>9s} "
        f"{'miscorrected':>12s} {'median ms':>9s} {'p99 ms':>7s}"
    )
    total = Tally()
    for name in FAULTS:
        tally = tallies[name]
        total.injected += tally.injected
        total.recovered += tally.recovered
        total.rejected += tally.rejected
        total.miscorrected += tally.miscorrected
        total.times += tally.times
        print(
            f"  {name:14s} {tally.injected:8d} {pct(tally.recovered, tally.injected):>10s} "
            f"{pct(tally.rejected, tally.injected):>9s} {tally.miscorrected:12d}"
            + (timing(tally.times) if timed else "")
        )
    print(
        f"  {'all faults':14s} {total.injected:8d} {pct(total.recovered, total.injected):>10s} "
        f"{pct(total.rejected, total.injected):>9s} {total.miscorrected:12d}"
        + (timing(total.times) if timed else "")
    )
    print(
        f"  clean telegrams kept: {clean.recovered}/{clean.injected} "
        f"({pct(clean.recovered, clean.injected)}); miscorrected {clean.miscorrected}"
    )


def pct(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.2f}%" if whole else "-"


def p99(times: list[float]) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] if ordered else 0.0


def timing(times: list[float]) -> str:
    if not times:
        return ""
    return f" {1000 * statistics.median(times):9.2f} {1000 * p99(times):7.2f}"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--faults", type=int, default=100_000, help="faults to inject in all")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--styles", default=",".join(STYLES))
    args = parser.parse_args()
    styles = args.styles.split(",")
    per_class = max(1, args.faults // (len(styles) * len(FAULTS)))
    results = {name: (defaultdict(Tally), Tally()) for name in ("ours", "original", "dsmr_parser")}
    have_dsmr = True
    started = time.perf_counter()
    for number, style in enumerate(styles):
        sent, originals, faults = build_stream(style, per_class, args.seed + number)
        ours(sent, originals, faults, *results["ours"])
        original_tool(sent, originals, faults, *results["original"])
        have_dsmr = (
            dsmr_parser(style, sent, originals, faults, *results["dsmr_parser"]) and have_dsmr
        )
        print(
            f"{style}: {len(sent)} telegrams, {sum(1 for f in faults if f)} damaged "
            f"({time.perf_counter() - started:.0f} s)",
            flush=True,
        )
    table("P1 DSMR repair engine", *results["ours"])
    table("Original tool's five fixes (baseline)", *results["original"])
    if have_dsmr:
        table("dsmr_parser (drops what fails the CRC)", *results["dsmr_parser"], timed=False)
    tallies, clean = results["ours"]
    singles = [tallies[name] for name in SINGLE_FAULTS]
    all_times = [seconds for tally in tallies.values() for seconds in tally.times]
    verdicts = [
        ("clean telegrams kept 100%", clean.recovered == clean.injected),
        ("0 miscorrected", sum(t.miscorrected for t in tallies.values()) == 0),
        (
            "each single-fault class >= 99% recovered",
            all(t.recovered >= 0.99 * t.injected for t in singles),
        ),
        (
            "two faults and burst >= 80% recovered",
            all(tallies[n].recovered >= 0.8 * tallies[n].injected for n in ("two_faults", "burst")),
        ),
        (
            "p99 repair time < 20 ms",
            p99(all_times) < 0.020,
        ),
    ]
    print()
    for text, ok in verdicts:
        print(f"  [{'met' if ok else 'MISSED'}] {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
