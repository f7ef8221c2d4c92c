"""Composition: ``Compose`` (a sequence, fusing consecutive geometric ops into one warp), ``OneOf``, ``SomeOf``
and ``ClassConditional`` (a pipeline per class label). Containers are transforms too, so they nest, and their
params nest: ``{"applied": True, "ops": [<params of op 0>, ...]}``.

Why fuse: two warps interpolate twice (softer image, twice the work); multiplying the matrices first gives one
bilinear pass, and the annotations move by the same product. A keypoint that leaves the frame in the middle of a
fused run and comes back gets visibility 0, as it would op by op: the fused warp checks it against the frame after
every op of the run (``Transform.waypoints``), still with one interpolation. Pixels, masks and boxes, though, keep
what comes back (there is one resampling, nothing is cut in between): that is the point of fusing.

Data-dependent parameters (e.g. ``ScaleToObjectSize``) are drawn from the container's *input* sample, since every
op's params are drawn before anything is applied (that is what makes the whole params dict replayable).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from fakevision.augment.base import Params, Transform
from fakevision.augment.functional.geometry import warp_sample
from fakevision.core.sample import Sample


def combined_key(ops: Sequence[Transform]) -> tuple[Any, ...] | None:
    """The warp key of a container: None if no op cares, the shared key, or () when they disagree."""
    keys = {op.warp_key() for op in ops} - {None}
    if () in keys or len(keys) > 1:
        return ()
    return next(iter(keys)) if keys else None


def _geometry_chain(ops: Sequence[Transform], params: Sequence[Params], h: int, w: int):  # noqa: ANN202
    m, hw = np.eye(3), (h, w)
    for op, p in zip(ops, params):
        g = op.geometry(p, hw[0], hw[1])
        if g is None:
            return None
        m, hw = g[0] @ m, g[1]
    return m, hw


def _chain_waypoints(ops: Sequence[Transform], params: Sequence[Params], h: int, w: int
                     ) -> list[tuple[np.ndarray, tuple[int, int]]]:
    out: list[tuple[np.ndarray, tuple[int, int]]] = []
    m, hw = np.eye(3), (h, w)
    for op, p in zip(ops, params):
        steps = op.waypoints(p, hw[0], hw[1])
        if not steps:
            return []
        out += [(sm @ m, shw) for sm, shw in steps]
        m, hw = out[-1]
    return out


class Compose(Transform):
    """Apply ``ops`` in order; runs of consecutive geometric ops (same border handling) become one warp.

    >>> from fakevision.augment import Compose, HorizontalFlip, Rotate, GaussianNoise
    >>> from fakevision.core import Sample
    >>> t = Compose([Rotate(angle=(-10, 10)), HorizontalFlip(p=0.5), GaussianNoise(variance=40)])
    >>> s = Sample(np.full((32, 32, 3), 128, np.uint8))
    >>> params = t.sample_params(np.random.default_rng(1), s)
    >>> a, b = t.apply(s, params), t.apply(s, params)      # replaying stored params gives the same bytes
    >>> bool((a.image == b.image).all()), len(params["ops"])
    (True, 3)
    """

    kind = "container"

    def __init__(self, ops: Sequence[Transform], p: float = 1.0, fuse: bool = True) -> None:
        super().__init__(p)
        self.ops = list(ops)
        for op in self.ops:
            if not isinstance(op, Transform):
                raise TypeError(f"Compose: {op!r} is not a Transform")
        self.fuse = bool(fuse)

    def draw(self, rng: np.random.Generator, sample: Sample) -> Params:
        return {"ops": [op.sample_params(rng, sample) for op in self.ops]}

    def named_params(self, params: Params) -> Params:
        out = super().named_params(params)
        if "ops" in params:
            out["ops"] = [op.named_params(p) for op, p in zip(self.ops, params["ops"])]
        return out

    def geometry(self, params: Params, height: int, width: int):  # noqa: ANN201
        if not params.get("applied", True):
            return np.eye(3), (height, width)
        return _geometry_chain(self.ops, params["ops"], height, width)

    def waypoints(self, params: Params, height: int, width: int) -> list[tuple[np.ndarray, tuple[int, int]]]:
        if not params.get("applied", True):
            return [(np.eye(3), (height, width))]
        return _chain_waypoints(self.ops, params["ops"], height, width)

    def warp_key(self) -> tuple[Any, ...] | None:
        return combined_key(self.ops)

    def apply_applied(self, sample: Sample, params: Params) -> Sample:
        ops, ps = self.ops, params["ops"]
        if not self.fuse:
            for op, p in zip(ops, ps):
                sample = op.apply(sample, p)
            return sample
        i = 0
        while i < len(ops):
            g = ops[i].geometry(ps[i], sample.height, sample.width)
            if g is None:
                sample = ops[i].apply(sample, ps[i])
                i += 1
                continue
            # Extend the run while ops stay geometric and share border handling; skipped ops are transparent,
            # flips (key None) fuse with anything, a key of () never fuses with another applied op.
            m, hw = g
            key: tuple[Any, ...] | None = None
            applied: list[int] = []
            interpolation: str | None = None
            steps = ops[i].waypoints(ps[i], sample.height, sample.width)

            def joins(k: int) -> bool:
                nonlocal key, interpolation
                if not params_applied(ps[k]):
                    return True
                kk = ops[k].warp_key()
                if applied and (kk == () or key == ()):  # noqa: B023 - called in this iteration only
                    return False
                if kk is not None and key is not None and kk != key:
                    return False
                key = kk if kk is not None else key
                applied.append(k)  # noqa: B023 - called in this iteration only
                if getattr(ops[k], "interpolation", None) == "linear":  # a crop/resize op: window fast path allowed
                    interpolation = "linear"
                return True

            joins(i)
            j = i + 1
            while j < len(ops):
                gj = ops[j].geometry(ps[j], hw[0], hw[1])
                if gj is None or not joins(j):
                    break
                steps += [(sm @ m, shw) for sm, shw in ops[j].waypoints(ps[j], hw[0], hw[1])]
                m, hw = gj[0] @ m, gj[1]
                j += 1
            if len(applied) == 1:  # nothing to fuse: the op warps itself, with its own settings
                sample = ops[applied[0]].apply(sample, ps[applied[0]])
            elif applied:
                border, fill = key[:2] if key else ("constant", 0.0)  # only flips: no border is ever sampled
                sample = warp_sample(sample, m, hw, border=border, fill=fill, interpolation=interpolation,
                                     waypoints=steps[:-1])
            i = j
        return sample

    def __repr__(self) -> str:
        return f"Compose({self.ops!r}, p={self.p})"


def params_applied(params: Params) -> bool:
    return bool(params.get("applied", True))


class OneOf(Transform):
    """Apply exactly one of ``ops``, chosen with probabilities proportional to ``weights`` (default equal).

    >>> from fakevision.augment import GaussianBlur, MotionBlur
    >>> from fakevision.core import Sample
    >>> t = OneOf([GaussianBlur(radius=5), MotionBlur(length=9)], weights=[1, 0])
    >>> t.sample_params(np.random.default_rng(0), Sample(np.zeros((8, 8, 3), np.uint8)))["choice"]
    0"""

    kind = "container"

    def __init__(self, ops: Sequence[Transform], weights: Sequence[float] | None = None, p: float = 1.0) -> None:
        super().__init__(p)
        self.ops = list(ops)
        if not self.ops:
            raise ValueError("OneOf needs at least one op")
        w = np.ones(len(self.ops)) if weights is None else np.asarray(weights, dtype=np.float64)
        if w.shape != (len(self.ops),) or np.any(w < 0) or w.sum() <= 0:
            raise ValueError("OneOf: weights must be one non-negative number per op, not all zero")
        self.weights = w / w.sum()

    def draw(self, rng: np.random.Generator, sample: Sample) -> Params:
        i = int(rng.choice(len(self.ops), p=self.weights))
        return {"choice": i, "params": self.ops[i].sample_params(rng, sample)}

    def named_params(self, params: Params) -> Params:
        out = super().named_params(params)
        if "params" in params:
            out["params"] = self.ops[params["choice"]].named_params(params["params"])
        return out

    def geometry(self, params: Params, height: int, width: int):  # noqa: ANN201
        if not params.get("applied", True):
            return np.eye(3), (height, width)
        return self.ops[params["choice"]].geometry(params["params"], height, width)

    def waypoints(self, params: Params, height: int, width: int) -> list[tuple[np.ndarray, tuple[int, int]]]:
        if not params.get("applied", True):
            return [(np.eye(3), (height, width))]
        return self.ops[params["choice"]].waypoints(params["params"], height, width)

    def warp_key(self) -> tuple[Any, ...] | None:
        return combined_key(self.ops)

    def apply_applied(self, sample: Sample, params: Params) -> Sample:
        return self.ops[params["choice"]].apply(sample, params["params"])


class SomeOf(Transform):
    """Apply ``n`` distinct ops out of ``ops`` (``n`` an int or an inclusive [lo, hi] range), in list order, so
    geometric ones chosen next to each other still fuse.

    >>> from fakevision.augment import Contrast, Gamma, GaussianNoise
    >>> from fakevision.core import Sample
    >>> t = SomeOf([Contrast(), Gamma(), GaussianNoise()], n=2)
    >>> len(t.sample_params(np.random.default_rng(0), Sample(np.zeros((8, 8, 3), np.uint8)))["chosen"])
    2"""

    kind = "container"

    def __init__(self, ops: Sequence[Transform], n: int | tuple[int, int] = 1, p: float = 1.0) -> None:
        super().__init__(p)
        self.inner = Compose(ops)
        lo, hi = (n, n) if isinstance(n, int) else (int(n[0]), int(n[1]))
        if not 0 <= lo <= hi <= len(self.inner.ops):
            raise ValueError(f"SomeOf: n must satisfy 0 <= lo <= hi <= {len(self.inner.ops)}, got {n}")
        self.n = (lo, hi)

    @property
    def ops(self) -> list[Transform]:
        return self.inner.ops

    def draw(self, rng: np.random.Generator, sample: Sample) -> Params:
        k = int(rng.integers(self.n[0], self.n[1] + 1))
        chosen = sorted(int(i) for i in rng.choice(len(self.ops), size=k, replace=False))
        ops = [self.ops[i].sample_params(rng, sample) if i in chosen else {"applied": False}
               for i in range(len(self.ops))]
        return {"chosen": chosen, "ops": ops}

    def named_params(self, params: Params) -> Params:
        out = super().named_params(params)
        if "ops" in params:
            out["ops"] = [op.named_params(p) for op, p in zip(self.ops, params["ops"])]
        return out

    def geometry(self, params: Params, height: int, width: int):  # noqa: ANN201
        if not params.get("applied", True):
            return np.eye(3), (height, width)
        return self.inner.geometry({"ops": params["ops"]}, height, width)

    def waypoints(self, params: Params, height: int, width: int) -> list[tuple[np.ndarray, tuple[int, int]]]:
        if not params.get("applied", True):
            return [(np.eye(3), (height, width))]
        return self.inner.waypoints({"ops": params["ops"]}, height, width)

    def warp_key(self) -> tuple[Any, ...] | None:
        return self.inner.warp_key()

    def apply_applied(self, sample: Sample, params: Params) -> Sample:
        return self.inner.apply_applied(sample, {"ops": params["ops"]})


class ClassConditional(Transform):
    """A different pipeline per class label (``sample.annotations.label``); ``default`` for other labels
    (None: leave those samples unchanged). The seed's lesson: the right augmentation depends on the class.

    >>> from fakevision.augment import Contrast
    >>> from fakevision.core import Annotations, Sample
    >>> t = ClassConditional({"iris": Contrast(factor=0.0)})
    >>> s = Sample(np.array([[[0], [200]]], np.uint8), Annotations(label="iris"))
    >>> t(s, np.random.default_rng(0)).image.ravel().tolist()
    [100, 100]"""

    kind = "container"

    def __init__(self, pipelines: Mapping[str, Transform], default: Transform | None = None, p: float = 1.0) -> None:
        super().__init__(p)
        self.pipelines = {str(k): v for k, v in pipelines.items()}
        self.default = default

    def _pick(self, label: str | None) -> Transform | None:
        return self.pipelines.get(str(label), self.default) if label is not None else self.default

    def draw(self, rng: np.random.Generator, sample: Sample) -> Params:
        label = sample.annotations.label
        op = self._pick(label)
        return {"label": label, "params": None if op is None else op.sample_params(rng, sample)}

    def named_params(self, params: Params) -> Params:
        out = super().named_params(params)
        op = self._pick(params["label"]) if "label" in params else None
        if op is not None and params.get("params") is not None:
            out["params"] = op.named_params(params["params"])
        return out

    def geometry(self, params: Params, height: int, width: int):  # noqa: ANN201
        if not params.get("applied", True):
            return np.eye(3), (height, width)
        op = self._pick(params["label"])
        return (np.eye(3), (height, width)) if op is None else op.geometry(params["params"], height, width)

    def waypoints(self, params: Params, height: int, width: int) -> list[tuple[np.ndarray, tuple[int, int]]]:
        op = self._pick(params.get("label")) if params.get("applied", True) else None
        return [(np.eye(3), (height, width))] if op is None else op.waypoints(params["params"], height, width)

    def apply_applied(self, sample: Sample, params: Params) -> Sample:
        op = self._pick(params["label"])
        return sample if op is None else op.apply(sample, params["params"])
