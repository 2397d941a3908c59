"""Fixtures for the library tests (no Home Assistant needed)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

# CI runs the property tests on a fixed sequence of examples (HYPOTHESIS_PROFILE=ci) so that a run
# is reproducible; elsewhere every run explores new examples.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "samples"


@pytest.fixture
def samples() -> Path:
    """The shared real-world samples; tests using them skip when they are absent."""
    if not SAMPLES.is_dir():
        pytest.skip("../shared/samples is not available")
    return SAMPLES
