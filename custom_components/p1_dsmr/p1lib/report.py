"""The insight report: ``p1-dsmr report LOG... --out DIR [--threshold V] [--load KW]``.

The logs are analysed together, in the order given, as one period (a day's PuTTY logs, say): every
accepted telegram feeds one :class:`~.insight.PhaseInsight`. The report ``S.report.html`` (S: the
first log's stem) is one self-contained page (plots embedded as PNG, no network) with the
impedances, the voltage statistics, EN 50160's 10-minute means, the what-if, and plots of the
voltage over time, its distribution, the voltage change against the current change of each load
event with the fitted line, and the daily minutes above the threshold. One line of JSON on stdout
holds the same figures (:func:`figures`); the page's tables are rendered from it.

Plots need matplotlib (an optional extra of the report only; the converter needs nothing):
without it the report says how to install it and exits 2 before reading anything.
"""

from __future__ import annotations

import argparse
import contextlib
import html
import importlib.util
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

from .cipher import parse_key
from .encrypted import EncryptedDecoder
from .files import display_name, open_log, output_stems
from .impedance import Estimate, Event
from .insight import PhaseInsight, WhatIf
from .repair import RepairEngine
from .voltage_stats import EN50160_HIGH

__all__ = [
    "INSTALL_HINT",
    "Analysis",
    "Timeline",
    "add_parser",
    "analyse",
    "figures",
    "render_html",
    "run",
]

INSTALL_HINT = (
    "p1-dsmr report: the report draws its plots with matplotlib, which is not installed.\n"
    "Install it for the Python that runs p1-dsmr, e.g.:  python3 -m pip install matplotlib\n"
    "(or in a virtual environment: python3 -m venv .venv && .venv/bin/pip install matplotlib,\n"
    "then run .venv/bin/python scripts/p1-dsmr report ...). The converter itself needs nothing."
)
CHUNK = 1 << 20
PHASE_KEYS = ("l1", "l2", "l3")
DASH = "\u2013"
MAX_EVENTS = 5000
"""Load events kept per phase for the scatter plot (the estimate uses every one)."""


class Timeline:
    """Per-phase minimum, mean and maximum voltage over time in at most ``2 * points`` buckets
    (a bucket's width doubles when they get too many: memory constant for any log)."""

    def __init__(self, points: int = 1500) -> None:
        self.points = points
        self.width = 1.0
        self.buckets: list[list[float]] = []
        """[key, min1, min2, min3, max1, max2, max3, sum1, sum2, sum3, n1, n2, n3]"""

    def add(self, seconds: float, voltages: Sequence[float | None]) -> None:
        """One reading."""
        key = math.floor(seconds / self.width)
        buckets = self.buckets
        if not buckets or buckets[-1][0] != key:
            buckets.append([key, *([math.inf] * 3), *([-math.inf] * 3), *([0.0] * 6)])
            if len(buckets) > 2 * self.points:
                self._merge()  # the new reading's bucket is the last one still
        bucket = self.buckets[-1]
        for k, volts in enumerate(voltages):
            if volts is None or volts <= 0:
                continue
            bucket[1 + k] = min(bucket[1 + k], volts)
            bucket[4 + k] = max(bucket[4 + k], volts)
            bucket[7 + k] += volts
            bucket[10 + k] += 1

    def _merge(self) -> None:
        self.width *= 2
        merged: list[list[float]] = []
        for bucket in self.buckets:
            key = bucket[0] // 2
            if merged and merged[-1][0] == key:
                into = merged[-1]
                for k in range(3):
                    into[1 + k] = min(into[1 + k], bucket[1 + k])
                    into[4 + k] = max(into[4 + k], bucket[4 + k])
                    into[7 + k] += bucket[7 + k]
                    into[10 + k] += bucket[10 + k]
            else:
                merged.append([key, *bucket[1:]])
        self.buckets = merged

    def series(self, phase: int) -> list[tuple[float, float, float, float]]:
        """(bucket start in POSIX seconds, min, mean, max) of phase ``phase`` (1-3)."""
        k = phase - 1
        return [
            (b[0] * self.width, b[1 + k], b[7 + k] / b[10 + k], b[4 + k])
            for b in self.buckets
            if b[10 + k]
        ]


