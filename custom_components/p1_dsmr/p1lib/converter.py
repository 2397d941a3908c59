"""The log converter: P1 logs in, the original tool's files out.

``p1-dsmr convert LOG... --out DIR [--repaired]`` writes, per input stem S, ``S.records.csv``,
``S.validity.csv``, ``S.errors.log`` and with ``--repaired`` ``S.repaired.log``, and prints a one-line
JSON summary. Files are read in chunks and written as a stream: memory stays constant on any log.
Each output is written under a temporary name and renamed when complete, so a failure (a full disk)
or an interruption (Ctrl-C, SIGTERM) never leaves a partial file behind; inputs are regular files,
plain or compressed (see :mod:`.files`). Bad options are refused with a message (exit code 2).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import json
import math
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Protocol

from . import report
from .cipher import parse_key
from .clock import zone
from .decoder import DecodeResult
from .derived import DerivedCalculator, Thresholds
from .encrypted import EncryptedDecoder
from .export import RecordsWriter, check_delimiter
from .files import InputError, atomic_outputs, display_name, open_log, output_stems
from .parsing import Parser
from .repair import RepairEngine
from .validity import ErrorLogWriter, ValidityWriter

__all__ = [
    "ByteSource",
    "ConvertOptions",
    "ConvertSummary",
    "SAMPLE_LOG",
    "Terminated",
    "atomic_outputs",
    "batch_collection",
    "convert",
    "convert_to_directory",
    "output_paths",
    "convert_stream",
    "main",
]

SAMPLE_LOG = Path(__file__).parent / "samples" / "hu_sanxing_demo.log"
"""The bundled sample log (generated, Hungarian Sanxing style, with noise): the default input."""

CHUNK = 1 << 20
"""Bytes read from an input at a time."""
FEED = 1 << 16
"""Bytes given to the decoder at a time (the framing does not depend on it)."""
_SUFFIXES = (".records.csv", ".validity.csv", ".errors.log", ".repaired.log")


class ByteSource(Protocol):
    """Anything with a binary ``read`` (a file, a socket's reader, a sequence of chunks)."""

    def read(self, size: int = -1, /) -> bytes:
        """Up to ``size`` bytes; b"" at the end."""
        ...


@dataclass(frozen=True, slots=True)
class ConvertOptions:
    """How to convert."""

    delimiter: str = ","
    decimal: str = "."
    repaired_log: bool = False
    repair: bool = True
    thresholds: Thresholds = field(default_factory=Thresholds)
    zone: str | None = None
    """The meter's time zone (IANA name) for every telegram, whatever its dialect."""
    default_zone: str | None = None
    """The zone for dialects that imply none (Home Assistant's configured zone); see
    :class:`~.parsing.Parser`."""
    key: bytes | None = field(default=None, repr=False)
    """Decrypts encrypted telegrams (Luxembourg Smarty and other DLMS meters; see
    :mod:`.encrypted`); without it they are reported as needing a key."""
    auth_key: bytes | None = field(default=None, repr=False)
    """Verifies each encrypted frame's GCM tag (authenticated mode); without it the telegrams' CRC
    carries integrity (unverified mode)."""


@dataclass(slots=True)
class ConvertSummary:
    """Counts for one converted input."""

    file: str
    telegrams: int = 0
    valid: int = 0
    repaired: int = 0
    invalid: int = 0
    unverified: int = 0
    seconds: float = 0.0
    problem: str = ""
    """Why the input could not be read to its end ("" when it was): what came before it was
    converted."""
    encrypted: int = 0
    """Encrypted frames found."""
    decryption_problem: str = ""
    """What kept them from being read (no key, wrong key...), if anything."""


def convert_stream(
    source: ByteSource,
    name: str,
    records: IO[str],
    validity: IO[str],
    errors: IO[str],
    repaired: IO[bytes] | None,
    options: ConvertOptions,
) -> ConvertSummary:
    """Convert one byte stream into the output streams."""
    started = time.perf_counter()
    decoder = EncryptedDecoder(
        RepairEngine() if options.repair else None,
        Parser(zone=options.zone, default_zone=options.default_zone),
        key=options.key,
        auth_key=options.auth_key,
    )
    derived = DerivedCalculator(options.thresholds)
    records_writer = RecordsWriter(records, options.delimiter, options.decimal)
    validity_writer = ValidityWriter(validity, options.delimiter, decoder.parser)
    errors_writer = ErrorLogWriter(errors, name, decoder.parser)

    write_validity, write_errors = validity_writer.write, errors_writer.write
    write_record, derive = records_writer.write, derived.update

    def write(results: list[DecodeResult]) -> None:
        for result in results:
            write_validity(result)
            write_errors(result)
            telegram = result.telegram
            if telegram is not None and result.accepted:
                write_record(result, derive(telegram))
                if repaired is not None:
                    repaired.write(result.data)

    while chunk := source.read(CHUNK):
        # Fed a slice at a time: a slice of noise cut into tiny frames (``/`` and a line end,
        # over and over) gives a result per frame, and their list must stay small.
        for start in range(0, len(chunk), FEED):
            write(decoder.feed(chunk[start : start + FEED]))
    write(decoder.flush())
    records_writer.finish()
    validity_writer.finish()
    seconds = time.perf_counter() - started
    stats = decoder.stats
    problem = getattr(source, "problem", "")
    notes = [*records_writer.notes, *([f"input: {problem}"] if problem else [])]
    errors_writer.trailer(stats, decoder.noise_bytes, decoder.bytes_in, seconds, notes)
    return ConvertSummary(
        name,
        stats.telegrams,
        stats.valid,
        stats.repaired,
        stats.invalid,
        stats.unverified,
        round(seconds, 3),
        problem,
        decoder.cipher.frames,
        decoder.problem,
    )


@contextlib.contextmanager
def batch_collection(threshold: int = 100_000) -> Iterator[None]:
    """Run the cyclic garbage collector less often while a batch conversion runs, then restore it.

    A conversion allocates many short-lived tuples and no reference cycles, so the collector's
    frequent young-generation passes only cost time (about a tenth of it); memory stays constant.
    For the command line and benchmarks: a host process (Home Assistant) keeps its own settings.
    """
    previous = gc.get_threshold()
    gc.set_threshold(max(threshold, previous[0]), *previous[1:])
    try:
        yield
    finally:
        gc.set_threshold(*previous)


def output_paths(out_dir: Path, stem: str, options: ConvertOptions) -> dict[str, Path]:
    """The files a conversion writes, by kind."""
    paths = {
        "records": out_dir / f"{stem}.records.csv",
        "validity": out_dir / f"{stem}.validity.csv",
        "errors": out_dir / f"{stem}.errors.log",
    }
    if options.repaired_log:
        paths["repaired"] = out_dir / f"{stem}.repaired.log"
    return paths


def _not_a_directory(path: Path) -> Path:
    """The part of ``path`` that exists and is not a directory (``afile`` of ``afile/sub``)."""
    for part in (path, *path.parents):
        if os.path.lexists(part):
            return path if part.is_dir() else part
    return path


def convert_to_directory(
    source: ByteSource,
    name: str,
    out_dir: Path,
    stem: str,
    options: ConvertOptions,
    mode: int = 0o666,
) -> tuple[ConvertSummary, dict[str, Path]]:
    """Convert a byte stream into ``out_dir``/``stem``.*, each file complete or not at all, with
    permissions ``mode`` less the umask.

    Raises OSError (its ``filename`` the output's path) when an output cannot be written; an
    ``out_dir`` that is a file is :class:`NotADirectoryError`.
    """
    paths = output_paths(out_dir, stem, options)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as err:
        raise NotADirectoryError(
            err.errno, "not a directory (a file has that name)", str(_not_a_directory(out_dir))
        ) from err
    with atomic_outputs(list(paths.values()), mode) as files, contextlib.ExitStack() as stack:
        records, validity, errors = (
            stack.enter_context(
                io.TextIOWrapper(io.BufferedWriter(file), encoding="utf-8", newline="")
            )
            for file in files[:3]
        )
        repaired = (
            stack.enter_context(io.BufferedWriter(files[3])) if options.repaired_log else None
        )
        summary = convert_stream(source, name, records, validity, errors, repaired, options)
    return summary, paths


def convert(
    path: Path, out_dir: Path, options: ConvertOptions, stem: str | None = None
) -> ConvertSummary:
    """Convert one log file into ``out_dir`` (as ``stem``.*, by default its name without the
    extension). Raises :class:`~.files.InputError` for an input that cannot be read, OSError for an
    output that cannot be written."""
    if stem is None:
        (stem,) = output_stems([path], out_dir, ())
    with open_log(path) as source:
        return convert_to_directory(source, display_name(path), out_dir, stem, options)[0]


# --- the command line ------------------------------------------------------------------------


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived (raised like KeyboardInterrupt for SIGINT, so outputs are cleaned
    up); ``args[0]`` is the signal's number."""


_TERMINATING = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)
)
"""Signals that end a conversion cleanly: SIGTERM (kill, a service stopping), SIGHUP (the
terminal closed, an SSH session dropped)."""


