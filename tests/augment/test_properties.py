"""One property test over every op of the registry (containers included) x every annotation kind.

For each op and drawn params, an independent *reference* of where things go is built from the op's description
alone: its matrix (checked against hand-written formulas in ``test_ops``) or its dense map (checked against its
definition in ``test_dense`` / ``test_nonrigid``), chained through containers by the test itself, not by
``Compose``. Then each annotation kind, carried alone by a sample, must follow that reference after the real
pipeline ran (fusing, windows, remaps, containers and all):

- keypoints: visible ones sit where the reference sends them (<= 1e-6 px through matrices; through dense maps the
  reference's backward map brings them back to their input position within 0.05 px); visibility = was visible and
  stayed inside the frame after every op (and had an image); every point is kept;
- boxes (no masks): contain the reference image of the box outline, clipped; equal to it (0.05 px) for one warp;
- masks: each output pixel holds the input mask at the reference source point (nearest) wherever that point is
  clear of mask edges by the resampling slack; boxes are the tight boxes of the masks;
- label map, depth: the same rule (depth values are copied, never blended);
- normals: unit or zero, zero exactly off-surface, resampled by the same rule; turned by the reference's local
  rotation for one warp (z kept for chains);
- camera K: the world point of any source pixel projects, through the new camera, where the reference sent that
  pixel (exactly for matrices, within the recorded ``pinhole_error_px`` through dense maps).

Instances that leave the frame are dropped by the pipeline; the test checks the reference agrees that they left (no
branch skips the check), and checks the kept ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import pytest

from fakevision.augment import ClassConditional, Compose, OneOf, SomeOf
from fakevision.augment.base import PhotometricTransform, Transform
from fakevision.augment.config import OPS
from fakevision.augment.functional.dense import DenseMap, sampled_outline
from fakevision.augment.functional.geometry import is_affine, rotation_part, transform_points
from fakevision.augment.geometric import GeometricTransform
from fakevision.augment.nonrigid import DenseTransform
from fakevision.core import Annotations, Provenance, Sample, get_schema
from fakevision.core.sample import boxes_from_masks
from tests.augment.helpers import CONTAINERS, GEOMETRIC, NONRIGID, PHOTOMETRIC, random_normals

ALL = {**GEOMETRIC, **NONRIGID, **PHOTOMETRIC, **CONTAINERS}
KINDS = ["keypoints", "boxes", "masks", "label_map", "depth", "normals", "camera"]
SEEDS = range(4)


def test_every_op_of_the_registry_is_on_the_op_axis() -> None:
    assert {name.split(":")[0] for name in ALL} == set(OPS)


# -- the reference: an op's drawn params as a chain of steps, built here from the ops' own descriptions --------------
@dataclass
class Step:
    hw: tuple[int, int]  # frame after the step
    m: np.ndarray | None = None  # a matrix step ...
    dmap: DenseMap | None = None  # ... or a dense step


def steps(op: Transform, params: dict, h: int, w: int) -> list[Step]:
    if not params.get("applied", True) or isinstance(op, PhotometricTransform):
        return []
    if isinstance(op, GeometricTransform):
        return [Step(op.output_size(params, h, w), m=op.matrix(params, h, w))]
    if isinstance(op, DenseTransform):
        return [Step((h, w), dmap=op.dense_map(params, h, w))]
    if isinstance(op, Compose):
        out: list[Step] = []
        for sub, p in zip(op.ops, params["ops"]):
            out += steps(sub, p, *(out[-1].hw if out else (h, w)))
        return out
    if isinstance(op, SomeOf):
        return steps(op.inner, {"ops": params["ops"]}, h, w)
    if isinstance(op, OneOf):
        return steps(op.ops[params["choice"]], params["params"], h, w)
    if isinstance(op, ClassConditional):
        sub = op._pick(params["label"])
        return [] if sub is None else steps(sub, params["params"], h, w)
    raise TypeError(op)


def forward(chain: list[Step], pts: np.ndarray, hw: tuple[int, int], perm: np.ndarray | None = None
            ) -> tuple[np.ndarray, np.ndarray]:
    """Points through the chain, and whether each stayed inside every frame and had an image at every step. With
    ``perm`` (a schema's flip permutation; points N x K x 2), a mirroring matrix step moves point i to slot
    perm[i], as the subject's left eye stays the left eye."""
    ok = np.ones(pts.shape[:-1], bool)
    for st in chain:
        if st.m is not None:
            pts = transform_points(st.m, pts)
            if perm is not None and np.linalg.det(st.m[:2, :2]) < 0:
                new_pts, new_ok = np.empty_like(pts), np.empty_like(ok)
                new_pts[:, perm], new_ok[:, perm] = pts, ok
                pts, ok = new_pts, new_ok
        else:
            pts, found = st.dmap.forward_points(pts)
            ok &= found
        ok &= (pts[..., 0] >= 0) & (pts[..., 0] < st.hw[1]) & (pts[..., 1] >= 0) & (pts[..., 1] < st.hw[0])
    return pts, ok


def backward(chain: list[Step], pts: np.ndarray) -> np.ndarray:
    for st in reversed(chain):
        pts = transform_points(np.linalg.inv(st.m), pts) if st.m is not None else st.dmap.backward_points(pts)
    return pts


def passes(chain: list[Step]) -> list[list[Step]]:
    """The resampling passes the pipeline makes for this chain: consecutive matrix steps are fused (the containers
    here hold ops of one border mode), every dense step is a pass of its own."""
    out: list[list[Step]] = []
    for st in chain:
        if st.m is not None and out and out[-1][-1].m is not None:
            out[-1].append(st)
        else:
            out.append([st])
    return out


def warps(chain: list[Step]) -> int:
    return len(passes(chain))


def on_the_way(chain: list[Step], q: np.ndarray, margin: float) -> tuple[np.ndarray, np.ndarray]:
    """For output points ``q``: whether they were clear (by ``margin``) inside the frame between every two passes,
    and whether they were clearly (by ``margin``) outside one: there the content left the picture on the way, and
    nothing comes back (each pass resamples only what the previous one kept)."""
    inside = np.ones(q.shape[:-1], bool)
    gone = np.zeros(q.shape[:-1], bool)
    ps = passes(chain)
    for k in range(len(ps) - 1, 0, -1):
        q = backward(ps[k], q)
        h, w = ps[k - 1][-1].hw
        x, y = q[..., 0], q[..., 1]
        inside &= (x > margin) & (x < w - margin) & (y > margin) & (y < h - margin)
        gone |= (x < -margin) | (x > w + margin) | (y < -margin) | (y > h + margin)
    return inside, gone


def pixel_centres(hw: tuple[int, int]) -> np.ndarray:
    yy, xx = np.mgrid[0 : hw[0], 0 : hw[1]] + 0.5
    return np.stack([xx, yy], -1)


# -- samples carrying one annotation kind -------------------------------------------------------------------------
def regions(rng: np.random.Generator, h: int, w: int, n: int = 2) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w] + 0.5
    masks = np.zeros((n, h, w), bool)
    for i in range(n):
        cx, cy = rng.uniform(0.3 * w, 0.7 * w), rng.uniform(0.3 * h, 0.7 * h)
        rx, ry = rng.uniform(0.12 * w, 0.3 * w), rng.uniform(0.12 * h, 0.3 * h)
        masks[i] = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1
    return masks


