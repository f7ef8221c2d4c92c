"""Writers: layout, format conventions (hand-computed cases), byte-reproducibility, resume, write errors."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
import webdataset
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pydantic import ValidationError

from fakevision.core import Annotations, Provenance, Sample
from fakevision.core.errors import OutputError
from fakevision.core.sample import boxes_from_masks
from fakevision.io.atomic import TMP_MARK
from fakevision.io.codecs import decode_instance_masks, encode_instance_masks
from fakevision.io.writers import OutputSpec, ShardInfo, make_writer, make_writers

# pycocotools' own decode trips a numpy 2 deprecation; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

ALL = ["coco", "imagefolder", "webdataset", "manifest"]


def make_sample(i: int, h: int = 24, w: int = 32, n: int = 2, keypoints: bool = True, depth: bool = True,
                overlap: bool = False) -> Sample:
    """A synthetic sample with every annotation kind; values chosen to test exactness (fractional keypoints,
    depth on whole millimetres, v = 0/1/2 all present); with depth come normals (random unit vectors, zero where
    the depth is 0) and a label map."""
    rng = np.random.default_rng(i)
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    masks = np.zeros((n, h, w), bool)
    for j in range(n):
        x0, y0 = int(rng.integers(0, w // 2)), int(rng.integers(0, h // 2))
        masks[j, y0 : y0 + int(rng.integers(3, h // 2)), x0 : x0 + int(rng.integers(3, w // 2))] = True
    if overlap and n >= 2:
        masks[1] = masks[0].copy()  # instance 0 entirely hidden under instance 1 in an id PNG
        masks[1, 0:2, 0:4] = True
    ann = dict(
        label=["cat", "dog"][i % 2],
        attributes={"age": int(i), "light": "day"},
        categories=[["face", "cube"][j % 2] for j in range(n)],
        boxes=boxes_from_masks(masks),
        masks=masks,
        instance_attributes=[{"occluded": bool(j % 2)} for j in range(n)],
        extras={"camera": {"K": [[30.0, 0.0, 16.0], [0.0, 30.0, 12.0], [0.0, 0.0, 1.0]]}},
    )
    if keypoints:
        ann["keypoints"] = rng.uniform(0, [w, h], (n, 68, 2))
        ann["visibility"] = rng.integers(0, 3, (n, 68))
        ann["keypoint_schema"] = "ibug68"
    if depth:
        ann["depth"] = rng.integers(0, 5000, (h, w)) / 1000.0
        normals = rng.normal(size=(h, w, 3))
        normals /= np.linalg.norm(normals, axis=2, keepdims=True)
        normals[ann["depth"] == 0] = 0.0
        normals[0, :3] = [[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]]  # the extremes of the encoding
        ann["normals"] = normals
        ann["label_map"] = masks.any(axis=0).astype(np.int32) * (300 if i == 0 else 1)  # 300: a 16-bit label map
        ann["label_names"] = {0: "background", 300 if i == 0 else 1: "object"}
    prov = Provenance("synth", f"synth-{i:03d}", seed=7, index=i, params={"scale": np.float64(1.5)},
                      parents=[f"real-{i}"])
    return Sample(image, Annotations(**ann), prov)


def make_samples(count: int = 6) -> list[Sample]:
    """Sample 1 has overlapping masks, 2 no instances, 3 no keypoints, no depth and no label."""
    samples = []
    for i in range(count):
        if i == 2:
            samples.append(make_sample(2, n=0, keypoints=False, depth=False))
        elif i == 3:
            samples.append(make_sample(3, keypoints=False, depth=False))
            samples[3].annotations.label = None
        else:
            samples.append(make_sample(i, overlap=(i == 1)))
    return samples


def write_run(out: Path, samples: list[Sample], shard_size: int = 2, formats: list[str] = ALL) -> None:
    writers = make_writers([OutputSpec(format=f) for f in formats])
    shards = [samples[k : k + shard_size] for k in range(0, len(samples), shard_size)]
    for k, chunk in enumerate(shards):
        for w in writers:
            w.write_shard(out, ShardInfo(k, len(shards), k * shard_size), chunk)
    for w in writers:
        w.finalize(out, len(shards))


def tree_hashes(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def load_coco(path: Path) -> COCO:
    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(path))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run")
    write_run(out, make_samples())
    return out


def test_layout(run_dir: Path) -> None:
    files = set(tree_hashes(run_dir))
    assert {"coco/annotations.json", "manifest.jsonl", "webdataset/info.json"} <= files
    assert "coco/images/synth-000.png" in files and "coco/depth/synth-000.png" in files
    assert "coco/normals/synth-000.png" in files and "coco/normals/synth-002.png" not in files
    assert "coco/depth/synth-002.png" not in files and "coco/labelmaps/synth-000.png" in files
    assert "images/cat/synth-000.png" in files and "images/unlabelled/synth-003.png" in files
    assert {f"webdataset/shard-{k:06d}.tar" for k in range(3)} <= files
    assert not any(TMP_MARK in f for f in files)


def test_coco_loads_and_boxes_match_rle(run_dir: Path) -> None:
    coco = load_coco(run_dir / "coco/annotations.json")
    assert sorted(coco.getImgIds()) == [1, 2, 3, 4, 5, 6]
    cats = coco.loadCats(coco.getCatIds())
    # One id space (encoding.class_ids): "object" keeps its label-map id 300 (the first claim), the ids the label
    # maps use (1, 300) go to no other class, the rest are numbered by name.
    assert [(c["id"], c["name"]) for c in cats] == [(2, "cube"), (3, "face"), (300, "object")]
    cats = cats[:2]
    assert all(c["fakevision_schema"] == "ibug68" and len(c["keypoints"]) == 68 for c in cats)
    assert [1, 2] in cats[0]["skeleton"] and min(min(e) for e in cats[0]["skeleton"]) == 1  # 1-based
    anns = coco.loadAnns(coco.getAnnIds())
    assert len(anns) == 10 and [a["id"] for a in anns] == list(range(1, 11))
    for a in anns:
        m = coco.annToMask(a).astype(bool)
        x0, y0, x1, y1 = boxes_from_masks(m[None])[0]
        assert np.allclose(a["bbox"], [x0, y0, x1 - x0, y1 - y0], atol=1.0)
        assert a["area"] == m.sum() and a["iscrowd"] == 0
        assert isinstance(a["segmentation"]["counts"], str)
        assert len(a["keypoints"]) == 3 * 68
    img = coco.loadImgs(1)[0]
    assert img["file_name"] == "images/synth-000.png" and (run_dir / "coco" / img["file_name"]).is_file()
    assert img["fakevision_provenance"]["parents"] == ["real-0"] and img["label"] == "cat"
    assert img["depth_file"] == "depth/synth-000.png" and img["fakevision_extras"]["camera"]["K"][0][0] == 30.0
    no_kp = coco.loadImgs(4)[0]  # sample 3 has no keypoints: zero-filled, flagged by the missing schema field
    assert "fakevision_keypoint_schema" not in no_kp
    assert all(a["num_keypoints"] == 0 and not any(a["keypoints"]) for a in coco.imgToAnns[4])


def test_coco_conventions_hand_computed(tmp_path: Path) -> None:
    # Box xyxy [2, 3, 7, 9) -> xywh [2, 3, 5, 6]; a keypoint at the centre of pixel (10, 20) is (10.5, 20.5) in
    # our corner convention and (10, 20) in COCO's pixel-index convention.
    m = np.zeros((1, 30, 30), bool)
    m[0, 3:9, 2:7] = True
    kp = np.zeros((1, 68, 2))
    kp[0, 0] = [10.5, 20.5]
    s = Sample(np.zeros((30, 30, 3), np.uint8),
               Annotations(categories=["face"], boxes=[[2, 3, 7, 9]], masks=m, keypoints=kp,
                           visibility=np.full((1, 68), 2), keypoint_schema="ibug68"),
               Provenance("t", "t-0"))
    w = make_writer("coco")
    w.write_shard(tmp_path, ShardInfo(0, 1, 0), [s])
    w.finalize(tmp_path, 1)
    ann = json.loads((tmp_path / "coco/annotations.json").read_text())["annotations"][0]
    assert ann["bbox"] == [2.0, 3.0, 5.0, 6.0] and ann["area"] == 30
    assert ann["keypoints"][:3] == [10.0, 20.0, 2] and ann["num_keypoints"] == 68
    assert mask_utils.decode({"size": [30, 30], "counts": ann["segmentation"]["counts"].encode()}).sum() == 30


def test_webdataset_reads_back(run_dir: Path) -> None:
    urls = [str(run_dir / f"webdataset/shard-{k:06d}.tar") for k in range(3)]
    items = list(webdataset.WebDataset(urls, shardshuffle=False, empty_check=False))
    assert [d["__key__"] for d in items] == [f"synth-{i:03d}" for i in range(6)]
    rec = json.loads(items[0]["json"])
    s0 = make_sample(0)
    assert rec["boxes"] == s0.annotations.boxes.tolist() and rec["keypoints"] == s0.annotations.keypoints.tolist()
    assert rec["keypoint_schema"] == "ibug68" and rec["provenance"]["params"] == {"scale": 1.5}
    assert {"png", "json", "mask.png", "depth.png", "normals.png"} <= set(items[0]) and "masks.png" not in items[0]
    assert rec["normals_encoding"] == "png16_rgb_(n+1)/2"
    assert "masks.png" in items[1]  # sample 1 has overlapping masks: exact stack stored too
    assert "depth.png" not in items[2] and json.loads(items[2]["json"])["categories"] == []
    assert "normals.png" not in items[2] and "normals_encoding" not in json.loads(items[2]["json"])
    with tarfile.open(urls[0]) as tf:
        for m in tf.getmembers():
            assert (m.mtime, m.uid, m.gid, m.uname, m.gname) == (0, 0, 0, "", "")


def test_instance_masks_overlap_and_16bit() -> None:
    rng = np.random.default_rng(0)
    masks = rng.random((300, 6, 7)) < 0.01
    masks[299, 0, 0] = True
    ids, stack = encode_instance_masks(masks)
    back = decode_instance_masks(300, 6, 7, ids, stack, "x")
    assert np.array_equal(back, masks)
    single = np.zeros((300, 6, 7), bool)
    single[299, 2, 3] = True
    ids, stack = encode_instance_masks(single)
    assert stack is None and ids[:8] == b"\x89PNG\r\n\x1a\n" and ids[24] == 16  # bit depth 16
    assert np.array_equal(decode_instance_masks(300, 6, 7, ids, None, "x"), single)


def test_manifest_lines_point_at_files(run_dir: Path) -> None:
    lines = (run_dir / "manifest.jsonl").read_text().splitlines()
    recs = [json.loads(line) for line in lines]
    assert [r["index"] for r in recs] == list(range(6)) and recs[0]["source"] == "synth"
    canonical = [json.dumps(r, sort_keys=True, separators=(",", ":")) for r in recs]
    assert lines == canonical
    assert recs[0]["counts"]["per_category"] == {"cube": 1, "face": 1} and recs[2]["counts"]["instances"] == 0
    assert sum(recs[0]["counts"]["keypoints"].values()) == 2 * 68
    for r in recs:
        assert set(r["files"]) == {"coco", "imagefolder", "webdataset"}
        for fmt in ("coco", "imagefolder"):
            assert all((run_dir / p).is_file() for p in r["files"][fmt].values())
        assert (run_dir / r["files"]["webdataset"]["tar"]).is_file()


def test_shard_is_pure_and_resume_matches_straight_run(tmp_path: Path, run_dir: Path) -> None:
    samples = make_samples()
    writers = make_writers([OutputSpec(format=f) for f in ALL])
    out = tmp_path / "resumed"
    for k in (0, 1):
        for w in writers:
            w.write_shard(out, ShardInfo(k, 3, 2 * k), samples[2 * k : 2 * k + 2])
    first = tree_hashes(out)
    # "Killed" during shard 2: a stale temp file and a stale part. Redo shard 1 (not marked done) and shard 2.
    (out / "webdataset" / f"{TMP_MARK}123-shard-000002.tar").write_bytes(b"partial")
    for k in (1, 2):
        for w in writers:
            w.write_shard(out, ShardInfo(k, 3, 2 * k), samples[2 * k : 2 * k + 2])
    assert all(tree_hashes(out)[f] == h for f, h in first.items())  # rewriting a shard: same bytes
    (out / "webdataset" / f"{TMP_MARK}123-shard-000002.tar").unlink()
    for w in writers:
        w.finalize(out, 3)
    assert tree_hashes(out) == tree_hashes(run_dir)


def test_finalize_without_a_part_fails(tmp_path: Path) -> None:
    for fmt in ("coco", "webdataset", "manifest"):
        w = make_writer(fmt)
        w.write_shard(tmp_path, ShardInfo(0, 2, 0), make_samples(2))
        with pytest.raises(OutputError, match="000001"):
            w.finalize(tmp_path, 2)


@pytest.mark.parametrize("fmt", ["coco", "imagefolder", "webdataset", "manifest"])
def test_write_error_names_path_and_keeps_earlier_files(tmp_path: Path, fmt: str) -> None:
    samples = make_samples(4)
    w = make_writer(fmt)
    w.write_shard(tmp_path, ShardInfo(0, 2, 0), samples[:2])
    before = tree_hashes(tmp_path)
    # A file where shard 1 needs a folder.
    blocker = {"coco": "coco/images", "imagefolder": "images/unlabelled", "webdataset": "webdataset",
               "manifest": ".state/parts/manifest"}[fmt]
    blocked = tmp_path / blocker
    if blocked.is_dir():
        blocked = {"coco": tmp_path / "coco/images/synth-002.png", "manifest": tmp_path / ".state/parts/manifest" /
                   "000001.jsonl", "webdataset": tmp_path / "webdataset/shard-000001.tar"}[fmt]
        blocked.mkdir(parents=True)  # a folder where a file should go: rename onto it fails
    else:
        blocked.write_bytes(b"")
    with pytest.raises(OutputError) as err:
        w.write_shard(tmp_path, ShardInfo(1, 2, 2), samples[2:])
    assert str(blocked.relative_to(tmp_path)) in str(err.value) or blocker in str(err.value)
    after = tree_hashes(tmp_path)
    assert all(after[f] == h for f, h in before.items())
    assert not any(TMP_MARK in p.name for p in tmp_path.rglob("*"))


def test_output_spec_and_factory() -> None:
    assert OutputSpec.model_validate("coco") == OutputSpec(format="coco")
    with pytest.raises(ValidationError):
        OutputSpec.model_validate({"format": "coco", "colour": "red"})
    with pytest.raises(ValidationError):
        OutputSpec.model_validate({"format": "pascal"})
    with pytest.raises(ValueError, match="listed twice"):
        make_writers([OutputSpec(format="coco"), OutputSpec(format="coco")])
    with pytest.raises(ValueError, match="jpeg_quality"):
        make_writer("webdataset", jpeg_quality=0)
    assert make_writer("manifest", image_format="png", jpeg_quality=95).name == "manifest"  # spec dumps pass
    manifest = make_writers([OutputSpec(format="manifest"), OutputSpec(format="imagefolder", image_format="jpg")])[0]
    rec = manifest.record(ShardInfo(0, 1, 0), 0, make_sample(0))
    assert rec["files"] == {"imagefolder": {"image": "images/cat/synth-000.jpg"}}


def test_ids_that_collide_as_file_names_are_refused(tmp_path: Path) -> None:
    a, b = make_sample(0), make_sample(1)
    a.provenance.sample_id, b.provenance.sample_id = "x/1", "x.1"
    with pytest.raises(OutputError, match="same file name"):
        make_writer("coco").write_shard(tmp_path, ShardInfo(0, 1, 0), [a, b])


@pytest.mark.parametrize("fmt", ["coco", "webdataset", "manifest"])
def test_unencodable_values_raise_output_error(tmp_path: Path, fmt: str) -> None:
    s = make_sample(0)
    s.annotations.attributes["score"] = float("nan")  # JSON has no NaN
    with pytest.raises(OutputError, match="Out of range float"):
        make_writer(fmt).write_shard(tmp_path, ShardInfo(0, 1, 0), [s])
    assert not any(TMP_MARK in p.name for p in tmp_path.rglob("*"))


def test_webdataset_tars_are_the_bytes_of_webdatasets_tar_writer(tmp_path: Path) -> None:
    """The writer makes its tars with ``tarfile`` (importing webdataset imports PyTorch, ~2 s a run): the same bytes
    as ``webdataset.TarWriter`` with the settings it used to be called with."""
    from fakevision.io.writers.wds import WebDatasetWriter, shard_name

    samples = make_samples()
    w = WebDatasetWriter()
    w.write_shard(tmp_path, ShardInfo(0, 1, 0), samples)
    buf = io.BytesIO()
    with webdataset.TarWriter(buf, user="", group="", mode=0o444, encoder=False, mtime=0) as tw:
        for s in samples:
            tw.write(w._entry(s, s.id))
    assert (tmp_path / shard_name(0)).read_bytes() == buf.getvalue()


def test_an_encoded_sample_encodes_each_file_once_and_matches_the_plain_encoders() -> None:
    """Writers share one ``EncodedSample`` per sample of a shard: each file is encoded the first time it is asked
    for and the same bytes object comes back after; the bytes equal the plain encoders'; an encoding error is
    raised each time and never kept as a result."""
    from fakevision.io.codecs import (
        EncodedSample,
        encode_depth_png,
        encode_label_map,
        encode_normals_png,
        encode_sample_image,
        encoded,
    )

    s = make_sample(0)
    a = s.annotations
    e = EncodedSample(s)
    files = [e.image_bytes("png"), e.depth_png(), e.normals_png(), e.label_map_png("lm")]
    assert files == [encode_sample_image(s.image, "png"), encode_depth_png(a.depth), encode_normals_png(a.normals),
                     encode_label_map(a.label_map, "lm")]
    again = [e.image_bytes("png"), e.depth_png(), e.normals_png(), e.label_map_png("lm")]
    assert all(x is y for x, y in zip(files, again, strict=True))
    assert e.image_bytes("jpg", 90) != e.image_bytes("png") and e.image_bytes("jpg", 90) is e.image_bytes("jpg", 90)
    assert encoded(e) is e and encoded(s).sample is s
    a.label_map[0, 0] = -1
    bad = EncodedSample(s)
    for _ in range(2):
        with pytest.raises(OutputError, match="lm: label_map ids"):
            bad.label_map_png("lm")


def test_provenance_to_dict_is_jsonable_of_asdict() -> None:
    """``Provenance.to_dict`` (which skips ``dataclasses.asdict``'s deep copy) gives ``jsonable(asdict(p))``, for
    JSON-like params and for params it hands back to ``asdict`` (a dataclass inside, a tuple key)."""
    import dataclasses

    from fakevision.core.sample import jsonable

    @dataclasses.dataclass
    class Inner:
        x: tuple = (1, 2)
        y: np.ndarray = dataclasses.field(default_factory=lambda: np.arange(3))

    plain = Provenance("s", "s-1", seed=3, params={"a": [1, 2.5, (3, "x")], "b": {"c": np.float32(0.5), "d": None},
                                                    "e": np.arange(4).reshape(2, 2), "f": Path("p/q"), 7: True})
    odd = Provenance("s", "s-2", params={"inner": Inner(), (1, 2): "tuple key"}, parents=["p"])
    for p in (plain, odd):
        assert json.dumps(p.to_dict(), sort_keys=True) == json.dumps(jsonable(dataclasses.asdict(p)), sort_keys=True)
