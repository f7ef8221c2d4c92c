"""Moving a whole ``Sample`` through one 3x3 matrix: image, masks, label map, depth, normals, keypoints and boxes
together.

Convention (design.md §3): matrices map *continuous corner-based* coordinates, (0, 0) = top-left corner of the
top-left pixel, pixel centres at +0.5. OpenCV's warps address pixel centres at integers, so the matrix handed to
OpenCV is conjugated by a half-pixel shift: ``M_cv = T(-0.5) @ M @ T(+0.5)``. With that, a horizontal flip is
``x -> W - x`` for keypoints and exactly ``cv2.flip`` for pixels.

Per annotation kind:
- image: bilinear; masks, label map, depth: nearest neighbour (values are copied, never blended); outside the
  source image they become 0 (no object, background, no surface) whatever the image border mode is, because a
  reflected object would be an object without an annotation.
- normals (H x W x 3 unit vectors, camera frame tied to the image axes): moved like depth (nearest, 0 outside),
  *and* the vectors turn with the picture: ``(nx, ny)`` is multiplied by the orthogonal factor ``Q`` of the polar
  decomposition of the warp's local 2x2 linear map (``rotation_part``), ``nz`` is kept, and the result is
  renormalised. That is exact for what a camera can do to its own image: a flip (``Q = diag(-1, 1)`` negates nx, a
  mirrored world), an in-plane rotation (a camera roll: ``Q`` is that rotation), zoom and translation (a focal
  length or principal point change: ``Q = I``, vectors unchanged). Shear, anisotropic scale and perspective have
  no camera motion behind them; there it is an *approximation* (the nearest rotation or reflection to the local
  map, per pixel for a perspective matrix), documented rather than hidden.
- keypoints: the same matrix; a point that lands outside [0, W) x [0, H) gets visibility 0 (coordinates are kept),
  and so does one that left the frame of any op of a fused run on the way (``waypoints``).
  When the matrix mirrors (negative determinant, e.g. a horizontal or vertical flip), points are re-indexed with
  the schema's ``flip_perm`` so that ``left_eye_*`` still names the subject's left eye.
- camera (``extras["camera"]`` of rendered samples, ``render.camera.Camera.to_json``): updated so the sample stays a
  valid pinhole camera (``warp_camera``). For an affine ``m`` with linear part ``A``, let ``R`` turn the camera
  about its optical axis by ``Q = rotation_part(A)`` (the same ``Q`` the normals turn by, so normals and camera
  share one frame): ``K' = m K R^T`` and ``world_to_camera' = R world_to_camera``, width and height the output
  size. Depth (z) is unchanged by ``R``. For crops, pads, resizes, flips, rotations and zooms ``K'`` is again upper
  triangular with a positive diagonal; after a mirror ``R`` is a reflection, so the pose has determinant -1 (a
  mirrored world: no rigid camera sees a mirror image, but projection and back-projection stay exact).
- boxes: **where the instance has a mask, the tight box of the moved mask** (exact, stays tight after rotation);
  **without masks, the box around the 4 moved corners**, clipped to the image (it can grow loose under rotation:
  that is all a box alone allows). An instance whose box had an area before and has none after (it left the
  frame) is dropped with its mask, keypoints and attributes.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from fakevision.core.keypoints import KeypointSchema, get_schema
from fakevision.core.sample import Annotations, Sample

BORDERS = {
    "constant": cv2.BORDER_CONSTANT,
    "reflect": cv2.BORDER_REFLECT_101,
    "replicate": cv2.BORDER_REPLICATE,
}

#: Image interpolation of the crop/resize ops (``cv2.resize`` where a warp is an axis-aligned window onto the
#: canvas); nearest-neighbour annotations always use OpenCV's centre-exact nearest rule.
INTERPOLATIONS = {
    "linear": cv2.INTER_LINEAR,
    "area": cv2.INTER_AREA,
    "cubic": cv2.INTER_CUBIC,
    "nearest": cv2.INTER_NEAREST_EXACT,
}


def translation(tx: float, ty: float) -> np.ndarray:
    """3x3 translation matrix."""
    return np.array([[1.0, 0.0, tx], [0.0, 1.0, ty], [0.0, 0.0, 1.0]])


def to_opencv(m: np.ndarray) -> np.ndarray:
    """Corner-convention matrix -> the matrix OpenCV expects (pixel centres at integers).

    >>> flip = np.array([[-1.0, 0, 10], [0, 1, 0], [0, 0, 1]])   # x -> W - x with W = 10
    >>> to_opencv(flip)[0].tolist()                              # column c -> 9 - c, as cv2.flip does
    [-1.0, 0.0, 9.0]
    """
    return translation(-0.5, -0.5) @ m @ translation(0.5, 0.5)


def is_affine(m: np.ndarray) -> bool:
    return bool(abs(m[2, 0]) < 1e-12 and abs(m[2, 1]) < 1e-12 and abs(m[2, 2] - 1.0) < 1e-12)


def transform_points(m: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Apply a 3x3 matrix to (..., 2) points (with the perspective divide).

    >>> transform_points(np.diag([2.0, 3.0, 1.0]), np.array([[1.0, 1.0]])).tolist()
    [[2.0, 3.0]]
    """
    xy = np.asarray(xy, dtype=np.float64)
    out = xy @ m[:2, :2].T + m[:2, 2]
    if not is_affine(m):
        w = xy @ m[2, :2] + m[2, 2]
        out = out / w[..., None]
    return out


