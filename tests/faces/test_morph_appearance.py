"""Faces warped onto their landmarks: morphs and the shape-appearance generator put the pixels exactly where the
written landmarks are; the sources write them through the engine; reruns are identical; bad input fails clearly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from fakevision.core.errors import InputError
from fakevision.faces.morph import FaceBank, choose_parents, morph_face
from fakevision.faces.shape import ShapeModel


def _dark_at(images: np.ndarray, points: np.ndarray, margin: float = 3.0) -> tuple[float, float]:
    """Mean grey level at the landmarks (those well inside the frame) and over the whole image."""
    at, allv = [], []
    for img, pts in zip(images, points):
        g = img.astype(np.float64).mean(2)
        s = g.shape[0]
        for x, y in pts:
            if margin <= x <= s - margin and margin <= y <= s - margin:
                at.append(g[int(y), int(x)])
        allv.append(g.mean())
    return float(np.mean(at)), float(np.mean(allv))


def test_morphed_pixels_land_on_the_written_landmarks() -> None:
    """Every bank face has a dark dot painted at each of its landmarks: after warping k of them onto a new shape
    and blending, the dots are at the written landmarks (the image there is far darker than on average)."""
    bank = FaceBank.synthetic(30, size=64, seed=1)
    out = [morph_face(bank, np.random.default_rng(i), k=3, blend="none") for i in range(6)]
    at, mean = _dark_at(np.stack([o[0] for o in out]), np.stack([o[1] for o in out]))
    assert at < 0.5 * mean, (at, mean)


@pytest.mark.parametrize("blend", ["none", "feather", "poisson"])
def test_morph_is_reproducible_and_its_weights_are_convex(blend) -> None:
    bank = FaceBank.synthetic(30, size=64, seed=2)
    a = morph_face(bank, np.random.default_rng(5), k=3, blend=blend)
    b = morph_face(bank, np.random.default_rng(5), k=3, blend=blend)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2] == b[2]
    w = np.asarray(a[2]["weights"])
    assert len(set(a[2]["parents"])) == 3 and (w > 0).all() and abs(w.sum() - 1) < 1e-12


def test_parents_are_distinct_people_of_compatible_pose() -> None:
    bank = FaceBank.synthetic(60, size=64, seed=3)  # identities: two faces per person
    rng = np.random.default_rng(0)
    target = bank.coords[0]
    for _ in range(20):
        p = choose_parents(bank, target, 3, rng, pool=12)
        assert len(set(bank.identity[p].tolist())) == 3
        d = np.linalg.norm(bank.coords[p] - target, axis=1)
        assert d.max() <= np.sort(np.linalg.norm(bank.coords - target, axis=1))[11] + 1e-9
    with pytest.raises(InputError, match="fewer than k"):
        choose_parents(FaceBank.synthetic(4, seed=0), target, 5, rng)
    with pytest.raises(InputError, match="unknown blend"):
        morph_face(bank, rng, blend="smudge")


def _tiny_appearance(tmp_path: Path):
    from fakevision.faces.appearance import AppearanceGAN, mean_shape_in_frame
    from fakevision.gan.began import BEGANConfig, build_generator

    cfg = BEGANConfig(size=32, z_dim=8, h_dim=8, n_gen=8, n_enc=8)
    torch.manual_seed(0)
    model = ShapeModel.load()
    gan = AppearanceGAN(build_generator(cfg), cfg, model, mean_shape_in_frame(model, 32), {"test": True})
    gan.save(tmp_path / "app.safetensors")
    return AppearanceGAN.load(tmp_path / "app.safetensors")


def test_appearance_generator_warps_mean_shape_content_onto_the_written_shape(tmp_path) -> None:
    """Dots painted at the mean shape's points of an appearance image end up at the sampled shape's points, and the
    landmarks returned are exactly the shapes asked for (at 32 px and warped straight to 64 px)."""
    gan = _tiny_appearance(tmp_path)
    app = np.full((4, 32, 32, 3), 200, np.uint8)
    import cv2

    for img in app:
        for x, y in gan.mean_shape:
            cv2.circle(img, (int(round(x * 16 - 8)), int(round(y * 16 - 8))), 12, (0, 0, 0), -1, cv2.LINE_AA, 4)
    rng = np.random.default_rng(0)
    for size in (32, 64):
        shapes = gan.sample_shapes(4, rng, size)
        warped = gan.warp_onto(app, shapes, size)
        at, mean = _dark_at(warped, shapes, margin=2.0)
        assert at < 0.6 * mean, (size, at, mean)
    faces, lm = gan.generate(torch.zeros(3, gan.z_dim), np.random.default_rng(1), size=64, shapes=shapes[:3])
    assert faces.shape == (3, 64, 64, 3) and np.array_equal(lm, shapes[:3])
    with pytest.raises(InputError, match="shapes must be"):
        gan.generate(torch.zeros(2, gan.z_dim), rng, shapes=shapes[:3])
    (tmp_path / "bad.safetensors").write_bytes(b"junk")
    with pytest.raises(InputError, match="bad.safetensors"):
        type(gan).load(tmp_path / "bad.safetensors")


def _bundle(tmp_path: Path, n: int = 40) -> Path:
    from safetensors.numpy import save_file

    bank = FaceBank.synthetic(n, size=64, seed=4)
    split = np.zeros(n, np.int8)
    split[-4:] = 1
    path = tmp_path / "bank.safetensors"
    save_file({"faces": bank.faces, "landmarks": bank.landmarks.astype(np.float32), "faces_split": split,
               "label_identity": bank.identity}, str(path))
    return path


def _registered() -> None:
    """The face sources as the installed package declares them (pyproject's entry points; an editable install made
    before they were added does not list them yet, so register the same objects in-process)."""
    import tomllib

    from fakevision.core.source import register_source, source_type
    from fakevision.faces import source as fs

    eps = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())["project"][
        "entry-points"]["fakevision.sources"]
    assert eps["appearance_faces"] == "fakevision.faces.source:APPEARANCE_FACES"
    assert eps["morph_faces"] == "fakevision.faces.source:MORPH_FACES"
    for name, obj in (("appearance_faces", fs.APPEARANCE_FACES), ("morph_faces", fs.MORPH_FACES)):
        if source_type(name) is None:
            register_source(name, obj)


def test_morph_and_appearance_sources_write_boxes_that_hold_their_landmarks(tmp_path) -> None:
    from fakevision.engine import Recipe, make
    from tests.gan.test_model_source import coco_keypoints_inside_boxes

    _registered()
    bundle = _bundle(tmp_path)
    _tiny_appearance(tmp_path)
    recipe = {"sources": [{"type": "morph_faces", "count": 4, "bundle": str(bundle), "k": 3},
                          {"type": "morph_faces", "name": "m128", "count": 2, "bundle": str(bundle), "size": 128},
                          {"type": "appearance_faces", "count": 3, "weights": str(tmp_path / "app.safetensors")}],
              "outputs": [{"format": "coco"}, {"format": "manifest"}]}
    make(Recipe.from_dict(recipe), tmp_path / "o")
    assert coco_keypoints_inside_boxes(tmp_path / "o") == 9
    first = (tmp_path / "o" / "coco" / "annotations.json").read_bytes()
    make(Recipe.from_dict(recipe), tmp_path / "o", overwrite=True)
    assert (tmp_path / "o" / "coco" / "annotations.json").read_bytes() == first  # reruns are identical


def test_source_bad_input_is_one_clear_error(tmp_path) -> None:
    from fakevision.engine import Recipe, make

    _registered()
    bundle = _bundle(tmp_path, n=8)
    for sources, msg in (([{"type": "morph_faces", "count": 1, "bundle": "nope.safetensors"}], "bundle not found"),
                         ([{"type": "morph_faces", "count": 1, "bundle": str(bundle), "k": 5}], "fewer than k = 5"),
                         ([{"type": "appearance_faces", "count": 1, "weights": "x.safetensors"}], "not found")):
        with pytest.raises(InputError, match=msg):
            make(Recipe.from_dict({"sources": sources, "outputs": [{"format": "manifest"}]}), tmp_path / "x",
                 overwrite=True)


def test_appearance_task_trains_through_the_loop_and_resumes(tmp_path) -> None:
    from fakevision.faces.appearance import AppearanceTask, mean_shape_in_frame
    from fakevision.gan.began import BEGANConfig
    from fakevision.train.loop import LoopConfig, run_training

    model = ShapeModel.load()
    faces = np.random.default_rng(0).integers(0, 255, (12, 16, 16, 3), dtype=np.uint8)
    cfg = BEGANConfig(size=16, z_dim=8, h_dim=8, n_gen=8, n_enc=8, batch=4)

    def task():
        return AppearanceTask(cfg, faces, model, mean_shape_in_frame(model, 16), "t")

    straight = task()
    run_training(straight, LoopConfig(steps=4, out=tmp_path / "a", checkpoint_every=2))
    first = task()
    run_training(first, LoopConfig(steps=2, out=tmp_path / "b", checkpoint_every=2))
    again = task()
    run_training(again, LoopConfig(steps=4, out=tmp_path / "b", checkpoint_every=2))
    for p, q in zip(straight.trainer.G.parameters(), again.trainer.G.parameters()):
        assert torch.equal(p, q)
    assert list((tmp_path / "a" / "samples").glob("*.png"))


def test_appearance_experiment_stage_fits_pca_on_a_fraction_of_people_and_ships_it(tmp_path) -> None:
    """``kind: appearance`` in an experiment config: PCA on the shape-normalised training photos of the selected
    people only (held-out rows and other people left out), the file records its seed and people, a rerun skips the
    finished stage, and the shipped copy loads as the appearance_faces weights."""
    from fakevision.engine.experiment import ExperimentConfig, run_experiment
    from fakevision.faces.appearance import AppearanceGAN, select_people

    bundle = _bundle(tmp_path)
    ids = FaceBank.synthetic(40, size=64, seed=4).identity
    split = np.zeros(40, bool)
    split[-4:] = True
    chosen = select_people(ids, 0.5) & ~split
    assert 0 < chosen.sum() < (~split).sum()
    cfg = ExperimentConfig.model_validate({"name": "app", "seed": 3, "stages": [
        {"name": "pca", "kind": "appearance", "data": str(bundle), "size": 32, "modes": 4, "people": 0.5}],
        "ship": {"appearance.safetensors": "stage:pca"}})
    run_experiment(cfg, tmp_path / "run")
    with np.load(tmp_path / "run" / "pca" / "normalised.npz") as z:
        assert int(z["training_faces"]) == chosen.sum() and len(z["faces"]) <= chosen.sum()
    gan = AppearanceGAN.load(tmp_path / "run" / "appearance.safetensors")
    assert gan.decoder == "pca" and gan.z_dim == 4 and gan.size == 32
    assert gan.info["seed"] == 3 and gan.info["people"] == 0.5
    stamp = (tmp_path / "run" / "pca" / "appearance.safetensors").stat().st_mtime_ns
    run_experiment(cfg, tmp_path / "run")
    assert (tmp_path / "run" / "pca" / "appearance.safetensors").stat().st_mtime_ns == stamp
    with pytest.raises(ValueError, match="needs steps"):
        ExperimentConfig.model_validate({"name": "b", "stages": [
            {"name": "g", "kind": "appearance", "data": "x", "decoder": "began"}]})


def test_appearance_began_stage_cut_by_seconds_resumes_to_the_unbroken_run_and_feeds_the_source(
        tmp_path, monkeypatch) -> None:
    """``kind: appearance, decoder: began`` (the GAN path of appearance_began64, tiny): a call whose ``seconds``
    run out leaves the stage unfinished (no stage.json, no ship file) with weights as they stand; the same command
    continues it, and the finished G equals an unbroken run's bit for bit, wherever the cut fell. The collapse
    guard validates at every checkpoint; the shipped file records its steps and seed and is what an
    ``appearance_faces`` recipe draws faces with (a COCO file whose boxes hold the written landmarks)."""
    import json
    import time

    from fakevision.engine import Recipe, make
    from fakevision.engine.experiment import ExperimentConfig, run_experiment
    from fakevision.faces.appearance import AppearanceGAN, AppearanceTask
    from tests.gan.test_model_source import coco_keypoints_inside_boxes

    bundle = _bundle(tmp_path)
    cfg = ExperimentConfig.model_validate({"name": "g", "seed": 5, "stages": [
        {"name": "gan", "kind": "appearance", "data": str(bundle), "size": 16, "decoder": "began", "people": 0.5,
         "steps": 6, "checkpoint_every": 2,
         "config": {"z_dim": 8, "h_dim": 8, "n_gen": 8, "n_enc": 8, "batch": 4, "keep_diverse": 0.5,
                    "lr_milestones": [4], "log_every": 1}}],
        "ship": {"app.safetensors": "stage:gan"}})
    run_experiment(cfg, tmp_path / "straight")
    slow_step = AppearanceTask.train_step

    def slowed(self):
        time.sleep(0.05)
        return slow_step(self)

    monkeypatch.setattr(AppearanceTask, "train_step", slowed)
    cut = run_experiment(cfg, tmp_path / "cut", seconds=0.12)
    assert cut["gan"]["unfinished"] and cut["gan"]["step"] < 6
    assert not (tmp_path / "cut" / "gan" / "stage.json").exists() and not (tmp_path / "cut" / "app.safetensors").exists()
    assert AppearanceGAN.load(tmp_path / "cut" / "gan" / "appearance.safetensors").info["stopped_by"] == "seconds"
    monkeypatch.setattr(AppearanceTask, "train_step", slow_step)
    done = run_experiment(cfg, tmp_path / "cut")
    assert "unfinished" not in done["gan"]
    a, b = (AppearanceGAN.load(tmp_path / d / "app.safetensors") for d in ("straight", "cut"))
    for p, q in zip(a.G.state_dict().values(), b.G.state_dict().values()):
        assert torch.equal(p, q)
    assert b.decoder == "began" and b.info["steps"] == 6 and b.info["seed"] == 5 and b.info["kept_step"] <= 6
    log = [json.loads(r) for r in (tmp_path / "cut" / "gan" / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == list(range(1, 7))
    _registered()
    make(Recipe.from_dict({"sources": [{"type": "appearance_faces", "count": 3, "size": 32,
                                        "weights": str(tmp_path / "cut" / "app.safetensors")}],
                           "outputs": [{"format": "coco"}]}), tmp_path / "o")
    assert coco_keypoints_inside_boxes(tmp_path / "o") == 3


def test_yaw_binned_pca_mirrors_its_turned_bins_and_draws_each_face_from_its_shapes_bin(tmp_path) -> None:
    """``pca_yaw``: a left face mirrored is a right one, so the right bin's mean is the left bin's mirrored,
    exactly; a generated face takes the texture of its *target shape's* yaw bin (bins painted distinct grey levels
    here), and the file keeps the bins, threshold and wide warp frame. The experiment stage fits it from a bundle."""
    from fakevision.engine.experiment import ExperimentConfig, run_experiment
    from fakevision.faces.appearance import AppearanceGAN, fit_yaw_binned_pca

    rng = np.random.default_rng(0)
    faces = rng.integers(0, 255, (30, 8, 8, 3), dtype=np.uint8)
    yaw = np.linspace(-0.6, 0.6, 30)
    dec = fit_yaw_binned_pca(faces, yaw, modes=2, threshold=0.2)
    left, mid, right = (b.mean.view(3, 8, 8) for b in dec.bins)
    assert torch.allclose(right, left.flip(2), atol=1e-6) and torch.allclose(mid, mid.flip(2), atol=1e-6)
    assert dec.which(torch.tensor([-0.3, -0.1, 0.1, 0.3])).tolist() == [0, 1, 1, 2]
    with pytest.raises(InputError, match="yaw bin"):
        fit_yaw_binned_pca(faces[:5], yaw[:5], modes=2)

    base = AppearanceGAN.load()
    grey = fit_yaw_binned_pca(np.zeros((30, 64, 64, 3), np.uint8), yaw, modes=2)
    for i, level in enumerate((-0.6, 0.0, 0.6)):
        grey.bins[i].mean.fill_(level)
    gan = AppearanceGAN(grey, base.cfg.__class__(size=64, z_dim=2), base.shape_model, base.mean_shape,
                        frame=AppearanceGAN.WIDE_FRAME)
    gan.save(tmp_path / "yaw.safetensors")
    gan = AppearanceGAN.load(tmp_path / "yaw.safetensors")
    assert gan.decoder == "pca_yaw" and gan.FRAME_MARGIN == 0.5 and float(gan.G.threshold) == pytest.approx(0.2)
    faces_out, shapes = gan.generate(torch.zeros(40, 2), np.random.default_rng(1))
    want = np.array([(-0.6, 0.0, 0.6)[b] for b in gan.G.which(torch.as_tensor(gan.yaw(shapes))).tolist()])
    assert len(set(want.tolist())) == 3  # the sampled shapes reach all three bins
    centre = faces_out[:, 28:36, 28:36].astype(np.float64).mean((1, 2, 3))
    assert np.abs(centre - (want + 1) * 127.5).max() < 2.0

    bundle = _bundle(tmp_path)
    cfg = ExperimentConfig.model_validate({"name": "y", "stages": [
        {"name": "y", "kind": "appearance", "data": str(bundle), "size": 32, "decoder": "pca_yaw", "modes": 2}]})
    run_experiment(cfg, tmp_path / "run")
    fitted = AppearanceGAN.load(tmp_path / "run" / "y" / "appearance.safetensors")
    assert fitted.decoder == "pca_yaw" and sum(fitted.info["faces_left_frontal_right"]) == len(
        np.load(tmp_path / "run" / "y" / "normalised.npz")["faces"])


def test_appearance_warp_map_is_the_exact_piecewise_affine_map_and_poses_are_kept() -> None:
    """The generator's lean warp equals ``dense.PiecewiseAffineWarp`` on the same points and triangles (and on a
    folding shape, Delaunay's of its own points); frame points outside the image keep shapes whose chin leaves a
    tight crop from folding (the yaw spread of the shape model is kept), border ones reject most of them."""
    from fakevision.augment.functional.dense import PiecewiseAffineWarp
    from fakevision.faces.appearance import AppearanceGAN
    from fakevision.faces.shape import pose_proxies

    gan = AppearanceGAN.load()
    tri, frame, ref, _ = gan._topology()
    rng = np.random.default_rng(3)
    compared = 0
    for size in (64, 128):
        for shape in gan.sample_shapes(6, rng, size):
            dst = np.concatenate([shape, frame * size])
            try:
                want = PiecewiseAffineWarp(dst, (size, size), src_hw=(gan.size,) * 2, frame=0, triangles=tri)
            except ValueError:  # a mouth sliver turned over by a hair (allowed here, refused there)
                continue
            got = gan.warp_map(shape, size)
            assert np.abs(got - want.map(ref * gan.size).xy).max() < 2e-3
            compared += 1
    assert compared >= 4
    bent = gan.mean_shape.copy()
    bent[8], bent[57] = bent[57], bent[8].copy()  # chin above the lower lip: folds
    assert gan.folds(bent[None])[0]
    dst = np.concatenate([bent, frame * gan.size])
    want = PiecewiseAffineWarp(dst, (gan.size,) * 2, frame=0).map(ref * gan.size).xy
    assert np.abs(gan.warp_map(bent) - want).max() < 2e-3
    b, pl, shapes = gan.shape_model.sample_params(2000, np.random.default_rng(0))
    yaw = pose_proxies(gan.shape_model.instance(b), pl[:, 3])[:, 0]
    kept = ~gan.folds(shapes * gan.size)
    assert yaw[kept].std() < 0.7 * yaw.std()  # border frame points: the turned faces fold, the kept are frontal
    wide = AppearanceGAN.load()
    wide.FRAME_MARGIN, wide.FRAME_PER_SIDE, wide.MOUTH_SLACK = 0.5, 3, 2.0  # the measured alternative
    kept_wide = ~wide.folds(shapes * gan.size)
    assert kept_wide.mean() > max(0.85, kept.mean()) and yaw[kept_wide].std() > 0.85 * yaw.std()


def test_shipped_appearance_weights_cite_their_experiment_config() -> None:
    """The shipped generator was made by the built-in ``appearance64`` config: its file records the config's
    decoder, modes, people fraction and seed, and the number of faces it was fitted on."""
    from fakevision.engine.experiment import load_experiment
    from fakevision.faces.appearance import AppearanceGAN

    cfg, _ = load_experiment("appearance64")
    (stage,) = cfg.stages
    info = AppearanceGAN.load().info
    assert cfg.ship == {"appearance64.safetensors": "stage:pca"}
    assert (info["decoder"], info["modes"], info["people"], info["seed"]) == (stage.decoder, stage.modes,
                                                                              stage.people, cfg.seed)
    assert info["data"].startswith(f"{stage.data}:") and int(info["data"].split(":")[1]) > 1000


def _shipped_model(model: str, config: str, tmp_path):  # noqa: ANN202 - (config, stage, gan) of a shipped model
    """The built-in config behind shipped ``model`` (it must ship exactly that file, with the file's decoder), its
    one stage and the loaded generator; and 3 faces made by a recipe naming ``model``: their boxes hold their
    landmarks and provenance names the shipped file."""
    from fakevision.engine import Recipe, make
    from fakevision.engine.experiment import load_experiment
    from fakevision.faces.appearance import SHIPPED, AppearanceGAN
    from tests.gan.test_model_source import coco_keypoints_inside_boxes

    cfg, _ = load_experiment(config)
    (stage,) = cfg.stages
    gan = AppearanceGAN.load(SHIPPED[model])
    assert cfg.ship == {SHIPPED[model].name: f"stage:{stage.name}"} and gan.decoder == stage.decoder
    _registered()
    make(Recipe.from_dict({"sources": [{"type": "appearance_faces", "count": 3, "model": model}],
                           "outputs": [{"format": "coco"}, {"format": "manifest"}]}), tmp_path / "o")
    assert coco_keypoints_inside_boxes(tmp_path / "o") == 3
    assert f"shipped:{SHIPPED[model].stem}" in (tmp_path / "o" / "manifest.jsonl").read_text()
    return cfg, stage, gan


def test_shipped_yaw_binned_model_cites_its_config_and_the_recipe_picks_it_by_name(tmp_path) -> None:
    """``model: yaw64`` in an ``appearance_faces`` recipe loads the shipped PCA-per-yaw-bin generator, made by the
    built-in ``appearance_yaw64`` config (its file records decoder, modes, people, seed and the bins' sizes);
    provenance names it, and its faces' boxes hold their landmarks."""
    from fakevision.faces.appearance import AppearanceGAN

    cfg, stage, gan = _shipped_model("yaw64", "appearance_yaw64", tmp_path)
    info = gan.info
    assert (info["modes"], info["people"], info["seed"]) == (stage.modes, stage.people, cfg.seed)
    assert sum(info["faces_left_frontal_right"]) == int(info["data"].split(":")[1]) > 1000
    assert (gan.FRAME_MARGIN, gan.FRAME_PER_SIDE, gan.MOUTH_SLACK) == AppearanceGAN.WIDE_FRAME


def test_shipped_began_generator_cites_its_config_and_the_recipe_picks_it_by_name(tmp_path) -> None:
    """``model: began64``: the shape-appearance BEGAN the ``appearance_began64`` config trained (its file records the
    decoder, people, seed, steps and the step whose G was kept); its faces carry exact landmarks like the others."""
    cfg, stage, gan = _shipped_model("began64", "appearance_began64", tmp_path)
    info = gan.info
    assert (info["people"], info["seed"], info["steps"]) == (stage.people, cfg.seed, stage.steps)
    assert 0 < info["kept_step"] <= stage.steps and info["data"].startswith(f"{stage.data}:")
