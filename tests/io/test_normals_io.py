"""Surface normals through the writers and readers: the 16-bit PNG encoding (hand-computed values, quantisation
bound, "no surface" marker), COCO and WebDataset round trips, and clear errors on bad normal files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from fakevision.core import Annotations, Provenance, Sample
from fakevision.core.errors import InputError
from fakevision.io.codecs import NORMALS_ENCODING, decode_normals_png, encode_normals_png
from fakevision.io.dataset import FakevisionDataset, collate
from fakevision.io.images import encode_image, encode_mask_png
from tests.io.test_writers import make_samples, write_run

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def unit_normals(seed: int, h: int, w: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = rng.normal(size=(h, w, 3))
    n /= np.linalg.norm(n, axis=2, keepdims=True)
    n[rng.random((h, w)) < 0.2] = 0.0
    return n.astype(np.float32)


def test_encoding_by_hand() -> None:
    """value = round((n + 1) / 2 * 65535) in R, G, B; no surface = (0, 0, 0)."""
    n = np.zeros((1, 3, 3), np.float32)
    n[0, 0] = [1.0, 0.0, -1.0]
    n[0, 1] = [0.28, -0.96, 0.0]
    raw = cv2.imdecode(np.frombuffer(encode_normals_png(n), np.uint8), cv2.IMREAD_UNCHANGED)[:, :, ::-1]
    assert raw.dtype == np.uint16 and raw.shape == (1, 3, 3)
    assert raw[0].tolist() == [[65535, 32768, 0], [41942, 1311, 32768], [0, 0, 0]]


def test_png_round_trip_within_16bit_quantisation() -> None:
    n = unit_normals(0, 37, 53)
    back = decode_normals_png(encode_normals_png(n), "n.png")
    assert back.dtype == np.float32 and back.shape == n.shape
    np.testing.assert_allclose(back, n, rtol=0, atol=4e-5)
    assert np.array_equal(back.any(axis=2), n.any(axis=2)), "zero stays exactly zero, surfaces stay surfaces"
    length = np.linalg.norm(back[back.any(axis=2)], axis=1)
    np.testing.assert_allclose(length, 1.0, atol=1e-6)  # decoded vectors are renormalised
    a, b = back[n.any(axis=2)].astype(np.float64), n[n.any(axis=2)].astype(np.float64)
    angle = np.degrees(np.arctan2(np.linalg.norm(np.cross(a, b), axis=1), np.sum(a * b, axis=1)))
    assert angle.max() < 0.005  # 2 / 65535 per component is about 0.002 degrees


def test_decoder_reads_mid_grey_and_8bit_maps() -> None:
    """Other tools write 'no surface' as (n + 1) / 2 of zero (mid-grey) and often use 8 bits: both read."""
    raw = np.full((2, 2, 3), 32768, np.uint16)
    raw[0, 0] = [65535, 32768, 32768]  # +x
    ok, buf = cv2.imencode(".png", raw[:, :, ::-1])
    n = decode_normals_png(buf.tobytes(), "grey.png")
    assert n[0, 0].tolist() == pytest.approx([1.0, 0.0, 0.0], abs=1e-4) and not n[1].any() and not n[0, 1].any()
    img8 = np.full((1, 2, 3), [128, 128, 0], np.uint8)  # facing the camera, 8-bit
    n8 = decode_normals_png(encode_image(img8, "png"), "eight.png")
    assert n8[0, 0].tolist() == pytest.approx([0.0, 0.0, -1.0], abs=0.01)


@pytest.mark.parametrize(("data", "message"), [
    (b"\x89PNG garbage", r"bad\.png: "),
    (encode_mask_png(np.zeros((4, 4), np.uint16) + 300), r"bad\.png: normals PNG must be 3-channel"),
    (encode_image(np.zeros((4, 4, 3), np.uint8), "jpg"), r"bad\.png: normals must be a PNG, got JPEG"),
])
def test_bad_normal_files_are_named(data: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message):
        decode_normals_png(data, "bad.png")
    good = encode_normals_png(unit_normals(1, 8, 8))
    with pytest.raises(InputError, match=r"cut\.png: "):
        decode_normals_png(good[: len(good) // 2], "cut.png")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("normals-run")
    write_run(out, make_samples())
    return out


@pytest.mark.parametrize("fmt", ["coco", "webdataset"])
def test_write_read_round_trip(run_dir: Path, fmt: str) -> None:
    want = make_samples()
    ds = FakevisionDataset(run_dir, format=fmt)
    for i, s in enumerate(want):
        got = ds.to_sample(i).annotations.normals
        if s.annotations.normals is None:
            assert got is None and "normals" not in ds[i]
            continue
        np.testing.assert_allclose(got, s.annotations.normals, rtol=0, atol=4e-5)
        item = ds[i]["normals"]
        assert tuple(item.shape) == (3, s.height, s.width)
        np.testing.assert_allclose(item.numpy(), s.annotations.normals.transpose(2, 0, 1), rtol=0, atol=4e-5)
    batch = collate([ds[0], ds[1]])
    assert tuple(batch["normals"].shape) == (2, 3, 24, 32)
    assert isinstance(collate([ds[0], ds[2]])["normals"], list)  # one sample without normals: kept as a list


def test_coco_image_entry_references_the_normals_file(run_dir: Path) -> None:
    coco = json.loads((run_dir / "coco/annotations.json").read_text())
    im = coco["images"][0]
    assert im["normals_file"] == "normals/synth-000.png" and im["normals_encoding"] == NORMALS_ENCODING
    assert "normals_file" not in coco["images"][2]
    manifest = [json.loads(x) for x in (run_dir / "manifest.jsonl").read_text().splitlines()]
    assert [r["counts"]["normals"] for r in manifest] == [True, True, False, False, True, True]


def test_bad_normals_file_in_an_output_is_named(tmp_path: Path, run_dir: Path) -> None:
    shutil.copytree(run_dir, tmp_path / "out")
    out = tmp_path / "out"
    (out / "coco/normals/synth-000.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(InputError, match=r"coco/normals/synth-000\.png: "):
        FakevisionDataset(out, format="coco").to_sample(0)
    (out / "coco/normals/synth-001.png").unlink()
    with pytest.raises(InputError, match=r"coco/normals/synth-001\.png: file not found"):
        FakevisionDataset(out, format="coco").to_sample(1)
    from fakevision.io.readers import open_reader

    with pytest.raises(InputError, match=r"coco/normals/synth-000\.png: "):
        open_reader("coco", out / "coco/annotations.json")[0]
    p = out / "coco/annotations.json"
    p.write_text(p.read_text().replace(NORMALS_ENCODING, "float16_exr", 1))
    with pytest.raises(InputError, match=r"synth-000\.png: unknown normals encoding 'float16_exr'"):
        FakevisionDataset(out, format="coco").to_sample(0)


def test_normals_of_the_wrong_size_in_a_file_are_named(tmp_path: Path) -> None:
    s = Sample(np.zeros((6, 8, 3), np.uint8), Annotations(normals=unit_normals(2, 6, 8)), Provenance("t", "t-0"))
    write_run(tmp_path, [s], formats=["coco"])
    (tmp_path / "coco/normals/t-0.png").write_bytes(encode_normals_png(unit_normals(2, 5, 8)))
    with pytest.raises(InputError, match=r"normals shape \(5, 8\) does not match image 6x8"):
        FakevisionDataset(tmp_path).to_sample(0)
