"""Which input sample each output index augments: plain round-robin, "augment every class to N samples", or
"balance classes" (every class to the size of the largest).

Why a plan object: an output index must map to its parent deterministically and cheaply in any worker, with no
state carried between samples, and the CLI needs the resulting ``count`` before anything runs.

Layout in per-class modes: classes in sorted order, class ``k`` owns indices ``[k * N, (k + 1) * N)``. With
``include_originals`` the first ``min(n_k, N)`` slots of a class are its real samples unchanged (so a class ends
with exactly N samples, real ones first), and the remaining slots augment its samples round-robin.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fakevision.core.errors import InputError


@dataclass(frozen=True)
class Slot:
    """Output index -> input index ``parent``; ``original`` means copy the parent unchanged."""

    parent: int
    original: bool


@dataclass(frozen=True)
class ClassPlan:
    """The mapping of output indices to parents.

    >>> p = ClassPlan.build(["b", "a", "a", "a"], per_class=3)
    >>> p.count, [p.slot(i) for i in (0, 3, 4, 5)]
    (6, [Slot(parent=1, original=True), Slot(parent=0, original=True), Slot(parent=0, original=False), \
Slot(parent=0, original=False)])
    >>> ClassPlan.build(["b", "a", "a", "a"], balance=True).count
    6
    """

    members: tuple[tuple[int, ...], ...]  # per class (sorted by name), input indices in input order
    classes: tuple[str, ...]
    per_class: int | None  # None: plain mode
    include_originals: bool
    count: int
    n_inputs: int

    @classmethod
    def build(
        cls,
        labels: Sequence[str | None],
        per_class: int | None = None,
        balance: bool = False,
        include_originals: bool | None = None,
        count: int | None = None,
        ids: Sequence[str] | None = None,
    ) -> ClassPlan:
        """Plan for inputs with these ``labels``. Plain mode (neither ``per_class`` nor ``balance``): ``count``
        outputs (default one per input), parents round-robin; ``include_originals`` (default False) makes the
        first ``len(labels)`` outputs the inputs themselves."""
        n = len(labels)
        if n == 0:
            raise InputError("the input data set is empty: nothing to augment")
        if per_class is not None and balance:
            raise ValueError("give per_class or balance, not both")
        if per_class is None and not balance:
            inc = bool(include_originals)
            total = n if count is None else int(count)
            return cls((tuple(range(n)),), ("",), None, inc, total, n)
        groups: dict[str, list[int]] = {}
        for i, lab in enumerate(labels):
            if lab is None:
                where = ids[i] if ids is not None else f"sample {i}"
                raise InputError("has no class label, which per-class/balance modes need", where)
            groups.setdefault(str(lab), []).append(i)
        names = tuple(sorted(groups))
        per = per_class if per_class is not None else max(len(v) for v in groups.values())
        if per < 1:
            raise ValueError(f"per_class must be >= 1, got {per}")
        inc = True if include_originals is None else bool(include_originals)
        return cls(tuple(tuple(groups[c]) for c in names), names, per, inc, per * len(names), n)

    def slot(self, index: int) -> Slot:
        if not 0 <= index < self.count:
            raise IndexError(f"index {index} outside 0..{self.count - 1}")
        if self.per_class is None:
            if self.include_originals and index < self.n_inputs:
                return Slot(index, True)
            return Slot(index % self.n_inputs, False)
        k, j = divmod(index, self.per_class)
        mem = self.members[k]
        n_orig = min(len(mem), self.per_class) if self.include_originals else 0
        if j < n_orig:
            return Slot(mem[j], True)
        return Slot(mem[(j - n_orig) % len(mem)], False)

    def class_of(self, index: int) -> str:
        """The class name of output ``index`` ('' in plain mode)."""
        return self.classes[0] if self.per_class is None else self.classes[index // self.per_class]
