"""A procedural eye: sclera, textured iris, pupil, eyelids with lashes, skin, corneal highlight — rendered with the
same backend and ground-truth rules as the object scenes, for an iris-segmentation set with perfect masks.

Geometry (metres, eye frame: eyeball centre at the origin, the face looks along +z, +y up, +x to image right
for a camera in front). The eyeball is a sphere of radius ``eyeball_radius`` with the corneal cap cut away at the
limbus; the iris is a flat annulus filling that cap (limbus to pupil) and the pupil a disc just behind it, all three
turned together by the gaze. The skin is one sheet wrapped around the eyeball, ``z = Rs cos(r / Rs)`` with
``Rs`` = eyeball radius + lid thickness (always in front of the eyeball, so it hides it everywhere but in the
opening), easing into a flat face beyond 14 mm, with an almond-shaped opening bounded by the upper and lower lid
margins. A dark socket disc behind fills the eye corners. The cornea is transparent and not drawn; its specular highlight is the
mirror reflection of the light on a 7.8 mm cornea sphere, found analytically and added after rendering (it changes
pixels, not masks: iris masks conventionally include highlights).

Ground truth: instances ``iris`` (visible iris annulus, pupil excluded, as in the MMU masks) and ``pupil``, each
with 8 keypoints on a ring halfway across it (iris: midway between pupil margin and limbus; pupil: at half its
radius) at 0, 45, ..., 315 degrees in the eye frame (schema ``render_eye8``). Not on the boundaries: a boundary
point's pixel belongs to either side by chance, so its visibility would say nothing, whereas a mid-ring point is
visible exactly when no lid covers that part of the iris or pupil. The masks give the boundaries exactly.
A label map (1 skin, 2 sclera, 3 iris, 4 pupil), metric depth and the camera complete it.

``appearance="nir"`` renders grey near-infrared-like images (iris mid-grey whatever its colour, bright skin), the
look of most iris data sets, e.g. MMU.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from dataclasses import dataclass, field
from typing import Any, Literal

import cv2
import numpy as np

from fakevision.core.keypoints import KeypointSchema
from fakevision.core.sample import Annotations, Provenance, Sample, boxes_from_masks
from fakevision.render.backends import RenderBuffers, get_backend
from fakevision.render.camera import Camera, intrinsics, look_at
from fakevision.render.groundtruth import keypoint_visibility
from fakevision.render.primitives import Mesh
from fakevision.render.scene import Light, MeshBody
from fakevision.render.shapes import normals_from_points

#: 8 points on each boundary ring (iris and pupil) at 0, 45, ... 315 degrees of the eye's own frame.
EYE_SCHEMA = KeypointSchema("render_eye8", tuple(f"ring_{a}" for a in range(0, 360, 45)), tuple(range(8)))

SKIN, SOCKET, SCLERA, IRIS, PUPIL = range(5)  # body indices
LABELS = {0: "background", 1: "skin", 2: "sclera", 3: "iris", 4: "pupil"}
_BODY_LABEL = np.array([0, 1, 1, 2, 3, 4], dtype=np.int32)  # (body index + 1) -> label id
CORNEA_RADIUS = 0.0078
PUPIL_OFFSET = 2e-5  # the pupil disc sits this far in front of the iris plane
EYE_RATIO = 0.5  # iris radius / eyeball radius, fixed so one sclera mesh serves every eye (scaled)
SKIN_FLAT_RADIUS = 14 / 12  # skin geometry in eyeball radii (an adult eyeball: 12 mm)
SKIN_BLEND = 8 / 12
SKIN_OUTER = 3.75
UPPER_LEVELS = tuple(np.round(np.linspace(0.30, 0.68, 8), 4))  # lid margin heights, eyeball radii
LOWER_LEVELS = tuple(np.round(np.linspace(0.29, 0.50, 4), 4))
WIDTH_LEVELS = (0.875, 0.9375, 1.0)

IRIS_PALETTE = {  # (base, fibre highlight) RGB in [0, 1]
    "brown": ((0.30, 0.17, 0.08), (0.50, 0.32, 0.16)),
    "dark_brown": ((0.16, 0.09, 0.05), (0.30, 0.18, 0.09)),
    "hazel": ((0.40, 0.30, 0.12), (0.45, 0.45, 0.20)),
    "green": ((0.25, 0.35, 0.20), (0.45, 0.50, 0.30)),
    "blue": ((0.28, 0.40, 0.55), (0.55, 0.65, 0.75)),
    "grey": ((0.40, 0.42, 0.44), (0.62, 0.64, 0.66)),
}


@dataclass(frozen=True)
class EyeSpec:
    """Everything that defines one eye (sizes in metres, angles in radians).

    >>> EyeSpec().iris_radius
    0.006
    """

    eyeball_radius: float = 0.012
    iris_radius: float = 0.006
    pupil_radius: float = 0.0022
    gaze: tuple[float, float] = (0.0, 0.0)  # yaw (+ towards +x), pitch (+ up)
    upper_lid: float = 0.0065  # height of the upper lid margin above the eye centre
    lower_lid: float = 0.0055  # depth of the lower lid margin below it
    half_width: float = 0.0125  # half the width of the opening (corner to corner)
    tilt: float = 0.0  # of the corner-to-corner axis
    lid_thickness: float = 0.0015
    iris_colour: str = "brown"
    skin_colour: tuple[float, float, float] = (0.85, 0.65, 0.55)
    sclera_colour: tuple[float, float, float] = (0.92, 0.90, 0.88)
    iris_brightness: float = 1.0  # multiplies the iris texture (NIR: 0.5 to 0.8 gives MMU-like grey levels)
    seed: int = 0  # picks texture layouts from the banks
    appearance: Literal["visible", "nir"] = "visible"
    light: Light = field(default_factory=lambda: Light(direction=(0.2, 0.3, 1.0), ambient=0.45, diffuse=0.6,
                                                       specular=0.2, shadows=False))
    occlusion: float = 0.35  # darkening of the eyeball next to the lids (see ``render_eye``)
    highlight: float = 0.9  # peak added brightness of the corneal reflection, 0 = none
    highlight_sigma: float = 1.5  # its size, pixels

    def rotation(self) -> np.ndarray:
        """Eye-frame rotation of the eyeball for this gaze."""
        yaw, pitch = self.gaze
        cy, sy, cp, sp = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch)
        ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
        rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
        return ry @ rx.T  # rx.T turns +z towards +y for positive pitch

    def limbus_z(self) -> float:
        return float(np.sqrt(self.eyeball_radius**2 - self.iris_radius**2))

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        return {k: (round(v, 7) if isinstance(v, float) else v) for k, v in d.items()}


# -- meshes ---------------------------------------------------------------------------------------------------------

def _matrix_to_quat(R: np.ndarray) -> tuple[float, float, float, float]:
    w = np.sqrt(max(0.0, 1 + R[0, 0] + R[1, 1] + R[2, 2])) / 2
    x = np.sqrt(max(0.0, 1 + R[0, 0] - R[1, 1] - R[2, 2])) / 2
    y = np.sqrt(max(0.0, 1 - R[0, 0] + R[1, 1] - R[2, 2])) / 2
    z = np.sqrt(max(0.0, 1 - R[0, 0] - R[1, 1] + R[2, 2])) / 2
    x = np.copysign(x, R[2, 1] - R[1, 2])
    y = np.copysign(y, R[0, 2] - R[2, 0])
    z = np.copysign(z, R[1, 0] - R[0, 1])
    return (float(x), float(y), float(z), float(w))


def _as_lists(v: np.ndarray, idx: np.ndarray, uv: np.ndarray, n: np.ndarray) -> Mesh:
    """Meshes go to the backend as Python lists made once and cached for good: pybullet keeps each mesh it is
    handed and shares one only when handed the very same list objects again (measured: fresh but equal lists
    leak about 1 MB per mesh per scene), so every template is converted once and reused."""
    return v.tolist(), np.asarray(idx).reshape(-1).tolist(), uv.tolist(), n.tolist()


def _grid_indices(rows: int, cols: int) -> np.ndarray:
    """Two triangles per cell of a (rows+1) x (cols+1) vertex grid, counter-clockwise seen from the side that
    e_col x e_row points to (e_col: direction of increasing column, e_row: of increasing row)."""
    r, c = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    a = (r * (cols + 1) + c).ravel()
    b, d = a + 1, a + cols + 1
    cc = d + 1
    return np.concatenate([np.stack([a, b, cc], 1), np.stack([a, cc, d], 1)])


@functools.cache
def sclera_mesh(radius: float, limbus_theta: float, segments: int = 64, rings: int = 40) -> Mesh:
    """The eyeball sphere minus the corneal cap (polar angle < ``limbus_theta`` from +z)."""
    theta = np.linspace(limbus_theta, np.pi, rings + 1)
    phi = np.linspace(0.0, 2 * np.pi, segments + 1)
    T, P = np.meshgrid(theta, phi, indexing="ij")
    n = np.stack([np.sin(T) * np.cos(P), np.sin(T) * np.sin(P), np.cos(T)], -1).reshape(-1, 3)
    # Texture rows run from the limbus (row 0) backwards (OpenGL: v = 1 is the texture's top row).
    uv = np.stack([P / (2 * np.pi), 1 - (T - limbus_theta) / (np.pi - limbus_theta)], -1).reshape(-1, 2)
    # rows run along theta (away from +z), columns along phi: e_phi x e_theta = -e_r: flip to face outwards.
    idx = _grid_indices(rings, segments)[:, [0, 2, 1]]
    return _as_lists(n * radius, idx, uv, n)


@functools.cache
def annulus_mesh(r_in: float, r_out: float, z: float, uv_radius: float, segments: int = 96,
                 rings: int = 8) -> Mesh:
    """A flat ring in the plane ``z`` facing +z; UVs map the disc of radius ``uv_radius`` onto the texture."""
    rho = np.linspace(r_in, r_out, rings + 1)
    phi = np.linspace(0.0, 2 * np.pi, segments + 1)
    R_, P = np.meshgrid(rho, phi, indexing="ij")
    v = np.stack([R_ * np.cos(P), R_ * np.sin(P), np.full_like(R_, z)], -1).reshape(-1, 3)
    uv = np.stack([(v[:, 0] / uv_radius + 1) / 2, (1 + v[:, 1] / uv_radius) / 2], -1)  # texture top = +y
    n = np.tile([0.0, 0.0, 1.0], (len(v), 1))
    return _as_lists(v, _grid_indices(rings, segments)[:, [0, 2, 1]], uv, n)  # e_phi x e_rho = -z: flip to face +z


def _skin_height(r: np.ndarray, Rs: float) -> tuple[np.ndarray, np.ndarray]:
    """Skin height z(r) and dz/dr (eyeball radius = 1): ``Rs cos(r / Rs)`` around the eye, easing (C1, so the
    shading has no crease) into a flat face over ``SKIN_BLEND`` beyond ``SKIN_FLAT_RADIUS``."""
    r1, w = SKIN_FLAT_RADIUS, SKIN_BLEND
    z1, g1 = Rs * np.cos(r1 / Rs), -np.sin(r1 / Rs)
    x = np.clip(r - r1, 0.0, w)
    z = np.where(r < r1, Rs * np.cos(np.minimum(r, r1) / Rs), z1 + g1 * (x - x**2 / (2 * w)))
    dz = np.where(r < r1, -np.sin(np.minimum(r, r1) / Rs), g1 * (1 - x / w))
    return z, dz


def lid_contour(upper: float, lower: float, half_width: float, per_lid: int = 64) -> np.ndarray:
    """The opening's outline (2 * per_lid x 2, closed loop, clockwise seen from the front, untilted): the upper
    margin from the left corner to the right one, then the lower margin back. Same units as the arguments."""
    u = np.linspace(-1.0, 1.0, per_lid + 1)
    up = np.column_stack([half_width * u, upper * (1 - u**2) ** 0.8])
    low = np.column_stack([half_width * u[::-1], -lower * (1 - u[::-1] ** 2) ** 0.9])[1:-1]
    return np.vstack([up, low])


@functools.cache
def skin_mesh(upper: float, lower: float, half_width: float, thickness: float, rings: int = 28,
              outer: float = SKIN_OUTER) -> Mesh:
    """The wrapped skin sheet with the opening, for an eyeball of radius 1 (lid sizes in eyeball radii): rings
    from the lid margin (t = 0) out to ``outer`` (t = 1). Cached: ``sample_eye`` draws lid sizes from small sets
    of levels, so only a bounded number of distinct meshes ever reaches the backend (see ``primitives``)."""
    c = lid_contour(upper, lower, half_width)
    c = np.vstack([c, c[:1]])  # close the loop (seam duplicated for the texture)
    ang = np.arctan2(c[:, 1], c[:, 0])
    o = np.column_stack([np.cos(ang), np.sin(ang)]) * outer
    t = (np.linspace(0.0, 1.0, rings + 1) ** 2)[:, None, None]
    xy = c[None] + (o - c)[None] * t  # (rings+1) x (n+1) x 2
    r = np.linalg.norm(xy, axis=-1)
    z, dz = _skin_height(r, 1.0 + thickness)
    v = np.concatenate([xy, z[..., None]], -1).reshape(-1, 3)
    with np.errstate(invalid="ignore", divide="ignore"):
        g = np.where(r[..., None] > 0, dz[..., None] * xy / r[..., None], 0.0)
    n = np.concatenate([-g, np.ones_like(z)[..., None]], -1).reshape(-1, 3)
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    s = np.linspace(0.0, 1.0, c.shape[0])
    S, T = np.meshgrid(s, t[:, 0, 0], indexing="xy")
    uv = np.stack([S, 1 - T], -1).reshape(-1, 2)  # texture row 0 = the lid margin
    # rows = t (outwards), cols = s (clockwise): e_s x e_t = +z, towards the viewer.
    idx = _grid_indices(rings, c.shape[0] - 1)
    return _as_lists(v, idx, uv, n)


# -- textures -------------------------------------------------------------------------------------------------------

def _periodic_noise(rng: np.random.Generator, n: int, smooth: float) -> np.ndarray:
    f = np.fft.rfft(rng.standard_normal(n))
    k = np.arange(len(f))
    f *= np.exp(-((k / smooth) ** 2))
    x = np.fft.irfft(f, n)
    return (x - x.mean()) / (x.std() + 1e-9)


IRIS_VARIANTS, SCLERA_VARIANTS, SKIN_VARIANTS = 24, 12, 24  # bounded texture banks (see scene.Texture for why)
NIR_IRIS_REF = 0.5  # NIR iris texture is drawn around this grey; ``EyeSpec.iris_brightness`` tints it
NIR_TINTS = {"skin": 0.7, "sclera": 0.66, "socket": 0.45, "pupil": 0.1}  # tuned against MMU (iris_stats)


def iris_texture(colour: str, variant: int, appearance: str, size: int = 256) -> np.ndarray:
    """Radial fibres in patches, a wavy collarette, crypts and a dark limbal ring, on a disc of radius 1 (the
    texture's inscribed circle is the limbus). One of ``IRIS_VARIANTS`` layouts per colour."""
    rng = np.random.default_rng([variant, 1])
    yy, xx = (np.mgrid[0:size, 0:size] + 0.5) / size * 2 - 1
    rho, phi = np.hypot(xx, yy), np.arctan2(yy, xx)
    n = 720
    fib = [_periodic_noise(rng, n, s) for s in (60.0, 160.0)]
    twist = 0.08 * rng.standard_normal()
    idx = (((phi + twist * rho) / (2 * np.pi)) % 1.0 * n).astype(int)
    patches = cv2.resize(rng.random((12, 12)).astype(np.float32), (size, size), interpolation=cv2.INTER_CUBIC)
    fibres = (0.6 * fib[0][idx] + 0.4 * fib[1][idx]) * (0.5 + 0.7 * patches)
    coll_r = rng.uniform(0.45, 0.6) + 0.03 * _periodic_noise(rng, n, 8.0)[idx]
    tone = 0.5 + 0.18 * fibres + np.where(rho < coll_r, 0.12, 0.0)
    tone -= 0.35 * np.clip((rho - 0.88) / 0.12, 0, 1)  # limbal ring
    crypts = cv2.GaussianBlur((rng.random((size, size)) < 0.0015).astype(np.float32), (0, 0), size / 90)
    tone -= 0.5 * np.clip(crypts / (crypts.max() + 1e-9), 0, 1) * ((rho > 0.35) & (rho < 0.85))
    tone = np.clip(tone, 0.0, 1.0)[..., None]
    if appearance == "nir":  # near infrared: melanin barely absorbs, every iris is mid-grey
        c1, c2 = np.full(3, NIR_IRIS_REF * 0.6), np.full(3, NIR_IRIS_REF * 1.4)
    else:
        c1, c2 = (np.asarray(c) for c in IRIS_PALETTE[colour])
    img = c1 * (1 - tone) * 1.2 + c2 * tone
    return np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)


