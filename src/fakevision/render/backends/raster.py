"""A vectorised z-buffer rasteriser of textured triangle meshes in NumPy: how the ``raycast`` backend draws
``MeshBody`` lists (the procedural eye) as well as primitives, with no OpenGL and no Python loop over triangles.

**The test** (``rasterise``). With the camera at the origin and d = K^-1 (u, v, 1) the ray through the pixel
centre (u, v) (pixel (i, j) is sampled at (i + 0.5, j + 0.5), the project's convention, see ``Camera``), the three
edge functions of a triangle X0 X1 X2, e_k = d . (X_{k+1} x X_{k+2}), are affine in (u, v). The centre is inside
(closed triangle) when all three have the sign of det [X0 X1 X2] (d is then a positive combination of the vertices,
so this is the exact ray-triangle test, no near-plane clipping needed); e_k / sum(e) are the perspective-correct
barycentric coordinates and det / sum(e) the z-depth. Two triangles sharing an edge compute its function from
exactly negated coefficients (elementwise products and sums, no BLAS), so no pixel centre falls between them.

**No loop over triangles.** Front-facing triangles (TinyRenderer's culling: counter-clockwise seen from outside,
as ``MeshBody`` meshes are wound) in the depth range expand into their pixel rows, and each row into the pixels of
its span: the interval between the triangle's edge lines on that row, widened by ``SPAN_EPS`` (edges too close to
horizontal to bound a row reliably are left to the exact test). Both expansions index groups by a cumulative sum
and fetch every per-group value with ``take``. Each candidate gets the exact test and its depth; the nearest
surface per pixel is one ``np.minimum.at``, ties going to the first candidate, i.e. the lower triangle index (a
second one), so the result is deterministic whatever the order. Candidates number about the covered area plus one
per row (the eye at 320x240: 150k-190k for 77k pixels, against 460k-670k in the triangles' bounding boxes).

**Drawing bodies** (``render_bodies``): each body's mesh is converted to arrays once (cached by the identity of
its lists, which ``MeshBody`` makers keep for good), placed (scale, rotation, position) and rasterised with the
others in one call; then per drawn pixel the interpolated UV picks a texel (nearest, wrapped, the image flipped
vertically: TinyRenderer's lookup), the texel is tinted (truncated, as TinyRenderer's uint8 colour) and shaded by
the body's ``Light`` with TinyRenderer's model (``tinyrenderer_light``). Normals are the interpolated vertex
normals (inverse-scaled, rotated, unit), returned in the camera frame. Shadows are not drawn (the eye turns them
off: TinyRenderer's shadow maps alias on its curved skin).

**Measured** against pybullet on the same eyes (80 eyes, 320x240, visible and NIR; tests/render/test_eye.py pins
it): identical iris and pupil masks (IoU >= 0.9999), keypoints and visibility; depth within 3e-6 relative; a
handful of pixels per eye differ (one grey level, or a pixel centre on an edge that TinyRenderer's float32 puts on
the other side). Speed (``benchmarks/render.py --modes eye --renderer pybullet raycast``, 320x240, one worker, same
run): 40 CPU ms per eye against pybullet's 185 (TinyRenderer plus normals from the depth), 4.6x, measured at load
~39 on 2 shared cores, which inflates both; about two thirds of it is ``rasterise``.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

from fakevision.render.camera import Camera
from fakevision.render.scene import Light, MeshBody, quat_to_matrix

#: Widening of each row's pixel span (pixels): far above the span's float error, far below a pixel (candidates
#: are tested exactly, so widening costs a few candidates, never correctness).
SPAN_EPS = 1e-3
#: Bytes of decoded body textures kept (least recently used dropped first): the eye's banks for both appearances
#: (about 50 MB visible, 26 MB NIR) fit, as they do inside pybullet, which keeps every texture it loads.
TEXTURE_BUDGET = 96 * 2**20


@dataclass
class Raster:
    """What ``rasterise`` sees: ``triangle`` (H x W int32, index into the triangles given, -1 where none) and
    ``depth`` (H x W float32 z-depth, 0 where none) at every pixel centre; for the ``flat`` indices of the drawn
    pixels (ascending), the perspective-correct barycentric coordinates ``bary`` (3 x P float64) of the pixel
    centre in its triangle."""

    triangle: np.ndarray
    depth: np.ndarray
    flat: np.ndarray
    bary: np.ndarray


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a x b of (3, T) component rows, componentwise (so swapping a and b negates the result exactly)."""
    return np.stack([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]])


