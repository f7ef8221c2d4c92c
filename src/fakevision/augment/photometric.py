"""Photometric operations (the seed's degradations): they change pixels only and pass every annotation through.

Parameterised as the seed describes them: blur by radius in pixels (R = 5, 15, 30) or by sigma, noise by
*variance* on the 0-255 scale (40, 70, 100), contrast reduction, brightness/gamma, soft shadows of a given
strength, motion blur by length and angle, resolution loss (down-up scale), JPEG quality.
"""

from __future__ import annotations

import numpy as np

from fakevision.augment.base import Params, PhotometricTransform, Spec, as_spec, draw_spec
from fakevision.augment.functional import pixels as F
from fakevision.core.sample import Sample


class GaussianBlur(PhotometricTransform):
    """Defocus-like blur, by ``radius`` (kernel half-width in px; sigma = radius / 3, so the kernel reaches R px)
    or by ``sigma`` (px; kernel half-width ceil(3 sigma)). Exactly one of the two.

    Note: Pillow's and Photoshop's "radius" is closer to sigma; we follow the literal meaning (how far a pixel's
    light spreads). ``GaussianBlur(sigma=5)`` gives Pillow's ``GaussianBlur(radius=5)``.

    >>> from fakevision.core import Sample
    >>> t = GaussianBlur(radius={"choices": [5, 15, 30]}, p=1.0)
    >>> t.sample_params(np.random.default_rng(0), Sample(np.zeros((8, 8, 3), np.uint8)))["radius"] in (5, 15, 30)
    True
    """

    def __init__(self, radius: Spec | None = None, sigma: Spec | None = None, p: float = 1.0) -> None:
        super().__init__(p)
        if radius is not None and sigma is not None:
            raise ValueError("GaussianBlur: give radius or sigma, not both")
        if radius is None and sigma is None:
            radius = (1.0, 5.0)
        self.radius = None if radius is None else as_spec(radius, "radius", 0, 1000)
        self.sigma = None if sigma is None else as_spec(sigma, "sigma", 0, 1000)

    def draw(self, rng: np.random.Generator, sample: Sample) -> Params:
        if self.radius is not None:
            r = round(draw_spec(rng, self.radius))
            return {"radius": r, "sigma": r / 3.0}
        return {"sigma": draw_spec(rng, self.sigma)}  # type: ignore[arg-type]

    def apply_image(self, image: np.ndarray, params: Params) -> np.ndarray:
        return F.gaussian_blur(image, params["sigma"], params.get("radius"))


class GaussianNoise(PhotometricTransform):
    """Additive Gaussian sensor noise with ``variance`` on the 0-255 scale (seed: 40, 70, 100; sigma = sqrt(var)).

    The noise seed is drawn into the params, so ``apply`` stays pure and the same params give the same bytes, on
    any OpenCV version (``functional.pixels.gaussian_noise``: NumPy's stream through a normal quantile table).

    >>> from fakevision.core import Sample
    >>> s = Sample(np.full((64, 64, 1), 128, np.uint8))
    >>> out = GaussianNoise(variance=100)(s, np.random.default_rng(0))
    >>> round(float(out.image.std()))    # sigma = sqrt(100) = 10 grey levels
    10
    """

    def __init__(self, variance: Spec = (10.0, 100.0), per_channel: bool = True, p: float = 1.0) -> None:
        super().__init__(p)
        self.variance = as_spec(variance, "variance", 0, 255.0**2)
        self.per_channel = bool(per_channel)

    def draw(self, rng: np.random.Generator, sample: Sample) -> Params:
        return {"variance": draw_spec(rng, self.variance), "seed": int(rng.integers(0, 2**63 - 1))}

    def apply_image(self, image: np.ndarray, params: Params) -> np.ndarray:
        return F.gaussian_noise(image, float(np.sqrt(params["variance"])), params["seed"], self.per_channel)