@contextlib.contextmanager
def _terminable() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into :class:`Terminated` while the block runs (in the main
    thread)."""

    def terminate(signum: int, frame: FrameType | None) -> None:
        raise Terminated(signum)

    previous: dict[int, object] = {}
    try:
        for signum in _TERMINATING:
            previous[signum] = signal.signal(signum, terminate)
    except (ValueError, OSError):  # not the main thread
        pass
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]


def _delimiter(text: str) -> str:
    check_delimiter(text)
    return text


def _zone(text: str) -> str:
    zone(text)  # raises ValueError with the reason
    return text


def _threshold(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number, not negative: {text!r}")
    return value


def _type(convert: Callable[[str], object], what: str) -> Callable[[str], object]:
    """An argparse type whose ValueError message is shown as it is."""

    def check(text: str) -> object:
        try:
            return convert(text)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    check.__name__ = what
    return check


def _add_convert_arguments(conv: argparse.ArgumentParser) -> None:
    """The ``convert`` command's arguments."""
    conv.add_argument("logs", nargs="*", type=Path, metavar="LOG", help="log files to convert")
    conv.add_argument("--out", type=Path, default=Path("p1-dsmr-out"), help="output directory")
    conv.add_argument("--repaired", action="store_true", help="also write S.repaired.log")
    conv.add_argument("--no-repair", action="store_true", help="report damaged telegrams only")
    conv.add_argument(
        "--delimiter",
        default=",",
        type=_type(_delimiter, "delimiter"),
        metavar="C",
        help="CSV delimiter, one character (Hungarian Excel: ';')",
    )
    conv.add_argument(
        "--decimal",
        default=".",
        choices=(".", ","),
        metavar="C",
        help="decimal mark, '.' or ',' (Hungarian Excel: ',')",
    )
    conv.add_argument(
        "--timezone",
        type=_type(_zone, "time zone"),
        metavar="ZONE",
        help="the meter's time zone, e.g. Europe/Dublin (default: its country's, from the "
        "telegram; Central European time when it cannot tell)",
    )
    defaults = Thresholds()
    for name, default, metavar, what in (
        ("voltage", defaults.voltage, "V", "flag phases above this voltage"),
        ("current", defaults.current, "A", "flag phases above this current"),
        ("power", defaults.power, "KW", "flag import or export above this power"),
    ):
        conv.add_argument(
            f"--{name}-threshold",
            type=_threshold,
            default=default,
            metavar=metavar,
            help=f"{what} (default {default:g})",
        )
    conv.add_argument(
        "--key",
        type=_type(lambda text: parse_key(text, "key"), "key"),
        metavar="HEX",
        help="decrypt encrypted telegrams (Luxembourg Smarty...) with this key: the 32 hexadecimal"
        " digits the grid operator gives",
    )
    conv.add_argument(
        "--auth-key",
        type=_type(lambda text: parse_key(text, "authentication key"), "authentication key"),
        metavar="HEX",
        help="verify each encrypted frame with this authentication key (without it, the"
        " telegrams' CRC carries integrity)",
    )
    for kind, what in (("key", "the key"), ("auth-key", "the authentication key")):
        variable = _KEY_VARIABLES[kind]
        conv.add_argument(
            f"--{kind}-file",
            type=Path,
            metavar="FILE",
            help=f"read {what} from FILE (its hexadecimal digits), so that it is not seen in the"
            f" process list or the shell's history; or set ${variable}",
        )


