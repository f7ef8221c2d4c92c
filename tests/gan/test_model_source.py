"""Shipped weights, the FaceGAN bundle round trip, the ``gan_faces`` source and the training entry points."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from fakevision.core.errors import InputError
from fakevision.core.keypoints import get_schema
from fakevision.core.source import build_source, make_sample
from fakevision.gan.model import FACES_FILE, VACGAN_FILE, VARGAN_FILE, ConditionalGAN, FaceGAN
from fakevision.gan.source import GanFacesConfig


def test_shipped_weights_load_and_generate() -> None:
    total = sum(p.stat().st_size for p in FACES_FILE.parent.glob("*.safetensors"))
    assert total <= 20 * 2**20
    gan = FaceGAN.load()
    assert (gan.size, gan.z_dim) == (64, 64)
    faces, lm = gan.generate(torch.rand(4, 64, generator=torch.Generator().manual_seed(0)) * 2 - 1)
    assert faces.shape == (4, 64, 64, 3) and faces.dtype == np.uint8
    assert lm.shape == (4, 68, 2)
    assert faces.std() > 10  # not a flat image
    # landmarks are face-shaped: eyes above the mouth, subject's right eye on the image's left, inside the frame
    eye_r, eye_l, mouth = lm[:, 36:42].mean(1), lm[:, 42:48].mean(1), lm[:, 48:68].mean(1)
    assert np.all(eye_r[:, 1] < mouth[:, 1]) and np.all(eye_r[:, 0] < eye_l[:, 0])
    assert np.all((lm > -4) & (lm < 68))
    for f in (VACGAN_FILE, VARGAN_FILE):
        c = ConditionalGAN.load(f)
        assert c.generate(torch.zeros(2, 64), np.array([0, 1])).shape == (2, 64, 64, 3)


def test_facegan_round_trip_and_bad_files(tmp_path) -> None:
    gan = FaceGAN.load()
    gan.save(tmp_path / "g.safetensors")
    again = FaceGAN.load(tmp_path / "g.safetensors")
    z = torch.zeros(1, 64)
    np.testing.assert_array_equal(gan.generate(z)[0], again.generate(z)[0])
    (tmp_path / "bad.safetensors").write_bytes(b"\x00" * 20)
    with pytest.raises(InputError, match="bad.safetensors"):
        FaceGAN.load(tmp_path / "bad.safetensors")
    with pytest.raises(InputError, match="not a FaceGAN"):
        FaceGAN.load(VACGAN_FILE)
    with pytest.raises(InputError, match="not found"):
        FaceGAN.load(tmp_path / "missing.safetensors")


def test_fast_generator_draws_the_same_face_as_g_with_the_same_landmarks(tmp_path) -> None:
    """F was distilled from G on random z: for new z it must give the same face (mean |diff| a few grey levels,
    the same bright/dark layout) and, sharing z and L, exactly the same landmarks."""
    gan = FaceGAN.load()
    assert gan.has_fast and gan.fast_began.n_gen < gan.began.n_gen
    z = torch.rand(64, 64, generator=torch.Generator().manual_seed(99)) * 2 - 1
    full, lm_full = gan.generate(z)
    fast, lm_fast = gan.generate(z, fast=True)
    np.testing.assert_array_equal(lm_full, lm_fast)
    diff = np.abs(full.astype(np.int16) - fast.astype(np.int16))
    assert diff.mean() < 6, diff.mean()
    corr = [np.corrcoef(a.ravel().astype(float), b.ravel().astype(float))[0, 1] for a, b in zip(full, fast)]
    assert min(corr) > 0.9, min(corr)
    # the fast face is nearer its own G(z) than any other face in the batch
    d = np.abs(full[:, None].astype(np.float32) - fast[None].astype(np.float32)).mean(axis=(2, 3, 4))
    assert (d.argmin(axis=0) == np.arange(len(z))).all()
    # round trip keeps F; a bundle without F refuses fast generation clearly
    gan.save(tmp_path / "f.safetensors")
    np.testing.assert_array_equal(FaceGAN.load(tmp_path / "f.safetensors").generate(z[:2], fast=True)[0], fast[:2])
    plain = FaceGAN(gan.G, gan.E, gan.L, gan.began, gan.inverse, gan.landmark)
    plain.save(tmp_path / "p.safetensors")
    assert not FaceGAN.load(tmp_path / "p.safetensors").has_fast
    with pytest.raises(InputError, match="no fast generator"):
        plain.generate(z[:1], fast=True)
    with pytest.raises(InputError, match="no fast generator"):
        build_source(GanFacesConfig(count=1, weights="p.safetensors", generator="fast"), tmp_path)
    auto = build_source(GanFacesConfig(count=1, weights="p.safetensors"), tmp_path)
    assert make_sample(auto, 0).provenance.params["generator"] == "full"


def make_source(**kw):
    from pathlib import Path

    return build_source(GanFacesConfig(count=4, **kw), Path("."))


def test_source_is_deterministic_and_annotated() -> None:
    src = make_source()
    a = make_sample(src, 3)
    b = make_sample(make_source(), 3)
    c = make_sample(src, 4)
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.annotations.keypoints, b.annotations.keypoints)
    assert not np.array_equal(a.image, c.image)
    ann = a.annotations
    assert ann.categories == ["face"] and ann.keypoint_schema.name == "ibug68"
    assert ann.keypoints.shape == (1, get_schema("ibug68").num_keypoints, 2)
    x0, y0, x1, y1 = ann.boxes[0]
    inside = ann.visibility[0] == 2
    pts = ann.keypoints[0][inside]
    assert x0 <= pts[:, 0].min() and pts[:, 0].max() <= x1 and y0 <= pts[:, 1].min() and pts[:, 1].max() <= y1
    assert a.id == "gan_faces-000003" and len(a.provenance.params["z"]) == 64
    assert a.provenance.params["generator"] == "fast"  # auto picks the shipped fast generator
    assert a.provenance.params["truncation"] == 0.9 and max(abs(v) for v in a.provenance.params["z"]) <= 0.9
    full = make_sample(make_source(generator="full"), 3)
    np.testing.assert_array_equal(full.annotations.keypoints, ann.keypoints)  # same z, same L
    assert np.abs(full.image.astype(int) - a.image.astype(int)).mean() < 8


def test_source_size_scales_landmarks_with_the_image() -> None:
    s64 = make_sample(make_source(), 0)
    s128 = make_sample(make_source(size=128), 0)
    assert s128.image.shape == (128, 128, 3)
    np.testing.assert_allclose(s128.annotations.keypoints, s64.annotations.keypoints * 2)


def test_source_config_validation(tmp_path) -> None:
    with pytest.raises(ValidationError):
        GanFacesConfig()  # count is required
    with pytest.raises(ValidationError):
        GanFacesConfig(count=1, truncation=0)
    with pytest.raises(ValidationError):
        GanFacesConfig(count=1, colour="red")
    with pytest.raises(InputError, match="nope.safetensors"):
        build_source(GanFacesConfig(count=1, weights="nope.safetensors"), tmp_path)


def test_source_is_registered() -> None:
    from fakevision.core.source import source_type

    assert source_type("gan_faces").config is GanFacesConfig


def test_training_entry_points_chain(tmp_path) -> None:
    """began -> inverse -> landmarks through the CLI-facing API, on a tiny fake faces_68pt-like array."""
    from fakevision.gan.api import train_began, train_inverse_generator, train_landmark_generator

    rng = np.random.default_rng(0)
    faces = rng.integers(0, 256, (8, 16, 16, 3), dtype=np.uint8)
    import json

    tiny = dict(size=16, batch=4, n_gen=8, n_enc=4, z_dim=8, h_dim=8, log_every=1)
    res = train_began(faces, tmp_path / "g", steps=4, ckpt_every=2, **tiny)
    assert res["step"] == 4
    assert len(list((tmp_path / "g" / "samples").glob("*.png"))) == 2
    assert train_began(faces, tmp_path / "g", steps=6, ckpt_every=2, **tiny)["step"] == 6  # resumed, not restarted
    rows = [json.loads(r) for r in (tmp_path / "g" / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6]
    log = train_inverse_generator(tmp_path / "g" / "generator.safetensors", faces, tmp_path / "g", steps=2, n=4,
                                  batch=4)
    assert log["step"] == 2
    bundle_dir = tmp_path / "g"
    np.save(bundle_dir / "unused.npy", faces)
    with pytest.raises(InputError, match="no landmarks"):
        train_landmark_generator(bundle_dir / "generator.safetensors", bundle_dir / "inverse.safetensors", faces,
                                 bundle_dir)


@pytest.mark.slow
def test_train_fast_from_the_cli_writes_a_bundle_with_f(tmp_path) -> None:
    """``fakevision train fast``: F trained from scratch for a few steps already moves towards G (validation L1
    falls), and the written bundle keeps G, E, L and adds F, which the gan_faces source then uses."""
    from typer.testing import CliRunner

    from fakevision.cli import app

    plain = FaceGAN.load()
    FaceGAN(plain.G, plain.E, plain.L, plain.began, plain.inverse, plain.landmark).save(tmp_path / "in.safetensors")
    r = CliRunner().invoke(app, ["train", "fast", "--weights", str(tmp_path / "in.safetensors"), "--out",
                                 str(tmp_path / "o"), "--steps", "12", "--batch", "8", "--n-gen", "8"])
    assert r.exit_code == 0, r.output
    import json

    log = json.loads((tmp_path / "o" / "distill_log.json").read_text())
    assert log[0]["step"] == 0 and log[-1]["step"] == 12 and log[-1]["val_l1"] < log[0]["val_l1"]
    out = FaceGAN.load(tmp_path / "o" / "faces.safetensors")
    assert out.has_fast and out.fast_began.n_gen == 8
    z = torch.zeros(1, 64)
    np.testing.assert_array_equal(out.generate(z)[0], plain.generate(z)[0])  # G untouched
    src = build_source(GanFacesConfig(count=1, weights="o/faces.safetensors"), tmp_path)
    assert make_sample(src, 0).provenance.params["generator"] == "fast"
    bad = CliRunner().invoke(app, ["train", "fast", "--weights", str(tmp_path / "missing.safetensors"), "--out",
                                   str(tmp_path / "o2"), "--steps", "1"])
    assert bad.exit_code != 0 and "missing.safetensors" in bad.output


def test_hybrid_inversion_reconstructs_held_out_faces_better_than_e_alone() -> None:
    """``FaceGAN.invert(x, refine_steps)``: Adam on z from E's code lowers the reconstruction error of faces E never
    saw (G's own faces with pixel noise added, so no data set is needed), and keeps z in G's range."""
    gan = FaceGAN.load()
    z = torch.rand(6, 64, generator=torch.Generator().manual_seed(5)) * 2 - 1
    faces, _ = gan.generate(z)
    noisy = np.clip(faces.astype(np.int16) + np.random.default_rng(0).integers(-20, 21, faces.shape), 0, 255)
    x = noisy.astype(np.uint8)
    from fakevision.gan.data import to_unit_range

    def err(codes: torch.Tensor) -> float:
        with torch.no_grad():
            return float((gan.G(codes).clamp(-1, 1) - to_unit_range(x)).abs().mean())

    z_e = gan.invert(x)
    z_r = gan.invert(x, refine_steps=40)
    assert err(z_r) < 0.9 * err(z_e), (err(z_r), err(z_e))
    assert float(z_r.abs().max()) <= 1.0
    assert all(p.requires_grad for p in gan.G.parameters())  # G is left as it was found


def coco_keypoints_inside_boxes(out_dir, category: str = "face") -> int:
    """Check every keypoint annotation of a written COCO file: each visible point (v = 2; points outside the frame
    are v = 1 and the box is clipped to the frame) lies inside its own ``bbox`` both as pycocotools/mmpose read them
    (keypoints and boxes in one frame) and as detectron2 does (keypoints + 0.5); returns the number of annotations
    checked. Only ``category`` annotations: a face's box is the pixels its landmarks mark; a rendered object's box is
    its mask's, and a projected 3D corner may sit in the half pixel beyond the mask's last row, which only the
    pixel-index reading puts outside."""
    import json

    d = json.loads((out_dir / "coco" / "annotations.json").read_text())
    cat_id = {c["name"]: c["id"] for c in d["categories"]}.get(category)
    images = {im["id"]: im for im in d["images"]}
    checked = 0
    for a in d["annotations"]:
        if not a.get("num_keypoints") or a["category_id"] != cat_id:
            continue
        k = np.asarray(a["keypoints"], np.float64).reshape(-1, 3)
        k = k[k[:, 2] == 2]
        x, y, w, h = a["bbox"]
        im = images[a["image_id"]]
        for shift in (0.0, 0.5):  # (the box stops at the frame; so does a point read in the frame it lies in)
            px, py = (k[:, 0] + shift).clip(0, im["width"]), (k[:, 1] + shift).clip(0, im["height"])
            assert (px >= x - 1e-9).all() and (py >= y - 1e-9).all(), (a["bbox"], px.min(), py.min())
            assert (px <= x + w + 1e-9).all() and (py <= y + h + 1e-9).all(), (a["bbox"], px.max(), py.max())
        checked += 1
    return checked


def test_gan_faces_coco_box_holds_its_landmarks(tmp_path) -> None:
    """The default output's generated faces: the box is the pixels the 68 landmarks mark, so the leftmost and
    topmost landmark lie inside it as COCO tools read both (it was the landmark extent itself, which put those
    points half a pixel outside once the writer stored them as pixel indices)."""
    from fakevision.engine import Recipe, make

    r = Recipe.from_dict({"sources": [{"type": "gan_faces", "count": 6}], "outputs": [{"format": "coco"}]})
    make(r, tmp_path / "o")
    assert coco_keypoints_inside_boxes(tmp_path / "o") == 6
