"""Storage: the same contract on a local folder, fsspec's memory file system and a real S3 server (moto, on
127.0.0.1); outputs written to S3 are byte-identical to local ones and the torch Dataset reads them back."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import pytest

from fakevision.core.errors import OutputError
from fakevision.engine import Recipe, make
from fakevision.io.dataset import FakevisionDataset
from fakevision.io.storage import FsspecStorage, LocalStorage, Storage, as_storage
from tests.engine.helpers import tree_digest

RECIPE = {
    "name": "s3",
    "seed": 2,
    "shard_size": 3,
    "sources": [{"type": "test_squares", "count": 8}],
    "outputs": [{"format": "coco"}, {"format": "webdataset"}, {"format": "manifest"}, {"format": "imagefolder"}],
}


def store_digest(store: Storage) -> dict[str, str]:
    """sha256 of every object under a storage root, by relative path (as ``tree_digest`` for folders)."""
    assert isinstance(store, FsspecStorage)
    n = len(store.base.lstrip("/")) + 1
    return {f.lstrip("/")[n:]: hashlib.sha256(store.fs.cat_file(f)).hexdigest() for f in sorted(store.fs.find(
        store.base))}


@pytest.fixture(params=["local", "memory", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    if request.param == "local":
        return as_storage(tmp_path / "root")
    if request.param == "memory":
        return as_storage(f"memory://fv-{uuid.uuid4().hex}/root")
    return as_storage(request.getfixturevalue("s3_server").bucket() + "/some/prefix")


def test_storage_contract(store: Storage) -> None:
    assert store.is_empty() and not store.exists("a/b.txt") and store.list("a") == []
    store.prepare_root()
    store.write_bytes("a/b.txt", b"one")
    store.write_json("a/c.json", {"z": 1, "a": [1.5]})
    with store.writer("d/e.bin") as f:
        f.write(b"x" * 10)
        f.write(b"y")
    assert store.read_bytes("a/b.txt") == b"one" and store.read_bytes("a/c.json") == b'{"a":[1.5],"z":1}'
    assert store.list("a") == ["b.txt", "c.json"] and store.glob("*/*.txt") == ["a/b.txt"]
    assert store.is_file("d/e.bin") and not store.is_file("d") and not store.is_empty()
    with store.open_read("d/e.bin") as f:
        f.seek(9)
        assert f.read(2) == b"xy"
    with pytest.raises(FileNotFoundError):
        store.read_bytes("nope")
    with pytest.raises(ZeroDivisionError), store.writer("a/half.bin") as f:  # an error mid-write: nothing appears
        f.write(b"first half")
        _ = 1 / 0
    assert store.list("a") == ["b.txt", "c.json"] and store.remove_stale_temps() == 0
    store.write_bytes("a/b.txt", b"two")  # overwrite in place
    assert store.read_bytes("a/b.txt") == b"two"
    store.remove_all()
    assert store.is_empty()


def test_local_paths_and_urls_map_to_their_storage(tmp_path: Path) -> None:
    assert isinstance(as_storage(tmp_path), LocalStorage) and isinstance(as_storage(f"file://{tmp_path}"), LocalStorage)
    assert isinstance(as_storage("memory://b/p"), FsspecStorage)
    s = as_storage("memory://b/p/")
    assert s.url("x/y") == "memory://b/p/x/y" and s.local_path is None


def test_missing_filesystem_package_is_one_line() -> None:
    with pytest.raises(OutputError, match=r"^nosuchproto://b/p: .*(not|unknown|Protocol)"):
        as_storage("nosuchproto://b/p")


@pytest.mark.slow
def test_make_to_s3_is_byte_identical_to_local_and_reads_back(tmp_path: Path, s3_server) -> None:
    r = Recipe.from_dict(RECIPE)
    make(r, tmp_path / "local")
    url = s3_server.bucket() + "/runs/a"
    res = make(r, url)
    assert res.out_dir == url and res.made == 8
    assert store_digest(as_storage(url)) == tree_digest(tmp_path / "local")
    for fmt in ("coco", "webdataset", "imagefolder"):
        remote, local = FakevisionDataset(url, format=fmt), FakevisionDataset(tmp_path / "local", format=fmt)
        assert len(remote) == len(local) == 8 and remote.ids() == local.ids()
        for i in (0, 7):
            a, b = remote[i], local[i]
            assert sorted(a) == sorted(b) and a["id"] == b["id"]
            assert all((a[k] == b[k]).all() for k in ("image", "boxes") if k in a), fmt
    assert FakevisionDataset(url).format == "coco"
    from fakevision.io.inspect import inspect_output

    info = inspect_output(url)  # validation of a bucket output: COCO loads, every manifest file is there
    assert info["num_samples"] == 8 and info["problem_counts"] == {} and info["path"] == url
    assert info["formats"] == ["coco", "webdataset", "imagefolder", "manifest"]
    assert FakevisionDataset(url + "/webdataset/shard-000001.tar").ids() == FakevisionDataset(
        tmp_path / "local/webdataset/shard-000001.tar").ids()
    again = make(r, url)  # a finished run: nothing to do, nothing rewritten
    assert again.already_finished and again.made == 0 and store_digest(as_storage(url)) == tree_digest(tmp_path / "local")


@pytest.mark.slow
def test_interrupted_s3_run_resumes_to_the_same_bytes(tmp_path: Path, s3_server) -> None:
    r = Recipe.from_dict(RECIPE)
    make(r, tmp_path / "local")
    url = s3_server.bucket() + "/run"

    def stop_after_two_shards(done: int, total: int) -> None:
        if done >= 6:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        make(r, url, progress=stop_after_two_shards)
    store = as_storage(url)
    assert store.list(".state/shards") == ["000000.done", "000001.done"] and not store.exists(".state/complete")
    res = make(r, url)
    assert res.resumed_shards == 2 and res.made == 2
    assert store_digest(store) == tree_digest(tmp_path / "local")


@pytest.mark.slow
def test_cli_make_writes_to_a_bucket(tmp_path: Path, s3_server) -> None:
    import subprocess
    import sys

    import yaml

    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump(RECIPE))
    url = s3_server.bucket() + "/cli"
    repo = Path(__file__).resolve().parents[2]
    cmd = [sys.executable, "-c", "import tests.engine.helpers, fakevision.cli as c; c.main()", "make", str(recipe),
           "--out", url, "-q"]
    r = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert f"wrote 8 samples to {url}" in r.stderr
    make(Recipe.from_dict(RECIPE), tmp_path / "local")
    assert store_digest(as_storage(url)) == tree_digest(tmp_path / "local")
    r = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, timeout=300)  # a finished run: a no-op
    assert r.returncode == 0 and "already holds the finished run" in r.stderr and "Traceback" not in r.stderr


def test_a_bucket_output_or_coco_file_is_the_input_of_the_next_run(tmp_path: Path, s3_server) -> None:
    """An output written to a bucket, or its COCO file, augments as the same output on disk does: same samples,
    same pixels and annotations, the URL kept as written (not folded into a path under the recipe's folder)."""
    import numpy as np

    from fakevision.core.errors import InputError
    from fakevision.core.source import resolve_paths
    from fakevision.io.readers import ReaderSpec, detect_format, open_reader

    r = Recipe.from_dict(RECIPE)
    make(r, tmp_path / "local")
    url = s3_server.bucket() + "/in"
    make(r, url)
    assert detect_format(url) == "fakevision" and detect_format(url + "/coco/annotations.json") == "coco"

    def augmented(path: str, out: Path, fmt: str = "auto") -> FakevisionDataset:
        src = {"type": "augment", "count": 8, "preset": "camera", "input": {"format": fmt, "path": path}}
        rec = Recipe.from_dict({"name": "next", "seed": 5, "sources": [src], "outputs": [{"format": "coco"}]},
                               base_dir=tmp_path)
        if "://" in path:
            assert resolve_paths(rec.sources[0], tmp_path).input.path == path
        make(rec, out)
        return FakevisionDataset(out)

    for remote, local, fmt in ((url, str(tmp_path / "local"), "auto"),
                               (url + "/coco/annotations.json", str(tmp_path / "local/coco/annotations.json"), "coco")):
        a, b = augmented(remote, tmp_path / f"a-{fmt}", fmt), augmented(local, tmp_path / f"b-{fmt}", fmt)
        assert a.ids() == b.ids() and len(a) == 8
        for i in range(8):
            x, y = a.to_sample(i), b.to_sample(i)
            assert np.array_equal(x.image, y.image) and np.array_equal(x.annotations.boxes, y.annotations.boxes)
            assert x.provenance.parents == y.provenance.parents and x.provenance.params == y.provenance.params
    spec = ReaderSpec(path=url)
    assert spec.path == url and len(spec.open(tmp_path)) == 8
    with pytest.raises(InputError, match="read from local folders only"):
        open_reader("folder", url)
    images = url + "/coco"  # a folder of images is no output and no COCO file
    with pytest.raises(InputError, match=r"in/coco: cannot tell the data set format .*give format: coco or fakevision"):
        detect_format(images)
    with pytest.raises(InputError, match="absent.json: not found"):
        detect_format(url + "/absent.json")
    with pytest.raises(InputError, match="nothing: not found"):
        detect_format(url + "/nothing")
    from typer.testing import CliRunner

    from fakevision.cli import app

    res = CliRunner().invoke(app, ["augment", url, "--preset", "camera", "--out", str(tmp_path / "cli"), "-q"])
    assert res.exit_code == 0, res.output
    assert FakevisionDataset(tmp_path / "cli").ids()[:2] == ["augment-000000", "augment-000001"]