_KEY_VARIABLES = {"key": "P1_DSMR_KEY", "auth-key": "P1_DSMR_AUTH_KEY"}
"""Environment variables that may hold the keys (when neither option nor file gives them)."""


def _secret(args: argparse.Namespace, kind: str) -> bytes | None:
    """The key (``kind`` ``key``) or authentication key (``auth-key``): from its option, its
    file, or its environment variable, in that order. Raises ValueError with a message that never
    repeats the key."""
    attribute = kind.replace("-", "_")
    given: bytes | None = getattr(args, attribute)
    if given is not None:
        return given
    what = "key" if kind == "key" else "authentication key"
    path: Path | None = getattr(args, f"{attribute}_file")
    if path is not None:
        try:
            with path.open(encoding="utf-8", errors="replace") as handle:
                text = handle.read(4096)
        except OSError as err:
            raise ValueError(
                f"cannot read the {what} file {display_name(path)}: {err.strerror or err}"
            ) from None
        try:
            return parse_key(text, f"{what} in {display_name(path)}")
        except ValueError as err:
            raise ValueError(str(err)) from None
    variable = _KEY_VARIABLES[kind]
    text = os.environ.get(variable, "")
    return parse_key(text, f"{what} in ${variable}") if text.strip() else None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="p1-dsmr", description="Convert P1 (DSMR) logs into CSV, validity and error files."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    conv = commands.add_parser(
        "convert",
        help="convert PuTTY or raw P1 logs",
        description="Per input stem S write S.records.csv, S.validity.csv, S.errors.log "
        "(and S.repaired.log with --repaired). Without LOG, converts the bundled sample log.",
    )
    _add_convert_arguments(conv)
    report.add_parser(commands)
    return parser


