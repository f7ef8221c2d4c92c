"""The face pipeline (detect, crop, annotate) and dlib as the landmark judge.

Tests on real faces need ../shared/data (``shared_data`` skips without it); the dlib ones also need
``pip install dlib-bin face-recognition-models`` and skip with that reason without them.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from fakevision.cli import app
from fakevision.core.errors import InputError
from fakevision.gan.faceprep import CROP_RULES, crop_face, crop_transform, detect_faces, prepare_faces
from fakevision.io.images import encode_image, read_image
from fakevision.io.readers.pts import PTS_OFFSET, parse_pts

PAD = 80  # grey border around each 160 x 160 faces_68pt crop: the face must be found, not assumed


def _dlib_or_skip():
    pytest.importorskip("dlib", reason="dlib not installed (pip install dlib-bin face-recognition-models)")
    from fakevision.gan.dlib_landmarks import default_model_path

    if default_model_path() is None:
        pytest.skip("dlib's 68-point model not installed (pip install face-recognition-models)")


def _faces(shared_data: Path, n: int, split: str = "helen_test") -> list[Path]:
    files = sorted((shared_data / "faces_68pt" / split).glob("*.jpg"))
    return files[:: max(1, len(files) // n)][:n]


def _padded(f: Path) -> tuple[np.ndarray, np.ndarray]:
    img = cv2.copyMakeBorder(read_image(f), PAD, PAD, PAD, PAD, cv2.BORDER_CONSTANT, value=(128, 128, 128))
    return img, parse_pts(f.with_suffix(".pts"), 68) + PTS_OFFSET + PAD


# --- the crop is pixel-exact (no data needed) ----------------------------------------------------------------------
@pytest.mark.parametrize("box,size", [([60.0, 40.5, 130.0, 120.0], 64), ([3.0, 5.0, 40.0, 44.0], 64),
                                      ([100.0, 80.0, 140.0, 120.0], 128)])
def test_crop_moves_pixels_and_points_together(box, size):
    """A ramp image whose value at each pixel is its own centre coordinate: every pixel of the crop must hold the
    source coordinate that ``transform.invert`` gives for its centre (INTER_AREA and bicubic reproduce a linear
    ramp up to a small ripple), i.e. points moved by the transform land on the pixels that moved there."""
    h, w = 200, 240
    xs = np.arange(w) + 0.5
    ys = np.arange(h) + 0.5
    img = np.zeros((h, w, 3), np.float32)
    img[:, :, 0] = xs[None, :]
    img[:, :, 1] = ys[:, None]
    crop, t = crop_face(img, box, size, *CROP_RULES["haar"])
    centres = np.stack(np.meshgrid(np.arange(size) + 0.5, np.arange(size) + 0.5), -1)
    src = t.invert(centres)
    k = int(np.ceil(2 * t.scale)) + 1  # bicubic enlarging: the crop border sees replicated samples
    inner = slice(k, size - k)
    err = (crop[inner, inner, :2] - src[inner, inner]).reshape(-1, 2)
    assert np.abs(err.mean(0)).max() < 1e-3  # no offset, no scale error: measured ~1e-6 px
    assert np.abs(err).max() < 0.1  # per pixel only the kernels' own ripple (<= 0.06 px measured)
    assert t.left >= 0 and t.left + t.side <= w and t.top >= 0 and t.top + t.side <= h
    np.testing.assert_allclose(t.apply(t.invert(centres)), centres)


def test_crop_rule_is_square_centred_and_stays_inside():
    t = crop_transform((300, 300), [100, 100, 150, 150], 64, margin=1.6, shift=-0.08)
    assert t.side == 80 and t.left == 85 and t.top == round(125 - 0.08 * 80 - 40)
    edge = crop_transform((300, 300), [260, 0, 300, 40], 64, margin=2.0)
    assert (edge.left, edge.top, edge.side) == (220, 0, 80)


# --- detection on real faces --------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["haar", "dlib"])
def test_detectors_find_faces_and_crops_carry_ground_truth(shared_data, method):
    """Each faces_68pt test crop padded into a 320 x 320 grey canvas: the detector's crop must overlap the true
    face square (IoU >= 0.5) on most faces (measured on all 330: Haar 94 %, dlib 96 %), and the ground truth moved
    by the crop transform must sit on the same pixels (a red marker painted at the nose tip in the canvas is red
    in the crop at the transformed point)."""
    if method == "dlib":
        _dlib_or_skip()
    files = _faces(shared_data, 24)
    rule = CROP_RULES[method]
    good = 0
    for f in files:
        img, gt = _padded(f)
        boxes = detect_faces(img, method)
        if not len(boxes):
            continue
        _, t = crop_face(img, boxes[0], 64, *rule)
        ix = max(0, min(t.left + t.side, PAD + 160) - max(t.left, PAD))
        iy = max(0, min(t.top + t.side, PAD + 160) - max(t.top, PAD))
        iou = ix * iy / (t.side**2 + 160**2 - ix * iy)
        if iou < 0.5:
            continue
        good += 1
        marked = img.copy()
        r = int(np.ceil(2 * t.side / 64))
        cx, cy = np.floor(gt[30]).astype(int)
        marked[cy - r:cy + r + 1, cx - r:cx + r + 1] = (255, 0, 0)
        crop_m, t2 = crop_face(marked, boxes[0], 64, *rule)
        assert t2 == t
        u, v = np.floor(t.apply(gt[30])).astype(int)
        assert crop_m[v, u, 0] > 200 and crop_m[v, u, 1] < 60, f.name
    assert good >= 0.8 * len(files), f"{method}: {good}/{len(files)}"


# --- dlib as annotator and judge ----------------------------------------------------------------------------------
@pytest.mark.slow
def test_dlib_nme_on_helen_test(shared_data):
    """dlib on faces_68pt/helen_test (a third of it, every face it sees): at 160 px with its own HOG box NME <=
    0.06 (all 330: 0.039) and its +0.5 pixel convention unbiased in x within the annotations' 0.5 px; on 64 x 64
    downscaled crops with the judge's box rule NME <= 0.06 (all 330: 0.046)."""
    _dlib_or_skip()
    from fakevision.gan.dlib_landmarks import evaluate_on_faces_68pt

    res = evaluate_on_faces_68pt(shared_data / "faces_68pt", "helen_test", limit=110)
    assert res["detected_160"] >= 100
    assert res["nme_160_own_box"] <= 0.06, res
    assert abs(res["signed_error_x_160"]) < 0.5, res
    assert res["nme_64_box_rule"] <= 0.06, res


