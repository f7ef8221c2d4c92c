"""Training conditions of the Smart Augmentation table as one-line specs, so a table is one command line.

``none``, ``classical``, ``randaugment`` (n=2, m=9), ``trivialaugment``, ``blend:k=2``, ``mixup``,
``smart:nets=1,k=2,classical=0,output=paper`` (``nets`` is ``1`` or ``class``). The table that trains them is
``fakevision.evaluate.smart_table`` (a measurement; this module only builds the augmenters).

>>> [a.name for a in map(make_augmenter, ["none", "blend:k=3", "smart:nets=class,k=3,classical=1"])]
['none', 'blend(k=3)', 'smart(k=3,nets=per-class,a=0.3,b=0.7,paper)+classical']
"""

from __future__ import annotations

from fakevision.smart.augmenter import SmartAugmenter
from fakevision.smart.baselines import (
    Classical,
    Mixup,
    NoAugment,
    RandAugment,
    TrivialAugment,
    WithinClassBlend,
)
from fakevision.train.classifier import BatchAugmenter

DEFAULT_CONDITIONS = (
    "none", "classical", "randaugment", "trivialaugment", "blend:k=2", "mixup",
    "smart:nets=1,k=2,classical=0", "smart:nets=1,k=2,classical=1",
    "smart:nets=1,k=3,classical=0", "smart:nets=class,k=2,classical=0",
    "smart:nets=1,k=2,classical=0,output=residual",
)


def _kv(spec: str) -> tuple[str, dict[str, str]]:
    head, _, rest = spec.partition(":")
    kv = dict(p.split("=", 1) for p in rest.split(",") if p) if rest else {}
    return head, kv


def make_augmenter(spec: str) -> BatchAugmenter:
    """Build a ``BatchAugmenter`` from a condition spec (see module docstring)."""
    head, kv = _kv(spec)
    try:
        if head == "none":
            return NoAugment()
        if head == "classical":
            return Classical()
        if head == "randaugment":
            return RandAugment(int(kv.get("n", 2)), int(kv.get("m", 9)))
        if head == "trivialaugment":
            return TrivialAugment()
        if head == "blend":
            return WithinClassBlend(int(kv.get("k", 2)), kv.get("classical", "0") == "1")
        if head == "mixup":
            return Mixup(float(kv.get("alpha", 0.4)))
        if head == "smart":
            return SmartAugmenter(
                k=int(kv.get("k", 2)), per_class=kv.get("nets", "1") == "class",
                alpha=float(kv.get("alpha", 0.3)), beta=float(kv.get("beta", 0.7)),
                lr=float(kv.get("lr", 1e-3)), output=kv.get("output", "paper"),
                use_classical=kv.get("classical", "0") == "1",
            )
    except (ValueError, KeyError) as e:
        raise ValueError(f"bad condition spec {spec!r}: {e}") from None
    raise ValueError(f"unknown condition {head!r} in {spec!r}")
