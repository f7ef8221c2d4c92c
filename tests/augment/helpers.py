"""Shared builders for the augment tests: one factory per op (the registry check makes a new op fail until it is
added here, so every op is covered by every property test), and random annotated samples."""

from __future__ import annotations

import math

import numpy as np

from fakevision.augment import (
    Affine,
    Brightness,
    CenterCrop,
    Contrast,
    CropAroundObject,
    ElasticTransform,
    Gamma,
    GaussianBlur,
    GaussianNoise,
    GridDistortion,
    HorizontalFlip,
    JpegCompression,
    LandmarkWarp,
    LongestMaxSize,
    MotionBlur,
    PadIfNeeded,
    PiecewiseAffine,
    RandomResizedCrop,
    Resize,
    ResolutionLoss,
    Rotate,
    ScaleToObjectSize,
    Shadow,
    Translate,
    VerticalFlip,
    Zoom,
)
from fakevision.core import Annotations, Provenance, Sample
from fakevision.core.sample import boxes_from_masks

GEOMETRIC = {
    "HorizontalFlip": lambda: HorizontalFlip(p=1.0),
    "VerticalFlip": lambda: VerticalFlip(p=1.0),
    "Rotate": lambda: Rotate(angle=(-180, 180)),
    "Zoom": lambda: Zoom(scale=(0.5, 2.0)),
    "Translate": lambda: Translate(x=(-0.3, 0.3), y=(-0.3, 0.3)),
    "Affine": lambda: Affine(scale=(0.6, 1.5), angle=(-45, 45), shear=(-20, 20), x=(-0.2, 0.2), y=(-0.2, 0.2)),
    "ScaleToObjectSize": lambda: ScaleToObjectSize(size=(5, 30)),
    "ScaleToObjectSize:resize": lambda: ScaleToObjectSize(size=(5, 30), keep_size=False),
    "Resize": lambda: Resize(height=37, width=29),
    "LongestMaxSize": lambda: LongestMaxSize(max_size=[24, 40, 61]),
    "PadIfNeeded": lambda: PadIfNeeded(min_height=50, min_width=41, position="random", border="reflect"),
    "CenterCrop": lambda: CenterCrop(height=19, width=51),
    "RandomResizedCrop": lambda: RandomResizedCrop(height=32, width=24, scale=(0.3, 1.0)),
    "RandomResizedCrop:area": lambda: RandomResizedCrop(height=20, width=20, scale=(0.3, 1.0), interpolation="area"),
    "CropAroundObject": lambda: CropAroundObject(margin=(0.0, 0.5), height=30, width=30),
    "CropAroundObject:keypoints": lambda: CropAroundObject(target="keypoints", instance="largest", margin=0.1),
}

#: Dense backward-map ops (``augment.nonrigid``): no matrix; keypoints are checked against the map's inverse.
NONRIGID = {
    "PiecewiseAffine": lambda: PiecewiseAffine(scale=(0.02, 0.06), rows=(3, 5), cols=(3, 5)),
    # strong but one-to-one (a folding warp shows some points twice and others nowhere: no single answer)
    "ElasticTransform": lambda: ElasticTransform(alpha=(20.0, 60.0), sigma=(4.0, 8.0)),
    "GridDistortion": lambda: GridDistortion(num_steps=(5), distort_limit=(-0.4, 0.4)),
    "LandmarkWarp": lambda: LandmarkWarp(strength=(0.3, 1.0), modes=6),
}

PHOTOMETRIC = {
    "GaussianBlur": lambda: GaussianBlur(radius={"choices": [5, 15, 30]}),
    "GaussianNoise": lambda: GaussianNoise(variance={"choices": [40, 70, 100]}),
    "Contrast": lambda: Contrast(factor=(0.2, 0.9)),
    "Brightness": lambda: Brightness(delta=(-0.3, 0.3)),
    "Gamma": lambda: Gamma(gamma=(0.5, 2.0)),
    "Shadow": lambda: Shadow(strength=(0.3, 0.9)),
    "MotionBlur": lambda: MotionBlur(length=(3, 21), angle=(0, 360)),
    "ResolutionLoss": lambda: ResolutionLoss(scale=(0.2, 0.8)),
    "JpegCompression": lambda: JpegCompression(quality=(10, 90)),
}


def _containers() -> dict:
    from fakevision.augment import ClassConditional, Compose, GaussianNoise, OneOf, SomeOf, Zoom

    return {
        # matrix ops only, one border: fused into a single warp
        "Compose": lambda: Compose([Affine(scale=(0.8, 1.2), angle=(-30, 30)), HorizontalFlip(p=0.5),
                                    Zoom(scale=(0.7, 1.4)), CenterCrop(height=30, width=40), GaussianNoise()]),
        # matrix runs and dense warps interleaved: several warps, photometric ops between them
        "Compose:mixed": lambda: Compose([Rotate(angle=(-25, 25)), ElasticTransform(alpha=(20, 60), sigma=5.0),
                                          GaussianNoise(), RandomResizedCrop(height=36, width=44, scale=(0.5, 1.0)),
                                          PiecewiseAffine(scale=0.03), VerticalFlip(p=0.5)]),
        "OneOf": lambda: OneOf([Rotate(angle=(-60, 60)), GridDistortion(), CropAroundObject(height=32, width=32)]),
        "SomeOf": lambda: SomeOf([Translate(x=(-0.3, 0.3)), ElasticTransform(alpha=40.0, sigma=5.0),
                                  Resize(height=40, width=30), Gamma()], n=(1, 3)),
        "ClassConditional": lambda: ClassConditional({"a": Compose([Zoom(scale=(0.6, 1.5)), GridDistortion()])},
                                                     default=Rotate(angle=45)),
    }


