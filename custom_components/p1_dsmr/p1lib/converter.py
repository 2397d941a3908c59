"""The log converter: P1 logs in, the original tool's files out.

``p1-dsmr convert LOG... --out DIR [--repaired]`` writes, per input stem S, ``S.records.csv``,
``S.validity.csv``, ``S.errors.log`` and with ``--repaired`` ``S.repaired.log``, and prints a one-line
JSON summary. Files are read in chunks and written as a stream: memory stays constant on any log.
Each output is written under a temporary name and renamed when complete, so a failure (a full disk)
never leaves a partial file under its final name.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Protocol

from .decoder import Decoder, DecodeResult
from .derived import DerivedCalculator, Thresholds
from .export import ErrorLogWriter, RecordsWriter, ValidityWriter
from .repair import RepairEngine

__all__ = [
    "ByteSource",
    "ConvertOptions",
    "ConvertSummary",
    "SAMPLE_LOG",
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
    decoder = Decoder(repair=RepairEngine() if options.repair else None)
    derived = DerivedCalculator(options.thresholds)
    records_writer = RecordsWriter(records, options.delimiter, options.decimal)
    validity_writer = ValidityWriter(validity, options.delimiter)
    errors_writer = ErrorLogWriter(errors, name)

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
        write(decoder.feed(chunk))
    write(decoder.flush())
    records_writer.finish()
    seconds = time.perf_counter() - started
    stats = decoder.stats
    errors_writer.trailer(stats, decoder.framer.noise_bytes, decoder.framer.bytes_in, seconds)
    return ConvertSummary(
        name,
        stats.telegrams,
        stats.valid,
        stats.repaired,
        stats.invalid,
        stats.unverified,
        round(seconds, 3),
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


@contextlib.contextmanager
def atomic_outputs(paths: Sequence[Path]) -> Iterator[list[Path]]:
    """Yield temporary paths; rename them to ``paths`` on success, delete them on failure."""
    temporary = [path.with_name(f".{path.name}.part") for path in paths]
    try:
        yield temporary
    except BaseException:
        for path in temporary:
            with contextlib.suppress(OSError):
                path.unlink()
        raise
    for temp, final in zip(temporary, paths, strict=True):
        os.replace(temp, final)


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


def convert_to_directory(
    source: ByteSource, name: str, out_dir: Path, stem: str, options: ConvertOptions
) -> tuple[ConvertSummary, dict[str, Path]]:
    """Convert a byte stream into ``out_dir``/``stem``.*, each file complete or not at all."""
    paths = output_paths(out_dir, stem, options)
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_outputs(list(paths.values())) as temps, contextlib.ExitStack() as stack:
        records, validity, errors = (
            stack.enter_context(p.open("w", encoding="utf-8", newline="")) for p in temps[:3]
        )
        repaired = stack.enter_context(temps[3].open("wb")) if options.repaired_log else None
        summary = convert_stream(source, name, records, validity, errors, repaired, options)
    return summary, paths


def convert(path: Path, out_dir: Path, options: ConvertOptions) -> ConvertSummary:
    """Convert one log file into ``out_dir``. Raises OSError for unreadable input or failed output."""
    stem = path.name.rsplit(".", 1)[0] if "." in path.name else path.name
    with path.open("rb") as source:
        return convert_to_directory(source, str(path), out_dir, stem, options)[0]


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
    conv.add_argument("logs", nargs="*", type=Path, metavar="LOG", help="log files to convert")
    conv.add_argument("--out", type=Path, default=Path("p1-dsmr-out"), help="output directory")
    conv.add_argument("--repaired", action="store_true", help="also write S.repaired.log")
    conv.add_argument("--no-repair", action="store_true", help="report damaged telegrams only")
    conv.add_argument("--delimiter", default=",", help="CSV delimiter (Hungarian Excel: ';')")
    conv.add_argument("--decimal", default=".", help="decimal mark (Hungarian Excel: ',')")
    defaults = Thresholds()
    conv.add_argument(
        "--voltage-threshold",
        type=float,
        default=defaults.voltage,
        metavar="V",
        help=f"flag phases above this voltage (default {defaults.voltage:g})",
    )
    conv.add_argument(
        "--current-threshold",
        type=float,
        default=defaults.current,
        metavar="A",
        help=f"flag phases above this current (default {defaults.current:g})",
    )
    conv.add_argument(
        "--power-threshold",
        type=float,
        default=defaults.power,
        metavar="KW",
        help=f"flag import or export above this power (default {defaults.power:g})",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit code (2: an input could not be read)."""
    args = _parser().parse_args(argv)
    if len(args.delimiter) != 1 or len(args.decimal) != 1 or args.delimiter == args.decimal:
        print(
            "p1-dsmr: --delimiter and --decimal must be single, different characters",
            file=sys.stderr,
        )
        return 2
    options = ConvertOptions(
        delimiter=args.delimiter,
        decimal=args.decimal,
        repaired_log=args.repaired,
        repair=not args.no_repair,
        thresholds=Thresholds(args.voltage_threshold, args.current_threshold, args.power_threshold),
    )
    logs: list[Path] = args.logs or [SAMPLE_LOG]
    summaries: list[ConvertSummary] = []
    code = 0
    for log in logs:
        try:
            with batch_collection():
                summaries.append(convert(log, args.out, options))
        except IsADirectoryError:
            print(f"p1-dsmr: cannot read {log}: it is a directory", file=sys.stderr)
            code = 2
        except FileNotFoundError as err:
            where = "input" if err.filename == str(log) else "output"
            print(f"p1-dsmr: cannot open {where} {err.filename}: no such file", file=sys.stderr)
            code = 2
        except PermissionError as err:
            print(f"p1-dsmr: permission denied: {err.filename}", file=sys.stderr)
            code = 2
        except OSError as err:
            print(f"p1-dsmr: {log}: {err.strerror or err}", file=sys.stderr)
            code = 2
    totals = {
        key: sum(getattr(s, key) for s in summaries)
        for key in ("telegrams", "valid", "repaired", "invalid", "unverified")
    }
    summary = {
        **totals,
        "seconds": round(sum(s.seconds for s in summaries), 3),
        "files": [asdict(s) for s in summaries],
        "out": str(args.out),
    }
    print(json.dumps(summary))
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
