"""The downstream protocol's landmark and segmentation tasks: metrics against hand-computed cases, data framing that
moves landmarks with the pixels, subject splits, class alignment by name, models that learn, the few-labels regime
and the leakage guard, fake only."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fakevision.core.errors import InputError
from fakevision.evaluate.fit import augment_pool
from fakevision.evaluate.landmarks import (
    LandmarkTask,
    error_metrics,
    frame_face,
    landmark_metrics,
    load_landmarks,
    toy_faces,
)
from fakevision.evaluate.protocol import protocol_markdown, run_protocol, write_protocol
from fakevision.evaluate.segmentation import (
    SegmentationTask,
    group_split,
    load_segmentation,
    segmentation_metrics,
    subject_of,
)
from fakevision.evaluate.stats import relative_difference_ci
from fakevision.evaluate.task import ArraySet, get_task
from fakevision.io.images import encode_image
from fakevision.io.labelled import Split

# -- landmarks --------------------------------------------------------------------------------------------------------

def test_landmark_metrics_by_hand():
    gt = np.zeros((2, 68, 2))
    gt[:, 36:42, 0], gt[:, 42:48, 0] = 0.0, 10.0  # eye centres 10 px apart
    pred = gt.copy()
    pred[0] += [0.5, 0.0]  # every point 0.5 px off: e = 0.05
    pred[1] += [0.0, 1.2]  # 1.2 px: e = 0.12 (a failure)
    m = landmark_metrics(pred, gt)
    assert m["nme"] == pytest.approx((0.05 + 0.12) / 2)
    assert m["fr10"] == pytest.approx(0.5)
    assert m["auc08"] == pytest.approx((0.08 - 0.05) / 0.08 / 2)  # only the first face is under 0.08
    from fakevision.gan.mapping import nme

    assert m["nme"] == pytest.approx(nme(pred, gt))  # the project's one NME definition
    # AUC is the area under the cumulative error curve: compare with a fine numerical integral
    e = np.random.default_rng(0).uniform(0, 0.15, 200)
    t = np.linspace(0, 0.08, 20001)
    curve = (e[None, :] <= t[:, None]).mean(1)
    assert error_metrics(e)["auc08"] == pytest.approx(np.trapezoid(curve, t) / 0.08, abs=1e-4)


@pytest.mark.parametrize("box", [(60.0, 50.0, 140.0, 150.0), (-10.0, 5.0, 70.0, 90.0), (130.0, 120.0, 199.0, 199.0)])
def test_framing_moves_landmarks_with_the_pixels(box):
    """A bright dot drawn at each landmark lands on the moved landmark in the framed crop, also where the crop
    square leaves the photo (padding)."""
    rng = np.random.default_rng(1)
    x0, y0, x1, y1 = box
    pts = np.stack([rng.uniform(x0, x1, 68), rng.uniform(y0, y1, 68)], 1)
    img = np.zeros((200, 200, 1), np.uint8)
    keep = (pts[:, 0] > 2) & (pts[:, 0] < 198) & (pts[:, 1] > 2) & (pts[:, 1] < 198)
    for k in np.flatnonzero(keep)[:6]:
        img[:] = 0
        cx, cy = int(pts[k, 0]), int(pts[k, 1])  # pixel (cx, cy) covers [cx, cx + 1): centre at +0.5
        img[cy - 1 : cy + 2, cx - 1 : cx + 2] = 255
        crop, moved = frame_face(img, pts, 400)  # upscaled so the dot's centre of mass is sharp
        scale = 400 / round(1.6 * max(np.ptp(pts[:, 0]), np.ptp(pts[:, 1])))
        expected = moved[k] + (np.array([cx + 0.5, cy + 0.5]) - pts[k]) * scale
        ys, xs = np.nonzero(crop[:, :, 0] > 60)
        near = np.hypot(xs + 0.5 - expected[0], ys + 0.5 - expected[1]) < 4 * scale  # not its mirror in the padding
        w = crop[ys[near], xs[near], 0].astype(float)
        centre = np.array([(xs[near] + 0.5) @ w, (ys[near] + 0.5) @ w]) / w.sum()
        assert np.allclose(centre, expected, atol=0.6), (centre, expected)


def test_framing_is_faces_68pt_own_crop_on_faces_68pt(shared_data):
    """faces_68pt crops *are* the landmark rule: re-framing one at its own size (160) is nearly the identity."""
    d = load_landmarks(shared_data / "faces_68pt" / "helen_test", 160, grey=False, limit=12)
    from fakevision.io.readers import open_reader

    r = open_reader("pts", shared_data / "faces_68pt" / "helen_test")
    for i in range(12):
        s = r[i]
        same = np.abs(d.targets[i] - s.annotations.keypoints[0]).max()
        if same < 2.0:  # crops that did not hit the photo border: same frame up to rounding the side
            diff = np.abs(d.images[i].astype(int) - s.image.astype(int)).mean()
            assert diff < 12, (i, diff)
    assert d.targets.shape == (12, 68, 2) and d.ids[0].endswith(".jpg")


def test_augmentation_pool_moves_landmarks_exactly():
    """The face preset (flip, affine, photometric) through the project's ops: a dot drawn under each eye-centre
    landmark is still under it after augmentation (and flips swap left/right names)."""
    data = toy_faces(6, size=64)
    task = LandmarkTask()
    imgs, tgts = augment_pool(task, data, "face", 24, np.random.default_rng(3))
    assert imgs.shape == (24, 64, 64, 1) and tgts.shape == (24, 68, 2)
    for im, t in zip(imgs, tgts):
        for p in t[[0, 17, 34]]:  # points drawn as bright discs by toy_faces
            x, y = int(np.clip(p[0], 1, 62)), int(np.clip(p[1], 1, 62))
            if 2 < p[0] < 61 and 2 < p[1] < 61:  # a dot is brighter than the face around it, even blurred
                assert im[y - 1 : y + 2, x - 1 : x + 2].max() > np.median(im) + 25, (p, im[y - 1 : y + 2, x - 1 : x + 2, 0])
    assert not np.allclose(tgts[:6], data.targets)  # something moved


def test_augmentation_as_a_preset_plus_ops_moves_landmarks_exactly():
    """An augmentation given as the face preset followed by LandmarkWarp (the table row's list form): the landmarks
    are the warp's control points, so the dots drawn under them stay under them; a bad op config is a ValueError."""
    from fakevision.evaluate.fit import augment_op

    data = toy_faces(4, size=64)
    aug = [{"preset": "face"}, {"op": "LandmarkWarp", "strength": 1.0}]
    imgs, tgts = augment_pool(LandmarkTask(), data, aug, 12, np.random.default_rng(5))
    assert imgs.shape == (12, 64, 64, 1) and np.isfinite(tgts).all()
    for im, t in zip(imgs, tgts):
        for p in t[[0, 17, 34]]:
            x, y = int(np.clip(p[0], 1, 62)), int(np.clip(p[1], 1, 62))
            if 2 < p[0] < 61 and 2 < p[1] < 61:
                assert im[y - 1 : y + 2, x - 1 : x + 2].max() > np.median(im) + 25, p
    with pytest.raises(ValueError, match="LandmarkWarp"):
        augment_op([{"op": "LandmarkWarp", "strenght": 1.0}])


@pytest.mark.slow
def test_landmark_model_learns_toy_faces():
    data = toy_faces(72, size=32, seed=0)
    split = Split(np.arange(48), np.arange(48, 60), np.arange(60, 72), 0)
    tr, va, te = (data.subset(s) for s in (split.train, split.val, split.test))
    mean_shape = landmark_metrics(np.repeat(tr.targets.mean(0)[None], len(te), 0), te.targets)["nme"]
    for head, stride in (("heatmap", 8), ("heatmap", 4), ("regression", 8)):
        r = LandmarkTask(head=head, heatmap_stride=stride, steps=120, batch_size=16, lr=3e-3, validate_every=40).fit(
            tr, tr.subset([]), va, te, seed=0)
        assert r["test"]["nme"] < 0.8 * mean_shape, (head, stride, r["test"], mean_shape)


def test_protocol_landmarks_few_labels_fake_only_and_leakage_guard():
    """real_n keeps that many real faces per seed; fake samples whose parents are real faces this run may not use
    (validation, test, or outside the subset) never train; ratio inf trains on fake only."""
    real = toy_faces(60, size=32, seed=0)
    split = Split(np.arange(40), np.arange(40, 50), np.arange(50, 60), 0)
    fake = toy_faces(120, size=32, seed=1)
    fake.parents = [[real.ids[i % 60]] for i in range(120)]  # two fakes made from each real face
    task = LandmarkTask(steps=2, batch_size=8, validate_every=1)
    res = run_protocol(real, split, fake, ratios=(0, 1, float("inf")), seeds=(0, 1), task=task, real_n=10,
                       fake_n=5)
    assert [r["ratio"] for r in res["rows"]] == [0.0, 1.0, "inf"]
    assert res["fake_excluded_for_leakage"] == 40  # made from the 20 validation/test faces, twice each
    by = {(r["ratio"], r["seed"]): r for r in res["runs"]}
    assert by[(1.0, 0)]["n_real"] == 10 and by[(1.0, 0)]["n_fake"] == 10
    assert by[(1.0, 0)]["fake_pool"] == 20  # only copies of this seed's 10 real faces: 2 each
    assert by[("inf", 0)]["n_real"] == 0 and by[("inf", 0)]["n_fake"] == 5
    assert "rel_diff_vs_real_only" in res["rows"][1]
    md = protocol_markdown(res)
    assert "∞ (fake only)" in md and "NME" in md and "%" in md
    with pytest.raises(InputError, match="real-n"):
        run_protocol(real, split, fake, ratios=(0,), seeds=(0,), task=task, real_n=41)


def test_relative_difference_ci_is_symmetric_in_log():
    d = relative_difference_ci([0.5, 0.52, 0.48], [1.0, 1.04, 0.96])
    assert d["rel"] == pytest.approx(-0.5) and d["excludes_zero"]
    lo, hi = d["ci95"]
    assert np.log1p(lo) + np.log1p(hi) == pytest.approx(2 * np.log(0.5))


# -- segmentation -----------------------------------------------------------------------------------------------------

def test_segmentation_metrics_by_hand():
    gt = np.zeros((2, 4, 4), np.uint8)
    gt[0, :2] = 1  # 8 iris pixels
    gt[0, 3, 3] = 2  # 1 pupil pixel
    pred = np.zeros_like(gt)
    pred[0, :1] = 1  # 4 of the 8
    pred[0, 3, 3] = 2
    m = segmentation_metrics(pred, gt, ["background", "iris", "pupil"])
    # image 2 has no iris and predicts none: 1 by convention
    assert m["iou_iris"] == pytest.approx((4 / 8 + 1) / 2)
    assert m["dice_iris"] == pytest.approx((2 * 4 / 12 + 1) / 2)
    assert m["iou_pupil"] == pytest.approx(1.0)


def test_subjects_never_straddle_a_split():
    ids = [f"Dataset/images/{s}/{side}/{k}.bmp" for s in range(1, 13) for side in ("left", "right") for k in range(5)]
    groups = [subject_of(i) for i in ids]
    assert groups[:10] == ["1"] * 10 and len(set(groups)) == 12
    sp = group_split(groups, 4, 2, seed=3)
    sets = [{groups[i] for i in part} for part in (sp.train, sp.val, sp.test)]
    assert len(sets[2]) == 4 and len(sets[1]) == 2 and len(sets[0]) == 6
    assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])
    with pytest.raises(InputError, match="too few"):
        group_split(groups, 8, 4)