def sclera_texture(variant: int, appearance: str, size: int = 256) -> np.ndarray:
    """White (tinted later) with a few thin vessels running from the corners (UV: u = around, v = from the limbus
    at the top row)."""
    rng = np.random.default_rng([variant, 2])
    img = np.ones((size, size, 3)) * (1 + 0.03 * cv2.GaussianBlur(rng.standard_normal((size, size)), (0, 0), 4))[
        ..., None]
    vessel = np.zeros((size, size), np.float32)
    for _ in range(int(rng.integers(4, 12))):
        u = rng.choice([0.0, 0.5]) + rng.normal(0, 0.08)
        v = rng.uniform(0.5, 0.9)
        pts = []
        for _step in range(12):
            pts.append((int((u % 1) * size), int(np.clip(v, 0, 1) * size)))
            u += rng.normal(0, 0.02)
            v -= abs(rng.normal(0.035, 0.015))
        cv2.polylines(vessel, [np.array(pts, np.int32)], False, 1.0, 1, cv2.LINE_AA)
    red = np.array([0.8, 0.27, 0.27]) if appearance == "visible" else np.full(3, 0.85)
    a = (0.5 * vessel)[..., None]
    img = img * (1 - a) + red * a
    return np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)


def skin_texture(variant: int, appearance: str, width: int = 1024, height: int = 256) -> np.ndarray:
    """Skin (white, tinted later) in the lid's (s, t) parameters, row 0 at the lid margin: tone noise, a pink
    margin, the upper-lid crease, lashes."""
    rng = np.random.default_rng([variant, 3])
    tone = 1 + 0.05 * cv2.GaussianBlur(rng.standard_normal((height, width)), (0, 0), 3)
    img = np.ones((height, width, 3)) * np.clip(tone, 0, 1)[..., None]
    tt = (np.arange(height) + 0.5) / height
    margin = np.clip(1 - tt / 0.025, 0, 1)[:, None, None]
    pink = np.array([0.85, 0.55, 0.55]) if appearance == "visible" else np.full(3, 0.85)
    img = img * (1 - 0.6 * margin) + pink * 0.6 * margin
    crease = np.exp(-(((tt - rng.uniform(0.05, 0.1)) / 0.01) ** 2))[:, None, None]
    img[:, : width // 2] *= 1 - 0.25 * crease
    lash = np.zeros((height, width), np.float32)
    lashes = int(rng.integers(50, 130))
    for k in range(lashes):
        up = k < lashes * 2 // 3
        s = rng.uniform(0.04, 0.46) if up else rng.uniform(0.56, 0.96)
        length = rng.uniform(0.04, 0.09) if up else rng.uniform(0.02, 0.05)
        x0 = s * width
        x1 = x0 + rng.normal(0, 6) + (x0 - width / 4 if up else x0 - 3 * width / 4) * 0.05
        cv2.line(lash, (int(x0), 0), (int(x1), int(length * height)), 1.0, 1, cv2.LINE_AA)
    a = np.clip(lash, 0, 1)[..., None] * 0.9
    img = img * (1 - a) + (0.07 if appearance == "visible" else 0.14) * a
    return np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)


