"""Readers on small hand-made data sets: coordinate conversions pinned by hand-computed cases, one test per bad
input (each checks that the message names the file and the problem), the lazy-sequence contract, provenance."""

from __future__ import annotations

import io
import json
import pickle
import tarfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from fakevision.core.errors import InputError
from fakevision.core.keypoints import get_schema
from fakevision.io.images import encode_image
from fakevision.io.readers import (
    CocoReader,
    CsvReader,
    ImageFolderReader,
    LabelmeReader,
    MaskPairReader,
    PtsReader,
    open_reader,
)


def write_image(path: Path, h: int = 8, w: int = 10, value: int = 0, fmt: str = "png") -> np.ndarray:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = np.full((h, w, 3), value, np.uint8)
    img[0, 0] = (255, 0, 0)
    path.write_bytes(encode_image(img, fmt))
    return img


def write_pts(path: Path, pts: list[tuple[float, float]]) -> None:
    body = "\n".join(f"{x} {y}" for x, y in pts)
    path.write_text(f"version: 1\nn_points: {len(pts)}\n{{\n{body}\n}}\n")


def coco_doc(anns: list[dict], categories: list[dict] | None = None, w: int = 10, h: int = 8) -> dict:
    return {
        "images": [{"id": 1, "file_name": "img/a.png", "width": w, "height": h}],
        "categories": categories or [{"id": 1, "name": "cube"}],
        "annotations": anns,
    }


def write_coco(root: Path, doc: dict) -> Path:
    write_image(root / "img" / "a.png", doc["images"][0]["height"], doc["images"][0]["width"])
    p = root / "ann.json"
    p.write_text(json.dumps(doc))
    return p


def assert_names(err: pytest.ExceptionInfo[InputError], path: Path | str, problem: str) -> None:
    msg = str(err.value)
    assert str(path) in msg, msg
    assert problem in msg, msg
    assert "\n" not in msg


# --- the lazy sequence contract and provenance --------------------------------------------------------------


def test_folder_reader_labels_ids_and_sequence_contract(tmp_path: Path) -> None:
    write_image(tmp_path / "dog" / "b.png")
    write_image(tmp_path / "cat" / "sub" / "a.jpg", fmt="jpg")
    write_image(tmp_path / "cat" / "c.png")
    (tmp_path / "cat" / "notes.txt").write_text("not an image")
    r = ImageFolderReader(tmp_path)
    assert r.ids == ["cat/c.png", "cat/sub/a.jpg", "dog/b.png"]
    assert r.labels == ["cat", "cat", "dog"] and r.classes == ["cat", "dog"]
    assert r[-1].annotations.label == "dog" and r[-1].id == "dog/b.png"
    assert [s.id for s in r[0:2]] == r.ids[:2]
    with pytest.raises(IndexError):
        r[3]
    s = r[0]
    assert s.image.shape == (8, 10, 3) and s.image.dtype == np.uint8 and tuple(s.image[0, 0]) == (255, 0, 0)
    assert s.provenance.source == "read:folder" and s.provenance.params == {"path": "cat/c.png"}
    assert str(tmp_path) not in json.dumps(s.provenance.to_dict())
    assert ImageFolderReader(tmp_path, classes=["dog"]).ids == ["dog/b.png"]


def test_grey_images_keep_or_convert(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "g.png").write_bytes(encode_image(np.full((3, 4, 1), 7, np.uint8)))
    assert ImageFolderReader(tmp_path)[0].image.shape == (3, 4, 3)
    assert ImageFolderReader(tmp_path, mode="keep")[0].image.shape == (3, 4, 1)


def test_empty_class_folder_is_an_error(tmp_path: Path) -> None:
    write_image(tmp_path / "cat" / "a.png")
    (tmp_path / "dog").mkdir()
    with pytest.raises(InputError) as e:
        ImageFolderReader(tmp_path)
    assert_names(e, tmp_path / "dog", "holds no images")
    (tmp_path / "dog").rmdir()
    write_image(tmp_path / "stray.png")
    with pytest.raises(InputError) as e:
        ImageFolderReader(tmp_path)
    assert_names(e, tmp_path, "1 image(s) outside any class folder (e.g. stray.png)")


