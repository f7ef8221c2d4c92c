"""User meshes (OBJ, STL): read their vertices, so keypoints, amodal boxes and scaling need no renderer.

pybullet draws the file itself (``createVisualShape(GEOM_MESH, fileName=...)``); we only need the vertex positions
(extents for scaling to the requested size, extreme points for keypoints, all points for the amodal box). Both
formats are simple enough to read with NumPy; a malformed file raises ``InputError`` naming it.
"""

from __future__ import annotations

import functools
import struct
from pathlib import Path

import numpy as np

from fakevision.core.errors import InputError

MESH_SUFFIXES = (".obj", ".stl")


@functools.lru_cache(maxsize=64)
def load_vertices(path: str) -> np.ndarray:
    """Vertices (N x 3 float64) of an OBJ or STL (binary or ASCII) file, in the file's units.

    >>> import tempfile, os
    >>> f = os.path.join(tempfile.mkdtemp(), "tri.obj")
    >>> _ = open(f, "w").write("v 0 0 0\\nv 1 0 0\\nv 0 2 0\\nv 0 0 3\\nf 1 2 3\\nf 1 2 4\\n")
    >>> load_vertices(f).max(axis=0).tolist()
    [1.0, 2.0, 3.0]
    """
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise InputError("mesh file not found", p) from None
    except OSError as e:
        raise InputError(f"cannot read mesh ({e.strerror})", p) from None
    suffix = p.suffix.lower()
    if suffix == ".obj":
        verts = _obj_vertices(data, p)
    elif suffix == ".stl":
        verts = _stl_vertices(data, p)
    else:
        raise InputError(f"unsupported mesh format {suffix!r} (use {', '.join(MESH_SUFFIXES)})", p)
    if len(verts) < 4 or not np.all(np.isfinite(verts)):
        raise InputError("mesh has fewer than 4 vertices or non-finite coordinates", p)
    ext = verts.max(axis=0) - verts.min(axis=0)
    if np.any(ext <= 0):
        raise InputError("mesh is flat (zero extent along an axis)", p)
    verts.setflags(write=False)
    return verts


def _obj_vertices(data: bytes, p: Path) -> np.ndarray:
    return _parse_obj(data, p)[0]


def _parse_obj(data: bytes, p: Path) -> tuple[np.ndarray, np.ndarray]:
    """(vertices, triangles) of an OBJ; polygons are fanned into triangles, negative indices resolved."""
    rows, tris = [], []
    for ln, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
        if line.startswith("v "):
            parts = line.split()
            try:
                rows.append([float(parts[1]), float(parts[2]), float(parts[3])])
            except (IndexError, ValueError):
                raise InputError(f"line {ln}: malformed vertex {line.strip()!r}", p) from None
        elif line.startswith("f "):
            try:
                idx = [int(tok.split("/")[0]) for tok in line.split()[1:]]
            except ValueError:
                raise InputError(f"line {ln}: malformed face {line.strip()!r}", p) from None
            idx = [i - 1 if i > 0 else len(rows) + i for i in idx]
            if len(idx) < 3 or min(idx) < 0 or max(idx) >= len(rows):
                raise InputError(f"line {ln}: face refers to a missing vertex", p)
            tris += [[idx[0], idx[k], idx[k + 1]] for k in range(1, len(idx) - 1)]
    return np.array(rows, dtype=np.float64).reshape(-1, 3), np.array(tris, dtype=np.int64).reshape(-1, 3)


def _stl_vertices(data: bytes, p: Path) -> np.ndarray:
    return np.unique(_stl_triangles(data, p).reshape(-1, 3), axis=0)


def _stl_triangles(data: bytes, p: Path) -> np.ndarray:
    """Triangles (T x 3 x 3) of a binary or ASCII STL."""
    if len(data) >= 84:
        (n,) = struct.unpack_from("<I", data, 80)
        if len(data) == 84 + 50 * n:  # binary STL: 50 bytes per triangle
            rec = np.dtype([("normal", "<f4", 3), ("v", "<f4", (3, 3)), ("attr", "<u2")])
            tri = np.frombuffer(data, dtype=rec, count=n, offset=84)
            return tri["v"].astype(np.float64)
    text = data.decode("ascii", errors="replace")
    if not text.lstrip().startswith("solid"):
        raise InputError("not an STL file (neither binary size nor ASCII 'solid')", p)
    rows = []
    for line in text.splitlines():
        parts = line.split()
        if parts and parts[0] == "vertex":
            try:
                rows.append([float(v) for v in parts[1:4]])
            except ValueError:
                raise InputError(f"malformed vertex {line.strip()!r}", p) from None
    if len(rows) % 3:
        raise InputError("ASCII STL with a vertex count that is not a multiple of 3", p)
    return np.array(rows, dtype=np.float64).reshape(-1, 3, 3)