def _white() -> np.ndarray:
    return np.full((8, 8, 3), 255, np.uint8)


def _tint(spec: EyeSpec, rgb: tuple[float, float, float], part: str) -> tuple[float, float, float]:
    if spec.appearance == "nir":
        return (NIR_TINTS[part],) * 3
    return tuple(float(v) for v in rgb)  # type: ignore[return-value]


def _quat_z(angle: float) -> tuple[float, float, float, float]:
    return (0.0, 0.0, float(np.sin(angle / 2)), float(np.cos(angle / 2)))


def eye_bodies(spec: EyeSpec) -> list[MeshBody]:
    """The five bodies of the eye, in body-index order (skin, socket, sclera, iris, pupil). Every mesh is a unit
    template scaled per eye (bounded memory inside pybullet, see ``primitives``): the skin in eyeball radii
    (turned by the tilt), the sclera for the iris/eyeball ratio, iris and pupil as unit discs, the pupil disc
    20 microns in front of the iris (so the iris shows as an annulus). ``spec.seed`` picks the texture layouts from
    bounded banks; colours are tints."""
    R = spec.eyeball_radius
    theta_l = round(float(np.arcsin(spec.iris_radius / R)), 6)
    zl = spec.limbus_z()
    Rg = spec.rotation()
    orient = _matrix_to_quat(Rg)
    key = hashlib.sha1(repr(spec).encode()).hexdigest()
    app = spec.appearance
    iv, sv, kv = spec.seed % IRIS_VARIANTS, spec.seed % SCLERA_VARIANTS, spec.seed % SKIN_VARIANTS
    b = spec.iris_brightness
    skin = skin_mesh(round(spec.upper_lid / R, 4), round(spec.lower_lid / R, 4), round(spec.half_width / R, 4),
                     round(spec.lid_thickness / R, 4))
    disc = annulus_mesh(0.0, 1.0, 0.0, 1.0)
    tilt = _quat_z(spec.tilt)
    def on_axis(z: float) -> tuple[float, float, float]:
        x, y, zz = (float(v) for v in Rg @ [0.0, 0.0, z])
        return x, y, zz

    parts = (
        ("skin", skin, f"eye-skin-{kv}-{app}", lambda: skin_texture(kv, app),
         _tint(spec, spec.skin_colour, "skin"), (R, R, R), (0.0, 0.0, 0.0), tilt),
        ("socket", disc, "white", _white, _tint(spec, (0.72, 0.42, 0.42), "socket"), (1.7 * R, 1.7 * R, 1.0),
         (0.0, 0.0, -R / 6), (0.0, 0.0, 0.0, 1.0)),
        ("sclera", sclera_mesh(1.0, theta_l), f"eye-sclera-{sv}-{app}", lambda: sclera_texture(sv, app),
         _tint(spec, spec.sclera_colour, "sclera"), (R, R, R), (0.0, 0.0, 0.0), orient),
        ("iris", disc, f"eye-iris-{spec.iris_colour if app == 'visible' else 'nir'}-{iv}-{app}",
         lambda: iris_texture(spec.iris_colour, iv, app), (b, b, b), (spec.iris_radius, spec.iris_radius, 1.0),
         on_axis(zl), orient),
        ("pupil", disc, "white", _white, _tint(spec, (0.02, 0.02, 0.02), "pupil"),
         (spec.pupil_radius, spec.pupil_radius, 1.0), on_axis(zl + PUPIL_OFFSET), orient),
    )
    bodies = []
    for name, mesh, tex_key, tex_fn, tint, scale, pos, orn in parts:
        v, idx, uv, n = mesh
        bodies.append(MeshBody(name, v, idx, uv, n, tex_key, tex_fn, f"{key}/{name}", tint=tint, scale=scale,
                               position=pos, orientation=orn))
    return bodies