# --- bad image files -------------------------------------------------------------------------------------------


def test_truncated_jpeg_names_file(tmp_path: Path) -> None:
    p = tmp_path / "cat" / "cut.jpg"
    p.parent.mkdir()
    rng = np.random.default_rng(0)
    data = encode_image(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8), "jpg")
    p.write_bytes(data[: len(data) // 2])
    r = ImageFolderReader(tmp_path)
    with pytest.raises(InputError) as e:
        r[0]
    assert_names(e, p, "truncated image")


def test_not_an_image_names_file(tmp_path: Path) -> None:
    p = tmp_path / "cat" / "fake.png"
    p.parent.mkdir()
    p.write_text("hello, I am text")
    with pytest.raises(InputError) as e:
        ImageFolderReader(tmp_path)[0]
    assert_names(e, p, "not an image")


def test_missing_path_names_it(tmp_path: Path) -> None:
    with pytest.raises(InputError) as e:
        open_reader("auto", tmp_path / "nope")
    assert_names(e, tmp_path / "nope", "not found")
    with pytest.raises(InputError) as e:
        ImageFolderReader(tmp_path / "nope")
    assert_names(e, tmp_path / "nope", "not found")


# --- CSV ---------------------------------------------------------------------------------------------------------


def test_csv_label_mapping_and_attributes(tmp_path: Path) -> None:
    write_image(tmp_path / "im" / "a.png")
    write_image(tmp_path / "im" / "b.png")
    (tmp_path / "l.csv").write_text("path,age,gender,score,note\nim/a.png,31,1,0.5,x\nim/b.png,4,0,,y\n")
    r = CsvReader(tmp_path / "l.csv", label_column="gender", label_names={0: "male", 1: "female"})
    assert r.labels == ["female", "male"]
    s = r[0]
    assert s.annotations.label == "female" and s.id == "im/a.png"
    assert s.annotations.attributes == {"age": 31, "score": 0.5, "note": "x"}
    assert r[1].annotations.attributes["score"] is None
    assert CsvReader(tmp_path / "l.csv", label_column="age")[1].annotations.label == "4"


def test_csv_errors_name_file_and_problem(tmp_path: Path) -> None:
    write_image(tmp_path / "a.png")
    p = tmp_path / "l.csv"
    p.write_text("path,gender\na.png,2\n")
    with pytest.raises(InputError) as e:
        CsvReader(p)
    assert_names(e, p, "label_column")
    with pytest.raises(InputError) as e:
        CsvReader(p, label_column="sex")
    assert_names(e, p, "no column 'sex'")
    with pytest.raises(InputError) as e:
        CsvReader(p, label_column="gender", label_names={0: "male", 1: "female"})
    assert_names(e, p, "line 2: label '2' not in label_names")
    p.write_text("path,gender\nmissing.png,1\n")
    with pytest.raises(InputError) as e:
        CsvReader(p, label_column="gender")
    assert_names(e, p, "image file not found: missing.png")


# --- 300-W .pts ----------------------------------------------------------------------------------------------------


def test_pts_convention_hand_computed(tmp_path: Path) -> None:
    # 300-W: (1, 1) is the centre of the top-left pixel -> ours (0.5, 0.5); x_ours = x_pts - 0.5.
    write_image(tmp_path / "s" / "f.jpg", h=20, w=30, fmt="jpg")
    pts = [(1.0, 1.0), (30.0, 20.0), (0.0, 10.0), (31.0, 5.5)] + [(15.0, 10.0)] * 64
    write_pts(tmp_path / "s" / "f.pts", pts)
    s = PtsReader(tmp_path)[0]
    a = s.annotations
    assert s.id == "s/f.jpg" and s.provenance.params == {"path": "s/f.jpg", "annotation": "s/f.pts"}
    assert a.keypoint_schema.name == "ibug68" and a.categories == ["face"]
    assert a.keypoints[0, :4].tolist() == [[0.5, 0.5], [29.5, 19.5], [-0.5, 9.5], [30.5, 5.0]]
    # inside [0, W] x [0, H] -> visible (2); outside -> labelled, not visible (1)
    assert a.visibility[0, :5].tolist() == [2, 2, 1, 1, 2]
    # box = landmark extent clipped to the image
    assert a.boxes.tolist() == [[0.0, 0.5, 30.0, 19.5]]


def test_pts_with_67_points_names_file(tmp_path: Path) -> None:
    write_image(tmp_path / "f.png")
    write_pts(tmp_path / "f.pts", [(2.0, 2.0)] * 67)
    r = PtsReader(tmp_path)
    with pytest.raises(InputError) as e:
        r[0]
    assert_names(e, tmp_path / "f.pts", "67 points, expected 68")


def test_pts_nan_point_names_file(tmp_path: Path) -> None:
    write_image(tmp_path / "f.png")
    write_pts(tmp_path / "f.pts", [(2.0, 2.0)] * 10 + [(float("nan"), 3.0)] + [(2.0, 2.0)] * 57)
    with pytest.raises(InputError) as e:
        PtsReader(tmp_path)[0]
    assert_names(e, tmp_path / "f.pts", "point 10 is NaN")


def test_pts_without_image_names_file(tmp_path: Path) -> None:
    write_pts(tmp_path / "f.pts", [(2.0, 2.0)] * 68)
    with pytest.raises(InputError) as e:
        PtsReader(tmp_path)
    assert_names(e, tmp_path / "f.pts", "no image with the same name")


# --- COCO ---------------------------------------------------------------------------------------------------------


def test_coco_box_mask_keypoint_conventions(tmp_path: Path) -> None:
    cats = [{"id": 5, "name": "head", "keypoints": ["nose", "left_eye", "right_eye"], "skeleton": [[2, 3]]}]
    ann = {"id": 9, "image_id": 1, "category_id": 5, "bbox": [1, 1, 2, 2], "iscrowd": 0,
           "segmentation": [[1, 1, 3, 1, 3, 3, 1, 3]], "keypoints": [3, 4, 2, 0, 0, 0, 9, 7, 1]}
    s = CocoReader(write_coco(tmp_path, coco_doc([ann], cats)))[0]
    a = s.annotations
    assert a.boxes.tolist() == [[1.0, 1.0, 3.0, 3.0]]  # xywh [1, 1, 2, 2] -> xyxy
    expected = np.zeros((8, 10), bool)
    expected[1:3, 1:3] = True  # pixel centres 1.5 and 2.5 lie inside [1, 3]
    assert np.array_equal(a.masks[0], expected)
    # keypoints are pixel indices: +0.5 to our continuous coordinates; v = 0 stays unlabelled
    assert a.keypoints[0].tolist() == [[3.5, 4.5], [0.5, 0.5], [9.5, 7.5]]
    assert a.visibility[0].tolist() == [2, 0, 1]
    schema = a.keypoint_schema
    assert schema.name == "coco:head" and schema.flip_perm == (0, 2, 1) and schema.skeleton == ((1, 2),)
    assert a.instance_attributes == [{"coco_id": 9, "iscrowd": 0}]
    assert s.id == "img/a.png" and s.provenance.params == {"path": "img/a.png", "image_id": 1}


def test_coco_rle_and_crowd(tmp_path: Path) -> None:
    from pycocotools import mask as mask_utils

    m = np.zeros((8, 10), np.uint8, order="F")
    m[2:5, 3:9] = 1
    rle = mask_utils.encode(m)
    rle["counts"] = rle["counts"].decode("ascii")
    anns = [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [3, 2, 6, 3], "segmentation": rle, "iscrowd": 1}]
    p = write_coco(tmp_path, coco_doc(anns))
    a = CocoReader(p)[0].annotations
    assert np.array_equal(a.masks[0], m.astype(bool))
    assert a.instance_attributes[0]["iscrowd"] == 1
    assert CocoReader(p, include_crowd=False)[0].annotations.num_instances == 0


def test_coco_ibug68_names_match_registered_schema(tmp_path: Path) -> None:
    names = list(get_schema("ibug68").names)
    cats = [{"id": 1, "name": "face", "keypoints": names}]
    kp = [v for i in range(68) for v in (i % 10, 3, 2)]
    ann = {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 8], "keypoints": kp}
    a = CocoReader(write_coco(tmp_path, coco_doc([ann], cats)))[0].annotations
    assert a.keypoint_schema.name == "ibug68" and a.masks is None


