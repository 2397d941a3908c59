"""The report: it renders, its JSON matches its tables, it fails clearly."""

from __future__ import annotations

import json
import os
import random
import re
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from p1lib import report
from p1lib.converter import main
from p1lib.crc import crc16
from p1lib.feeder import Feeder
from p1lib.generator import MeterSimulator, putty_header
from p1lib.report import DASH, PHASE_KEYS, Timeline, analyse, figures, render_html

from .conftest import SAMPLES


class Tables(HTMLParser):
    """The page's tables by name: rows of cell texts (the header row first)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._name: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self.images = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._name = dict(attrs)["data-name"]
            self.tables[self._name or ""] = []
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "img" and (dict(attrs).get("src") or "").startswith("data:image/png;base64,"):
            self.images += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._row is not None and self._cell is not None:
            self._row.append("".join(self._cell))
            self._cell = None
        elif tag == "tr" and self._name is not None and self._row is not None:
            self.tables[self._name].append(self._row)
            self._row = None
        elif tag == "table":
            self._name = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def text(value: Any) -> str:
    if value is None:
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def feeder_log(path: Path, hours: float = 30.0, style: str = "hu_sanxing") -> Path:
    sim = MeterSimulator(
        style,
        seed=5,
        start=datetime(2023, 6, 1, 8, 0, 0),
        solar=True,
        feeder=Feeder(solar_rise=26.0),
    )
    with path.open("wb") as out:
        out.write(putty_header(sim.now))
        for data in sim.telegrams(int(hours * 3600 / sim.period)):
            out.write(data)
    return path


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return feeder_log(tmp_path_factory.mktemp("logs") / "generated.log")


def check_tables(data: dict[str, Any], page: str) -> Tables:
    tables = Tables()
    tables.feed(page)
    impedance = tables.tables["impedance"][1:]
    for row, key in zip(impedance, PHASE_KEYS, strict=True):
        item = data["impedance"][key]
        estimate = item["estimate"]
        assert row[0] == key.upper()
        assert row[1] == text(None if estimate is None else estimate["value"])
        if estimate is not None:
            assert row[2] == f"{estimate['low']} {DASH} {estimate['high']}"
            assert float(row[1]) == data["impedance_ohm"][key]
        assert row[3] == text(item["events"])
        assert row[5] == text(item["reason"])
    voltage = {row[0]: row[1:] for row in tables.tables["voltage"][1:]}
    for key in PHASE_KEYS:
        stats = data["voltage"][key]
        if stats is None:
            assert key.upper() not in voltage
            continue
        assert voltage[key.upper()] == [
            text(stats[name])
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
        ]
    what_if = {row[0]: row[1:] for row in tables.tables["what_if"][1:]}
    baseline = data["what_if"]["baseline_minutes_above"]
    assert what_if["as measured"][4:7] == [text(baseline[k]) for k in PHASE_KEYS]
    for key in PHASE_KEYS:
        option = data["what_if"].get(f"on_{key}")
        if option is None:
            continue
        row = what_if[f"on {key.upper()}"]
        assert row[0] == text(option["current_a"])
        assert row[1:4] == [text(option["delta_v"][k]) for k in PHASE_KEYS]
        assert row[4:7] == [text(option["minutes_above"][k]) for k in PHASE_KEYS]
        assert row[7] == text(option["total_minutes_above"])
    best = data["best_phase_for_load"]
    if best is not None:
        assert f"belongs on <b>{best.upper()}</b>" in page
    else:
        assert "No best phase" in page
    return tables


def test_figures_and_tables_agree(generated: Path) -> None:
    analysis = analyse([generated], threshold=253.0, load_kw=2.0)
    data = figures(analysis, Path("out/generated.report.html"))
    assert json.loads(json.dumps(data)) == data  # JSON-ready
    assert data["method"] == "total_power"
    assert data["telegrams"] == data["valid"] == 30 * 360
    truth = Feeder().truth()
    for k, key in enumerate(PHASE_KEYS):
        value = data["impedance_ohm"][key]
        assert value == pytest.approx(truth[k][k], rel=0.1)
    assert data["best_phase_for_load"] in PHASE_KEYS
    minutes = [data["voltage"][k]["minutes_above"] for k in PHASE_KEYS]
    assert max(minutes) > 0  # the neighbours' solar lifts the voltage above 253 V at midday
    check_tables(data, render_html(data, {}))


def test_timeline_keeps_extremes_while_merging() -> None:
    timeline = Timeline(points=10)
    rng = random.Random(3)
    values = [(float(t), 230 + rng.gauss(0, 3)) for t in range(0, 5000, 7)]
    for t, v in values:
        timeline.add(t, (v, None, v - 1))
    series = timeline.series(1)
    assert len(series) <= 20
    assert min(s[1] for s in series) == min(v for _, v in values)
    assert max(s[3] for s in series) == max(v for _, v in values)
    assert timeline.series(2) == []
    for start, low, mean, high in series:
        inside = [v for t, v in values if start <= t < start + timeline.width]
        assert (low, high) == (min(inside), max(inside))
        assert mean == pytest.approx(sum(inside) / len(inside))


def test_without_matplotlib_it_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setattr(report.importlib.util, "find_spec", lambda name: None)
    assert main(["report", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "matplotlib" in err
    assert "pip install matplotlib" in err
    assert list(tmp_path.iterdir()) == []


def test_bad_arguments(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    assert main(["report", "--threshold", "20", "--out", str(tmp_path)]) == 2
    assert main(["report", "--load", "0", "--out", str(tmp_path)]) == 2
    assert "--threshold" in capsys.readouterr().err


def run_report(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    code = main(["report", *args])
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    return code, json.loads(lines[0])


def test_the_command_writes_a_self_contained_page(
    generated: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("matplotlib")
    missing = tmp_path / "missing.log"
    code, data = run_report(
        [str(generated), str(missing), "--out", str(tmp_path / "out"), "--load", "3"], capsys
    )
    assert code == 2  # one log could not be read; the other is reported
    page_path = Path(data["report"])
    assert page_path == tmp_path / "out" / "generated.report.html"
    page = page_path.read_text(encoding="utf-8")
    assert "http://" not in page
    assert "https://" not in page
    assert f"Not read: {missing}" in page
    tables = check_tables(data, page)
    assert tables.images == 4
    assert data["load_kw"] == 3.0
    assert not [p for p in page_path.parent.iterdir() if p.name.startswith(".")]  # no temporary


def real_log() -> Path:
    where = Path(os.environ.get("P1_SAMPLES", SAMPLES)) / "logs" / "seed_putty_20230502.log"
    if not where.is_file():
        pytest.skip("the real Sanxing log in ../shared/samples is not available")
    return where


def test_real_sanxing_log_is_reported_honestly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("matplotlib")
    log = real_log()
    code, data = run_report([str(log), "--out", str(tmp_path)], capsys)
    assert code == 0
    assert (data["telegrams"], data["valid"], data["repaired"]) == (1100, 1099, 1)
    assert data["method"] == "total_power"
    # Three night hours: L2's heater switches a few times, L1 and L3 hardly change.
    l2 = data["impedance"]["l2"]["estimate"]
    assert l2 is not None
    assert 0.15 < l2["value"] < 0.35
    assert l2["confidence"] == "low"  # wide: seven events
    assert l2["high"] - l2["low"] > 0.1
    assert data["impedance_ohm"]["l1"] is None
    assert data["impedance_ohm"]["l3"] is None
    assert "needed" in data["impedance"]["l1"]["reason"]
    assert data["best_phase_for_load"] is None
    assert data["voltage"]["l3"]["max"] == 238.2
    check_tables(data, (tmp_path / "seed_putty_20230502.report.html").read_text(encoding="utf-8"))


def test_the_same_figures_on_the_lf_only_copy(tmp_path: Path) -> None:
    log = real_log()
    lf = log.with_name("seed_putty_20230502_lf.log")
    if not lf.is_file():
        pytest.skip("no LF-only copy")
    first = figures(analyse([log]))
    second = figures(analyse([lf]))
    assert first["impedance_ohm"] == second["impedance_ohm"]
    assert first["voltage"] == second["voltage"]


def test_a_meter_without_voltages_and_a_log_without_telegrams(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("matplotlib")
    dsmr4 = tmp_path / "dsmr4.log"
    dsmr4.write_bytes(b"".join(MeterSimulator("nl_dsmr4", seed=1).telegrams(40)))
    noise = tmp_path / "noise.log"
    noise.write_bytes(b"no telegram here\r\n")
    for log in (dsmr4, noise):
        code, data = run_report([str(log), "--out", str(tmp_path / "out")], capsys)
        assert code == 0
        assert data["impedance_ohm"] == {"l1": None, "l2": None, "l3": None}
        assert data["voltage"] == {"l1": None, "l2": None, "l3": None}
        assert data["best_phase_for_load"] is None
        check_tables(data, Path(data["report"]).read_text(encoding="utf-8"))


def short_log(path: Path, start: datetime, count: int = 360, seed: int = 2) -> list[bytes]:
    """An hour of a simulated Sanxing meter from ``start`` (its telegrams, also written)."""
    sim = MeterSimulator("hu_sanxing", seed=seed, start=start, solar=True, feeder=Feeder())
    telegrams = list(sim.telegrams(count))
    path.write_bytes(b"".join(telegrams))
    return telegrams


def test_logs_in_any_order_give_the_same_figures(tmp_path: Path) -> None:
    # F9: aug.log before may.log (a shell glob) must not drop the earlier log.
    may, june = tmp_path / "b-may.log", tmp_path / "a-june.log"
    short_log(may, datetime(2023, 5, 2, 10, 0, 0))
    short_log(june, datetime(2023, 6, 2, 10, 0, 0), seed=3)
    given = analyse([may, june])
    swapped = analyse([june, may])
    assert given.reordered == []
    assert swapped.reordered == [str(may), str(june)]
    first, second = figures(given), figures(swapped)
    assert second["hours"] == first["hours"] > 700
    assert second["voltage"] == first["voltage"]
    assert second["impedance_ohm"] == first["impedance_ohm"]
    assert first["left_out"] == {"out_of_order": 0, "clock_ahead": 0}
    # The same log twice (an overlap): counted once, the repeat said.
    twice = figures(analyse([may, may]))
    single = figures(analyse([may]))
    assert twice["voltage"] == single["voltage"]
    assert twice["left_out"]["out_of_order"] == 360
    assert twice["impedance"] == single["impedance"]  # its load events are not counted twice
    assert "left out of the voltage statistics" in render_html(twice, {})


def test_one_clock_ahead_hides_nothing(tmp_path: Path) -> None:
    # F9: a valid telegram dated a day ahead, the 11th of a log, is left out; the rest counts.
    clean = tmp_path / "clean.log"
    telegrams = short_log(clean, datetime(2023, 5, 2, 10, 0, 0))
    # The 11th telegram as the meter would send it a day later (its registers continue): the
    # decoder keeps it (a clock may jump ahead: links break) and the report leaves it out.
    body = telegrams[10][: telegrams[10].rindex(b"!") + 1]
    stamp = re.search(rb"0-0:1\.0\.0\((\d{6})", body)
    assert stamp is not None
    body = body.replace(
        stamp.group(0), stamp.group(0)[:-2] + b"%02d" % (int(stamp.group(1)[-2:]) + 1)
    )
    ahead = [body + f"{crc16(body):04X}\r\n".encode()]
    odd = tmp_path / "odd.log"
    odd.write_bytes(b"".join([*telegrams[:10], *ahead, *telegrams[10:]]))
    without, with_ahead = figures(analyse([clean])), figures(analyse([odd]))
    assert with_ahead["voltage"] == without["voltage"]
    assert (with_ahead["start"], with_ahead["end"]) == (without["start"], without["end"])
    assert with_ahead["left_out"] == {"out_of_order": 0, "clock_ahead": 1}
    assert "jumped ahead" in render_html(with_ahead, {})


def test_inputs_are_read_like_the_converter_reads_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # F10: compressed logs are read; FIFOs and devices are refused at once; no log, no page.
    pytest.importorskip("matplotlib")
    import gzip

    plain = tmp_path / "solar.log"
    short_log(plain, datetime(2023, 8, 24, 10, 0, 0), count=60)
    packed = tmp_path / "solar.log.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert figures(analyse([packed]))["voltage"] == figures(analyse([plain]))["voltage"]
    code, data = run_report([str(packed), "--out", str(tmp_path / "out")], capsys)
    assert code == 0
    assert data["telegrams"] == data["valid"] == 60
    assert Path(data["report"]).name == "solar.report.html"
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    out = tmp_path / "none"
    assert main(["report", str(fifo), "/dev/zero", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "FIFO" in err
    assert "device" in err
    assert "no report written" in err
    assert not out.exists()


def test_small_report_details(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # F17: unverified telegrams counted; --out naming a file; named after a log that was read.
    pytest.importorskip("matplotlib")
    from tests.lib.builders import telegram

    body = telegram("0-0:1.0.0(230601120000S)", "1-0:32.7.0(230.0*V)")
    unverified = tmp_path / "v2.log"
    unverified.write_bytes(body[: body.rindex(b"!") + 1] + b"\r\n")
    code, data = run_report(
        [str(tmp_path / "gone.log"), str(unverified), "--out", str(tmp_path / "o")], capsys
    )
    assert code == 2
    assert (data["telegrams"], data["unverified"]) == (1, 1)
    assert Path(data["report"]).name == "v2.report.html"
    assert "1 unverified" in Path(data["report"]).read_text(encoding="utf-8")
    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert main(["report", str(unverified), "--out", str(a_file)]) == 2
    assert "not a directory" in capsys.readouterr().err


def test_sigint_leaves_no_page_and_no_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("matplotlib")
    log = tmp_path / "m.log"
    short_log(log, datetime(2023, 5, 2, 10, 0, 0), count=20)

    def interrupted(analysis: Any) -> dict[str, str]:
        raise KeyboardInterrupt

    monkeypatch.setattr("p1lib.report_plots.draw", interrupted)
    out = tmp_path / "out"
    assert main(["report", str(log), "--out", str(out)]) == 130
    assert "interrupted (SIGINT)" in capsys.readouterr().err
    assert not out.exists() or list(out.iterdir()) == []


def test_encrypted_logs_need_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    from p1lib.cipher import encrypt_telegram

    key = bytes(range(16))
    telegrams = short_log(tmp_path / "plain.log", datetime(2023, 5, 2, 10, 0, 0), count=30)
    try:
        frames = [encrypt_telegram(t, key, counter=i + 1) for i, t in enumerate(telegrams)]
    except (ImportError, RuntimeError):
        pytest.skip("no AES-GCM here")
    log = tmp_path / "smarty.bin"
    log.write_bytes(b"".join(frames))
    assert main(["report", str(log), "--out", str(tmp_path / "o")]) == 2
    captured = capsys.readouterr()
    assert json.loads(captured.out)["valid"] == 0
    assert "--key HEX" in captured.err
    code, data = run_report([str(log), "--key", key.hex(), "--out", str(tmp_path / "o")], capsys)
    assert code == 0
    assert data["valid"] == 30
    assert data["voltage"] == figures(analyse([tmp_path / "plain.log"]))["voltage"]
