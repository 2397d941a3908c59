"""The converter on encrypted logs: --key, --auth-key, and what it says when it cannot decrypt."""

from __future__ import annotations

import csv
import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from p1lib.converter import ConvertOptions, convert, main
from p1lib.generator import MeterSimulator, putty_header

from .sealing import AUTH_KEY, KEY, OTHER_KEY, flip, needs_cryptography, random_frame, seal

ROOT = Path(__file__).resolve().parents[2]
KEY_HEX = KEY.hex().upper()
AUTH_HEX = AUTH_KEY.hex().upper()


def telegrams(count: int = 12) -> list[bytes]:
    return list(MeterSimulator("nl_dsmr5", seed=21).telegrams(count))


def write_logs(tmp_path: Path, count: int = 12) -> tuple[Path, Path, list[bytes]]:
    """A plain log and the same telegrams encrypted (a PuTTY session of each)."""
    plain = telegrams(count)
    header = putty_header(MeterSimulator("nl_dsmr5").now)
    plain_log = tmp_path / "plain" / "meter.log"
    encrypted_log = tmp_path / "encrypted" / "meter.log"
    plain_log.parent.mkdir()
    encrypted_log.parent.mkdir()
    plain_log.write_bytes(header + b"".join(plain))
    encrypted_log.write_bytes(header + b"".join(seal(t, 70 + n) for n, t in enumerate(plain)))
    return plain_log, encrypted_log, plain


def run(
    capsys: pytest.CaptureFixture[str], *args: str | Path
) -> tuple[int, dict[str, object], str]:
    code = main(["convert", *map(str, args)])
    captured = capsys.readouterr()
    return code, json.loads(captured.out), captured.err


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@needs_cryptography
@pytest.mark.parametrize("auth", [False, True])
def test_an_encrypted_log_converts_as_the_plain_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], auth: bool
) -> None:
    plain_log, encrypted_log, plain = write_logs(tmp_path)
    out = tmp_path / "out"
    keys = ["--key", KEY_HEX] + (["--auth-key", AUTH_HEX] if auth else [])
    code, summary, err = run(capsys, encrypted_log, "--out", out, "--repaired", *keys)
    assert (code, err) == (0, "")
    assert summary["valid"] == summary["telegrams"] == len(plain)
    (file,) = summary["files"]  # type: ignore[misc]
    assert file["encrypted"] == len(plain)
    assert file["decryption_problem"] == ""
    assert run(capsys, plain_log, "--out", tmp_path / "reference")[0] == 0
    reference = tmp_path / "reference" / "meter.records.csv"
    assert (out / "meter.records.csv").read_text() == reference.read_text()
    # The repaired log holds the telegrams decrypted, byte-exact: a plain log of the meter.
    assert (out / "meter.repaired.log").read_bytes() == b"".join(plain)
    validity = rows(out / "meter.validity.csv")
    assert [int(r["offset"]) for r in validity] == [
        len(putty_header(MeterSimulator("nl_dsmr5").now))
        + sum(len(seal(t, 70 + k)) for k, t in enumerate(plain[:n]))
        for n in range(len(plain))
    ]


@needs_cryptography
def test_failed_frames_are_named_in_the_validity_csv_and_the_error_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plain = telegrams(8)
    frames = [seal(t, 70 + n) for n, t in enumerate(plain)]
    frames[2] = flip(frames[2], len(frames[2]) - 1)  # a damaged tag
    frames[4] = frames[3]  # a replay
    frames[6] = seal(plain[6], 76, key=OTHER_KEY)
    log = tmp_path / "meter.log"
    log.write_bytes(b"".join(frames))
    code, summary, err = run(
        capsys, log, "--out", tmp_path, "--key", KEY_HEX, "--auth-key", AUTH_HEX
    )
    assert (code, err) == (0, "")  # the others decrypt: damage, not a problem with the key
    assert (summary["valid"], summary["invalid"]) == (5, 3)
    details = [(r["status"], r["detail"]) for r in rows(tmp_path / "meter.validity.csv")]
    damaged = (
        "invalid",
        "authentication failed: damaged (or altered): the tag does not verify, though the frames"
        " before it did",
    )
    assert details[2] == damaged
    assert details[4] == (
        "invalid",
        "replayed counter: invocation counter 73 is not above the last accepted 73",
    )
    assert details[6] == damaged  # (under another key: as good as forged)
    errors = (tmp_path / "meter.errors.log").read_text()
    offset = sum(map(len, frames[:2]))
    assert f"#3 at byte {offset} (time unknown): invalid - authentication failed: " in errors
    assert "invalid - replayed counter: invocation counter 73" in errors
    assert "rejected for authentication failed: 2" in errors
    assert "rejected for replayed counter: 1" in errors
    # Unverified, the damaged tag is not checked: that telegram's CRC verifies it.
    code, summary, _ = run(capsys, log, "--out", tmp_path, "--key", KEY_HEX)
    assert (summary["valid"], summary["invalid"]) == (6, 2)
    # (A frame under another key, between frames that decrypt, looks like one whose header was
    # damaged.)
    assert (
        "invalid - damaged frame: the frame does not decrypt"
        in (tmp_path / "meter.errors.log").read_text()
    )