def test_coco_unknown_category_names_annotation_and_file(tmp_path: Path) -> None:
    ann = {"id": 42, "image_id": 1, "category_id": 7, "bbox": [0, 0, 2, 2]}
    p = write_coco(tmp_path, coco_doc([ann]))
    with pytest.raises(InputError) as e:
        CocoReader(p)
    assert_names(e, p, "annotation 42: unknown category id 7")


def test_coco_box_outside_image_names_annotation_and_file(tmp_path: Path) -> None:
    ann = {"id": 43, "image_id": 1, "category_id": 1, "bbox": [5, 2, 8, 3]}  # x1 = 13 > W = 10
    p = write_coco(tmp_path, coco_doc([ann]))
    with pytest.raises(InputError) as e:
        CocoReader(p)
    assert_names(e, p, "annotation 43: bbox [5, 2, 8, 3] (xywh) lies outside the 10x8 image")
    # within the tolerance a rounding overshoot is clipped, not an error
    ann["bbox"] = [5, 2, 5.4, 3]
    assert CocoReader(write_coco(tmp_path, coco_doc([ann])))[0].annotations.boxes.tolist() == [[5, 2, 10, 5]]


def test_coco_nan_keypoints_name_annotation_and_file(tmp_path: Path) -> None:
    cats = [{"id": 1, "name": "p", "keypoints": ["a", "b"]}]
    ann = {"id": 44, "image_id": 1, "category_id": 1, "bbox": [0, 0, 2, 2], "keypoints": [1, 1, 2, float("nan"), 1, 2]}
    p = write_coco(tmp_path, coco_doc([ann], cats))
    with pytest.raises(InputError) as e:
        CocoReader(p)
    assert_names(e, p, "annotation 44: keypoints contain NaN")


