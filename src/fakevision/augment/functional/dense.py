"""Dense warps: moving a whole ``Sample`` by a *backward map* (for every output pixel, the source point it shows),
and the exact piecewise-affine warp between two point sets built on it.

Why a map and not a matrix: elastic and grid distortions, thin-plate and piecewise-affine warps have no matrix,
but every one of them is "output pixel (i, j) shows source point B(i, j)", which is one ``cv2.remap`` for the image
and one for every dense annotation. What makes or breaks annotations is the *other* direction: a keypoint or a box
is a source point that must go where its pixels went, i.e. through the inverse of B. Libraries that move points
by the backward map itself (or not at all) put landmarks pixels away from their pixels under any non-rigid warp
(kornia#4420); here the inverse is solved per point.

Conventions (design.md §3). A ``DenseMap`` stores B as an ``out_h x out_w x 2`` float32 array in OpenCV's
*pixel-centre* coordinates, exactly what ``cv2.remap`` takes: ``xy[i, j] = (x - 0.5, y - 0.5)`` where ``(x, y)``
is the corner-convention source point that output pixel centre ``(j + 0.5, i + 0.5)`` shows. Between pixel centres
B is the bilinear interpolation of those samples (beyond them, the border cells continued), so B is defined at every
continuous point and ``remap`` samples it exactly at the centres. Points given to and returned by the functions
here are in the corner convention, like every annotation.

Per annotation kind (``remap_sample``):

- image: bilinear, ``border`` / ``fill`` as the matrix warps (``functional.geometry``);
- masks, label map, depth: nearest neighbour (values copied, never blended), 0 outside the source (no object,
  background, no surface) whatever the image border mode;
- normals: resampled like depth, and ``(nx, ny)`` turned by the orthogonal factor of the polar decomposition of the
  *forward* warp's local Jacobian (``geometry.rotation_part``); the forward Jacobian is the inverse of the backward
  map's, whose orthogonal factor is the transpose of the backward one's, so the vectors are multiplied by
  ``rotation_part(J_B)^T``. ``J_B`` comes from the map by central differences (one-sided at the frame), or exactly
  per triangle for the piecewise-affine warp;
- keypoints: moved by the inverse of B, solved per point: an exact forward map when the warp has one (the
  piecewise-affine and grid warps have one), else Newton's method on the bilinear B to a residual below 1e-4 px
  (``invert_map``: started from ``2p - B(p)``, restarted from the nearest sample of a coarse grid of the map where
  that fails). A point whose image lands outside the output frame, or whose inverse does not exist (a warp that
  folds away from it, Newton not converging), gets visibility 0; every point is kept, so schemas keep their length.
  Point *names* never swap (a dense warp moves each point by itself);
- boxes: where the instance has a mask, the tight box of the moved mask (exact). Without masks: the box around the
  moved outline of the old box, clipped to the frame. For the piecewise-affine warp that is exact: the image of a
  straight edge is a polyline whose vertices are the edge's corners and its crossings with source triangle edges,
  and those are exactly the points moved. Otherwise each edge is sampled every 1/2 px (corners included) and moved
  by the Newton inverse: the moved outline is smooth at the warp's scale, so between samples it bulges by a tiny
  fraction of a pixel at most;
- instances whose box had an area before and has none after (they left the frame) are dropped with their masks,
  keypoints and attributes, as in the matrix warps;
- camera (``extras["camera"]`` of renders): no pinhole camera sees a non-rigidly warped image, so the camera becomes
  that of the least-squares affine fit of the warp (``geometry.warp_camera``), and ``pinhole_error_px`` grows by the
  fit's largest miss over the output (max of ``|M B(q) - q|`` over pixel centres ``q``, the frame's edge and the
  map's kinks, where that difference peaks): reprojecting depth with the new camera is off by
  at most that many output pixels wherever the point lands in the frame (``dense_camera``).

**The piecewise-affine warp** (``PiecewiseAffineWarp``, ``piecewise_affine``): from source points to target points,
Delaunay-triangulated on the *target* points plus points on the frame border (so every output pixel lies in a
triangle; frame point ``(u W_out, v H_out)`` is paired with ``(u W_src, v H_src)``). Inside each target triangle the
warp is the affine map taking the triangle's corners to the source points of the same indices: one backward map,
exact. What depends on the target only is built once: the triangulation, a triangle-id raster of the output, and
each pixel centre's barycentric weights, stored as a sparse ``(pixels x points)`` matrix ``W``; the backward map
for any source point set is then ``W @ src`` (one sparse product), so warping many sources onto one target shape
(morphing k faces onto one sampled shape; an appearance image from the mean shape onto a sampled shape) costs one
product and one remap each. Keypoints that are control points land on their target point *exactly* (copied, not
computed); other points move through the affine map of the source triangle they lie in.

>>> import numpy as np
>>> from fakevision.core import Annotations, Sample
>>> src = np.array([[20.0, 24.0], [44.0, 24.0], [32.0, 44.0]])         # e.g. a face's eyes and mouth
>>> dst = np.array([[18.0, 22.0], [46.0, 26.0], [30.0, 46.0]])         # the shape to warp it onto
>>> face = Sample(np.zeros((64, 64, 3), np.uint8), Annotations(categories=["face"], boxes=[[10, 10, 54, 54]],
...                                                           keypoints=src[None]))
>>> out = piecewise_affine(face, src, dst)                                # a whole Sample ...
>>> out.annotations.keypoints[0].tolist() == dst.tolist()               # control points land exactly
True
>>> warp = PiecewiseAffineWarp(dst, (64, 64))                            # ... or build once per target shape
>>> imgs = [warp.warp(np.full((64, 64, 3), v, np.uint8), src) for v in (0, 255)]   # and warp plain images
>>> imgs[1].shape, int(imgs[1][32, 32, 0])
((64, 64, 3), 255)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import overload

import cv2
import numpy as np

from fakevision.augment.functional.geometry import (
    BORDERS,
    _affine_fit,
    _turned,
    moved_annotations,
    rotation_part,
    tight_boxes,
    warp_camera,
)
from fakevision.core.sample import Annotations, Sample

#: A point is a control point when it is within this distance (px) of one: it is then copied to its target.
CONTROL_POINT_TOL = 1e-9
#: Newton stops when the backward map at the solution is this close (source px) to the point.
NEWTON_TOL = 1e-4
#: Spacing (px) of the samples along a box edge moved by the Newton inverse (boxes without masks).
OUTLINE_SPACING = 0.5

ForwardFn = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
BackwardFn = Callable[[np.ndarray], np.ndarray]
JacobianFn = Callable[[], np.ndarray]
OutlineFn = Callable[[np.ndarray], np.ndarray]


class DenseMap:
    """A dense backward map: output pixel ``(i, j)`` shows source point ``xy[i, j]`` (pixel-centre coordinates,
    see the module docstring), for a source image of ``src_hw``.

    ``forward`` (optional) moves corner-convention source points exactly: ``(N, 2) -> ((N, 2), found)``; without
    it, points are moved by Newton's method on B (``forward_points``). ``backward`` (optional) evaluates the warp's
    own B at corner-convention output points exactly (e.g. piecewise affine with its kinks between pixel centres);
    without it, B is the bilinear interpolation of the map. ``jacobian`` (optional) gives the exact
    backward Jacobian per output pixel, ``(H, W, 2, 2)`` (d source / d output); without it, central differences of
    the map. ``outline`` (optional) gives, for boxes (N x 4), the corner-convention source points whose images
    bound the image of each box (``(N, M, 2)``); without it, the edges sampled every ``OUTLINE_SPACING`` px.
    ``knots`` (optional, K x 2 corner-convention output points): where an exact ``backward`` has its kinks (triangle
    corners, grid lines), so that bounds taken over the map (``dense_camera``) look there too.

    >>> d = DenseMap.from_displacement(np.full((4, 6), 1.5, np.float32), np.zeros((4, 6), np.float32))
    >>> xy, found = d.forward_points(np.array([[3.0, 2.0]]))   # the output shows x + 1.5: points move by -1.5
    >>> xy.round(6).tolist(), found.tolist()
    ([[1.5, 2.0]], [True])
    """

    def __init__(self, xy: np.ndarray, src_hw: tuple[int, int], *, forward: ForwardFn | None = None,
                 backward: BackwardFn | None = None, jacobian: JacobianFn | None = None,
                 outline: OutlineFn | None = None, knots: np.ndarray | None = None) -> None:
        xy = np.asarray(xy)
        if xy.ndim != 3 or xy.shape[2] != 2 or xy.shape[0] == 0 or xy.shape[1] == 0:
            raise ValueError(f"a dense map must be out_h x out_w x 2, got shape {xy.shape}")
        self.xy = np.ascontiguousarray(xy, dtype=np.float32)
        self.src_hw = (int(src_hw[0]), int(src_hw[1]))
        self._forward = forward
        self._backward = backward
        self._jacobian = jacobian
        self._outline = outline
        self.knots = np.zeros((0, 2)) if knots is None else np.asarray(knots, np.float64).reshape(-1, 2)

    # -- constructors -------------------------------------------------------------------------------------------
    @classmethod
    def identity(cls, height: int, width: int) -> DenseMap:
        """The map that shows every pixel where it was."""
        return cls(identity_grid(height, width), (height, width))

    @classmethod
    def from_displacement(cls, dx: np.ndarray, dy: np.ndarray) -> DenseMap:
        """Output pixel ``(i, j)`` shows the source point ``(j + dx[i, j], i + dy[i, j])`` (pixel-centre
        coordinates; same-size images): the form of elastic and grid distortions."""
        dx, dy = np.asarray(dx, np.float32), np.asarray(dy, np.float32)
        if dx.shape != dy.shape or dx.ndim != 2:
            raise ValueError(f"displacements must be two H x W arrays of one shape, got {dx.shape}, {dy.shape}")
        h, w = dx.shape
        xs = dx + np.arange(w, dtype=np.float32)[None, :]
        ys = dy + np.arange(h, dtype=np.float32)[:, None]
        return cls(cv2.merge([xs, ys]), (h, w))

    # -- geometry -------------------------------------------------------------------------------------------------
    @property
    def out_hw(self) -> tuple[int, int]:
        return int(self.xy.shape[0]), int(self.xy.shape[1])

    def backward_points(self, xy: np.ndarray) -> np.ndarray:
        """B at corner-convention output points: the corner-convention source points they show (the warp's own B
        when it has one, else bilinear between pixel centres, the border cells continued beyond them)."""
        if self._backward is not None:
            return self._backward(np.asarray(xy, np.float64).reshape(-1, 2)).reshape(np.shape(xy))
        q = np.asarray(xy, np.float64).reshape(-1, 2) - 0.5
        val, _, _ = _sample_map(self.xy, q[:, 0], q[:, 1])
        return (val + 0.5).reshape(np.shape(xy))

    def forward_points(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Move corner-convention source points to the output: ``(points, found)``; ``found`` is False where no
        inverse was found (the coordinates are then the best estimate)."""
        pts = np.asarray(xy, np.float64).reshape(-1, 2)
        if pts.shape[0] == 0:
            return np.array(xy, np.float64), np.zeros(np.shape(xy)[:-1], bool)
        if self._forward is not None:
            out, found = self._forward(pts)
        else:
            q, found = invert_map(self.xy, pts - 0.5)
            out = q + 0.5
        return out.reshape(np.shape(xy)), found.reshape(np.shape(xy)[:-1])

    def jacobian(self) -> np.ndarray:
        """The backward Jacobian per output pixel, ``(H, W, 2, 2)``: ``[..., r, c] = d src_r / d out_c``."""
        if self._jacobian is not None:
            return self._jacobian()
        m = self.xy
        jac = np.empty((*m.shape[:2], 2, 2))
        for c, axis in ((0, 1), (1, 0)):  # d/dx along columns, d/dy along rows
            if m.shape[axis] > 1:
                jac[..., :, c] = np.gradient(m, axis=axis)
            else:
                jac[..., :, c] = (1.0, 0.0) if c == 0 else (0.0, 1.0)
        return jac

    def box_outline(self, boxes: np.ndarray) -> np.ndarray:
        """Source points (N x M x 2, corner convention) whose images bound the image of each box."""
        if self._outline is not None:
            return self._outline(boxes)
        return sampled_outline(boxes, OUTLINE_SPACING)