def _flip_kind(m: np.ndarray, out_h: int, out_w: int, h: int, w: int) -> int | None:
    """cv2.flip code when ``m`` is exactly the identity (returns 2) or a flip of a same-size image, else None.
    Exact pixel permutations are copied, not interpolated (faster, and bit-exact)."""
    if (out_h, out_w) != (h, w) or m[0, 1] != 0 or m[1, 0] != 0 or m[2, 0] != 0 or m[2, 1] != 0 or m[2, 2] != 1:
        return None
    fx = m[0, 0] == -1 and m[0, 2] == w
    fy = m[1, 1] == -1 and m[1, 2] == h
    keep_x = m[0, 0] == 1 and m[0, 2] == 0
    keep_y = m[1, 1] == 1 and m[1, 2] == 0
    if (fx or keep_x) and (fy or keep_y):
        return {(False, False): 2, (True, False): 1, (False, True): 0, (True, True): -1}[(bool(fx), bool(fy))]
    return None


def source_window(m: np.ndarray, out_hw: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """``(x0, y0, w, h)`` when ``m`` maps the integer source window ``[x0, x0 + w) x [y0, y0 + h)`` exactly onto
    the whole output canvas by an axis-aligned positive scale (a crop, a pad, a resize, or a crop then a resize),
    else None. The window may reach outside the source (padding).

    >>> source_window(np.array([[1.0, 0, -3], [0, 1, -2], [0, 0, 1]]), (4, 5))       # a crop at (3, 2)
    (3, 2, 5, 4)
    >>> source_window(np.array([[2.0, 0, 0], [0, 2, 0], [0, 0, 1]]), (8, 8))          # 4x4 -> 8x8
    (0, 0, 4, 4)
    """
    if m[0, 1] != 0 or m[1, 0] != 0 or m[2, 0] != 0 or m[2, 1] != 0 or m[2, 2] != 1 or m[0, 0] <= 0 or m[1, 1] <= 0:
        return None
    out = []
    for k, size in ((0, out_hw[1]), (1, out_hw[0])):
        start, extent = -m[k, 2] / m[k, k], size / m[k, k]
        rs, re = round(start), round(extent)
        if abs(start - rs) > 1e-9 * max(1.0, abs(start)) or abs(extent - re) > 1e-9 * max(1.0, extent) or re < 1:
            return None
        out += [rs, re]
    return out[0], out[2], out[1], out[3]


def _window(arr: np.ndarray, win: tuple[int, int, int, int], border: int, fill: float) -> np.ndarray:
    """``arr[y0:y0+h, x0:x0+w]``, padded by the border mode where the window leaves the array (an exact copy)."""
    x0, y0, w, h = win
    ah, aw = arr.shape[:2]
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x0 + w, aw), min(y0 + h, ah)
    if cx0 >= cx1 or cy0 >= cy1:
        if border == cv2.BORDER_CONSTANT:  # nothing of the source is seen
            out = np.empty((h, w, *arr.shape[2:]), arr.dtype)
            out[...] = fill if arr.dtype.kind == "f" else np.clip(round(fill), 0, np.iinfo(arr.dtype).max)
            return out
        cx0, cy0 = min(max(x0, 0), aw - 1), min(max(y0, 0), ah - 1)  # pad from the nearest source pixel
        cx1, cy1 = cx0 + 1, cy0 + 1
    core = arr[cy0:cy1, cx0:cx1]
    pads = (cy0 - y0, y0 + h - cy1, cx0 - x0, x0 + w - cx1)
    if not any(pads):
        return core.copy()
    out = cv2.copyMakeBorder(core, *pads, border, value=(fill,) * 4)
    if arr.ndim == 3 and out.ndim == 2:
        out = out[:, :, None]
    if any(p < 0 for p in pads):  # a far window (core clamped to one pixel): cut what it over-reached
        out = out[max(-pads[0], 0):, max(-pads[2], 0):][:h, :w]
    return out


