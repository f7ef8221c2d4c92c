"""User assets: OBJ/STL meshes as objects, photo folders as backgrounds, and their bad-input errors."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from fakevision.core.errors import InputError
from fakevision.core.sample import VISIBLE, boxes_from_masks
from fakevision.core.source import build_source, make_sample
from fakevision.io.images import encode_image
from fakevision.render import Camera, Ground, Light, ObjectSpec, Scene, intrinsics, look_at, render_ground_truth
from fakevision.render.api import background_crop
from fakevision.render.meshes import load_triangles, load_vertices
from fakevision.render.scene import Background
from fakevision.render.source import RenderConfig
from fakevision.render.textures import bake_background

CUBE_OBJ = "\n".join(
    [f"v {x} {y} {z}" for x, y, z in [(-1, -1, -1), (1, -1, -1), (1, 1, -1), (-1, 1, -1),
                                      (-1, -1, 1), (1, -1, 1), (1, 1, 1), (-1, 1, 1)]]
    # quads, some wound the wrong way round on purpose (files often are)
    + ["f 1 2 3 4", "f 5 6 7 8", "f 1 2 6 5", "f 2 3 7 6", "f 3 4 8 7", "f 4 1 5 8"]) + "\n"


def _write_wedge_stl(path: Path) -> None:
    tris = np.array([[[0, 0, 0], [1, 0, 0], [0, 1, 0]], [[0, 0, 0], [0, 0, 2], [1, 0, 0]],
                     [[0, 0, 0], [0, 1, 0], [0, 0, 2]], [[1, 0, 0], [0, 0, 2], [0, 1, 0]]], np.float32)
    with open(path, "wb") as f:
        f.write(b"\0" * 80 + struct.pack("<I", len(tris)))
        for t in tris:
            f.write(np.zeros(3, np.float32).tobytes() + t.tobytes() + b"\0\0")


@pytest.fixture()
def mesh_dir(tmp_path: Path) -> Path:
    d = tmp_path / "meshes"
    d.mkdir()
    (d / "crate.obj").write_text(CUBE_OBJ)
    _write_wedge_stl(d / "wedge.stl")
    return d


def test_mesh_readers(mesh_dir: Path) -> None:
    v = load_vertices(str(mesh_dir / "crate.obj"))
    assert v.shape == (8, 3) and load_triangles(str(mesh_dir / "crate.obj")).shape == (12, 3, 3)
    w = load_vertices(str(mesh_dir / "wedge.stl"))
    assert w.shape == (4, 3) and w.max(axis=0).tolist() == [1.0, 1.0, 2.0]


def test_bad_mesh_files_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "broken.obj"
    bad.write_text("v 0 0 zero\n")
    with pytest.raises(InputError, match="broken.obj.*malformed vertex"):
        load_vertices(str(bad))
    flat = tmp_path / "flat.obj"
    flat.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nv 1 1 0\nf 1 2 3\n")
    with pytest.raises(InputError, match="flat"):
        load_vertices(str(flat))
    (tmp_path / "x.ply").write_text("ply\n")
    with pytest.raises(InputError, match="x.ply: unsupported mesh format"):
        load_vertices(str(tmp_path / "x.ply"))
    with pytest.raises(InputError, match="missing.stl: mesh file not found"):
        load_vertices(str(tmp_path / "missing.stl"))


def test_a_mesh_cube_renders_like_the_box_primitive(mesh_dir: Path) -> None:
    """Same size, pose and camera: the OBJ cube's mask equals the box primitive's, whatever its face winding."""
    cam = Camera(intrinsics(150, 150, 64, 48), look_at(np.array([0.5, -0.7, 0.6]), np.array([0, 0, 0.1])), 128, 96)
    q = (0.0, 0.0, np.sin(0.3), np.cos(0.3))
    masks = []
    for obj in (ObjectSpec("box", (0.2, 0.2, 0.2), (0.0, 0.0, 0.1), q),
                ObjectSpec("mesh", (0.2, 0.2, 0.2), (0.0, 0.0, 0.1), q, mesh_path=str(mesh_dir / "crate.obj"))):
        _, gt = render_ground_truth(Scene(objects=(obj,), ground=Ground(visible=False), light=Light(shadows=False)),
                                    cam, settle=False)
        masks.append(gt.masks[0])
        n = gt.normals[gt.masks[0]]
        assert np.allclose(np.linalg.norm(n, axis=1)[np.linalg.norm(n, axis=1) > 0], 1.0, atol=1e-4)
    assert (masks[0] != masks[1]).sum() <= 0.002 * masks[0].sum() + 2


def test_mesh_source_end_to_end(mesh_dir: Path) -> None:
    src = build_source(RenderConfig(type="render", count=8, width=96, height=96, meshes=["meshes"], shapes=["sphere"],
                             degrade="none"), mesh_dir.parent)
    assert src.class_ids == {"sphere": 1, "crate": 2, "wedge": 3}
    seen = set()
    for i in range(6):
        a = make_sample(src, i, 0).annotations
        seen |= set(a.categories)
        np.testing.assert_allclose(a.boxes, boxes_from_masks(a.masks))
        for m, kp, v, ia in zip(a.masks, a.keypoints, a.visibility, a.instance_attributes, strict=True):
            box = ia["amodal_box"]
            assert box[0] <= m.any(0).argmax() + 1 and box[2] >= len(m[0]) - m.any(0)[::-1].argmax() - 1
            for (x, y), vis in zip(kp, v, strict=True):
                if vis == VISIBLE:
                    assert m[int(y), int(x)]
    assert {"crate", "wedge"} <= seen


def test_photo_backgrounds_fill_the_empty_pixels(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    yy, xx = np.mgrid[0:120, 0:160]
    for k in range(2):
        img = np.stack([xx * 1.5, yy * 2.0, np.full_like(xx, 80 * k)], -1).astype(np.uint8)
        (photos / f"p{k}.png").write_bytes(encode_image(img))
    (photos / "notes.txt").write_text("not a photo")
    cfg = RenderConfig(type="render", count=4, width=64, height=64, backgrounds="photos", degrade="none",
                       elevation_deg=(5.0, 12.0), distance=(1.4, 1.5))
    src = build_source(cfg, tmp_path)
    hits = 0
    for i in range(4):
        s = make_sample(src, i, 0)
        empty = s.annotations.depth == 0
        if not empty.any():
            continue
        hits += 1
        cam = Camera(s.annotations.extras["camera"]["K"], s.annotations.extras["camera"]["world_to_camera"], 64, 64)
        bg = s.provenance.params["scene"]["background"]
        assert bg["kind"] == "photo" and Path(bg["path"]).name in ("p0.png", "p1.png")
        expected = bake_background(Background("photo", path=bg["path"]), 64, 64, background_crop(cam))
        np.testing.assert_array_equal(s.image[empty], expected[empty])
    assert hits >= 1
    (tmp_path / "nophotos").mkdir()
    (tmp_path / "nophotos" / "readme.txt").write_text("x")
    with pytest.raises(InputError, match="nophotos.*no .png"):
        build_source(RenderConfig(type="render", count=1, backgrounds="nophotos"), tmp_path)
