"""Photometric kernels on H x W x C images, uint8 (0-255) or float32 ([0, 1]). OpenCV does the heavy work;
uint8 point operations go through a 256-entry lookup table (one pass, no float copy of the image)."""

from __future__ import annotations

import math

import cv2
import numpy as np


def is_float(image: np.ndarray) -> bool:
    return image.dtype != np.uint8


def _keep_channels(out: np.ndarray, like: np.ndarray) -> np.ndarray:
    return out[:, :, None] if like.ndim == 3 and out.ndim == 2 else out


def apply_lut(image: np.ndarray, f) -> np.ndarray:  # noqa: ANN001 - f maps a float array in [0, 1] to [0, 1]
    """Apply a point function: through a LUT for uint8, directly for float images."""
    if is_float(image):
        return np.clip(f(image), 0.0, 1.0).astype(np.float32)
    lut = np.clip(np.rint(f(np.arange(256, dtype=np.float64) / 255.0) * 255.0), 0, 255).astype(np.uint8)
    return _keep_channels(cv2.LUT(image, lut), image)


def gaussian_blur(image: np.ndarray, sigma: float, radius: int | None = None) -> np.ndarray:
    """Gaussian blur with standard deviation ``sigma`` px; kernel half-width ``radius`` (default ceil(3 sigma))."""
    if sigma <= 0:
        return image.copy()
    r = int(radius) if radius is not None else max(1, math.ceil(3.0 * sigma))
    k = 2 * r + 1
    return _keep_channels(cv2.GaussianBlur(image, (k, k), sigmaX=sigma, sigmaY=sigma,
                                           borderType=cv2.BORDER_REFLECT_101), image)


_QUANTILES: np.ndarray | None = None


def normal_quantiles() -> np.ndarray:
    """The 65,536 standard normal quantiles at ``(i + 0.5) / 65536`` (float64, computed once with SciPy's
    ``ndtri``; read-only): a 16-bit uniform draw looked up here is a normal draw, cut off at +-4.33 sigma (a tail
    of 1.5e-5)."""
    global _QUANTILES
    if _QUANTILES is None:
        from scipy.special import ndtri

        q = ndtri((np.arange(65536) + 0.5) / 65536)
        q.flags.writeable = False
        _QUANTILES = q
    return _QUANTILES