def _eye_folder(root: Path, n: int, seed: int, label_names: bool = False) -> Path:
    """A mask-pair folder of dark rings (iris annulus) on grey, subject per folder."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        subj = f"s{i // 4}"
        (root / "images" / subj).mkdir(parents=True, exist_ok=True)
        (root / "masks" / subj).mkdir(parents=True, exist_ok=True)
        img = np.full((48, 64, 3), 170, np.uint8)
        cx, cy, r = rng.uniform(24, 40), rng.uniform(18, 30), rng.uniform(8, 14)
        yy, xx = np.mgrid[0:48, 0:64]
        d = np.hypot(xx + 0.5 - cx, yy + 0.5 - cy)
        ring = (d < r) & (d >= 0.4 * r)
        img[ring] = 70
        img[d < 0.4 * r] = 15
        img = np.clip(img + rng.normal(0, 8, img.shape), 0, 255).astype(np.uint8)
        (root / "images" / subj / f"{i}.png").write_bytes(encode_image(img))
        (root / "masks" / subj / f"{i}.png").write_bytes(encode_image((ring * 255).astype(np.uint8)))
    return root


def test_load_segmentation_and_align_classes_by_name(tmp_path):
    real = load_segmentation(_eye_folder(tmp_path / "real", 8, 0), (32, 24), category="iris")
    assert real.classes == ["background", "iris"] and real.images.shape == (8, 24, 32, 1)
    assert real.groups[:4] == ["s0"] * 4 and set(np.unique(real.targets)) == {0, 1}
    # a rendered-eye-like fake set: iris 3, pupil 4, skin 1 -> the real set's classes (pupil/skin: background)
    lm = np.zeros((3, 24, 32), np.uint8)
    lm[:, 5:10] = 3
    lm[:, 10:12] = 4
    lm[:, :2] = 1
    fake = ArraySet(np.zeros((3, 24, 32, 1), np.uint8), lm, ["a", "b", "c"], "eyes",
                    ["background", "skin", "sclera", "iris", "pupil"])
    task = SegmentationTask()
    aligned = task.align(fake, real)
    assert aligned.classes == ["background", "iris"]
    assert (aligned.targets[:, 5:10] == 1).all() and (aligned.targets[:, 10:] == 0).all()
    assert (aligned.targets[:, :2] == 0).all()
    assert [m.name for m in task.metrics] == ["iou_iris", "dice_iris"]
    with pytest.raises(InputError, match="none of the real classes"):
        task.align(ArraySet(fake.images, fake.targets, fake.ids, "x", ["background", "car"]), real)


def test_unet_learns_rings(tmp_path):
    data = load_segmentation(_eye_folder(tmp_path / "d", 40, 1), (64, 48), category="iris")
    split = group_split(data.groups, 2, 1, seed=0)
    tr, va, te = (data.subset(s) for s in (split.train, split.val, split.test))
    task = SegmentationTask(steps=60, batch_size=8, lr=5e-3, validate_every=20)
    task.align(tr, data)
    r = task.fit(tr, tr.subset([]), va, te, seed=0)
    assert r["test"]["iou_iris"] > 0.5, r["test"]
    # augmentation through the project's ops keeps masks and pixels together: the augmented rings stay dark
    imgs, maps = augment_pool(task, tr, "camera", 8, np.random.default_rng(0))
    assert imgs.shape[1:] == (48, 64, 1) and maps.shape == (8, 48, 64)
    for im, m in zip(imgs, maps):
        if (m == 1).sum() > 20:
            assert im[m == 1].mean() < im[m == 0].mean() - 30


def test_get_task_rejects_unknown():
    with pytest.raises(ValueError, match="unknown task"):
        get_task("detection")
    with pytest.raises(ValueError, match="head"):
        get_task("landmarks", head="mlp")


def test_protocol_results_for_a_dense_task_write_and_render(tmp_path):
    real = toy_faces(30, size=32, seed=0)
    split = Split(np.arange(20), np.arange(20, 25), np.arange(25, 30), 0)
    res = run_protocol(real, split, toy_faces(20, size=32, seed=2), ratios=(0, 0.5), seeds=(0, 1),
                       task=LandmarkTask(steps=2, batch_size=8, validate_every=1))
    write_protocol(res, tmp_path)
    data = json.loads((tmp_path / "protocol.json").read_text())
    assert data["task"] == "landmarks" and data["metrics"][0]["name"] == "nme"
    from fakevision.evaluate.report import render_fragment

    html = render_fragment(tmp_path)
    assert "NME" in html and "data:image/png;base64," in html


@pytest.mark.parametrize("size", [64, 128])
def test_landmark_model_sizes_train_and_predict_in_pixels(size):
    """The two sizes the task ships widths for: one step each, predictions in the image's pixel units."""
    data = toy_faces(6, size=size)
    task = LandmarkTask(steps=1, batch_size=4, validate_every=1)
    r = task.fit(data.subset(range(4)), data.subset([]), data.subset([4]), data.subset([5]), seed=0)
    from fakevision.evaluate.fit import predict

    model = task.build_model(1, size, size)
    pred = predict(task, model, data.images[:2])
    assert pred.shape == (2, 68, 2) and pred.min() >= 0 and pred.max() <= size
    assert np.isfinite(r["test"]["nme"])


