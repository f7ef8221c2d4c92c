"""The newcomer's job: `fakevision make --out X` with the embedded default, checked as users load it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

# Every test here reads the default job's output, which a module fixture makes once (~1-2 min on 2 cores).
pytestmark = pytest.mark.slow

FV = [sys.executable, "-m", "fakevision.cli"]


@pytest.fixture(scope="module")
def default_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("default") / "X"
    r = subprocess.run([*FV, "make", "--out", str(out), "--workers", "2", "-q"], capture_output=True, text=True,
                       timeout=900)
    assert r.returncode == 0, r.stderr
    return out


def test_coco_loads_and_boxes_are_tight_and_keypoints_on_masks(default_out: Path) -> None:
    from pycocotools import mask as mask_utils
    from pycocotools.coco import COCO

    files = list(default_out.glob("*/*.json"))
    assert files
    coco = COCO(str(default_out / "coco" / "annotations.json"))
    assert len(coco.getImgIds()) >= 200
    anns = coco.loadAnns(coco.getAnnIds())
    assert len(anns) >= 200
    n_kp = n_faces = 0
    face_cat = coco.getCatIds(catNms=["face"])
    for a in anns:
        img = coco.loadImgs(a["image_id"])[0]
        if a["category_id"] in face_cat:  # a generated face: a box and 68 landmarks, no mask
            n_faces += 1
            kp = np.asarray(a["keypoints"], float).reshape(-1, 3)
            x, y, w, h = a["bbox"]
            vis = kp[kp[:, 2] == 2] + [0.5, 0.5, 0]  # COCO keypoints are pixel-centre based (x - 0.5)
            assert len(kp) == 68 and len(vis) >= 60, a["id"]
            assert (vis[:, 0] >= x - 1e-6).all() and (vis[:, 0] <= x + w + 1e-6).all(), a["id"]
            assert (vis[:, 1] >= y - 1e-6).all() and (vis[:, 1] <= y + h + 1e-6).all(), a["id"]
            assert (img["width"], img["height"]) == (64, 64) and "segmentation" not in a
            continue
        m = mask_utils.decode(coco.annToRLE(a)).astype(bool)
        assert m.shape == (img["height"], img["width"])
        ys, xs = np.nonzero(m)
        assert len(xs) > 0, a["id"]
        x, y, w, h = a["bbox"]
        assert abs(x - xs.min()) <= 1 and abs(y - ys.min()) <= 1, a["id"]
        assert abs(x + w - (xs.max() + 1)) <= 1 and abs(y + h - (ys.max() + 1)) <= 1, a["id"]
        kp = np.asarray(a.get("keypoints", []), float).reshape(-1, 3)
        for kx, ky, v in kp:
            if v == 2:
                n_kp += 1
                col, row = int(np.floor(kx)), int(np.floor(ky))
                # the pixel under the point, or one of its neighbours for points on a silhouette edge
                near = m[max(row - 1, 0):row + 2, max(col - 1, 0):col + 2]
                assert near.any(), (a["id"], kx, ky)
    assert n_kp > 100
    assert n_faces == 64  # the default job also writes the shipped GAN's faces with their landmarks


def test_shards_read_with_webdataset(default_out: Path) -> None:
    import webdataset as wds

    urls = sorted(str(p) for p in (default_out / "webdataset").glob("shard-*.tar"))
    assert urls
    n = 0
    for rec in wds.WebDataset(urls, shardshuffle=False):
        ann = json.loads(rec["json"])
        assert "provenance" in ann
        n += 1
    assert n >= 200


def test_torch_dataset_yields_tensors_with_annotations(default_out: Path) -> None:
    import torch

    from fakevision.io.dataset import FakevisionDataset

    ds = FakevisionDataset(default_out)
    assert len(ds) >= 200
    item = ds[0]
    assert isinstance(item["image"], torch.Tensor) and item["image"].ndim == 3
    assert item["boxes"].shape[-1] == 4
    assert "depth" in item


def test_manifest_has_provenance_for_every_sample(default_out: Path) -> None:
    rows = [json.loads(x) for x in (default_out / "manifest.jsonl").read_text().splitlines()]
    assert len(rows) >= 200
    assert all(r["provenance"]["recipe_hash"] for r in rows)
    sources = [r["provenance"]["source"] for r in rows]
    assert sources.count("render") == 256 and sources.count("faces") == 64
    faces = [r["provenance"] for r in rows if r["provenance"]["source"] == "faces"]
    assert all(len(p["params"]["z"]) == 64 and len(p["params"]["landmarks"]) == 68 for p in faces)


def test_default_faces_landmarks_are_the_shapes_they_were_warped_onto_and_inside_their_boxes(default_out: Path) -> None:
    """The default faces' written landmarks are the shapes drawn for them (provenance), and in the COCO file every
    visible landmark lies inside its face's bbox as COCO tools read both (the +0.5 px bbox bug of issue 12)."""
    from tests.gan.test_model_source import coco_keypoints_inside_boxes

    d = json.loads((default_out / "coco" / "annotations.json").read_text())
    by_id = {im["id"]: im for im in d["images"]}
    checked = 0
    for a in d["annotations"]:
        prov = by_id[a["image_id"]].get("fakevision_provenance", {})
        if prov.get("source") != "faces":
            continue
        kp = np.asarray(a["keypoints"], np.float64).reshape(-1, 3)[:, :2] + 0.5  # COCO pixel indices -> ours
        np.testing.assert_allclose(kp, np.asarray(prov["params"]["landmarks"]), atol=1e-4)
        checked += 1
    assert checked == 64
    assert coco_keypoints_inside_boxes(default_out) >= 64