def test_dlib_landmarks_for_generated_size_crops(shared_data):
    _dlib_or_skip()
    from fakevision.gan.dlib_landmarks import landmarks_for_crops
    from fakevision.gan.mapping import nme

    files = _faces(shared_data, 12)
    crops = np.stack([cv2.resize(read_image(f), (64, 64), interpolation=cv2.INTER_AREA) for f in files])
    gt = np.stack([parse_pts(f.with_suffix(".pts"), 68) + PTS_OFFSET for f in files]) * 0.4
    lm = landmarks_for_crops(crops)
    assert lm.shape == (12, 68, 2)
    assert nme(lm, gt) < 0.08


def test_without_dlib_the_modules_import_and_say_how_to_install(monkeypatch, tmp_path):
    import sys

    from fakevision.gan import dlib_landmarks

    monkeypatch.setitem(sys.modules, "dlib", None)  # import dlib -> ImportError, as where it is not installed
    with pytest.raises(InputError, match="pip install dlib-bin face-recognition-models"):
        dlib_landmarks.require_dlib()
    _blank(tmp_path / "a.png")
    with pytest.raises(InputError, match="pip install dlib-bin"):
        prepare_faces(tmp_path, 64, "haar", "dlib")
    with pytest.raises(InputError, match="pip install dlib-bin"):
        prepare_faces(tmp_path, 64, "dlib", "none")


def test_missing_dlib_model_is_one_clear_line(monkeypatch, tmp_path):
    _dlib_or_skip()
    from fakevision.gan import dlib_landmarks

    with pytest.raises(InputError, match="shape predictor model not found"):
        dlib_landmarks.DlibLandmarker(tmp_path / "nope.dat")
    monkeypatch.setattr(dlib_landmarks, "default_model_path", lambda: None)
    with pytest.raises(InputError, match="pip install dlib-bin face-recognition-models"):
        dlib_landmarks.DlibLandmarker()


