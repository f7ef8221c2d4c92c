"""Backends: the local engine and Ray give the same bytes for any number of workers; errors name the shard."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from fakevision.core.errors import EngineError, SourceError
from fakevision.engine import Recipe, make
from fakevision.engine.backend import get_backend
from tests.engine.helpers import tree_digest

RECIPE = {
    "name": "engines",
    "seed": 4,
    "shard_size": 3,
    "sources": [{"type": "test_squares", "count": 7}, {"type": "test_squares", "name": "b", "count": 4}],
    "outputs": [{"format": "coco"}, {"format": "webdataset"}, {"format": "manifest"}, {"format": "imagefolder"}],
}


def faulty(**cfg: object) -> Recipe:
    return Recipe.from_dict({**RECIPE, "sources": [{"type": "test_faulty", "count": 10, **cfg}]})


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    out = tmp_path_factory.mktemp("ref") / "o"
    make(Recipe.from_dict(RECIPE), out)
    return tree_digest(out)


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_ray_output_is_byte_identical_to_local(tmp_path: Path, reference: dict[str, str], ray_address: str,
                                               workers: int) -> None:
    seen: list[int] = []
    res = make(Recipe.from_dict(RECIPE), tmp_path / "o", workers=workers, engine="ray",
               progress=lambda done, total: seen.append(done))
    assert (res.total, res.made) == (11, 11)
    assert tree_digest(tmp_path / "o") == reference
    assert seen[0] == 0 and seen[-1] == 11 and seen == sorted(seen) and len(seen) == 5  # one tick per shard


@pytest.mark.slow
def test_local_workers_2_is_byte_identical(tmp_path: Path, reference: dict[str, str]) -> None:
    make(Recipe.from_dict(RECIPE), tmp_path / "o", workers=2)
    assert tree_digest(tmp_path / "o") == reference


def test_missing_ray_is_one_line_with_the_install_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError, as without the extra
    with pytest.raises(EngineError, match=r"^--engine ray needs Ray, which is not installed: pip install "
                                          r"'fakevision\[ray\]'$"):
        make(Recipe.from_dict(RECIPE), tmp_path / "o", engine="ray")


def test_bad_engine_arguments_are_refused() -> None:
    with pytest.raises(EngineError, match="unknown engine 'spark'"):
        get_backend("spark")
    with pytest.raises(EngineError, match="--address applies to --engine ray only"):
        get_backend("local", address="auto")
    with pytest.raises(EngineError, match="workers must be >= 1"):
        get_backend("ray", workers=0)


def _check_source_error(err: BaseException) -> None:
    msg = str(err)
    assert "shard 2 (samples 6..8)" in msg and "source 'test_faulty' failed on sample 7" in msg, msg
    assert "ValueError: boom at 7" in msg and "helpers.py:" in msg, msg


def test_source_error_names_shard_and_sample_in_process(tmp_path: Path) -> None:
    with pytest.raises(SourceError) as e:
        make(faulty(at=7), tmp_path / "o")
    _check_source_error(e.value)
    assert isinstance(e.value.__cause__, ValueError)  # in-process: the original traceback stays attached
    assert sorted(p.name for p in (tmp_path / "o" / ".state" / "shards").iterdir()) == ["000000.done", "000001.done"]


@pytest.mark.slow
def test_source_error_names_shard_and_sample_local_workers(tmp_path: Path) -> None:
    with pytest.raises(SourceError) as e:
        make(faulty(at=7), tmp_path / "o", workers=2)
    _check_source_error(e.value)


@pytest.mark.slow
def test_source_error_names_shard_and_sample_ray(tmp_path: Path, ray_address: str) -> None:
    with pytest.raises(SourceError) as e:
        make(faulty(at=7), tmp_path / "o", workers=2, engine="ray")
    _check_source_error(e.value)


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["local", "ray"])
def test_workers_write_their_shards_to_s3(tmp_path: Path, reference: dict[str, str], s3_server, engine: str,
                                          request: pytest.FixtureRequest) -> None:
    from fakevision.io.storage import as_storage
    from tests.io.test_storage import store_digest

    if engine == "ray":
        request.getfixturevalue("ray_address")
    url = s3_server.bucket() + "/out"
    make(Recipe.from_dict(RECIPE), url, workers=2, engine=engine)
    assert store_digest(as_storage(url)) == reference


def test_a_ray_runtime_that_does_not_start_is_one_line() -> None:
    from fakevision.engine.ray_backend import RayBackend

    class Unstartable:  # what Ray does on a machine too loaded for its node to come up in time
        @staticmethod
        def is_initialized() -> bool:
            return False

        @staticmethod
        def init(**_: object) -> None:
            raise Exception("The current node timed out during startup. This could happen because ...")  # noqa: TRY002

    with pytest.raises(EngineError, match=r"^cannot start or join a local Ray runtime: The current node timed out"):
        RayBackend()._connect(Unstartable())
    with pytest.raises(EngineError, match=r"^cannot start or join the Ray cluster at 'ray://h:10001': The current"):
        RayBackend(address="ray://h:10001")._connect(Unstartable())