def tight_boxes(masks: np.ndarray) -> np.ndarray:
    """Tight xyxy boxes of N masks in the corner convention (``core.sample.boxes_from_masks``, via OpenCV's
    ``boundingRect``, which is several times faster on large masks); an empty mask gives zeros."""
    out = np.zeros((masks.shape[0], 4))
    for i in range(masks.shape[0]):
        x, y, bw, bh = cv2.boundingRect(np.ascontiguousarray(masks[i]).view(np.uint8))
        if bw and bh:
            out[i] = (x, y, x + bw, y + bh)
    return out


def warp_array(
    arr: np.ndarray,
    m: np.ndarray,
    out_hw: tuple[int, int],
    *,
    nearest: bool,
    border: str = "constant",
    fill: float = 0.0,
    interpolation: str | None = None,
) -> np.ndarray:
    """Warp an H x W (x C) array by the corner-convention matrix ``m`` into ``out_hw``; keeps the channel axis.

    Exact pixel permutations are copies: flips (``cv2.flip``) and integer windows (crops and pads: slicing and
    ``cv2.copyMakeBorder``, the same bytes ``warpAffine`` gives, several times faster). With ``interpolation``
    (the crop/resize ops), an integer window scaled onto the canvas is cut out and ``cv2.resize``d with it
    (nearest: ``INTER_NEAREST_EXACT``, the centre rule ``warpAffine``'s nearest follows too); without it such a
    warp goes through ``warpAffine`` as before, so the bytes of the older ops do not change."""
    out_h, out_w = out_hw
    code = _flip_kind(m, out_h, out_w, arr.shape[0], arr.shape[1])
    if code == 2:
        return arr.copy()
    win = None if code is not None else source_window(m, out_hw)
    if code is not None:
        out = cv2.flip(arr, code)
    elif win is not None and (win[2], win[3]) == (out_w, out_h):
        out = _window(arr, win, BORDERS[border], fill)
    elif win is not None and interpolation is not None:
        cut = _window(arr, win, BORDERS[border], fill)
        flag = cv2.INTER_NEAREST_EXACT if nearest else INTERPOLATIONS[interpolation]
        out = cv2.resize(cut, (out_w, out_h), interpolation=flag)
    else:
        mc = to_opencv(m)
        flags = (cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR) | cv2.WARP_INVERSE_MAP
        inv = np.linalg.inv(mc)
        b = BORDERS[border]
        val = (fill,) * 4
        if is_affine(m):
            out = cv2.warpAffine(arr, inv[:2], (out_w, out_h), flags=flags, borderMode=b, borderValue=val)
        else:
            out = cv2.warpPerspective(arr, inv, (out_w, out_h), flags=flags, borderMode=b, borderValue=val)
    if arr.ndim == 3 and out.ndim == 2:
        out = out[:, :, None]
    return out


def warp_masks(masks: np.ndarray, m: np.ndarray, out_hw: tuple[int, int], interpolation: str | None = None
               ) -> np.ndarray:
    """Warp N boolean masks with nearest neighbour in one pass: bit-packed 8 per byte channel."""
    n = masks.shape[0]
    if n == 0:
        return np.zeros((0, *out_hw), dtype=bool)
    if n == 1:
        out = warp_array(masks[0].view(np.uint8), m, out_hw, nearest=True, interpolation=interpolation)
        return out.view(bool)[None]
    packed = np.ascontiguousarray(np.packbits(masks, axis=0).transpose(1, 2, 0))  # H x W x ceil(N/8)
    out = warp_array(packed, m, out_hw, nearest=True, interpolation=interpolation)
    if out.ndim == 2:
        out = out[:, :, None]
    return np.unpackbits(out, axis=2, count=n).transpose(2, 0, 1).astype(bool)


