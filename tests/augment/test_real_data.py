"""On real data (``shared_data``): face landmarks stay on the face, iris masks stay on the iris.

The check that annotations stay on the content is pixel-based, so it does not trust the code under test: the
(slightly smoothed) image sampled at a landmark before augmentation must equal the augmented image sampled at
the moved landmark. Measured on HELEN test faces: mean |difference| ~1 grey level when aligned, ~19 when the
landmarks are off by 1.5 px, so the bounds below fail on any real misalignment.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from fakevision.augment import Transform, Zoom, get_preset
from fakevision.core import Annotations, Sample
from fakevision.core.keypoints import get_schema
from fakevision.core.sample import boxes_from_masks

pytestmark = pytest.mark.shared_data


def _read_pts(path: Path) -> np.ndarray:
    """300-W .pts -> our convention (1-based pixel centres -> corner-based: minus 0.5)."""
    body = path.read_text().split("{")[1].split("}")[0].split()
    return np.asarray(body, dtype=np.float64).reshape(-1, 2) - 0.5


@pytest.fixture(scope="module")
def faces(shared_data: Path) -> list[Sample]:
    files = sorted((shared_data / "faces_68pt" / "helen_test").glob("*.jpg"))[:24]
    out = []
    for f in files:
        img = np.asarray(Image.open(f).convert("RGB"))
        kp = _read_pts(f.with_suffix(".pts"))[None]
        out.append(Sample(img, Annotations(label="face", categories=["face"], boxes=[[0, 0, 160, 160]],
                                           keypoints=kp, keypoint_schema="ibug68")))
    return out


def _sample_at(img: np.ndarray, xy: np.ndarray, sigma: float = 1.0) -> np.ndarray:
    """Grey level at continuous points, after a blur of ``sigma`` px (compare zoomed images at equal detail)."""
    g = cv2.GaussianBlur(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32), (0, 0), sigma)
    mx = (xy[:, 0] - 0.5).astype(np.float32)[None]  # corner convention -> OpenCV pixel-centre convention
    my = (xy[:, 1] - 0.5).astype(np.float32)[None]
    return cv2.remap(g, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)[0]


def _geometric_only(t: Transform, params: dict) -> dict:
    """The preset's params with the photometric ops switched off (pixels must still match)."""
    return {**params, "ops": [q if op.kind == "geometric" else {"applied": False}
                              for op, q in zip(t.ops, params["ops"])]}


def test_face_preset_keeps_landmarks_on_the_face(faces: list[Sample]) -> None:
    t = get_preset("face")
    perm = np.asarray(get_schema("ibug68").flip_perm)
    errors, flips = [], 0
    for i, s in enumerate(faces):
        p = _geometric_only(t, t.sample_params(np.random.default_rng(i), s))
        out = t.apply(s, p)
        a = out.annotations
        flipped = p["ops"][0]["applied"]
        flips += flipped
        src_of = perm if flipped else np.arange(68)  # slot j now holds the point that was at src_of[j]
        vis = a.visibility[0] > 0
        before = _sample_at(s.image, s.annotations.keypoints[0][src_of])
        after = _sample_at(out.image, a.keypoints[0])
        errors.append(np.abs(before - after)[vis].mean())
        # relative order of the face parts survives (rotation <= 20 deg, names swapped on flips)
        k = a.keypoints[0]
        assert k[36:42, 0].mean() < k[42:48, 0].mean(), "subject's right eye stays on the image left"
        assert k[36:48, 1].mean() < k[30, 1] < k[48:68, 1].mean() < k[8, 1], "eyes above nose above mouth above chin"
        assert k[0, 0] < k[16, 0], "jaw runs from the image left to the right"
    assert 0 < flips < len(faces)
    assert max(errors) < 5.0 and float(np.mean(errors)) < 2.0, errors