def test_table_fingerprint_follows_the_training_config():
    """A finished run of a table is reused only while everything that made it is unchanged: the training options
    (as given, and the task's resolved setup), the row's augmentation; the device is not part of it."""
    from fakevision.evaluate.table import TableSpec, _row_hash

    def spec(**train):
        return TableSpec.model_validate({"name": "t", "task": "landmarks", "real": {"path": "x"}, "train": train,
                                         "rows": [{"name": "real only"}, {"name": "aug", "augment": "face"},
                                                  {"name": "warp", "augment": [{"preset": "face"},
                                                                               {"op": "LandmarkWarp"}]}]})

    a, b, c = spec(steps=400), spec(steps=400), spec(steps=500)
    assert _row_hash(a, a.rows[0], {}) == _row_hash(b, b.rows[0], {})
    assert _row_hash(a, a.rows[0], {}) != _row_hash(c, c.rows[0], {})
    assert _row_hash(a, a.rows[0], {}) != _row_hash(spec(steps=400, heatmap_stride=4), a.rows[0], {})
    assert len({_row_hash(a, r, {}) for r in a.rows}) == 3
    assert _row_hash(a, a.rows[0], {}) == _row_hash(spec(steps=400, device="cuda"), a.rows[0], {})
    with pytest.raises(ValueError, match="unknown"):
        TableSpec.model_validate({"name": "t", "task": "landmarks", "real": {"path": "x"},
                                  "rows": [{"name": "r", "augment": "no-such-preset"}]})
