"""How a recipe's samples are numbered and cut into shards.

Samples get run-wide numbers in recipe order (all of source 0, then source 1, ...); shard ``i`` holds numbers
``[i * shard_size, (i + 1) * shard_size)``. Both are pure functions of the recipe, which is what makes a shard a
pure function of (recipe, shard index) — the property the local and Ray backends both rely on.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    """Numbering of a run.

    >>> p = Plan(("a", "b"), (3, 4), shard_size=2)
    >>> p.total, p.num_shards, p.shard_range(3), p.locate(4)
    (7, 4, (6, 7), (1, 1))
    """

    names: tuple[str, ...]
    counts: tuple[int, ...]
    shard_size: int

    @property
    def total(self) -> int:
        return sum(self.counts)

    @property
    def num_shards(self) -> int:
        return -(-self.total // self.shard_size)

    def shard_range(self, shard: int) -> tuple[int, int]:
        if not 0 <= shard < self.num_shards:
            raise IndexError(f"shard {shard} out of range 0..{self.num_shards - 1}")
        start = shard * self.shard_size
        return start, min(start + self.shard_size, self.total)

    def locate(self, number: int) -> tuple[int, int]:
        """(source position, index within that source) of run-wide sample ``number``."""
        starts = [0]
        for c in self.counts:
            starts.append(starts[-1] + c)
        if not 0 <= number < self.total:
            raise IndexError(f"sample {number} out of range 0..{self.total - 1}")
        src = bisect.bisect_right(starts, number) - 1
        while self.counts[src] == 0:
            src += 1
        return src, number - starts[src]
