"""``Sample`` = image + ``Annotations`` + ``Provenance``: the one model every source emits and every writer reads.

Coordinates (one convention inside; I/O converts at the boundary): continuous image coordinates, (0, 0) at the
top-left *corner* of the top-left pixel, so pixel (col i, row j) has its centre at (i + 0.5, j + 0.5); a horizontal
flip maps x -> W - x; a box [x0, y0, x1, y1] covers [x0, x1) x [y0, y1) in the same space, so the tight box of
a mask whose pixels span columns a..b is x0 = a, x1 = b + 1.

Instances are stored column-wise (N boxes, N masks, N keypoint sets) as in Kornia, so a geometric op moves all of
them with one matrix. Validation happens on construction: a bad annotation fails where it was made, not deep
inside a writer later.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fakevision._version import __version__
from fakevision.core.errors import InputError
from fakevision.core.keypoints import KeypointSchema, get_schema

JSONScalar = str | int | float | bool | None

VISIBLE = 2  # COCO: labelled and visible
OCCLUDED = 1  # COCO: labelled, not visible
UNLABELLED = 0  # COCO: not labelled (e.g. left the frame)

#: How far from 1 (a surface) or 0 (no surface) a normal's length may be. Loose enough for float32 rounding and
#: for 16-bit PNG quantisation (about 3e-5 per component), tight enough to catch an unnormalised vector.
NORMAL_TOLERANCE = 1e-3


_PLAIN = frozenset({str, int, float, bool, type(None)})  # exact types: np.float64 subclasses float, for one


def jsonable(obj: Any) -> Any:
    """Turn numpy scalars/arrays and paths (which sources may leave in params/attributes) into plain JSON values.
    (Plain leaves, by far the most common, are recognised by their exact type first: a sample's record has
    thousands of them, mostly the scene in its provenance.)

    >>> jsonable({"a": np.int64(3), "b": (np.zeros(2), Path("x/y"))})
    {'a': 3, 'b': [[0.0, 0.0], 'x/y']}
    """
    if type(obj) in _PLAIN:
        return obj
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return obj.as_posix()
    return obj


class _NotPlain(Exception):
    """Raised by ``_plain_json`` on a value whose ``dataclasses.asdict`` conversion it does not replicate."""


def _plain_json(obj: Any) -> Any:
    """``jsonable(dataclasses.asdict-converted obj)`` for JSON-like data (dicts with plain keys, lists, tuples,
    plain leaves, numpy values, paths): the same result, without ``asdict``'s deep copy of every leaf."""
    if type(obj) in _PLAIN:
        return obj
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if type(k) not in _PLAIN:
                raise _NotPlain
            out[str(k)] = _plain_json(v)
        return out
    if isinstance(obj, list | tuple):
        return [_plain_json(v) for v in obj]
    if isinstance(obj, np.ndarray | np.generic | Path):
        return jsonable(obj)
    raise _NotPlain  # a dataclass, or some other object: let asdict decide