@needs_cryptography
def test_an_encrypted_log_without_a_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, log, plain = write_logs(tmp_path)
    code, summary, err = run(capsys, log, "--out", tmp_path / "out")
    assert code == 2
    assert err == (
        f"p1-dsmr: {log}: no key: this meter encrypts its telegrams: a key is needed (--key HEX)\n"
    )
    assert summary["invalid"] == len(plain)
    validity = rows(tmp_path / "out" / "meter.validity.csv")
    assert {r["detail"] for r in validity} == {
        "no key: this meter encrypts its telegrams: a key is needed"
    }


@needs_cryptography
@pytest.mark.parametrize(
    ("keys", "message"),
    [
        (["--key", OTHER_KEY.hex()], "wrong key: the frame does not decrypt to a telegram"),
        (
            ["--key", OTHER_KEY.hex(), "--auth-key", AUTH_HEX],
            "authentication failed: wrong key, or damaged: the tag does not verify",
        ),
        (
            ["--key", KEY_HEX, "--auth-key", OTHER_KEY.hex()],
            "authentication failed: the frame decrypts to a telegram, but its tag does not verify",
        ),
    ],
)
def test_a_wrong_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], keys: list[str], message: str
) -> None:
    _, log, _ = write_logs(tmp_path, 4)
    code, summary, err = run(capsys, log, "--out", tmp_path / "out", *keys)
    assert code == 2
    assert err.startswith(f"p1-dsmr: {log}: {message}")
    assert err.count("\n") == 1  # once
    assert summary["valid"] == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--key", "0011"], "argument --key: the key is 32 hexadecimal digits (16 bytes), not 4"),
        (
            ["--key", KEY_HEX, "--auth-key", "xyz"],
            "argument --auth-key: the authentication key holds characters that are not hexadecimal",
        ),
    ],
)
def test_a_malformed_key_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["convert", "--out", str(tmp_path), *args]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_an_authentication_key_needs_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["convert", "--out", str(tmp_path), "--auth-key", AUTH_HEX]) == 2
    assert capsys.readouterr().err == "p1-dsmr: --auth-key needs --key\n"


def test_the_keys_are_not_in_the_options_repr() -> None:
    options = ConvertOptions(key=KEY, auth_key=AUTH_KEY)
    assert KEY.hex() not in repr(options).lower()
    assert "key=" not in repr(options)


@needs_cryptography
def test_convert_api(tmp_path: Path) -> None:
    _, log, _ = write_logs(tmp_path, 3)
    summary = convert(log, tmp_path / "out", ConvertOptions(key=KEY))
    assert (summary.valid, summary.encrypted, summary.decryption_problem) == (3, 3, "")
    summary = convert(log, tmp_path / "out", ConvertOptions())
    assert summary.decryption_problem.startswith("no key")


# --- the standard library alone -----------------------------------------------------------------

_RUN = """
import importlib.abc, runpy, sys
block = sys.argv.pop(1) == "block"
asked = []
class Watch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "cryptography":
            asked.append(name)
            if block:
                raise ImportError("no module named " + name)
        return None
sys.meta_path.insert(0, Watch())
sys.modules["homeassistant"] = None
script = sys.argv.pop(1)
sys.argv[0] = script
try:
    runpy.run_path(script, run_name="__main__")
finally:
    print("cryptography asked for" if asked else "cryptography never asked for", file=sys.stderr)
"""


