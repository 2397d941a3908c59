"""DLMS general-global-ciphering frames: how encrypted P1 meters wrap their telegrams.

Luxembourg's Smarty meters (and other DLMS meters) send each P1 telegram encrypted with AES-128-GCM
inside one frame::

    DB | 08 | system title (8) | length | 30 | invocation counter (4) | ciphertext | GCM tag (12)

``0xDB`` is the general-global-ciphering tag, ``08`` the length of the system title (the meter's
identity), ``length`` a DLMS/BER length (one byte below 0x80, else ``0x81 LL`` or ``0x82 LL LL``)
that counts everything after it: the security control byte ``0x30`` (authenticated and encrypted,
suite 0), the counter, the ciphertext and the tag. The plaintext is an ordinary telegram with its
own CRC.

This module knows the structure only (standard library; decryption is :mod:`.cipher`):
:class:`FrameScanner` finds frames in a byte stream fed in any chunks, which may also carry noise
or plain telegrams (those bytes are passed on unchanged, in order), and :func:`build_frame` writes
one.

A frame is recognised by its structure: the tag, the title length, a length form and a length
within bounds, the security control byte. A frame ends where its length says, or earlier where the
next frame of the same meter (``DB 08`` and the same system title) begins: a damaged length field
never swallows the frames after it, and on a live stream a frame is complete as soon as the next
one starts.

Once the meter is known (:attr:`FrameScanner.meter_title`: the system title of the last frame
with a sound header that ended where its length says), its frames are also found by their system
title: a frame whose tag, title length, length field or security control byte was damaged on the
line is still a frame (its :attr:`GcmFrame.damage` says what is wrong), not noise, and any frame
ends where the next one of this meter begins.
"""

from __future__ import annotations

from typing import NamedTuple

from .framing import MAX_TELEGRAM

__all__ = [
    "FrameScanner",
    "GcmFrame",
    "MAX_LENGTH",
    "MIN_PLAINTEXT",
    "SECURITY_CONTROL",
    "TAG",
    "TAG_LENGTH",
    "TITLE_LENGTH",
    "build_frame",
    "length_field",
]

TAG = 0xDB
"""The DLMS general-global-ciphering tag: the first byte of a frame."""
TITLE_LENGTH = 8
SECURITY_CONTROL = 0x30
"""Authenticated and encrypted, security suite 0 (AES-128-GCM): the only kind P1 meters send."""
COUNTER_LENGTH = 4
TAG_LENGTH = 12
"""The GCM tag, truncated to 12 bytes as DLMS does."""
_OVERHEAD = 1 + COUNTER_LENGTH + TAG_LENGTH
"""What the length counts besides the ciphertext."""
MIN_PLAINTEXT = 16
"""The smallest telegram an encrypted frame is taken to carry (``/`` header, ``!`` and CRC)."""
MAX_LENGTH = MAX_TELEGRAM + _OVERHEAD
"""The largest length field accepted: the framer's largest telegram, encrypted."""
_MIN_LENGTH = MIN_PLAINTEXT + _OVERHEAD
_START = 2 + TITLE_LENGTH  # tag, title length, title: where the length field begins