def _expand(counts: np.ndarray) -> np.ndarray:
    """``np.repeat(np.arange(len(counts)), counts)`` (the group of each element), by a cumulative sum of steps:
    about twice as fast, and every other per-group value then follows with ``take`` (several times faster than
    ``np.repeat``, measured)."""
    n = int(counts.sum())
    groups = np.flatnonzero(counts)
    steps = np.zeros(n, np.intp)
    if len(groups):
        steps[0] = groups[0]
        steps[(np.cumsum(counts) - counts)[groups[1:]]] = np.diff(groups)
    return np.cumsum(steps, out=steps)


def _bounds(X: np.ndarray, K: np.ndarray, near: float) -> np.ndarray:
    """(4, T) pixel-coordinate bounds (u_min, v_min, u_max, v_max) of each triangle's part beyond the near plane
    (X: 3 vertices x 3 coordinates x T, camera frame); a triangle crossing the plane is bounded by its clipped
    polygon: the vertices beyond it and the edges' crossing points."""
    def image(P: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        z = np.maximum(P[2], near)
        return (K[0, 0] * P[0] + K[0, 1] * P[1]) / z + K[0, 2], (K[1, 1] * P[1]) / z + K[1, 2]

    u, v = image(X.transpose(1, 0, 2))  # vertex x T
    box = np.stack([u.min(0), v.min(0), u.max(0), v.max(0)])
    clipped = np.flatnonzero(X[:, 2].min(0) < near)
    if len(clipped):  # rare: the clipped polygons
        Xc = X[:, :, clipped]
        pts, ok = [Xc[k] for k in range(3)], [Xc[k, 2] >= near for k in range(3)]
        for a, b in ((0, 1), (1, 2), (2, 0)):
            za, zb = Xc[a, 2], Xc[b, 2]
            crosses = (za - near) * (zb - near) < 0
            with np.errstate(invalid="ignore", divide="ignore"):
                s = np.where(crosses, (near - za) / (zb - za), 0.0)
            pts.append(Xc[a] + s * (Xc[b] - Xc[a]))
            ok.append(crosses)
        u, v = image(np.stack(pts, 1))
        m = np.stack(ok)
        box[:, clipped] = [np.where(m, u, np.inf).min(0), np.where(m, v, np.inf).min(0),
                           np.where(m, u, -np.inf).max(0), np.where(m, v, -np.inf).max(0)]
    return box


def rasterise(triangles: np.ndarray, camera: Camera, cull: bool = True) -> Raster:
    """Which of ``triangles`` (T x 3 x 3, camera-frame vertices, OpenCV axes) each pixel centre of ``camera``
    sees, at what depth, and where in it (see the module docstring). ``cull`` drops triangles seen from behind
    (clockwise in the image): TinyRenderer's rule, for meshes wound counter-clockwise seen from outside.

    >>> from fakevision.render.camera import intrinsics
    >>> cam = Camera(intrinsics(10, 10, 4, 4), np.eye(4), 8, 8)
    >>> tri = np.array([[[-0.41, -0.43, 1.0], [-0.41, 0.37, 1.0], [0.39, -0.43, 1.0]]])  # facing the camera
    >>> r = rasterise(tri, cam)  # its image: u >= -0.1, v >= -0.3, u + v <= 7.6, so centres i + j <= 6
    >>> int((r.triangle == 0).sum()), float(r.depth.max()), r.bary.sum(0).round(12).tolist()[:2]
    (28, 1.0, [1.0, 1.0])
    """
    X = np.asarray(triangles, np.float64).reshape(-1, 3, 3).transpose(1, 2, 0)
    return _rasterise(np.ascontiguousarray(X), camera, cull)


def _rasterise(X: np.ndarray, camera: Camera, cull: bool) -> Raster:
    """``rasterise`` of triangles given as a contiguous (vertex, xyz, triangle) array."""
    W, H = int(camera.width), int(camera.height)
    near, far = float(camera.near), float(camera.far)
    tri_img = np.full(H * W, -1, np.int32)
    depth = np.zeros(H * W, np.float32)
    # Front-facing (det [X0 X1 X2] < 0: counter-clockwise seen from the camera's side of the plane) triangles
    # in the depth range whose pixel rows and columns meet the image.
    c0 = _cross(X[1], X[2])
    det = X[0, 0] * c0[0] + X[0, 1] * c0[1] + X[0, 2] * c0[2]
    z = X[:, 2]
    ids = np.flatnonzero((z.max(0) > near) & (z.min(0) < far) & ((det < 0) if cull else (det != 0)))
    if len(ids) == 0:
        return Raster(tri_img.reshape(H, W), depth.reshape(H, W), np.zeros(0, np.intp), np.zeros((3, 0)))
    box = _bounds(X[:, :, ids], camera.K, near)
    with np.errstate(invalid="ignore"):
        y0 = np.maximum(np.ceil(np.clip(box[1] - 0.5 - SPAN_EPS, -1, H)), 0).astype(np.intp)
        y1 = np.minimum(np.floor(np.clip(box[3] - 0.5 + SPAN_EPS, -1, H)), H - 1).astype(np.intp)
        x_lo, x_hi = np.clip(box[0], -1.0, W + 1.0), np.clip(box[2], -1.0, W + 1.0)
    sel = np.flatnonzero((y1 >= y0) & (x_hi >= x_lo))
    ids, y0, y1, x_lo, x_hi = ids[sel], y0[sel], y1[sel], x_lo[sel], x_hi[sel]
    if len(ids) == 0:
        return Raster(tri_img.reshape(H, W), depth.reshape(H, W), np.zeros(0, np.intp), np.zeros((3, 0)))
    X = X[:, :, ids]
    c = np.stack([_cross(X[1], X[2]), _cross(X[2], X[0]), _cross(X[0], X[1])])  # edge, xyz, triangle
    det = (X[0] * c[0]).sum(0)
    flip = np.where(det > 0, -1.0, 1.0)  # only without culling: the inside sign is negative for every triangle
    det, c = det * flip, c * flip
    Ki = np.linalg.inv(camera.K)
    # e_k(u, v) = c_k . Ki (u, v, 1) = A u + (B v + C), elementwise so that negated c gives exactly negated
    # A, B, C and e_k
    A = c[:, 0] * Ki[0, 0] + c[:, 1] * Ki[1, 0] + c[:, 2] * Ki[2, 0]  # 3 x T
    B = c[:, 0] * Ki[0, 1] + c[:, 1] * Ki[1, 1] + c[:, 2] * Ki[2, 1]
    C = c[:, 0] * Ki[0, 2] + c[:, 1] * Ki[1, 2] + c[:, 2] * Ki[2, 2]

    # Rows: triangle t covers rows y0[t]..y1[t].
    h = y1 - y0 + 1
    rt = _expand(h)  # the triangle of each row
    R = len(rt)
    ry = np.arange(R) + (y0 - (np.cumsum(h) - h)).take(rt)
    v = ry + 0.5
    # The row's span, where every e_k = A u + (B v + C) <= 0: an edge with A < 0 bounds u from below at
    # u = alpha v + beta (alpha = -B / A, beta = -C / A), one with A > 0 from above. A triangle has at most two
    # of each; a missing one, or an edge too close to horizontal to bound anything reliably (|A| tiny against
    # |B|), is (0, -inf) or (0, inf): the exact test decides there.
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha, beta = -B / A, -C / A
    usable = np.abs(A) > 1e-6 * np.abs(B)
    order = np.arange(3)[:, None]
    span = []
    for flags, none, pick in ((usable & (A < 0), -np.inf, np.maximum), (usable & (A > 0), np.inf, np.minimum)):
        first = np.where(flags, order, 3).min(0)
        last = np.where(flags, order, -1).max(0)
        bound: Any = None
        for k, ok in ((first, first < 3), (last, (last >= 0) & (last != first))):
            kk = np.minimum(k, 2)[None]
            a = np.where(ok, np.take_along_axis(alpha, kk, 0)[0], 0.0).take(rt)
            b = np.where(ok, np.take_along_axis(beta, kk, 0)[0], none).take(rt)
            bound = a * v + b if bound is None else pick(bound, a * v + b)
        span.append(bound)
    lo = np.maximum(span[0], x_lo.take(rt))
    hi = np.minimum(span[1], x_hi.take(rt))
    x0 = np.maximum(np.ceil(np.clip(lo - 0.5 - SPAN_EPS, -1, W)), 0).astype(np.intp)
    x1 = np.minimum(np.floor(np.clip(hi - 0.5 + SPAN_EPS, -1, W)), W - 1).astype(np.intp)
    w = np.maximum(x1 - x0 + 1, 0)

    # Candidates: every pixel of every row's span, in triangle order; the exact test and the depth of each.
    pr = _expand(w)  # the row of each candidate
    n = len(pr)
    px = np.arange(n) + (x0 - (np.cumsum(w) - w)).take(pr)
    u = px + 0.5
    tc = rt.take(pr)  # the triangle of each candidate
    e = np.empty((3, n))
    for k in range(3):  # A u + (B v + C): the row's part first, as for the winners below
        np.multiply(A[k].take(tc), u, out=e[k])
        e[k] += (B[k].take(rt) * v + C[k].take(rt)).take(pr)
    with np.errstate(divide="ignore", invalid="ignore"):
        zc = det.take(tc) / (e[0] + e[1] + e[2])
        hit = (e[0] <= 0) & (e[1] <= 0) & (e[2] <= 0) & (zc > near) & (zc < far)
    at = np.flatnonzero(hit)
    pid = (ry * W).take(pr.take(at)) + px.take(at)
    zc = zc.take(at)
    # Nearest per pixel, ties to the first candidate (= the lower triangle index: candidates run in triangle
    # order): deterministic whatever the order of the work.
    zbuf = np.full(H * W, np.inf)
    np.minimum.at(zbuf, pid, zc)
    win = np.flatnonzero(zc == zbuf.take(pid))
    cbuf = np.full(H * W, len(at), np.intp)
    np.minimum.at(cbuf, pid.take(win), win)
    flat = np.flatnonzero(cbuf < len(at))
    best = at.take(cbuf.take(flat))  # the winning candidates
    tri_img[flat] = ids.take(tc.take(best))
    depth[flat] = zbuf.take(flat)
    eb = np.take(e, best, axis=1)
    return Raster(tri_img.reshape(H, W), depth.reshape(H, W), flat, eb / (eb[0] + eb[1] + eb[2]))


# -- bodies -------------------------------------------------------------------------------------------------------

_MESHES: dict[tuple[int, ...], tuple[tuple[Any, ...], tuple[np.ndarray, ...]]] = {}
_TEXTURES: OrderedDict[str, np.ndarray] = OrderedDict()


def _mesh_arrays(body: MeshBody) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(vertices 3 x N, triangles 3 x M, uvs 2 x N, normals 3 x N: component-major, the layout every step
    here works in) of a body, converted once per mesh: cached by the identity of the body's four sequences (held
    by the cache, so an id is never reused while it is a key). Bad shapes or indices raise ``ValueError`` naming
    the body."""
    src = (body.vertices, body.indices, body.uvs, body.normals)
    key = tuple(id(s) for s in src)
    hit = _MESHES.get(key)
    if hit is None:
        try:
            v = np.asarray(body.vertices, np.float64).reshape(-1, 3)
            f = np.asarray(body.indices, np.intp).reshape(-1, 3)
            uv = np.asarray(body.uvs, np.float64).reshape(-1, 2)
            nrm = np.asarray(body.normals, np.float64).reshape(-1, 3)
        except ValueError as e:
            raise ValueError(f"mesh body {body.name!r}: {e}") from None
        if len(uv) != len(v) or len(nrm) != len(v) or (f.size and (f.min() < 0 or f.max() >= len(v))):
            raise ValueError(f"mesh body {body.name!r}: {len(v)} vertices, {len(uv)} uvs, {len(nrm)} normals and "
                             f"indices in [{f.min() if f.size else 0}, {f.max() if f.size else 0}] do not match")
        if len(_MESHES) >= 256:
            _MESHES.clear()
        arrays = tuple(np.ascontiguousarray(a.T) for a in (v, f, uv, nrm))
        hit = _MESHES[key] = (src, arrays)
    return hit[1]  # type: ignore[return-value]


def _texture(body: MeshBody) -> np.ndarray:
    """The body's texture as TinyRenderer holds it (rows flipped), made once per ``texture_key`` and kept while
    the decoded textures stay within ``TEXTURE_BUDGET`` bytes."""
    img = _TEXTURES.get(body.texture_key)
    if img is None:
        raw = np.asarray(body.texture_fn())
        if raw.ndim != 3 or raw.shape[2] < 3 or raw.dtype != np.uint8:
            raise ValueError(f"mesh body {body.name!r}: texture {body.texture_key!r} must be H x W x 3 uint8, got "
                             f"{raw.shape} {raw.dtype}")
        img = np.ascontiguousarray(raw[::-1, :, :3])
        _TEXTURES[body.texture_key] = img
        while sum(t.nbytes for t in _TEXTURES.values()) > TEXTURE_BUDGET and len(_TEXTURES) > 1:
            _TEXTURES.popitem(last=False)
    else:
        _TEXTURES.move_to_end(body.texture_key)
    return img


@dataclass
class BodyImage:
    """``draw_bodies``' result: ``rgb`` (H x W x 3 uint8, 0 where nothing is drawn), ``instance`` (H x W int32
    body index, -1 where none), ``depth`` (H x W float32 z-depth, 0 where none), ``normals`` (H x W x 3 float32
    unit normals in the camera frame, OpenCV axes, 0 where none)."""

    rgb: np.ndarray
    instance: np.ndarray
    depth: np.ndarray
    normals: np.ndarray


def tinyrenderer_light(light: Light, n_world: np.ndarray) -> np.ndarray:
    """TinyRenderer's light factor per channel (3 x P) for unit world normals ``n_world`` (3 x P), shadows off:
    ``ambient + (diffuse * max(n.l, 0) + specular * max(r_z, 0)^2) * light_colour``, ``r`` the unit light
    direction ``l`` reflected about ``n`` (its world z: TinyRenderer's view-independent highlight).

    >>> tinyrenderer_light(Light(direction=(0, 0, 1), ambient=0.5, diffuse=0.4, specular=0.1),
    ...                    np.array([[0.0], [0.0], [1.0]])).ravel().round(6).tolist()
    [1.0, 1.0, 1.0]
    """
    l = np.asarray(light.direction, np.float64)
    l = l / max(float(np.linalg.norm(l)), 1e-12)
    ndl = l[0] * n_world[0] + l[1] * n_world[1] + l[2] * n_world[2]
    rz = np.maximum(2.0 * ndl * n_world[2] - l[2], 0.0)
    direct = light.diffuse * np.maximum(ndl, 0.0) + light.specular * rz * rz
    return light.ambient + direct * np.asarray(light.colour, np.float64)[:, None]


def _apply(M: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``M @ x`` for a 3 x 3 ``M`` and 3 x N ``x``, as three multiply-adds: no BLAS call, whose thread pool would
    contend with the engine's worker processes for a product this small."""
    return M[:, :1] * x[0] + M[:, 1:2] * x[1] + M[:, 2:] * x[2]


def render_bodies(bodies: list[MeshBody], camera: Camera, light: Light) -> BodyImage:
    """RGB, body index, depth and normals of static textured ``bodies`` under one directional ``light`` (no
    shadows), drawn as TinyRenderer draws them (see the module docstring).

    >>> from fakevision.render.camera import intrinsics, look_at
    >>> quad = MeshBody("quad", [[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]], [0, 1, 2, 0, 2, 3],
    ...                 [[0, 0], [1, 0], [1, 1], [0, 1]], [[0, 0, 1]] * 4, "grey200",
    ...                 lambda: np.full((4, 4, 3), 200, np.uint8), "quad", scale=(0.1, 0.1, 1.0))
    >>> cam = Camera(intrinsics(40, 40, 16, 16), look_at(np.array([0.0, 0, 1]), np.zeros(3), up=(0, 1, 0)), 32, 32)
    >>> out = render_bodies([quad], cam, Light(direction=(0, 0, 1), ambient=0.5, diffuse=0.5, specular=0.0))
    >>> int((out.instance == 0).sum()), out.rgb[16, 16].tolist(), out.normals[16, 16].tolist()
    (64, [200, 200, 200], [0.0, 0.0, -1.0])
    """
    H, W = int(camera.height), int(camera.width)
    R, t = camera.world_to_camera[:3, :3], camera.world_to_camera[:3, 3]
    rgb = np.zeros((H * W, 3), np.uint8)
    instance = np.full(H * W, -1, np.int32)
    normals = np.zeros((H * W, 3), np.float32)
    if not bodies:
        return BodyImage(rgb.reshape(H, W, 3), instance.reshape(H, W), np.zeros((H, W), np.float32),
                         normals.reshape(H, W, 3))
    tris, nrm_w, uvs, faces, counts = [], [], [], [], []
    offset = 0
    for body in bodies:  # a handful of bodies, each a whole mesh at once
        v, f, uv, nrm = _mesh_arrays(body)
        Rb = quat_to_matrix(body.orientation)
        s = np.asarray(body.scale, np.float64)
        M, p = (R @ Rb) * s, R @ np.asarray(body.position, np.float64) + t
        v_cam = _apply(M, v) + p[:, None]  # xyz x vertex
        tris.append(np.take(v_cam, f, axis=1).transpose(1, 0, 2))  # vertex (of the triangle), xyz, triangle
        n_w = _apply(Rb / s, nrm)  # normals of a scaled surface: inverse scale, then rotate
        n_w /= np.maximum(np.sqrt((n_w * n_w).sum(0)), 1e-30)
        faces.append(f + offset)
        nrm_w.append(n_w)
        uvs.append(uv)
        counts.append(f.shape[1])
        offset += v.shape[1]
    raster = _rasterise(np.ascontiguousarray(np.concatenate(tris, axis=2)), camera, cull=True)
    flat = raster.flat
    every = len(flat) == H * W  # (the eye fills its image): whole-image writes instead of scatters
    tri = raster.triangle.reshape(-1).take(flat)
    body_of = np.repeat(np.arange(len(bodies), dtype=np.int32), counts).take(tri)
    # Vertex attributes at the pixel centres: perspective-correct barycentric interpolation.
    corners = np.take(np.concatenate(faces, axis=1), tri, axis=1)  # 3 x P vertex indices
    b = raster.bary
    UV, NW = np.concatenate(uvs, axis=1), np.concatenate(nrm_w, axis=1)
    uv_px = [b[0] * UV[j].take(corners[0]) + b[1] * UV[j].take(corners[1]) + b[2] * UV[j].take(corners[2])
             for j in range(2)]
    n = np.stack([b[0] * NW[j].take(corners[0]) + b[1] * NW[j].take(corners[1]) + b[2] * NW[j].take(corners[2])
                  for j in range(3)])
    n /= np.maximum(np.sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]), 1e-30)
    # Texels: the bodies' textures side by side in one flat atlas, so every pixel's lookup is one take.
    images = [_texture(body) for body in bodies]
    sizes = np.array([img.shape[:2] for img in images], np.intp)  # (th, tw) per body
    start = np.concatenate([[0], np.cumsum(sizes[:, 0] * sizes[:, 1])[:-1]])
    th, tw = sizes[:, 0].take(body_of), sizes[:, 1].take(body_of)
    fu, fv = uv_px[0], uv_px[1]
    # TinyRenderer: texel (u * W, v * H) of the flipped image, u and v wrapped into [0, 1) (modf) ...
    col = np.minimum(((fu - np.floor(fu)) * tw).astype(np.intp), tw - 1)
    row = np.minimum(((fv - np.floor(fv)) * th).astype(np.intp), th - 1)
    atlas = np.concatenate([img.reshape(-1, 3) for img in images])
    texel = atlas.take(start.take(body_of) + row * tw + col, axis=0)  # P x 3 uint8
    # ... tinted in float32 and stored back as uint8: truncated.
    tint = np.array([body.tint for body in bodies], np.float32).take(body_of, axis=0)
    light_factor = tinyrenderer_light(light, n)
    colour = np.minimum(np.floor(texel * tint) * light_factor.T, 255.0).astype(np.uint8)
    n_cam = _apply(R, n).T.astype(np.float32)
    if every:
        rgb, instance, normals = colour, body_of, n_cam
    else:
        rgb[flat], instance[flat], normals[flat] = colour, body_of, n_cam
    return BodyImage(np.ascontiguousarray(rgb).reshape(H, W, 3), instance.reshape(H, W), raster.depth,
                     np.ascontiguousarray(normals).reshape(H, W, 3))