# -- rendering and ground truth -------------------------------------------------------------------------------------

def _boundary_points(spec: EyeSpec, radius: float, z: float) -> np.ndarray:
    a = np.deg2rad(np.arange(0, 360, 45))
    local = np.column_stack([radius * np.cos(a), radius * np.sin(a), np.full(8, z)])
    return local @ spec.rotation().T


def corneal_highlight(spec: EyeSpec, camera: Camera) -> np.ndarray | None:
    """World point where the light mirrors off the cornea towards the camera, or None when that point falls
    outside the cornea (light or camera too far to the side)."""
    Rg = spec.rotation()
    apex = spec.eyeball_radius + 0.0015
    centre = Rg @ np.array([0.0, 0.0, apex - CORNEA_RADIUS])
    L = np.asarray(spec.light.direction, dtype=np.float64)
    L /= np.linalg.norm(L)
    V = camera.position - centre
    V /= np.linalg.norm(V)
    n = L + V
    n /= np.linalg.norm(n)
    if n @ (Rg @ [0.0, 0.0, 1.0]) < np.cos(np.arcsin(min(1.0, spec.iris_radius / CORNEA_RADIUS))):
        return None
    return centre + CORNEA_RADIUS * n


def eye_normals(buf: RenderBuffers, camera: Camera) -> np.ndarray:
    """Camera-frame unit normals of an eye render (H x W x 3 float32): the eye is made of meshes (lids, skin,
    tessellated eyeball and iris), so they come from the rendered depth like a mesh object's in
    ``groundtruth.surface_normals`` — central differences of the back-projected points, one body at a time so no
    difference crosses from one surface to another. Zero where there is no surface and on each body's one-pixel
    rim (a neighbour is missing there)."""
    H, W = buf.depth.shape
    out = np.zeros((H, W, 3), np.float32)
    drawn = buf.drawn
    if not drawn.any():
        return out
    world = camera.backproject(buf.depth)
    R = camera.world_to_camera[:3, :3]
    for body in np.unique(buf.instance[drawn]):
        sel = drawn & (buf.instance == body)
        n = normals_from_points(world, sel, camera.position)[sel]
        out[sel] = n @ R.T
    return out