class GcmFrame(NamedTuple):
    """An encrypted frame as it was found in the stream."""

    data: bytes
    """The frame as received, from the tag through the GCM tag (for a frame cut short by the next
    one, or by the end of the stream, through its last received byte)."""
    offset: int
    """Stream offset of ``data[0]`` (the ``0xDB`` tag)."""
    system_title: bytes
    """The meter's 8-byte identity (the manufacturer's three letters and a serial number)."""
    counter: int
    """The invocation counter: increases with every frame the meter sends."""
    header_length: int
    """Bytes before the ciphertext (tag through counter: 16, 17 or 18)."""
    length: int
    """The value of the length field."""
    complete: bool
    """The frame ended where its length says, or where the next frame of the same meter began
    (a damaged length field); not when the stream ended inside it."""
    damage: str = ""
    """For a frame of the known meter found by its system title although its header is damaged,
    what is wrong with the header (``its tag byte is 0x5B, not 0xDB``...); "" for a sound header.
    Such a frame's :attr:`length` is -1 when its length field is no DLMS length form, and its
    counter is read where the meter's other frames carry it."""

    @property
    def declared_size(self) -> int:
        """The frame's size according to its length field."""
        return self.header_length - 1 - COUNTER_LENGTH + self.length

    @property
    def iv(self) -> bytes:
        """The GCM initialisation vector: system title and invocation counter."""
        return self.system_title + self.counter.to_bytes(COUNTER_LENGTH, "big")

    @property
    def ciphertext(self) -> bytes:
        """The encrypted telegram (between the header and the tag)."""
        return self.data[self.header_length : len(self.data) - TAG_LENGTH]

    @property
    def tag(self) -> bytes:
        """The GCM authentication tag (the last 12 bytes)."""
        return self.data[-TAG_LENGTH:]

    @property
    def end_offset(self) -> int:
        """Stream offset just past the frame."""
        return self.offset + len(self.data)


def _length_field(buf: bytes | bytearray, at: int) -> tuple[int, int] | None:
    """(size of the length field, its value) at ``buf[at]``; None if it is no DLMS length form.

    ``buf`` must hold at least three bytes from ``at``.
    """
    first = buf[at]
    if first < 0x80:
        return 1, first
    if first == 0x81:
        return 2, buf[at + 1]
    if first == 0x82:
        return 3, buf[at + 1] << 8 | buf[at + 2]
    return None


_MORE = (-1, -1)
_HOLD = _START - 1
"""Bytes held at the end of the buffer while the meter is known: a frame of the meter may begin
there, its system title not yet complete."""
_DEFAULT_HEADER = _START + 3 + 1 + COUNTER_LENGTH
"""The header of a frame with the long length form (``0x82 LL LL``), as Smarty meters send it."""


def _header(buf: bytes | bytearray, i: int, final: bool) -> tuple[int, int] | None:
    """At a ``0xDB`` byte: (header length, length field) if a frame header starts here, None if
    not, :data:`_MORE` if more bytes are needed to tell (never when ``final``)."""
    size = len(buf)
    if size < i + _START + 3:
        if final or (i + 1 < size and buf[i + 1] != TITLE_LENGTH):
            return None
        return _MORE
    if buf[i + 1] != TITLE_LENGTH:
        return None
    field = _length_field(buf, i + _START)
    if field is None or not _MIN_LENGTH <= field[1] <= MAX_LENGTH:
        return None
    header_length = _START + field[0] + 1 + COUNTER_LENGTH
    control = i + _START + field[0]
    if control < size and buf[control] != SECURITY_CONTROL:
        return None
    if size < i + header_length:
        return None if final else _MORE
    return header_length, field[1]