@dataclass
class Analysis:
    """What the report shows."""

    insight: PhaseInsight
    load_kw: float
    files: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(
        default_factory=lambda: {
            "telegrams": 0,
            "valid": 0,
            "repaired": 0,
            "unverified": 0,
            "invalid": 0,
        }
    )
    timeline: Timeline = field(default_factory=Timeline)
    events: list[list[Event]] = field(default_factory=lambda: [[], [], []])
    start: datetime | None = None
    end: datetime | None = None
    reordered: list[str] = field(default_factory=list)
    """The logs in the order analysed, when that is not the order given (empty otherwise)."""

    @property
    def zone(self) -> tzinfo | None:
        """The meter's time zone (of the first telegram)."""
        return None if self.start is None else self.start.tzinfo


def _first_clock(path: Path, key: bytes | None, limit: int = 4 * CHUNK) -> datetime | None:
    """The clock of the log's first accepted telegram within ``limit`` bytes (None without one);
    raises :class:`~.files.InputError` when the log cannot be read."""
    decoder = EncryptedDecoder(key=key)
    with open_log(path) as source:
        read = 0
        while read < limit and (chunk := source.read(CHUNK)):
            read += len(chunk)
            for result in decoder.feed(chunk):
                telegram = result.telegram
                if telegram is not None and result.accepted and telegram.timestamp is not None:
                    return telegram.timestamp
    return None


def analyse(
    paths: Sequence[Path],
    threshold: float = EN50160_HIGH,
    load_kw: float = 2.0,
    repair: bool = True,
    key: bytes | None = None,
    auth_key: bytes | None = None,
) -> Analysis:
    """Decode the logs, earliest first, and feed the insight (unreadable logs and logs read only
    in part are listed in ``errors``).

    Logs are read through the converter's :func:`~.files.open_log` (compressed logs, no FIFOs or
    devices) and decrypted with ``key``. They are analysed in the order of their first telegram's
    clock (``reordered`` says when that is not the order given); within the period, a telegram
    whose clock is not after the newest (overlapping logs) or whose clock alone jumps ahead is
    left out of the voltage statistics and counted (see :mod:`.voltage_stats`)."""
    analysis = Analysis(PhaseInsight(threshold, keep_windows=None), load_kw)
    insight = analysis.insight
    readable: list[tuple[bool, float, int, Path]] = []
    for index, path in enumerate(paths):
        try:
            first = _first_clock(path, key)
        except OSError as err:
            analysis.errors.append(f"{display_name(path)}: {err.strerror or err}")
            continue
        readable.append((first is None, 0.0 if first is None else first.timestamp(), index, path))
    ordered = [path for *_, path in sorted(readable)]
    if ordered != [path for *_, path in readable]:
        analysis.reordered = [display_name(path) for path in ordered]

    def take(readings: tuple[tuple[datetime, Any], ...]) -> None:
        for when, volts in readings:
            if analysis.start is None or when < analysis.start:
                analysis.start = when
            if analysis.end is None or when > analysis.end:
                analysis.end = when
            analysis.timeline.add(when.timestamp(), volts)

    counters: dict[bytes, int] = {}
    for path in ordered:
        decoder = EncryptedDecoder(
            RepairEngine() if repair else None, key=key, auth_key=auth_key, counters=counters
        )
        try:
            with open_log(path) as source:
                while True:
                    chunk = source.read(CHUNK)
                    results = decoder.feed(chunk) if chunk else decoder.flush()
                    for result in results:
                        telegram = result.telegram
                        if telegram is None or not result.accepted:
                            continue
                        event = insight.update(telegram)
                        take(insight.accepted)
                        if event is not None and len(analysis.events[event.phase - 1]) < MAX_EVENTS:
                            analysis.events[event.phase - 1].append(event)
                    if not chunk:
                        break
                problem = source.problem
        except OSError as err:  # it vanished or failed after its first look
            analysis.errors.append(f"{display_name(path)}: {err.strerror or err}")
            continue
        counters = decoder.counters
        analysis.files.append(str(path))
        if problem:
            analysis.errors.append(f"{display_name(path)}: {problem}; what came before was read")
        if decoder.problem:
            hint = " (--key HEX)" if key is None else ""
            analysis.errors.append(f"{display_name(path)}: {decoder.problem}{hint}")
        stats = decoder.stats
        for name in analysis.counts:
            analysis.counts[name] += getattr(stats, name)
    take(insight.flush())
    return analysis


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, digits)


