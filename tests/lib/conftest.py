"""Fixtures for the library tests (no Home Assistant needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "samples"


@pytest.fixture
def samples() -> Path:
    """The shared real-world samples; tests using them skip when they are absent."""
    if not SAMPLES.is_dir():
        pytest.skip("../shared/samples is not available")
    return SAMPLES