def test_coco_missing_image_file_names_it(tmp_path: Path) -> None:
    p = write_coco(tmp_path, coco_doc([]))
    (tmp_path / "img" / "a.png").unlink()
    with pytest.raises(InputError) as e:
        CocoReader(p)
    assert_names(e, p, "image file not found: img/a.png")


def test_coco_not_json_and_not_coco(tmp_path: Path) -> None:
    p = tmp_path / "x.json"
    p.write_text("{broken")
    with pytest.raises(InputError) as e:
        CocoReader(p)
    assert_names(e, p, "not valid JSON")
    p.write_text("[]")
    with pytest.raises(InputError) as e:
        CocoReader(p)
    assert_names(e, p, "not a COCO file")


def test_coco_reader_survives_pickling_into_a_worker(tmp_path: Path) -> None:
    cats = [{"id": 1, "name": "pickled_thing", "keypoints": ["left_a", "right_a"]}]
    ann = {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 2, 2], "keypoints": [1, 1, 2, 3, 3, 2]}
    r = CocoReader(write_coco(tmp_path, coco_doc([ann], cats)))
    r2 = pickle.loads(pickle.dumps(r))  # what a spawned worker gets: the schema travels as a value
    got = r2[0].annotations.keypoint_schema
    assert got.name == "coco:pickled_thing" and got.flip_perm == (1, 0)


# --- labelme -------------------------------------------------------------------------------------------------------


def labelme_doc(shapes: list[dict], image: str = "a.png", h: int = 8, w: int = 10) -> dict:
    return {"version": "5.0.1", "shapes": shapes, "imagePath": image, "imageData": None,
            "imageHeight": h, "imageWidth": w}


def shape(label: str, points: list, kind: str = "polygon", group: int | None = None) -> dict:
    return {"label": label, "points": points, "shape_type": kind, "group_id": group, "flags": {}}


