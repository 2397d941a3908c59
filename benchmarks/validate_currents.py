"""Validate the current estimate where the truth is known.

    python benchmarks/validate_currents.py [--samples DIR] [--hours H]

Meters that send whole amps *and* per-phase power (Dutch DSMR 5, Q3D, Luxembourg) give the truth:
the active current ``I_k = 1000 * (P_import,k + P_export,k) / U_k``. Each of their telegrams is
parsed again without its per-phase power lines (what a Hungarian meter sends: total power and whole
amps), the estimate is derived, and its error against that truth is counted per phase, beside the
error of the whole amps as sent and of the reading's midpoint.

Sources: every telegram of ``../shared/samples/telegrams`` (real meters, other projects' test
data) that has the three kinds of lines, and a simulated Dutch DSMR 5 meter (``nl_dsmr5``, a day of
1 s telegrams, solar export on L1) for the many telegrams one real meter per file cannot give.
Printed per source and method: how many phase values, how many the fit left unknown (inputs that
disagree), the median, 95th percentile and largest absolute error in amps.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "custom_components" / "p1_dsmr"))

from p1lib.derived import DerivedCalculator
from p1lib.generator import MeterSimulator
from p1lib.parsing import Parser, Telegram

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT.parent / "shared" / "samples" / "telegrams"

_VOLTAGE = ("1-0:32.7.0", "1-0:52.7.0", "1-0:72.7.0")
_CURRENT = ("1-0:31.7.0", "1-0:51.7.0", "1-0:71.7.0")
_IMPORT = ("1-0:21.7.0", "1-0:41.7.0", "1-0:61.7.0")
_EXPORT = ("1-0:22.7.0", "1-0:42.7.0", "1-0:62.7.0")
_HIDDEN = (*_IMPORT, *_EXPORT)
BUCKETS = (0.1, 0.25, 0.5, 1.0)
"""Shares of absolute errors below these (A)."""


@dataclass
class Errors:
    """Absolute errors in amps of one way of getting a current, and how many were unknown."""

    values: list[float] = field(default_factory=list)
    unknown: int = 0

    def summary(self) -> str:
        if not self.values:
            return f"n=0 unknown={self.unknown}"
        ordered = sorted(self.values)
        p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
        shares = " ".join(
            f"<{limit:g}A:{sum(1 for v in ordered if v < limit) / len(ordered):.0%}"
            for limit in BUCKETS
        )
        return (
            f"n={len(ordered)} unknown={self.unknown} median={statistics.median(ordered):.3f} A "
            f"p95={p95:.3f} A max={ordered[-1]:.3f} A {shares}"
        )


@dataclass
class Result:
    """Errors of the estimate, of the whole amps as sent and of their midpoint."""

    telegrams: int = 0
    estimate: Errors = field(default_factory=Errors)
    whole: Errors = field(default_factory=Errors)
    midpoint: Errors = field(default_factory=Errors)


def _number(telegram: Telegram, code: str) -> float | None:
    obj = telegram.get(code)
    return None if obj is None else obj.number


def _without_phase_power(data: bytes) -> bytes:
    """The telegram's text from ``/`` through ``!`` without its per-phase power lines."""
    body = data[: data.rindex(b"!") + 1].replace(b"\r\n", b"\n").split(b"\n")
    kept = [line for line in body if not line.startswith(tuple(c.encode() for c in _HIDDEN))]
    return b"\r\n".join(kept)


def measure(telegrams: Iterable[bytes], result: Result | None = None) -> Result:
    """Count the errors over ``telegrams`` (each ``/`` through ``!``) that hold the truth."""
    result = result or Result()
    parser = Parser()
    for data in telegrams:
        full = parser.parse(data[: data.rindex(b"!") + 1])
        if full is None:
            continue
        truth: list[float | None] = []
        for u_code, i_code, p_code, x_code in zip(
            _VOLTAGE, _CURRENT, _IMPORT, _EXPORT, strict=True
        ):
            u, reading = _number(full, u_code), _number(full, i_code)
            p_import, p_export = _number(full, p_code), _number(full, x_code)
            if u is None or u <= 0 or reading is None or p_import is None:
                truth.append(None)
            else:
                truth.append(1000.0 * (p_import + (p_export or 0.0)) / u)
        texts = [full.get(code) for code in _CURRENT]
        if all(t is None for t in truth) or any(t is not None and "." in t.text for t in texts):
            continue  # no truth, or the meter sends decimals (nothing to estimate)
        hidden = parser.parse(_without_phase_power(data))
        if hidden is None:
            continue
        derived = DerivedCalculator().update(hidden)
        estimates = (derived.current_l1, derived.current_l2, derived.current_l3)
        result.telegrams += 1
        for true, estimate, code in zip(truth, estimates, _CURRENT, strict=True):
            reading = _number(full, code)
            if true is None or reading is None:
                continue
            result.whole.values.append(abs(reading - true))
            result.midpoint.values.append(abs((reading + 0.5 if reading > 0 else 0.0) - true))
            if estimate is None:
                result.estimate.unknown += 1
            else:
                result.estimate.values.append(abs(estimate - true))
    return result


def sample_telegrams(directory: Path = SAMPLES) -> Iterator[bytes]:
    """Every telegram in the sample files (several in a stream file)."""
    for path in sorted(directory.glob("*.txt")):
        data = path.read_bytes()
        start = data.find(b"/")
        while start >= 0:
            end = data.find(b"!", start)
            if end < 0:
                break
            yield data[start : end + 1]
            start = data.find(b"/", end)


def simulated_telegrams(hours: float, seed: int = 1) -> Iterator[bytes]:
    """A simulated Dutch DSMR 5 meter with solar export on L1."""
    simulator = MeterSimulator("nl_dsmr5", seed=seed, solar=True)
    for data in simulator.telegrams(int(hours * 3600 / simulator.period)):
        yield data[: data.rindex(b"!") + 1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=Path, default=SAMPLES)
    parser.add_argument("--hours", type=float, default=6.0)
    args = parser.parse_args()
    sources: list[tuple[str, Iterable[bytes]]] = []
    if args.samples.is_dir():
        sources.append((f"real telegrams ({args.samples})", sample_telegrams(args.samples)))
    else:
        print(f"{args.samples}: absent, real telegrams skipped")
    sources.append((f"simulated nl_dsmr5, {args.hours:g} h", simulated_telegrams(args.hours)))
    for name, telegrams in sources:
        result = measure(telegrams)
        print(f"{name}: {result.telegrams} telegrams")
        print(f"  estimate   {result.estimate.summary()}")
        print(f"  whole amps {result.whole.summary()}")
        print(f"  midpoint   {result.midpoint.summary()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