class FrameScanner:
    """Finds encrypted frames in a byte stream: :meth:`feed` bytes in any chunks, get the bytes
    that belong to no frame (unchanged, in order) and :class:`GcmFrame` objects; :meth:`flush` at
    the end of the stream.

    A stream without a ``0xDB`` byte passes through as it came. Memory is bounded: the scanner
    holds at most one frame of :data:`MAX_LENGTH` (plus one chunk).
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._base = 0  # stream offset of _buf[0]
        # The frame being read: header length, size, next-frame anchor, length field, damage.
        self._frame: tuple[int, int, bytes, int, str] | None = None
        self._cut_scan = 0  # where to look for the next frame's anchor in _buf
        self._sound = (_DEFAULT_HEADER, 0)  # header length and size of the last sound frame
        self.frames = 0
        """Frames found."""
        self.meter_title: bytes | None = None
        """The system title of the meter this stream comes from: the last frame's with a sound
        header that ended where its length says (a decoder that finds that frame was noise may
        forget it). The meter's frames are then found by their title even with a damaged header,
        and every frame ends where the next one of this meter begins."""

    @property
    def buffered(self) -> int:
        """Bytes held: a frame waiting for its end, or a tag for the rest of its header."""
        return len(self._buf)

    def feed(self, chunk: bytes | bytearray | memoryview) -> list[bytes | GcmFrame]:
        """Add received bytes; return the bytes outside frames and the frames they completed."""
        if not self._buf and self._frame is None and self.meter_title is None:
            data = chunk if type(chunk) is bytes else bytes(chunk)
            if TAG not in data:  # the common case of a plain stream: nothing to hold
                self._base += len(data)
                return [data] if data else []
        self._buf += chunk
        return self._scan(final=False)

    def flush(self) -> list[bytes | GcmFrame]:
        """End of stream: what is held, a frame cut short by the end as an incomplete frame."""
        return self._scan(final=True)

    def _scan(self, final: bool) -> list[bytes | GcmFrame]:
        buf = self._buf
        out: list[bytes | GcmFrame] = []
        pos = 0  # start of what is not yet returned
        scan = 0  # where to look for the next tag
        title = self.meter_title
        title_at, title_from = -1, len(buf)  # the next title found (at or after title_from)
        while True:
            if self._frame is not None:
                end, complete = self._frame_end(pos, final)
                if end < 0:
                    break
                out.append(self._emit(pos, end, complete))
                pos = scan = end
                if self.meter_title != title:  # the meter became known inside this chunk
                    title = self.meter_title
                    title_at, title_from = -1, len(buf)
                continue
            i = buf.find(TAG, scan)
            start = -1  # a frame of the known meter, found by its title
            if title is not None:
                if title_at < scan + 2 and not (title_at < 0 and title_from <= scan + 2):
                    title_from = scan + 2
                    title_at = buf.find(title, title_from)
                if title_at >= 0 and (i < 0 or title_at - 2 <= i):
                    start = title_at - 2
            if start < 0 and i < 0:
                # No frame begins here; while the meter is known, its next title may be cut.
                keep = len(buf) if final or title is None else max(pos, len(buf) - _HOLD)
                if keep > pos:
                    out.append(bytes(buf[pos:keep]))
                    pos = keep
                break
            damage = ""
            if start < 0:
                header = _header(buf, i, final)
                if header is None:
                    scan = i + 1
                    continue
            else:
                i = start
                header = _header(buf, i, final) if buf[i] == TAG else None
                if header is None:
                    header, damage = self._damaged_header(i, final)
                    if header is None:  # cut by the end of the stream: noise
                        scan = i + 1
                        continue
            if i > pos:
                out.append(bytes(buf[pos:i]))
            pos = scan = i
            if header is _MORE:
                break  # hold the bytes from this tag until the header is complete
            header_length, length = header
            if damage and not _MIN_LENGTH <= length <= MAX_LENGTH:
                # No length to go by: the meter's last frame (twice) bounds it, the next one ends it.
                size = min(2 * self._sound[1], MAX_LENGTH) or MAX_LENGTH
            else:
                size = header_length - 1 - COUNTER_LENGTH + length
            self._frame = (header_length, size, bytes(buf[i : i + _START]), length, damage)
            self._cut_scan = i + header_length
        if pos:
            del buf[:pos]
            self._base += pos
            self._cut_scan -= pos
        return out

    def _damaged_header(self, i: int, final: bool) -> tuple[tuple[int, int] | None, str]:
        """At ``buf[i]``, two bytes before the known meter's system title, where ``_header`` found
        no sound header: (header length, length field) and what is damaged; :data:`_MORE` if more
        bytes are needed to tell; None if the stream ended first."""
        buf = self._buf
        if len(buf) < i + _START + 3:
            return (None if final else _MORE), ""
        damage = []
        if buf[i] != TAG:
            damage.append(f"its tag byte is 0x{buf[i]:02X}, not 0x{TAG:02X}")
        if buf[i + 1] != TITLE_LENGTH:
            damage.append(f"its title length is {buf[i + 1]}, not {TITLE_LENGTH}")
        field = _length_field(buf, i + _START)
        if field is None:
            damage.append(f"its length field begins with 0x{buf[i + _START]:02X}, no length form")
            header_length, length = self._sound[0], -1
        else:
            header_length, length = _START + field[0] + 1 + COUNTER_LENGTH, field[1]
            if length < _MIN_LENGTH:
                damage.append(f"its length {length} is too short for a telegram")
            elif length > MAX_LENGTH:
                damage.append(f"its length {length} is more than a frame holds ({MAX_LENGTH})")
        if len(buf) < i + header_length:
            return (None if final else _MORE), ""
        control = buf[i + header_length - 1 - COUNTER_LENGTH]
        if field is not None and control != SECURITY_CONTROL:
            damage.append(
                f"its security control byte is 0x{control:02X}, not 0x{SECURITY_CONTROL:02X}"
            )
        return (header_length, length), "; ".join(damage)

    def _frame_end(self, pos: int, final: bool) -> tuple[int, bool]:
        """Where the frame at ``pos`` ends, and whether it is complete: at its size, or where the
        next frame of the same meter (or of the known meter) begins; at the end of the stream
        (incomplete) when ``final``; -1 if it has not ended yet."""
        assert self._frame is not None
        header_length, size, anchor, _, _ = self._frame
        buf = self._buf
        end = pos + size
        low, high = max(self._cut_scan, pos + header_length), end + len(anchor) - 1
        cut = buf.find(anchor, low, high)
        title = self.meter_title
        if title is not None:
            found = buf.find(title, low + 2, high)
            if found >= 0 and (cut < 0 or found - 2 < cut):
                cut = found - 2
        if 0 <= cut < end:
            return cut, True
        if len(buf) >= end:
            return end, True
        if final:
            return len(buf), False
        self._cut_scan = max(pos + header_length, len(buf) - len(anchor) + 1)
        return -1, False

    def _emit(self, pos: int, end: int, complete: bool) -> GcmFrame:
        assert self._frame is not None
        header_length, size, _, length, damage = self._frame
        self._frame = None
        data = bytes(self._buf[pos:end])
        if not damage and end - pos == size:
            self._sound = (header_length, size)  # what the meter's frames look like
            self.meter_title = data[2:_START]
        self.frames += 1
        return GcmFrame(
            data,
            self._base + pos,
            data[2:_START],
            int.from_bytes(data[header_length - COUNTER_LENGTH : header_length], "big"),
            header_length,
            length,
            complete,
            damage,
        )


def length_field(length: int) -> bytes:
    """The DLMS/BER encoding of a length (short form below 0x80)."""
    if length < 0x80:
        return bytes((length,))
    if length < 0x100:
        return bytes((0x81, length))
    if length < 0x10000:
        return bytes((0x82, length >> 8, length & 0xFF))
    raise ValueError(f"length {length} does not fit a frame")


def build_frame(system_title: bytes, counter: int, ciphertext: bytes, tag: bytes) -> bytes:
    """One frame from its parts (the length in its shortest form)."""
    if len(system_title) != TITLE_LENGTH:
        raise ValueError("the system title is 8 bytes")
    if len(tag) != TAG_LENGTH:
        raise ValueError("the GCM tag is 12 bytes")
    if not 0 <= counter < 1 << 32:
        raise ValueError("the invocation counter is a 32-bit number")
    return b"".join(
        (
            bytes((TAG, TITLE_LENGTH)),
            system_title,
            length_field(_OVERHEAD + len(ciphertext)),
            bytes((SECURITY_CONTROL,)),
            counter.to_bytes(COUNTER_LENGTH, "big"),
            ciphertext,
            tag,
        )
    )
