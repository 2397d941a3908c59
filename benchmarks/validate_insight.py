"""Validate the phase insight on generated logs with known impedances, and measure its cost.

    python benchmarks/validate_insight.py [--quick] [--seeds N]

For each meter style (per-phase power: nl_dsmr5, be_fluvius; total power and whole amps:
hu_sanxing, hu_sagemcom) and each feeder scenario, the meter simulator runs behind a
:class:`~p1lib.feeder.Feeder` with known impedances; its telegrams go through the decoder into a
:class:`~p1lib.insight.PhaseInsight`. Printed per run: each phase's estimate against the truth, the
error, the 95 % interval and whether it holds the truth; then per method the largest error and the
share of intervals that hold the truth. Last, the cost of ``PhaseInsight.update`` per telegram as a
ratio to ``DerivedCalculator.update`` (the derived values every telegram gets anyway), measured in
turns on the same telegrams.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "custom_components" / "p1_dsmr"))

from p1lib.decoder import Decoder
from p1lib.derived import DerivedCalculator
from p1lib.feeder import Feeder
from p1lib.generator import MeterSimulator
from p1lib.insight import PhaseInsight

STYLES = {"nl_dsmr5": 24.0, "be_fluvius": 24.0, "hu_sanxing": 72.0, "hu_sagemcom": 72.0}
"""Style -> hours simulated (1 s meters a day, 10 s meters three)."""

SCENARIOS: dict[str, Feeder] = {
    "default": Feeder(),
    "noisy grid, outliers": Feeder(drift=0.1, noise=0.2, skew=0.1, glitch=0.01, taps_per_day=24),
    "reactive lines, shared clouds": Feeder(x_over_r=0.4, cloud_share=1.0, solar_rise=20.0),
    "stiff and weak phases": Feeder(impedance=(0.05, 0.1, 0.8), neutral=0.04),
}


def run(style: str, hours: float, feeder: Feeder, seed: int) -> tuple[PhaseInsight, int]:
    sim = MeterSimulator(
        style, seed=seed, start=datetime(2023, 6, 1, 0, 0, 0), solar=True, feeder=feeder
    )
    insight = PhaseInsight()
    decoder = Decoder()
    count = int(hours * 3600 / sim.period)
    for data in sim.telegrams(count):
        for result in decoder.feed(data):
            if result.telegram is not None and result.accepted:
                insight.update(result.telegram)
    return insight, count


def validate(scale: float, seeds: int) -> dict[str, list[tuple[float, bool]]]:
    results: dict[str, list[tuple[float, bool]]] = {"per_phase_power": [], "total_power": []}
    print(
        f"{'style':12} {'scenario':30} {'seed':>4} {'phase':5} {'truth':>6} {'estimate':>8}"
        f" {'error':>7} {'95 % interval':>17} {'events':>6}  holds"
    )
    for name, feeder in SCENARIOS.items():
        truth = feeder.truth()
        for number, (style, hours) in enumerate(STYLES.items()):
            for seed in range(1, seeds + 1):
                # Each style its own household and grid (the feeder's seed), so the runs differ.
                seed = 100 * seed + number
                insight, _ = run(style, hours * scale, feeder, seed)
                snapshot = insight.estimator.snapshot()
                for k in range(3):
                    estimate = snapshot.impedance[k]
                    z = truth[k][k]
                    if estimate is None:
                        print(
                            f"{style:12} {name:30} {seed:4} L{k + 1:<4} {z:6.3f}     none"
                            f"  ({snapshot.reasons[k]})"
                        )
                        results[snapshot.method or "per_phase_power"].append((float("inf"), False))
                        continue
                    error = estimate.value / z - 1
                    holds = estimate.low <= z <= estimate.high
                    results[snapshot.method].append((error, holds))
                    print(
                        f"{style:12} {name:30} {seed:4} L{k + 1:<4} {z:6.3f} {estimate.value:8.4f}"
                        f" {100 * error:+6.1f}% {estimate.low:8.4f}-{estimate.high:8.4f}"
                        f" {estimate.events:6}  {'yes' if holds else 'NO'}"
                    )
                neutral = snapshot.neutral
                print(
                    f"{'':12} {'':30} {'':4} {'N':5} {feeder.neutral:6.3f} "
                    + (
                        "    none"
                        if neutral is None
                        else f"{neutral.value:8.4f}         {neutral.low:8.4f}-{neutral.high:8.4f}"
                    )
                )
    return results


def cost(rounds: int = 5) -> float:
    """Seconds of PhaseInsight.update per second of DerivedCalculator.update."""
    sim = MeterSimulator("nl_dsmr5", seed=3, solar=True, feeder=Feeder())
    decoder = Decoder()
    telegrams = [r.telegram for r in decoder.feed(b"".join(sim.telegrams(20000))) if r.telegram]
    ratios = []
    for _ in range(rounds):
        derived = DerivedCalculator()
        started = time.perf_counter()
        for telegram in telegrams:
            derived.update(telegram)
        peer = time.perf_counter() - started
        insight = PhaseInsight()
        started = time.perf_counter()
        for telegram in telegrams:
            insight.update(telegram)
        ours = time.perf_counter() - started
        ratios.append(ours / peer)
    ratios.sort()
    per = ours / len(telegrams) * 1e6
    print(
        f"\ncost: PhaseInsight.update / DerivedCalculator.update = {ratios[len(ratios) // 2]:.2f}"
        f" (median of {rounds}; {per:.1f} us per telegram in the last round)"
    )
    started = time.perf_counter()
    for _ in range(100):
        insight.estimator._snapshot = None
        insight.snapshot()
    print(f"snapshot (uncached): {(time.perf_counter() - started) * 10:.2f} ms")
    return ratios[len(ratios) // 2]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a third of the hours, one seed")
    parser.add_argument("--seeds", type=int, default=2)
    args = parser.parse_args()
    scale, seeds = (1 / 3, 1) if args.quick else (1.0, args.seeds)
    results = validate(scale, seeds)
    print()
    for method, items in results.items():
        if not items:
            continue
        errors = [abs(e) for e, _ in items]
        held = sum(1 for _, h in items if h)
        within = sum(1 for e in errors if e <= 0.10)
        print(
            f"{method}: {len(items)} estimates, largest error {100 * max(errors):.1f}%,"
            f" {within} within 10 %, {held} intervals hold the truth ({100 * held / len(items):.0f}%)"
        )
    cost()
    return 0


if __name__ == "__main__":
    sys.exit(main())