def _warp_label_map(lm: np.ndarray, m: np.ndarray, out_hw: tuple[int, int], interpolation: str | None = None
                    ) -> np.ndarray:
    if lm.min(initial=0) >= 0 and lm.max(initial=0) < 65536:
        return warp_array(lm.astype(np.uint16), m, out_hw, nearest=True, interpolation=interpolation).astype(np.int32)
    halves = np.ascontiguousarray(lm).view(np.uint16).reshape(*lm.shape, 2)  # exact: nearest copies bits
    out = warp_array(halves, m, out_hw, nearest=True, interpolation=interpolation)
    return np.ascontiguousarray(out).view(np.int32).reshape(out_hw)


def corner_boxes(m: np.ndarray, boxes: np.ndarray, out_hw: tuple[int, int]) -> np.ndarray:
    """Boxes around the 4 moved corners of each box, clipped to the output image."""
    if boxes.shape[0] == 0:
        return boxes.copy()
    x0, y0, x1, y1 = boxes.T
    corners = np.stack([np.stack([x0, y0], -1), np.stack([x1, y0], -1),
                        np.stack([x0, y1], -1), np.stack([x1, y1], -1)], axis=1)
    moved = transform_points(m, corners)
    out = np.concatenate([moved.min(axis=1), moved.max(axis=1)], axis=1)
    out[:, [0, 2]] = np.clip(out[:, [0, 2]], 0, out_hw[1])
    out[:, [1, 3]] = np.clip(out[:, [1, 3]], 0, out_hw[0])
    return out


Waypoints = Sequence[tuple[np.ndarray, tuple[int, int]]]