def _lookup_blocks(seed: int, table: np.ndarray, shape: tuple[int, int, int]):  # noqa: ANN202 - a generator
    """``table`` looked up at 16-bit uniforms, a block of rows at a time: ``(r0, r1, values)`` for rows r0..r1 of an
    ``h x w x nc`` array. The uniforms are the raw 64-bit outputs of PCG64 seeded with ``seed`` (the bit
    generator's stream, which NumPy keeps stable across versions), each cut into four little-endian 16-bit words.
    Why blocks: a lookup turns its indices into 8-byte integers, 4x the noise in temporaries if done at once, and a
    caller that uses each block at once never holds the whole noise; blocks of a multiple of 4 rows take whole
    64-bit draws, so they continue one stream (the same values as one draw for the whole image)."""
    h, w, nc = shape
    bits = np.random.default_rng(int(seed)).bit_generator
    rows = max(4, (1 << 16) // max(1, w * nc) // 4 * 4)
    for r0 in range(0, h, rows):
        r1 = min(h, r0 + rows)
        n = (r1 - r0) * w * nc
        u = bits.random_raw((n + 3) // 4).astype("<u8", copy=False).view("<u2")[:n].reshape(r1 - r0, w, nc)
        out = np.empty(u.shape, table.dtype)
        np.take(table, u, out=out, mode="clip")  # indices are 0..65535: nothing to clip, no buffering
        yield r0, r1, out


def _noise_table(sigma255: float, is_float_image: bool) -> np.ndarray:
    """The quantiles times sigma: float32 on the 0-1 scale for float images; for uint8 images rounded to whole grey
    levels and clipped to +-255 (int16), computed a quarter at a time (no full float64 temporary)."""
    q = normal_quantiles()
    if is_float_image:
        return (q * (sigma255 / 255.0)).astype(np.float32)
    table = np.empty(len(q), np.int16)
    step = len(q) // 4
    for i in range(0, len(q), step):
        part = np.multiply(q[i : i + step], sigma255)
        np.rint(part, out=part)
        np.clip(part, -255, 255, out=part)
        table[i : i + step] = part
    return table


def gaussian_noise(image: np.ndarray, sigma255: float, seed: int, per_channel: bool = True) -> np.ndarray:
    """Add zero-mean Gaussian noise of standard deviation ``sigma255`` on the 0-255 scale (seeded, pure).

    The draws are 16-bit uniforms from the raw PCG64 stream of ``seed`` (``_lookup_blocks``), turned into normal
    values by the quantile table (``normal_quantiles``): the bytes depend on NumPy's bit generator and SciPy's
    table, not on the OpenCV version (the first version drew with ``cv2.randn``, whose generator OpenCV may change).
    For uint8 images the table holds the quantiles times sigma *rounded*, added with saturation: since the image is
    whole numbers, ``round(x + n) = x + round(n)``, the same bytes as adding the real-valued noise and rounding, at
    the speed of a table lookup (faster than ``cv2.randn`` here, ~4x faster than NumPy's normals). The noise is
    added a block of rows at a time, as it is drawn: the whole noise array never exists.

    >>> img = np.full((8, 8, 3), 128, np.uint8)
    >>> a, b = gaussian_noise(img, 10.0, seed=7), gaussian_noise(img, 10.0, seed=7)
    >>> bool((a == b).all()), 5 < float(np.std(a.astype(float))) < 15       # seeded: same bytes; sigma ~10
    (True, True)
    """
    h, w, c = image.shape
    nc = c if per_channel else 1
    floating = is_float(image)
    table = _noise_table(sigma255, floating)
    out = np.empty(image.shape, np.float32 if floating else np.uint8)
    for r0, r1, noise in _lookup_blocks(seed, table, (h, w, nc)):
        if nc == 1 and c > 1:
            noise = np.repeat(noise, c, axis=2)
        if floating:
            np.add(image[r0:r1], noise, out=out[r0:r1], casting="unsafe")
            np.clip(out[r0:r1], 0.0, 1.0, out=out[r0:r1])
        else:  # cv2.add saturates to 0..255 in one pass (integer arithmetic: no rounding left to depend on)
            if c == 1:  # OpenCV sees one channel as 2-D: hand it 2-D views, so it writes into ``out``
                cv2.add(image[r0:r1, :, 0], noise[:, :, 0], dst=out[r0:r1, :, 0], dtype=cv2.CV_8U)
            else:
                cv2.add(image[r0:r1], noise, dst=out[r0:r1], dtype=cv2.CV_8U)
    return out


def contrast(image: np.ndarray, factor: float) -> np.ndarray:
    """Blend with the image's mean grey level: ``mean + factor * (x - mean)`` (factor < 1 lowers contrast)."""
    h, w, c = image.shape
    # cv2.sumElems: one SIMD pass (an order of magnitude faster than cv2.mean or ndarray.mean on H x W x 3)
    mean = sum(cv2.sumElems(image)[:c]) / (h * w * c) / (1.0 if is_float(image) else 255.0)
    return apply_lut(image, lambda x: mean + factor * (x - mean))


def brightness(image: np.ndarray, delta: float) -> np.ndarray:
    """Add ``delta`` (a fraction of full scale, e.g. 0.1 = +25.5 grey levels)."""
    return apply_lut(image, lambda x: x + delta)


def gamma(image: np.ndarray, g: float) -> np.ndarray:
    """Gamma curve ``x ** g`` on [0, 1] (g > 1 darkens mid-tones)."""
    return apply_lut(image, lambda x: np.power(np.clip(x, 0.0, 1.0), g))


def motion_kernel(length: float, angle_deg: float) -> np.ndarray:
    """A normalised motion kernel: the area each kernel pixel shares with a 1 px wide, ``length`` px long bar
    through the centre at ``angle_deg`` (0 = horizontal, positive = counter-clockwise on screen), measured by
    8x8 supersampling. A horizontal bar of odd integer length is exactly the box filter of that length.

    >>> k = motion_kernel(3, 0)
    >>> k.shape, [round(float(v), 3) for v in k[2]], float(k.sum())
    ((5, 5), [0.0, 0.333, 0.333, 0.333, 0.0], 1.0)
    """
    r = int(math.ceil(length / 2.0 + 0.5))
    size = 2 * r + 1
    ss = 8
    t = (np.arange(size * ss) + 0.5) / ss - 0.5 - r  # sub-pixel centres relative to the kernel centre
    x, y = np.meshgrid(t, t)
    a = math.radians(angle_deg)
    along = x * math.cos(a) - y * math.sin(a)
    across = x * math.sin(a) + y * math.cos(a)
    inside = (np.abs(along) <= length / 2.0) & (np.abs(across) <= 0.5)
    k = inside.reshape(size, ss, size, ss).sum(axis=(1, 3)).astype(np.float32)
    if k.sum() == 0:
        k[r, r] = 1.0
    return k / k.sum()


def motion_blur(image: np.ndarray, length: float, angle_deg: float) -> np.ndarray:
    """Linear motion blur (camera shake during exposure).

    The line kernel is trimmed to its non-zero rows and columns (symmetrically, so it stays centred): a
    near-horizontal 15 px line becomes 15x3 instead of 15x15, and OpenCV stays on its direct path instead of
    switching to a much slower DFT for kernels of 12x12 and more.
    """
    if length <= 1:
        return image.copy()
    k = motion_kernel(length, angle_deg)
    c = k.shape[0] // 2
    rows, cols = np.flatnonzero(k.any(axis=1)), np.flatnonzero(k.any(axis=0))
    ry = max(c - rows[0], rows[-1] - c)
    rx = max(c - cols[0], cols[-1] - c)
    k = np.ascontiguousarray(k[c - ry:c + ry + 1, c - rx:c + rx + 1])
    return _keep_channels(cv2.filter2D(image, -1, k, borderType=cv2.BORDER_REFLECT_101), image)


def resolution_loss(image: np.ndarray, scale: float) -> np.ndarray:
    """Downscale by ``scale`` (area averaging, as a small sensor would) and back up (bilinear)."""
    h, w = image.shape[:2]
    sw, sh = max(1, round(w * scale)), max(1, round(h * scale))
    small = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA)
    return _keep_channels(cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR), image)


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """Encode as JPEG at ``quality`` and decode (RGB is converted to BGR so chroma is handled as in a camera)."""
    was_float = is_float(image)
    img = np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8) if was_float else image
    c = img.shape[2]
    alpha = img[:, :, 3:] if c == 4 else None
    if c == 1:
        enc = img[:, :, 0]
    else:
        enc = cv2.cvtColor(np.ascontiguousarray(img[:, :, :3]), cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".jpg", enc, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError("JPEG encoding failed")
    if c == 1:
        out = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)[:, :, None]
    else:
        out = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        if alpha is not None:
            out = np.concatenate([out, alpha], axis=2)
    return out.astype(np.float32) / 255.0 if was_float else out