def test_labelme_polygons_groups_rectangles(tmp_path: Path) -> None:
    write_image(tmp_path / "a.png")
    shapes = [
        shape("person", [[1, 1], [3, 1], [3, 3], [1, 3]], group=0),
        shape("person", [[6, 1], [8, 1], [8, 2], [6, 2]], group=0),  # same instance, other part
        shape("bottle", [[0.5, 5.2], [4.5, 5.2], [4.5, 7.0]]),
        shape("__ignore__", [[0, 0], [9, 0], [9, 7]]),
        shape("car", [[5, 4], [9, 7]], "rectangle"),
    ]
    (tmp_path / "a.json").write_text(json.dumps(labelme_doc(shapes)))
    s = LabelmeReader(tmp_path)[0]
    a = s.annotations
    assert s.id == "a.png" and s.provenance.params == {"path": "a.png", "annotation": "a.json"}
    assert a.categories == ["person", "bottle", "car"]
    person = np.zeros((8, 10), bool)
    person[1:3, 1:3] = True
    person[1:2, 6:8] = True
    assert np.array_equal(a.masks[0], person)
    assert a.boxes[0].tolist() == [1, 1, 8, 3]  # box of the grouped mask
    assert a.boxes[2].tolist() == [5, 4, 9, 7]  # rectangle: exact corners
    car = np.zeros((8, 10), bool)
    car[4:7, 5:9] = True
    assert np.array_equal(a.masks[2], car)
    assert a.instance_attributes[0] == {"shape_types": ["polygon"], "group_id": 0}


def test_labelme_embedded_image_and_bad_shape(tmp_path: Path) -> None:
    import base64

    data = encode_image(np.full((4, 6, 3), 9, np.uint8))
    doc = labelme_doc([shape("x", [[1, 1], [4, 1], [4, 3]])], image="gone.png", h=4, w=6)
    doc["imageData"] = base64.b64encode(data).decode()
    (tmp_path / "e.json").write_text(json.dumps(doc))
    s = LabelmeReader(tmp_path / "e.json")[0]
    assert s.image.shape == (4, 6, 3) and s.id == "e.json"
    doc = labelme_doc([shape("x", [[1, 1], [4, 1]], "line")], image="gone.png", h=4, w=6)
    doc["imageData"] = base64.b64encode(data).decode()
    (tmp_path / "e.json").write_text(json.dumps(doc))
    with pytest.raises(InputError) as e:
        LabelmeReader(tmp_path)[0]
    assert_names(e, tmp_path / "e.json", "shape 0 ('x'): shape_type 'line' is not an area")
    doc["imageData"] = None
    (tmp_path / "e.json").write_text(json.dumps(doc))
    with pytest.raises(InputError) as e:
        LabelmeReader(tmp_path)[0]
    assert_names(e, tmp_path / "e.json", "image file not found: 'gone.png'")


# --- image / mask pairs --------------------------------------------------------------------------------------------


