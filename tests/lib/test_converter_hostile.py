"""The converter against bad input: options, names, files that are no logs, signals, full disks,
planted links, compressed and hostile logs. Every case ends with a clear message and exit code,
never a traceback, and never with a partial or a foreign file written."""

from __future__ import annotations

import bz2
import csv
import errno
import gzip
import json
import lzma
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from p1lib import files
from p1lib.converter import main
from p1lib.generator import MeterSimulator, putty_header

from tests.processes import untraced

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "p1-dsmr"
LIBRARY = ROOT / "custom_components" / "p1_dsmr"


def write_log(path: Path, count: int = 20, style: str = "hu_sanxing", seed: int = 9) -> bytes:
    sim = MeterSimulator(style, seed=seed)
    data = putty_header(sim.now) + b"".join(sim.telegrams(count))
    path.write_bytes(data)
    return data


def run(*args: str, timeout: float = 60, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """The converter as a user runs it: a process of its own."""
    return subprocess.run(
        [sys.executable, str(SCRIPT), "convert", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        **kwargs,  # type: ignore[call-overload]
    )


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def leftovers(directory: Path) -> list[str]:
    """Temporary files left in ``directory``."""
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".part"))


# --- names ---------------------------------------------------------------------------------


def test_inputs_with_the_same_stem_keep_their_own_outputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    logs = [tmp_path / "a" / "meter.log", tmp_path / "b" / "meter.log", tmp_path / "meter.txt"]
    for count, log in zip((3, 5, 7), logs, strict=True):
        write_log(log, count)
    out = tmp_path / "out"
    assert main(["convert", *map(str, logs), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert [len(rows(out / f"{stem}.records.csv")) for stem in ("meter", "meter-2", "meter-3")] == [
        3,
        5,
        7,
    ]
    assert f"{logs[1]}: written as {out / 'meter-2'}.*" in captured.err
    assert f"{logs[2]}: written as {out / 'meter-3'}.*" in captured.err
    assert [f["valid"] for f in json.loads(captured.out)["files"]] == [3, 5, 7]


def test_case_only_differences_count_as_the_same_name(tmp_path: Path) -> None:
    logs = [tmp_path / "Meter.log", tmp_path / "meter.LOG"]
    for log in logs:
        write_log(log, 2)
    assert files.output_stems(logs, tmp_path / "out", ()) == ["Meter", "meter-2"]


def test_an_output_never_replaces_an_input(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    earlier = out / "x.records.csv"  # an earlier result, given as an input
    earlier.write_bytes(write_log(tmp_path / "x.log", 2))
    assert main(["convert", str(earlier), str(tmp_path / "x.log"), "--out", str(out)]) == 0
    assert earlier.read_bytes() == (tmp_path / "x.log").read_bytes()  # untouched
    assert len(rows(out / "x-2.records.csv")) == 2


def test_a_file_name_that_is_not_utf8(tmp_path: Path) -> None:
    odd = os.fsdecode(os.fsencode(tmp_path) + b"/m\xe9ter\xff.log")
    write_log(Path(odd), 3)
    good = tmp_path / "good.log"
    write_log(good, 2)
    out = tmp_path / "out"
    done = run(odd, str(good), "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    summary = json.loads(done.stdout)
    assert summary["files"][0]["file"].endswith("/m\\xe9ter\\xff.log")
    assert [f["valid"] for f in summary["files"]] == [3, 2]  # the next input too
    written = os.listdir(os.fsencode(out))
    assert b"m\xe9ter\xff.records.csv" in written
    log = (out / os.fsdecode(b"m\xe9ter\xff.errors.log")).read_text(encoding="utf-8")
    assert "m\\xe9ter\\xff.log" in log.splitlines()[0]


# --- options -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--delimiter", '"', "cannot be a delimiter"),
        ("--delimiter", "\n", "cannot be a delimiter"),
        ("--delimiter", "\r", "cannot be a delimiter"),
        ("--delimiter", "\x00", "cannot be a delimiter"),
        ("--delimiter", "1", "cannot be a delimiter"),
        ("--delimiter", ";;", "one character"),
        ("--delimiter", "", "one character"),
        ("--decimal", "1", "invalid choice"),
        ("--decimal", ";", "invalid choice"),
        ("--voltage-threshold", "nan", "finite"),
        ("--current-threshold", "inf", "finite"),
        ("--power-threshold", "-1", "not negative"),
        ("--voltage-threshold", "230V", "not a number"),
        ("--timezone", "Mars/Olympus_Mons", "unknown time zone"),
        ("--timezone", "../../etc/passwd", "unknown time zone"),
    ],
)
def test_bad_options_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, value: str, message: str
) -> None:
    log = tmp_path / "m.log"
    write_log(log, 2)
    assert main(["convert", str(log), "--out", str(tmp_path / "out"), option, value]) == 2
    err = capsys.readouterr().err
    assert f"argument {option}" in err
    assert message in err
    assert not (tmp_path / "out").exists()


def test_delimiter_equal_to_the_decimal_mark(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["convert", "--delimiter", ",", "--decimal", ",", "--out", str(tmp_path)]) == 2
    assert "must differ" in capsys.readouterr().err


def test_bad_options_in_a_process_print_no_traceback(tmp_path: Path) -> None:
    done = run("--delimiter", "\n", "--out", str(tmp_path))
    assert done.returncode == 2
    assert "cannot be a delimiter" in done.stderr
    assert "Traceback" not in done.stderr


# --- files that are no logs ----------------------------------------------------------------


def test_a_fifo_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.log"
    os.mkfifo(fifo)
    good = tmp_path / "good.log"
    write_log(good, 2)
    done = run(str(fifo), str(good), "--out", str(tmp_path / "out"), timeout=30)
    assert done.returncode == 2
    assert f"cannot read {fifo}: it is a FIFO" in done.stderr
    assert json.loads(done.stdout)["valid"] == 2


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom", "/dev/null"])
def test_a_device_is_refused_at_once(tmp_path: Path, device: str) -> None:
    if not os.path.exists(device):
        pytest.skip(f"no {device}")
    done = run(device, "--out", str(tmp_path / "out"), timeout=30)
    assert done.returncode == 2
    assert f"cannot read {device}: it is a device" in done.stderr
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


# --- compressed logs -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("suffix", "compress"),
    [(".gz", gzip.compress), (".bz2", bz2.compress), (".xz", lzma.compress)],
)
def test_compressed_logs_are_read(tmp_path: Path, suffix: str, compress: object) -> None:
    plain = tmp_path / "meter.log"
    data = write_log(plain, 30, style="nl_dsmr5")
    packed = tmp_path / f"packed.log{suffix}"
    packed.write_bytes(compress(data))  # type: ignore[operator]
    out = tmp_path / "out"
    assert main(["convert", str(plain), str(packed), "--out", str(out)]) == 0
    assert (out / "packed.records.csv").read_bytes() == (out / "meter.records.csv").read_bytes()


