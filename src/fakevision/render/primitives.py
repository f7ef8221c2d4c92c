"""Triangle meshes of the primitives (vertices, triangle indices, UVs, normals), for backends that draw meshes.

Backends draw *unit* meshes (``unit_mesh``) scaled per object: pybullet keeps every user mesh it is given for
the life of the process (about 0.8 MB for a sphere; ``resetSimulation`` and ``disconnect`` free nothing) unless
it is handed the very same Python lists again (measured: fresh lists with equal values leak, the same list
objects do not), so a handful of unit meshes, converted to lists once, cached for good and scaled with
``meshScale``, keep memory flat over any number of scenes.

Why our own: pybullet's built-in sphere and cylinder are coarse (a sphere's silhouette covered 6 % less area than
the true sphere's disc) and its box maps textures unevenly. These are fine enough that the silhouette differs from
the analytic shape by about 1 % in area, with vertices *on* the true surface, so depth, masks and the analytic
normals and keypoints describe the same object. Every face is wound counter-clockwise seen from outside.

The sphere has 32 x 16 segments (960 triangles): its mask is 0.8 % smaller than the analytic disc on average,
1.6 % at worst over random orientations (48 x 24, 2,200 triangles: 0.4 %, 1.1 %), and TinyRenderer draws it about
2 ms per frame faster in the ``render`` source (measured, benchmarks/render.py, 256², one core).
"""

from __future__ import annotations

import functools

import numpy as np

Mesh = tuple[list, list, list, list]  # vertices, indices, uvs, normals (pybullet's createVisualShape arguments)


def box_mesh(half: np.ndarray) -> Mesh:
    """A box with half extents ``half``; 4 vertices per face, so each face carries the whole texture.

    >>> v, idx, uv, n = box_mesh(np.array([1.0, 2.0, 3.0]))
    >>> len(v), len(idx) // 3, np.abs(np.array(v)).max(axis=0).tolist()
    (24, 12, [1.0, 2.0, 3.0])
    """
    verts: list[list[float]] = []
    idx: list[int] = []
    uvs: list[list[float]] = []
    nrms: list[list[float]] = []
    for axis in range(3):
        for sign in (-1.0, 1.0):
            n = np.zeros(3)
            n[axis] = sign
            a, b = ((1, 2), (2, 0), (0, 1))[axis]  # e_a x e_b = e_axis
            if sign < 0:
                a, b = b, a  # keep the winding counter-clockwise seen from outside
            base = len(verts)
            for ua, ub in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
                p = np.zeros(3)
                p[axis], p[a], p[b] = sign * half[axis], ua * half[a], ub * half[b]
                verts.append(p.tolist())
                uvs.append([(ua + 1) / 2, (ub + 1) / 2])
                nrms.append(n.tolist())
            idx += [base, base + 1, base + 2, base, base + 2, base + 3]
    return verts, idx, uvs, nrms


def sphere_mesh(radius: float, segments: int = 32, rings: int = 16) -> Mesh:
    """A UV sphere: ``segments`` around the z axis, ``rings`` from pole to pole.

    >>> v, idx, uv, n = sphere_mesh(0.5)
    >>> bool(np.allclose(np.linalg.norm(v, axis=1), 0.5))
    True
    """
    theta = np.linspace(0.0, np.pi, rings + 1)  # polar angle from +z
    phi = np.linspace(0.0, 2 * np.pi, segments + 1)  # seam duplicated for the texture
    T, P = np.meshgrid(theta, phi, indexing="ij")
    n = np.stack([np.sin(T) * np.cos(P), np.sin(T) * np.sin(P), np.cos(T)], axis=-1).reshape(-1, 3)
    uv = np.stack([P / (2 * np.pi), 1 - T / np.pi], axis=-1).reshape(-1, 2)
    idx = []
    w = segments + 1
    for r in range(rings):
        for s in range(segments):
            a, b, c, d = r * w + s, r * w + s + 1, (r + 1) * w + s, (r + 1) * w + s + 1
            if r > 0:
                idx += [a, c, b]
            if r < rings - 1:
                idx += [b, c, d]
    return (n * radius).tolist(), idx, uv.tolist(), n.tolist()


def cylinder_mesh(radius: float, height: float, segments: int = 64) -> Mesh:
    """A closed cylinder along z, centred at the origin: smooth side plus two flat caps.

    >>> v, idx, uv, n = cylinder_mesh(0.5, 2.0)
    >>> np.round(np.abs(np.array(v)).max(axis=0), 6).tolist()
    [0.5, 0.5, 1.0]
    """
    h = height / 2
    phi = np.linspace(0.0, 2 * np.pi, segments + 1)
    c, s = np.cos(phi), np.sin(phi)
    verts, uvs, nrms, idx = [], [], [], []
    for z, v in ((-h, 0.0), (h, 1.0)):  # side: two rings
        verts += np.column_stack([radius * c, radius * s, np.full_like(c, z)]).tolist()
        uvs += np.column_stack([phi / (2 * np.pi), np.full_like(c, v)]).tolist()
        nrms += np.column_stack([c, s, np.zeros_like(c)]).tolist()
    w = segments + 1
    for k in range(segments):
        idx += [k, k + 1, w + k + 1, k, w + k + 1, w + k]
    for z, sign in ((-h, -1.0), (h, 1.0)):  # caps: centre + ring
        centre = len(verts)
        verts.append([0.0, 0.0, z])
        uvs.append([0.5, 0.5])
        nrms.append([0.0, 0.0, sign])
        ring = len(verts)
        verts += np.column_stack([radius * c, radius * s, np.full_like(c, z)]).tolist()
        uvs += np.column_stack([0.5 + 0.5 * c, 0.5 + 0.5 * s]).tolist()
        nrms += [[0.0, 0.0, sign]] * len(c)
        for k in range(segments):
            idx += [centre, ring + k + 1, ring + k] if sign < 0 else [centre, ring + k, ring + k + 1]
    return verts, idx, uvs, nrms


@functools.cache
def unit_mesh(shape: str) -> Mesh:
    """The unit mesh of a primitive: box of half extents 1, sphere of radius 1, cylinder of radius 1 and half
    height 1, ground square of half side 1. Scale it by half extents (box, cylinder: (r, r, h / 2)), the radius
    (sphere) or (size / 2, size / 2, 1) (ground).

    >>> len(unit_mesh("sphere")[0]), len(unit_mesh("box")[0])
    (561, 24)
    """
    if shape == "box":
        return box_mesh(np.ones(3))  # lists already
    if shape == "sphere":
        return sphere_mesh(1.0)
    if shape == "cylinder":
        return cylinder_mesh(1.0, 2.0)
    if shape == "ground":
        return ground_mesh(2.0)
    raise ValueError(f"no unit mesh for {shape!r}")


def ground_mesh(size: float) -> Mesh:
    """A square of side ``size`` in the plane z = 0 facing up, textured once across (TinyRenderer interpolates
    textures perspective-correctly, so two triangles suffice)."""
    h = size / 2
    verts = [[-h, -h, 0.0], [h, -h, 0.0], [h, h, 0.0], [-h, h, 0.0]]
    uvs = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]
    return verts, [0, 1, 2, 0, 2, 3], uvs, [[0.0, 0.0, 1.0]] * 4