# --- prepare_faces and the CLI ------------------------------------------------------------------------------------
def _blank(path: Path) -> None:
    path.write_bytes(encode_image(np.full((120, 120, 3), 128, np.uint8)))


def _folder(shared_data: Path, tmp_path: Path, n: int, with_pts: bool) -> Path:
    d = tmp_path / "in"
    d.mkdir()
    for f in _faces(shared_data, n):
        img, _ = _padded(f)
        (d / f.with_suffix(".png").name).write_bytes(encode_image(img))
        if with_pts:
            pts = (parse_pts(f.with_suffix(".pts"), 68) + PAD).tolist()
            (d / f.with_suffix(".pts").name).write_text(
                "version: 1\nn_points: 68\n{\n" + "".join(f"{x} {y}\n" for x, y in pts) + "}\n")
    return d


def test_prepare_uses_ground_truth_through_the_crop(shared_data, tmp_path):
    d = _folder(shared_data, tmp_path, 6, with_pts=True)
    res = prepare_faces(d, 64, "haar", "auto")
    assert res.landmark_source == "ground-truth" and res.faces.shape[1:] == (64, 64, 3)
    for i, name in enumerate(res.files):
        gt = parse_pts(d / Path(name).with_suffix(".pts"), 68) + PTS_OFFSET
        left, top, side = res.crops[i]
        np.testing.assert_allclose(res.landmarks[i], (gt - [left, top]) * 64 / side, atol=1e-4)
    assert len(res.files) + len(res.no_face) == 6
    _blank(d / "zz_no_pts.png")  # an image without a .pts beside it: listed, not silently dropped
    res = prepare_faces(d, 64, "landmarks", "ground-truth")  # faces_68pt's own crop rule from the ground truth
    assert res.no_landmarks == ["zz_no_pts.png"] and len(res.files) == 6
    # the 160 px square faces_68pt cut, in the canvas (its crops that hit the photo's border were shrunk instead)
    assert (np.abs(res.crops - [PAD, PAD, 160]).max(1) <= 1).sum() >= 5