def _shadow_coverage(height: int, width: int, vertices: np.ndarray, blur: float) -> np.ndarray:
    """The polygon's soft coverage (0..1) at 1/4 size: a soft shadow has no detail to lose, so it is drawn small
    and resized, which keeps it cheap."""
    f = 4
    sh, sw = max(1, height // f), max(1, width // f)
    m = np.zeros((sh, sw), np.float32)
    pts = np.round(vertices * np.array([sw, sh]) * 16).astype(np.int32)
    cv2.fillPoly(m, [pts], 1.0, lineType=cv2.LINE_AA, shift=4)
    sigma = blur * max(sh, sw)
    if sigma > 0.3:
        m = cv2.GaussianBlur(m, (0, 0), sigma)
    return m


def shadow_map(height: int, width: int, vertices: np.ndarray, strength: float, blur: float) -> np.ndarray:
    """Multiplicative H x W float32 map: 1 outside the polygon ``vertices`` (fractions of W, H), ``1 - strength``
    inside, edges blurred by a Gaussian of sigma ``blur`` x the image's larger side."""
    m = cv2.resize(_shadow_coverage(height, width, vertices, blur), (width, height),
                   interpolation=cv2.INTER_LINEAR)
    return 1.0 - strength * m


def apply_shadow(image: np.ndarray, vertices: np.ndarray, strength: float, blur: float) -> np.ndarray:
    """Darken ``image`` by the shadow of ``shadow_map``. For uint8 images the factor is kept in 1/255 steps
    (invisible) so that the full-size map and its per-channel copies are bytes, not floats: 4x less memory
    traffic, which is most of this op's cost."""
    h, w, c = image.shape
    if is_float(image):
        return (image * shadow_map(h, w, vertices, strength, blur)[:, :, None]).astype(np.float32)
    cov = _shadow_coverage(h, w, vertices, blur)
    f8 = np.clip(np.rint((1.0 - strength * cov) * 255.0), 0, 255).astype(np.uint8)
    f8 = cv2.resize(f8, (w, h), interpolation=cv2.INTER_LINEAR)
    if c == 1:
        return cv2.multiply(image[:, :, 0], f8, scale=1.0 / 255.0, dtype=cv2.CV_8U)[:, :, None]
    return cv2.multiply(image, cv2.merge([f8] * c), scale=1.0 / 255.0, dtype=cv2.CV_8U)
