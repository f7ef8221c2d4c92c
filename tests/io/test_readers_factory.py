"""open_reader / format detection / ReaderSpec validation / the ``dataset`` source."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from fakevision.augment.source import DatasetSourceConfig
from fakevision.core.errors import InputError, RecipeError, SourceError
from fakevision.core.source import build_source, make_sample, source_types
from fakevision.io.images import encode_image
from fakevision.io.readers import ReaderSpec, detect_format, open_reader


def img(path: Path, h: int = 6, w: int = 8) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode_image(np.zeros((h, w, 3), np.uint8)))


@pytest.fixture()
def layouts(tmp_path: Path) -> dict[str, Path]:
    """One tiny data set per format."""
    out: dict[str, Path] = {}
    img(tmp_path / "folder" / "cat" / "1.png")
    out["folder"] = tmp_path / "folder"
    img(tmp_path / "csv" / "a.png")
    (tmp_path / "csv" / "labels.csv").write_text("path,y\na.png,1\n")
    out["csv"] = tmp_path / "csv" / "labels.csv"
    img(tmp_path / "coco" / "a.png")
    (tmp_path / "coco" / "c.json").write_text(json.dumps(
        {"images": [{"id": 1, "file_name": "a.png", "width": 8, "height": 6}], "annotations": [], "categories": []}))
    out["coco"] = tmp_path / "coco" / "c.json"
    img(tmp_path / "pts" / "x" / "f.png")
    (tmp_path / "pts" / "x" / "f.pts").write_text("{\n" + "2 2\n" * 68 + "}\n")
    out["pts"] = tmp_path / "pts"
    img(tmp_path / "lm" / "a.png")
    (tmp_path / "lm" / "a.json").write_text(json.dumps({"shapes": [], "imagePath": "a.png"}))
    out["labelme"] = tmp_path / "lm"
    img(tmp_path / "mp" / "images" / "a.png")
    img(tmp_path / "mp" / "masks" / "a.png")
    out["mask_pairs"] = tmp_path / "mp"
    with tarfile.open(tmp_path / "mp.tar.gz", "w:gz") as t:
        t.add(tmp_path / "mp", arcname="mp")
    out["mask_pairs_tar"] = tmp_path / "mp.tar.gz"
    img(tmp_path / "dlib" / "a.png")
    (tmp_path / "dlib" / "f.xml").write_text("<dataset><images><image file='a.png'/></images></dataset>")
    out["dlib"] = tmp_path / "dlib" / "f.xml"
    img(tmp_path / "flat" / "a.png")  # the most common thing a user has: a folder of images, no labels
    (tmp_path / "flat" / "notes.txt").write_text("taken with my phone")
    out["folder_flat"] = tmp_path / "flat"
    from tests.io.test_writers import make_samples, write_run

    write_run(tmp_path / "fv", make_samples(1), formats=["coco", "manifest"])
    # A render recipe mentions "shapes", which once made the folder look like labelme's.
    (tmp_path / "fv" / "recipe.json").write_text(json.dumps({"sources": [{"type": "render", "shapes": ["box"]}]}))
    out["fakevision"] = tmp_path / "fv"
    return out


def test_detect_and_open_every_format(layouts: dict[str, Path], tmp_path: Path) -> None:
    for key, path in layouts.items():
        fmt = key.removesuffix("_tar").removesuffix("_flat")
        assert detect_format(path) == fmt, key
        opts = {"label_column": "y"} if fmt == "csv" else {}
        if fmt == "mask_pairs":
            opts["cache_dir"] = tmp_path / "cache"
        r = open_reader("auto", path, **opts)
        assert r.format == fmt and len(r) == 1
        # Read data says where it was read from; a fakevision output's samples keep what made them.
        assert r[0].provenance.source == ("synth" if fmt == "fakevision" else f"read:{fmt}"), key


def test_unknown_layout_lists_formats(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(InputError) as e:
        open_reader("auto", tmp_path)
    msg = str(e.value)
    assert str(tmp_path) in msg and "cannot tell the data set format" in msg and "give format: one of" in msg
    assert all(f in msg for f in ("coco", "labelme", "pts", "mask_pairs", "folder", "csv", "dlib", "fakevision"))


def test_flat_folder_reads_unlabelled_and_output_reads_back_exactly(layouts: dict[str, Path]) -> None:
    flat = open_reader("folder", layouts["folder_flat"])
    assert flat.ids == ["a.png"] and flat.labels == [None] and flat[0].annotations.label is None
    from fakevision.io.dataset import FakevisionDataset

    out = open_reader("auto", layouts["fakevision"])
    want = FakevisionDataset(layouts["fakevision"]).to_sample(0)
    got = out[0]
    assert got.id == want.id and out.labels == [want.annotations.label]
    np.testing.assert_array_equal(got.image, want.image)
    np.testing.assert_array_equal(got.annotations.boxes, want.annotations.boxes)
    np.testing.assert_array_equal(got.annotations.keypoints, want.annotations.keypoints)
    assert open_reader("fakevision", layouts["fakevision"], mode="L")[0].image.shape[2] == 1


def test_csv_auto_without_label_column_is_clear(layouts: dict[str, Path]) -> None:
    with pytest.raises(InputError) as e:
        open_reader("auto", layouts["csv"])
    assert str(layouts["csv"]) in str(e.value) and "label_column" in str(e.value)


def test_open_reader_rejects_options_of_other_formats(layouts: dict[str, Path]) -> None:
    with pytest.raises(ValueError, match=r"\['label_column'\] do not apply to format 'coco'"):
        open_reader("coco", layouts["coco"], label_column="y")
    with pytest.raises(ValueError, match="unknown reader format 'yolo'"):
        open_reader("yolo", layouts["coco"])


def test_reader_spec_validation() -> None:
    spec = ReaderSpec.model_validate(
        {"format": "csv", "path": "l.csv", "label_column": "gender", "label_names": {0: "male", 1: "female"}})
    assert spec.label_names == {"0": "male", "1": "female"}
    with pytest.raises(ValidationError, match="extra"):
        ReaderSpec.model_validate({"format": "coco", "path": "a.json", "colour": "red"})
    with pytest.raises(ValidationError, match=r"\['threshold'\] do not apply to format 'coco'"):
        ReaderSpec.model_validate({"format": "coco", "path": "a.json", "threshold": 3})
    with pytest.raises(ValidationError, match="needs label_column"):
        ReaderSpec.model_validate({"format": "csv", "path": "l.csv"})
    with pytest.raises(ValidationError):
        ReaderSpec.model_validate({"format": "yolo", "path": "x"})


def test_reader_spec_resolves_relative_paths_against_base_dir(layouts: dict[str, Path]) -> None:
    base = layouts["csv"].parent.parent
    spec = ReaderSpec(format="csv", path="csv/labels.csv", label_column="y", image_root="csv")
    r = spec.open(base)
    assert len(r) == 1 and r[0].id == "a.png"


def test_dataset_source_passes_samples_through(layouts: dict[str, Path]) -> None:
    assert "dataset" in source_types()
    base = layouts["folder"].parent
    cfg = DatasetSourceConfig.model_validate({"type": "dataset", "count": 1, "input": {"path": "folder"}})
    src = build_source(cfg, base)
    assert src.name == "dataset"
    s = make_sample(src, 0)
    ref = open_reader("folder", layouts["folder"])[0]
    assert s.id == ref.id and np.array_equal(s.image, ref.image) and s.provenance == ref.provenance
    with pytest.raises(SourceError, match="source 'dataset' failed on sample 1: IndexError"):
        make_sample(src, 1)
    too_many = DatasetSourceConfig.model_validate({"count": 2, "input": {"format": "folder", "path": "folder"}})
    with pytest.raises(RecipeError, match="count 2 must be between 0 and the 1 samples"):
        build_source(too_many, base)
    with pytest.raises(ValidationError):
        DatasetSourceConfig.model_validate({"count": 1, "input": {"path": "folder"}, "colour": 1})


def test_recipe_with_dataset_source_runs_end_to_end(layouts: dict[str, Path], tmp_path: Path) -> None:
    """A recipe reading real samples (relative path against the recipe's folder) writes them unchanged."""
    from fakevision.engine.recipe import Recipe
    from fakevision.engine.run import make

    base = layouts["mask_pairs_tar"].parent
    recipe = Recipe.from_dict(
        {"sources": [{"type": "dataset", "count": 1,
                      "input": {"path": "mp.tar.gz", "category": "iris", "cache_dir": "cache"}}],
         "outputs": [{"format": "manifest"}]},
        base_dir=base,
    )
    res = make(recipe, tmp_path / "out")
    assert (res.total, res.made) == (1, 1)
    text = (tmp_path / "out" / "manifest.jsonl").read_text()
    assert '"read:mask_pairs"' in text and "mp/images/a.png" in text and str(base) not in text
    assert len(list((base / "cache").glob("*.tar"))) == 1
