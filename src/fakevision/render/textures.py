"""Procedural textures and backgrounds baked to pixels. Pure functions of their spec, so scenes stay reproducible.

Why procedural: flat-coloured objects on a flat floor teach a detector to look for colour edges only; patterns
(checker, stripes, noise, dots) give the texture variety domain randomisation relies on, with no asset files.
Object and ground textures are grey patterns tinted per object (see ``scene.Texture`` for why).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from fakevision.core.errors import InputError
from fakevision.io.images import read_image
from fakevision.render.scene import Background, Texture


def _smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Value noise in [0, 1]: random values on a ``cells`` grid, bicubic-upsampled, two octaves."""
    out = np.zeros((size, size), np.float32)
    for octave, weight in ((max(cells, 1), 0.7), (max(cells, 1) * 4, 0.3)):
        g = rng.random((octave + 1, octave + 1)).astype(np.float32)
        out += weight * cv2.resize(g, (size, size), interpolation=cv2.INTER_CUBIC)
    return np.clip(out, 0.0, 1.0)


PATTERN_DARK = 0.45  # grey level of a pattern's dark parts


def bake_pattern(kind: str, cells: int, variant: int, size: int = 128) -> np.ndarray:
    """The grey pattern of a texture kind as ``size`` x ``size`` x 3 uint8 (white = full tint).

    >>> img = bake_pattern("checker", 2, 0, size=4)
    >>> img[0, 0].tolist(), img[0, 2].tolist()
    ([255, 255, 255], [115, 115, 115])
    """
    return np.repeat(bake_grey(kind, cells, variant, size)[..., None], 3, axis=2)