def _error(message: str) -> None:
    """Say ``message`` on standard error (when it can be written: nothing else can be done)."""
    with contextlib.suppress(OSError, ValueError):
        print(f"p1-dsmr: {message}", file=sys.stderr, flush=True)


def _print_summary(text: str) -> bool:
    """Print ``text`` on standard output; False when it could not be written (a full device), said
    on standard error. A closed pipe (``| head``) is no failure: the reader wanted no more."""
    try:
        print(text, flush=True)
    except OSError as err:
        _discard_stdout()
        if isinstance(err, BrokenPipeError):
            return True
        _error(f"cannot write the summary to standard output: {err.strerror or err}")
        return False
    return True


def _discard_stdout() -> None:
    """Point standard output at the null device, so the interpreter's last flush of what could not
    be written fails no more (it would print a traceback of its own)."""
    with contextlib.suppress(OSError, ValueError, AttributeError, io.UnsupportedOperation):
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, sys.stdout.fileno())
        finally:
            os.close(null)


def _bug(err: Exception) -> str:
    """An unexpected error, in a line: what and where (to report it)."""
    frames = traceback.extract_tb(err.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return (
        f"unexpected {type(err).__name__}{where}: {err} (a bug: please report it with this log);"
        " the other inputs are converted"
    )


def _run_convert(args: argparse.Namespace) -> int:
    """The ``convert`` command: exit code 0; 2 when an input or an output failed; 130 or 143
    when interrupted (SIGINT, SIGTERM)."""
    if args.delimiter == args.decimal:
        _error("--delimiter and --decimal must differ")
        return 2
    try:
        args.key, args.auth_key = _secret(args, "key"), _secret(args, "auth-key")
    except ValueError as err:
        _error(str(err))
        return 2
    if args.auth_key is not None and args.key is None:
        _error("--auth-key needs --key")
        return 2
    options = ConvertOptions(
        delimiter=args.delimiter,
        decimal=args.decimal,
        repaired_log=args.repaired,
        repair=not args.no_repair,
        thresholds=Thresholds(args.voltage_threshold, args.current_threshold, args.power_threshold),
        zone=args.timezone,
        key=args.key,
        auth_key=args.auth_key,
    )
    logs: list[Path] = args.logs or [SAMPLE_LOG]
    out: Path = args.out
    summaries: list[ConvertSummary] = []
    code = 0
    try:
        with _terminable():
            stems = output_stems(logs, out, _SUFFIXES)
            for log, stem in zip(logs, stems, strict=True):
                try:
                    with batch_collection():
                        summary = convert(log, out, options, stem)
                except InputError as err:
                    _error(f"cannot read {display_name(log)}: {err.strerror or err}")
                    code = 2
                    continue
                except OSError as err:
                    where = display_name(err.filename) if err.filename else display_name(out)
                    _error(f"cannot write {where}: {err.strerror or err}")
                    code = 2
                    continue
                except Exception as err:  # a bug: this input is lost, not the others
                    _error(f"cannot convert {display_name(log)}: {_bug(err)}")
                    code = 2
                    continue
                summaries.append(summary)
                if stem != output_stems([log], out, ())[0]:
                    _error(f"{display_name(log)}: written as {display_name(out / stem)}.*")
                if summary.problem:
                    _error(
                        f"{display_name(log)}: {summary.problem}; what came before was converted"
                    )
                    code = 2
                if summary.decryption_problem:
                    hint = " (--key HEX)" if args.key is None else ""
                    _error(f"{display_name(log)}: {summary.decryption_problem}{hint}")
                    code = 2
    except (KeyboardInterrupt, Terminated) as err:
        signum = err.args[0] if isinstance(err, Terminated) else signal.SIGINT
        _error(
            f"interrupted ({signal.Signals(signum).name}): the input being converted left no output"
        )
        code = 128 + signum
    totals = {
        key: sum(getattr(s, key) for s in summaries)
        for key in ("telegrams", "valid", "repaired", "invalid", "unverified")
    }
    figures = {
        **totals,
        "seconds": round(sum(s.seconds for s in summaries), 3),
        "files": [asdict(s) for s in summaries],
        "out": display_name(out),
    }
    if not _print_summary(json.dumps(figures)):
        code = code or 2
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit code (2: bad options, or an input or output
    failed)."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as done:  # --help, or bad options (argparse printed why)
        return done.code if isinstance(done.code, int) else 2
    if args.command == "convert":
        return _run_convert(args)
    if args.command == "report":
        return report.run(args, SAMPLE_LOG)
    raise AssertionError(args.command)  # pragma: no cover  (argparse allows no other)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