def _buffer_normals(buf: RenderBuffers, camera: Camera) -> np.ndarray:
    """The backend's own per-pixel normals when its buffers carry them (the raycast backend's: the interpolated
    vertex normals, exact and cheap), else ``eye_normals`` from the depth."""
    normals = getattr(buf, "normals", None)
    return eye_normals(buf, camera) if normals is None else normals


def eye_renderer(name: str = "auto") -> str:
    """The backend that draws eyes for ``name``: ``auto`` is ``raycast`` (a numpy rasteriser: the same masks,
    keypoints and, to a grey level, pixels as pybullet's TinyRenderer, normals from the meshes, about a fifth of
    the CPU time; see ``source.RenderEyeSource`` for the measurements); any other name is itself.

    >>> eye_renderer(), eye_renderer("pybullet")
    ('raycast', 'pybullet')
    """
    return "raycast" if name == "auto" else name


def render_eye(spec: EyeSpec, camera: Camera, *, renderer: str = "auto", provenance: Provenance | None = None,
               min_pixels: int = 1) -> Sample:
    """Render an eye into an annotated ``Sample`` (iris and pupil instances, label map, depth, normals,
    keypoints): the eye's bodies drawn by ``renderer`` (any backend that draws mesh bodies; ``auto``: see
    ``eye_renderer``), then ``eye_sample``, the eye's ground-truth rule, on the buffers.

    >>> s = render_eye(EyeSpec(), eye_camera(np.random.default_rng(0), 160, 120))
    >>> s.annotations.categories, s.annotations.label_names[3]
    (['iris', 'pupil'], 'iris')
    """
    backend = get_backend(eye_renderer(renderer))
    if not hasattr(backend, "render_bodies"):
        raise ValueError(f"renderer {renderer!r} cannot draw mesh bodies (the eye); use raycast or pybullet")
    buf = backend.render_bodies(eye_bodies(spec), camera, spec.light)
    return eye_sample(spec, camera, buf, provenance=provenance, min_pixels=min_pixels)


