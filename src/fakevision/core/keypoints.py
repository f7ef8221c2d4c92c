"""Named keypoint schemas and converters between them.

A schema names every point and says which point each one becomes under a horizontal flip (``flip_perm``): the
subject's left eye corner becomes the right one, so after mirroring the pixels the *names* must be swapped too.
Albumentations users lost landmark semantics for years over this (albumentations#840); here it is data.

Shipped: ``ibug68`` (300-W / iBUG 68 points), ``face49`` (the seed's 49 points: 68 without the jaw and the two
inner-mouth corners, as produced by Asthana et al.'s detector), ``face5`` (eye centres, nose tip, mouth corners),
and the anonymous ``genericK`` (K points, no left/right pairs). Names follow the iBUG convention of the *subject's*
left and right: ``right_eye_*`` appears on the image's left.

Schemas are *values*: ``Annotations`` carries the ``KeypointSchema`` itself, files carry its definition
(``to_json``) where it is not a shipped one, and readers rebuild it (``from_json``). There is no registry, so
whether a sample is valid never depends on which modules a process happened to import.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class KeypointSchema:
    """A named set of keypoints.

    ``flip_perm[i]`` is the index that point ``i`` takes after a horizontal flip. ``from_ibug68`` is an optional
    (K x 68) matrix expressing each point as a weighted sum of iBUG-68 points; it drives the converters.

    >>> s = get_schema("face5")
    >>> s.names[s.flip_perm[0]]
    'left_eye_centre'
    """

    name: str
    names: tuple[str, ...]
    flip_perm: tuple[int, ...]
    skeleton: tuple[tuple[int, int], ...] = ()
    from_ibug68: np.ndarray | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        k = len(self.names)
        if sorted(self.flip_perm) != list(range(k)):
            raise ValueError(f"schema {self.name}: flip_perm is not a permutation of {k} points")
        if any(self.flip_perm[self.flip_perm[i]] != i for i in range(k)):
            raise ValueError(f"schema {self.name}: flip_perm must be an involution (flip twice = identity)")
        if self.from_ibug68 is not None and self.from_ibug68.shape != (k, 68):
            raise ValueError(f"schema {self.name}: from_ibug68 must be ({k}, 68)")

    @property
    def num_keypoints(self) -> int:
        return len(self.names)

    @property
    def shipped(self) -> bool:
        """Whether ``schema(name)`` rebuilds this exact schema from its name alone (files then store the name)."""
        try:
            return schema(self.name) == self
        except ValueError:
            return False

    def to_json(self) -> dict[str, Any]:
        """The schema as data: name, point names, flip permutation, 0-based skeleton.

        >>> KeypointSchema.from_json(FACE5.to_json()) == FACE5
        True
        """
        return {"name": self.name, "names": list(self.names), "flip_perm": list(self.flip_perm),
                "skeleton": [list(e) for e in self.skeleton]}

    @classmethod
    def from_json(cls, d: dict[str, Any], name: str | None = None) -> KeypointSchema:
        """Inverse of ``to_json`` (``name`` overrides the stored one); ``ValueError`` on malformed data."""
        try:
            return cls(str(name or d["name"]), tuple(str(n) for n in d["names"]),
                       tuple(int(i) for i in d["flip_perm"]),
                       tuple((int(a), int(b)) for a, b in d.get("skeleton", [])))
        except (KeyError, TypeError) as e:
            raise ValueError(f"malformed keypoint schema definition ({type(e).__name__}: {e})") from None


def _ibug68() -> KeypointSchema:
    names: list[str] = [f"jaw_{i}" for i in range(17)]
    names += [f"right_brow_{i}" for i in range(5)] + [f"left_brow_{i}" for i in range(5)]
    names += [f"nose_bridge_{i}" for i in range(4)] + [f"nose_base_{i}" for i in range(5)]
    names += [f"right_eye_{i}" for i in range(6)] + [f"left_eye_{i}" for i in range(6)]
    names += [f"mouth_outer_{i}" for i in range(12)] + [f"mouth_inner_{i}" for i in range(8)]
    pairs = [(i, 16 - i) for i in range(8)]  # jaw
    pairs += [(17 + i, 26 - i) for i in range(5)]  # brows
    pairs += [(31, 35), (32, 34)]  # nostrils
    pairs += [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]  # eyes
    pairs += [(48, 54), (49, 53), (50, 52), (55, 59), (56, 58)]  # outer lip
    pairs += [(60, 64), (61, 63), (65, 67)]  # inner lip
    perm = list(range(68))
    for a, b in pairs:
        perm[a], perm[b] = b, a
    skeleton: list[tuple[int, int]] = []
    for lo, hi, closed in [(0, 16, False), (17, 21, False), (22, 26, False), (27, 30, False), (31, 35, False),
                           (36, 41, True), (42, 47, True), (48, 59, True), (60, 67, True)]:
        skeleton += [(i, i + 1) for i in range(lo, hi)]
        if closed:
            skeleton.append((hi, lo))
    return KeypointSchema("ibug68", tuple(names), tuple(perm), tuple(skeleton), np.eye(68))


FACE49_FROM_68: tuple[int, ...] = tuple(list(range(17, 60)) + [61, 62, 63, 65, 66, 67])


def _subset(name: str, base: KeypointSchema, idx: tuple[int, ...]) -> KeypointSchema:
    pos = {j: i for i, j in enumerate(idx)}
    perm = tuple(pos[base.flip_perm[j]] for j in idx)
    skel = tuple((pos[a], pos[b]) for a, b in base.skeleton if a in pos and b in pos)
    m = np.zeros((len(idx), 68))
    m[np.arange(len(idx)), list(idx)] = 1.0
    return KeypointSchema(name, tuple(base.names[j] for j in idx), perm, skel, m)


def _face5() -> KeypointSchema:
    m = np.zeros((5, 68))
    m[0, 36:42] = 1 / 6  # subject's right eye centre (image left)
    m[1, 42:48] = 1 / 6
    m[2, 30] = 1.0  # nose tip
    m[3, 48] = 1.0  # right mouth corner
    m[4, 54] = 1.0
    names = ("right_eye_centre", "left_eye_centre", "nose_tip", "right_mouth_corner", "left_mouth_corner")
    return KeypointSchema("face5", names, (1, 0, 2, 4, 3), ((0, 1), (0, 2), (1, 2), (2, 3), (2, 4), (3, 4)), m)


IBUG68 = _ibug68()
FACE49 = _subset("face49", IBUG68, FACE49_FROM_68)
FACE5 = _face5()

SHIPPED: dict[str, KeypointSchema] = {s.name: s for s in (IBUG68, FACE49, FACE5)}


def schema(name: str) -> KeypointSchema:
    """The shipped schema called ``name`` (``ibug68``, ``face49``, ``face5``, ``genericK``); other names raise a
    ValueError listing the shipped ones (a custom schema travels as a ``KeypointSchema`` value, not a name).

    >>> schema("face5").num_keypoints, schema("generic3").names
    (5, ('p0', 'p1', 'p2'))
    """
    if name in SHIPPED:
        return SHIPPED[name]
    m = re.fullmatch(r"generic(\d+)", name)
    if m and int(m.group(1)) > 0:
        return generic_schema(int(m.group(1)))
    raise ValueError(f"unknown keypoint schema {name!r}; shipped: {sorted(SHIPPED)} and genericK (pass a "
                     "KeypointSchema value for any other)")


def get_schema(name_or_schema: str | KeypointSchema) -> KeypointSchema:
    """``name_or_schema`` as a ``KeypointSchema``: a value is returned as is, a name looked up with ``schema``."""
    if isinstance(name_or_schema, KeypointSchema):
        return name_or_schema
    return schema(name_or_schema)


def generic_schema(k: int) -> KeypointSchema:
    """An anonymous schema of ``k`` points with no left/right pairs (flips keep indices)."""
    return KeypointSchema(f"generic{k}", tuple(f"p{i}" for i in range(k)), tuple(range(k)))


def convert_keypoints(
    xy: np.ndarray, visibility: np.ndarray, source: str | KeypointSchema, target: str | KeypointSchema
) -> tuple[np.ndarray, np.ndarray]:
    """Convert keypoints (..., K_src, 2) with visibility (..., K_src) from one schema to another.

    A target point that averages several source points is visible only if all of them are. Raises ValueError when
    the target needs points the source does not have (e.g. 5 -> 68).

    >>> xy68 = np.tile(np.arange(68, dtype=float)[:, None], (1, 2))
    >>> xy5, v5 = convert_keypoints(xy68, np.full(68, 2), "ibug68", "face5")
    >>> xy5[:, 0].tolist(), v5.tolist()
    ([38.5, 44.5, 30.0, 48.0, 54.0], [2, 2, 2, 2, 2])
    """
    src, dst = get_schema(source), get_schema(target)
    if src.from_ibug68 is None or dst.from_ibug68 is None:
        raise ValueError(f"no converter between {source} and {target}")
    # Each source point must be a plain selection of one iBUG point for the inverse to be exact.
    sel = src.from_ibug68
    if not np.all((sel == 0) | (sel == 1)) or not np.all(sel.sum(1) == 1):
        raise ValueError(f"cannot convert {source} -> {target}: the points of {source} are not a subset of ibug68")
    col_of = {int(np.argmax(row)): i for i, row in enumerate(sel)}
    need = np.nonzero(np.any(dst.from_ibug68 != 0, axis=0))[0]
    missing = [int(j) for j in need if int(j) not in col_of]
    if missing:
        raise ValueError(f"cannot convert {source} -> {target}: {target} needs ibug68 points {missing[:5]}...")
    m = np.zeros((dst.num_keypoints, src.num_keypoints))
    for j in need:
        m[:, col_of[int(j)]] = dst.from_ibug68[:, j]
    xy = np.asarray(xy, dtype=np.float64)
    out_xy = np.einsum("ts,...sc->...tc", m, xy)
    vis = np.asarray(visibility)
    used = m != 0
    out_v = np.stack([vis[..., used[t]].min(axis=-1) for t in range(dst.num_keypoints)], axis=-1)
    return out_xy, out_v.astype(np.uint8)