@dataclass
class Provenance:
    """Where a sample came from, enough to make it again.

    ``recipe_hash`` is the sha256 of the canonical recipe; ``params`` the parameters the source drew for this
    sample (JSON-serialisable); ``parents`` the ids of the samples it was made from (augmentation, blending).
    """

    source: str
    sample_id: str
    seed: int | None = None
    index: int | None = None
    recipe_hash: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    parents: list[str] = field(default_factory=list)
    version: str = __version__

    def to_dict(self) -> dict[str, Any]:
        """The provenance as plain JSON values (numpy values and paths converted): the one serialisation every
        writer, manifest and report uses.

        Why not ``jsonable(dataclasses.asdict(self))`` alone: ``asdict`` deep-copies every leaf of ``params`` (a
        render sample's holds its whole scene, thousands of values), which made it the largest cost of writing a
        sample after the image encoders (~1.6 ms a call). JSON-like params are converted directly; anything else
        (a dataclass in params) falls back to that expression, so the result is the same.

        >>> Provenance("render", "s-0", params={"x": np.float32(0.5), "k": np.arange(2)}).to_dict()["params"]
        {'x': 0.5, 'k': [0, 1]}
        """
        try:
            return {f.name: _plain_json(getattr(self, f.name)) for f in dataclasses.fields(self)}
        except _NotPlain:
            return jsonable(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Provenance:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


def _as_float_array(a: Any, shape_tail: tuple[int, ...], what: str) -> np.ndarray:
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim != 1 + len(shape_tail) or arr.shape[1:] != shape_tail:
        raise InputError(f"{what} must have shape (N, {', '.join(map(str, shape_tail))}), got {arr.shape}")
    return arr


def check_normals(normals: Any) -> np.ndarray:
    """``normals`` as an H x W x 3 float32 array of unit-or-zero vectors, or ``InputError`` saying what is wrong
    and where (the first bad pixel, as row/column).

    >>> n = np.zeros((2, 2, 3)); n[0, 0] = [0, 0, -1]
    >>> check_normals(n).dtype.name
    'float32'
    >>> try:
    ...     check_normals(n * 0.5)
    ... except InputError as e:
    ...     print(str(e)[-35:])
    pixel (row 0, col 0) has length 0.5
    """
    arr = np.asarray(normals)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise InputError(f"normals must be H x W x 3, got shape {arr.shape}")
    if arr.dtype.kind not in "fiu":
        raise InputError(f"normals must be numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float32, copy=False)
    if _surely_valid_normals(arr):
        return arr
    sq = np.einsum("ijk,ijk->ij", arr, arr, dtype=np.float64)  # NaN and infinity propagate into it
    if not np.isfinite(sq).all():
        r, c = np.argwhere(~np.isfinite(sq))[0]
        raise InputError(f"normals contain NaN or infinite values: first at pixel (row {r}, col {c})")
    lo, hi = (1.0 - NORMAL_TOLERANCE) ** 2, (1.0 + NORMAL_TOLERANCE) ** 2
    bad = ((sq < lo) | (sq > hi)) & (sq > NORMAL_TOLERANCE**2)
    if bad.any():
        length = np.sqrt(sq)
        r, c = np.argwhere(bad)[0]
        raise InputError(f"normals must be unit vectors (or all zero for no surface): pixel (row {r}, col {c}) "
                         f"has length {length[r, c]:.4g}")
    return arr


# Bands of the fast test (squared lengths): the exact test's bands shrunk by far more than float32 rounding.
_SQ_ZERO = NORMAL_TOLERANCE**2 * (1 - 1e-3)
_SQ_LO, _SQ_HI = (1.0 - NORMAL_TOLERANCE) ** 2 + 1e-5, (1.0 + NORMAL_TOLERANCE) ** 2 - 1e-5
_SQ_MID, _SQ_HALF = np.float32((_SQ_LO + _SQ_HI) / 2), np.float32((_SQ_HI - _SQ_LO) / 2)
_SQ_ZERO_SCALE = np.float32(float(_SQ_HALF) / _SQ_ZERO)
_ONES_1x3 = np.ones((1, 3), np.float32)


def _surely_valid_normals(arr: np.ndarray) -> bool:
    """Whether every pixel of the float32 H x W x 3 ``arr`` certainly passes ``check_normals``'s exact test.

    Why: every rendered sample is validated (``Annotations.__post_init__``), and the exact float64 test cost ~8 %
    of the render source's time at 256² (profiled). This one stays in float32 and in four SIMD passes: squared
    lengths (OpenCV ``multiply`` + ``transform``: the channel sum), then ``min(|sq - mid|, sq * scale) <= half``
    with one reduction, which is "within the unit band, or within the zero band" at once. Its bands are the exact
    ones shrunk by 1e-5 (about 80 float32 ulps at 1; the zero band by 0.1 %), so float32 rounding can never
    accept what the exact test rejects. NaN and infinity propagate into the maximum and fail the test. A False
    only means "not sure": the caller runs the exact float64 test, which finds and names the bad pixel, so the
    errors are unchanged."""
    if arr.size == 0 or not arr.flags.c_contiguous:
        return False
    import cv2  # lazy: only the validation of normals needs OpenCV in core

    sq = cv2.transform(cv2.multiply(arr, arr), _ONES_1x3)  # H x W float32: nx² + ny² + nz²
    m = np.subtract(sq, _SQ_MID)
    np.abs(m, out=m)
    sq *= _SQ_ZERO_SCALE
    np.minimum(m, sq, out=m)
    return bool(m.max() <= _SQ_HALF)  # NaN compares False


@dataclass
class Annotations:
    """Everything known about one image.

    Image level: ``label`` (the class, e.g. ``"female"`` or subject id) and ``attributes`` (age, race, ...).
    Instance level (N instances, N may be 0): ``categories`` (N names), ``boxes`` (N x 4 xyxy float pixels),
    optional ``masks`` (N x H x W bool), optional ``keypoints`` (N x K x 2 float) with ``visibility`` (N x K uint8,
    COCO's 0/1/2) and ``keypoint_schema`` (a ``KeypointSchema`` value; a shipped one may be given by name), ``instance_attributes`` (N dicts). Dense: optional ``label_map``
    (H x W int32 with ``label_names``), optional ``depth`` (H x W float32, metres, 0 = no surface), optional
    ``normals`` (H x W x 3 float32 surface normals, see below). ``extras`` carries source-specific JSON data (camera
    K and pose for renders; ``normals_frame: "camera"`` for renders, which names the frame below).

    **Normals** are unit vectors in the *camera* frame with OpenCV's axes: x right (along image columns), y down
    (along rows), z forward (into the scene), pointing out of the surface, i.e. towards the camera side for a
    visible surface (``n . ray < 0``). That is the frame ``fakevision.render.groundtruth.surface_normals``
    produces. The all-zero vector means "no surface / unknown" (background, or a mesh pixel whose neighbours are
    missing). Validation: every pixel is either of length 1 or of length 0, within ``NORMAL_TOLERANCE``; why so
    strict: a non-unit normal is almost always a bug upstream (an unnormalised sum, a decoded 8-bit map read as
    16-bit), and it would silently bias any shading or angle loss trained on it. Geometric augmentation keeps the
    frame tied to the *image* axes (x along columns, y along rows), so after a warp the normals are those a
    camera seeing the warped image would report (``fakevision.augment.functional.geometry.warp_normals``).

    >>> a = Annotations(categories=["cube"], boxes=[[1, 2, 5, 6]])
    >>> a.num_instances, a.boxes.dtype.name
    (1, 'float64')
    """

    label: str | None = None
    attributes: dict[str, JSONScalar] = field(default_factory=dict)
    categories: list[str] = field(default_factory=list)
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))
    masks: np.ndarray | None = None
    keypoints: np.ndarray | None = None
    visibility: np.ndarray | None = None
    keypoint_schema: KeypointSchema | None = None
    instance_attributes: list[dict[str, Any]] | None = None
    label_map: np.ndarray | None = None
    label_names: dict[int, str] | None = None
    depth: np.ndarray | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    normals: np.ndarray | None = None  # last, so positional construction of the older fields keeps working

    def __post_init__(self) -> None:
        self.categories = [str(c) for c in self.categories]
        n = len(self.categories)
        if self.keypoint_schema is not None and not isinstance(self.keypoint_schema, KeypointSchema):
            try:  # a shipped schema may be given by name; it is stored as the value
                self.keypoint_schema = get_schema(self.keypoint_schema)
            except (ValueError, TypeError) as e:
                raise InputError(str(e)) from None
        self.boxes = _as_float_array(self.boxes, (4,), "boxes")
        if self.boxes.shape[0] != n:
            raise InputError(f"{n} categories but {self.boxes.shape[0]} boxes")
        if not np.all(np.isfinite(self.boxes)):
            raise InputError("boxes contain NaN or infinite values")
        bad = np.nonzero((self.boxes[:, 2] < self.boxes[:, 0]) | (self.boxes[:, 3] < self.boxes[:, 1]))[0]
        if bad.size:
            raise InputError(f"box {int(bad[0])} is not ordered x0<=x1, y0<=y1: {self.boxes[bad[0]].tolist()}")
        if self.masks is not None:
            self.masks = np.asarray(self.masks).astype(bool, copy=False)
            if self.masks.ndim != 3 or self.masks.shape[0] != n:
                raise InputError(f"masks must have shape (N={n}, H, W), got {self.masks.shape}")
        if self.keypoints is not None:
            kp = np.asarray(self.keypoints, dtype=np.float64)
            if kp.ndim != 3 or kp.shape[0] != n or kp.shape[2] != 2:
                raise InputError(f"keypoints must have shape (N={n}, K, 2), got {kp.shape}")
            if not np.all(np.isfinite(kp)):
                raise InputError("keypoints contain NaN or infinite values")
            self.keypoints = kp
            if self.visibility is None:
                self.visibility = np.full(kp.shape[:2], VISIBLE, dtype=np.uint8)
            self.visibility = np.asarray(self.visibility).astype(np.uint8)
            if self.visibility.shape != kp.shape[:2]:
                raise InputError(f"visibility must have shape {kp.shape[:2]}, got {self.visibility.shape}")
            if self.keypoint_schema is not None:
                schema = self.keypoint_schema
                if schema.num_keypoints != kp.shape[1]:
                    raise InputError(
                        f"schema {schema.name} has {schema.num_keypoints} points, keypoints have {kp.shape[1]}"
                    )
        elif self.visibility is not None:
            raise InputError("visibility given without keypoints")
        if self.instance_attributes is not None and len(self.instance_attributes) != n:
            raise InputError(f"{n} instances but {len(self.instance_attributes)} instance_attributes")
        if self.depth is not None:
            self.depth = np.asarray(self.depth, dtype=np.float32)
            if self.depth.ndim != 2:
                raise InputError(f"depth must be H x W, got {self.depth.shape}")
        if self.normals is not None:
            self.normals = check_normals(self.normals)
        if self.label_map is not None:
            self.label_map = np.asarray(self.label_map).astype(np.int32, copy=False)
            if self.label_map.ndim != 2:
                raise InputError(f"label_map must be H x W, got {self.label_map.shape}")

    @property
    def num_instances(self) -> int:
        return len(self.categories)

    def replace(self, **changes: Any) -> Annotations:
        """A copy with some fields replaced (validated again)."""
        return dataclasses.replace(self, **changes)


