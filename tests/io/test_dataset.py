"""FakevisionDataset round trips over every format, tensors and collate, errors on bad files, inspect_output."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from fakevision.core import Annotations, Provenance, Sample
from fakevision.core.errors import InputError
from fakevision.io.dataset import FakevisionDataset, collate, output_layout
from fakevision.io.inspect import inspect_output
from fakevision.io.writers import OutputSpec, ShardInfo, make_writers
from tests.io.test_writers import ALL, make_sample, make_samples, write_run

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


@pytest.fixture(scope="module")
def samples() -> list[Sample]:
    return make_samples()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory, samples: list[Sample]) -> Path:
    out = tmp_path_factory.mktemp("ds")
    write_run(out, samples)
    return out


def assert_same_sample(got: Sample, want: Sample, kp_atol: float) -> None:
    """Equal up to ``kp_atol`` on coordinates; with zero instances, COCO cannot tell "no masks" from "zero masks"
    (or [] from no instance attributes), which carry the same information."""
    a, b = got.annotations, want.annotations
    assert got.id == want.id and np.array_equal(got.image, want.image)
    assert (a.label, a.attributes, a.categories, a.extras) == (b.label, b.attributes, b.categories, b.extras)
    assert (a.instance_attributes or None) == (b.instance_attributes or None)
    np.testing.assert_allclose(a.boxes, b.boxes, rtol=0, atol=kp_atol)
    if b.num_instances:
        assert np.array_equal(a.masks, b.masks)
    if b.keypoints is None:
        assert a.keypoints is None
    else:
        np.testing.assert_allclose(a.keypoints, b.keypoints, rtol=0, atol=kp_atol)
        assert np.array_equal(a.visibility, b.visibility) and a.keypoint_schema == b.keypoint_schema
    if b.label_map is None:
        assert a.label_map is None
    else:
        assert np.array_equal(a.label_map, b.label_map) and a.label_names == b.label_names
    if b.depth is None:
        assert a.depth is None
    else:
        np.testing.assert_allclose(a.depth, b.depth, rtol=0, atol=1e-6)
    if b.normals is None:
        assert a.normals is None
    else:  # 16-bit quantisation: 1/65535 per component before renormalising
        np.testing.assert_allclose(a.normals, b.normals, rtol=0, atol=4e-5)
        assert np.array_equal(a.normals.any(axis=2), b.normals.any(axis=2))
    assert got.provenance.to_dict() == {**want.provenance.to_dict(), "params": {"scale": 1.5}}


@pytest.mark.parametrize(("fmt", "atol"), [("coco", 1e-9), ("webdataset", 0.0)])
def test_round_trip_exact(run_dir: Path, samples: list[Sample], fmt: str, atol: float) -> None:
    ds = FakevisionDataset(run_dir, format=fmt)
    assert len(ds) == 6 and ds.ids() == [s.id for s in samples]
    # in class id order; "object" is a class only the label maps name (id 300, their first claim)
    assert ds.categories == ["cube", "face", "object"] and ds.classes == ["cat", "dog"]
    assert ds.category_ids == {"cube": 2, "face": 3, "object": 300}
    for i, want in enumerate(samples):
        assert_same_sample(ds.to_sample(i), want, atol)


def test_imagefolder_round_trip_uses_manifest(run_dir: Path, samples: list[Sample]) -> None:
    ds = FakevisionDataset(run_dir, format="imagefolder")
    assert len(ds) == 6 and ds.classes == ["cat", "dog"]
    by_id = {s.id: s for s in samples}
    for i in range(len(ds)):
        got = ds.to_sample(i)
        want = by_id[got.id]
        assert np.array_equal(got.image, want.image) and got.annotations.label == want.annotations.label
        assert got.provenance.parents == want.provenance.parents and got.annotations.attributes["age"] >= 0


def test_items_and_collate(run_dir: Path) -> None:
    ds = FakevisionDataset(run_dir)
    assert ds.format == "coco" and output_layout(run_dir / "coco/annotations.json") == "coco"
    item = ds[0]
    assert item["image"].dtype == torch.float32 and item["image"].shape == (3, 24, 32)
    assert float(item["image"].min()) >= 0.0 and float(item["image"].max()) <= 1.0
    ids = ds.category_ids  # the run's class ids (the COCO category ids)
    assert item["boxes"].shape == (2, 4) and item["labels"].tolist() == [ids["face"], ids["cube"]]
    assert item["masks"].dtype == torch.bool and item["masks"].shape == (2, 24, 32)
    assert item["keypoints"].shape == (2, 68, 3) and item["depth"].shape == (1, 24, 32)
    assert item["normals"].dtype == torch.float32 and item["normals"].shape == (3, 24, 32)
    assert item["label_map"].dtype == torch.int64 and item["label_names"] == {0: "background", 300: "object"}
    assert item["label"] == "cat" and item["label_index"] == 0
    assert "keypoints" not in ds[3] and ds[3]["label_index"] == -1
    assert ds[2]["boxes"].shape == (0, 4) and ds[-1]["id"] == "synth-005"
    with pytest.raises(IndexError):
        ds[6]
    batch = next(iter(DataLoader(ds, batch_size=4, collate_fn=collate)))
    assert batch["image"].shape == (4, 3, 24, 32) and batch["label_index"].tolist() == [0, 1, 0, -1]
    assert [b.shape[0] for b in batch["boxes"]] == [2, 2, 0, 2]
    flipped = FakevisionDataset(run_dir, format="webdataset", transform=lambda d: d["image"].flip(-1))
    assert torch.equal(flipped[0], ds[0]["image"].flip(-1))


def test_single_tar_and_unfinalized_webdataset(tmp_path: Path, run_dir: Path) -> None:
    ds = FakevisionDataset(run_dir / "webdataset/shard-000001.tar")
    assert ds.format == "webdataset" and ds.ids() == ["synth-002", "synth-003"]
    shutil.copytree(run_dir / "webdataset", tmp_path / "webdataset")
    (tmp_path / "webdataset/info.json").unlink()
    ds = FakevisionDataset(tmp_path)
    assert len(ds) == 6 and ds.categories == ["cube", "face", "object"]


def test_bad_files_raise_input_error_naming_them(tmp_path: Path, run_dir: Path) -> None:
    with pytest.raises(InputError, match="no fakevision output"):
        FakevisionDataset(tmp_path)
    with pytest.raises(InputError, match="no such file"):
        FakevisionDataset(tmp_path / "absent")
    shutil.copytree(run_dir, tmp_path / "out")
    out = tmp_path / "out"
    img = out / "coco/images/synth-001.png"
    img.write_bytes(img.read_bytes()[:100])
    ds = FakevisionDataset(out, format="coco")
    with pytest.raises(InputError, match=r"synth-001\.png: truncated image"):
        ds.to_sample(1)
    (out / "coco/images/synth-002.png").unlink()  # a missing image fails at open, before a run starts
    with pytest.raises(InputError, match=r"annotations\.json: image \d+: image file not found: images/synth-002\.png"):
        FakevisionDataset(out, format="coco")
    tar = out / "webdataset/shard-000000.tar"
    tar.write_bytes(b"this is not a tar" * 100)
    with pytest.raises(InputError, match=r"shard-000000\.tar"):
        FakevisionDataset(out, format="webdataset")
    (out / "coco/annotations.json").write_text('{"images": [')
    with pytest.raises(InputError, match=r"annotations\.json: not valid JSON"):
        FakevisionDataset(out)


def test_coco_unknown_category_is_named(tmp_path: Path) -> None:
    write_run(tmp_path, make_samples(2), formats=["coco"])
    p = tmp_path / "coco/annotations.json"
    p.write_text(re.sub(r'"category_id":\d+', '"category_id":9', p.read_text(), count=1))
    with pytest.raises(InputError, match="annotations.json: annotation 1: unknown category id 9"):
        FakevisionDataset(tmp_path)


def test_inspect_counts(run_dir: Path) -> None:
    r = inspect_output(run_dir)
    assert r["format"] == "coco" and r["num_samples"] == 6
    assert r["formats"] == ["coco", "webdataset", "imagefolder", "manifest"]
    assert r["per_class"] == {"(none)": 1, "cat": 3, "dog": 2} and r["per_source"] == {"synth": 6}
    assert r["per_category"] == {"cube": 5, "face": 5} and r["with_depth"] == 4 and r["with_normals"] == 4
    assert r["with_masks"] == 5  # the sample with zero instances has no masks in COCO
    assert sum(r["keypoints"].values()) == 4 * 2 * 68 and set(r["keypoints"]) == {"v0", "v1", "v2"}
    assert r["boxes"]["count"] == 10 and r["boxes"]["width"]["min"] >= 3
    # Random keypoints are not on their masks: the check must see that, and nothing else.
    assert set(r["problem_counts"]) == {"visible_keypoint_off_mask"}


def test_inspect_finds_problems(tmp_path: Path) -> None:
    m = np.zeros((2, 10, 10), bool)
    m[0, 2:5, 2:5] = True
    kp = np.array([[[3.5, 3.5], [12.0, 3.0]], [[1.0, 1.0], [2.0, 2.0]]])
    bad = Sample(np.zeros((10, 10, 3), np.uint8),
                 Annotations(categories=["a", "b"], boxes=[[2, 2, 8, 5], [0, 0, 3, 3]], masks=m, keypoints=kp,
                             visibility=[[2, 2], [1, 1]]),
                 Provenance("t", "bad-0"))
    writers = make_writers([OutputSpec(format=f) for f in ALL])
    for w in writers:
        w.write_shard(tmp_path, ShardInfo(0, 1, 0), [bad, make_sample(9, keypoints=False)])
        w.finalize(tmp_path, 1)
    (tmp_path / "images/dog/synth-009.png").unlink()
    r = inspect_output(tmp_path)
    assert r["problem_counts"] == {"box_mask_mismatch": 1, "empty_mask": 1, "missing_file": 1,
                                   "visible_keypoint_outside_image": 1}
    assert any("images/dog/synth-009.png missing" in p for p in r["problems"])
    assert any("bad-0: instance 0 keypoint 1 at (12.00, 3.00)" in p for p in r["problems"])


def test_custom_schema_travels_with_the_files(tmp_path: Path) -> None:
    """A schema is a value carried by the annotations and written into the files as data: reading needs no
    process-wide registry, so any process (a fresh worker, a user's notebook) gets the same schema back."""
    from fakevision.core.keypoints import KeypointSchema

    schema = KeypointSchema("test_pair_corners", ("left", "right", "top"), (1, 0, 2), ((0, 1), (1, 2)))
    s = make_sample(0, n=1, keypoints=False)
    s.annotations.keypoints = np.array([[[1.25, 2.5], [3.0, 4.0], [5.5, 6.0]]])
    s.annotations.visibility = np.array([[2, 1, 0]], np.uint8)
    s.annotations.keypoint_schema = schema
    write_run(tmp_path, [s], formats=["coco", "webdataset"])
    for fmt in ("coco", "webdataset"):
        got = FakevisionDataset(tmp_path, format=fmt).to_sample(0).annotations
        assert got.keypoint_schema == schema
        np.testing.assert_allclose(got.keypoints, s.annotations.keypoints, rtol=0, atol=1e-9)


def test_coco_output_reads_with_the_coco_reader(run_dir: Path, samples: list[Sample]) -> None:
    # The COCO reader (io.readers) and writer state the same conventions (keypoints as pixel indices, shifted by
    # 0.5; boxes and RLE in corner coordinates): a file written by one must read back exactly with the other.
    from fakevision.io.readers import open_reader

    reader = open_reader("coco", run_dir / "coco/annotations.json")
    assert len(reader) == len(samples)
    for i in (0, 1, 4):
        got, want = reader[i].annotations, samples[i].annotations
        assert got.categories == want.categories and np.array_equal(got.masks, want.masks)
        np.testing.assert_allclose(got.boxes, want.boxes, rtol=0, atol=1e-9)
        np.testing.assert_allclose(got.keypoints, want.keypoints, rtol=0, atol=1e-9)
        assert np.array_equal(got.visibility, want.visibility) and got.keypoint_schema.name == "ibug68"
        # the depth and normal maps the writer referenced come along (so `fakevision augment` keeps them)
        np.testing.assert_allclose(got.depth, want.depth, rtol=0, atol=1e-6)
        np.testing.assert_allclose(got.normals, want.normals, rtol=0, atol=4e-5)
    assert reader[3].annotations.depth is None and reader[3].annotations.normals is None


def test_real_faces_round_trip(shared_data: Path, tmp_path: Path) -> None:
    from fakevision.io.readers import open_reader

    reader = open_reader("pts", shared_data / "faces_68pt/afw")
    faces = [reader[i] for i in range(4)]  # ids like "1051618982_1.jpg": dots become "_" in file names
    write_run(tmp_path, faces)
    assert (tmp_path / "coco/images/1051618982_1_jpg.png").is_file()
    for fmt, atol in (("coco", 1e-9), ("webdataset", 0.0)):
        ds = FakevisionDataset(tmp_path, format=fmt)
        for i, want in enumerate(faces):
            got = ds.to_sample(i)
            assert got.id == want.id and np.array_equal(got.image, want.image)
            np.testing.assert_allclose(got.annotations.keypoints, want.annotations.keypoints, rtol=0, atol=atol)
            assert got.annotations.keypoint_schema.name == "ibug68"
    assert inspect_output(tmp_path)["num_samples"] == 4


def test_zero_instances_with_keypoint_arrays(tmp_path: Path) -> None:
    s = Sample(np.zeros((6, 6, 3), np.uint8),
               Annotations(categories=[], boxes=np.zeros((0, 4)), keypoints=np.zeros((0, 68, 2)),
                           keypoint_schema="ibug68", masks=np.zeros((0, 6, 6), bool)),
               Provenance("t", "empty-0"))
    write_run(tmp_path, [s])
    for fmt in ("coco", "webdataset"):
        item = FakevisionDataset(tmp_path, format=fmt)[0]
        assert item["boxes"].shape == (0, 4) and "keypoints" not in item


def test_bad_depth_file_is_named(tmp_path: Path) -> None:
    write_run(tmp_path, make_samples(1), formats=["coco"])
    (tmp_path / "coco/depth/synth-000.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(InputError, match=r"depth/synth-000\.png: "):
        FakevisionDataset(tmp_path).to_sample(0)


def test_reference_coco_loader_failure_is_reported(tmp_path: Path) -> None:
    from fakevision.io.inspect import _coco_problem

    p = tmp_path / "annotations.json"
    p.write_text('{"images": [], "annotations": [{"id": 1}], "categories": []}')  # no image_id: COCO() fails
    assert "pycocotools cannot load it (KeyError" in (_coco_problem(p) or "")
    write_run(tmp_path, make_samples(1), formats=["coco"])
    assert _coco_problem(tmp_path / "coco/annotations.json") is None


def test_any_readable_data_set_loads_through_the_same_dataset_class(tmp_path: Path) -> None:
    """Real data a user has (a COCO file of their own, a folder of class subfolders) and fake data load through one
    class: ``format="any"`` falls back to the data-set readers when the path is no fakevision output; the items
    carry the file's own category ids and the folder's class labels; a path that is neither fails naming it."""
    import json

    from fakevision.core.errors import InputError
    from fakevision.io.images import encode_image

    img = np.zeros((10, 12, 3), np.uint8)
    img[2:6, 3:9] = 200
    (tmp_path / "imgs").mkdir()
    (tmp_path / "imgs" / "a.png").write_bytes(encode_image(img))
    coco = {"images": [{"id": 7, "file_name": "imgs/a.png", "width": 12, "height": 10}],
            "categories": [{"id": 5, "name": "box"}],
            "annotations": [{"id": 1, "image_id": 7, "category_id": 5, "bbox": [3, 2, 6, 4], "iscrowd": 0,
                             "segmentation": [[3, 2, 9, 2, 9, 6, 3, 6]], "area": 24}]}
    (tmp_path / "mine.json").write_text(json.dumps(coco))
    ds = FakevisionDataset(tmp_path / "mine.json", format="coco")  # our output decoder reads plain COCO too
    users = FakevisionDataset(tmp_path / "imgs" / ".." / "mine.json", format="any")
    assert users.format == "coco" and len(users) == 1
    item = users[0]
    assert item["boxes"].tolist() == [[3.0, 2.0, 9.0, 6.0]] and item["labels"].tolist() == [5]
    assert int(item["masks"].sum()) == 24 and ds[0]["boxes"].tolist() == item["boxes"].tolist()

    folder = tmp_path / "classes"
    for label in ("cat", "dog"):
        (folder / label).mkdir(parents=True)
        (folder / label / "1.png").write_bytes(encode_image(img))
    with pytest.raises(InputError, match="no fakevision output"):  # "auto" reads outputs only
        FakevisionDataset(folder)
    fds = FakevisionDataset(folder, format="any")
    assert fds.format == "folder" and fds.classes == ["cat", "dog"]
    assert FakevisionDataset(folder, format="folder").classes == fds.classes
    assert sorted(fds[i]["label_index"] for i in range(2)) == [0, 1] and tuple(fds[0]["image"].shape) == (3, 10, 12)

    (tmp_path / "nothing").mkdir()
    with pytest.raises(InputError) as e:
        FakevisionDataset(tmp_path / "nothing", format="any")
    assert "nothing" in str(e.value)
