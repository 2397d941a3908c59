"""Framing: turn a byte stream into candidate telegrams.

A telegram is ``/`` header ... ``!`` CRC line end. The framer accepts a live stream fed in arbitrary
chunks or a whole file, and copes with what real lines and logs contain:

* CRLF, LF-only and CR-only line ends (see :func:`normalize_line_ends`);
* PuTTY log headers, text and garbage between telegrams, NUL bytes, every byte value inside a telegram;
* 0 to 4 CRC hex digits in any case;
* a truncated telegram at the start or end of a stream;
* a lost ``!``: the next header still starts a new telegram, the unterminated one is reported as
  truncated; a lost ``/``: the bytes after the previous telegram up to the next ``!`` are reported as
  a frame without header (the repair engine can rebuild its header), never merged into a neighbour;
* a ``/`` or ``!`` in garbage: a frame without a single line end cannot be a telegram (a telegram
  is lines), so its bytes are noise, or part of the frame before it, not a rejected telegram.

The frames depend on the bytes alone, never on how they were cut into chunks: a segment (the bytes
from the end of the previous telegram, or from the last frame of a long run of frames without an
end, through a ``!``) is at most ``max_telegram + max_noise`` bytes long, and the decision to give
up on a segment that grows past that is taken at that stream offset. A long run of frames without
an end (a flood of headers) is emitted as it arrives, :data:`EARLY_FRAMES` at a time, not all at
once at the limit. The work is linear in the input for any bytes (each byte is examined a bounded
number of times), and memory is bounded: the buffer never holds more than
``max_telegram + max_noise`` bytes plus one chunk.
"""

from __future__ import annotations

import re
from typing import NamedTuple

__all__ = ["Frame", "Framer", "normalize_line_ends", "MAX_TELEGRAM", "MAX_NOISE"]

MAX_TELEGRAM = 16 * 1024
"""Largest telegram accepted (the largest real ones, Hungarian Sanxing, are about 2.4 kB)."""
MAX_NOISE = 4 * 1024
"""Bytes of inter-telegram noise kept for reporting and header-less frames."""

_CR = 0x0D
_LF = 0x0A
_SLASH = 0x2F
_HEX = frozenset(b"0123456789abcdefABCDEF")
_LINE_ENDS = frozenset((_CR, _LF))
_new = tuple.__new__  # builds a NamedTuple without its Python-level __new__ (hot path)
_CRC_FIELD = re.compile(rb"[^\r\n]{0,5}")


class Frame(NamedTuple):
    """A candidate telegram as it was found in the stream."""

    data: bytes
    """From ``/`` (or, without header, the first byte after the previous telegram) through ``!``,
    exactly as received. Without ``complete`` it ends where the stream or the next header began."""
    crc_text: bytes
    """The characters between ``!`` and the line end (0 to 4; hex digits unless damaged)."""
    offset: int
    """Stream offset of ``data[0]``."""
    complete: bool
    """The frame ends with ``!``."""
    has_header: bool
    """The frame starts with ``/``."""
    noise: bytes = b""
    """Bytes between the previous frame and this one (the last :data:`MAX_NOISE`), line ends trimmed."""
    noise_count: int = 0
    """How many such bytes there were in all."""

    @property
    def end_offset(self) -> int:
        """Stream offset just past the frame's ``!`` and CRC digits."""
        return self.offset + len(self.data) + len(self.crc_text)


def normalize_line_ends(data: bytes) -> bytes:
    """Restore the CRLF line ends a meter sends when a log kept only LF or only CR.

    A telegram that holds at least one CRLF is returned unchanged: mixed line ends inside one telegram
    are damage, for the repair engine, not a log format.
    """
    if b"\r\n" in data:
        return data
    if b"\n" in data:
        return data.replace(b"\n", b"\r\n")
    if b"\r" in data:
        return data.replace(b"\r", b"\r\n")
    return data


def _has_line(data: bytes | bytearray, start: int, end: int) -> bool:
    """Whether ``data[start:end]`` holds a line end."""
    return data.find(b"\n", start, end) >= 0 or data.find(b"\r", start, end) >= 0