def identity_grid(height: int, width: int) -> np.ndarray:
    """``H x W x 2`` float32 pixel-centre coordinates ``(j, i)``: the identity map."""
    xy = np.empty((height, width, 2), np.float32)
    xy[..., 0] = np.arange(width, dtype=np.float32)[None, :]
    xy[..., 1] = np.arange(height, dtype=np.float32)[:, None]
    return xy


def sampled_outline(boxes: np.ndarray, spacing: float) -> np.ndarray:
    """Points along the outline of each box (N x 4 xyxy), corners included, at most ``spacing`` apart:
    ``(N, M, 2)`` (every box gets the same M; smaller boxes are sampled more densely)."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    if boxes.shape[0] == 0:
        return np.zeros((0, 0, 2))
    side = max(float(np.max(boxes[:, 2:] - boxes[:, :2])), 0.0)
    k = max(1, int(np.ceil(side / spacing)))
    t = np.linspace(0.0, 1.0, k + 1)[None, :]
    x0, y0, x1, y1 = (boxes[:, i : i + 1] for i in range(4))
    xs = x0 + (x1 - x0) * t
    ys = y0 + (y1 - y0) * t
    edges = [
        (xs, np.broadcast_to(y0, xs.shape)), (xs, np.broadcast_to(y1, xs.shape)),
        (np.broadcast_to(x0, ys.shape), ys), (np.broadcast_to(x1, ys.shape), ys),
    ]
    return np.concatenate([np.stack([ex, ey], -1) for ex, ey in edges], axis=1)


# -- the inverse of a map, per point ------------------------------------------------------------------------------
def _sample_map(m: np.ndarray, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bilinear B at pixel-centre points (u, v) of the output, and its partial derivatives d/du, d/dv (each N x 2,
    float64 whatever the map's dtype: only the four corners gathered are converted). Outside the span of the pixel
    centres the border cells continue (the cell index is clamped, the fractions are not): exact for an affine map,
    so a point's image just outside the frame is where that warp puts it."""
    h, w = m.shape[:2]
    i0 = np.minimum(np.maximum(np.floor(u), 0), max(w - 2, 0)).astype(np.intp)  # (np.clip is slower on few points)
    j0 = np.minimum(np.maximum(np.floor(v), 0), max(h - 2, 0)).astype(np.intp)
    i1, j1 = np.minimum(i0 + 1, w - 1), np.minimum(j0 + 1, h - 1)
    fu, fv = (u - i0)[:, None], (v - j0)[:, None]
    a, b, c, d = (np.asarray(m[j, i], np.float64) for j, i in ((j0, i0), (j0, i1), (j1, i0), (j1, i1)))
    e = a - b - c + d
    val = a + (b - a) * fu + (c - a) * fv + e * (fu * fv)
    du = (b - a) + e * fv
    dv = (c - a) + e * fu
    if w == 1:
        du[:] = (1.0, 0.0)  # a one-column map: continue it as the identity across
    if h == 1:
        dv[:] = (0.0, 1.0)
    return val, du, dv


