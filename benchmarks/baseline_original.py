"""The original PowerShell tool's repair, re-implemented as the baseline for scripts/bench-noise.

On a CRC mismatch it tried five targeted fixes, one after the other on the received telegram, and
kept the first whose CRC then matched (see the project's protocol notes):

1. drop junk before the provider-message line (``0-0:96.13.0(``);
2. restore `` -0:96.13.0(`` (a lost bit on the line's first character) to ``0-0:96.13.0(``;
3. drop garbage before ``/`` (anything before the header);
4. rebuild the header from the last good header (cures ``/`` arriving as 0x0E);
5. replace the provider message with the last good one.
"""

from __future__ import annotations

import re

from p1lib.crc import crc16

_MESSAGE = re.compile(rb"0-0:96\.13\.0\([^\r\n]*\)")


class OriginalRepair:
    """Stateful like the original: remembers the last good header and provider message."""

    def __init__(self) -> None:
        self.header: bytes | None = None
        self.message: bytes | None = None
        self.tested = 0

    def learn(self, data: bytes) -> None:
        self.header = data[: data.find(b"\r\n")]
        match = _MESSAGE.search(data)
        self.message = match.group(0) if match else None

    def repair(self, data: bytes, crc_sent: int | None) -> bytes | None:
        if crc_sent is None:
            return None
        for fix in (
            self._junk_before_message,
            self._message_code,
            self._garbage,
            self._header,
            self._message,
        ):
            candidate = fix(data)
            if candidate is not None and candidate != data:
                self.tested += 1
                if crc16(candidate) == crc_sent:
                    return candidate
        return None

    @staticmethod
    def _junk_before_message(data: bytes) -> bytes | None:
        at = data.find(b"0-0:96.13.0(")
        if at < 0:
            return None
        line_start = data.rfind(b"\n", 0, at) + 1
        return data[:line_start] + data[at:]

    @staticmethod
    def _message_code(data: bytes) -> bytes | None:
        return data.replace(b" -0:96.13.0(", b"0-0:96.13.0(")

    @staticmethod
    def _garbage(data: bytes) -> bytes | None:
        at = data.find(b"/")
        return data[at:] if at > 0 else None

    def _header(self, data: bytes) -> bytes | None:
        if self.header is None:
            return None
        end = data.find(b"\r\n")
        return self.header + data[end:] if end >= 0 else None

    def _message(self, data: bytes) -> bytes | None:
        if self.message is None:
            return None
        match = _MESSAGE.search(data)
        if match is None:
            return None
        return data[: match.start()] + self.message + data[match.end() :]