def _starts(segment: bytes) -> list[int]:
    """Where headers begin: every ``/`` at the start of a line, and every ``/`` after garbage that
    is followed by three letters (the manufacturer flag) and is not inside a value's parentheses on
    its line (a text message may hold ``/``).

    One pass: the line start and the last ``(`` and ``)`` of the line are carried from one ``/`` to
    the next, so each byte is looked at a bounded number of times however long the line.
    """
    found: list[int] = []
    find, rfind = segment.find, segment.rfind
    index = find(b"/")
    seen = 0  # everything before `seen` is accounted for in line_start, opened and closed
    line_start = 0
    opened = closed = -1  # the last '(' and ')' of the current line before `seen`
    while index >= 0:
        if index == 0 or segment[index - 1] in _LINE_ENDS:
            found.append(index)
        elif segment[index + 1 : index + 4].isalpha():
            line_end = max(rfind(b"\n", seen, index), rfind(b"\r", seen, index))
            if line_end >= 0:
                line_start, opened, closed = line_end + 1, -1, -1
            low = max(seen, line_start)
            opened = max(opened, rfind(b"(", low, index))
            closed = max(closed, rfind(b")", low, index))
            seen = index
            if opened <= closed:
                found.append(index)
        index = find(b"/", index + 1)
    return found


class _StartScanner:
    """The header starts of the segment being read, found as its bytes arrive (the same rule and
    the same single pass as :func:`_starts`), so that a long run of short frames (a flood of
    headers) is emitted a few at a time instead of thousands at once."""

    __slots__ = ("checked", "closed", "found", "index", "kept", "line_start", "opened", "seen")

    def __init__(self) -> None:
        self.reset(0)

    def reset(self, pos: int) -> None:
        """A new segment begins at ``pos``."""
        self.index = self.seen = self.line_start = pos
        self.opened = self.closed = -1
        self.found: list[int] = []
        self.kept: list[int] = []  # starts whose frame has a line end: they stay frames
        self.checked = 0  # found[:checked] have been looked at for kept

    def shift(self, offset: int) -> None:
        """The buffer lost its first ``offset`` bytes."""
        self.index -= offset
        # (never negative: a negative start would make rfind count from the end of the buffer)
        self.seen = max(self.seen - offset, 0)
        self.line_start = max(self.line_start - offset, 0)
        self.opened = max(self.opened - offset, -1)
        self.closed = max(self.closed - offset, -1)
        self.found = [f - offset for f in self.found]
        self.kept = [f - offset for f in self.kept]

    def scan(self, buf: bytearray, pos: int, upto: int) -> None:
        """Find the starts among the ``/`` before ``upto`` (each with its three letters before
        ``upto + 3``)."""
        if upto <= self.index:
            return
        find, rfind, found = buf.find, buf.rfind, self.found
        index = find(b"/", self.index, upto)
        while index >= 0:
            if index == pos or buf[index - 1] in _LINE_ENDS:
                found.append(index)
            elif buf[index + 1 : index + 4].isalpha():
                seen = self.seen
                line_end = max(rfind(b"\n", seen, index), rfind(b"\r", seen, index))
                if line_end >= 0:
                    self.line_start, self.opened, self.closed = line_end + 1, -1, -1
                low = max(seen, self.line_start)
                self.opened = max(self.opened, rfind(b"(", low, index))
                self.closed = max(self.closed, rfind(b")", low, index))
                self.seen = index
                if self.opened <= self.closed:
                    found.append(index)
            index = find(b"/", index + 1, upto)
        self.index = upto
        for position in range(self.checked, len(found) - 1):
            if _has_line(buf, found[position], found[position + 1]):
                self.kept.append(found[position])
        self.checked = max(len(found) - 1, 0)

    def drop_before(self, cut: int) -> None:
        """Starts before ``cut`` were emitted."""
        gone = sum(1 for f in self.found if f < cut)
        self.found = self.found[gone:]
        self.kept = [f for f in self.kept if f >= cut]
        self.checked = max(self.checked - gone, 0)


