"""One id space for classes (issue 16): in an output, a class has one id whether a user reads it from the COCO
``category_id``, from the label map's pixel values, from WebDataset's ``info.json`` or from
``FakevisionDataset``'s ``labels``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fakevision.core import Annotations, Provenance, Sample
from fakevision.engine import Recipe, make
from fakevision.io.dataset import FakevisionDataset
from fakevision.io.records import class_ids
from tests.io.test_writers import write_run


def _check_one_id_space(out: Path) -> dict[str, int]:
    coco = json.loads((out / "coco" / "annotations.json").read_text())
    ids = {c["name"]: c["id"] for c in coco["categories"]}
    assert len(set(ids.values())) == len(ids)
    info = json.loads((out / "webdataset" / "info.json").read_text())
    assert info["category_ids"] == ids
    checked = 0
    for fmt in ("coco", "webdataset"):
        ds = FakevisionDataset(out, format=fmt)
        assert ds.category_ids == ids
        for i in range(len(ds)):
            item = ds[i]
            s = ds.to_sample(i)
            a = s.annotations
            assert item["labels"].tolist() == [ids[c] for c in a.categories]
            if a.label_map is None:
                continue
            for name_id, name in (a.label_names or {}).items():
                if name_id:
                    assert ids[name] == name_id, (name, name_id)  # the legend of the map is the category table
            for j, c in enumerate(a.categories):
                if a.masks is not None and a.masks[j].any():
                    values = np.unique(a.label_map[a.masks[j]])
                    assert values.tolist() == [ids[c]], (c, values)  # the instance's pixels carry its COCO id
                    checked += 1
    assert checked > 0
    return ids


@pytest.mark.slow
def test_render_scenes_and_faces_share_one_id_space(tmp_path: Path) -> None:
    """The default job's mix: rendered primitives (label maps) and a class without label maps (``face``)."""
    samples = []
    lm = np.zeros((8, 8), np.int32)
    lm[1:3, 1:3] = 3
    face = Sample(np.zeros((8, 8, 3), np.uint8), Annotations(categories=["face"], boxes=[[0, 0, 4, 4]]),
                  Provenance("faces", "face-0"))
    recipe = Recipe.from_dict({"seed": 0, "shard_size": 2, "outputs": ["coco", "webdataset"],
                               "sources": [{"type": "render", "count": 3, "width": 64, "height": 48}]})
    make(recipe, tmp_path / "r")
    rendered = FakevisionDataset(tmp_path / "r")
    samples = [rendered.to_sample(i) for i in range(len(rendered))] + [face]
    write_run(tmp_path / "o", samples, formats=["coco", "webdataset"])
    ids = _check_one_id_space(tmp_path / "o")
    assert ids == {"box": 1, "sphere": 2, "cylinder": 3, "face": 4}  # was box 1, cylinder 2, face 3, sphere 4


@pytest.mark.slow
def test_rendered_eyes_categories_take_their_label_map_ids(tmp_path: Path) -> None:
    recipe = Recipe.from_dict({"seed": 0, "shard_size": 2, "outputs": ["coco", "webdataset"],
                               "sources": [{"type": "render_eye", "count": 2}]})
    make(recipe, tmp_path / "e")
    ids = _check_one_id_space(tmp_path / "e")
    assert ids == {"skin": 1, "sclera": 2, "iris": 3, "pupil": 4}


def test_disagreeing_label_maps_keep_their_legends() -> None:
    """render (3 = cylinder) and render_eye (3 = iris) in one recipe: COCO cannot match both, so the later class
    gets an id no label map uses, and every label map keeps its own names (``label_names``) for readers."""
    ids = class_ids([[1, "box"], [3, "cylinder"], [3, "iris"], [4, "pupil"]], ["box", "cylinder", "iris", "pupil"])
    assert ids == {"box": 1, "iris": 2, "cylinder": 3, "pupil": 4}
    assert ids["iris"] not in (1, 3, 4)
