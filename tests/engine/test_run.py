"""The engine in-process: outputs, refusal to clobber, a write error mid-run, resume = straight run."""

from __future__ import annotations

from pathlib import Path

import pytest

from fakevision.core.errors import OutputError
from fakevision.engine import Recipe, make
from fakevision.engine import shard as shard_mod
from fakevision.io.atomic import TMP_MARK
from tests.engine.helpers import tree_digest

RECIPE = {
    "name": "t",
    "seed": 1,
    "shard_size": 4,
    "sources": [{"type": "test_squares", "count": 10}],
    "outputs": [{"format": "coco"}, {"format": "webdataset"}, {"format": "manifest"}, {"format": "imagefolder"}],
}


def test_make_writes_every_sample(tmp_path: Path) -> None:
    res = make(Recipe.from_dict(RECIPE), tmp_path / "o")
    assert (res.total, res.made) == (10, 10)
    assert len((tmp_path / "o" / "manifest.jsonl").read_text().splitlines()) == 10
    assert len(list((tmp_path / "o" / "webdataset").glob("*.tar"))) == 3


def test_existing_output_refused_without_overwrite(tmp_path: Path) -> None:
    r = Recipe.from_dict(RECIPE)
    make(r, tmp_path / "o")
    assert make(r, tmp_path / "o").already_finished  # the same recipe again: nothing to do
    with pytest.raises(OutputError, match=r"o: output folder already exists and holds a finished run with a "
                                          r"different seed \(1 there, 2 now\); use --overwrite"):
        make(r.with_seed(2), tmp_path / "o")
    before = tree_digest(tmp_path / "o")
    make(r, tmp_path / "o", overwrite=True)
    assert tree_digest(tmp_path / "o") == before


def test_overwrite_never_deletes_foreign_folder(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("precious")
    with pytest.raises(OutputError, match="not a fakevision output; refusing to delete"):
        make(Recipe.from_dict(RECIPE), tmp_path / "mine", overwrite=True)
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "precious"


def test_write_error_mid_run_keeps_earlier_shards_and_resumes_identically(tmp_path: Path, monkeypatch) -> None:
    r = Recipe.from_dict(RECIPE)
    straight = tmp_path / "straight"
    make(r, straight)

    real = shard_mod.run_shard
    blocker = tmp_path / "o" / "webdataset" / "shard-000002.tar"

    def failing(recipe, shard, out_dir):  # a folder squats where shard 2's tar must go: a real OS write error
        if shard == 2:
            (blocker / "squatter").mkdir(parents=True)
        return real(recipe, shard, out_dir)

    monkeypatch.setattr("fakevision.engine.local.run_shard", failing)
    out = tmp_path / "o"
    with pytest.raises(OutputError, match=r"shard-000002\.tar: write failed"):
        make(r, out)
    assert sorted(p.name for p in (out / ".state" / "shards").iterdir()) == ["000000.done", "000001.done"]
    assert not list(out.rglob(f"{TMP_MARK}*"))
    partial = tree_digest(out)
    monkeypatch.setattr("fakevision.engine.local.run_shard", real)
    (blocker / "squatter").rmdir()
    blocker.rmdir()
    res = make(r, out)
    assert res.resumed_shards == 2 and res.made == 2
    final = tree_digest(out)
    for k, v in partial.items():  # nothing already written was changed
        if not k.startswith(".state/run") and k in final:
            assert final[k] == v, k
    assert final == tree_digest(straight)