def test_unreadable_file_and_faceless_image_are_reported_not_tracebacks(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    (d / "notes.jpg").write_text("this is not a picture")
    _blank(d / "wall.png")
    with pytest.raises(InputError, match="notes.jpg: not an image"):
        prepare_faces(d, 64, "haar", "none")
    with pytest.raises(InputError, match="no face found in any of the 2 images"):
        prepare_faces(d, 64, "haar", "none", skip_unreadable=True)
    runner = CliRunner()
    r = runner.invoke(app, ["faces", "prepare", str(d), "--out", str(tmp_path / "x.safetensors"),
                            "--landmarks", "none"])
    assert r.exit_code == 2 and "notes.jpg: not an image" in r.output and "Traceback" not in r.output
    r = runner.invoke(app, ["faces", "prepare", str(d), "--out", str(tmp_path / "x.safetensors"),
                            "--landmarks", "none", "--skip-unreadable"])
    assert r.exit_code == 2 and "no face found in any of the 2 images" in r.output
    r = runner.invoke(app, ["faces", "prepare", str(d), "--out", str(tmp_path / "x.safetensors"),
                            "--detect", "sideways"])
    assert r.exit_code == 2 and "unknown detector 'sideways'" in r.output


def test_cli_prepare_writes_a_bundle_train_can_read(shared_data, tmp_path):
    """Photos without ground truth, one unreadable, one without a face: dlib annotates the others; the bundle
    loads with ``load_bundle`` and with the training loader, and its landmarks agree with the hidden ground truth."""
    _dlib_or_skip()
    import json

    from fakevision.gan.api import load_faces
    from fakevision.gan.data import load_bundle
    from fakevision.gan.mapping import nme

    d = _folder(shared_data, tmp_path, 5, with_pts=False)
    (d / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    _blank(d / "wall.png")
    out = tmp_path / "faces.safetensors"
    r = CliRunner().invoke(app, ["faces", "prepare", str(d), "--out", str(out), "--size", "64",
                                 "--skip-unreadable"])
    assert r.exit_code == 0, r.output
    assert "no_face=" in r.output and "wall.png" in r.output and "broken.png" in r.output
    b = load_bundle(out)
    n = len(b["faces"])
    assert n >= 4 and b["faces"].shape == (n, 64, 64, 3) and b["landmarks"].shape == (n, 68, 2)
    assert (b["faces_split"] == 0).all()
    report = json.loads((tmp_path / "faces.safetensors.report.json").read_text())
    assert "wall.png" in report["no_face_files"] and report["unreadable"] == 1
    d_train = load_faces(out, 64)
    assert d_train["faces"].shape == (n, 64, 64, 3) and d_train["landmarks"].shape == (n, 68, 2)
    from safetensors import safe_open

    with safe_open(str(out), "np") as fh:
        files = json.loads(fh.metadata()["files"])
    gt = []
    for i, name in enumerate(files):
        stem = Path(name).stem
        src = shared_data / "faces_68pt" / "helen_test" / f"{stem}.pts"
        left, top, side = b["crop_boxes"][i]
        gt.append((parse_pts(src, 68) + PTS_OFFSET + PAD - [left, top]) * 64 / side)
    assert nme(b["landmarks"], np.stack(gt)) < 0.08


def test_prepare_bundle_resumes_by_chunk_and_carries_labels_and_identity_split(shared_data, tmp_path, monkeypatch):
    """An interrupted at-scale run resumes at the next chunk and gives the bundle an unbroken run gives; the
    folder's labels.csv rides along per face, and whole people are held out."""
    from fakevision.gan import faceprep
    from fakevision.gan.data import load_bundle

    d = _folder(shared_data, tmp_path, 8, with_pts=False)
    names = sorted(p.name for p in d.iterdir())
    (d / "labels.csv").write_text("path,identity,age\n" + "".join(f"{n},{i // 2},{20 + i}\n"
                                                                 for i, n in enumerate(names)))
    kw = dict(size=32, method="haar", landmarks="none", chunk=3, holdout=0.5, split_by="identity")
    whole = faceprep.prepare_bundle(d, tmp_path / "whole.safetensors", **kw)
    real, calls, killed = faceprep.prepare_faces, [], []

    def dies_on_second_chunk(*a, **k):
        calls.append(k["start"])
        if len(calls) == 2 and not killed:
            killed.append(True)
            raise RuntimeError("killed")
        return real(*a, **k)

    monkeypatch.setattr(faceprep, "prepare_faces", dies_on_second_chunk)
    with pytest.raises(RuntimeError, match="killed"):
        faceprep.prepare_bundle(d, tmp_path / "b.safetensors", **kw)
    assert len(list((tmp_path / "b.safetensors.parts").glob("part_*.npz"))) == 1
    calls.clear()
    faceprep.prepare_bundle(d, tmp_path / "b.safetensors", **kw)
    assert calls == [3, 6]  # the first chunk was not redone
    assert not (tmp_path / "b.safetensors.parts").exists()
    a, b = load_bundle(tmp_path / "whole.safetensors"), load_bundle(tmp_path / "b.safetensors")
    assert sorted(a) == sorted(b) and all(np.array_equal(a[k], b[k]) for k in a)
    ident = b["label_identity"]
    assert b["label_age"].tolist() == [20 + names.index(Path(f).name) for f in whole.files]
    for person in set(ident.tolist()):  # a person is held out whole (1) or trained on (0, or 2 for one photo)
        codes = set(b["faces_split"][ident == person].tolist())
        assert codes in ({1}, {0}, {0, 2}, {2})
    with pytest.raises(InputError, match="other settings"):
        (tmp_path / "b.safetensors.parts").mkdir()
        (tmp_path / "b.safetensors.parts" / "settings.json").write_text("{}")
        (tmp_path / "b.safetensors.parts" / "part_00000000.npz").write_bytes(b"")
        faceprep.prepare_bundle(d, tmp_path / "b.safetensors", **kw)
