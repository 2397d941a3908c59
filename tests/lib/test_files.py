"""The converter's files: what cannot be opened, created or renamed is reported against its path,
and nothing is left behind."""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import threading
from pathlib import Path

import pytest
from p1lib import files, logs
from p1lib.converter import main
from p1lib.files import InputError, atomic_outputs, open_log

from .test_converter_hostile import write_log


def test_a_socket_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "meter.sock"
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(path))
        with pytest.raises(InputError, match="it is a socket"):
            open_log(path)
    finally:
        server.close()


def test_a_compression_this_python_lacks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import lzma

    log = tmp_path / "m.log.xz"
    log.write_bytes(lzma.compress(write_log(tmp_path / "m.log", 2)))

    def missing(method: str, raw: object) -> object:
        raise ImportError("No module named '_lzma'")

    monkeypatch.setattr(logs, "_decompressing", missing)
    assert main(["convert", str(log), "--out", str(tmp_path / "out")]) == 2
    assert (
        "it is compressed with xz, which this Python cannot decompress" in capsys.readouterr().err
    )


def test_outputs_without_signal_masks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where signals cannot be held back (Windows), outputs are still written whole."""
    monkeypatch.delattr(signal, "pthread_sigmask")
    with atomic_outputs([tmp_path / "a.csv"]) as (handle,):
        handle.write(b"x")
    assert (tmp_path / "a.csv").read_bytes() == b"x"


def test_a_temporary_file_that_cannot_be_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "m.log"
    write_log(log, 2)
    real_open = os.open

    def denied(path: object, flags: int, *args: object) -> int:
        if str(path).endswith(".part"):
            raise PermissionError(errno.EACCES, "Permission denied")
        return real_open(path, flags, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(files.os, "open", denied)
    out = tmp_path / "out"
    assert main(["convert", str(log), "--out", str(out)]) == 2
    assert f"cannot write {out / 'm.records.csv'}: Permission denied" in capsys.readouterr().err
    assert list(out.iterdir()) == []


def test_no_free_temporary_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(files, "_token", lambda: "same")
    (tmp_path / ".a.csv.same.part").write_text("someone else's")
    with (
        pytest.raises(FileExistsError, match="no free temporary name"),
        atomic_outputs([tmp_path / "a.csv"]),
    ):
        pass  # pragma: no cover
    assert (tmp_path / ".a.csv.same.part").read_text() == "someone else's"


def test_a_rename_that_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "m.log"
    write_log(log, 2)
    out = tmp_path / "out"

    def cross_device(source: object, target: object) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link", str(source))

    monkeypatch.setattr(files.os, "replace", cross_device)
    assert main(["convert", str(log), "--out", str(out)]) == 2
    assert f"cannot write {out / 'm.records.csv'}: Invalid cross-device link" in (
        capsys.readouterr().err
    )
    assert list(out.iterdir()) == []


def test_the_converter_outside_the_main_thread(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Signal handlers can only be set in the main thread: elsewhere it converts without them."""
    log = tmp_path / "m.log"
    write_log(log, 3)
    codes: list[int] = []
    worker = threading.Thread(
        target=lambda: codes.append(main(["convert", str(log), "--out", str(tmp_path / "out")]))
    )
    worker.start()
    worker.join()
    assert codes == [0]
    assert json.loads(capsys.readouterr().out)["valid"] == 3
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