@pytest.mark.parametrize("scale", [0.7, 1.25])
def test_zoom_scales_inter_ocular_distance_and_pixels_follow(faces: list[Sample], scale: float) -> None:
    z = Zoom(scale=scale)
    for s in faces[:8]:
        out = z(s, np.random.default_rng(0))
        k0, k1 = s.annotations.keypoints[0], out.annotations.keypoints[0]
        iod0 = np.linalg.norm(k0[36] - k0[45])
        iod1 = np.linalg.norm(k1[36] - k1[45])
        assert iod1 == pytest.approx(scale * iod0, rel=1e-9)
        # points well inside the source image (near its border the zoom-out's fill is not the replicated edge)
        vis = (out.annotations.visibility[0] > 0) & np.all((k0 > 4) & (k0 < 156), axis=1)
        assert vis.sum() >= 40
        err = np.abs(_sample_at(s.image, k0, 1.5) - _sample_at(out.image, k1, 1.5 * scale))[vis].mean()
        wrong = np.abs(_sample_at(s.image, k0, 1.5) - _sample_at(out.image, k1 + 1.5, 1.5 * scale))[vis].mean()
        assert err < 3.0 and wrong > 2 * err, (err, wrong)


@pytest.fixture(scope="module")
def irises(shared_data: Path) -> list[Sample]:
    """A few MMU eyes with their masks, read straight from the .tar.xz (one pass, members kept in memory)."""
    wanted = {f"{subject}/left/1.bmp" for subject in (3, 7, 12, 20, 33, 41)}
    data: dict[tuple[str, str], bytes] = {}
    with tarfile.open(shared_data / "mmu_iris_masks" / "mmu_iris_images_and_masks.tar.xz", "r:xz") as tf:
        for m in tf:
            parts = m.name.split("/", 2)
            if len(parts) == 3 and parts[1] in ("images", "mask") and parts[2] in wanted:
                data[(parts[1], parts[2])] = tf.extractfile(m).read()  # type: ignore[union-attr]
    out = []
    for name in sorted(wanted):
        img = np.asarray(Image.open(io.BytesIO(data[("images", name)])).convert("RGB"))
        mask = (np.asarray(Image.open(io.BytesIO(data[("mask", name)])).convert("L")) > 127)[None]
        out.append(Sample(img, Annotations(label="iris", categories=["iris"], boxes=boxes_from_masks(mask),
                                           masks=mask)))
    return out


def _edge_offset(img: np.ndarray, mask: np.ndarray, r: int = 3) -> tuple[int, int]:
    """The shift of the mask boundary (within +-r px) that lies on the strongest image edges."""
    g = cv2.GaussianBlur(img[:, :, 0].astype(np.float32), (0, 0), 1.0)
    grad = np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1))
    edge = mask & ~cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    ys, xs = np.nonzero(edge)
    h, w = mask.shape
    scores = {(dx, dy): grad[np.clip(ys + dy, 0, h - 1), np.clip(xs + dx, 0, w - 1)].mean()
              for dy in range(-r, r + 1) for dx in range(-r, r + 1)}
    return max(scores, key=scores.__getitem__)


def test_iris_phone_keeps_the_mask_on_the_iris(irises: list[Sample]) -> None:
    t = get_preset("iris-phone")
    for i, s in enumerate(irises):
        assert max(map(abs, _edge_offset(s.image, s.annotations.masks[0]))) <= 1  # the data set's own alignment
        full = t.sample_params(np.random.default_rng(i), s)
        geo = t.apply(s, _geometric_only(t, full))
        dx, dy = _edge_offset(geo.image, geo.annotations.masks[0])
        assert max(abs(dx), abs(dy)) <= 1, (i, dx, dy)
        out = t.apply(s, full)
        np.testing.assert_array_equal(out.annotations.masks, geo.annotations.masks)  # photometric: mask untouched
        b = out.annotations.boxes[0]
        assert 38 <= max(b[2] - b[0], b[3] - b[1]) <= 97  # iris diameter now phone-like (< 100 px)
        assert out.image.shape[0] < s.image.shape[0]  # fewer pixels on the eye, as a phone would capture it