class Contrast(PhotometricTransform):
    """Scale contrast around the mean grey level by ``factor`` (< 1 reduces it, as the seed's low-contrast
    examples; 0 gives a flat grey image).

    >>> from fakevision.core import Sample
    >>> s = Sample(np.array([[[0], [200]]], np.uint8))
    >>> Contrast(factor=0.5)(s, np.random.default_rng(0)).image[0, :, 0].tolist()
    [50, 150]"""

    def __init__(self, factor: Spec = (0.5, 1.0), p: float = 1.0) -> None:
        super().__init__(p)
        self.factor = as_spec(factor, "factor", 0, 10)

    def draw(self, rng: np.random.Generator, sample: Sample) -> Params:
        return {"factor": draw_spec(rng, self.factor)}

    def apply_image(self, image: np.ndarray, params: Params) -> np.ndarray:
        return F.contrast(image, params["factor"])


class Brightness(PhotometricTransform):
    """Add ``delta`` x full scale to every pixel (e.g. -0.2 darkens by 51 grey levels).

    >>> from fakevision.core import Sample
    >>> Brightness(delta=-0.2)(Sample(np.full((1, 2, 1), 100, np.uint8)), np.random.default_rng(0)).image.ravel()
    array([49, 49], dtype=uint8)"""

    def __init__(self, delta: Spec = (-0.2, 0.2), p: float = 1.0) -> None:
        super().__init__(p)
        self.delta = as_spec(delta, "delta", -1, 1)

    def draw(self, rng: np.random.Generator, sample: Sample) -> Params:
        return {"delta": draw_spec(rng, self.delta)}

    def apply_image(self, image: np.ndarray, params: Params) -> np.ndarray:
        return F.brightness(image, params["delta"])


class Gamma(PhotometricTransform):
    """Gamma curve x -> x ** gamma on [0, 1] (exposure/tone-curve changes).

    >>> from fakevision.core import Sample
    >>> Gamma(gamma=2.0)(Sample(np.array([[[0], [128], [255]]], np.uint8)), np.random.default_rng(0)).image.ravel()
    array([  0,  64, 255], dtype=uint8)"""

    def __init__(self, gamma: Spec = (0.7, 1.5), p: float = 1.0) -> None:
        super().__init__(p)
        self.gamma = as_spec(gamma, "gamma", 0.01, 100)

    def draw(self, rng: np.random.Generator, sample: Sample) -> Params:
        return {"gamma": draw_spec(rng, self.gamma)}

    def apply_image(self, image: np.ndarray, params: Params) -> np.ndarray:
        return F.gamma(image, params["gamma"])


class Shadow(PhotometricTransform):
    """A random soft-edged shadow: a polygon of ``vertices`` corners darkened by ``strength`` (0 = none,
    1 = black). Its radius is drawn from ``size`` x the image's larger side (a random blob around a random
    centre); its edge is blurred over ``softness`` x that radius (0 = hard edge, 0.5 = very soft), so the
    penumbra scales with the shadow instead of washing out small ones.

    >>> from fakevision.core import Sample
    >>> t = Shadow(strength=0.5, softness=0.0)
    >>> out = t(Sample(np.full((64, 64, 3), 200, np.uint8)), np.random.default_rng(0))
    >>> int(out.image.min()), int(out.image.max())   # darkened to 200 * (1 - 0.5) inside, untouched outside
    (100, 200)
    """

    def __init__(self, strength: Spec = (0.3, 0.7), softness: Spec = (0.05, 0.25), size: Spec = (0.25, 0.6),
                 vertices: int = 5, p: float = 1.0) -> None:
        super().__init__(p)
        self.strength = as_spec(strength, "strength", 0, 1)
        self.softness = as_spec(softness, "softness", 0, 2)
        self.size = as_spec(size, "size", 0.01, 2)
        if not 3 <= int(vertices) <= 32:
            raise ValueError("Shadow: vertices must be 3..32")
        self.vertices = int(vertices)

    def draw(self, rng: np.random.Generator, sample: Sample) -> Params:
        k = self.vertices
        centre = rng.uniform(0.15, 0.85, size=2)  # keep the shadow in the frame
        radius = draw_spec(rng, self.size)
        angles = np.sort(rng.uniform(0.0, 2 * np.pi, size=k))
        radii = radius * rng.uniform(0.5, 1.0, size=k)
        w, h = sample.width, sample.height
        aspect = np.array([max(w, h) / w, max(w, h) / h])  # a round shadow stays round on non-square images
        pts = centre + np.stack([np.cos(angles), np.sin(angles)], 1) * radii[:, None] * aspect
        return {
            "vertices": np.round(pts, 6).tolist(),
            "strength": draw_spec(rng, self.strength),
            "blur": draw_spec(rng, self.softness) * radius,  # sigma as a fraction of the larger image side
        }

    def apply_image(self, image: np.ndarray, params: Params) -> np.ndarray:
        return F.apply_shadow(image, np.asarray(params["vertices"]), params["strength"], params["blur"])


