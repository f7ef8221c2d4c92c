"""Fixtures for the measurement tests."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from collections.abc import Callable

import pytest


@pytest.fixture
def tf_import(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], types.ModuleType]:
    """Import a torch-fidelity module, to compare our formulas and network with its own.

    torch-fidelity imports torchvision at package import time (for its data set helpers only); the metric
    functions and the Inception module never call it, so empty stand-in modules are enough and torchvision is
    never installed (it would pull an unpinned torch). Skips when torch-fidelity is absent: it is a test-only
    extra, ``pip install torch-fidelity tqdm --no-deps``.
    """

    def load(module: str) -> types.ModuleType:
        if importlib.util.find_spec("torch_fidelity") is None or importlib.util.find_spec("tqdm") is None:
            pytest.skip("torch-fidelity not installed (pip install torch-fidelity tqdm --no-deps)")
        if importlib.util.find_spec("torchvision") is None:
            tv = types.ModuleType("torchvision")
            ds = types.ModuleType("torchvision.datasets")
            for name in ("CIFAR10", "CIFAR100", "STL10"):
                setattr(ds, name, object)
            tr = types.ModuleType("torchvision.transforms")
            fn = types.ModuleType("torchvision.transforms.functional")
            tv.datasets, tv.transforms, tr.functional = ds, tr, fn  # type: ignore[attr-defined]
            for n, m in (("torchvision", tv), ("torchvision.datasets", ds), ("torchvision.transforms", tr),
                         ("torchvision.transforms.functional", fn)):
                monkeypatch.setitem(sys.modules, n, m)
        return importlib.import_module(module)

    return load