def _estimate(estimate: Estimate | None) -> dict[str, Any] | None:
    return None if estimate is None else estimate.as_dict()


def _what_if(what_if: WhatIf) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for option in what_if.options:
        options[f"on_{PHASE_KEYS[option.phase - 1]}"] = {
            "current_a": round(option.current, 2),
            "delta_v": {
                key: _round(d, 2) for key, d in zip(PHASE_KEYS, option.delta_v, strict=True)
            },
            "minutes_above": {
                key: _round(m, 1) for key, m in zip(PHASE_KEYS, option.minutes_above, strict=True)
            },
            "total_minutes_above": _round(option.total_minutes, 1),
        }
    return {
        "baseline_minutes_above": {
            key: _round(m, 1) for key, m in zip(PHASE_KEYS, what_if.baseline_minutes, strict=True)
        },
        **options,
    }


def figures(analysis: Analysis, report: Path | None = None) -> dict[str, Any]:
    """The report's figures (the JSON line; the page's tables show the same values)."""
    insight = analysis.insight
    snapshot = insight.snapshot()
    impedance = snapshot.impedance
    what_if = insight.what_if(analysis.load_kw)
    voltage: dict[str, Any] = {}
    for key, stats in zip(PHASE_KEYS, snapshot.voltage, strict=True):
        voltage[key] = None
        if stats is not None:
            voltage[key] = {
                "mean": round(stats.mean, 2),
                "p95": stats.p95,
                "p99": stats.p99,
                "min": stats.minimum,
                "max": stats.maximum,
                "minutes_above": round(stats.minutes_above, 1),
                "share_above": round(stats.share_above, 4),
                "windows_10min": stats.windows,
                "windows_above_253": stats.windows_above,
                "windows_outside_207_253": stats.windows_outside,
                "max_10min_mean": _round(stats.max_window, 2),
                "en50160": stats.en50160,
            }
    hours = 0.0
    if analysis.start is not None and analysis.end is not None:
        hours = (analysis.end - analysis.start).total_seconds() / 3600.0
    return {
        "report": None if report is None else str(report),
        "files": analysis.files,
        **analysis.counts,
        "start": None if analysis.start is None else analysis.start.isoformat(),
        "end": None if analysis.end is None else analysis.end.isoformat(),
        "hours": round(hours, 2),
        "reordered": analysis.reordered or None,
        "left_out": {
            "out_of_order": insight.voltage.out_of_order,
            "clock_ahead": insight.voltage.clock_outliers,
        },
        "threshold_v": insight.threshold,
        "method": impedance.method or None,
        "impedance_ohm": {
            key: None if e is None else round(e.value, 4)
            for key, e in zip(PHASE_KEYS, impedance.impedance, strict=True)
        },
        "impedance": {
            key: {"estimate": _estimate(e), "events": n, "reason": reason or None}
            for key, e, n, reason in zip(
                PHASE_KEYS, impedance.impedance, impedance.events, impedance.reasons, strict=True
            )
        },
        "coupling_ohm": {
            PHASE_KEYS[k]: {
                PHASE_KEYS[j]: None
                if impedance.coupling[k][j] is None
                else _estimate(impedance.coupling[k][j])
                for j in range(3)
                if j != k
            }
            for k in range(3)
        },
        "neutral_ohm": _estimate(impedance.neutral),
        "voltage": voltage,
        "load_kw": analysis.load_kw,
        "what_if": _what_if(what_if),
        "best_phase_for_load": None
        if what_if.best_phase is None
        else PHASE_KEYS[what_if.best_phase - 1],
        "best_phase_reason": what_if.reason or None,
    }


# --- the page --------------------------------------------------------------------------------


