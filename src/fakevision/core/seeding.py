"""Deterministic seeding: each sample's generator derives from (root seed, source name, sample index).

Why: a sample must not depend on which worker made it or on what ran before it, so any number of workers and a
resumed run give byte-identical output. ``hash()`` is salted per process, hence the sha256-based ``stable_hash``.
"""

from __future__ import annotations

import hashlib

import numpy as np


def stable_hash(text: str) -> int:
    """A 64-bit integer hash of ``text`` that is the same in every process and on every machine.

    >>> stable_hash("render") == stable_hash("render")
    True
    """
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")


def sample_rng(root_seed: int, source: str, index: int) -> np.random.Generator:
    """The random generator for sample ``index`` of ``source`` under ``root_seed``.

    >>> a = sample_rng(0, "render", 5).integers(1 << 30)
    >>> b = sample_rng(0, "render", 5).integers(1 << 30)
    >>> bool(a == b), bool(a == sample_rng(0, "render", 6).integers(1 << 30))
    (True, False)
    """
    if root_seed < 0 or index < 0:
        raise ValueError("seed and index must be non-negative")
    ss = np.random.SeedSequence([int(root_seed), stable_hash(source), int(index)])
    return np.random.Generator(np.random.PCG64(ss))