def _nearest_sample(m: np.ndarray, targets: np.ndarray, stride: int) -> np.ndarray:
    """For each target, the pixel-centre output point (on a grid of ``stride``) whose map value is nearest."""
    h, w = m.shape[:2]
    o = stride // 2
    sub = np.asarray(m[o::stride, o::stride], np.float64).reshape(-1, 2)
    d2 = ((targets[:, None, :] - sub[None, :, :]) ** 2).sum(-1)
    k = np.argmin(d2, axis=1)
    cols = (w - o + stride - 1) // stride
    return np.stack([o + (k % cols) * stride, o + (k // cols) * stride], -1).astype(np.float64)


def _newton(m: np.ndarray, targets: np.ndarray, q: np.ndarray, iters: int) -> tuple[np.ndarray, np.ndarray]:
    """Newton's method on B(q) = target from ``q``, with step halving where a step makes the residual worse."""
    q = q.copy()
    scale = float(max(m.shape[:2]))
    val, du, dv = _sample_map(m, q[:, 0], q[:, 1])
    r = val - targets
    err = (r * r).sum(1)
    for _ in range(iters):
        todo = np.flatnonzero(err > NEWTON_TOL**2)
        if todo.size == 0:
            break
        a, b, c, d = du[todo, 0], dv[todo, 0], du[todo, 1], dv[todo, 1]  # J = [[a, b], [c, d]]
        det = a * d - b * c
        rx, ry = r[todo, 0], r[todo, 1]
        ok = np.abs(det) > 1e-12
        safe = np.where(ok, det, 1.0)
        step = np.where(ok[:, None], np.stack([(d * rx - b * ry) / safe, (a * ry - c * rx) / safe], -1),
                        np.stack([rx, ry], -1))  # singular Jacobian: a fixed-point step instead
        norm = np.sqrt((step * step).sum(1))
        step *= np.minimum(1.0, scale / np.maximum(norm, 1e-300))[:, None]  # never jump further than the image
        t = np.ones(todo.size)
        for _ in range(6):  # backtracking: halve the step while it makes things worse
            cand = q[todo] - step * t[:, None]
            cv, cdu, cdv = _sample_map(m, cand[:, 0], cand[:, 1])
            cr = cv - targets[todo]
            cerr = (cr * cr).sum(1)
            better = cerr < err[todo]
            idx = todo[better]
            q[idx], r[idx], err[idx], du[idx], dv[idx] = cand[better], cr[better], cerr[better], cdu[better], \
                cdv[better]
            if better.all():
                break
            todo, step, t = todo[~better], step[~better], t[~better] * 0.5
    return q, err <= NEWTON_TOL**2


def invert_map(m: np.ndarray, targets: np.ndarray, iters: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """Solve ``B(q) = target`` per point: ``m`` is an ``H x W x 2`` pixel-centre map, ``targets`` N x 2 pixel-centre
    source points. Returns the pixel-centre output points and whether each converged.

    Start: one fixed-point step from the point itself, ``q = 2 p - B(p)`` (exact for a shift; within a fraction of
    a pixel for the smooth displacements of elastic and grid warps), then a few Newton steps. A point that has not
    converged and sits more than a pixel outside the frame is left there (not found: it is outside whatever its
    exact place; far out, the continued border cells twist and Newton converges slowly, and nobody sees the
    point). The others are retried from the nearest sample of a coarse grid of the map (about 32 x 32 samples, so a
    far or folded map still gives a start within a few pixels), and then from the nearest sample of the full map.
    Where B folds (several solutions) one of them is returned.

    >>> m = identity_grid(8, 8).astype(np.float64); m[..., 0] += 0.25 * np.sin(m[..., 1])
    >>> q, ok = invert_map(m, np.array([[3.0, 4.0]]))
    >>> bool(ok[0]), bool(np.abs(DenseMap(m, (8, 8)).backward_points(q + 0.5) - 0.5 - [3.0, 4.0]).max() < 1e-4)
    (True, True)
    """
    targets = np.asarray(targets, np.float64).reshape(-1, 2)
    h, w = m.shape[:2]
    val, _, _ = _sample_map(m, targets[:, 0], targets[:, 1])
    q, ok = _newton(m, targets, 2.0 * targets - val, 8)
    far = (q[:, 0] < -1.5) | (q[:, 0] > w + 0.5) | (q[:, 1] < -1.5) | (q[:, 1] > h + 0.5)  # > 1 px outside
    for stride in sorted({max(1, min(h, w) // 32), 1}, reverse=True):
        bad = np.flatnonzero(~ok & ~far)
        if not bad.size:
            break
        q2, ok2 = _newton(m, targets[bad], _nearest_sample(m, targets[bad], stride), iters)
        q[bad[ok2]], ok[bad[ok2]] = q2[ok2], True
    return q, ok


# -- moving arrays and annotations ---------------------------------------------------------------------------------
def remap_array(arr: np.ndarray, dmap: DenseMap, *, nearest: bool, border: str = "constant",
                fill: float = 0.0) -> np.ndarray:
    """``cv2.remap`` of an H x W (x C) array through the map; keeps the channel axis."""
    out = cv2.remap(arr, dmap.xy, None, cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR,
                    borderMode=BORDERS[border], borderValue=(fill,) * 4)
    if arr.ndim == 3 and out.ndim == 2:
        out = out[:, :, None]
    return out


def remap_masks(masks: np.ndarray, dmap: DenseMap) -> np.ndarray:
    """N boolean masks through the map with nearest neighbour in one pass (bit-packed, 8 masks per byte)."""
    n = masks.shape[0]
    if n == 0:
        return np.zeros((0, *dmap.out_hw), dtype=bool)
    if n == 1:
        return remap_array(masks[0].view(np.uint8), dmap, nearest=True).view(bool)[None]
    packed = np.ascontiguousarray(np.packbits(masks, axis=0).transpose(1, 2, 0))
    out = remap_array(packed, dmap, nearest=True)
    if out.ndim == 2:
        out = out[:, :, None]
    return np.unpackbits(out, axis=2, count=n).transpose(2, 0, 1).astype(bool)


def _remap_label_map(lm: np.ndarray, dmap: DenseMap) -> np.ndarray:
    if lm.min(initial=0) >= 0 and lm.max(initial=0) < 65536:
        return remap_array(lm.astype(np.uint16), dmap, nearest=True).astype(np.int32)
    halves = np.ascontiguousarray(lm).view(np.uint16).reshape(*lm.shape, 2)  # exact: nearest copies bits
    return np.ascontiguousarray(remap_array(halves, dmap, nearest=True)).view(np.int32).reshape(dmap.out_hw)


def remap_normals(normals: np.ndarray, dmap: DenseMap) -> np.ndarray:
    """An H x W x 3 normal map through the map: nearest resampling (zero outside), then ``(nx, ny)`` turned by
    ``rotation_part(J_B)^T`` per pixel and renormalised (see the module docstring).

    >>> n = np.zeros((1, 3, 3), np.float32); n[..., 0] = 1.0          # every normal points right
    >>> flip = DenseMap(identity_grid(1, 3)[:, ::-1], (1, 3))         # a mirror written as a map
    >>> remap_normals(n, flip)[0, :, 0].tolist()                      # ... so they point left
    [-1.0, -1.0, -1.0]
    """
    moved = remap_array(np.ascontiguousarray(normals, dtype=np.float32), dmap, nearest=True)
    q = rotation_part(dmap.jacobian())
    return _turned(moved, np.swapaxes(q, -1, -2))


def _moved_boxes(boxes: np.ndarray, dmap: DenseMap) -> np.ndarray:
    """Boxes around the moved outline of each box (see the module docstring), clipped to the output frame."""
    out = np.zeros((boxes.shape[0], 4))
    if boxes.shape[0] == 0:
        return out
    pts = dmap.box_outline(boxes)
    moved, found = dmap.forward_points(pts.reshape(-1, 2))
    moved = moved.reshape(pts.shape)
    found = found.reshape(pts.shape[:2])
    h, w = dmap.out_hw
    for i in range(boxes.shape[0]):
        p = moved[i][found[i]]
        if len(p):
            x0, y0 = np.clip(p.min(0), 0, [w, h])
            x1, y1 = np.clip(p.max(0), 0, [w, h])
            out[i] = (x0, y0, max(x0, x1), max(y0, y1))
    return out


def remap_annotations(a: Annotations, dmap: DenseMap) -> Annotations:
    """Move every geometric annotation of ``a`` through the map (see the module docstring for the rules)."""
    out_hw = dmap.out_hw
    masks = None if a.masks is None else remap_masks(a.masks, dmap)
    boxes = tight_boxes(masks) if masks is not None else _moved_boxes(a.boxes, dmap)
    kp = vis = None
    if a.keypoints is not None and a.visibility is not None:
        kp, found = dmap.forward_points(a.keypoints)
        h, w = out_hw
        inside = found & (kp[..., 0] >= 0) & (kp[..., 0] < w) & (kp[..., 1] >= 0) & (kp[..., 1] < h)
        vis = np.where(inside, a.visibility, 0).astype(np.uint8)
    label_map = None if a.label_map is None else _remap_label_map(a.label_map, dmap)
    depth = None if a.depth is None else remap_array(a.depth, dmap, nearest=True)
    normals = None if a.normals is None else remap_normals(a.normals, dmap)
    return moved_annotations(a, boxes, masks, kp, vis, label_map, depth, normals, dense_camera(a.extras, dmap))


def dense_camera(extras: dict, dmap: DenseMap) -> dict:
    """``extras`` with the render camera moved by the affine fit of the map (see the module docstring)."""
    cam = extras.get("camera") if isinstance(extras, dict) else None
    if not isinstance(cam, dict) or "K" not in cam:
        return extras
    h, w = dmap.out_hw
    q = identity_grid(h, w).reshape(-1, 2).astype(np.float64) + 0.5
    src = dmap.xy.reshape(-1, 2).astype(np.float64) + 0.5
    m = _affine_fit(src, q)  # forward: source -> output
    # where |M B(q) - q| peaks: pixel centres (bilinear in between), the frame's edge (the border cells continue
    # linearly up to it), and the map's own kinks (``DenseMap.knots``: triangle corners, grid lines)
    xs, ys = np.concatenate([[0.0], np.arange(w) + 0.5, [w]]), np.concatenate([[0.0], np.arange(h) + 0.5, [h]])
    edge = np.concatenate([np.stack(np.broadcast_arrays(xs[:, None], np.array([0.0, h])), -1).reshape(-1, 2),
                           np.stack(np.broadcast_arrays(np.array([0.0, w]), ys[:, None]), -1).reshape(-1, 2)])
    extra = np.concatenate([edge, dmap.knots]) if len(dmap.knots) else edge
    q = np.concatenate([q, extra])
    src = np.concatenate([src, dmap.backward_points(extra)])
    err = float(np.sqrt(np.max(np.sum((src @ m[:2, :2].T + m[:2, 2] - q) ** 2, axis=1))))
    return warp_camera(extras, m, (h, w), pinhole_error=err)


def remap_sample(sample: Sample, dmap: DenseMap, *, border: str = "constant", fill: float = 0.0) -> Sample:
    """Move a whole sample through the backward map (one interpolation for the image).

    >>> from fakevision.core import Annotations, Sample
    >>> s = Sample(np.zeros((4, 8, 3), np.uint8), Annotations(keypoints=np.zeros((0, 1, 2))))
    >>> shift = DenseMap.from_displacement(np.full((4, 8), -2.0), np.zeros((4, 8)))  # shows x - 2: moves right
    >>> remap_sample(s, shift).image.shape
    (4, 8, 3)
    """
    if (sample.height, sample.width) != dmap.src_hw:
        raise ValueError(f"the map is for a {dmap.src_hw[0]}x{dmap.src_hw[1]} source, the sample is "
                         f"{sample.height}x{sample.width}")
    image = remap_array(sample.image, dmap, nearest=False, border=border, fill=fill)
    return Sample(image, remap_annotations(sample.annotations, dmap), sample.provenance)


# -- the exact piecewise-affine warp ---------------------------------------------------------------------------------
def frame_points(height: float, width: float, per_side: int) -> np.ndarray:
    """Points on the frame border (corner convention): the 4 corners and ``per_side - 1`` more, evenly spaced, on
    each side (``per_side = 0``: none). Ordered round the frame from the top-left corner.

    >>> frame_points(10, 20, 2).tolist()
    [[0.0, 0.0], [10.0, 0.0], [20.0, 0.0], [20.0, 5.0], [20.0, 10.0], [10.0, 10.0], [0.0, 10.0], [0.0, 5.0]]
    """
    if per_side <= 0:
        return np.zeros((0, 2))
    t = np.arange(per_side) / per_side
    top = np.stack([t * width, np.zeros_like(t)], -1)
    right = np.stack([np.full_like(t, width), t * height], -1)
    bottom = np.stack([width - t * width, np.full_like(t, height)], -1)
    left = np.stack([np.zeros_like(t), height - t * height], -1)
    return np.concatenate([top, right, bottom, left])


def barycentric_rows(corners: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per triangle (T x 3 x 2 corners), the 3 x 3 inverse of ``[[x0, x1, x2], [y0, y1, y2], [1, 1, 1]]``, so that
    the barycentric coordinates of a point are ``rows @ (x, y, 1)``, in closed form; and whether each triangle is
    non-degenerate (degenerate ones get zeros).

    Why closed form: scipy's ``Delaunay.transform`` (LAPACK per simplex) took 25 ms to seconds for 142 triangles
    on this shared machine (measured, scipy 1.17), more than the whole rest of a warp.

    >>> barycentric_rows(np.array([[[0.0, 0.0], [2.0, 0.0], [0.0, 2.0]]]))[0][0] @ [1.0, 1.0, 1.0]
    array([0. , 0.5, 0.5])
    """
    x0, y0, x1, y1, x2, y2 = (corners[:, i, j] for i in range(3) for j in range(2))
    det = (y1 - y2) * (x0 - x2) + (x2 - x1) * (y0 - y2)
    good = np.abs(det) > 1e-12
    d = np.where(good, det, 1.0)
    a0, b0 = (y1 - y2) / d, (x2 - x1) / d
    a1, b1 = (y2 - y0) / d, (x0 - x2) / d
    c0, c1 = -(a0 * x2 + b0 * y2), -(a1 * x2 + b1 * y2)
    rows = np.stack([np.stack([a0, b0, c0], -1), np.stack([a1, b1, c1], -1),
                     np.stack([-a0 - a1, -b0 - b1, 1.0 - c0 - c1], -1)], 1)
    rows[~good] = 0.0
    return rows, good


def _deepest(rows: np.ndarray, good: np.ndarray, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For N points, the triangle each lies deepest in (largest smallest barycentric coordinate) and that depth
    (>= 0: inside): ``(t, depth)``."""
    b = np.einsum("tij,nj->nti", rows[:, :, :2], pts) + rows[None, :, :, 2]  # N x T x 3
    depth = b.min(-1)
    depth[:, ~good] = -np.inf
    t = np.argmax(depth, 1)
    return t, depth[np.arange(len(pts)), t]


def _triangle_raster(rows: np.ndarray, corners: np.ndarray, h: int, w: int) -> np.ndarray:
    """``h x w`` int32: the triangle each pixel centre lies in (-1: none). Each triangle tests the pixel centres of
    its bounding box with its barycentric coordinates (``rows``, from ``barycentric_rows``), so the work is the
    triangles' total box area; a centre on a shared edge goes to either triangle (their maps agree there).

    Why not ``Delaunay.find_simplex``: its directed walk took seconds for a 64² grid here (measured, scipy 1.17);
    its brute-force mode is ~20x slower than this at 512²."""
    sid = np.full((h, w), -1, np.int32)
    x0 = np.maximum(0, np.ceil(corners[:, :, 0].min(1) - 0.5 - 1e-7)).astype(np.intp)
    x1 = np.minimum(w - 1, np.floor(corners[:, :, 0].max(1) - 0.5 + 1e-7)).astype(np.intp)
    y0 = np.maximum(0, np.ceil(corners[:, :, 1].min(1) - 0.5 - 1e-7)).astype(np.intp)
    y1 = np.minimum(h - 1, np.floor(corners[:, :, 1].max(1) - 0.5 + 1e-7)).astype(np.intp)
    nx, ny = np.maximum(x1 - x0 + 1, 0), np.maximum(y1 - y0 + 1, 0)
    count = nx * ny
    # every (triangle, pixel of its box) pair at once, in chunks of ~16k pairs (bounded memory on large images):
    # the triangle of each pair, and the pixel's place in the box
    ends = np.cumsum(count)
    start = 0
    while start < len(corners):
        stop = max(start + 1, int(np.searchsorted(ends, (ends[start - 1] if start else 0) + 16384, "right")))
        part = np.arange(start, stop)
        tid = np.repeat(part, count[part])
        k = np.arange(len(tid)) - np.repeat(np.cumsum(count[part]) - count[part], count[part])
        ix = x0[tid] + k % nx[tid]
        iy = y0[tid] + k // nx[tid]
        px, py = ix + 0.5, iy + 0.5
        b0 = rows[tid, 0, 0] * px + rows[tid, 0, 1] * py + rows[tid, 0, 2]
        b1 = rows[tid, 1, 0] * px + rows[tid, 1, 1] * py + rows[tid, 1, 2]
        eps = 1e-9
        inside = (b0 >= -eps) & (b1 >= -eps) & (b0 + b1 <= 1.0 + eps)
        sid[iy[inside], ix[inside]] = tid[inside]
        start = stop
    return sid


def _check_points(pts: np.ndarray, what: str) -> np.ndarray:
    p = np.asarray(pts, np.float64)
    if p.ndim != 2 or p.shape[1] != 2:
        raise ValueError(f"{what} must be N x 2 points, got shape {p.shape}")
    if not np.isfinite(p).all():
        raise ValueError(f"{what} contain NaN or infinite values")
    return p


def _check_triangles(triangles: np.ndarray, points: np.ndarray) -> np.ndarray:
    """A given triangulation as T x 3 indices, checked: indices into ``points``, and no triangle turned over
    against the others (flat ones, e.g. between coinciding points, are allowed: they cover no pixel)."""
    t = np.asarray(triangles)
    if t.ndim != 2 or t.shape[1] != 3 or not np.issubdtype(t.dtype, np.integer) or not len(t):
        raise ValueError(f"triangles must be T x 3 integer indices, got shape {t.shape} ({t.dtype})")
    if t.min() < 0 or t.max() >= len(points):
        raise ValueError(f"triangle indices must be in [0, {len(points)}) (target points, then frame points)")
    c = points[t]
    e1, e2 = c[:, 1] - c[:, 0], c[:, 2] - c[:, 0]
    area = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    big = np.abs(area) > 1e-9
    if (area[big] > 0).any() and (area[big] < 0).any():
        raise ValueError("the given triangles fold at these target points (some are turned over)")
    return t.astype(np.intp)


class PiecewiseAffineWarp:
    """The exact piecewise-affine warp onto one target point set, built once: warp many sources onto it.

    ``dst``: the P target points (corner convention, in the output image of ``out_hw``); ``src_hw``: the size of
    the source images (default ``out_hw``); ``frame``: frame-border points per side (``frame_points``; 0 = none,
    then the target points themselves must surround every pixel centre). See the module docstring.

    Attributes: ``points`` (the target points with the frame points after them), ``triangles`` (T x 3 indices into
    ``points``), ``triangle_id`` (``out_h x out_w`` int32: the triangle each output pixel centre lies in).

    ``triangles``: reuse a triangulation instead of Delaunay's of ``dst`` (indices into the target points followed
    by the ``frame`` points, e.g. ``warp.triangles`` of a warp onto a mean face shape). Why: when many targets
    share one topology — faces warped onto shapes sampled from one shape model — qhull is most of a small warp's
    cost. It must not fold at ``dst`` (no triangle turned over or flat; ``ValueError`` otherwise); it need not be
    Delaunay, and every pixel centre must still lie in a triangle. Frame points are then kept even where one
    coincides with a control point (the indices must stay valid); the triangles between them are flat and skipped.

    ``weights``: keep each pixel centre's barycentric weights as a sparse ``(pixels x points)`` matrix, so a map is
    one sparse product (fastest when many sources are warped onto this target: ``maps``), at ~24 bytes a pixel
    (~6 MB at 512²). ``False`` keeps only ``triangle_id`` (4 bytes a pixel) and builds each map from the triangles'
    affine maps a block of rows at a time (float64, then float32), for holders of many warps, e.g. the
    ``PiecewiseAffine`` op's cache of one warp per image size: a fraction of the memory, and no weights to build.

    >>> w = PiecewiseAffineWarp(np.array([[16.0, 16.0]]), (32, 32))       # one control point, in the middle
    >>> m = w.map(np.array([[12.0, 16.0]]))                               # output (16, 16) shows source (12, 16)
    >>> m.backward_points(np.array([[16.0, 16.0], [0.0, 0.0]])).tolist()   # the frame stays where it is
    [[12.0, 16.0], [0.0, 0.0]]
    """

    def __init__(self, dst: np.ndarray, out_hw: tuple[int, int], src_hw: tuple[int, int] | None = None,
                 frame: int = 2, triangles: np.ndarray | None = None, weights: bool = True) -> None:
        from scipy.sparse import csr_matrix
        from scipy.spatial import Delaunay, QhullError

        dst = _check_points(dst, "target points")
        self.out_hw = (int(out_hw[0]), int(out_hw[1]))
        self.src_hw = self.out_hw if src_hw is None else (int(src_hw[0]), int(src_hw[1]))
        h, w = self.out_hw
        fd = frame_points(h, w, frame)
        fs = frame_points(*self.src_hw, frame)
        if len(fd) and len(dst) and triangles is None:  # a frame point on a control point would duplicate it
            near = (np.abs(fd[:, None, :] - dst[None, :, :]).max(-1) <= 1e-6).any(1)  # the control point wins
            fd, fs = fd[~near], fs[~near]
        self.num_control = len(dst)
        self.points = np.concatenate([dst, fd])
        self._frame_src = fs
        if triangles is not None:  # a triangulation shared by many targets (see the class doc): no Delaunay
            self.triangles = _check_triangles(triangles, self.points)
        else:
            try:
                tri = Delaunay(self.points)
            except (QhullError, ValueError) as e:
                raise ValueError(f"cannot triangulate the target points (fewer than 3, or all on one line): "
                                 f"{str(e).splitlines()[0]}") from None
            self.triangles = tri.simplices.astype(np.intp)
        corners = self.points[self.triangles]  # T x 3 x 2
        self._dst_rows, self._dst_good = barycentric_rows(corners)
        sid = _triangle_raster(self._dst_rows, corners, h, w)
        if (sid < 0).any():
            r, c = np.argwhere(sid < 0)[0]
            raise ValueError(f"output pixel (row {r}, col {c}) lies outside every triangle: with frame=0 the target "
                             "points must surround the whole image")
        self.triangle_id = sid
        self._edges_cache: np.ndarray | None = None
        self._weights = None
        self._tid8: np.ndarray | None = None  # the raster as uint8 (up to 256 triangles), made on first use
        if not weights:
            return
        sid = sid.ravel()
        n = h * w
        px = np.tile(np.arange(w, dtype=np.float64) + 0.5, h)
        py = np.repeat(np.arange(h, dtype=np.float64) + 0.5, w)
        bary = np.empty((n, 3), np.float32)  # float32 weights: the map is float32 anyway, and half the memory
        for k in range(3):
            bary[:, k] = self._dst_rows[sid, k, 0] * px + self._dst_rows[sid, k, 1] * py + self._dst_rows[sid, k, 2]
        self._weights = csr_matrix((bary.ravel(), self.triangles[sid].ravel(), np.arange(0, 3 * n + 1, 3)),
                                   shape=(n, len(self.points)))

    def _all_src(self, src: np.ndarray) -> np.ndarray:
        src = _check_points(src, "source points")
        if len(src) != self.num_control:
            raise ValueError(f"{len(src)} source points for {self.num_control} target points")
        return np.concatenate([src, self._frame_src])

    def map(self, src: np.ndarray) -> DenseMap:
        """The backward map showing source points ``src`` (P x 2, the same order as the targets) at the targets,
        with its exact forward map, exact per-triangle Jacobian and exact box outlines attached."""
        s = self._all_src(src)
        if self._weights is None:
            return self._dense_map(self._map_by_triangles(s), s)
        xy = self._weights @ (s - 0.5).astype(np.float32)  # float32 throughout (the map's own precision)
        return self._dense_map(xy.reshape(*self.out_hw, 2), s)

    def _map_by_triangles(self, s: np.ndarray) -> np.ndarray:
        """The backward map (pixel-centre convention) from each output pixel's triangle's affine map, a block of
        ~16k pixels at a time (bounded temporaries whatever the image size). Computed as identity + displacement,
        so float32 keeps the small displacement terms to ~1e-6 px and the map is as exact as a float32 map can be
        (the sum's rounding, ~3e-5 px at 512); up to 256 triangles the per-pixel coefficients are ``cv2.LUT``
        lookups of the uint8 triangle raster (~2 ms a 512² map, vs ~5 ms for the sparse product)."""
        h, w = self.out_hw
        aff = self._affines(s)  # T x 2 x 3: corner-convention source = A @ (x, y, 1)
        aff[:, :, 2] -= 0.5  # the map is in pixel-centre coordinates
        aff[:, 0, 0] -= 1.0  # ... and minus the identity: the displacement
        aff[:, 1, 1] -= 1.0
        tables = np.zeros((2, 3, max(256, len(aff))), np.float32)
        tables[:, :, : len(aff)] = aff.transpose(1, 2, 0)
        if len(aff) <= 256 and self._tid8 is None:
            self._tid8 = self.triangle_id.astype(np.uint8)
        out = np.empty((h, w, 2), np.float32)
        x = np.arange(w, dtype=np.float32) + 0.5
        rows = max(1, (1 << 14) // w)
        for r0 in range(0, h, rows):
            r1 = min(h, r0 + rows)
            y = np.arange(r0, r1, dtype=np.float32)[:, None] + 0.5
            if len(aff) <= 256:
                t = self._tid8[r0:r1]  # type: ignore[index]
                coef = [[cv2.LUT(t, tables[k, j]).reshape(t.shape) for j in range(3)] for k in range(2)]
            else:
                t = self.triangle_id[r0:r1]
                coef = [[tables[k, j][t] for j in range(3)] for k in range(2)]
            for k, ident in ((0, x), (1, y)):
                a, b, c = coef[k]
                a *= x
                b *= y
                a += b
                a += c
                a += ident
                out[r0:r1, :, k] = a
        return out

    def _dense_map(self, xy: np.ndarray, s: np.ndarray) -> DenseMap:
        return DenseMap(xy, self.src_hw, forward=lambda p: self._forward(s, p), backward=lambda p: self._backward(s, p),
                        jacobian=lambda: self._jacobian(s), outline=lambda b: self._outline(s, b), knots=self.points)

    def maps(self, srcs: np.ndarray) -> list[DenseMap]:
        """``map`` for k source point sets at once (k x P x 2): one sparse product for all of them."""
        srcs = np.asarray(srcs, np.float64)
        alls = [self._all_src(s) for s in srcs]
        if not alls:
            return []
        if self._weights is None:
            return [self._dense_map(self._map_by_triangles(s), s) for s in alls]
        xy = self._weights @ (np.concatenate(alls, 1) - 0.5).astype(np.float32)  # pixels x 2k
        out = []
        for k, s in enumerate(alls):
            m = np.ascontiguousarray(xy[:, 2 * k : 2 * k + 2], dtype=np.float32).reshape(*self.out_hw, 2)
            out.append(self._dense_map(m, s))
        return out

    @overload
    def warp(self, x: Sample, src: np.ndarray, *, border: str = ..., fill: float = ...) -> Sample: ...
    @overload
    def warp(self, x: np.ndarray, src: np.ndarray, *, border: str = ..., fill: float = ...) -> np.ndarray: ...

    def warp(self, x: Sample | np.ndarray, src: np.ndarray, *, border: str = "constant",
             fill: float = 0.0) -> Sample | np.ndarray:
        """Warp a whole ``Sample`` (every annotation moves; see the module docstring) or a plain image array
        (H x W or H x W x C, any dtype ``cv2.remap`` takes; bilinear) whose points ``src`` go to the targets."""
        dmap = self.map(src)
        if isinstance(x, Sample):
            return remap_sample(x, dmap, border=border, fill=fill)
        arr = np.asarray(x)
        if arr.shape[:2] != self.src_hw:
            raise ValueError(f"image is {arr.shape[0]}x{arr.shape[1]}, the warp's source size is "
                             f"{self.src_hw[0]}x{self.src_hw[1]}")
        return remap_array(arr, dmap, nearest=False, border=border, fill=fill)

    # -- exact companions of the map ------------------------------------------------------------------------------
    def _affines(self, s: np.ndarray) -> np.ndarray:
        """T x 2 x 3 backward affine maps (target -> source, corner convention), one per triangle."""
        # the source corners (as columns) times the inverse of the target corners' homogeneous matrix
        return np.einsum("tij,tjk->tik", s[self.triangles].transpose(0, 2, 1), self._dst_rows)

    def _backward(self, s: np.ndarray, pts: np.ndarray) -> np.ndarray:
        """Exact B at output points: the affine map of the target triangle each lies in (outside the frame: the
        nearest triangle's, continued)."""
        t, _ = _deepest(self._dst_rows, self._dst_good, pts)
        aff = self._affines(s)[t]
        return np.einsum("nij,nj->ni", aff[:, :, :2], pts) + aff[:, :, 2]

    def _jacobian(self, s: np.ndarray) -> np.ndarray:
        return self._affines(s)[:, :, :2][self.triangle_id]

    def folded(self, src: np.ndarray) -> np.ndarray:
        """Per triangle, whether the source triangle is flipped (or degenerate) relative to its target triangle:
        where any is, the warp folds — some source pixels are shown twice and others nowhere (``forward_points``
        then reports those as not found). A shape with no fold is one-to-one.

        >>> w = PiecewiseAffineWarp(np.array([[16.0, 16.0]]), (32, 32))
        >>> bool(w.folded(np.array([[17.0, 15.0]])).any()), bool(w.folded(np.array([[40.0, 16.0]])).any())
        (False, True)
        """
        s = self._all_src(src)

        def area2(c: np.ndarray) -> np.ndarray:
            e1, e2 = c[:, 1] - c[:, 0], c[:, 2] - c[:, 0]
            return e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]

        return area2(s[self.triangles]) * np.sign(area2(self.points[self.triangles])) <= 1e-12

    def _forward(self, s: np.ndarray, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Source points -> output: a point equal to a control (or frame) point is copied to its target; others go
        through the affine map of the source triangle they lie deepest in (where source triangles overlap, the warp
        folds and a point has several images: this picks one). A point in no source triangle has no image (a fold
        left it uncovered, or it is outside the source frame): not found, its coordinates continue the nearest
        triangle's map."""
        out = np.empty_like(pts)
        n = len(pts)
        if n == self.num_control and np.array_equal(pts, s[:n]):  # the control points themselves (common call)
            return self.points[:n].copy(), np.ones(n, bool)
        found = np.ones(n, bool)
        eq = (pts[:, None, :] == s[None, :, :]).all(-1)  # N x P, exact: copied, not computed
        is_ctrl = eq.any(1)
        out[is_ctrl] = self.points[np.argmax(eq[is_ctrl], 1)]
        rest = np.flatnonzero(~is_ctrl)
        if rest.size:
            rows, good = barycentric_rows(s[self.triangles])
            t, depth = _deepest(rows, good, pts[rest])
            b = np.einsum("nij,nj->ni", rows[t, :, :2], pts[rest]) + rows[t, :, 2]  # N x 3
            out[rest] = np.einsum("ni,nij->nj", b, self.points[self.triangles[t]])
            found[rest] = depth >= -1e-9
        return out, found

    def _outline(self, s: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """Per box, its corners and the crossings of its edges with the source triangle edges (padded by repeating
        a corner, so every box has the same number of points)."""
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        if self._edges_cache is None:
            edges = np.sort(np.concatenate([self.triangles[:, [0, 1]], self.triangles[:, [1, 2]],
                                            self.triangles[:, [2, 0]]]), axis=1)
            self._edges_cache = np.unique(edges, axis=0)
        a = s[self._edges_cache[:, 0]]  # E source triangle edges a -> a + e
        e = s[self._edges_cache[:, 1]] - a
        out = []
        for x0, y0, x1, y1 in boxes:
            corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
            p = corners[:, None, :]  # 4 box edges p -> p + r
            r = (np.roll(corners, -1, 0) - corners)[:, None, :]
            den = r[..., 0] * e[None, :, 1] - r[..., 1] * e[None, :, 0]  # 4 x E
            ok = np.abs(den) > 1e-12
            den = np.where(ok, den, 1.0)
            ap = a[None] - p
            t = (ap[..., 0] * e[None, :, 1] - ap[..., 1] * e[None, :, 0]) / den  # along the box edge
            u = (ap[..., 0] * r[..., 1] - ap[..., 1] * r[..., 0]) / den  # along the triangle edge
            hit = ok & (t >= 0) & (t <= 1) & (u >= 0) & (u <= 1)
            crossings = (p + t[..., None] * r)[hit]
            out.append(np.concatenate([corners, crossings]))
        m = max(len(o) for o in out)
        return np.stack([np.concatenate([o, np.repeat(o[:1], m - len(o), 0)]) for o in out])


@overload
def piecewise_affine(x: Sample, src: np.ndarray, dst: np.ndarray, out_hw: tuple[int, int] | None = ..., *,
                     frame: int = ..., border: str = ..., fill: float = ...) -> Sample: ...
@overload
def piecewise_affine(x: np.ndarray, src: np.ndarray, dst: np.ndarray, out_hw: tuple[int, int] | None = ..., *,
                     frame: int = ..., border: str = ..., fill: float = ...) -> np.ndarray: ...


def piecewise_affine(x: Sample | np.ndarray, src: np.ndarray, dst: np.ndarray, out_hw: tuple[int, int] | None = None,
                     *, frame: int = 2, border: str = "constant", fill: float = 0.0) -> Sample | np.ndarray:
    """Warp ``x`` (a ``Sample`` or an image array) so that its points ``src`` land on ``dst`` exactly, piecewise
    affinely (Delaunay on ``dst`` plus ``frame`` border points per side). ``out_hw`` defaults to the input's size.
    To warp many sources onto one target, build a ``PiecewiseAffineWarp`` once instead.

    >>> img = np.zeros((32, 32), np.uint8); img[14:18, 6:10] = 255                # a square around (8, 16)
    >>> out = piecewise_affine(img, np.array([[8.0, 16.0]]), np.array([[24.0, 16.0]]))
    >>> int(out[14:18, 18:24].min())    # ... now ends at (24, 16), stretched 3x towards the far frame side
    255
    """
    src_hw = (x.height, x.width) if isinstance(x, Sample) else tuple(np.shape(x)[:2])
    warp = PiecewiseAffineWarp(dst, out_hw or src_hw, src_hw=src_hw, frame=frame)
    return warp.warp(x, src, border=border, fill=fill)