def write_bmp(path: Path, pixels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(".bmp", pixels)
    assert ok
    path.write_bytes(buf.tobytes())


def make_pairs(root: Path) -> None:
    """Like MMU iris: 24-bit BMP images and 0/255 RGB BMP masks at the same relative path."""
    for k, rel in enumerate(("1/left/1", "1/left/2", "2/right/1")):
        write_bmp(root / "images" / f"{rel}.bmp", np.full((6, 8, 3), 40 + k, np.uint8))
        m = np.zeros((6, 8, 3), np.uint8)
        m[1:4, 2:5] = 255
        write_bmp(root / "mask" / f"{rel}.bmp", m)


def test_mask_pairs_folder_box_and_label_map(tmp_path: Path) -> None:
    make_pairs(tmp_path)
    r = MaskPairReader(tmp_path, category="iris")
    assert r.ids == ["images/1/left/1.bmp", "images/1/left/2.bmp", "images/2/right/1.bmp"]
    a = r[0].annotations
    assert a.categories == ["iris"] and a.boxes.tolist() == [[2.0, 1.0, 5.0, 4.0]]
    assert a.masks.sum() == 9 and np.array_equal(a.label_map, a.masks[0].astype(np.int32))
    assert a.label_names == {0: "background", 1: "iris"}
    assert r[0].provenance.params == {"path": "images/1/left/1.bmp", "mask": "mask/1/left/1.bmp"}


@pytest.mark.parametrize("compression", ["", "gz", "xz"])
def test_mask_pairs_tar_equals_folder(tmp_path: Path, compression: str) -> None:
    make_pairs(tmp_path / "src" / "Dataset")
    archive = tmp_path / f"d.tar{'.' + compression if compression else ''}"
    with tarfile.open(archive, f"w:{compression}") as t:
        t.add(tmp_path / "src" / "Dataset", arcname="Dataset")
    folder = MaskPairReader(tmp_path / "src" / "Dataset")
    tar = MaskPairReader(archive, cache_dir=tmp_path / "cache")
    assert tar.ids == ["Dataset/" + i for i in folder.ids]
    for i in range(len(tar)):
        assert np.array_equal(tar[i].image, folder[i].image)
        assert np.array_equal(tar[i].annotations.masks, folder[i].annotations.masks)
    assert len(list((tmp_path / "cache").glob("*.tar"))) == (1 if compression else 0)
    again = pickle.loads(pickle.dumps(tar))  # workers get their own file handle
    assert np.array_equal(again[2].image, tar[2].image)


def test_mask_pairs_missing_mask_names_image(tmp_path: Path) -> None:
    make_pairs(tmp_path)
    (tmp_path / "mask" / "1" / "left" / "2.bmp").unlink()
    with pytest.raises(InputError) as e:
        MaskPairReader(tmp_path)
    assert_names(e, tmp_path / "images" / "1" / "left" / "2.bmp", "no mask for this image")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        t.add(tmp_path / "images", arcname="D/images")
        t.add(tmp_path / "mask", arcname="D/mask")
    (tmp_path / "x.tar").write_bytes(buf.getvalue())
    with pytest.raises(InputError) as e:
        MaskPairReader(tmp_path / "x.tar")
    assert_names(e, f"{tmp_path / 'x.tar'}:D/images/1/left/2.bmp", "no mask for this image")


def test_mask_pairs_size_mismatch_and_empty_mask(tmp_path: Path) -> None:
    write_image(tmp_path / "images" / "a.png", h=6, w=8)
    (tmp_path / "masks").mkdir()
    (tmp_path / "masks" / "a.png").write_bytes(encode_image(np.zeros((6, 8), np.uint8)))
    s = MaskPairReader(tmp_path)[0]
    assert s.annotations.num_instances == 0 and s.annotations.label_map.sum() == 0
    (tmp_path / "masks" / "a.png").write_bytes(encode_image(np.zeros((5, 8), np.uint8)))
    with pytest.raises(InputError) as e:
        MaskPairReader(tmp_path)[0]
    assert_names(e, tmp_path / "masks" / "a.png", "mask is 8x5 but its image is 8x6")


def test_coco_round_trip_through_fakevision_writer(tmp_path: Path) -> None:
    """Samples written by our CocoWriter come back with the same boxes, masks, keypoints, labels and schema."""
    from fakevision.core.sample import Annotations, Provenance, Sample
    from fakevision.io.writers.base import ShardInfo
    from fakevision.io.writers.coco import CocoWriter

    rng = np.random.default_rng(0)
    masks = np.zeros((2, 12, 16), bool)
    masks[0, 2:6, 3:9] = True
    masks[1, 7:11, 10:15] = True
    kp = rng.uniform(0, 12, (2, 5, 2))
    vis = rng.integers(0, 3, (2, 5)).astype(np.uint8)
    written = Sample(
        rng.integers(0, 255, (12, 16, 3), dtype=np.uint8),
        Annotations(label="happy", attributes={"age": 3}, categories=["face", "face"],
                    boxes=[[3, 2, 9, 6], [10, 7, 15, 11]], masks=masks, keypoints=kp, visibility=vis,
                    keypoint_schema="face5", instance_attributes=[{"pose": 1}, {"pose": 2}]),
        Provenance("demo", "demo/0"),
    )
    w = CocoWriter()
    w.write_shard(tmp_path, ShardInfo(0, 1, 0), [written])
    w.finalize(tmp_path, 1)
    r = open_reader("auto", tmp_path / "coco" / "annotations.json")
    assert r.labels == ["happy"]
    back = r[0]
    a, b = written.annotations, back.annotations
    assert np.array_equal(back.image, written.image)
    assert (b.label, b.attributes, b.categories) == (a.label, a.attributes, a.categories)
    assert np.array_equal(b.boxes, a.boxes) and np.array_equal(b.masks, a.masks)
    np.testing.assert_allclose(b.keypoints, a.keypoints, atol=1e-9)
    assert np.array_equal(b.visibility, a.visibility) and b.keypoint_schema.name == "face5"
    assert b.instance_attributes == a.instance_attributes


def test_concurrent_opens_share_one_decompressed_cache(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from fakevision.io.readers.archive import TarStore

    archive = tmp_path / "a.tar.xz"
    payload = np.random.default_rng(0).integers(0, 255, 300_000, dtype=np.uint8).tobytes()
    with tarfile.open(archive, "w:xz") as t:
        info = tarfile.TarInfo("d/blob.bin")
        info.size = len(payload)
        t.addfile(info, io.BytesIO(payload))
    with ThreadPoolExecutor(4) as pool:
        stores = list(pool.map(lambda _: TarStore(archive, cache_dir=tmp_path / "c"), range(4)))
    assert all(s.read("d/blob.bin") == payload for s in stores)
    assert sorted(p.name for p in (tmp_path / "c").iterdir() if not p.name.endswith(".lock")) == [stores[0].plain.name]


def test_paths_outside_the_root_are_rejected_and_ids_normalised(tmp_path: Path) -> None:
    write_image(tmp_path / "d" / "im" / "a.png")
    write_image(tmp_path / "outside.png")
    p = tmp_path / "d" / "l.csv"
    p.write_text("path,y\nim/./x/../a.png,1\n")
    assert CsvReader(p, label_column="y").ids == ["im/a.png"]
    p.write_text("path,y\n../outside.png,1\n")
    with pytest.raises(InputError) as e:
        CsvReader(p, label_column="y")
    assert_names(e, p, "line 2: path '../outside.png' is outside the image root")
    doc = coco_doc([])
    doc["images"][0]["file_name"] = "../../etc/passwd"
    q = write_coco(tmp_path / "c", doc)
    with pytest.raises(InputError) as e:
        CocoReader(q)
    assert_names(e, q, "image 1: file_name '../../etc/passwd' is outside the image root")


# --- dlib imglab XML -------------------------------------------------------------------------------------------


def test_dlib_xml_convention_ignore_and_clipping(tmp_path: Path) -> None:
    from fakevision.io.readers import DlibXmlReader

    write_image(tmp_path / "im" / "a.png", h=10, w=12)
    (tmp_path / "f.xml").write_text(
        "<?xml version='1.0'?><dataset><images><image file='im/a.png'>"
        # pixel columns 3..6 (dlib inclusive, width 4) -> ours [3, 7); parts at pixel centres -> +0.5
        "<box top='2' left='3' width='4' height='5'><part name='00' x='4' y='3'/><part name='02' x='12' y='0'/></box>"
        "<box top='-2' left='9' width='6' height='4'/>"  # past the border: clipped
        "<box top='1' left='1' width='2' height='2' ignore='1'/>"
        "</image></images></dataset>")
    r = DlibXmlReader(tmp_path / "f.xml")
    s = r[0]
    a = s.annotations
    assert s.id == "im/a.png" and s.provenance.params == {"path": "im/a.png", "annotation": "f.xml"}
    assert a.boxes.tolist() == [[3, 2, 7, 7], [9, 0, 12, 2]]
    assert a.keypoint_schema.name == "generic3"
    assert a.keypoints[0].tolist() == [[4.5, 3.5], [0, 0], [12.5, 0.5]]
    assert a.visibility.tolist() == [[2, 0, 1], [0, 0, 0]]  # absent -> 0, outside the 12-wide image -> 1
    assert DlibXmlReader(tmp_path / "f.xml", include_ignored=True)[0].annotations.num_instances == 3


def test_dlib_xml_errors_name_file(tmp_path: Path) -> None:
    from fakevision.io.readers import DlibXmlReader

    p = tmp_path / "f.xml"
    p.write_text("<dataset><images><image file='nope.jpg'/></images></dataset>")
    with pytest.raises(InputError) as e:
        DlibXmlReader(p)
    assert_names(e, p, "image 0: image file not found: nope.jpg")
    write_image(tmp_path / "a.png")
    p.write_text("<dataset><images><image file='a.png'><box top='1' left='x' width='2' height='2'/></image>"
                 "</images></dataset>")
    with pytest.raises(InputError) as e:
        DlibXmlReader(p)
    assert_names(e, p, "image a.png, box 0: attribute 'left' missing or not an integer")
    p.write_text("<dataset><images><image file='a.png'><box top='1' left='1' width='2' height='2'>"
                 "<part name='00' x='nan' y='1'/></box></image></images></dataset>")
    with pytest.raises(InputError) as e:
        DlibXmlReader(p)
    assert_names(e, p, "part coordinates contain NaN")
    p.write_text("<dataset><images>")
    with pytest.raises(InputError) as e:
        DlibXmlReader(p)
    assert_names(e, p, "not valid XML")


def test_coco_reader_reads_object_storage_as_it_reads_a_folder(tmp_path: Path) -> None:
    """A COCO file in a bucket (here fsspec's memory store) reads exactly as the same file on disk, and a listed
    image that is not there is named by its URL's folder at open."""
    import uuid

    from fakevision.io.storage import as_storage

    cats = [{"id": 5, "name": "head", "keypoints": ["nose", "left_eye", "right_eye"], "skeleton": [[2, 3]]}]
    ann = {"id": 9, "image_id": 1, "category_id": 5, "bbox": [1, 1, 2, 2], "iscrowd": 0,
           "segmentation": [[1, 1, 3, 1, 3, 3, 1, 3]], "keypoints": [3, 4, 2, 0, 0, 0, 9, 7, 1]}
    local = CocoReader(write_coco(tmp_path, coco_doc([ann], cats)))
    url = f"memory://fv-{uuid.uuid4().hex}/data"
    store = as_storage(url)
    store.write_bytes("ann.json", (tmp_path / "ann.json").read_bytes())
    store.write_bytes("img/a.png", (tmp_path / "img/a.png").read_bytes())
    remote = CocoReader(f"{url}/ann.json")
    a, b = local[0], remote[0]
    assert remote.ids == local.ids == ["img/a.png"] and a.provenance == b.provenance
    assert np.array_equal(a.image, b.image) and np.array_equal(a.annotations.masks, b.annotations.masks)
    assert a.annotations.keypoints.tolist() == b.annotations.keypoints.tolist()
    assert a.annotations.keypoint_schema == b.annotations.keypoint_schema
    store.remove("img/a.png")
    with pytest.raises(InputError) as e:
        CocoReader(f"{url}/ann.json")
    assert_names(e, f"{url}/ann.json", f"image 1: image file not found: img/a.png (under {url})")
    with pytest.raises(InputError) as e:
        CocoReader(f"{url}/absent.json")
    assert_names(e, f"{url}/absent.json", "file not found")


def test_coco_reader_keeps_our_label_maps_and_extras(tmp_path: Path) -> None:
    """Reading one of our COCO outputs as a plain COCO input keeps every annotation kind the writer stored: label
    maps (with their names) and extras such as camera intrinsics come along, so `fakevision augment` moves them."""
    from fakevision.core.sample import Annotations, Provenance, Sample
    from fakevision.io.writers.base import ShardInfo
    from fakevision.io.writers.coco import CocoWriter

    label_map = np.zeros((12, 16), np.int32)
    label_map[2:6, 3:9] = 7
    written = Sample(np.full((12, 16, 3), 40, np.uint8),
                     Annotations(categories=["cube"], boxes=[[3, 2, 9, 6]], label_map=label_map,
                                 label_names={0: "background", 7: "cube"}, extras={"camera": {"fx": 20.0}}),
                     Provenance("demo", "demo-0"))
    w = CocoWriter()
    w.write_shard(tmp_path, ShardInfo(0, 1, 0), [written])
    w.finalize(tmp_path, 1)
    plain = CocoReader(tmp_path / "coco" / "annotations.json")[0]
    ours = CocoReader(tmp_path / "coco" / "annotations.json", output=True)[0]
    for got in (plain, ours):
        assert np.array_equal(got.annotations.label_map, label_map)
        assert got.annotations.label_names == {0: "background", 7: "cube"}
        assert got.annotations.extras == {"camera": {"fx": 20.0}}
    assert plain.id == "images/demo-0.png" and plain.provenance.source == "read:coco"
    assert ours.id == "demo-0" and ours.provenance == written.provenance
    assert plain.annotations.instance_attributes == [{"coco_id": 1, "iscrowd": 0}]
    assert ours.annotations.instance_attributes is None  # as written: none