class MotionBlur(PhotometricTransform):
    """Linear motion blur of ``length`` px at ``angle`` degrees (0 = horizontal), e.g. a hand-held phone.

    >>> from fakevision.core import Sample
    >>> img = np.zeros((9, 9, 1), np.uint8); img[4, 4] = 255
    >>> out = MotionBlur(length=5, angle=0)(Sample(img), np.random.default_rng(0)).image[:, :, 0]
    >>> out[4].tolist(), int(out[3].max())             # spread along the row only
    ([0, 0, 51, 51, 51, 51, 51, 0, 0], 0)"""

    def __init__(self, length: Spec = (3.0, 15.0), angle: Spec = (0.0, 180.0), p: float = 1.0) -> None:
        super().__init__(p)
        self.length = as_spec(length, "length", 0, 1000)
        self.angle = as_spec(angle, "angle", -360, 360)

    def draw(self, rng: np.random.Generator, sample: Sample) -> Params:
        return {"length": draw_spec(rng, self.length), "angle": draw_spec(rng, self.angle)}

    def apply_image(self, image: np.ndarray, params: Params) -> np.ndarray:
        return F.motion_blur(image, params["length"], params["angle"])


class ResolutionLoss(PhotometricTransform):
    """Down-scale by ``scale`` then back up to the same size: the detail of a smaller sensor, same geometry.

    >>> from fakevision.core import Sample
    >>> img = np.indices((8, 8)).sum(0)[:, :, None].astype(np.uint8) % 2 * 255   # a checkerboard
    >>> int(ResolutionLoss(scale=0.5)(Sample(img), np.random.default_rng(0)).image.std())  # detail gone
    0"""

    def __init__(self, scale: Spec = (0.25, 0.75), p: float = 1.0) -> None:
        super().__init__(p)
        self.scale = as_spec(scale, "scale", 0.01, 1)

    def draw(self, rng: np.random.Generator, sample: Sample) -> Params:
        return {"scale": draw_spec(rng, self.scale)}

    def apply_image(self, image: np.ndarray, params: Params) -> np.ndarray:
        return F.resolution_loss(image, params["scale"])


class JpegCompression(PhotometricTransform):
    """JPEG encode/decode at a ``quality`` (1-100) drawn from the spec (rounded to an integer).

    >>> from fakevision.core import Sample
    >>> JpegCompression(quality=(30, 90)).sample_params(np.random.default_rng(0), Sample(np.zeros((8, 8, 3), np.uint8)))
    {'applied': True, 'quality': 68}"""

    def __init__(self, quality: Spec = (30.0, 90.0), p: float = 1.0) -> None:
        super().__init__(p)
        self.quality = as_spec(quality, "quality", 1, 100)

    def draw(self, rng: np.random.Generator, sample: Sample) -> Params:
        return {"quality": round(draw_spec(rng, self.quality))}

    def apply_image(self, image: np.ndarray, params: Params) -> np.ndarray:
        return F.jpeg(image, params["quality"])
