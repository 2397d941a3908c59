"""The command-line converter."""

from __future__ import annotations

import csv
import gc
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from p1lib import converter
from p1lib.converter import SAMPLE_LOG, ConvertOptions, convert, main
from p1lib.generator import MeterSimulator, demo_log, putty_header

ROOT = Path(__file__).resolve().parents[2]


def write_log(path: Path, count: int = 20, style: str = "hu_sanxing") -> bytes:
    sim = MeterSimulator(style, seed=9)
    telegrams = list(sim.telegrams(count))
    path.write_bytes(putty_header(sim.now) + b"".join(telegrams))
    return b"".join(telegrams)


def test_convert_writes_the_three_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "meter.log"
    write_log(log)
    assert main(["convert", str(log), "--out", str(tmp_path / "out")]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["telegrams"] == summary["valid"] == 20
    assert {"repaired", "invalid", "unverified", "seconds"} <= set(summary)
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == [
        "meter.errors.log",
        "meter.records.csv",
        "meter.validity.csv",
    ]
    rows = list(csv.DictReader((out / "meter.records.csv").open()))
    assert len(rows) == 20


def test_repaired_log_is_byte_exact_and_replayable(tmp_path: Path) -> None:
    log = tmp_path / "meter.log"
    telegrams = write_log(log)
    lf = tmp_path / "meter_lf.log"
    lf.write_bytes(log.read_bytes().replace(b"\r\n", b"\n"))
    assert main(["convert", str(log), str(lf), "--out", str(tmp_path), "--repaired"]) == 0
    assert (tmp_path / "meter.repaired.log").read_bytes() == telegrams
    assert (tmp_path / "meter_lf.repaired.log").read_bytes() == telegrams
    # Replaying the repaired log verifies every telegram again.
    summary = convert(tmp_path / "meter.repaired.log", tmp_path / "again", ConvertOptions())
    assert summary.valid == 20


def test_locale_options(tmp_path: Path) -> None:
    log = tmp_path / "m.log"
    write_log(log, 2)
    assert (
        main(["convert", str(log), "--out", str(tmp_path), "--delimiter", ";", "--decimal", ","])
        == 0
    )
    text = (tmp_path / "m.records.csv").read_text()
    assert text.splitlines()[0].startswith("timestamp;status;")
    assert (
        main(["convert", str(log), "--out", str(tmp_path), "--delimiter", ";", "--decimal", ";"])
        == 2
    )


def test_thresholds(tmp_path: Path) -> None:
    log = tmp_path / "m.log"
    write_log(log, 2)
    main(["convert", str(log), "--out", str(tmp_path), "--voltage-threshold", "200"])
    row = next(csv.DictReader((tmp_path / "m.records.csv").open()))
    assert row["overvoltage_l1"] == "1"


def test_unreadable_input_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.log"
    write_log(good, 2)
    denied = tmp_path / "denied.log"
    write_log(denied, 2)
    denied.chmod(0)
    code = main(
        [
            "convert",
            str(tmp_path / "missing.log"),
            str(tmp_path),
            str(denied),
            str(good),
            "--out",
            str(tmp_path / "o"),
        ]
    )
    captured = capsys.readouterr()
    assert code == 2
    assert f"cannot read {tmp_path / 'missing.log'}: No such file or directory" in captured.err
    assert f"cannot read {tmp_path}: it is a directory" in captured.err
    if os.geteuid() != 0:  # root reads it anyway
        assert f"cannot read {denied}: Permission denied" in captured.err
    assert "Traceback" not in captured.err
    assert json.loads(captured.out)["files"][-1]["valid"] == 2  # the readable input was converted


def test_failed_write_leaves_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "m.log"
    write_log(log, 5)

    def full_disk(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(converter.RecordsWriter, "write", full_disk)
    out = tmp_path / "out"
    assert main(["convert", str(log), "--out", str(out)]) == 2
    assert list(out.iterdir()) == []


def test_default_is_the_bundled_sample(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["convert", "--out", str(tmp_path)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["files"][0]["file"] == str(SAMPLE_LOG)
    assert summary["telegrams"] == 180


def test_bundled_sample_is_reproducible() -> None:
    assert SAMPLE_LOG.read_bytes() == demo_log()


def test_every_current_of_the_bundled_sample_is_estimated(tmp_path: Path) -> None:
    """What a new user sees first: the sample's whole amps agree with its power totals, so no
    estimated current is left empty (the simulator once drew currents without the power factors
    it sends: 77 of 180 rows were ``inputs_disagree``)."""
    assert main(["convert", "--out", str(tmp_path)]) == 0
    with (tmp_path / "hu_sanxing_demo.records.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 180
    assert {row["current_method"] for row in rows} == {"power_factor_fit"}
    assert all(row[f"current_l{k}_calc_a"] for row in rows for k in (1, 2, 3))


def test_script_runs_without_home_assistant(tmp_path: Path) -> None:
    log = tmp_path / "m.log"
    write_log(log, 3)
    code = (
        "import sys, runpy; sys.modules['homeassistant'] = None; script = sys.argv.pop(1); "
        "sys.argv[0] = script; runpy.run_path(script, run_name='__main__')"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            str(ROOT / "scripts" / "p1-dsmr"),
            "convert",
            str(log),
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["valid"] == 3


def test_convert_stream_in_memory() -> None:
    sim = MeterSimulator("be_fluvius", seed=2)
    source = io.BytesIO(b"".join(sim.telegrams(4)))
    outputs = [io.StringIO(), io.StringIO(), io.StringIO()]
    repaired = io.BytesIO()
    summary = converter.convert_stream(source, "x", *outputs, repaired, ConvertOptions())
    assert summary.valid == 4
    assert repaired.getvalue() == source.getvalue()


def test_batch_collection_restores_the_collector() -> None:
    before = gc.get_threshold()
    with converter.batch_collection(123_456):
        assert gc.get_threshold()[0] == max(123_456, before[0])
    assert gc.get_threshold() == before
    with pytest.raises(RuntimeError), converter.batch_collection():
        raise RuntimeError
    assert gc.get_threshold() == before


class _Chunks:
    """A byte source that gives ``data`` in pieces of the given sizes (cycled)."""

    def __init__(self, data: bytes, sizes: list[int]) -> None:
        self._data, self._sizes, self._at, self._n = data, sizes, 0, 0

    def read(self, size: int = -1, /) -> bytes:
        step = self._sizes[self._n % len(self._sizes)]
        self._n += 1
        piece = self._data[self._at : self._at + min(step, size if size >= 0 else step)]
        self._at += len(piece)
        return piece


def _converted(source: converter.ByteSource) -> tuple[str, str, str]:
    outputs = [io.StringIO(), io.StringIO(), io.StringIO()]
    converter.convert_stream(source, "x", *outputs, None, ConvertOptions())
    records, validity, errors = (out.getvalue() for out in outputs)
    return records, validity, errors.split("\nSummary")[0]


@pytest.mark.parametrize("size", [3000, 24_084])
def test_the_outputs_do_not_depend_on_where_reads_cut_the_log(size: int) -> None:
    """F12: a telegram (a normal one, and one over the 16 KiB limit) across the converter's 1 MiB
    read and its 64 KiB decoder feed gives the same outputs as the log read in any pieces."""
    from p1lib.crc import crc16

    # The meter's own telegrams, the fourth with a long text message (a telegram of another
    # meter in between would be judged by the continuity check, not by framing)
    sent = list(MeterSimulator("nl_dsmr5", seed=4).telegrams(7))
    body = sent[3][: sent[3].rindex(b"!")]
    body += b"0-0:96.13.0(" + b"41" * ((size - len(body) - 20) // 2) + b")\r\n!"
    big = body + b"%04X\r\n" % crc16(body)
    seen = []
    for before in (converter.CHUNK - 22_000, converter.FEED - 1000, 0):
        filler = (b"noise \r\n" * (before // 8 + 1))[:before]
        log = filler + b"".join(sent[:3]) + big + b"".join(sent[4:])
        whole = _converted(io.BytesIO(log))
        for sizes in ([1], [4096], [7, 1 << 20, 13], [len(log)]):
            if sizes == [1] and len(log) > 200_000:
                continue
            assert _converted(_Chunks(log, sizes)) == whole, (before, sizes)
        rows = list(csv.DictReader(io.StringIO(whole[1])))
        seen.append([row["status"] for row in rows if int(row["offset"]) >= before])
    assert seen[0] == seen[1] == seen[2]  # the same wherever the telegram lies
    assert seen[0][:3] == seen[0][-3:] == ["valid"] * 3
    if size < 16_384:
        assert seen[0] == ["valid"] * 7
