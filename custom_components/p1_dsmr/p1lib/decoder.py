"""The decoding pipeline: framing, CRC verification, (repair), parsing, one result per telegram.

:class:`Decoder` is what the converter and the Home Assistant integration use. Feed it bytes in any
chunks; it returns a :class:`DecodeResult` for every telegram found, accepted or not, so nothing the
meter sent goes unreported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

from .crc import crc16, crc16_number, parse_crc_field, telegram_number
from .framing import Frame, Framer, normalize_line_ends
from .parsing import Dialect, Parser, Telegram
from .repair import Change, Repair, RepairEngine

__all__ = [
    "Change",
    "DecodeResult",
    "Decoder",
    "DecoderStats",
    "Repair",
    "RepairEngine",
    "Status",
    "sends_crc",
    "suspicious_bytes",
]


class Status(StrEnum):
    """What became of a telegram."""

    VALID = "valid"
    """The CRC the meter sent matches."""
    REPAIRED = "repaired"
    """The CRC failed; a verified repair restored the telegram."""
    INVALID = "invalid"
    """Rejected: CRC mismatch that could not be repaired, truncated, no header, unparseable."""
    UNVERIFIED = "unverified"
    """The meter sends no CRC (DSMR 2.2/3.0, Q3D) and every line parses."""


class DecodeResult(NamedTuple):
    """The outcome for one telegram."""

    status: Status
    frame: Frame
    telegram: Telegram | None
    data: bytes
    """The accepted telegram, byte-exact as the meter sent it (CRLF restored; repaired if repaired),
    from ``/`` through the CRC and its CRLF; for a rejected one, the received bytes."""
    crc_sent: int | None
    crc_computed: int | None
    reason: str = ""
    """Why it was rejected, or what was done."""
    suspicious: tuple[tuple[int, int], ...] = ()
    """(position, byte) of bytes that do not belong where they are, for rejected telegrams."""
    repair: Repair | None = None
    attempts: tuple[str, ...] = ()
    """Repair methods tried on a rejected telegram and why each failed."""

    @property
    def accepted(self) -> bool:
        """Valid, repaired or unverified."""
        return self.status is not Status.INVALID


@dataclass(slots=True)
class DecoderStats:
    """Counters over the life of a decoder."""

    telegrams: int = 0
    valid: int = 0
    repaired: int = 0
    invalid: int = 0
    unverified: int = 0
    candidates: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)

    def count(self, result: DecodeResult) -> None:
        """Add one result."""
        self.telegrams += 1
        if result.status is Status.VALID:
            self.valid += 1
        elif result.status is Status.REPAIRED:
            self.repaired += 1
        elif result.status is Status.UNVERIFIED:
            self.unverified += 1
        else:
            self.invalid += 1
            key = result.reason.split(":", 1)[0]
            self.by_reason[key] = self.by_reason.get(key, 0) + 1
        if result.repair is not None:
            self.candidates += result.repair.candidates


_PRINTABLE = frozenset(range(0x20, 0x7F))
_new = tuple.__new__  # builds a NamedTuple without its Python-level __new__ (hot path)


def suspicious_bytes(data: bytes, limit: int = 32) -> tuple[tuple[int, int], ...]:
    """Bytes that do not belong in a telegram where they stand.

    Outside printable ASCII, except CR LF pairs and the 0xFF fill of a provider message
    (``96.13.0``); also a CR without LF or an LF without CR.
    """
    found: list[tuple[int, int]] = []
    message = data.find(b"96.13.0(")
    message_end = data.find(b")", message) if message >= 0 else -1
    for position, byte in enumerate(data):
        if byte in _PRINTABLE:
            continue
        if byte == 0x0D and data[position + 1 : position + 2] == b"\n":
            continue
        if byte == 0x0A and position > 0 and data[position - 1] == 0x0D:
            continue
        if byte == 0xFF and message < position < message_end:
            continue
        found.append((position, byte))
        if len(found) >= limit:
            break
    return tuple(found)


_CRC_DIALECTS = frozenset((Dialect.HU, Dialect.BE, Dialect.LU, Dialect.SE, Dialect.IE))


def sends_crc(telegram: Telegram) -> bool:
    """Whether this kind of meter always sends a CRC (DSMR 4+, every non-Dutch P1 dialect but Q3D).

    Only DSMR 2.2/3.0 and Q3D meters send none; a telegram of any other kind without a CRC is damaged.
    """
    if telegram.dialect in _CRC_DIALECTS:
        return True
    version = telegram.get("1-3:0.2.8")
    return version is not None and version.number is not None and version.number >= 40


class Decoder:
    """Bytes in, one :class:`DecodeResult` per telegram out.

    With a :class:`~.repair.RepairEngine`, telegrams that fail their CRC are repaired when the engine
    can prove the repair; every accepted telegram teaches the engine the meter's structure.
    """

    def __init__(self, repair: RepairEngine | None = None, parser: Parser | None = None) -> None:
        self.framer = Framer()
        self.parser = parser or Parser()
        self.stats = DecoderStats()
        self.repair = repair
        self._crc_seen = False  # this meter sends CRCs: a telegram without one is damaged
        self._clean = False  # the last accepted telegram parsed line for line

    def feed(self, chunk: bytes | bytearray | memoryview) -> list[DecodeResult]:
        """Decode the telegrams that ``chunk`` completes."""
        return list(map(self.decode_frame, self.framer.feed(chunk)))

    def flush(self) -> list[DecodeResult]:
        """End of stream: report a trailing truncated telegram."""
        return list(map(self.decode_frame, self.framer.flush()))

    def decode_frame(self, frame: Frame) -> DecodeResult:
        """Verify, repair if needed and allowed, and parse one frame; count it."""
        crc_text = frame.crc_text
        if crc_text and frame.complete and frame.has_header:
            # The common case first: the CRC matches and the telegram parses.
            data = normalize_line_ends(frame.data)
            crc_sent = parse_crc_field(crc_text)
            number = telegram_number(data)  # read once, by the CRC and by the layout match
            if crc_sent is not None and crc16_number(number, len(data)) == crc_sent:
                telegram = self.parser.parse(data, number)
                if telegram is not None and not telegram.unparsed:
                    self._crc_seen = self._clean = True
                    stats = self.stats
                    stats.telegrams += 1
                    stats.valid += 1
                    if self.repair is not None:
                        self.repair.learn(data, telegram, crc_text)
                    result: DecodeResult = _new(
                        DecodeResult,
                        (
                            Status.VALID,
                            frame,
                            telegram,
                            data + crc_text + b"\r\n",
                            crc_sent,
                            crc_sent,
                            "",
                            (),
                            None,
                            (),
                        ),
                    )
                    return result
                return self._verified(frame, data, crc_sent, telegram)
        return self._finish(self._decode(frame))

    def _verified(
        self, frame: Frame, data: bytes, crc_sent: int, telegram: Telegram | None
    ) -> DecodeResult:
        """A frame whose CRC matches but that has no header or lines that do not parse: invalid,
        repaired (a CRC collision), or valid with those lines kept as unparsed."""
        if telegram is None:
            reason = "unparseable: header"
            return self._finish(self._invalid(frame, data, crc_sent, crc_sent, reason))
        collision = self._collision(frame, data, crc_sent, telegram)
        if collision is not None:
            return self._finish(collision)
        self._crc_seen = True
        return self._finish(
            DecodeResult(
                Status.VALID,
                frame,
                telegram,
                data + frame.crc_text + b"\r\n",
                crc_sent,
                crc_sent,
            )
        )

    def _finish(self, result: DecodeResult) -> DecodeResult:
        """Count a result; an accepted one teaches the repair engine."""
        self.stats.count(result)
        if result.telegram is not None and result.status is not Status.INVALID:
            self._clean = not result.telegram.unparsed
        if result.telegram is not None and self.repair is not None:
            bang = result.data.rindex(b"!")
            self.repair.learn(
                result.data[: bang + 1], result.telegram, result.data[bang + 1 :].rstrip(b"\r\n")
            )
        return result

    def _decode(self, frame: Frame) -> DecodeResult:
        data = normalize_line_ends(frame.data)
        crc_sent = parse_crc_field(frame.crc_text)
        computed: int | None = None
        if frame.complete and frame.has_header:
            if crc_sent is not None:
                computed = crc16(data)  # a mismatch: a match is handled by decode_frame
            elif not frame.crc_text and not self._crc_seen:
                result = self._without_crc(frame, data)
                if result is not None:
                    return result
        elif frame.complete:
            computed = crc16(data)
        if not frame.complete:
            reason = "truncated: no '!' before the next header or the end of the stream"
        elif not frame.has_header:
            reason = "no header: '/' lost, or the stream began inside this telegram"
        elif crc_sent is None and frame.crc_text:
            reason = f"crc field damaged: {frame.crc_text!r}"
        elif crc_sent is None:
            reason = "crc missing: this meter sends a CRC but this telegram has none"
        else:
            reason = f"crc mismatch: sent {crc_sent:04X}, computed {computed or 0:04X}"
        attempts: tuple[str, ...] = ()
        if self.repair is not None and frame.complete and (crc_sent is not None or frame.crc_text):
            outcome = self.repair.repair(frame, data, crc_sent)
            if outcome.data is not None and outcome.telegram is not None:
                self._crc_seen = True
                return DecodeResult(
                    Status.REPAIRED,
                    frame,
                    outcome.telegram,
                    outcome.data + outcome.crc_text + b"\r\n",
                    parse_crc_field(outcome.crc_text),
                    computed,
                    reason,
                    (),
                    outcome.repair,
                )
            attempts = tuple(outcome.attempts)
        return self._invalid(frame, data, crc_sent, computed, reason, attempts)

    def _collision(
        self, frame: Frame, data: bytes, crc_sent: int, telegram: Telegram
    ) -> DecodeResult | None:
        """A repaired result when a CRC match is a collision the meter's structure gives away.

        One damaged telegram in 65,536 still matches its CRC. When the meter's telegrams parsed
        line for line until now and this one has lines that do not, and the repair engine finds
        the one structurally consistent telegram that reproduces the same CRC, that one is what the
        meter sent. Without such a repair the telegram is accepted as received (a meter may start
        sending a line this parser does not know).
        """
        if not telegram.unparsed or not self._clean or self.repair is None:
            return None
        outcome = self.repair.repair(frame, data, crc_sent)
        if outcome.data is None or outcome.telegram is None or outcome.telegram.unparsed:
            return None
        self._crc_seen = True
        lines = ", ".join(str(number + 1) for number, _ in telegram.unparsed)
        return DecodeResult(
            Status.REPAIRED,
            frame,
            outcome.telegram,
            outcome.data + outcome.crc_text + b"\r\n",
            crc_sent,
            crc_sent,
            f"crc collision: the CRC matches but line(s) {lines} no longer parse",
            (),
            outcome.repair,
        )

    def _without_crc(self, frame: Frame, data: bytes) -> DecodeResult | None:
        """A telegram with no CRC: unverified if the meter sends none and every line parses."""
        telegram = self.parser.parse(data)
        if telegram is not None and sends_crc(telegram):
            return None  # damaged: reported (and repaired, if it can be) like any other
        if telegram is not None and telegram.objects and not telegram.unparsed:
            return DecodeResult(
                Status.UNVERIFIED, frame, telegram, data + frame.crc_text + b"\r\n", None, None
            )
        reason = "unparseable: no CRC and " + (
            f"{len(telegram.unparsed)} line(s) do not parse" if telegram else "no header"
        )
        return self._invalid(frame, data, None, None, reason)

    @staticmethod
    def _invalid(
        frame: Frame,
        data: bytes,
        sent: int | None,
        computed: int | None,
        reason: str,
        attempts: tuple[str, ...] = (),
    ) -> DecodeResult:
        return DecodeResult(
            Status.INVALID,
            frame,
            None,
            frame.data + frame.crc_text,
            sent,
            computed,
            reason,
            suspicious_bytes(data),
            None,
            attempts,
        )