#: Containers of the registry, each holding ops of several kinds (geometric, dense, photometric).
CONTAINERS = _containers()


def analytic(name: str, params: dict, h: int, w: int, xy: np.ndarray) -> np.ndarray:
    """Where each op sends points, written out by hand (not via the op's own matrix)."""
    x, y = xy[..., 0], xy[..., 1]
    cx, cy = w / 2, h / 2
    if name == "HorizontalFlip":
        return np.stack([w - x, y], -1)
    if name == "VerticalFlip":
        return np.stack([x, h - y], -1)
    def window(x0: float, y0: float, x1: float, y1: float, oh: float, ow: float) -> np.ndarray:
        return np.stack([(x - x0) * ow / (x1 - x0), (y - y0) * oh / (y1 - y0)], -1)

    if name == "Resize":
        return window(0, 0, w, h, 37, 29)
    if name == "LongestMaxSize":
        s = params["max_size"] / max(h, w)
        return window(0, 0, w, h, max(1, round(h * s)), max(1, round(w * s)))
    if name == "PadIfNeeded":  # position "random": fractions of the free space, floored
        dy, dx = max(h, 50) - h, max(w, 41) - w
        fy, fx = params["u"]
        return np.stack([x + min(dx, math.floor(fx * (dx + 1))), y + min(dy, math.floor(fy * (dy + 1)))], -1)
    if name == "CenterCrop":
        return np.stack([x - (w - 51) // 2, y - (h - 19) // 2], -1)
    if name.startswith("RandomResizedCrop"):
        oh, ow = (32, 24) if name == "RandomResizedCrop" else (20, 20)
        return window(params["x0"], params["y0"], params["x0"] + params["w"], params["y0"] + params["h"], oh, ow)
    if name.startswith("CropAroundObject"):
        x0, y0, x1, y1 = params["window"]
        oh, ow = (30, 30) if name == "CropAroundObject" else (y1 - y0, x1 - x0)
        return window(x0, y0, x1, y1, oh, ow)
    if name == "ScaleToObjectSize:resize":  # the whole image onto a round(H*s) x round(W*s) canvas
        oh, ow = max(1, round(h * params["scale"])), max(1, round(w * params["scale"]))
        return np.stack([x * ow / w, y * oh / h], -1)
    if name in ("Zoom", "ScaleToObjectSize"):
        s = params["scale"]
        return np.stack([cx + s * (x - cx), cy + s * (y - cy)], -1)
    if name == "Translate":
        return np.stack([x + params["dx"], y + params["dy"]], -1)
    if name == "Rotate":
        a = math.radians(params["angle"])  # counter-clockwise on screen, y down
        u, v = x - cx, y - cy
        return np.stack([cx + u * math.cos(a) + v * math.sin(a), cy - u * math.sin(a) + v * math.cos(a)], -1)
    if name == "Affine":
        u, v = x - cx, y - cy
        u = u + math.tan(math.radians(params["shear"])) * v  # shear along x
        u, v = u * params["scale"], v * params["scale"]
        a = math.radians(params["angle"])
        ru, rv = u * math.cos(a) + v * math.sin(a), -u * math.sin(a) + v * math.cos(a)
        return np.stack([cx + ru + params["dx"], cy + rv + params["dy"]], -1)
    raise KeyError(name)


def random_normals(rng: np.random.Generator, h: int, w: int, surface: np.ndarray | None = None) -> np.ndarray:
    """H x W x 3 float32 unit vectors facing the camera (nz < 0), zero where ``surface`` is False."""
    n = rng.normal(size=(h, w, 3))
    n[..., 2] = -np.abs(n[..., 2]) - 0.1
    n /= np.linalg.norm(n, axis=2, keepdims=True)
    if surface is not None:
        n[~surface] = 0.0
    return n.astype(np.float32)


def random_sample(seed: int, h: int = 48, w: int = 64, n: int = 2, k: int = 68, float_image: bool = False,
                  label: str | None = "a") -> Sample:
    """An image with n elliptical instance masks, tight boxes, k keypoints (ibug68 when k == 68), a label map,
    a depth map and a normal map (random unit vectors, zero outside the instances): every annotation kind at
    once."""
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    yy, xx = np.mgrid[0:h, 0:w] + 0.5
    masks = np.zeros((n, h, w), bool)
    for i in range(n):
        cx, cy = rng.uniform(0.3 * w, 0.7 * w), rng.uniform(0.3 * h, 0.7 * h)
        rx, ry = rng.uniform(3, 0.25 * w), rng.uniform(3, 0.25 * h)
        masks[i] = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1
    kp = np.stack([rng.uniform(0, w, (n, k)), rng.uniform(0, h, (n, k))], -1)
    vis = rng.choice([1, 2], size=(n, k)).astype(np.uint8)
    label_map = np.zeros((h, w), np.int32)
    for i in range(n):
        label_map[masks[i]] = i + 1
    depth = rng.uniform(0.5, 5.0, (h, w)).astype(np.float32)
    normals = random_normals(rng, h, w, masks.any(axis=0))
    image = img.astype(np.float32) / 255 if float_image else img
    ann = Annotations(
        label=label, categories=[f"c{i}" for i in range(n)], boxes=boxes_from_masks(masks), masks=masks,
        keypoints=kp, visibility=vis, keypoint_schema="ibug68" if k == 68 else None,
        instance_attributes=[{"i": i} for i in range(n)], label_map=label_map,
        label_names={i: f"c{i - 1}" if i else "background" for i in range(n + 1)}, depth=depth, normals=normals,
    )
    return Sample(image, ann, Provenance("test", f"test-{seed}"))
