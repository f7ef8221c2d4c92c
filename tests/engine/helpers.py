"""A tiny deterministic source for engine tests that run in this process (workers=1)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from fakevision.core.sample import Annotations, boxes_from_masks
from fakevision.core.source import Made, RandomStreams, SourceConfig, SourceType, register_source


class SquaresConfig(SourceConfig):
    type: str = "test_squares"
    size: int = 32


class Squares:
    """One random square per image, with its mask, box and 4 corner keypoints."""

    def __init__(self, cfg: SquaresConfig) -> None:
        self.name, self.size = cfg.source_name, cfg.size

    def make(self, index: int, streams: RandomStreams) -> Made:
        rng = streams.rng
        s = self.size
        img = rng.integers(0, 255, (s, s, 3), dtype=np.uint8)
        x0, y0 = (int(v) for v in rng.integers(0, s // 2, 2))
        w = int(rng.integers(3, s // 2))
        m = np.zeros((1, s, s), bool)
        m[0, y0:y0 + w, x0:x0 + w] = True
        kp = np.array([[[x0, y0], [x0 + w, y0], [x0 + w, y0 + w], [x0, y0 + w]]], float)
        ann = Annotations(label=["even", "odd"][index % 2], categories=["square"], boxes=boxes_from_masks(m),
                          masks=m, keypoints=kp)
        return Made(img, ann, {"x0": x0, "y0": y0, "w": w})


register_source("test_squares", SourceType(SquaresConfig, Squares, "test-only squares"))


def tree_digest(root: Path) -> dict[str, str]:
    """sha256 of every file under root, by relative path."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


class FaultyConfig(SquaresConfig):
    """Squares that go wrong at sample ``at``: ``raise`` (a source bug), ``die`` (the worker process SIGKILLs
    itself, once: ``marker`` is created first, so the retry succeeds), ``die_always`` or ``litter`` (creates the
    file ``marker`` and carries on: what a worker stopped mid-write leaves, e.g. a writer's temp file);
    ``seconds`` of sleep per sample make a run slow enough to interrupt."""

    type: str = "test_faulty"
    at: int = -1
    fault: str = "raise"
    marker: str = ""
    seconds: float = 0.0


class Faulty(Squares):
    def __init__(self, cfg: FaultyConfig) -> None:
        super().__init__(cfg)
        self.cfg = cfg

    def make(self, index: int, streams: RandomStreams) -> Made:
        import os
        import signal
        import time

        c = self.cfg
        if c.seconds:
            time.sleep(c.seconds)
        if index == c.at:
            if c.fault == "raise":
                raise ValueError(f"boom at {index}")
            if c.fault == "litter":
                Path(c.marker).parent.mkdir(parents=True, exist_ok=True)
                Path(c.marker).write_bytes(b"")
            if c.fault == "die_always":
                os.kill(os.getpid(), signal.SIGKILL)
            if c.fault == "die":
                try:
                    fd = os.open(c.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
                except FileExistsError:
                    pass  # the retry: behave
                else:
                    os.write(fd, str(os.getpid()).encode())
                    os.close(fd)
                    os.kill(os.getpid(), signal.SIGKILL)
        return super().make(index, streams)


register_source("test_faulty", SourceType(FaultyConfig, Faulty, "test-only squares with injected faults"))