def make_sample(kind: str, seed: int, h: int = 40, w: int = 48) -> Sample:
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    masks = regions(rng, h, w)
    n = len(masks)
    cats = [f"c{i}" for i in range(n)]
    boxes = boxes_from_masks(masks)
    label_map = np.zeros((h, w), np.int32)
    for i in range(n):
        label_map[masks[i]] = i + 1
    a: dict = {"label": "a", "categories": cats, "boxes": boxes}
    if kind == "keypoints":
        kp = np.stack([rng.uniform(-2, w + 2, (n, 68)), rng.uniform(-2, h + 2, (n, 68))], -1)
        vis = rng.choice([0, 1, 2], size=(n, 68), p=[0.1, 0.3, 0.6]).astype(np.uint8)
        inside = (kp[..., 0] >= 0) & (kp[..., 0] < w) & (kp[..., 1] >= 0) & (kp[..., 1] < h)
        a.update(keypoints=kp, visibility=np.where(inside, vis, 0), keypoint_schema="ibug68")
    elif kind == "masks":
        a.update(masks=masks)
    elif kind == "label_map":
        a.update(categories=[], boxes=np.zeros((0, 4)), label_map=label_map,
                 label_names={i: f"r{i}" for i in range(n + 1)})
    elif kind in ("depth", "camera"):
        # piecewise constant (ground at 3 m, objects nearer), so nearest resampling has regions to be checked in
        depth = np.where(label_map > 0, 1.0 + 0.5 * label_map, 3.0).astype(np.float32)
        depth[: h // 5, : w // 4] = 0.0  # no surface in a corner
        a.update(categories=[], boxes=np.zeros((0, 4)), depth=depth)
        if kind == "camera":
            f = rng.uniform(30, 60)
            t = np.eye(4)
            t[:3, 3] = rng.normal(0, 0.3, 3)
            a["extras"] = {"camera": {"K": [[f, 0.0, w / 2], [0.0, f, h / 2], [0.0, 0.0, 1.0]],
                                      "world_to_camera": t.tolist(), "width": w, "height": h}}
    elif kind == "normals":
        per = random_normals(rng, n + 1, 1)[:, 0]  # one normal per region, none on the background
        normals = per[label_map]
        normals[label_map == 0] = 0.0
        a.update(categories=[], boxes=np.zeros((0, 4)), normals=normals, label_map=label_map,
                 label_names={i: f"r{i}" for i in range(n + 1)})
    return Sample(img, Annotations(**a), Provenance("test", f"prop-{seed}"))


def run(name: str, kind: str, seed: int) -> tuple[Sample, Sample, dict, list[Step]]:
    s = make_sample(kind, seed)
    op = ALL[name]()
    params = op.sample_params(np.random.default_rng(seed), s)
    return s, op.apply(s, params), params, steps(op, params, s.height, s.width)


# -- the checks ---------------------------------------------------------------------------------------------------
def clear_of_edges(values: np.ndarray, src: np.ndarray, slack: float) -> np.ndarray:
    """Whether every point within ``slack`` of each source point ``src`` lies in one region of ``values`` (the
    outside of the frame counting as a region of its own): there nearest resampling cannot pick another value."""
    h, w = values.shape[:2]
    r = int(np.ceil(slack)) + 4  # the outside, as far as it matters, is a ring of its own value
    outside = -1e300  # a value no annotation holds
    flat = np.pad(values.reshape(h, w, -1).astype(np.float64), ((r, r), (r, r), (0, 0)), constant_values=outside)
    dist = np.zeros(flat.shape[:2], np.float32)
    for key in np.unique(flat.reshape(-1, flat.shape[2]), axis=0):
        same = np.all(flat == key, axis=2)
        d = cv2.distanceTransform(np.pad(same, 1, constant_values=True).astype(np.uint8), cv2.DIST_L2,
                                  cv2.DIST_MASK_PRECISE)[1:-1, 1:-1]  # the ring's outer edge is no edge
        dist[same] = d[same]
    col = np.clip(np.floor(src[..., 0]).astype(int) + r, 0, w + 2 * r - 1)
    row = np.clip(np.floor(src[..., 1]).astype(int) + r, 0, h + 2 * r - 1)
    return dist[row, col] > slack + 1.5


def nearest_values(values: np.ndarray, src: np.ndarray) -> np.ndarray:
    """``values`` at the source pixel under each point, 0 outside the frame."""
    h, w = values.shape[:2]
    col, row = np.floor(src[..., 0]).astype(int), np.floor(src[..., 1]).astype(int)
    inside = (col >= 0) & (col < w) & (row >= 0) & (row < h)
    out = np.zeros(src.shape[:-1] + values.shape[2:], values.dtype)
    out[inside] = values[row[inside], col[inside]]
    return out


def slack_of(chain: list[Step], out_hw: tuple[int, int]) -> float:
    """How far (input px) the nearest-neighbour choices of several passes can drift from the composed map: half a
    pixel diagonal per pass after the first, stretched by the largest scale of the maps in between."""
    n = warps(chain)
    if n <= 1:
        return 0.0
    q = pixel_centres(out_hw).reshape(-1, 2)[:: max(1, out_hw[0] * out_hw[1] // 400)]
    b0, bx, by = backward(chain, q), backward(chain, q + [0.5, 0]), backward(chain, q + [0, 0.5])
    stretch = max(1.0, float(np.max(np.linalg.norm(np.stack([bx - b0, by - b0]), axis=-1))) * 2)
    return 0.75 * (n - 1) * stretch


def reference_dense(values_in: np.ndarray, chain: list[Step], out_hw: tuple[int, int]
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(the values each output pixel should hold, where that is certain): the input at the reference source point,
    nearest, where that point is clear of value edges and of the frames between passes by the slack; 0 where the
    point left a frame on the way."""
    q = pixel_centres(out_hw)
    slack = slack_of(chain, out_hw)
    src = backward(chain, q)
    inside, gone = on_the_way(chain, q, slack + 1.5)
    want = nearest_values(values_in, src)
    want[gone] = 0
    return want, (clear_of_edges(values_in, src, slack) & inside) | gone


def check_dense(values_in: np.ndarray, values_out: np.ndarray, chain: list[Step]) -> np.ndarray:
    """Nearest-resampling rule for a dense annotation; returns the output-pixel mask where it was checked."""
    out_hw = values_out.shape[:2]
    want, checked = reference_dense(values_in, chain, out_hw)
    bad = checked & np.any((want != values_out).reshape(*out_hw, -1), axis=2)
    assert not bad.any(), f"{bad.sum()} of {checked.sum()} checked pixels differ, first at {np.argwhere(bad)[0]}"
    return checked


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", sorted(ALL))
def test_every_annotation_kind_follows_the_reference(name: str, kind: str, seed: int) -> None:
    s, out, params, chain = run(name, kind, seed)
    a, b = s.annotations, out.annotations
    hw_out = (out.height, out.width)
    assert (chain[-1].hw if chain else (s.height, s.width)) == hw_out
    if not chain:  # photometric, or skipped: every annotation exactly as it was
        assert b is a
        return
    one_warp = warps(chain) == 1
    dense = any(st.dmap is not None for st in chain)

    # instances: kept ones are named by category; dropped ones must have left according to the reference
    kept = [int(c[1:]) for c in b.categories]
    assert kept == sorted(kept) and len(set(kept)) == len(kept)

    if kind == "keypoints":
        perm = np.asarray(get_schema(a.keypoint_schema).flip_perm)
        ref, ok = forward(chain, a.keypoints, (s.height, s.width), perm)
        vis_in = a.visibility.copy()
        for st in chain:  # the input visibility follows the same renaming
            if st.m is not None and np.linalg.det(st.m[:2, :2]) < 0:
                vis_in[:, perm] = vis_in.copy()
        for j, i in enumerate(kept):
            vis_want = np.where(ok[i], vis_in[i], 0)
            np.testing.assert_array_equal(b.visibility[j], vis_want)
            assert b.keypoints[j].shape == a.keypoints[i].shape  # every point kept
            if dense:  # the reference's backward map takes each visible point back where it started
                back = backward(chain, b.keypoints[j][vis_want > 0])
                start = a.keypoints[i].copy()
                for st in chain:
                    if st.m is not None and np.linalg.det(st.m[:2, :2]) < 0:
                        start[perm] = start.copy()
                np.testing.assert_allclose(back, start[vis_want > 0], atol=0.05)
            else:
                np.testing.assert_allclose(b.keypoints[j], ref[i], atol=1e-6)
    if kind in ("keypoints", "boxes"):  # boxes move by their outline (no masks in these samples)
        outline = sampled_outline(a.boxes, 0.25)
        moved, found = forward(chain, outline, (s.height, s.width))
        ref_boxes = np.zeros((len(a.boxes), 4))
        for i in range(len(a.boxes)):
            p = moved[i][np.isfinite(moved[i]).all(1)]
            ref_boxes[i] = np.concatenate([p.min(0), p.max(0)]).clip(0, [hw_out[1], hw_out[0]] * 2)
        area = (ref_boxes[:, 2] - ref_boxes[:, 0]) * (ref_boxes[:, 3] - ref_boxes[:, 1])
        for i in range(len(a.boxes)):
            if i not in kept:
                assert area[i] < 0.5 or not one_warp, f"instance {i} dropped but its box is {ref_boxes[i]}"
        for j, i in enumerate(kept):
            got = b.boxes[j]
            if one_warp:
                np.testing.assert_allclose(got, ref_boxes[i], atol=0.05)
            else:  # per-pass clipping and re-boxing can only make a box looser, never lose what it holds
                assert np.all(got[:2] <= ref_boxes[i][:2] + 0.05) and np.all(got[2:] >= ref_boxes[i][2:] - 0.05)
    if kind == "masks":
        np.testing.assert_array_equal(b.boxes, boxes_from_masks(b.masks))
        want, checked = reference_dense(np.moveaxis(a.masks, 0, -1).astype(np.uint8), chain, hw_out)
        for i in range(len(a.masks)):
            if i not in kept:  # dropped: the reference shows no certain pixel of it
                assert not np.any(checked & (want[..., i] > 0)), f"instance {i} dropped but still in the frame"
        for j, i in enumerate(kept):
            bad = checked & (want[..., i].astype(bool) != b.masks[j])
            assert not bad.any(), f"mask {i}: {bad.sum()} checked pixels differ"
    if kind == "label_map":
        checked = check_dense(a.label_map, b.label_map, chain)
        assert checked.mean() > (0.2 if one_warp else 0.05), "the check must have pixels to check"
    if kind == "depth":
        check_dense(a.depth, b.depth, chain)
        assert set(np.unique(b.depth)) <= set(np.unique(a.depth)) | {0.0}  # copied, never blended
    if kind == "normals":
        length = np.linalg.norm(b.normals, axis=2)
        assert np.all((np.abs(length - 1) < 1e-5) | (length == 0))
        np.testing.assert_array_equal(length > 0, b.label_map > 0)
        _, checked = reference_dense(a.label_map, chain, hw_out)
        want, _ = reference_dense(a.normals, chain, hw_out)
        on = checked & (b.label_map > 0)
        np.testing.assert_allclose(b.normals[on][:, 2], want[on][:, 2], atol=1e-6)  # z never turns
        if one_warp and len(chain) == 1:
            st = chain[0]
            if st.m is not None and is_affine(st.m):
                q = np.broadcast_to(rotation_part(st.m[:2, :2]), (*hw_out, 2, 2))
            else:  # the forward Jacobian's rotation = transpose of the backward Jacobian's (finite differences)
                c = pixel_centres(hw_out)
                jb = np.stack([backward(chain, c + [0.25, 0]) - backward(chain, c - [0.25, 0]),
                               backward(chain, c + [0, 0.25]) - backward(chain, c - [0, 0.25])], -1) * 2
                q = np.swapaxes(rotation_part(jb), -1, -2)
            xy = np.einsum("...ij,...j->...i", q, want[..., :2])
            turned = np.concatenate([xy, want[..., 2:]], -1)
            turned /= np.maximum(np.linalg.norm(turned, axis=-1, keepdims=True), 1e-12)
            close = np.linalg.norm(b.normals - turned, axis=-1) < (1e-5 if st.m is not None else 0.05)
            assert close[on].mean() > (0.999 if st.m is not None else 0.9)
    if kind == "camera":
        c0, c1 = a.extras["camera"], b.extras["camera"]
        assert (c1["height"], c1["width"]) == hw_out
        yy, xx = np.mgrid[0 : s.height : 3, 0 : s.width : 3] + 0.5
        p = np.stack([xx.ravel(), yy.ravel()], -1)
        d = a.depth[yy.astype(int).ravel(), xx.astype(int).ravel()]
        p, d = p[d > 0], d[d > 0]
        k0, t0 = np.asarray(c0["K"]), np.asarray(c0["world_to_camera"])
        cam = (np.concatenate([p, np.ones((len(p), 1))], 1) @ np.linalg.inv(k0).T) * d[:, None]
        world = (cam - t0[:3, 3]) @ np.linalg.inv(t0[:3, :3]).T
        k1, t1 = np.asarray(c1["K"]), np.asarray(c1["world_to_camera"])
        cam1 = world @ t1[:3, :3].T + t1[:3, 3]
        np.testing.assert_allclose(cam1[:, 2], d, rtol=1e-6)  # depth is z in the new camera too
        uv = (cam1 @ k1.T)[:, :2] / cam1[:, 2:]
        ref, ok = forward(chain, p, (s.height, s.width))  # the bound holds over the frame: points that stayed in it
        tol = 1e-5 + c1.get("pinhole_error_px", 0.0) * (1 + 1e-6)
        assert np.all(np.linalg.norm(uv - ref, axis=1)[ok] <= tol)
        assert dense or "pinhole_error_px" not in c1
