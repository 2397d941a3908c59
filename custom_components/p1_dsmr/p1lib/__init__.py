"""The P1 DSMR library: frame, verify, repair, parse and derive P1 (DSMR) telegrams.

Pure Python, standard library only; it never imports Home Assistant.
"""

from .decoder import Decoder, DecodeResult, DecoderStats, Status
from .derived import Derived, DerivedCalculator, Thresholds
from .framing import Frame, Framer
from .parsing import CosemObject, Dialect, Parser, Telegram

__all__ = [
    "CosemObject",
    "DecodeResult",
    "Decoder",
    "DecoderStats",
    "Derived",
    "DerivedCalculator",
    "Dialect",
    "Frame",
    "Framer",
    "Parser",
    "Status",
    "Telegram",
    "Thresholds",
]