def bake_grey(kind: str, cells: int, variant: int, size: int = 128) -> np.ndarray:
    """``bake_pattern``'s single channel (``size`` x ``size`` uint8; the three channels are equal), for callers
    that tint or warp one channel.

    Why it is built this way: every pattern but ``noise`` is a function of the column's and the row's position in
    its cell, so it is made from two 1-D index vectors (``np.mgrid`` made two ``size``² index arrays first: ~20x
    slower at 1024², and a scene's first view pays for its new patterns); the two-level patterns look up their
    grey from a 2-entry table computed with the very expression the plain formula uses (float32), so the pixels
    are the same.

    >>> bake_grey("stripes", 2, 0, size=4).tolist()[0]
    [255, 255, 115, 115]
    """
    cell = size / max(cells, 1)
    idx = np.arange(size)
    if kind == "plain":
        return np.full((size, size), _LEVELS[0], np.uint8)
    if kind == "checker":
        parity = ((idx // cell) % 2).astype(np.uint8)  # per column (and, the same, per row)
        return _LEVELS[parity[:, None] ^ parity[None, :]]
    if kind == "stripes":
        return np.ascontiguousarray(np.broadcast_to(_LEVELS[((idx // cell) % 2).astype(np.intp)], (size, size)))
    if kind == "noise":
        t = _smooth_noise(np.random.default_rng([variant, cells, size]), size, cells)
        return _grey(t)
    if kind == "dots":
        c = (idx % cell) - cell / 2  # offset from the cell centre, per column (and per row)
        inside = np.hypot(c[None, :], c[:, None]) < cell * (0.25 + 0.05 * (variant % 4))
        return _LEVELS[inside.view(np.uint8)]
    raise ValueError(f"unknown texture kind {kind!r}")


def _grey(t: np.ndarray) -> np.ndarray:
    """Pattern value t in [0, 1] (float32; 1 = dark) -> uint8 grey, the one formula of every pattern."""
    grey = 1.0 - (1.0 - PATTERN_DARK) * t
    return np.clip(np.rint(grey * 255), 0, 255).astype(np.uint8)


_LEVELS = _grey(np.array([0.0, 1.0], np.float32))  # the grey of t = 0 and t = 1


def bake_texture(tex: Texture, size: int = 128) -> np.ndarray:
    """The tinted texture as ``size`` x ``size`` x 3 uint8 RGB (what a backend without tinting would load).

    >>> bake_texture(Texture("checker", (1.0, 0.0, 0.0), cells=2), size=4)[0, 2].tolist()
    [115, 0, 0]
    """
    pattern = bake_pattern(tex.kind, tex.cells, tex.variant, size).astype(np.float32)
    return np.clip(np.rint(pattern * np.asarray(tex.colour, np.float32)), 0, 255).astype(np.uint8)


def list_photos(folder: str | Path) -> list[Path]:
    """Image files (png/jpg/jpeg/bmp) in ``folder``, sorted by name so the choice is reproducible."""
    d = Path(folder)
    if not d.is_dir():
        raise InputError("background folder not found", d)
    photos = sorted(p for p in d.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp"))
    if not photos:
        raise InputError("background folder has no .png/.jpg/.bmp images", d)
    return photos


def bake_background(bg: Background, width: int, height: int, crop: tuple[float, float, float] = (0.5, 0.5, 1.0),
                    photo_cache: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """The background as H x W x 3 uint8. ``crop`` = (x centre, y centre, scale) in [0, 1] chooses the part of a
    photo that shows (each view crops differently, as a camera turning in front of a distant backdrop would).

    >>> bake_background(Background("gradient", (0, 0, 0), (1, 1, 1)), 4, 3)[:, 0, 0].tolist()
    [0, 128, 255]
    """
    if bg.kind == "photo":
        if bg.path is None:
            raise ValueError("a photo background needs a path")
        cache = photo_cache if photo_cache is not None else {}
        if bg.path not in cache:
            cache[bg.path] = read_image(bg.path, "RGB")
        photo = cache[bg.path]
        ph, pw = photo.shape[:2]
        # Largest crop with the output's aspect ratio, scaled by crop[2], centred where crop[:2] says.
        s = min(pw / width, ph / height) * float(np.clip(crop[2], 0.2, 1.0))
        cw, ch = width * s, height * s
        x0 = (pw - cw) * float(np.clip(crop[0], 0, 1))
        y0 = (ph - ch) * float(np.clip(crop[1], 0, 1))
        M = np.array([[s, 0, x0], [0, s, y0]], np.float64)  # output pixel -> photo pixel (corner convention)
        M[:, 2] += (M[:, 0] + M[:, 1]) * 0.5 - 0.5  # OpenCV addresses pixel centres at integers
        return cv2.warpAffine(photo, M, (width, height), flags=cv2.INTER_AREA | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_REFLECT)
    # Both kinds: rint((c1 (1 - t) + c2 t) 255) in float32, elementwise, so how it is laid out does not change a
    # value. Measured at 256²: a gradient's t depends on the row only, so one column is computed and repeated
    # across (0.2 ms, was 1 ms); noise is blended one colour plane at a time and merged (0.3 ms, was 2.3 ms:
    # NumPy's broadcasting of H x W x 1 against 3 colours runs inner loops of length 3).
    c1, c2 = np.asarray(bg.colour, np.float32), np.asarray(bg.colour2, np.float32)
    if bg.kind == "gradient":
        t = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
        column = np.clip(np.rint((c1 * (1 - t) + c2 * t) * 255), 0, 255).astype(np.uint8)
        return np.repeat(column, width, axis=1)
    if bg.kind == "noise":
        t = np.ascontiguousarray(_smooth_noise(np.random.default_rng(bg.seed), max(width, height), 6)[:height, :width])
        one_minus_t = 1 - t
        planes = []
        for c in range(3):
            plane = c1[c] * one_minus_t
            plane += c2[c] * t
            plane *= np.float32(255)
            np.rint(plane, out=plane)
            np.clip(plane, 0, 255, out=plane)
            planes.append(plane.astype(np.uint8))
        return cv2.merge(planes)
    raise ValueError(f"unknown background kind {bg.kind!r}")
