"""Readers on the real data sets in ../shared/data: counts match the READMEs, annotations are consistent.

Each test decodes only a handful of images (indexing is cheap, decoding is what costs), so the file stays fast.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from fakevision.io.readers import open_reader, parse_pts

pytestmark = pytest.mark.shared_data


@pytest.fixture(scope="module")
def iris(shared_data: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    archive = shared_data / "mmu_iris_masks" / "mmu_iris_images_and_masks.tar.xz"
    return open_reader("auto", archive, category="iris", cache_dir=tmp_path_factory.mktemp("cache"))


def test_faces_68pt_count_schema_and_conversion(shared_data: Path) -> None:
    root = shared_data / "faces_68pt"
    r = open_reader("auto", root)
    assert r.format == "pts" and len(r) == 1537
    assert sum(i.startswith("helen_train/") for i in r.ids) == 870
    assert sum(i.startswith("afw/") for i in r.ids) == 337
    s = r[r.ids.index("helen_train/100032540_1.jpg")]
    a = s.annotations
    assert s.image.shape == (160, 160, 3) and a.keypoint_schema.name == "ibug68" and a.keypoints.shape == (1, 68, 2)
    raw = parse_pts(root / "helen_train" / "100032540_1.pts", 68)
    np.testing.assert_allclose(a.keypoints[0], raw - 0.5)


def test_faces_68pt_points_outside_the_crop_are_kept_not_visible(shared_data: Path) -> None:
    # index.csv flags 73 faces (its rule: raw < 0 or raw >= 160). Conventions disagree within half a pixel of
    # the border, so check the faces that are unambiguous under any convention: a point more than 1 px outside
    # the crop must come back labelled-not-visible (1) and be kept; faces well inside must be all visible (2).
    root = shared_data / "faces_68pt"
    with open(root / "index.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1537 and sum(row["all_points_inside"] == "False" for row in rows) == 73
    r = open_reader("pts", root)
    far_out, well_in = [], []
    for row in rows:
        raw = parse_pts(root / row["file"].replace(".jpg", ".pts"), 68)
        if ((raw < -1) | (raw > 161)).any():
            far_out.append(row["file"])
        elif ((raw > 1) & (raw < 159)).all() and len(well_in) < 10:
            well_in.append(row["file"])
    assert 5 <= len(far_out) < 73
    for rel in far_out[:8]:
        a = r[r.ids.index(rel)].annotations
        raw = parse_pts(root / rel.replace(".jpg", ".pts"), 68)
        outside = ((raw < -1) | (raw > 161)).any(axis=1)
        assert (a.visibility[0][outside] == 1).all() and (a.visibility[0] > 0).all()
        assert 0 <= a.boxes[0, 0] < a.boxes[0, 2] <= 160 and 0 <= a.boxes[0, 1] < a.boxes[0, 3] <= 160
    for rel in well_in:
        assert (r[r.ids.index(rel)].annotations.visibility == 2).all()


def test_mmu_iris_tar_pairs(iris) -> None:  # type: ignore[no-untyped-def]
    assert iris.format == "mask_pairs" and len(iris) == 450
    assert iris.ids[0] == "Dataset/images/1/left/1.bmp"
    for i in (0, 123, 449):
        s = iris[i]
        a = s.annotations
        assert s.image.shape == (240, 320, 3) and a.categories == ["iris"]
        assert s.provenance.params["mask"] == s.id.replace("Dataset/images/", "Dataset/mask/")
        m = a.masks[0]
        assert 1000 < m.sum() < 0.5 * m.size  # an iris, not an empty or inverted mask
        x0, y0, x1, y1 = a.boxes[0].astype(int)
        assert m[y0:y1, x0:x1].sum() == m.sum() and m[y0, x0:x1].any() and m[y1 - 1, x0:x1].any()


def test_labelme_voc_matches_its_coco_export(shared_data: Path) -> None:
    base = shared_data / "labelme_voc_instances"
    lm = open_reader("auto", base / "data_annotated")
    coco = open_reader("auto", base / "data_dataset_coco" / "annotations.json")
    assert (lm.format, coco.format) == ("labelme", "coco") and len(lm) == len(coco) == 3
    by_name = {Path(coco[i].id).name: coco[i] for i in range(3)}
    total = 0
    for s in lm:
        c = by_name[Path(s.id).name].annotations
        a = s.annotations
        total += a.num_instances
        assert sorted(a.categories) == sorted(c.categories)
        # labelme2coco rasterised the same polygons with pycocotools: the masks agree pixel for pixel
        for j, cat in enumerate(a.categories):
            ious = [(a.masks[j] & m).sum() / (a.masks[j] | m).sum() for m, cc in zip(c.masks, c.categories)
                    if cc == cat]
            assert max(ious) > 0.99
        # its bboxes came from PIL masks (pixel centres at integers): within one pixel of ours
        assert np.abs(np.sort(a.boxes, 0) - np.sort(c.boxes, 0)).max() <= 1.0
    assert total == 12


def test_orl_csv_identity_labels(shared_data: Path) -> None:
    r = open_reader("auto", shared_data / "orl_att_faces" / "labels.csv", label_column="subject_id", mode="keep")
    assert r.format == "csv" and len(r) == 380
    assert r.classes == sorted(str(k) for k in range(3, 41))
    s = r[0]
    assert s.image.shape == (112, 92, 1) and s.annotations.label == "3" and s.id == "images/s3/1.pgm"
    assert s.annotations.attributes == {"image_index": 1}


def test_utkface_csv_gender_names_and_folder_reader(shared_data: Path) -> None:
    root = shared_data / "utkface_random_200"
    r = open_reader("csv", root / "labels.csv", label_column="gender", label_names={0: "male", 1: "female"})
    assert len(r) == 2000 and r.labels.count("female") == r.labels.count("male") == 1000
    s = r[1999]
    assert s.image.shape == (200, 200, 3)
    assert s.annotations.label == {"males": "male", "females": "female"}[s.annotations.attributes["gender_folder"]]
    assert isinstance(s.annotations.attributes["age"], int)
    folders = open_reader("auto", root / "images")
    assert folders.format == "folder" and len(folders) == 2000 and folders.classes == ["females", "males"]


def test_dlib_examples_boxes_and_landmarks(shared_data: Path) -> None:
    root = shared_data / "dlib_examples_faces"
    counts = {}
    for name, images, faces in (("training", 4, 18), ("testing", 5, 25)):
        boxes = open_reader("auto", root / f"{name}.xml")
        marks = open_reader("auto", root / f"{name}_with_face_landmarks.xml")
        assert boxes.format == marks.format == "dlib" and len(boxes) == len(marks) == images
        assert boxes.ids == marks.ids
        counts[name] = sum(m.annotations.num_instances for m in marks)
        assert counts[name] == faces
        s, t = boxes[0], marks[0]
        assert np.array_equal(s.annotations.boxes, t.annotations.boxes) and s.annotations.keypoints is None
        a = t.annotations
        assert a.keypoint_schema.name == "ibug68" and a.keypoints.shape == (a.num_instances, 68, 2)
        # the predicted landmarks of each face sit around its box (within half a box size)
        for box, kp in zip(a.boxes, a.keypoints):
            size = box[2] - box[0]
            assert (kp.min(0) > box[:2] - size / 2).all() and (kp.max(0) < box[2:] + size / 2).all()
    assert counts == {"training": 18, "testing": 25}