def boxes_from_masks(masks: np.ndarray) -> np.ndarray:
    """Tight xyxy boxes of N masks (N x H x W) in the corner convention; an empty mask gives [0, 0, 0, 0].

    >>> m = np.zeros((1, 5, 6), bool); m[0, 1:3, 2:5] = True
    >>> boxes_from_masks(m).tolist()
    [[2.0, 1.0, 5.0, 3.0]]
    """
    out = np.zeros((masks.shape[0], 4))
    for i, m in enumerate(masks):
        cols = np.flatnonzero(m.any(axis=0))
        if cols.size == 0:
            continue
        rows = np.flatnonzero(m.any(axis=1))
        out[i] = [cols[0], rows[0], cols[-1] + 1, rows[-1] + 1]
    return out


def boxes_from_keypoints(kp: np.ndarray, vis: np.ndarray, width: float | None = None,
                         height: float | None = None) -> np.ndarray:
    """xyxy boxes around the labelled keypoints of each instance (zeros where none are labelled), clipped to the
    frame when ``width``/``height`` are given.

    Why half a pixel of margin: a point marks a pixel *centre*, and the box convention is pixel coverage, so the box
    of a point at (x, y) is the box of the one-pixel mask around it, [x - 0.5, y - 0.5, x + 0.5, y + 0.5]. A box
    drawn through the extreme points themselves (no margin) puts those points half a pixel outside it in formats
    that store keypoints as pixel indices (COCO: the writer's ``x - 0.5``), which is what the gan_faces box did.

    >>> boxes_from_keypoints(np.array([[[2.5, 1.5], [4.5, 2.5]]]), np.array([[2, 2]])).tolist()
    [[2.0, 1.0, 5.0, 3.0]]
    >>> m = np.zeros((1, 5, 6), bool); m[0, 1:3, 2:5] = True; boxes_from_masks(m).tolist()  # the same pixels
    [[2.0, 1.0, 5.0, 3.0]]
    """
    out = np.zeros((kp.shape[0], 4))
    for i in range(kp.shape[0]):
        pts = kp[i][vis[i] > 0]
        if len(pts):
            out[i] = [pts[:, 0].min() - 0.5, pts[:, 1].min() - 0.5, pts[:, 0].max() + 0.5, pts[:, 1].max() + 0.5]
    if width is not None:
        out[:, 0::2] = out[:, 0::2].clip(0.0, float(width))
    if height is not None:
        out[:, 1::2] = out[:, 1::2].clip(0.0, float(height))
    return out


