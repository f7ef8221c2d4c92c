"""Shared test fixtures. Tests that need the real data sets skip with a reason when ../shared/data is absent
(a user's clone); in CI it is present and they run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("FAKEVISION_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path to ../shared/data, or skip the test with a clear reason."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data sets not found at {SHARED_DATA} (set FAKEVISION_SHARED_DATA); CI has them")
    return SHARED_DATA


def pytest_configure(config: pytest.Config) -> None:
    """One torch thread per test process: pytest-xdist already runs one process per core, and torch's default
    (one thread per core in every process) oversubscribes the 2 CI cores badly (measured 80x slower GAN steps)."""
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(1)
