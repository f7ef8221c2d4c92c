"""Closed-form resting poses: put primitives on the ground the way a drop would, without running physics.

Why: physics settling cost about 21 ms per scene (5 ms per frame at 4 views, a quarter of the ``render`` source's
time), and the sampler already scatters objects so they never touch, so each object comes to rest on its own and
its rest pose has a closed form. ``rest_analytic`` is a pure function of the scene spec (no generator): it keeps
each object's x, y and turns its sampled random orientation by the smallest rotation that makes it stable:

* **box**: the face whose outward normal points most downwards becomes the bottom face (exactly -z), so the box
  stands on a face with a random yaw;
* **cylinder**: tilted by less than ``atan(radius / half height)`` from the vertical it falls back onto the cap
  that points down, else onto its side (axis made horizontal; its roll about the axis stays random);
* **sphere**: any orientation rests on its bottom point;

then sets the height so the lowest point touches z = 0. Objects keep their sampled x, y, and the sampler keeps
the discs of their bounding radii disjoint, so rested objects cannot interpenetrate (each stays inside the ball
of its bounding radius about its centre). Meshes have no closed form here (their stable faces depend on the
shape): a scene with a mesh raises, and callers settle it with physics instead (``needs_physics``).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from fakevision.render.scene import ObjectSpec, Scene, quat_to_matrix

_DOWN = np.array([0.0, 0.0, -1.0])


def needs_physics(scene: Scene) -> bool:
    """Whether some object has no closed-form rest pose (meshes)."""
    return any(o.shape not in ("box", "sphere", "cylinder") for o in scene.objects)


def matrix_to_quat(R: np.ndarray) -> tuple[float, float, float, float]:
    """3x3 rotation matrix -> unit quaternion (x, y, z, w) with w >= 0 (Shepperd's method).

    >>> q = matrix_to_quat(quat_to_matrix((0.1, -0.2, 0.3, 0.9)))
    >>> np.allclose(quat_to_matrix(q), quat_to_matrix((0.1, -0.2, 0.3, 0.9)))
    True
    """
    m = np.asarray(R, dtype=np.float64)
    t = np.trace(m)
    if t > 0:
        s = 2.0 * np.sqrt(t + 1.0)
        q = np.array([(m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s, 0.25 * s])
    else:
        i = int(np.argmax(np.diag(m)))
        j, k = (i + 1) % 3, (i + 2) % 3
        s = 2.0 * np.sqrt(1.0 + m[i, i] - m[j, j] - m[k, k])
        q = np.zeros(4)
        q[i] = 0.25 * s
        q[j] = (m[j, i] + m[i, j]) / s
        q[k] = (m[k, i] + m[i, k]) / s
        q[3] = (m[k, j] - m[j, k]) / s
    q = q / np.linalg.norm(q)
    if q[3] < 0:
        q = -q
    return tuple(float(v) for v in q)  # type: ignore[return-value]


def _align(v: np.ndarray, t: np.ndarray) -> np.ndarray:
    """The smallest rotation taking unit vector ``v`` to unit vector ``t`` (not antiparallel)."""
    c = float(v @ t)
    k = np.cross(v, t)
    K = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    return np.eye(3) + K + K @ K / (1.0 + c)


def rest_pose(obj: ObjectSpec) -> ObjectSpec:
    """``obj`` at rest on the plane z = 0 (see the module docstring), same x, y.

    >>> o = rest_pose(ObjectSpec("box", (0.1, 0.2, 0.3), (0.5, 0.0, 1.0), (0.3, 0.1, 0.2, 0.9)))
    >>> o.position[:2], round(float(min(o.to_world(np.array([[x, y, z] for x in (-.05, .05) for y in (-.1, .1)
    ...                                       for z in (-.15, .15)]))[:, 2])), 9)
    ((0.5, 0.0), 0.0)
    """
    R = quat_to_matrix(obj.orientation)
    h = np.asarray(obj.extents, dtype=np.float64) / 2
    if obj.shape == "sphere":
        Rr, z = R, float(h.max())
    elif obj.shape == "box":
        k = int(np.argmax(np.abs(R[2])))  # the object axis closest to vertical
        s = -np.sign(R[2, k]) or -1.0  # its direction that points down
        Rr = _align(s * R[:, k], _DOWN) @ R
        z = float(h[k])
    elif obj.shape == "cylinder":
        a = R[:, 2]
        tilt = float(np.arccos(min(1.0, abs(a[2]))))
        r = float(max(h[0], h[1]))
        if tilt < np.arctan2(r, h[2]):  # the centre of mass stays over the cap: back onto it
            s = -np.sign(a[2]) or -1.0
            Rr, z = _align(s * a, _DOWN) @ R, float(h[2])
        else:  # onto its side
            flat = np.array([a[0], a[1], 0.0])
            Rr, z = _align(a, flat / np.linalg.norm(flat)) @ R, r
    else:
        raise ValueError(f"no closed-form rest pose for shape {obj.shape!r}; settle it with physics")
    return dataclasses.replace(obj, position=(float(obj.position[0]), float(obj.position[1]), z),
                               orientation=matrix_to_quat(Rr))


def rest_analytic(scene: Scene) -> Scene:
    """The scene with every object in its closed-form rest pose (``settled=True``).

    >>> from fakevision.render.sampler import sample_scene
    >>> s = rest_analytic(sample_scene(np.random.default_rng(0)))
    >>> s.settled
    True
    """
    return scene.replace(objects=tuple(rest_pose(o) for o in scene.objects), settled=True)