@dataclass
class Sample:
    """One image with its annotations and provenance.

    The image is H x W x C (C = 1, 3 or 4) uint8, or float32 in [0, 1]; a 2-D image is promoted to H x W x 1.
    Masks, label map, depth and normals must match H x W.

    >>> s = Sample(np.zeros((4, 6, 3), np.uint8), Annotations(label="cat"), Provenance("test", "t-0"))
    >>> s.height, s.width, s.id
    (4, 6, 't-0')
    """

    image: np.ndarray
    annotations: Annotations = field(default_factory=Annotations)
    provenance: Provenance = field(default_factory=lambda: Provenance("unknown", "unknown"))

    def __post_init__(self) -> None:
        img = np.asarray(self.image)
        if img.ndim == 2:
            img = img[:, :, None]
        if img.ndim != 3 or img.shape[2] not in (1, 3, 4) or img.shape[0] == 0 or img.shape[1] == 0:
            raise InputError(f"image must be H x W x C with C in 1/3/4, got shape {img.shape}")
        if img.dtype != np.uint8:
            if img.dtype.kind != "f":
                raise InputError(f"image dtype must be uint8 or float, got {img.dtype}")
            img = img.astype(np.float32, copy=False)
        self.image = img
        h, w = img.shape[:2]
        a = self.annotations
        for name in ("masks", "label_map", "depth"):
            arr = getattr(a, name)
            if arr is not None and tuple(arr.shape[-2:]) != (h, w):
                raise InputError(f"{name} shape {tuple(arr.shape[-2:])} does not match image {h}x{w}")
        if a.normals is not None and a.normals.shape[:2] != (h, w):
            raise InputError(f"normals shape {a.normals.shape[:2]} does not match image {h}x{w}")

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def id(self) -> str:
        return self.provenance.sample_id

    def replace(self, **changes: Any) -> Sample:
        """A copy with some fields replaced (validated again)."""
        return dataclasses.replace(self, **changes)
