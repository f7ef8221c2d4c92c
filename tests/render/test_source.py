"""The ``render`` source: registration, config validation, reproducible bytes, purity, views per scene, degrade."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from fakevision.core.errors import InputError, RecipeError
from fakevision.core.sample import VISIBLE, Sample, boxes_from_masks
from fakevision.core.source import build_source, make_sample, source_types
from fakevision.render.source import RenderConfig


def _digest(s: Sample) -> str:
    a = s.annotations
    h = hashlib.sha256()
    for arr in (s.image, a.masks, a.depth, a.keypoints, a.visibility, a.boxes, a.label_map):
        h.update(np.ascontiguousarray(arr).tobytes())
    h.update(json.dumps(s.provenance.to_dict(), sort_keys=True).encode())
    h.update(json.dumps(a.extras, sort_keys=True).encode())
    return h.hexdigest()


def _make(index: int, seed: int = 0, **cfg: object) -> Sample:
    config = RenderConfig(type="render", count=64, width=96, height=80, **cfg)  # type: ignore[arg-type]
    src = build_source(config, Path("."))
    return make_sample(src, index, seed, "hash")


def test_registered_with_defaults() -> None:
    st = source_types()["render"]
    assert st.config is RenderConfig
    cfg = RenderConfig.model_validate({"type": "render", "count": 200})
    assert (cfg.width, cfg.height, cfg.degrade) == (256, 256, "camera")


@pytest.mark.parametrize("bad", [{"objects": [3, 1]}, {"fov_deg": [0, 40]}, {"views_per_scene": 0},
                                 {"unknown_key": 1}, {"shapes": ["teapot"]}, {"degrade": "vintage"}])
def test_bad_config_is_rejected(bad: dict) -> None:
    with pytest.raises(ValidationError):
        RenderConfig.model_validate({"type": "render", "count": 4, **bad})


def test_missing_mesh_and_background_folder_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="nope.obj"):
        build_source(RenderConfig(type="render", count=1, meshes=["nope.obj"]), tmp_path)
    with pytest.raises(InputError, match="photos"):
        build_source(RenderConfig(type="render", count=1, backgrounds="photos"), tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(RecipeError, match="empty"):
        build_source(RenderConfig(type="render", count=1, meshes=["empty"]), tmp_path)


def test_sample_is_complete_and_consistent() -> None:
    s = _make(5, degrade="none")
    a, p = s.annotations, s.provenance
    assert s.image.shape == (80, 96, 3) and s.image.dtype == np.uint8
    assert p.sample_id == "render-000005" and p.index == 5 and p.recipe_hash == "hash"
    assert p.params["scene_index"] == 1 and p.params["view"] == 1
    assert a.num_instances >= 1 and a.masks.shape == (a.num_instances, 80, 96)
    np.testing.assert_allclose(a.boxes, boxes_from_masks(a.masks))
    assert a.keypoint_schema.name == "render_object10" and a.keypoints.shape == (a.num_instances, 10, 2)
    for m, kp, v in zip(a.masks, a.keypoints, a.visibility, strict=True):
        for (x, y), vis in zip(kp, v, strict=True):
            if vis == VISIBLE:
                assert m[int(y), int(x)]
    cam = a.extras["camera"]
    assert np.array(cam["K"]).shape == (3, 3) and np.array(cam["world_to_camera"]).shape == (4, 4)
    assert set(a.label_names.values()) >= {"background", "box", "sphere", "cylinder"}
    assert a.depth.dtype == np.float32 and (a.depth > 0).mean() > 0.5
    assert all("amodal_box" in ia and ia["area"] > 0 for ia in a.instance_attributes)
    json.dumps(p.to_dict(), sort_keys=True, allow_nan=False)  # provenance is plain JSON


def test_views_of_one_scene_share_it() -> None:
    samples = [_make(i, degrade="none") for i in range(4, 8)]  # scene 1, views 0..3
    scenes = {json.dumps(s.provenance.params["scene"], sort_keys=True) for s in samples}
    cams = {json.dumps(s.provenance.params["camera"], sort_keys=True) for s in samples}
    assert len(scenes) == 1 and len(cams) == 4
    assert samples[0].provenance.params["scene"]["settled"] is True
    other = _make(8, degrade="none")
    assert json.dumps(other.provenance.params["scene"], sort_keys=True) not in scenes


def test_same_seed_and_index_give_identical_bytes_and_seeds_differ() -> None:
    a, b = _make(3), _make(3)
    assert _digest(a) == _digest(b)
    assert _digest(_make(3, seed=1)) != _digest(a)
    assert _digest(_make(2)) != _digest(a)


def test_degrade_changes_pixels_only() -> None:
    clean, noisy = _make(6, degrade="none"), _make(6, degrade="camera")
    assert not np.array_equal(clean.image, noisy.image)
    for f in ("masks", "depth", "keypoints", "visibility", "boxes", "label_map"):
        np.testing.assert_array_equal(getattr(clean.annotations, f), getattr(noisy.annotations, f))


_CHILD = """
import sys, json
from pathlib import Path
sys.path.insert(0, {tests!r})
from test_source import _make, _digest
print(json.dumps([_digest(_make(i)) for i in {indices!r}]))
"""


def _fresh(indices: list[int]) -> list[str]:
    code = _CHILD.format(tests=str(Path(__file__).parent), indices=indices)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_sample_made_in_a_fresh_process_equals_one_made_after_others() -> None:
    """Purity: sample 9 alone in a new process == sample 9 after samples of other scenes in this one (and after a
    different scene was built in the same process, which must not leak into it)."""
    for i in (0, 13, 2, 8):
        _make(i)
    here = _digest(_make(9))
    assert _fresh([9]) == [here]


def test_amodal_option_adds_visible_fractions() -> None:
    plain, amodal = _make(5, degrade="none"), _make(5, degrade="none", amodal_masks=True)
    np.testing.assert_array_equal(plain.image, amodal.image)  # the extra renders leave the scene untouched
    fr = [ia["visible_fraction"] for ia in amodal.annotations.instance_attributes]
    assert fr and all(0 < f <= 1 for f in fr)
    assert all(ia["amodal_area"] >= ia["area"] for ia in amodal.annotations.instance_attributes)


def test_supersampling_smooths_edges_and_keeps_the_ground_truth() -> None:
    """Flat colours, no shadows: anti-aliasing changes only pixels on an object's outline (to a mix of the two
    sides), never the ground truth."""
    from fakevision.render import Camera, Ground, Light, ObjectSpec, Scene, Texture, intrinsics, look_at, render_scene

    scene = Scene(objects=(ObjectSpec("box", (0.2, 0.2, 0.2), (0.0, 0.0, 0.1), texture=Texture("plain", (1, 0, 0))),),
                  ground=Ground(Texture("plain", (0.2, 0.2, 0.9))), light=Light(ambient=1.0, diffuse=0.0,
                                                                                 specular=0.0, shadows=False))
    cam = Camera(intrinsics(90, 90, 48, 40), look_at(np.array([0.6, -0.8, 0.7]), np.array([0, 0, 0.1])), 96, 80)
    plain = render_scene(scene, cam, settle=False)
    smooth = render_scene(scene, cam, settle=False, supersample=2)
    for f in ("masks", "depth", "keypoints", "visibility", "boxes", "label_map"):
        np.testing.assert_array_equal(getattr(plain.annotations, f), getattr(smooth.annotations, f))
    outline = np.zeros(m_shape := plain.annotations.masks[0].shape, bool)
    for m in (plain.annotations.masks[0], plain.annotations.depth > 0):  # object outline, horizon
        outline |= m ^ np.roll(m, 1, 0) | m ^ np.roll(m, 1, 1) | m ^ np.roll(m, -1, 0) | m ^ np.roll(m, -1, 1)
    assert outline.sum() < 0.2 * np.prod(m_shape)
    diff = np.abs(plain.image.astype(int) - smooth.image.astype(int)).max(axis=2)
    assert diff[~outline].max() <= 2 and diff[outline].mean() > 5 and (diff[outline] > 40).mean() > 0.05


def test_analytic_ground_source_is_pure_and_keeps_the_ground_truth() -> None:
    a, b = _make(3, ground="analytic"), _make(3, ground="analytic")
    assert _digest(a) == _digest(b)
    # pybullet both ways (renderer auto would pick raycast for the analytic ground, a different rasteriser)
    mesh = _make(5, degrade="none", ground="mesh", renderer="pybullet")
    ana = _make(5, degrade="none", ground="analytic", renderer="pybullet")
    for f in ("masks", "keypoints", "visibility", "boxes", "label_map"):
        np.testing.assert_array_equal(getattr(mesh.annotations, f), getattr(ana.annotations, f))
    np.testing.assert_allclose(mesh.annotations.depth, ana.annotations.depth, rtol=1e-4)