def eye_sample(spec: EyeSpec, camera: Camera, buf: RenderBuffers, *, provenance: Provenance | None = None,
               min_pixels: int = 1) -> Sample:
    """The eye's ground-truth rule: from the buffers of its bodies (instance = body index: skin, socket, sclera,
    iris, pupil) and the spec, the finished image (contact shadow, corneal highlight, NIR grey) and every
    annotation — iris and pupil masks and boxes, 8 boundary keypoints each with occlusion-tested visibility, the
    label map, depth and normals. Knows nothing of the backend that drew the buffers."""
    img = buf.rgb.astype(np.float32)
    label_map = _BODY_LABEL[buf.instance + 1]
    label_map[~buf.drawn] = 0
    if spec.occlusion > 0:
        # Lids shade the eyeball next to them. TinyRenderer's hard shadow maps alias badly on the curved skin, so
        # shadows are off and this contact shadow stands in: darken eyeball pixels by their distance to the skin.
        ball = (label_map >= 2).astype(np.uint8)
        if ball.any():
            dist = cv2.distanceTransform(ball, cv2.DIST_L2, 3)
            scale = max(1.0, 0.05 * camera.K[0, 0] * spec.iris_radius / float(camera.position[2]) * 2)
            img *= (1 - spec.occlusion * np.exp(-dist / scale) * ball)[..., None]
    p = corneal_highlight(spec, camera) if spec.highlight > 0 else None
    if p is not None:
        uv, _ = camera.project(p[None])
        u, v = uv[0]
        if 0 <= u < camera.width and 0 <= v < camera.height and label_map[int(v), int(u)] >= 2:
            yy, xx = np.mgrid[0:camera.height, 0:camera.width] + 0.5
            blob = np.exp(-((xx - u) ** 2 + (yy - v) ** 2) / (2 * spec.highlight_sigma**2))
            img += 255 * spec.highlight * blob[..., None]
    if spec.appearance == "nir":
        img = np.repeat(img.mean(axis=2, keepdims=True), 3, axis=2)
    image = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    cats, masks, kps, vis, attrs = [], [], [], [], []
    zl = spec.limbus_z()
    rings = (("iris", IRIS, (spec.iris_radius + spec.pupil_radius) / 2, zl),
             ("pupil", PUPIL, spec.pupil_radius / 2, zl + PUPIL_OFFSET))
    for name, body, radius, z in rings:
        m = buf.instance == body
        if m.sum() < max(1, min_pixels):
            continue
        pts = _boundary_points(spec, radius, z)
        uv, depth = camera.project(pts)
        ok = np.ones(8, bool)
        cats.append(name)
        masks.append(m)
        vis.append(keypoint_visibility(uv, depth, ok, body, camera, buf))
        kps.append(np.where(np.isfinite(uv), uv, 0.0))
        attrs.append({"body": name, "area": int(m.sum())})
    H, W = buf.depth.shape
    mask_arr = np.stack(masks) if masks else np.zeros((0, H, W), bool)
    ann = Annotations(
        label="eye",
        attributes={"gaze_yaw_deg": round(float(np.rad2deg(spec.gaze[0])), 3),
                    "gaze_pitch_deg": round(float(np.rad2deg(spec.gaze[1])), 3),
                    "pupil_radius_mm": round(spec.pupil_radius * 1000, 4),
                    "iris_radius_mm": round(spec.iris_radius * 1000, 4),
                    "upper_lid_mm": round(spec.upper_lid * 1000, 4), "iris_colour": spec.iris_colour,
                    "appearance": spec.appearance},
        categories=cats,
        boxes=boxes_from_masks(mask_arr),
        masks=mask_arr,
        keypoints=np.stack(kps) if kps else np.zeros((0, 8, 2)),
        visibility=np.stack(vis) if vis else np.zeros((0, 8), np.uint8),
        keypoint_schema=EYE_SCHEMA,
        instance_attributes=attrs,
        label_map=label_map,
        label_names=dict(LABELS),
        depth=buf.depth,
        normals=_buffer_normals(buf, camera),
        extras={"camera": camera.to_json(), "normals_frame": "camera"},
    )
    prov = provenance or Provenance("render_eye", "render_eye", params={"eye": spec.to_json(),
                                                                         "camera": camera.to_json()})
    return Sample(image, ann, prov)