def _cell(value: Any, unit: str = "") -> str:
    if value is None:
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    return f"{value}{unit}"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], name: str) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f'<table data-name="{name}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _impedance_text(key: str, data: dict[str, Any]) -> str:
    estimate = data["estimate"]
    phase = key.upper()
    if estimate is None:
        return f"{phase}: no estimate ({data['reason']})."
    return (
        f"{phase}: {estimate['value']} Ω, 95 % interval {estimate['low']}{DASH}{estimate['high']} Ω"
        f" from {estimate['events']} load events ({estimate['confidence']} confidence)."
    )


def _left_out(data: dict[str, Any]) -> str:
    """Notes on the logs' order and on telegrams left out of the voltage statistics."""
    notes = []
    if data.get("reordered"):
        notes.append(
            "The logs were analysed in the order of their clocks: "
            + ", ".join(data["reordered"])
            + "."
        )
    left = data["left_out"]
    if left["out_of_order"]:
        notes.append(
            f"{left['out_of_order']} telegrams whose clock was not after the newest one"
            " (overlapping logs, a repeated telegram) are left out of the voltage statistics."
        )
    if left["clock_ahead"]:
        notes.append(
            f"{left['clock_ahead']} telegrams whose clock alone jumped ahead of the telegrams"
            " around them are left out of the voltage statistics."
        )
    return "".join(f"<p class=note>{html.escape(n)}</p>" for n in notes)


_STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;
text-align:right}th{background:#f3f3f3}td:first-child{text-align:left}img{max-width:100%}
.note{color:#555;font-size:.92em}
"""


def render_html(data: dict[str, Any], plots: dict[str, str]) -> str:
    """The page: the tables from ``data`` (:func:`figures`), the plots as base64 PNG."""
    threshold = data["threshold_v"]
    method = {
        "per_phase_power": "from the meter's per-phase power (signed currents, exact)",
        "total_power": "from the total power, attributed to a phase by its whole amps"
        " (a bound: a phase whose whole amps did not change moved by less than 1 A each way)",
        None: "no load events yet",
    }[data["method"]]
    impedance_rows = []
    for key in PHASE_KEYS:
        item = data["impedance"][key]
        e = item["estimate"]
        impedance_rows.append(
            [
                key.upper(),
                _cell(None if e is None else e["value"]),
                DASH if e is None else f"{e['low']} {DASH} {e['high']}",
                _cell(item["events"]),
                _cell(None if e is None else e["confidence"]),
                _cell(item["reason"]),
            ]
        )
    coupling_rows = []
    for key in PHASE_KEYS:
        for other, e in data["coupling_ohm"][key].items():
            coupling_rows.append(
                [
                    f"{key.upper()} from {other.upper()}",
                    _cell(None if e is None else e["value"]),
                    DASH if e is None else f"{e['low']} {DASH} {e['high']}",
                    _cell(None if e is None else e["events"]),
                ]
            )
    neutral = data["neutral_ohm"]
    voltage_rows = []
    for key in PHASE_KEYS:
        v = data["voltage"][key]
        if v is None:
            continue
        voltage_rows.append(
            [
                key.upper(),
                *(
                    _cell(v[name])
                    for name in (
                        "mean",
                        "p95",
                        "p99",
                        "min",
                        "max",
                        "minutes_above",
                        "share_above",
                        "windows_10min",
                        "windows_above_253",
                        "windows_outside_207_253",
                        "max_10min_mean",
                        "en50160",
                    )
                ),
            ]
        )
    what_if = data["what_if"]
    what_if_rows = [
        [
            "as measured",
            DASH,
            DASH,
            DASH,
            DASH,
            *(_cell(what_if["baseline_minutes_above"][k]) for k in PHASE_KEYS),
            _cell(
                None
                if None in what_if["baseline_minutes_above"].values()
                else round(sum(what_if["baseline_minutes_above"].values()), 1)
            ),
        ]
    ]
    for key in PHASE_KEYS:
        option = what_if.get(f"on_{key}")
        if option is None:
            continue
        what_if_rows.append(
            [
                f"on {key.upper()}",
                _cell(option["current_a"]),
                *(_cell(option["delta_v"][k]) for k in PHASE_KEYS),
                *(_cell(option["minutes_above"][k]) for k in PHASE_KEYS),
                _cell(option["total_minutes_above"]),
            ]
        )
    best = data["best_phase_for_load"]
    best_text = (
        f"A {data['load_kw']} kW load belongs on <b>{best.upper()}</b>: there it leaves the least"
        f" time above {threshold} V."
        if best
        else f"No best phase for a {data['load_kw']} kW load:"
        f" {html.escape(str(data['best_phase_reason']))}."
    )
    images = "".join(
        f'<h3>{html.escape(title)}</h3><img alt="{html.escape(title)}"'
        f' src="data:image/png;base64,{png}">'
        for title, png in plots.items()
    )
    items = "".join(
        f"<li>{html.escape(_impedance_text(k, data['impedance'][k]))}</li>" for k in PHASE_KEYS
    )
    voltage_headers = [
        "phase",
        "mean (V)",
        "95th pct (V)",
        "99th pct (V)",
        "min (V)",
        "max (V)",
        f"minutes above {threshold} V",
        "share above",
        "10-min means",
        "above 253 V",
        "outside 207-253 V",
        "highest 10-min mean (V)",
        "meets EN 50160",
    ]
    impedance_table = _table(
        ["phase", "impedance (Ω)", "95 % interval (Ω)", "load events", "confidence", "why none"],
        impedance_rows,
        "impedance",
    )
    coupling_table = _table(
        ["voltage of / current on", "coupling (Ω)", "95 % interval (Ω)", "load events"],
        coupling_rows,
        "coupling",
    )
    what_if_table = _table(
        [
            "load",
            "current (A)",
            "ΔU L1 (V)",
            "ΔU L2 (V)",
            "ΔU L3 (V)",
            "min above L1",
            "min above L2",
            "min above L3",
            "total",
        ],
        what_if_rows,
        "what_if",
    )
    errors = "".join(
        f"<p class=note>Not read: {html.escape(e)}</p>" for e in data.get("errors", [])
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>P1 DSMR phase report</title>
<style>{_STYLE}</style></head><body>
<h1>Phase and voltage report</h1>
<p>{html.escape(", ".join(data["files"]) or "no log read")}: {data["telegrams"]} telegrams
({data["valid"]} valid, {data["repaired"]} repaired, {data["unverified"]} unverified (no CRC),
{data["invalid"]} rejected), {html.escape(str(data["start"]))} to
{html.escape(str(data["end"]))} ({data["hours"]} h). Threshold {threshold} V.</p>{errors}
{_left_out(data)}
<h2>Source impedance</h2>
<p>Estimated {method}. Each load event (a change of current on one phase between quiet
telegrams) gives the ratio of the voltage change to the current change; the estimate is their
weighted median, its interval the 95 % interval of that median.</p>
<ul>{items}</ul>
{impedance_table}
<p>Coupling through the neutral (a current on one phase moves the others' voltages; negative:
they rise). Shown where the data support it (interval within ±0.05 Ω).
Neutral impedance: {_cell(None if neutral is None else neutral["value"], " Ω")}.</p>
{coupling_table}
<h2>Voltage</h2>
<p>Time-weighted; percentiles to the meter's 0.1 V. EN 50160: 10-minute means within 207-253 V
95 % of each week, never above 253 V (judged here over the analysed time).</p>
{_table(voltage_headers, voltage_rows, "voltage")}
<h2>What if a {data["load_kw"]} kW load ran on L1, L2 or L3</h2>
<p>Expected change of each phase's voltage (from the impedances and couplings; an unsupported
coupling counts as 0) and the minutes each phase would have spent above {threshold} V had the
load run all the analysed time.</p>
{what_if_table}
<p>{best_text}</p>
<h2>Plots</h2>{images}
<p class=note>Made by p1-dsmr report. Method, assumptions and limits: the project's README,
"Phase and voltage insight".</p>
</body></html>
"""


# --- the command ------------------------------------------------------------------------------


def add_parser(commands: Any) -> None:
    """Add ``report`` to the converter's subcommands."""
    report = commands.add_parser(
        "report",
        help="phase and voltage insight: impedances, statistics, which phase a load belongs on",
        description="Analyse P1 logs together (in the order of their clocks) and write "
        "S.report.html (S: the first log's stem), a self-contained page with plots; print its "
        "figures as one line of JSON. Reads compressed logs like convert. Needs matplotlib.",
    )
    report.add_argument("logs", nargs="*", type=Path, metavar="LOG", help="log files to analyse")
    report.add_argument("--out", type=Path, default=Path("p1-dsmr-out"), help="output directory")
    report.add_argument(
        "--threshold",
        type=float,
        default=EN50160_HIGH,
        metavar="V",
        help=f"overvoltage threshold (default {EN50160_HIGH:g}, EN 50160's 230 V + 10 %%)",
    )
    report.add_argument(
        "--load", type=float, default=2.0, metavar="KW", help="the what-if's load (default 2 kW)"
    )
    report.add_argument("--no-repair", action="store_true", help="use valid telegrams only")
    report.add_argument(
        "--key",
        type=_key("key"),
        metavar="HEX",
        help="decrypt encrypted telegrams (Luxembourg Smarty...) with this key",
    )
    report.add_argument(
        "--auth-key",
        type=_key("authentication key"),
        metavar="HEX",
        help="verify each encrypted frame with this authentication key",
    )


def _key(name: str) -> Any:
    def check(text: str) -> bytes:
        try:
            return parse_key(text, name)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    check.__name__ = name
    return check


def run(args: argparse.Namespace, default_log: Path) -> int:
    """The ``report`` subcommand; returns the exit code (2: bad options, an input that could not
    be read (in full), or the page could not be written; 130 on SIGINT)."""
    if importlib.util.find_spec("matplotlib") is None:
        print(INSTALL_HINT, file=sys.stderr)
        return 2
    if not 100 <= args.threshold <= 400 or not math.isfinite(args.load) or args.load == 0:
        print("p1-dsmr: --threshold must be 100-400 V and --load a non-zero kW", file=sys.stderr)
        return 2
    if args.auth_key is not None and args.key is None:
        print("p1-dsmr: --auth-key needs --key", file=sys.stderr)
        return 2
    out: Path = args.out
    if out.exists() and not out.is_dir():
        print(
            f"p1-dsmr: cannot write {display_name(out)}: not a directory (a file has that name)",
            file=sys.stderr,
        )
        return 2
    from .files import atomic_outputs
    from .report_plots import draw

    logs: list[Path] = args.logs or [default_log]
    try:
        analysis = analyse(
            logs,
            args.threshold,
            args.load,
            repair=not args.no_repair,
            key=args.key,
            auth_key=args.auth_key,
        )
        for error in analysis.errors:
            print(f"p1-dsmr: cannot read {error}", file=sys.stderr)
        if analysis.reordered:
            print(
                "p1-dsmr: the logs are analysed in the order of their clocks: "
                + ", ".join(analysis.reordered),
                file=sys.stderr,
            )
        if not analysis.files:
            print("p1-dsmr: no log could be read: no report written", file=sys.stderr)
            return 2
        # Named after the first log given that could be read.
        named = next((log for log in logs if str(log) in analysis.files), logs[0])
        stem = output_stems([named], out, (".report.html",))[0]
        path = out / f"{stem}.report.html"
        data = figures(analysis, path)
        page = render_html({**data, "errors": analysis.errors}, draw(analysis))
        try:
            out.mkdir(parents=True, exist_ok=True)
            with atomic_outputs([path]) as (temporary,):
                temporary.write(page.encode("utf-8"))
        except OSError as err:
            print(
                f"p1-dsmr: cannot write {display_name(path)}: {err.strerror or err}",
                file=sys.stderr,
            )
            return 2
    except KeyboardInterrupt:
        print("p1-dsmr: interrupted (SIGINT): no report written", file=sys.stderr)
        return 130
    with contextlib.suppress(BrokenPipeError):  # `| head`
        print(json.dumps(data))
    return 2 if analysis.errors else 0


def local(seconds: float, zone: tzinfo | None) -> datetime:
    """POSIX seconds as the meter's local time (UTC when unknown)."""
    return datetime.fromtimestamp(seconds, zone or UTC)
