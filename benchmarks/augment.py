"""Augmentation throughput, peak memory and keypoint accuracy: fakevision vs AlbumentationsX 2.5.1 (and
Albumentations 2.0.8, and Kornia 0.9 batched on CPU), same real images, same operations, with a mask, one box and
68 keypoints carried by every library.

Run (from the repository root; AlbumentationsX/Kornia/scikit-image are benchmark-only: ``pip install -e .[bench]``)::

    nice -n 10 python benchmarks/augment.py                         # 256² and 512², all libraries found; ~15 min
    python benchmarks/augment.py --sizes 256 --n 40 --no-kornia     # quick look
    python benchmarks/augment.py --albu208-python /path/to/venv-with-albumentations-2.0.8/bin/python

    # the 2.0.8 column's environment (it must not be the one with AlbumentationsX: same import name)
    python3 -m venv /tmp/a208 && /tmp/a208/bin/pip install albumentations==2.0.8 numpy opencv-python-headless

AlbumentationsX 2.5.1 and Albumentations 2.0.8 share the import name ``albumentations``, so every library runs in
its own worker process (``--albu-python`` / ``--albu208-python``: interpreters whose environment has that version;
the 2.0.8 column is left out when no interpreter is given); the parent hands each worker the same work in turn.
``ALBUMENTATIONS_NO_TELEMETRY=1`` is set for them (AlbumentationsX reports usage by default) and its ``Compose``
gets ``telemetry=False``.

Images: HELEN test faces from ``../shared/data/faces_68pt`` (160x160 crops with 68 landmarks) resized to each size
(landmarks scaled with them); the mask is the face region (convex hull of the landmarks), the box its tight box.
Each library runs single-threaded (OpenCV and torch set to 1 thread) and draws fresh parameters per image.
Throughput = images / best-of-``--repeats`` time, the libraries taking turns within each repeat; the ratio (ours /
theirs, same run) is what to read. The time is the worker process's *CPU* time by default (``--clock cpu``; every
library is single-threaded, so that is the work it did): on a shared, loaded machine wall-clock time mostly measures
when the scheduler let a worker run (at a load of 12 on 2 cores a 1 ms op waits several of its own durations), which
made single rows swing by +-30 % between runs. ``--clock wall`` times by the wall clock instead.

Keypoint error (px): the same operation applied to *ramp* images (each pixel holds its own source coordinates, as
float32), read back bilinearly at the keypoints each library returns: the distance between that and where the
keypoint started is how far the library put the point from where its own pixels went. Points a library marks
outside its output (or drops) are not counted; 0.02 px is the floor of OpenCV's 1/32 px sample positions. Each
library's keypoint convention is converted (ours: pixel corners at integers; Albumentations and Kornia: centres).

Peak memory (Linux): the resident memory the mixed pipeline adds on top of imports + data + a warm-up call of every
op (lazy imports such as SciPy's are not per image), each library in a fresh process, read from the peak-RSS counter
(reset before each count; RSS also counts OpenCV's and torch's own allocators and the C allocator's growth): *cold*
over the first 45 images (what a library builds once per image size — e.g. our ``PiecewiseAffine``'s triangle
raster — counts here) and *steady* over 30 images after 60 (what augmenting costs once a pipeline has run a while).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

os.environ.setdefault("ALBUMENTATIONS_NO_TELEMETRY", "1")

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("FAKEVISION_SHARED_DATA", REPO.parent / "shared" / "data"))

#: Per-op rows, in table order; "mixed" is all of them at p = 0.5, in this order.
OPS = ["HorizontalFlip", "Rotate", "Zoom", "Translate", "Affine", "GaussianBlur", "GaussianNoise", "Contrast",
       "Brightness", "Gamma", "Shadow", "MotionBlur", "ResolutionLoss", "JpegCompression", "RandomResizedCrop",
       "CropAroundObject", "Resize", "Letterbox", "CenterCrop", "ElasticTransform", "GridDistortion",
       "PiecewiseAffine"]
NONRIGID = ["ElasticTransform", "GridDistortion", "PiecewiseAffine"]
GEOMETRIC = ["HorizontalFlip", "Rotate", "Zoom", "Translate", "Affine", "RandomResizedCrop", "CropAroundObject",
             "Resize", "Letterbox", "CenterCrop", "ElasticTransform", "GridDistortion", "PiecewiseAffine"]


def load_faces(n: int, size: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(image, face mask, 68 keypoints in the corner convention) for n faces at size²."""
    out = []
    for f in sorted((DATA / "faces_68pt" / "helen_test").glob("*.jpg"))[:n]:
        img = cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB)
        body = f.with_suffix(".pts").read_text().split("{")[1].split("}")[0].split()
        kp = np.asarray(body, dtype=np.float64).reshape(-1, 2) - 0.5
        if size != img.shape[0]:
            s = size / img.shape[0]
            img = cv2.resize(img, (size, size), interpolation=cv2.INTER_LINEAR if s > 1 else cv2.INTER_AREA)
            kp = kp * s
        mask = np.zeros(img.shape[:2], np.uint8)
        cv2.fillConvexPoly(mask, cv2.convexHull(np.round(kp - 0.5).astype(np.int32)), 1)
        out.append((img, mask.astype(bool), kp))
    return out


