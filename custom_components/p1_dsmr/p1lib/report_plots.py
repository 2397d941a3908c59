"""The report's plots, drawn with matplotlib (imported here only: the report's optional extra).

Figures are made with ``matplotlib.figure.Figure`` (no pyplot, no global state, no display) and
embedded as base64 PNG.
"""

from __future__ import annotations

import base64
import importlib
import io
from typing import Any

from .report import PHASE_KEYS, Analysis, local

__all__ = ["draw"]

COLOURS = ("#8c564b", "#222222", "#7f7f7f")
"""L1 brown, L2 black, L3 grey (the European wiring colours)."""


def _png(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def draw(analysis: Analysis) -> dict[str, str]:
    """Title -> base64 PNG of each plot."""
    figure_type = importlib.import_module("matplotlib.figure").Figure
    insight = analysis.insight
    threshold = insight.threshold
    zone = analysis.zone
    snapshot = insight.snapshot()
    plots: dict[str, str] = {}

    # Voltage over time: each phase's mean, its range within a bucket, the threshold.
    figure = figure_type(figsize=(11, 4))
    axes = figure.add_subplot()
    for phase in (1, 2, 3):
        series = analysis.timeline.series(phase)
        if not series:
            continue
        times = [local(s[0], zone) for s in series]
        colour = COLOURS[phase - 1]
        axes.fill_between(
            times, [s[1] for s in series], [s[3] for s in series], color=colour, alpha=0.15
        )
        axes.plot(times, [s[2] for s in series], color=colour, linewidth=1, label=f"L{phase}")
    axes.axhline(threshold, color="red", linestyle="--", linewidth=1, label=f"{threshold:g} V")
    axes.set_ylabel("V")
    axes.legend(loc="upper left", ncols=4)
    axes.grid(alpha=0.3)
    figure.autofmt_xdate()
    plots["Voltage per phase over time (line: mean, band: range)"] = _png(figure)

    # Distribution per phase: share of time at each 0.1 V, 95th and 99th percentiles.
    figure = figure_type(figsize=(11, 3.2))
    for phase in (1, 2, 3):
        axes = figure.add_subplot(1, 3, phase)
        stats = snapshot.voltage[phase - 1]
        histogram = insight.voltage.histograms[phase - 1]
        axes.set_title(f"L{phase}")
        if stats is None:
            axes.text(0.5, 0.5, "no voltage", ha="center", transform=axes.transAxes)
            continue
        low, high = round(stats.minimum * 10), round(stats.maximum * 10)
        values = [i / 10 for i in range(low, high + 1)]
        shares = [100 * histogram.weights[i] / histogram.seconds for i in range(low, high + 1)]
        axes.bar(values, shares, width=0.1, color=COLOURS[phase - 1])
        axes.axvline(stats.p95, color="orange", linewidth=1, label=f"p95 {stats.p95:g}")
        axes.axvline(stats.p99, color="purple", linewidth=1, label=f"p99 {stats.p99:g}")
        if low / 10 - 2 <= threshold <= high / 10 + 2:
            axes.axvline(threshold, color="red", linestyle="--", linewidth=1)
        axes.set_xlabel("V")
        axes.legend(fontsize="small")
    figure.axes[0].set_ylabel("% of the time")
    plots["Distribution of each phase's voltage"] = _png(figure)

    # Voltage change against current change of each load event, with the fitted line.
    figure = figure_type(figsize=(11, 3.6))
    for phase in (1, 2, 3):
        axes = figure.add_subplot(1, 3, phase)
        events = analysis.events[phase - 1]
        xs = [e.current for e in events if e.voltage[phase - 1] is not None]
        ys = [e.voltage[phase - 1] for e in events if e.voltage[phase - 1] is not None]
        axes.scatter(xs, ys, s=10, color=COLOURS[phase - 1], alpha=0.7)
        estimate = snapshot.impedance.impedance[phase - 1]
        if estimate is not None and xs:
            span = max(abs(x) for x in xs)
            line = [-span, span]
            axes.plot(line, [-estimate.value * x for x in line], color="red", linewidth=1)
            axes.fill_between(
                line,
                [-estimate.low * x for x in line],
                [-estimate.high * x for x in line],
                color="red",
                alpha=0.12,
            )
            title = f"L{phase}: {estimate.value:.3f} Ω ({estimate.low:.3f} to {estimate.high:.3f})"
        else:
            title = f"L{phase}: no estimate ({len(xs)} events)"
        axes.set_title(title, fontsize="medium")
        axes.set_xlabel("current change (A)")
        axes.axhline(0, color="#999", linewidth=0.5)
        axes.axvline(0, color="#999", linewidth=0.5)
        axes.grid(alpha=0.3)
    figure.axes[0].set_ylabel("voltage change (V)")
    plots["Voltage change against current change of each load event, with the fitted line"] = _png(
        figure
    )

    # Daily minutes above the threshold.
    figure = figure_type(figsize=(11, 3.2))
    axes = figure.add_subplot()
    days = list(insight.voltage.days.values())
    width = 0.27
    for phase in (1, 2, 3):
        axes.bar(
            [i + (phase - 2) * width for i in range(len(days))],
            [d.above[phase - 1] / 60 for d in days],
            width=width,
            color=COLOURS[phase - 1],
            label=PHASE_KEYS[phase - 1].upper(),
        )
    axes.set_xticks(range(len(days)), [d.day.isoformat() for d in days], rotation=45, ha="right")
    axes.set_ylabel(f"minutes above {threshold:g} V")
    axes.legend(ncols=3)
    axes.grid(alpha=0.3, axis="y")
    plots["Minutes above the threshold per day"] = _png(figure)
    return plots
