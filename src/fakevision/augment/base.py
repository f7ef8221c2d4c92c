"""The transform contract, after Kornia and Albumentations: parameters are drawn once, then applied purely.

Why split drawing from applying: the drawn parameters are a plain JSON dict that goes into ``Provenance.params``,
so any augmented sample can be made again from its parent and that dict alone (``apply`` uses no randomness), and
every annotation kind sees exactly the same parameters. Geometric ops additionally describe themselves as a 3x3
matrix in the project's corner-based coordinates (design.md §3), which is what lets ``Compose`` multiply
consecutive geometric ops into a single warp.

A parameter *spec* says how a value is drawn: a number (always that value), a 2-sequence ``[lo, hi]`` (uniform),
or ``{"choices": [...]}`` (one of the listed values, e.g. the seed's blur radii 5/15/30 px).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from fakevision.core.sample import Sample

Params = dict[str, Any]


class Choices(BaseModel):
    """A discrete parameter spec: one of ``choices``, uniformly.

    >>> draw_spec(np.random.default_rng(0), Choices(choices=[5, 15, 30])) in (5, 15, 30)
    True
    """

    model_config = ConfigDict(extra="forbid")

    choices: list[float] = Field(min_length=1)


#: What a recipe may write for a drawn number: fixed, [lo, hi] uniform, or {"choices": [...]}.
Spec = float | tuple[float, float] | Choices


def as_spec(value: Any, name: str, lo: float | None = None, hi: float | None = None) -> Spec:
    """Normalise a user value into a ``Spec`` and check it lies in [lo, hi]; a ValueError names the argument.

    >>> as_spec([1, 2], "scale"), as_spec(3, "radius"), as_spec({"choices": [5, 15]}, "radius")
    ((1.0, 2.0), 3.0, Choices(choices=[5.0, 15.0]))
    """
    if isinstance(value, Choices):
        spec: Spec = value
        vals = list(value.choices)
    elif isinstance(value, dict):
        spec = Choices(**value)
        vals = list(spec.choices)
    elif isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        spec = float(value)
        vals = [spec]
    elif isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2:
        a, b = float(value[0]), float(value[1])
        if a > b:
            raise ValueError(f"{name}: range [{a}, {b}] has lo > hi")
        spec = (a, b)
        vals = [a, b]
    else:
        raise ValueError(f"{name}: expected a number, [lo, hi] or {{'choices': [...]}}, got {value!r}")
    for v in vals:
        if not np.isfinite(v) or (lo is not None and v < lo) or (hi is not None and v > hi):
            raise ValueError(f"{name}: value {v} outside the allowed range [{lo}, {hi}]")
    return spec


def draw_spec(rng: np.random.Generator, spec: Spec) -> float:
    """Draw one value from a spec (a fixed number consumes no randomness)."""
    if isinstance(spec, Choices):
        return float(spec.choices[int(rng.integers(len(spec.choices)))])
    if isinstance(spec, tuple):
        return float(rng.uniform(spec[0], spec[1])) if spec[1] > spec[0] else float(spec[0])
    return float(spec)


class Transform:
    """Base of every augmentation: ``sample_params(rng, sample)`` then pure ``apply(sample, params)``.

    ``p`` is the probability the op is applied; a skipped op's params are ``{"applied": False}`` and its ``apply``
    returns the sample unchanged. Subclasses implement ``draw`` (the random part) and ``apply_applied`` (the pure
    part). ``__call__`` = draw then apply, so any transform is a ``(sample, rng) -> Sample`` callable.

    >>> from fakevision.augment import HorizontalFlip
    >>> from fakevision.core import Sample
    >>> s = Sample(np.arange(6, dtype=np.uint8).reshape(1, 6, 1))
    >>> t = HorizontalFlip(p=1.0)
    >>> params = t.sample_params(np.random.default_rng(0), s)
    >>> t.apply(s, params).image[0, :, 0].tolist()   # the same params always give the same result
    [5, 4, 3, 2, 1, 0]
    """

    #: "geometric" ops move annotations; "photometric" ops never touch them; "container" ops hold other ops.
    kind: ClassVar[str] = "photometric"

    def __init__(self, p: float = 1.0) -> None:
        if not 0.0 <= float(p) <= 1.0:
            raise ValueError(f"{type(self).__name__}: p must be in [0, 1], got {p}")
        self.p = float(p)

    # -- the public contract ------------------------------------------------------------------------------------
    def sample_params(self, rng: np.random.Generator, sample: Sample) -> Params:
        """Draw this op's parameters for ``sample`` (a JSON-serialisable dict stored in provenance)."""
        if self.p < 1.0 and rng.random() >= self.p:
            return {"applied": False}
        return {"applied": True, **self.draw(rng, sample)}

    def apply(self, sample: Sample, params: Params) -> Sample:
        """Apply drawn ``params`` to ``sample``; pure (no randomness, input untouched)."""
        if not params.get("applied", True):
            return sample
        return self.apply_applied(sample, params)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        return self.apply(sample, self.sample_params(rng, sample))

    def named_params(self, params: Params) -> Params:
        """``params`` with the op's name added (``"op"``), containers' inner ops named too: what provenance keeps,
        so a sample's record says which op drew which values (a pipeline's params alone are a list of anonymous
        dicts) and the report plots each op's values on their own. ``apply`` ignores the names.

        >>> from fakevision.augment import Compose, Gamma, HorizontalFlip
        >>> t = Compose([HorizontalFlip(p=0.0), Gamma(gamma=2.0)])
        >>> t.named_params(t.sample_params(np.random.default_rng(0), Sample(np.zeros((2, 2, 3), np.uint8))))
        {'op': 'Compose', 'applied': True, 'ops': [{'op': 'HorizontalFlip', 'applied': False}, {'op': 'Gamma', 'applied': True, 'gamma': 2.0}]}
        """
        return {"op": type(self).__name__, **params}

    # -- for subclasses -------------------------------------------------------------------------------------------
    def draw(self, rng: np.random.Generator, sample: Sample) -> Params:
        return {}

    def apply_applied(self, sample: Sample, params: Params) -> Sample:
        raise NotImplementedError

    def geometry(self, params: Params, height: int, width: int) -> tuple[np.ndarray, tuple[int, int]] | None:
        """(3x3 matrix, (out_h, out_w)) when these params make a pure geometric change, else None.

        A skipped op is the identity, so it does not break a run of fusable geometric ops.
        """
        if not params.get("applied", True):
            return np.eye(3), (height, width)
        return None

    def waypoints(self, params: Params, height: int, width: int) -> list[tuple[np.ndarray, tuple[int, int]]]:
        """The frames this op's geometry passes through: (matrix from its input, frame size) after each step, the
        last being ``geometry`` itself; a container lists its ops' (``Compose`` fusing a run checks keypoint
        visibility in every one of them). Empty when not a pure geometric change."""
        g = self.geometry(params, height, width)
        return [] if g is None else [g]

    def warp_key(self) -> tuple[Any, ...] | None:
        """Ops whose warps can share one interpolation pass have equal keys (same border handling). ``None``:
        fuses with anything (exact pixel permutations such as flips, and ops that never warp); ``()``: never
        fuses with another op (a container whose ops disagree)."""
        return ()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(p={self.p})"


class PhotometricTransform(Transform):
    """An op on pixels only: annotations (masks, boxes, keypoints, depth, normals, labels) are passed through
    untouched.

    Subclasses implement ``apply_image(image, params)`` for uint8 or float32 [0, 1] H x W x C images.
    """

    kind = "photometric"

    def apply_applied(self, sample: Sample, params: Params) -> Sample:
        out = self.apply_image(sample.image, params)
        if out.ndim == 2:
            out = out[:, :, None]
        return Sample(out, sample.annotations, sample.provenance)

    def apply_image(self, image: np.ndarray, params: Params) -> np.ndarray:
        raise NotImplementedError

    def warp_key(self) -> tuple[Any, ...] | None:
        return None