@functools.lru_cache(maxsize=64)
def load_triangles(path: str) -> np.ndarray:
    """Triangles (T x 3 x 3, file units) of an OBJ or STL file; ``InputError`` when it has none.

    >>> import tempfile, os
    >>> f = os.path.join(tempfile.mkdtemp(), "quad.obj")
    >>> _ = open(f, "w").write("v 0 0 0\\nv 1 0 0\\nv 1 1 0\\nv 0 1 1\\nf 1 2 3 4\\n")
    >>> load_triangles(f).shape
    (2, 3, 3)
    """
    p = Path(path)
    load_vertices(path)  # validates the file
    data = p.read_bytes()
    if p.suffix.lower() == ".obj":
        v, f = _parse_obj(data, p)
        tris = v[f]
    else:
        tris = _stl_triangles(data, p)
    if len(tris) == 0:
        raise InputError("mesh has no faces", p)
    tris.setflags(write=False)
    return tris


@functools.cache  # never evicted: the backend relies on getting the same lists back
def render_mesh(path: str) -> tuple[list, list, list, list]:
    """(vertices, indices, uvs, normals) for a backend, in *file units* (scale by ``mesh_frame``'s scale and shift
    by its offset to reach the object frame): one vertex per triangle corner so
    each face carries its own normal (files often have none or bad ones; flat shading is exact for CAD-like
    models), UVs by box projection along the face's dominant axis so procedural textures show. Every face is
    emitted twice, once per winding with its normal flipped, because files wind faces inconsistently and the
    rasteriser culls back faces: the copy facing the camera is drawn and lit from the camera's side."""
    tris = load_triangles(path)
    n = np.cross(tris[:, 1] - tris[:, 0], tris[:, 2] - tris[:, 0])
    norm = np.linalg.norm(n, axis=1, keepdims=True)
    keep = norm[:, 0] > 1e-15
    tris, n = tris[keep], n[keep] / norm[keep]
    v = tris.reshape(-1, 3)
    nv = np.repeat(n, 3, axis=0)
    axis = np.argmax(np.abs(nv), axis=1)
    lo, span = v.min(axis=0), np.maximum(v.max(axis=0) - v.min(axis=0), 1e-12)
    t = (v - lo) / span
    uv = np.where(axis[:, None] == 0, t[:, [1, 2]], np.where(axis[:, None] == 1, t[:, [0, 2]], t[:, [0, 1]]))
    k = len(v)
    front = np.arange(k).reshape(-1, 3)
    back = front[:, [0, 2, 1]] + k
    return (np.vstack([v, v]).tolist(), np.concatenate([front, back]).ravel().tolist(), np.vstack([uv, uv]).tolist(),
            np.vstack([nv, -nv]).tolist())


def mesh_frame(path: str, extents: tuple[float, float, float]) -> tuple[np.ndarray, np.ndarray]:
    """(scale (3,), offset (3,)) that map file coordinates to the object frame: ``v * scale + offset`` has its
    bounding box centred at the origin with size ``extents``. Uniform scale when the extents' ratios equal the
    file's; otherwise per axis (the sampler asks for the file's aspect ratio, so meshes are not distorted)."""
    v = load_vertices(path)
    lo, hi = v.min(axis=0), v.max(axis=0)
    scale = np.asarray(extents, dtype=np.float64) / (hi - lo)
    offset = -(lo + hi) / 2 * scale
    return scale, offset


def object_vertices(path: str, extents: tuple[float, float, float]) -> np.ndarray:
    """The mesh's vertices in the object frame (scaled and centred as the renderer places them)."""
    scale, offset = mesh_frame(path, extents)
    return load_vertices(path) * scale + offset