EARLY_BYTES = 2048
"""A segment longer than this is looked at for runs of frames to emit before its end."""
EARLY_FRAMES = 64
"""Frames emitted at once from a run of frames without an end."""


class Framer:
    """Incremental framer: :meth:`feed` bytes, get :class:`Frame` objects; :meth:`flush` at the end."""

    def __init__(self, max_telegram: int = MAX_TELEGRAM, max_noise: int = MAX_NOISE) -> None:
        self._max_telegram = max_telegram
        self._max_noise = max_noise
        self._buf = bytearray()
        self._base = 0  # stream offset of _buf[0]
        self._scan = 0  # where to look for the next '!' in _buf
        self._dropped = 0  # noise bytes dropped from the buffer since the last frame
        self._starts = _StartScanner()  # header starts of the current segment, for early frames
        self.bytes_in = 0
        self.noise_bytes = 0
        """Bytes that belonged to no telegram (PuTTY headers, garbage, trailing junk)."""

    @property
    def buffered(self) -> int:
        """Bytes held, waiting for the rest of a telegram."""
        return len(self._buf)

    def feed(self, chunk: bytes | bytearray | memoryview) -> list[Frame]:
        """Add received bytes; return the frames they completed."""
        self.bytes_in += len(chunk)
        self._buf += chunk
        out: list[Frame] = []
        self._process(out, final=False)
        return out

    def flush(self) -> list[Frame]:
        """End of stream: return what is left as frames (a truncated telegram is reported)."""
        out: list[Frame] = []
        self._process(out, final=True)
        if self._buf:
            self._emit_segment(out, bytes(self._buf), self._base, b"", complete=False)
            self._base += len(self._buf)
            self._buf.clear()
        self._scan = 0
        self._starts.reset(0)
        return out

    def _process(self, out: list[Frame], final: bool) -> None:
        buf = self._buf
        size = len(buf)
        limit = self._max_telegram + self._max_noise
        pos = 0
        scan = self._scan
        while True:
            # A segment (pos .. '!') is at most `limit` bytes: look for its end no further.
            horizon = pos + limit
            bang = buf.find(b"!", scan, horizon)
            reach = min(size if bang < 0 else bang, horizon)
            if reach - pos > EARLY_BYTES:
                early = self._early(out, pos, reach - 3)
                if early != pos:
                    pos = early
                    if bang < 0:
                        scan = max(scan, horizon)  # no '!' before the old horizon
                    continue
            if bang < 0:
                if size < horizon:
                    scan = size
                    break
                # No end within the limit (every '!' up to it was decided): give up the oldest
                # bytes here, at this stream offset, whatever the chunks were.
                pos = scan = self._overflow(out, pos, limit)
                self._starts.reset(pos)
                continue
            # The CRC field: up to 4 characters, then the line end (5 read, to tell a longer line).
            # (The pattern matches 0 characters too: it never fails.)
            field_end = _CRC_FIELD.match(buf, bang + 1).end()  # type: ignore[union-attr]
            if field_end == size and field_end - bang <= 5 and not final:
                scan = bang  # wait for the rest of the CRC field
                break
            crc_text = bytes(buf[bang + 1 : field_end])
            if len(crc_text) > 4:
                # '!' followed by a longer line: damaged data, or 4 hex digits and the next header
                if crc_text[4] == _SLASH and _HEX.issuperset(crc_text[:4]):
                    crc_text = crc_text[:4]
                    field_end = bang + 5
                else:
                    scan = bang + 1
                    continue
            at_line_start = bang == pos or buf[bang - 1] in _LINE_ENDS
            if not at_line_start and not (crc_text and _HEX.issuperset(crc_text)):
                scan = bang + 1
                continue
            first = buf.find(b"/", pos, bang)
            if (
                first >= 0
                and not self._dropped
                and (first == pos or buf[first - 1] in _LINE_ENDS)
                and buf.find(b"/", first + 1, bang) < 0
                and not buf[pos:first].strip(b"\r\n")
                and (buf.find(b"\n", first, bang) >= 0 or buf.find(b"\r", first, bang) >= 0)
            ):
                # The common case: line ends, then one telegram.
                data = bytes(memoryview(buf)[first : bang + 1])
                frame: Frame = _new(Frame, (data, crc_text, self._base + first, True, True, b"", 0))
                out.append(frame)
            else:
                segment = bytes(memoryview(buf)[pos : bang + 1])
                self._emit_segment(out, segment, self._base + pos, crc_text, True)
            pos = scan = field_end
            self._starts.reset(pos)
        if pos:
            del buf[:pos]
            self._base += pos
            scan -= pos
            self._starts.shift(pos)
        self._scan = scan

    def _early(self, out: list[Frame], pos: int, upto: int) -> int:
        """A long segment without an end yet: when it holds more than :data:`EARLY_FRAMES` frames
        that are sure to stay frames (a start whose frame has a line end), emit those before the
        last of them and return where the segment now begins. The same frames as emitting the
        whole segment at its end (a frame's bounds do not depend on the frames after it)."""
        starts = self._starts
        starts.scan(self._buf, pos, upto)
        while len(starts.kept) > EARLY_FRAMES:
            cut = starts.kept[EARLY_FRAMES]
            segment = bytes(memoryview(self._buf)[pos:cut])
            emitted = [f - pos for f in starts.found if f < cut]
            self._emit_segment(out, segment, self._base + pos, b"", False, emitted)
            starts.drop_before(cut)
            pos = cut
        return pos

    def _overflow(self, out: list[Frame], pos: int, limit: int) -> int:
        """No '!' within ``limit`` bytes of ``pos``: give up the oldest bytes, keeping a possible
        header; returns where the next segment begins."""
        region = bytes(memoryview(self._buf)[pos : pos + limit])
        starts = _starts(region)
        keep = max(limit - 8, 1)  # a header's first bytes may be at the very end
        if starts and starts[-1] > 0 and limit - starts[-1] <= self._max_telegram:
            keep = starts[-1]
        if starts and starts[0] < keep:
            # A telegram began and never ended within the limit: report it as truncated.
            kept = [start for start in starts if start < keep]
            self._emit_segment(out, region[:keep], self._base + pos, b"", False, kept)
        else:
            self._dropped += keep
        return pos + keep

    def _emit_segment(
        self,
        out: list[Frame],
        segment: bytes,
        offset: int,
        crc_text: bytes,
        complete: bool,
        starts: list[int] | None = None,
    ) -> None:
        """Split a segment (previous telegram end .. this '!') into noise and frames."""
        if starts is None:
            starts = _starts(segment)
        if starts:
            # A telegram has lines: a frame without a line end is noise (a '/' in garbage), its
            # bytes go to the frame before it or to the noise.
            ends = [*starts[1:], len(segment)]
            starts = [s for s, e in zip(starts, ends, strict=True) if _has_line(segment, s, e)]
        dropped, self._dropped = self._dropped, 0
        if not starts:
            body = segment.lstrip(b"\r\n\x00")
            skipped = len(segment) - len(body)
            if complete and _has_line(body, 0, len(body)):
                out.append(Frame(body, crc_text, offset + skipped, True, False, b"", dropped))
            else:  # bytes after the last telegram that never became one, or a '!' in garbage
                self.noise_bytes += dropped + len(body.strip(b"\r\n"))
            return
        first = starts[0]
        noise = segment[:first].strip(b"\r\n")
        noise_count = dropped + len(noise)
        self.noise_bytes += noise_count
        noise = noise[-self._max_noise :]
        bounds = [*starts, len(segment)]
        last = len(starts) - 1
        for index, start in enumerate(starts):
            is_last = index == last
            frame = _new(
                Frame,
                (
                    segment[start : bounds[index + 1]],
                    crc_text if is_last else b"",
                    offset + start,
                    complete and is_last,
                    True,
                    noise if index == 0 else b"",
                    noise_count if index == 0 else 0,
                ),
            )
            out.append(frame)