def tight_box(mask: np.ndarray) -> list[float]:
    ys, xs = np.nonzero(mask)
    return [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)]


def ramp(size: int) -> np.ndarray:
    """size x size x 3 float32: channel 0 / 1 = the corner-convention x / y of each pixel centre, over size;
    channel 2 = 1 (what a warp fills in from outside the source is 0 there, so reads near it can be left out)."""
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    return np.stack([xx / size, yy / size, np.ones_like(xx)], -1).astype(np.float32)


def read_ramp(img: np.ndarray, xy_centre: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Bilinear read of a warped ramp at points in pixel-centre coordinates -> (corner-convention source points,
    whether all four pixels read came from inside the source)."""
    m = xy_centre.astype(np.float32)
    v = cv2.remap(np.ascontiguousarray(img[..., :3], np.float32), m[:, None, 0].copy(), m[:, None, 1].copy(),
                  cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=(0.0, 0.0, 0.0, 0.0))[:, 0]
    return v[:, :2] * size, v[:, 2] > 0.999


# -- the same operations in each library ------------------------------------------------------------------------
def ours_ops(s: int) -> dict[str, Callable[[], object]]:
    import fakevision.augment as F

    return {
        "HorizontalFlip": lambda: F.HorizontalFlip(p=1.0),
        "Rotate": lambda: F.Rotate(angle=(-15, 15)),
        "Zoom": lambda: F.Zoom(scale=(0.8, 1.2)),
        "Translate": lambda: F.Translate(x=(-0.1, 0.1), y=(-0.1, 0.1)),
        "Affine": lambda: F.Affine(scale=(0.9, 1.1), angle=(-10, 10), x=(-0.05, 0.05), y=(-0.05, 0.05)),
        "GaussianBlur": lambda: F.GaussianBlur(sigma=2.0),
        "GaussianNoise": lambda: F.GaussianNoise(variance=(40, 100)),
        "Contrast": lambda: F.Contrast(factor=(0.5, 1.0)),
        "Brightness": lambda: F.Brightness(delta=(-0.2, 0.2)),
        "Gamma": lambda: F.Gamma(gamma=(0.7, 1.5)),
        "Shadow": lambda: F.Shadow(strength=(0.3, 0.7)),
        "MotionBlur": lambda: F.MotionBlur(length=(3, 15), angle=(0, 360)),
        "ResolutionLoss": lambda: F.ResolutionLoss(scale=(0.25, 0.75)),
        "JpegCompression": lambda: F.JpegCompression(quality=(30, 90)),
        "RandomResizedCrop": lambda: F.RandomResizedCrop(height=s, width=s, scale=(0.08, 1.0)),
        "CropAroundObject": lambda: F.CropAroundObject(margin=(0.1, 0.3), height=s, width=s),
        "Resize": lambda: F.Resize(height=s // 2, width=s // 2),
        "Letterbox": lambda: F.Compose([F.LongestMaxSize(max_size=s // 2), F.PadIfNeeded(min_height=s // 2,
                                                                                          min_width=s)]),
        "CenterCrop": lambda: F.CenterCrop(height=s // 2, width=s // 2),
        "ElasticTransform": lambda: F.ElasticTransform(alpha=(80.0, 160.0), sigma=8.0, border="constant"),
        "GridDistortion": lambda: F.GridDistortion(num_steps=5, distort_limit=(-0.3, 0.3), border="constant"),
        "PiecewiseAffine": lambda: F.PiecewiseAffine(scale=(0.03, 0.05), rows=4, cols=4, border="constant"),
    }


def albu_ops(A, s: int) -> dict[str, Callable[[], object]]:  # noqa: ANN001, N803
    """AlbumentationsX 2.5.x names its ranges ``*_range``; 2.0.8 has the older names. Same settings in both."""
    s40, s100 = np.sqrt(40) / 255, np.sqrt(100) / 255
    x = not A.__version__.startswith("2.0.")
    down = {"downscale": cv2.INTER_AREA, "upscale": cv2.INTER_LINEAR}

    def crop_near() -> list:  # crop around the box given as data, then resize: one of ours
        return [A.RandomCropNearBBox(max_part_shift=(0.1, 0.3), cropping_bbox_key="cropping_bbox", p=1),
                A.Resize(s, s, p=1)]
    if x:
        return {
            "HorizontalFlip": lambda: A.HorizontalFlip(p=1),
            "Rotate": lambda: A.Rotate(angle_range=(-15, 15), border_mode=cv2.BORDER_CONSTANT, p=1),
            "Zoom": lambda: A.Affine(scale=(0.8, 1.2), p=1),
            "Translate": lambda: A.Affine(translate_percent=(-0.1, 0.1), p=1),
            "Affine": lambda: A.Affine(scale=(0.9, 1.1), rotate=(-10, 10), translate_percent=(-0.05, 0.05), p=1),
            "GaussianBlur": lambda: A.GaussianBlur(blur_range=(13, 13), sigma_range=(2.0, 2.0), p=1),
            "GaussianNoise": lambda: A.GaussNoise(std_range=(s40, s100), per_channel=True, p=1),
            "Contrast": lambda: A.RandomBrightnessContrast(brightness_range=(0, 0), contrast_range=(-0.5, 0), p=1),
            "Brightness": lambda: A.RandomBrightnessContrast(brightness_range=(-0.2, 0.2), contrast_range=(0, 0),
                                                             p=1),
            "Gamma": lambda: A.RandomGamma(gamma_range=(70, 150), p=1),
            "Shadow": lambda: A.RandomShadow(shadow_roi=(0, 0, 1, 1), num_shadows_range=(1, 1),
                                             shadow_intensity_range=(0.3, 0.7), p=1),
            "MotionBlur": lambda: A.MotionBlur(blur_range=(3, 15), p=1),
            "ResolutionLoss": lambda: A.Downscale(scale_range=(0.25, 0.75), interpolation_pair=down, p=1),
            "JpegCompression": lambda: A.ImageCompression(quality_range=(30, 90), p=1),
            "RandomResizedCrop": lambda: A.RandomResizedCrop(size=(s, s), scale=(0.08, 1.0), p=1),
            "CropAroundObject": crop_near,
            "Resize": lambda: A.Resize(s // 2, s // 2, p=1),
            "Letterbox": lambda: [A.LongestMaxSize(max_size=s // 2, p=1),
                                  A.PadIfNeeded(min_height=s // 2, min_width=s, border_mode=cv2.BORDER_CONSTANT, p=1)],
            "CenterCrop": lambda: A.CenterCrop(s // 2, s // 2, pad_if_needed=True, p=1),
            "ElasticTransform": lambda: A.ElasticTransform(displacement_range=(0.01, 0.02), p=1),
            "GridDistortion": lambda: A.GridDistortion(num_steps=5, distort_range=(-0.3, 0.3), p=1),
            "PiecewiseAffine": lambda: A.PiecewiseAffine(scale_range=(0.03, 0.05), nb_rows_range=(4, 4),
                                                         nb_cols_range=(4, 4), p=1),
        }
    return {
        "HorizontalFlip": lambda: A.HorizontalFlip(p=1),
        "Rotate": lambda: A.Rotate(limit=(-15, 15), border_mode=cv2.BORDER_CONSTANT, p=1),
        "Zoom": lambda: A.Affine(scale=(0.8, 1.2), p=1),
        "Translate": lambda: A.Affine(translate_percent=(-0.1, 0.1), p=1),
        "Affine": lambda: A.Affine(scale=(0.9, 1.1), rotate=(-10, 10), translate_percent=(-0.05, 0.05), p=1),
        "GaussianBlur": lambda: A.GaussianBlur(blur_limit=(13, 13), sigma_limit=(2.0, 2.0), p=1),
        "GaussianNoise": lambda: A.GaussNoise(std_range=(s40, s100), p=1),
        "Contrast": lambda: A.RandomBrightnessContrast(brightness_limit=0, contrast_limit=(-0.5, 0), p=1),
        "Brightness": lambda: A.RandomBrightnessContrast(brightness_limit=(-0.2, 0.2), contrast_limit=0, p=1),
        "Gamma": lambda: A.RandomGamma(gamma_limit=(70, 150), p=1),
        "Shadow": lambda: A.RandomShadow(shadow_roi=(0, 0, 1, 1), num_shadows_limit=(1, 1),
                                         shadow_intensity_range=(0.3, 0.7), p=1),
        "MotionBlur": lambda: A.MotionBlur(blur_limit=(3, 15), p=1),
        "ResolutionLoss": lambda: A.Downscale(scale_range=(0.25, 0.75), interpolation_pair=down, p=1),
        "JpegCompression": lambda: A.ImageCompression(quality_range=(30, 90), p=1),
        "RandomResizedCrop": lambda: A.RandomResizedCrop(size=(s, s), scale=(0.08, 1.0), p=1),
        "CropAroundObject": crop_near,
        "Resize": lambda: A.Resize(s // 2, s // 2, p=1),
        "Letterbox": lambda: [A.LongestMaxSize(max_size=s // 2, p=1),
                              A.PadIfNeeded(min_height=s // 2, min_width=s, border_mode=cv2.BORDER_CONSTANT, p=1)],
        "CenterCrop": lambda: A.CenterCrop(s // 2, s // 2, pad_if_needed=True, p=1),
        "ElasticTransform": lambda: A.ElasticTransform(alpha=120.0, sigma=8.0, p=1),
        "GridDistortion": lambda: A.GridDistortion(num_steps=5, distort_limit=(-0.3, 0.3), p=1),
        "PiecewiseAffine": lambda: A.PiecewiseAffine(scale=(0.03, 0.05), nb_rows=4, nb_cols=4, p=1),
    }


def kornia_ops(K, s: int) -> dict[str, Callable[[], object]]:  # noqa: ANN001, N803
    return {
        "HorizontalFlip": lambda: K.RandomHorizontalFlip(p=1.0),
        "Rotate": lambda: K.RandomRotation(degrees=15.0, p=1.0),
        "Zoom": lambda: K.RandomAffine(degrees=0.0, scale=(0.8, 1.2), p=1.0),
        "Translate": lambda: K.RandomAffine(degrees=0.0, translate=(0.1, 0.1), p=1.0),
        "Affine": lambda: K.RandomAffine(degrees=10.0, translate=(0.05, 0.05), scale=(0.9, 1.1), p=1.0),
        "GaussianBlur": lambda: K.RandomGaussianBlur((13, 13), (2.0, 2.0), p=1.0),
        "GaussianNoise": lambda: K.RandomGaussianNoise(std=np.sqrt(70) / 255, p=1.0),
        "Contrast": lambda: K.RandomContrast(contrast=(0.5, 1.0), p=1.0),
        "Brightness": lambda: K.RandomBrightness(brightness=(0.8, 1.2), p=1.0),
        "Gamma": lambda: K.RandomGamma(gamma=(0.7, 1.5), p=1.0),
        "MotionBlur": lambda: K.RandomMotionBlur(kernel_size=(3, 15), angle=180.0, direction=0.0, p=1.0),
        "JpegCompression": lambda: K.RandomJPEG(jpeg_quality=(30.0, 90.0), p=1.0),
        "RandomResizedCrop": lambda: K.RandomResizedCrop((s, s), scale=(0.08, 1.0), p=1.0),
        "Resize": lambda: K.Resize((s // 2, s // 2)),
        "Letterbox": lambda: [K.LongestMaxSize(s // 2), K.PadTo((s // 2, s))],
        "CenterCrop": lambda: K.CenterCrop((s // 2, s // 2)),
        "ElasticTransform": lambda: K.RandomElasticTransform(kernel_size=(33, 33), sigma=(8.0, 8.0), alpha=(1.0, 1.0),
                                                             p=1.0),
    }  # no Kornia equivalent of Shadow, ResolutionLoss, CropAroundObject, GridDistortion, PiecewiseAffine: "-"


def as_list(x: object) -> list:
    return list(x) if isinstance(x, list) else [x]


# -- a worker per library: the parent sends requests on stdin, one JSON line each -------------------------------------
class Worker:
    """One library in one process. ``prepare(size)``, then ``make(op, p)`` builds an op (or the mixed pipeline) and
    returns a runner ``i -> output``; ``kperr(op)`` measures keypoint errors on ramp images."""

    def __init__(self, lib: str, batch: int, faces: int) -> None:
        self.lib, self.batch, self.faces = lib, batch, faces
        cv2.setNumThreads(1)
        if lib == "ours":
            import fakevision  # noqa: F401
        elif lib == "kornia":
            import kornia  # noqa: F401
            import torch

            torch.set_num_threads(1)
        else:
            import warnings

            import albumentations  # noqa: F401

            warnings.filterwarnings("ignore")

    def version(self) -> str:
        if self.lib == "ours":
            import fakevision

            return getattr(fakevision, "__version__", "dev")
        if self.lib == "kornia":
            import kornia

            return kornia.__version__
        import albumentations as A

        return A.__version__

    def prepare(self, size: int) -> None:
        self.size = size
        self.data = load_faces(self.faces, size)
        if self.lib == "ours":
            self.table = ours_ops(size)
        elif self.lib == "kornia":
            import kornia.augmentation as K  # noqa: N812

            self.table = kornia_ops(K, size)
        else:
            import albumentations as A

            self.table = albu_ops(A, size)

    def pipeline(self, op: str, p: float) -> object | None:
        names = OPS if op == "mixed" else [op]
        if op == "mixed" and self.lib == "kornia":  # a batch cannot hold images of different sizes
            names = [n for n in names if n not in ("RandomResizedCrop", "Resize", "Letterbox", "CenterCrop")]
        ops = []
        for n in names:
            if n not in self.table:
                if op == "mixed":
                    continue
                return None
            for o in as_list(self.table[n]()):
                o.p = p if op == "mixed" else 1.0  # same attribute name in all three libraries
                ops.append(o)
        return ops

    def make(self, op: str) -> Callable[[int], object] | None:
        ops = self.pipeline(op, 0.5)
        if ops is None:
            return None
        return self._runner(ops, self.data)

    def _runner(self, ops: list, data: list, images: list | None = None) -> Callable[[int], object]:
        imgs = images if images is not None else [d[0] for d in data]
        if self.lib == "ours":
            from fakevision.augment import Compose
            from fakevision.core import Annotations, Sample

            schema = None if images is not None else "ibug68"  # keypoint errors: no left/right renaming on flips
            samples = [Sample(img, Annotations(categories=["face"], boxes=[tight_box(m)], masks=m[None],
                                               keypoints=kp[None], keypoint_schema=schema))
                       for img, (_, m, kp) in zip(imgs, data)]
            t = Compose(ops)
            rng = np.random.default_rng(0)
            return lambda i: t(samples[i % len(samples)], rng)
        if self.lib == "kornia":
            import kornia.augmentation as K  # noqa: N812
            import torch

            seq = K.AugmentationSequential(*ops, data_keys=["input", "mask", "keypoints"])
            n = len(data)
            x = torch.stack([torch.from_numpy(np.ascontiguousarray(im)).permute(2, 0, 1).float()
                             / (255 if im.dtype == np.uint8 else 1) for im in imgs])
            masks = torch.stack([torch.from_numpy(d[1][None].astype(np.float32)) for d in data])
            kps = torch.stack([torch.from_numpy((d[2] - 0.5).astype(np.float32)) for d in data])
            idx = [torch.arange(j, j + self.batch) % n for j in range(0, n, self.batch)]

            def run(i: int) -> object:
                b = idx[i % len(idx)]
                with torch.no_grad():
                    return seq(x[b], masks[b], kps[b])

            return run
        import albumentations as A

        x = not A.__version__.startswith("2.0.")
        kw = {"telemetry": False} if x else {}
        kparams = A.KeypointParams(coord_format="xy", remove_invisible=False) if x else \
            A.KeypointParams(format="xy", remove_invisible=False)
        bparams = A.BboxParams(coord_format="pascal_voc", label_fields=["labels"]) if x else \
            A.BboxParams(format="pascal_voc", label_fields=["labels"])
        t = A.Compose(ops, keypoint_params=kparams, bbox_params=bparams, seed=0, **kw)
        items = [dict(image=img, mask=m.astype(np.uint8), keypoints=kp - 0.5, bboxes=np.array([tight_box(m)]),
                      labels=["face"], cropping_bbox=[int(v) for v in tight_box(m)])
                 for img, (_, m, kp) in zip(imgs, data)]
        return lambda i: t(**items[i % len(items)])

    def kperr(self, op: str, n: int, dump: str = "") -> list[float] | None:
        """Keypoint errors (px) of op on ramp images: read the warped ramp at the returned keypoints. ``dump``: also
        save the warped ramps (each is this library's own backward map, sampled at the pixel centres) and the
        starting keypoints, for ``same_warp_errors``."""
        ops = self.pipeline(op, 1.0)
        if ops is None:
            return None
        size = self.size
        r = ramp(size)
        run = self._runner(ops, self.data, [r] * len(self.data))
        errs: list[float] = []
        dumped: list[tuple[np.ndarray, np.ndarray]] = []
        calls = n if self.lib != "kornia" else max(1, n // self.batch)
        for i in range(calls):
            out = run(i)
            if self.lib == "ours":
                a = out.annotations
                if not a.num_instances:
                    continue
                pairs = [(out.image, a.keypoints[0] - 0.5, a.visibility[0] > 0, self.data[i % len(self.data)][2])]
            elif self.lib == "kornia":
                img, _, kp = out
                k = len(self.data)
                pairs = []
                for j, b in enumerate(range(i * self.batch, (i + 1) * self.batch)):
                    im = img[j].permute(1, 2, 0).numpy()
                    pts = kp[j].numpy().astype(np.float64)
                    pairs.append((im, pts, np.ones(len(pts), bool), self.data[b % k][2]))
            else:
                pts = np.asarray(out["keypoints"], np.float64)[:, :2]
                if len(pts) != 68:
                    continue
                pairs = [(out["image"], pts, np.ones(68, bool), self.data[i % len(self.data)][2])]
            for im, pts, vis, start in pairs:
                if dump:
                    dumped.append((np.asarray(im, np.float32), start))
                h, w = im.shape[:2]
                ok = vis & (pts[:, 0] >= 0) & (pts[:, 0] <= w - 1) & (pts[:, 1] >= 0) & (pts[:, 1] <= h - 1)
                src, inside = read_ramp(im, pts, size)
                ok &= inside  # read only where the pixels came from inside the source
                errs += np.linalg.norm(src[ok] - start[ok], axis=1).tolist()
        if dump:
            np.savez(dump, **{f"im{i}": im for i, (im, _) in enumerate(dumped)},
                     **{f"kp{i}": kp for i, (_, kp) in enumerate(dumped)})
        return errs


def same_warp_errors(path: str, size: int) -> list[float]:
    """Our keypoints on *another library's* warps: each dumped ramp is that library's backward map at the pixel
    centres; ``functional.dense`` inverts it per point (Newton), and the ramp read at our keypoints says where the
    pixels came from, as for every library."""
    from fakevision.augment.functional.dense import DenseMap

    z = np.load(path)
    errs: list[float] = []
    for i in range(len([k for k in z.files if k.startswith("im")])):
        im, start = z[f"im{i}"], z[f"kp{i}"]
        dmap = DenseMap(im[..., :2] * size - 0.5, (size, size))
        kp, found = dmap.forward_points(start)
        pts = kp - 0.5
        h, w = im.shape[:2]
        ok = found & (pts[:, 0] >= 0) & (pts[:, 0] <= w - 1) & (pts[:, 1] >= 0) & (pts[:, 1] <= h - 1)
        src, inside = read_ramp(im, pts, size)
        ok &= inside
        errs += np.linalg.norm(src[ok] - start[ok], axis=1).tolist()
    return errs


def worker_main(lib: str, batch: int, faces: int) -> None:
    w = Worker(lib, batch, faces)
    runners: dict[str, Callable[[int], object] | None] = {}
    print(json.dumps({"version": w.version()}), flush=True)
    for line in sys.stdin:
        req = json.loads(line)
        cmd = req["cmd"]
        if cmd == "prepare":
            w.prepare(req["size"])
            runners.clear()
            out: object = True
        elif cmd == "time":
            op = req["op"]
            if op not in runners:
                runners[op] = w.make(op)
                if runners[op] is not None:
                    runners[op](0)  # warm-up (lazy imports, caches)
            fn = runners[op]
            if fn is None:
                out = None
            else:
                calls = req["n"] if lib != "kornia" else max(1, req["n"] // batch)
                clock = time.process_time if req.get("clock", "cpu") == "cpu" else time.perf_counter
                t0, c0 = time.perf_counter(), clock()
                done = 0
                for i in range(calls):
                    fn(i)
                    done += 1
                    if time.perf_counter() - t0 > req["budget"]:  # a very slow op: fewer images, same rate
                        break
                out = {"seconds": clock() - c0, "images": done * (batch if lib == "kornia" else 1)}
        elif cmd == "kperr":
            out = w.kperr(req["op"], req["n"], req.get("dump", ""))
        elif cmd == "same":
            out = same_warp_errors(req["path"], w.size)
        else:
            break
        print(json.dumps(out), flush=True)


class Remote:
    def __init__(self, lib: str, python: str, args: argparse.Namespace) -> None:
        env = {**os.environ, "ALBUMENTATIONS_NO_TELEMETRY": "1", "OMP_NUM_THREADS": "1"}
        self.p = subprocess.Popen([python, __file__, "--worker", lib, "--batch", str(args.batch), "--faces",
                                   str(args.faces)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                  env=env, cwd=REPO)
        self.version = json.loads(self.p.stdout.readline())["version"]  # type: ignore[union-attr]

    def ask(self, **req: object) -> object:
        self.p.stdin.write(json.dumps(req) + "\n")  # type: ignore[union-attr]
        self.p.stdin.flush()  # type: ignore[union-attr]
        line = self.p.stdout.readline()  # type: ignore[union-attr]
        if not line:
            raise RuntimeError("a benchmark worker died (run it alone with --worker to see why)")
        return json.loads(line)

    def close(self) -> None:
        self.p.stdin.close()  # type: ignore[union-attr]
        self.p.wait()


# -- peak memory: a fresh process per library and size ----------------------------------------------------------------
def _status_mib(key: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) / 1024
    raise KeyError(key)


def memory_child(lib: str, size: int, faces: int, batch: int) -> None:
    """Prints two numbers (MiB): the peak RSS the first 45 images add after a warm-up call of every op ("cold":
    caches a library fills per image size, the allocator's first growth), and the peak RSS 30 images add after 60
    (steady state: what augmenting costs once a pipeline has run a while)."""
    import gc

    w = Worker(lib, batch, faces)
    w.prepare(size)
    fn = w.make("mixed")
    scale = 1 if lib != "kornia" else batch  # Kornia: calls are batches

    def peak_over(first: int, count: int) -> float:
        gc.collect()
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset VmHWM (peak RSS) to the current RSS
        base = _status_mib("VmRSS")
        for i in range(first, first + max(1, count // scale)):
            fn(i)  # type: ignore[misc]
        return _status_mib("VmHWM") - base

    w._runner(w.pipeline("mixed", 1.0), w.data)(0)  # every op once: lazy imports (ours: SciPy's) are not per image
    fn(0)  # type: ignore[misc]
    cold = peak_over(1, 45)
    for i in range(1 + 45 // scale, max(2, 60 // scale)):
        fn(i)  # type: ignore[misc]
    steady = peak_over(max(2, 60 // scale), 30)
    print(cold, steady)


def peak_rss(lib: str, python: str, size: int, args: argparse.Namespace) -> tuple[float, float]:
    env = {**os.environ, "ALBUMENTATIONS_NO_TELEMETRY": "1"}
    cmd = [python, __file__, "--memory-child", lib, "--sizes", str(size), "--faces", str(args.faces), "--batch",
           str(args.batch)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env, cwd=REPO).stdout
    cold, steady = out.strip().splitlines()[-1].split()
    return float(cold), float(steady)


def fmt(v: float | None, spec: str, width: int) -> str:
    return f"{'-':>{width}}" if v is None else f"{v:{width}{spec}}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="256,512")
    ap.add_argument("--n", type=int, default=64, help="images per repeat (cycled over --faces faces)")
    ap.add_argument("--faces", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--budget", type=float, default=10.0, help="seconds per library per repeat at most (slow ops "
                    "then time fewer images)")
    ap.add_argument("--batch", type=int, default=32, help="Kornia batch size")
    ap.add_argument("--clock", choices=["cpu", "wall"], default="cpu", help="time each library by its worker's CPU "
                    "seconds (default: another process's load does not count) or by wall-clock seconds")
    ap.add_argument("--no-kornia", action="store_true")
    ap.add_argument("--albu-python", default=sys.executable, help="interpreter with AlbumentationsX 2.5.1")
    ap.add_argument("--albu208-python", default="", help="interpreter with Albumentations 2.0.8 (optional column)")
    ap.add_argument("--ops", default="", help="comma-separated subset of operations (and/or 'mixed')")
    ap.add_argument("--kp-n", type=int, default=30, help="images per op for the keypoint errors (0: skip)")
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--worker", default="", help=argparse.SUPPRESS)
    ap.add_argument("--memory-child", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker_main(args.worker, args.batch, args.faces)
        return
    if args.memory_child:
        memory_child(args.memory_child, int(args.sizes), args.faces, args.batch)
        return

    libs = {"ours": sys.executable, "albumentationsx": args.albu_python}
    if args.albu208_python:
        libs["albumentations"] = args.albu208_python
    if not args.no_kornia:
        libs["kornia"] = sys.executable
    workers = {lib: Remote("albu" if lib.startswith("albu") else lib, py, args) for lib, py in libs.items()}
    for lib, wk in workers.items():
        if lib == "albumentationsx" and wk.version.startswith("2.0."):
            raise SystemExit(f"--albu-python {args.albu_python} has Albumentations {wk.version}, not AlbumentationsX")
    others = [lib for lib in workers if lib != "ours"]
    print(f"# machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, load average "
          f"{', '.join(f'{x:.1f}' for x in os.getloadavg())} at start; python {sys.version.split()[0]}, opencv "
          f"{cv2.__version__}, numpy {np.__version__}; " + ", ".join(f"{lib} {w.version}" for lib, w in
                                                                       workers.items())
          + (f" (Kornia batch {args.batch}, CPU)" if "kornia" in workers else ""))
    print(f"# single thread per library; images/s = images per {'CPU' if args.clock == 'cpu' else 'wall-clock'} "
          "second of the library's worker process, best of repeats; ratio = ours / theirs (> 1: we are faster)")
    names = [n for n in OPS + ["mixed"] if not args.ops or n in args.ops.split(",")]
    for size in (int(s) for s in args.sizes.split(",")):
        for w in workers.values():
            w.ask(cmd="prepare", size=size)
        print(f"\n## {size}x{size}, mask + 1 box + 68 keypoints (load average at start "
              f"{os.getloadavg()[0]:.1f})")
        head = "| operation | ours img/s | " + " | ".join(f"{o} img/s | ours/{o}" for o in others) + " |"
        print(head)
        print("|" + "---|" * (2 + 2 * len(others)))
        for name in names:
            best: dict[str, float | None] = dict.fromkeys(workers, np.inf)
            for _ in range(args.repeats):
                for lib, w in workers.items():
                    r = w.ask(cmd="time", op=name, n=args.n, budget=args.budget, clock=args.clock)
                    if r is None:
                        best[lib] = None
                    elif best[lib] is not None:
                        best[lib] = min(best[lib], r["seconds"] / r["images"])  # type: ignore[type-var]
            rate = {lib: None if b is None else 1.0 / b for lib, b in best.items()}
            cells = [fmt(rate["ours"], ".0f", 10)]
            for o in others:
                ratio = None if rate[o] is None or rate["ours"] is None else rate["ours"] / rate[o]
                cells += [fmt(rate[o], ".0f", 10), fmt(ratio, ".2f", 8) + ("x" if ratio else "")]
            print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
        if args.kp_n:
            print(f"\nkeypoint error (px) on ramp images, {size}x{size}: median / 95th percentile / max over the 68 "
                  "landmarks of every image, points kept inside the output; n = points counted")
            print("| operation | " + " | ".join(f"{lib} med / p95 / max (n)" for lib in workers) + " |")
            print("|---|" + "---|" * len(workers))
            def cell(e: object) -> str:
                if not e:
                    return "-"
                e = np.asarray(e)
                return f"{np.median(e):.3f} / {np.percentile(e, 95):.3f} / {e.max():.3f} ({len(e)})"

            same: list[str] = []  # rows of the same-warp table
            with tempfile.TemporaryDirectory() as tmp:
                for name in [n for n in GEOMETRIC if not args.ops or n in args.ops.split(",")]:
                    cells = []
                    for lib, w in workers.items():
                        dump = f"{tmp}/{lib}-{name}.npz" if name in NONRIGID and lib != "ours" else ""
                        cells.append(cell(w.ask(cmd="kperr", op=name, n=args.kp_n, dump=dump)))
                        if dump and os.path.exists(dump):
                            ours_on_it = cell(workers["ours"].ask(cmd="same", path=dump))
                            same.append(f"| {name} | {lib} | {cells[-1]} | {ours_on_it} |")
                    print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
            if same:
                print(f"\nthe same non-rigid warp, {size}x{size}: each library's own warp (its warped ramp is its "
                      "backward map at the pixel centres), keypoints moved by that library vs by ours on that very "
                      "map (functional.dense: Newton per point)")
                print("| operation | warp of | theirs med / p95 / max (n) | ours on that warp med / p95 / max (n) |")
                print("|---|---|---|---|")
                print("\n".join(same), flush=True)
        if not args.no_memory:
            mem = {lib: peak_rss("albu" if lib.startswith("albu") else lib, libs[lib], size, args) for lib in workers}
            print(f"\npeak memory of the mixed pipeline, fresh process each (peak RSS added, cold / steady MiB; cold: "
                  "over the first 45 images after one call of every op, caches per image size included; steady: over "
                  f"30 images after 60; Kornia: batches of {args.batch}): "
                  + ", ".join(f"{k} {c:.1f} / {st:.1f}" for k, (c, st) in mem.items()))
    for w in workers.values():
        w.close()


if __name__ == "__main__":
    main()