def _pythons() -> list[str]:
    """This interpreter and the system's python3 (3.11, the converter's oldest) if it differs."""
    found = [sys.executable]
    other = shutil.which("python3")
    if other is not None and Path(other).resolve() != Path(sys.executable).resolve():
        version = subprocess.run(
            [other, "-c", "import sys; print(sys.version_info >= (3, 11))"],
            capture_output=True,
            text=True,
            check=False,
        )
        if version.stdout.strip() == "True":
            found.append(other)
    return found


def _convert(python: str, block: bool, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            python,
            "-c",
            _RUN,
            "block" if block else "watch",
            str(ROOT / "scripts" / "p1-dsmr"),
            "convert",
            *map(str, args),
        ],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize("python", _pythons())
def test_a_plain_log_needs_no_cryptography(tmp_path: Path, python: str) -> None:
    log = tmp_path / "m.log"
    log.write_bytes(b"".join(telegrams(3)))
    for block in (False, True):
        for key in ([], ["--key", KEY_HEX]):
            done = _convert(python, block, log, "--out", tmp_path, *key)
            assert done.returncode == 0, done.stderr
            assert json.loads(done.stdout)["valid"] == 3
            assert done.stderr == "cryptography never asked for\n"


@pytest.mark.parametrize("python", _pythons())
def test_an_encrypted_log_without_cryptography(tmp_path: Path, python: str) -> None:
    log = tmp_path / "smarty.log"
    rng = random.Random(1)
    log.write_bytes(b"".join(random_frame(rng, 600, counter=n) for n in range(3)))
    done = _convert(python, True, log, "--out", tmp_path, "--key", KEY_HEX)
    assert done.returncode == 2
    assert done.stderr == (
        f"p1-dsmr: {log}: no cryptography: decrypting needs the Python package 'cryptography'"
        " (pip install cryptography)\ncryptography asked for\n"
    )
    assert json.loads(done.stdout)["invalid"] == 3
    # Without a key, the key is what is asked for (cryptography is not needed to know that).
    done = _convert(python, True, log, "--out", tmp_path)
    assert done.returncode == 2
    assert "no key: this meter encrypts its telegrams: a key is needed (--key HEX)" in done.stderr
    assert done.stderr.endswith("cryptography never asked for\n")


@needs_cryptography
def test_keys_from_a_file_or_the_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """F18: a key on the command line is seen in the process list and the shell's history: it can
    come from a file or from the environment instead."""
    _, encrypted_log, plain = write_logs(tmp_path)
    key_file = tmp_path / "meter.key"
    key_file.write_text(f"{KEY_HEX}\n")
    auth_file = tmp_path / "meter.auth"
    auth_file.write_text(AUTH_HEX.lower())
    args = ["--key-file", key_file, "--auth-key-file", auth_file]
    code, summary, err = run(capsys, encrypted_log, "--out", tmp_path / "a", *args)
    assert (code, err, summary["valid"]) == (0, "", len(plain))
    monkeypatch.setenv("P1_DSMR_KEY", KEY_HEX)
    monkeypatch.setenv("P1_DSMR_AUTH_KEY", AUTH_HEX)
    code, summary, err = run(capsys, encrypted_log, "--out", tmp_path / "b")
    assert (code, err, summary["valid"]) == (0, "", len(plain))
    monkeypatch.setenv("P1_DSMR_AUTH_KEY", OTHER_KEY.hex())  # the option comes first
    code, summary, err = run(capsys, encrypted_log, "--out", tmp_path / "c", "--auth-key", AUTH_HEX)
    assert (code, err, summary["valid"]) == (0, "", len(plain))


def test_a_key_file_that_cannot_be_used(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "missing.key"
    assert main(["convert", "--out", str(tmp_path), "--key-file", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err == f"p1-dsmr: cannot read the key file {missing}: No such file or directory\n"
    bad = tmp_path / "bad.key"
    bad.write_text("secret-ish but not hex")
    assert main(["convert", "--out", str(tmp_path), "--key-file", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err == (f"p1-dsmr: the key in {bad} holds characters that are not hexadecimal digits\n")
    assert "secret" not in err
    monkeypatch.setenv("P1_DSMR_KEY", "0011")
    assert main(["convert", "--out", str(tmp_path)]) == 2
    assert "the key in $P1_DSMR_KEY is 32 hexadecimal digits" in capsys.readouterr().err
