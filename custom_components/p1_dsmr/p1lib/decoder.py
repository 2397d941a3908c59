"""The decoding pipeline: framing, CRC verification, (repair), parsing, one result per telegram.

:class:`Decoder` is what the converter and the Home Assistant integration use. Feed it bytes in any
chunks; it returns a :class:`DecodeResult` for every telegram found, accepted or not, so nothing the
meter sent goes unreported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

from .continuity import Continuity
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


_CRC_DIALECTS = frozenset(
    (Dialect.HU, Dialect.BE, Dialect.LU, Dialect.SE, Dialect.LT, Dialect.AT, Dialect.IE)
)
"""Every dialect whose meters all send a CRC: each one but the Dutch (DSMR 2.2/3.0 send none), Q3D
(sends none) and the generic one (a meter this library cannot place: its own first telegrams say)."""


def sends_crc(telegram: Telegram) -> bool:
    """Whether this kind of meter always sends a CRC (DSMR 4+, every non-Dutch P1 dialect but Q3D).

    Only DSMR 2.2/3.0 and Q3D meters send none; a telegram of any other kind without a CRC is damaged.
    A version line ``1-3:0.2.8`` came with DSMR 4.0 and its CRC: with one, whatever its digits
    say (they may be damaged too), the meter sends a CRC.
    """
    return telegram.dialect in _CRC_DIALECTS or telegram.get("1-3:0.2.8") is not None


MAX_PENDING = 16
"""Damaged telegrams held, at most, while the decoder waits for the next good one."""


class Decoder:
    """Bytes in, one :class:`DecodeResult` per telegram out, in stream order.

    With a :class:`~.repair.RepairEngine`, telegrams that fail their CRC are repaired when the engine
    can prove the repair; every good telegram teaches the engine the meter's structure. A damaged
    telegram is decided when the next good telegram arrives (it bounds counters and the clock from
    above and is a template when there was none before), so its result comes just before that
    telegram's; a run of damaged telegrams waits likewise (at most :data:`MAX_PENDING`).
    :meth:`decide_pending` decides what waits with what is known (for a caller whose meter fell
    silent); :meth:`flush` does at the end of a stream.

    With a repair engine, a telegram whose CRC matches is also checked against the last accepted
    one (:mod:`.continuity`: counters that run backwards or faster than the meter's maximum power,
    setup values that change): one that fails waits for the next good telegram like a damaged one,
    and is accepted when that one continues from it (a counter reset, a new meter) or rejected when
    it continues from the telegram before (damage the CRC cannot see).
    """

    def __init__(self, repair: RepairEngine | None = None, parser: Parser | None = None) -> None:
        self.framer = Framer()
        self.parser = parser or Parser()
        self.stats = DecoderStats()
        self.repair = repair
        self._crc_seen = False  # this meter sends CRCs: a telegram without one is damaged
        self._clean = False  # the last accepted telegram parsed line for line
        self._pending: list[Frame] = []
        self._continuity = Continuity()  # used with a repair engine: held telegrams wait
        self._held: dict[int, tuple[DecodeResult, str]] = {}
        """Pending frames whose CRC matched but which do not continue from the last accepted
        telegram (by ``id``), with why."""

    @property
    def pending(self) -> int:
        """Damaged telegrams waiting for the next good one."""
        return len(self._pending)

    def feed(self, chunk: bytes | bytearray | memoryview) -> list[DecodeResult]:
        """Decode the telegrams that ``chunk`` completes."""
        return self.decode_frames(self.framer.feed(chunk))

    def decode_frames(self, frames: list[Frame]) -> list[DecodeResult]:
        """Decode frames found by a framer (this decoder's, or a host's, such as the plaintext of
        encrypted frames): the results they complete, in stream order (a damaged telegram's comes
        when the next good one arrives, or from :meth:`decide_pending`)."""
        out: list[DecodeResult] = []
        for frame in frames:
            result = self._valid(frame)
            if result is None or self._pending:
                self._other(frame, result, out)
            else:
                out.append(result)
        return out

    def flush(self) -> list[DecodeResult]:
        """End of stream: decide what waits, report a trailing truncated telegram."""
        out = self.decode_frames(self.framer.flush())
        out += self.decide_pending()
        return out

    def decide_pending(self) -> list[DecodeResult]:
        """Decide the damaged telegrams that wait for a next good one, without it."""
        return self._decide(None)

    def _valid(self, frame: Frame) -> DecodeResult | None:
        """The common case: the CRC matches and every line parses (None for anything else).

        With no damaged telegram waiting, the telegram is counted and teaches the repair engine.
        """
        crc_text = frame.crc_text
        if not (crc_text and frame.complete and frame.has_header):
            return None
        data = normalize_line_ends(frame.data)
        crc_sent = parse_crc_field(crc_text)
        number = telegram_number(data)  # read once, by the CRC and by the layout match
        if crc_sent is None or crc16_number(number, len(data)) != crc_sent:
            return None
        telegram = self.parser.parse(data, number)
        if telegram is None or telegram.unparsed:
            return None
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
        if not self._pending:
            repair = self.repair
            if repair is not None:
                problem = self._continuity.check(telegram, data, number)
                if problem is not None:
                    self._hold(frame, result, problem)
                    return None
                repair.learn(data, telegram, crc_text)
            self._crc_seen = self._clean = True
            stats = self.stats
            stats.telegrams += 1
            stats.valid += 1
        return result

    def _hold(self, frame: Frame, result: DecodeResult, problem: str) -> None:
        """Keep a telegram whose CRC matches but which does not continue from the last accepted
        one until the next good telegram tells a real jump from damage."""
        self._held[id(frame)] = (result, problem)
        self._pending.append(frame)

    def _other(self, frame: Frame, valid: DecodeResult | None, out: list[DecodeResult]) -> None:
        """A frame off the common path: a good telegram after damaged ones, or anything else."""
        if self._held and self._pending and self._pending[-1] is frame:
            return  # held by the common path: it waits
        if valid is not None:
            out += self._decide(valid)
            if self._continues(frame, valid):
                self._crc_seen = self._clean = True
                self._finish(valid)
                out.append(valid)
            return
        if self.repair is None:
            out.append(self._finish(self._decode(frame, None, 1, 1)))
            return
        immediate = self._immediate(frame)
        if immediate is not None and (immediate.status is not Status.INVALID or not self._pending):
            out += self._decide(immediate if immediate.status is Status.VALID else None)
            if immediate.status is not Status.VALID or self._continues(frame, immediate):
                out.append(self._finish(immediate))
            return
        # Damaged (or rejected while damaged telegrams wait for a next good one: in order).
        self._pending.append(frame)
        if len(self._pending) > MAX_PENDING:
            oldest = self._pending.pop(0)
            out.append(self._finish(self._decode(oldest, None, 1, 1)))

    def _immediate(self, frame: Frame) -> DecodeResult | None:
        """A result that needs no neighbour: a telegram of a meter without CRC, or one whose CRC
        matches with lines that do not parse when it cannot be a collision."""
        data = normalize_line_ends(frame.data)
        if not frame.complete or not frame.has_header:
            return None
        if not frame.crc_text and not self._crc_seen:
            return self._without_crc(frame, data)
        crc_sent = parse_crc_field(frame.crc_text)
        if crc_sent is None or crc16(data) != crc_sent:
            return None
        telegram = self.parser.parse(data)
        if telegram is None:
            return self._invalid(frame, data, crc_sent, crc_sent, "unparseable: header")
        if telegram.unparsed and self._clean:
            return None  # maybe a CRC collision: decided with the neighbours
        return DecodeResult(
            Status.VALID, frame, telegram, data + frame.crc_text + b"\r\n", crc_sent, crc_sent
        )

    def _continues(self, frame: Frame, result: DecodeResult) -> bool:
        """Whether a telegram whose CRC matches continues from the last accepted one (if not,
        it is held)."""
        if self.repair is None or result.telegram is None:
            return True
        problem = self._continuity.check(result.telegram)
        if problem is None:
            return True
        self._hold(frame, result, problem)
        return False

    def _decide(self, following: DecodeResult | None) -> list[DecodeResult]:
        """Decide every waiting frame, ``following`` being the good telegram after them (if any).

        An unterminated frame followed by another may be one telegram split by a damaged byte
        that looks like a header: when the frame alone cannot be repaired, the two are tried as one.
        """
        pending = self._pending
        if not pending:
            return []
        self._pending = []
        after: tuple[bytes, bytes] | None = None
        if following is not None and following.telegram is not None:
            bang = following.data.rindex(b"!")
            after = (following.data[: bang + 1], following.data[bang + 1 :].rstrip(b"\r\n"))
        clean_after = following is not None and following.telegram is not None
        clean_after = clean_after and not following.telegram.unparsed  # type: ignore[union-attr]
        out: list[DecodeResult] = []
        run = len(pending)
        index = 0
        while index < run:
            frame = pending[index]
            held = self._held.pop(id(frame), None)
            if held is not None:
                out.append(self._finish(self._judge(held, following)))
                index += 1
                continue
            result = self._decode(frame, after, index + 1, run, clean_after)
            if not result.accepted and not frame.complete and index + 1 < run:
                joined = _join(frame, pending[index + 1])
                if joined is not None:
                    merged = self._decode(joined, after, index + 1, run, clean_after)
                    if merged.accepted:
                        out.append(self._finish(merged))
                        index += 2
                        continue
            out.append(self._finish(result))
            index += 1
        return out

    def _judge(
        self, held: tuple[DecodeResult, str], following: DecodeResult | None
    ) -> DecodeResult:
        """A held telegram, now that the next good telegram (if any) is known."""
        result, problem = held
        assert result.telegram is not None
        if following is not None and following.telegram is not None:
            back = self._continuity.confirms(result.telegram, following.telegram)
            if back is None:
                reason = f"kept: {problem}, and the next telegram continues from it"
                return result._replace(reason=reason)
            reason = (
                f"implausible: the CRC matches but {problem}, and the next telegram does not"
                f" continue from it ({back}): damage the CRC cannot see"
            )
        else:
            reason = (
                f"implausible: the CRC matches but {problem}, and no next telegram shows whether"
                " the meter really jumped"
            )
        return self._invalid(
            result.frame, result.data, result.crc_sent, result.crc_computed, reason
        )

    def _finish(self, result: DecodeResult) -> DecodeResult:
        """Count a result; a valid one teaches the repair engine (a repaired one does not: only
        what the meter demonstrably sent is evidence)."""
        self.stats.count(result)
        if result.telegram is not None and result.status is not Status.INVALID:
            self._clean = not result.telegram.unparsed
            self._crc_seen = self._crc_seen or result.crc_sent is not None
            if result.status is Status.REPAIRED:
                self._continuity.accept(result.telegram)
        if (
            result.status is Status.VALID
            and result.telegram is not None
            and self.repair is not None
        ):
            bang = result.data.rindex(b"!")
            self.repair.learn(
                result.data[: bang + 1], result.telegram, result.data[bang + 1 :].rstrip(b"\r\n")
            )
        return result

    def _decode(
        self,
        frame: Frame,
        following: tuple[bytes, bytes] | None,
        position: int,
        run: int,
        clean_after: bool = False,
    ) -> DecodeResult:
        """Verify, repair if needed and allowed, and parse one frame off the common path.

        ``clean_after``: the next good telegram parsed line for line (a line that does not parse
        in this one alone is damage, not a line the meter started sending)."""
        data = normalize_line_ends(frame.data)
        crc_sent = parse_crc_field(frame.crc_text)
        computed: int | None = None
        received: Telegram | None = None  # the CRC matches, but lines do not parse
        if frame.complete and frame.has_header:
            if crc_sent is not None:
                computed = crc16(data)
                if computed == crc_sent:
                    received = self.parser.parse(data)
                    if received is None:
                        return self._invalid(frame, data, crc_sent, crc_sent, "unparseable: header")
                    if not received.unparsed:
                        return DecodeResult(
                            Status.VALID,
                            frame,
                            received,
                            data + frame.crc_text + b"\r\n",
                            crc_sent,
                            crc_sent,
                        )
            elif not frame.crc_text and not self._crc_seen:
                result = self._without_crc(frame, data)
                if result is not None:
                    return result
        elif frame.complete:
            computed = crc16(data)
        if received is not None:
            lines = ", ".join(str(number + 1) for number, _ in received.unparsed)
            reason = f"crc collision: the CRC matches but line(s) {lines} no longer parse"
        elif not frame.complete:
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
        if self.repair is not None:
            outcome = self.repair.repair(frame, following, position, run)
            if (
                outcome.data is not None
                and outcome.telegram is not None
                and not outcome.telegram.unparsed
            ):
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
        if received is not None:
            lines = ", ".join(str(number + 1) for number, _ in received.unparsed)
            garbage = bool(suspicious_bytes(data, 1))
            if not garbage and not clean_after:
                # No repair explains the unparsed lines: a meter may start sending a line this
                # parser does not know, so the telegram is kept as the meter sent it.
                return DecodeResult(
                    Status.VALID,
                    frame,
                    received,
                    data + frame.crc_text + b"\r\n",
                    crc_sent,
                    crc_sent,
                    f"kept as sent: line(s) {lines} do not parse",
                )
            reason += (
                " and hold bytes no meter sends: a chance match of damaged bytes"
                if garbage
                else ", in this telegram alone (the next one parses): a chance match of damaged bytes"
            )
        return self._invalid(frame, data, crc_sent, computed, reason, attempts)

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


def _join(first: Frame, second: Frame) -> Frame | None:
    """Two adjacent frames as one (the first unterminated): a damaged byte that looked like a
    header may have split a telegram in two."""
    if first.complete or first.offset + len(first.data) != second.offset:
        return None
    return Frame(
        first.data + second.data,
        second.crc_text,
        first.offset,
        second.complete,
        first.has_header,
        first.noise,
        first.noise_count,
    )
