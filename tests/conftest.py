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


@pytest.fixture(scope="session")
def ray_address() -> str:
    """One local Ray runtime for the whole test session (it takes seconds to start): in-process ``make(...,
    engine="ray")`` uses it, and CLI subprocesses join it with ``--address``. Its workers import this checkout
    (``src``) and the test helpers (the repo root). Skips when Ray (the ``ray`` extra) is not installed."""
    ray = pytest.importorskip("ray", reason="Ray not installed (pip install -e '.[ray]'); scripts/test.sh installs it")
    path = os.pathsep.join([str(REPO / "src"), str(REPO), os.environ.get("PYTHONPATH", "")])
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = path
    try:
        ray.init(num_cpus=2, include_dashboard=False, object_store_memory=75 * 1024 * 1024, log_to_driver=False,
                 logging_level="ERROR")
    finally:
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def pytest_configure(config: pytest.Config) -> None:
    """One torch thread per test process: pytest-xdist already runs one process per core, and torch's default
    (one thread per core in every process) oversubscribes the 2 CI cores badly (measured 80x slower GAN steps)."""
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(1)