def test_a_truncated_gzip_log_keeps_what_came_before(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_log(tmp_path / "meter.log", 200, style="nl_dsmr5")
    packed = gzip.compress(data)
    cut = tmp_path / "cut.log.gz"
    cut.write_bytes(packed[: len(packed) // 2])
    out = tmp_path / "out"
    assert main(["convert", str(cut), "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert "the gzip data could not be read after" in captured.err
    assert "what came before was converted" in captured.err
    converted = len(rows(out / "cut.records.csv"))
    assert 0 < converted < 200
    assert "input: the gzip data could not be read" in (out / "cut.errors.log").read_text()
    assert json.loads(captured.out)["files"][0]["problem"].startswith("the gzip data")


def test_noise_that_looks_like_gzip_is_read_as_a_log(tmp_path: Path) -> None:
    log = tmp_path / "noisy.log"
    log.write_bytes(b"\x1f\x8b\x00garbage" + write_log(tmp_path / "m.log", 3))
    assert main(["convert", str(log), "--out", str(tmp_path / "out")]) == 0
    assert len(rows(tmp_path / "out" / "noisy.records.csv")) == 3


def test_an_archive_is_refused_with_advice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import zipfile

    archive = tmp_path / "logs.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("meter.log", write_log(tmp_path / "m.log", 2))
    assert main(["convert", str(archive), "--out", str(tmp_path / "out")]) == 2
    assert "it is compressed (zip archive): extract the log first" in capsys.readouterr().err


# --- outputs -------------------------------------------------------------------------------


def test_an_output_directory_that_is_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "m.log"
    write_log(log, 2)
    out = tmp_path / "out"
    out.write_text("not a directory")
    assert main(["convert", str(log), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"cannot write {out}: not a directory" in err
    assert str(log) not in err  # the input is not blamed
    assert out.read_text() == "not a directory"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real full disk: a 64 KiB tmpfs (needs root; skipped otherwise)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_a_full_disk_is_reported_against_the_output(tmp_path: Path, small_disk: Path) -> None:
    big = tmp_path / "big.log"
    write_log(big, 300)  # its records CSV does not fit in 64 KiB
    small = tmp_path / "small.log"
    write_log(small, 2)
    done = run(str(big), str(small), "--out", str(small_disk))
    assert done.returncode == 2
    assert f"cannot write {small_disk / 'big.'}" in done.stderr
    assert "No space left on device" in done.stderr
    assert str(big) + ":" not in done.stderr
    assert "Traceback" not in done.stderr
    left = sorted(p.name for p in small_disk.iterdir())
    assert left == ["small.errors.log", "small.records.csv", "small.validity.csv"]


def test_a_full_disk_in_process(
    tmp_path: Path,
    small_disk: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    log = tmp_path / "big.log"
    write_log(log, 300)
    assert main(["convert", str(log), "--out", str(small_disk)]) == 2
    err = capsys.readouterr().err
    assert f"cannot write {small_disk}/big." in err
    assert "No space left on device" in err
    assert list(small_disk.iterdir()) == []


def test_temporary_files_never_follow_a_planted_link(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "m.log"
    write_log(log, 2)
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("precious")
    # Links at the names temporary files had before, and at the first names they will try now.
    names = iter(["aaaa", "bbbb", "cccc", "dddd", "eeee", "ffff"])
    monkeypatch.setattr(files, "_token", lambda: next(names))
    for kind in ("records.csv", "validity.csv", "errors.log"):
        (out / f".m.{kind}.part").symlink_to(victim)
    (out / ".m.records.csv.aaaa.part").symlink_to(victim)
    (out / ".m.validity.csv.cccc.part").symlink_to(tmp_path / "dangling")
    assert main(["convert", str(log), "--out", str(out)]) == 0
    assert victim.read_text() == "precious"
    assert not (tmp_path / "dangling").exists()
    assert len(rows(out / "m.records.csv")) == 2
    assert (out / ".m.records.csv.aaaa.part").is_symlink()  # left alone, not ours


def test_a_link_at_an_output_name_is_replaced_not_followed(tmp_path: Path) -> None:
    log = tmp_path / "m.log"
    write_log(log, 2)
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (out / "m.records.csv").symlink_to(victim)
    assert main(["convert", str(log), "--out", str(out)]) == 0
    assert victim.read_text() == "precious"
    assert not (out / "m.records.csv").is_symlink()


def test_outputs_get_the_usual_permissions(tmp_path: Path) -> None:
    log = tmp_path / "m.log"
    write_log(log, 2)
    previous = os.umask(0o022)
    try:
        assert main(["convert", str(log), "--out", str(tmp_path / "out")]) == 0
    finally:
        os.umask(previous)
    assert (tmp_path / "out" / "m.records.csv").stat().st_mode & 0o777 == 0o644


# --- signals -------------------------------------------------------------------------------

_SELF_SIGNAL = """
import os, signal, sys
sys.path.insert(0, sys.argv[1])
from p1lib import files
from p1lib.converter import main
read = files.LogReader.read
def interrupted(self, size=-1):
    data = read(self, size)
    os.kill(os.getpid(), getattr(signal, sys.argv[2]))
    return data
files.LogReader.read = interrupted
sys.exit(main(sys.argv[3:]))
"""


@pytest.mark.parametrize(("name", "code"), [("SIGTERM", 143), ("SIGINT", 130), ("SIGHUP", 129)])
def test_a_signal_during_a_conversion_leaves_nothing(tmp_path: Path, name: str, code: int) -> None:
    """The signal arrives while the outputs are open (the first chunk was read)."""
    log = tmp_path / "m.log"
    write_log(log, 5)
    out = tmp_path / "out"
    command = [sys.executable, "-c", _SELF_SIGNAL, str(LIBRARY), name]
    done = subprocess.run(
        [*command, "convert", str(log), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=untraced(),
    )
    assert done.returncode == code, done.stderr
    assert f"interrupted ({name})" in done.stderr
    assert "Traceback" not in done.stderr
    assert list(out.iterdir()) == []


@pytest.mark.parametrize(
    ("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130), (signal.SIGHUP, 129)]
)
def test_a_signal_from_outside_leaves_no_part_file(
    tmp_path: Path, sig: signal.Signals, code: int
) -> None:
    """A long conversion (a compressed log of 400,000 telegrams) killed while it writes."""
    telegram = MeterSimulator("nl_dsmr5", seed=1).telegram()
    log = tmp_path / "long.log.gz"
    log.write_bytes(gzip.compress(telegram * 400_000))
    done_first = tmp_path / "first.log"
    write_log(done_first, 2)
    out = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, str(SCRIPT), "convert", str(done_first), str(log), "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=untraced(),
    )
    try:
        deadline = time.monotonic() + 60
        while not (out.exists() and any(p.name.startswith(".long") for p in out.iterdir())):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.01)
        process.send_signal(sig)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == code, stderr
    assert f"interrupted ({sig.name})" in stderr
    assert "Traceback" not in stderr
    assert leftovers(out) == []
    assert not (out / "long.records.csv").exists()
    assert json.loads(stdout)["files"][0]["valid"] == 2  # the finished input is kept


# --- hostile streams -----------------------------------------------------------------------


def test_noise_rich_in_slashes_keeps_the_error_log_small(tmp_path: Path) -> None:
    telegrams = b"".join(MeterSimulator("nl_dsmr5", seed=3).telegrams(3))
    log = tmp_path / "noise.log"
    # 300 kB of noise the framer counts as noise, then 300 kB of header-and-'!' frames that it
    # must report as rejected telegrams
    noise = b"x/ABC" * 60_000 + b"\r\n/ABC5\r\n\r\n!\r\n" * 20_000
    log.write_bytes(telegrams + noise + telegrams)
    out = tmp_path / "out"
    assert main(["convert", str(log), "--out", str(out)]) == 0
    errors = (out / "noise.errors.log").read_text()
    assert len(errors) < 20_000, len(errors)
    assert "more rejected frame(s) in a row, not described" in errors
    assert len(rows(out / "noise.records.csv")) == 6  # the telegrams around it are all there


# --- damaged compressed logs (outsider findings F4, F5) -------------------------------------


def _damaged(packed: bytes, error: type[BaseException], decompress: object) -> tuple[bytes, int]:
    """``packed`` with one byte changed past its middle, where decompressing it raises ``error``
    (the first such byte), and that byte's offset."""
    for at in range(len(packed) // 2, len(packed)):
        damaged = packed[:at] + bytes([packed[at] ^ 0x55]) + packed[at + 1 :]
        try:
            decompress(damaged)  # type: ignore[operator]
        except error:
            return damaged, at
        except Exception:  # another kind of damage: try the next byte
            continue
    raise AssertionError("no damage of that kind")


def _zlib_error() -> type[BaseException]:
    import zlib

    return zlib.error


@pytest.mark.parametrize(
    ("suffix", "compress", "decompress", "error"),
    [
        (".gz", gzip.compress, gzip.decompress, _zlib_error()),
        (".xz", lzma.compress, lzma.decompress, lzma.LZMAError),
        (".bz2", bz2.compress, bz2.decompress, OSError),
    ],
)
def test_a_damaged_compressed_log_keeps_what_came_before_and_the_other_inputs(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    suffix: str,
    compress: object,
    decompress: object,
    error: type[BaseException],
) -> None:
    """F4: the damage is reported with where it lies; the telegrams before it and the next input
    are converted."""
    data = write_log(tmp_path / "m.log", 3000, style="nl_dsmr5")
    damaged, at = _damaged(compress(data), error, decompress)  # type: ignore[operator]
    log = tmp_path / f"damaged.log{suffix}"
    log.write_bytes(damaged)
    after = tmp_path / "after.log"
    write_log(after, 4)
    out = tmp_path / "out"
    assert main(["convert", str(log), str(after), "--out", str(out)]) == 2
    captured = capsys.readouterr()
    problem = json.loads(captured.out)["files"][0]["problem"]
    method = {".gz": "gzip", ".xz": "xz", ".bz2": "bzip2"}[suffix]
    assert problem.startswith(f"the {method} data could not be read after ")
    read = int(problem.split(" after ")[1].split()[0])
    assert read <= len(data)
    stop = int(problem.split("damaged at or before byte ")[1].split()[0])
    assert at < stop <= len(damaged)
    assert f"{log}: {problem}; what came before was converted" in captured.err
    kept = rows(out / "damaged.records.csv")
    assert kept == rows_of(data[:read], tmp_path)[: len(kept)]  # as they were, in order
    assert len(rows(out / "after.records.csv")) == 4


def rows_of(data: bytes, tmp_path: Path) -> list[dict[str, str]]:
    """The records of a log of ``data``, converted on its own."""
    log = tmp_path / "whole" / "part.log"
    log.parent.mkdir(exist_ok=True)
    log.write_bytes(data)
    assert main(["convert", str(log), "--out", str(log.parent)]) == 0
    return rows(log.parent / "part.records.csv")


def test_a_damaged_log_in_a_process_prints_no_traceback(tmp_path: Path) -> None:
    data = write_log(tmp_path / "m.log", 500, style="nl_dsmr5")
    damaged, _ = _damaged(lzma.compress(data), lzma.LZMAError, lzma.decompress)
    (tmp_path / "damaged.log.xz").write_bytes(damaged)
    done = run(str(tmp_path / "damaged.log.xz"), str(tmp_path / "m.log"), "--out", str(tmp_path))
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "the xz data could not be read after" in done.stderr
    assert len(rows(tmp_path / "m.records.csv")) == 500


@pytest.mark.parametrize("name", ["cut.log.bz2", "cut.log"])
def test_a_truncated_bzip2_log_is_reported_not_read_as_noise(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    """F5: bzip2 gives nothing before a block is complete, so a log shorter than a block (most
    daily logs) that was cut short gives no byte at all: say so, whatever its name."""
    packed = bz2.compress(write_log(tmp_path / "m.log", 100, style="nl_dsmr5"))
    cut = tmp_path / name
    cut.write_bytes(packed[: len(packed) * 2 // 3])
    out = tmp_path / "out"
    assert main(["convert", str(cut), "--out", str(out)]) == 2
    captured = capsys.readouterr()
    problem = json.loads(captured.out)["files"][0]["problem"]
    assert problem == (
        f"the bzip2 data could not be read after 0 bytes: it ends early, at byte {cut.stat().st_size}"
        " of the file (a truncated file)"
    )
    assert f"{cut}: {problem}" in captured.err
    stem = name.split(".", maxsplit=1)[0]
    assert f"input: {problem}" in (out / f"{stem}.errors.log").read_text()


def test_a_compressed_log_damaged_from_its_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Named .gz, gzip's magic, then damage: reported, not read as a plain log of noise."""
    packed = gzip.compress(write_log(tmp_path / "m.log", 10))
    log = tmp_path / "bad.log.gz"
    log.write_bytes(packed[:3] + b"\xff" + packed[4:])  # reserved flag bits set
    assert main(["convert", str(log), "--out", str(tmp_path / "out")]) == 2
    assert "bad.log.gz: the gzip data could not be read after 0 bytes" in capsys.readouterr().err


def test_a_log_compressed_twice_is_read(tmp_path: Path) -> None:
    data = write_log(tmp_path / "m.log", 12, style="nl_dsmr5")
    (tmp_path / "twice.log.gz").write_bytes(gzip.compress(gzip.compress(data)))
    (tmp_path / "mixed.log.xz").write_bytes(lzma.compress(bz2.compress(data)))
    out = tmp_path / "out"
    argv = [str(tmp_path / n) for n in ("m.log", "twice.log.gz", "mixed.log.xz")]
    assert main(["convert", *argv, "--out", str(out)]) == 0
    expected = (out / "m.records.csv").read_bytes()
    assert (out / "twice.records.csv").read_bytes() == expected
    assert (out / "mixed.records.csv").read_bytes() == expected


def test_a_truncated_inner_log_of_a_log_compressed_twice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inner = bz2.compress(write_log(tmp_path / "m.log", 50))
    (tmp_path / "t.log.gz").write_bytes(gzip.compress(inner[: len(inner) // 2]))
    assert main(["convert", str(tmp_path / "t.log.gz"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert (
        "t.log.gz: the bzip2 (in gzip) data could not be read after 0 bytes: it ends early" in err
    )


def test_a_later_run_removes_what_a_killed_one_left(tmp_path: Path) -> None:
    """F13: SIGKILL cannot be caught, so its temporary files stay; the next run that writes the
    same outputs deletes them once they are old, and only those of a process that is gone."""
    telegram = MeterSimulator("nl_dsmr5", seed=1).telegram()
    log = tmp_path / "long.log.gz"
    log.write_bytes(gzip.compress(telegram * 400_000))
    out = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, str(SCRIPT), "convert", str(log), "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not (out.exists() and len(leftovers(out)) == 3):
            assert process.poll() is None
            assert time.monotonic() < deadline
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
    finally:
        process.kill()
    killed = leftovers(out)
    assert len(killed) == 3
    assert all(name.startswith(".long.") and f".{process.pid}-" in name for name in killed)
    # Planted beside them: a temporary file of a running process (this one), a link, another
    # output's, all as old; and one of the killed process that is recent.
    alive = out / f".long.records.csv.{os.getpid()}-0badcafe.part"
    link = out / ".long.errors.log.999999-0badcafe.part"
    other = out / f".other.records.csv.{process.pid}-0badcafe.part"
    recent = out / f".long.validity.csv.{process.pid}-12345678.part"
    alive.write_text("writing")
    link.symlink_to(tmp_path / "victim")
    other.write_text("not ours")
    old = time.time() - files.STALE_AFTER - 60
    for path in [*(out / name for name in killed), alive, other]:
        os.utime(path, (old, old))
    os.utime(link, (old, old), follow_symlinks=False)
    recent.write_text("recent")
    short = tmp_path / "long.log"
    write_log(short, 3)
    assert main(["convert", str(short), "--out", str(out)]) == 0
    assert leftovers(out) == sorted(p.name for p in (alive, link, other, recent))
    assert len(rows(out / "long.records.csv")) == 3


@pytest.mark.parametrize("had_records", [True, False])
def test_an_output_that_cannot_be_renamed_leaves_the_earlier_set_whole(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], had_records: bool
) -> None:
    """F14: a directory at one output's name: the outputs renamed before it are put back as they
    were, so the set is the previous run's, not a mix of two runs."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "m.validity.csv").mkdir()
    (out / "m.errors.log").write_text("OLD")
    if had_records:
        (out / "m.records.csv").write_text("OLD records")
    log = tmp_path / "m.log"
    write_log(log, 3)
    assert main(["convert", str(log), "--out", str(out)]) == 2
    assert f"cannot write {out / 'm.validity.csv'}: Is a directory" in capsys.readouterr().err
    assert (out / "m.errors.log").read_text() == "OLD"
    if had_records:
        assert (out / "m.records.csv").read_text() == "OLD records"
    else:
        assert not (out / "m.records.csv").exists()
    assert (out / "m.validity.csv").is_dir()
    assert leftovers(out) == []


def test_a_failed_rename_puts_back_a_link_and_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last rename fails (a file system refusing it): the two before it are undone, a symbolic
    link at an output's name included (put back as the link, its target untouched)."""
    out = tmp_path / "out"
    out.mkdir()
    target = tmp_path / "target"
    target.write_text("target")
    (out / "m.records.csv").symlink_to(target)
    (out / "m.validity.csv").write_text("OLD validity")
    real = os.replace

    def refused(source: object, final: object) -> None:
        if str(final).endswith("m.errors.log"):
            raise PermissionError(errno.EPERM, "Operation not permitted", str(source))
        real(source, final)  # type: ignore[arg-type]

    monkeypatch.setattr(files.os, "replace", refused)
    log = tmp_path / "m.log"
    write_log(log, 3)
    assert main(["convert", str(log), "--out", str(out)]) == 2
    assert (out / "m.records.csv").readlink() == target
    assert target.read_text() == "target"
    assert (out / "m.validity.csv").read_text() == "OLD validity"
    assert not (out / "m.errors.log").exists()
    assert leftovers(out) == []


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full here")
def test_standard_output_on_a_full_device(tmp_path: Path) -> None:
    """F16: the summary cannot be written: said on standard error, exit 2, the outputs kept."""
    log = tmp_path / "m.log"
    write_log(log, 3)
    command = [sys.executable, str(SCRIPT), "convert", str(log)]
    with Path("/dev/full").open("w") as full:
        done = subprocess.run(
            [*command, "--out", str(tmp_path / "a")],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 2, done.stderr
        assert done.stderr == (
            "p1-dsmr: cannot write the summary to standard output: No space left on device\n"
        )
        assert len(rows(tmp_path / "a" / "m.records.csv")) == 3
        # Standard error full as well: nothing can be said, and still no crash.
        missing = str(tmp_path / "missing.log")
        done = subprocess.run(
            [*command, missing, "--out", str(tmp_path / "b")],
            stdout=full,
            stderr=full,
            timeout=60,
            check=False,
        )
    assert done.returncode == 2
    assert len(rows(tmp_path / "b" / "m.records.csv")) == 3


def test_a_closed_pipe_is_no_failure(tmp_path: Path) -> None:
    log = tmp_path / "m.log"
    write_log(log, 3)
    command = [sys.executable, str(SCRIPT), "convert", str(log), "--out", str(tmp_path / "o")]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None
    process.stdout.close()  # the reader is gone before the summary comes
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert stderr == b""


def test_a_read_only_output_directory_names_the_output(tmp_path: Path) -> None:
    """F18: a real read-only file system: the message names the output, not its hidden
    temporary name."""
    mount = tmp_path / "ro"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        log = tmp_path / "m.log"
        write_log(log, 2)
        done = run(str(log), "--out", str(mount))
    finally:
        subprocess.run(["umount", str(mount)], check=False)
    assert done.returncode == 2
    assert (
        done.stderr == f"p1-dsmr: cannot write {mount / 'm.records.csv'}: Read-only file system\n"
    )


def test_an_output_directory_below_a_file_names_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    afile = tmp_path / "afile"
    afile.write_text("a file")
    log = tmp_path / "m.log"
    write_log(log, 2)
    assert main(["convert", str(log), "--out", str(afile / "sub" / "dir")]) == 2
    err = capsys.readouterr().err
    assert err == f"p1-dsmr: cannot write {afile}: not a directory (a file has that name)\n"


def test_ctrl_c_while_it_starts_prints_no_traceback(tmp_path: Path) -> None:
    """F18: SIGINT at any moment of the start (modules importing, options read, the first
    input opened): exit 130 (or killed before Python could catch it), never a traceback of the
    converter's own start (a SIGINT while the interpreter starts, before the script runs, is
    Python's)."""
    log = tmp_path / "m.log"
    write_log(log, 2)
    for delay in (0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.08, 0.1, 0.15, 0.2, 0.3):
        process = subprocess.Popen(
            [sys.executable, str(SCRIPT), "convert", str(log), "--out", str(tmp_path / "o")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=untraced(),
        )
        time.sleep(delay)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
        assert str(SCRIPT) not in stderr, (delay, stderr)  # no traceback through the script
        assert "p1lib" not in stderr, (delay, stderr)
        # Python's own start: a traceback of its start-up, a fatal error, or (interrupted while
        # it imports its site modules, before any traceback can be printed) "KeyboardInterrupt"
        # alone with exit status 1 (seen under load).
        pythons = "Traceback" in stderr or "Fatal Python error" in stderr
        if not pythons and stderr.strip() != "KeyboardInterrupt":
            assert process.returncode in (0, 130, -signal.SIGINT), (delay, stderr)


_PEAK = """
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from p1lib.converter import ConvertOptions, convert
summary = convert(Path(sys.argv[2]), Path(sys.argv[3]), ConvertOptions())
status = Path("/proc/self/status").read_text()
peak = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
print(summary.telegrams, int(peak.split()[1]) * 1024)
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="no /proc here")
def test_noise_of_tiny_frames_keeps_memory_small(tmp_path: Path) -> None:
    """F11: ``/`` and a line end, over and over, is a rejected frame every two bytes; their
    results are written as they come, never held for a whole read of the input (it took 200 MB
    per MiB of such noise)."""
    log = tmp_path / "tiny.log"
    log.write_bytes(b"/\n" * (3 << 16))  # 384 KiB, 196,608 frames
    done = subprocess.run(
        [sys.executable, "-c", _PEAK, str(LIBRARY), str(log), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    frames, peak = map(int, done.stdout.split())
    assert frames == 3 << 16
    assert peak < 60e6, peak


def test_an_unexpected_error_loses_only_its_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug the converter does not expect, on one input: said in a line, that input leaves no
    output, the others are converted, exit 2."""
    from p1lib import converter

    real = converter.convert_stream

    def failing(source: object, name: str, *args: object) -> object:
        if name.endswith("bad.log"):
            raise IndexError("index out of range")
        return real(source, name, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(converter, "convert_stream", failing)
    bad, good = tmp_path / "bad.log", tmp_path / "good.log"
    write_log(bad, 3)
    write_log(good, 3)
    out = tmp_path / "out"
    assert main(["convert", str(bad), str(good), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"p1-dsmr: cannot convert {bad}: unexpected IndexError at " in err
    assert "index out of range (a bug: please report it with this log)" in err
    assert sorted(p.name for p in out.iterdir()) == [
        "good.errors.log",
        "good.records.csv",
        "good.validity.csv",
    ]