def _inside(xy: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    return (xy[..., 0] >= 0) & (xy[..., 0] < hw[1]) & (xy[..., 1] >= 0) & (xy[..., 1] < hw[0])


def warp_keypoints(
    kp: np.ndarray, vis: np.ndarray, schema: KeypointSchema | str | None, m: np.ndarray, out_hw: tuple[int, int],
    waypoints: Waypoints = (),
) -> tuple[np.ndarray, np.ndarray]:
    """Move N x K keypoints; visibility 0 outside the frame; mirror -> permute names with ``flip_perm``.

    ``waypoints``: the frames a fused warp passes through, as (matrix from the input, frame size) after each op of
    the run: a point outside any of them left the picture on the way (as it would have op by op), so it gets
    visibility 0 even where the final matrix brings it back.

    >>> out = np.array([[1.0, 0, 10], [0, 1, 0], [0, 0, 1]])                  # 10 px right: out of a 12 px frame
    >>> back = np.linalg.inv(out) @ out                                        # ... and back: the identity
    >>> warp_keypoints(np.array([[[5.0, 1.0]]]), np.array([[2]]), None, back, (4, 12), [(out, (4, 12))])[1]
    array([[0]], dtype=uint8)
    """
    xy = transform_points(m, kp)
    inside = _inside(xy, out_hw)
    for wm, whw in waypoints:
        inside &= _inside(transform_points(wm, kp), whw)
    v = np.where(inside, vis, 0).astype(np.uint8)
    if m[0, 0] * m[1, 1] - m[0, 1] * m[1, 0] < 0 and schema is not None:
        perm = np.asarray(get_schema(schema).flip_perm)
        # Point i moves to slot flip_perm[i]: the subject's left eye, now drawn where the right one was, is
        # still the left eye, and is stored in the left eye's slot.
        new_xy, new_v = np.empty_like(xy), np.empty_like(v)
        new_xy[:, perm] = xy
        new_v[:, perm] = v
        xy, v = new_xy, new_v
    return xy, v


def rotation_part(linear: np.ndarray) -> np.ndarray:
    """The orthogonal factor ``Q`` of the polar decomposition ``A = Q P`` of 2x2 matrices (shape ``(..., 2, 2)``):
    the rotation (det > 0) or reflection (det < 0) nearest to ``A``, in closed form (it maximises ``trace(Q^T A)``,
    the orthogonal Procrustes problem). Entries within 1e-12 of 0 or +-1 are snapped, so flips and quarter turns,
    whose matrices carry ``cos(90 deg) = 6e-17``, move normals exactly.

    >>> rotation_part(np.array([[-1.0, 0.0], [0.0, 1.0]])).tolist()             # horizontal flip
    [[-1.0, 0.0], [0.0, 1.0]]
    >>> rotation_part(np.array([[2.0, 0.0], [0.0, 2.0]])).tolist()              # zoom: no turn
    [[1.0, 0.0], [0.0, 1.0]]
    >>> rotation_part(3 * np.array([[0.6, 0.8], [-0.8, 0.6]])).round(12).tolist()  # scaled rotation
    [[0.6, 0.8], [-0.8, 0.6]]
    """
    a = np.asarray(linear, dtype=np.float64)
    p, q, r, s = a[..., 0, 0], a[..., 0, 1], a[..., 1, 0], a[..., 1, 1]
    reflect = p * s - q * r < 0
    theta = np.where(reflect, np.arctan2(q + r, p - s), np.arctan2(r - q, p + s))
    c, sn = np.cos(theta), np.sin(theta)
    # rotation [[c, -sn], [sn, c]]; reflection [[c, sn], [sn, -c]]
    out = np.stack([np.stack([c, np.where(reflect, sn, -sn)], -1), np.stack([sn, np.where(reflect, -c, c)], -1)], -2)
    out[np.abs(out) < 1e-12] = 0.0
    near_one = np.abs(np.abs(out) - 1.0) < 1e-12
    out[near_one] = np.sign(out[near_one])
    return out


def _local_linear(m: np.ndarray, rows: slice, width: int) -> np.ndarray:
    """The warp's 2x2 Jacobian (up to a positive factor, which ``rotation_part`` ignores) at output pixels
    ``rows`` x ``[0, width)`` of a perspective ``m``, at the source point that lands on each: (rows, width, 2, 2)."""
    yy, xx = np.mgrid[rows, 0:width] + 0.5
    dst = np.stack([xx, yy], -1)
    src = transform_points(np.linalg.inv(m), dst)
    wgt = src @ m[2, :2] + m[2, 2]
    # d/dp of (A p + t) / (g.p + s) = (A - f(p) g^T) / w, with f(p) the output pixel itself
    jac = m[:2, :2][None, None] - dst[..., :, None] * m[2, :2][None, None, None, :]
    return jac * np.sign(wgt)[..., None, None]


_ROWS_PER_CHUNK = 256  # perspective normals are turned in row blocks: bounded memory on large images


def warp_normals(normals: np.ndarray, m: np.ndarray, out_hw: tuple[int, int], interpolation: str | None = None
                 ) -> np.ndarray:
    """Move an H x W x 3 normal map by ``m`` (see the module docstring): nearest resampling, zero outside, then
    ``(nx, ny)`` turned by ``rotation_part`` of the local linear map and the vectors renormalised (zero stays zero).
    A flip or quarter turn is exact: components are only permuted and negated.

    >>> n = np.zeros((1, 2, 3), np.float32); n[0, 0] = [0.6, 0.0, -0.8]
    >>> warp_normals(n, np.array([[-1.0, 0, 2], [0, 1, 0], [0, 0, 1]]), (1, 2))[0].tolist()   # hflip
    [[0.0, 0.0, 0.0], [-0.6000000238418579, 0.0, -0.800000011920929]]
    """
    moved = warp_array(np.ascontiguousarray(normals, dtype=np.float32), m, out_hw, nearest=True,
                       interpolation=interpolation)
    if is_affine(m):
        q = rotation_part(m[:2, :2])
        if np.array_equal(q, np.eye(2)):
            return moved
        if np.all(np.isin(q, (-1.0, 0.0, 1.0))):  # flips, quarter turns: a signed permutation, exact
            out = moved.copy()
            out[..., :2] = (moved[..., :2].astype(np.float64) @ q.T).astype(np.float32)
            return out
        return _turned(moved, q)
    out = np.empty_like(moved)
    for r0 in range(0, out_hw[0], _ROWS_PER_CHUNK):
        rows = slice(r0, min(r0 + _ROWS_PER_CHUNK, out_hw[0]))
        out[rows] = _turned(moved[rows], rotation_part(_local_linear(m, rows, out_hw[1])))
    return out


def _turned(n: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``(nx, ny)`` of ``n`` (... x 3) times ``q`` (2x2, or one per pixel), renormalised: an orthogonal ``q`` keeps
    lengths up to rounding, and renormalising makes them unit in float32 too; zero vectors stay zero."""
    xy = n[..., :2].astype(np.float64)
    xy = xy @ q.T if q.ndim == 2 else np.einsum("...ij,...j->...i", q, xy)
    out = np.concatenate([xy, n[..., 2:].astype(np.float64)], axis=-1)
    norm = np.sqrt(np.einsum("...k,...k->...", out, out))[..., None]
    return np.where(norm > 0.5, out / np.maximum(norm, 1e-12), 0.0).astype(np.float32)


def _affine_fit(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 3x3 affine matrix taking N x 2 points ``src`` nearest to ``dst`` (least squares)."""
    a = np.concatenate([src, np.ones((len(src), 1))], 1)
    sol = np.linalg.lstsq(a, dst, rcond=None)[0]  # 3 x 2
    out = np.eye(3)
    out[:2] = sol.T
    return out


def warp_camera(extras: dict, m: np.ndarray, out_hw: tuple[int, int], in_hw: tuple[int, int] | None = None,
                pinhole_error: float = 0.0) -> dict:
    """``extras`` with its render camera (``extras["camera"]``: K, world_to_camera, width, height) moved by ``m``
    (see the module docstring); other extras and samples without a camera are returned as they are.

    A perspective ``m`` (or a non-rigid warp, ``functional.dense``) has no pinhole camera behind it: the camera
    becomes that of the warp's least-squares affine fit (``m`` sampled over the source frame, ``in_hw``) and
    ``camera["pinhole_error_px"]`` grows by ``pinhole_error`` plus that fit's largest miss, in output pixels: how
    far from the truth reprojecting with this camera can be (an earlier error is carried through the warp, scaled
    by its largest stretch).

    >>> cam = {"K": [[100.0, 0, 32], [0, 100.0, 24], [0, 0, 1]], "world_to_camera": np.eye(4).tolist(),
    ...        "width": 64, "height": 48}
    >>> crop = np.array([[1.0, 0, -10], [0, 1, -4], [0, 0, 1]])                 # a 32 x 24 crop at (10, 4)
    >>> warp_camera({"camera": cam}, crop, (24, 32))["camera"]["K"]
    [[100.0, 0.0, 22.0], [0.0, 100.0, 20.0], [0.0, 0.0, 1.0]]
    """
    cam = extras.get("camera") if isinstance(extras, dict) else None
    if not isinstance(cam, dict) or "K" not in cam:
        return extras
    new = dict(cam)
    m = np.asarray(m, np.float64)
    if not is_affine(m):
        h, w = in_hw if in_hw is not None else (int(cam.get("height", 1)), int(cam.get("width", 1)))
        yy, xx = np.mgrid[0:h:complex(0, 17), 0:w:complex(0, 17)]
        pts = np.stack([xx.ravel(), yy.ravel()], -1)
        moved = transform_points(m, pts)
        m = _affine_fit(pts, moved)
        pinhole_error += float(np.max(np.linalg.norm(transform_points(m, pts) - moved, axis=1)))
    rot = np.eye(3)
    rot[:2, :2] = rotation_part(m[:2, :2])
    new["K"] = np.round(m @ np.asarray(cam["K"], np.float64) @ rot.T, 9).tolist()
    if "world_to_camera" in cam:
        r4 = np.eye(4)
        r4[:3, :3] = rot
        new["world_to_camera"] = np.round(r4 @ np.asarray(cam["world_to_camera"], np.float64), 9).tolist()
    new["height"], new["width"] = int(out_hw[0]), int(out_hw[1])
    if pinhole_error > 0 or "pinhole_error_px" in cam:
        carried = float(cam.get("pinhole_error_px", 0.0)) * float(np.linalg.norm(m[:2, :2], 2))
        new["pinhole_error_px"] = float(np.ceil((carried + pinhole_error) * 1e6) / 1e6)  # rounded up: still a bound
    return {**extras, "camera": new}


def warp_annotations(a: Annotations, m: np.ndarray, in_hw: tuple[int, int], out_hw: tuple[int, int],
                     interpolation: str | None = None, waypoints: Waypoints = ()) -> Annotations:
    """Move every geometric annotation of ``a`` by ``m`` (see the module docstring for the rules)."""
    masks = None if a.masks is None else warp_masks(a.masks, m, out_hw, interpolation)
    if masks is not None:
        boxes = tight_boxes(masks)
    else:
        boxes = corner_boxes(m, a.boxes, out_hw)
    kp = vis = None
    if a.keypoints is not None and a.visibility is not None:
        kp, vis = warp_keypoints(a.keypoints, a.visibility, a.keypoint_schema, m, out_hw, waypoints)
    label_map = None if a.label_map is None else _warp_label_map(a.label_map, m, out_hw, interpolation)
    depth = None if a.depth is None else warp_array(a.depth, m, out_hw, nearest=True, interpolation=interpolation)
    normals = None if a.normals is None else warp_normals(a.normals, m, out_hw, interpolation)
    return moved_annotations(a, boxes, masks, kp, vis, label_map, depth, normals,
                             warp_camera(a.extras, m, out_hw, in_hw))


def moved_annotations(a: Annotations, boxes: np.ndarray, masks: np.ndarray | None, kp: np.ndarray | None,
                      vis: np.ndarray | None, label_map: np.ndarray | None, depth: np.ndarray | None,
                      normals: np.ndarray | None, extras: dict) -> Annotations:
    """``a`` with its geometry replaced by the moved arrays, less the instances the move pushed out of the frame
    (a box that had area and has none now); an instance whose box never had area (a point annotation) stays.
    What every geometric warp — affine (``warp_annotations``) or dense (``dense.remap_annotations``) — ends with.

    >>> a = Annotations(categories=["in", "out"], boxes=[[0, 0, 2, 2], [5, 5, 6, 6]])
    >>> moved_annotations(a, np.array([[1., 1, 3, 3], [4, 4, 4, 4]]), None, None, None, None, None, None,
    ...                   {}).categories
    ['in']
    """
    had_area = (a.boxes[:, 2] > a.boxes[:, 0]) & (a.boxes[:, 3] > a.boxes[:, 1])
    has_area = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    keep = ~had_area | has_area
    categories, inst_attrs = a.categories, a.instance_attributes
    if not keep.all():
        idx = np.flatnonzero(keep)
        boxes = boxes[idx]
        categories = [a.categories[i] for i in idx]
        masks = None if masks is None else masks[idx]
        kp = None if kp is None else kp[idx]
        vis = None if vis is None else vis[idx]
        inst_attrs = None if inst_attrs is None else [inst_attrs[i] for i in idx]
    return Annotations(
        label=a.label, attributes=a.attributes, categories=categories, boxes=boxes, masks=masks,
        keypoints=kp, visibility=vis, keypoint_schema=a.keypoint_schema, instance_attributes=inst_attrs,
        label_map=label_map, label_names=a.label_names, depth=depth, extras=extras, normals=normals,
    )


def warp_sample(
    sample: Sample,
    m: np.ndarray,
    out_hw: tuple[int, int] | None = None,
    *,
    border: str = "constant",
    fill: float = 0.0,
    interpolation: str | None = None,
    waypoints: Waypoints = (),
) -> Sample:
    """Move a whole sample by the corner-convention 3x3 matrix ``m`` (one interpolation for the image).
    ``interpolation`` (``INTERPOLATIONS``): how the crop/resize ops resample a window (see ``warp_array``);
    ``waypoints``: the intermediate frames of a fused run, for keypoint visibility (see ``warp_keypoints``).

    >>> from fakevision.core import Annotations, Sample
    >>> s = Sample(np.zeros((4, 10, 3), np.uint8),
    ...            Annotations(categories=["a"], boxes=[[1, 0, 3, 2]], keypoints=[[[1.5, 0.5]]]))
    >>> f = warp_sample(s, np.array([[-1.0, 0, 10], [0, 1, 0], [0, 0, 1]]))    # horizontal flip
    >>> f.annotations.boxes.tolist(), f.annotations.keypoints.tolist()
    ([[7.0, 0.0, 9.0, 2.0]], [[[8.5, 0.5]]])
    """
    h, w = sample.height, sample.width
    out_hw = (h, w) if out_hw is None else (int(out_hw[0]), int(out_hw[1]))
    m = np.asarray(m, dtype=np.float64)
    image = warp_array(sample.image, m, out_hw, nearest=False, border=border, fill=fill, interpolation=interpolation)
    ann = warp_annotations(sample.annotations, m, (h, w), out_hw, interpolation, waypoints)
    return Sample(image, ann, sample.provenance)