# -- sampling -------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class EyeOptions:
    """Ranges the eye sampler draws from (sizes in mm, angles in degrees, iris diameter in pixels)."""

    iris_radius_mm: tuple[float, float] = (5.5, 6.5)
    pupil_fraction: tuple[float, float] = (0.2, 0.6)  # pupil radius / iris radius
    gaze_deg: tuple[float, float] = (-20.0, 20.0)
    opening: tuple[float, float] = (0.35, 1.0)
    iris_diameter_px: tuple[float, float] = (70.0, 130.0)
    colours: tuple[str, ...] = tuple(IRIS_PALETTE)
    appearance: Literal["visible", "nir"] = "visible"


def sample_eye(rng: np.random.Generator, options: EyeOptions | None = None) -> EyeSpec:
    """A random eye: iris size and colour, pupil size, gaze, eyelid opening and shape, skin tone, lighting.

    >>> e = sample_eye(np.random.default_rng(0))
    >>> 0.0055 <= e.iris_radius <= 0.0065 and e.pupil_radius < e.iris_radius
    True
    """
    o = options or EyeOptions()
    ri = rng.uniform(*o.iris_radius_mm) / 1000
    R = ri / EYE_RATIO
    opening = rng.uniform(*o.opening)
    gaze = tuple(float(v) for v in np.deg2rad(rng.uniform(*o.gaze_deg, 2) * [1.0, 0.6]))
    tone = rng.uniform(0.35, 1.0)
    skin = tuple(float(v) for v in np.clip(np.array([0.95, 0.75, 0.62]) * tone + rng.normal(0, 0.03, 3), 0, 1))
    d = rng.normal([0.0, 0.0], 0.4)
    light = Light(direction=(float(d[0]), float(d[1]), 1.0), ambient=float(rng.uniform(0.35, 0.6)),
                  diffuse=float(rng.uniform(0.35, 0.65)), specular=float(rng.uniform(0.05, 0.3)), shadows=False)

    def level(levels: tuple[float, ...], target: float) -> float:  # lid shapes come from a few levels
        return float(levels[int(np.argmin(np.abs(np.asarray(levels) - target)))])

    return EyeSpec(
        eyeball_radius=float(R),
        iris_radius=float(ri),
        pupil_radius=float(ri * rng.uniform(*o.pupil_fraction)),
        gaze=gaze,  # type: ignore[arg-type]
        upper_lid=level(UPPER_LEVELS, 0.125 + 0.54 * opening + rng.normal(0, 0.03)) * R,
        lower_lid=level(LOWER_LEVELS, 0.29 + 0.21 * opening + rng.normal(0, 0.03)) * R,
        half_width=float(WIDTH_LEVELS[int(rng.integers(len(WIDTH_LEVELS)))] * R),
        lid_thickness=0.125 * R,
        tilt=float(np.deg2rad(rng.normal(0, 4))),
        iris_colour=o.colours[int(rng.integers(len(o.colours)))],
        skin_colour=skin,  # type: ignore[arg-type]
        sclera_colour=tuple(float(v) for v in np.clip(rng.normal([0.92, 0.9, 0.86], 0.025), 0, 1)),  # type: ignore
        iris_brightness=float(rng.uniform(0.52, 0.82) if o.appearance == "nir" else rng.uniform(0.8, 1.0)),
        seed=int(rng.integers(1 << 31)),
        appearance=o.appearance,
        light=light,
        highlight=float(rng.uniform(0.5, 1.0)),
        highlight_sigma=float(rng.uniform(0.8, 2.0)),
        occlusion=float(rng.uniform(0.2, 0.5)),
    )


def eye_camera(rng: np.random.Generator, width: int, height: int, options: EyeOptions | None = None,
               spec: EyeSpec | None = None) -> Camera:
    """A camera in front of the eye: distance 5-10 cm, focal length set so the iris spans ``iris_diameter_px``
    pixels, small offsets of position, aim and roll.

    >>> cam = eye_camera(np.random.default_rng(0), 320, 240)
    >>> bool(0.04 < cam.position[2] < 0.11)
    True
    """
    o = options or EyeOptions()
    ri = spec.iris_radius if spec is not None else 0.006
    dist = rng.uniform(0.05, 0.1)
    f = rng.uniform(*o.iris_diameter_px) * dist / (2 * ri)
    eye = np.array([*rng.normal(0, 0.006, 2), dist])
    target = np.array([*rng.normal(0, 0.0015, 2), 0.0])
    T = look_at(eye, target, up=np.array([0.0, 1.0, 0.0]), roll=float(np.deg2rad(rng.normal(0, 5))))
    return Camera(intrinsics(f, f, width / 2, height / 2), T, width, height, near=0.005, far=1.0)
