"""Faults a long run meets, each ending in the bytes of an uninterrupted run: a worker process killed mid-shard
(local engine and Ray), Ctrl-C (SIGINT) then a rerun, a write error on the object store then a rerun."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from fakevision.core.errors import EngineError, OutputError
from fakevision.engine import Recipe, make
from tests.engine.helpers import tree_digest

REPO = Path(__file__).resolve().parents[2]
OUTPUTS = [{"format": "coco"}, {"format": "webdataset"}, {"format": "manifest"}, {"format": "imagefolder"}]


def recipe(**cfg: object) -> dict:
    return {"name": "faults", "seed": 5, "shard_size": 3, "outputs": OUTPUTS,
            "sources": [{"type": "test_faulty", "count": 12, **cfg}]}


def reference(tmp_path: Path, data: dict) -> dict[str, str]:
    """The uninterrupted run's files (in this process: a ``die`` fault's marker exists, so nobody dies)."""
    marker = data["sources"][0].get("marker")
    if marker:
        Path(marker).write_text("reference run")
    make(Recipe.from_dict(data), tmp_path / "ref")
    if marker:
        Path(marker).unlink()
    return tree_digest(tmp_path / "ref")


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["local", "ray"])
def test_worker_killed_mid_shard_is_replaced_and_output_identical(tmp_path: Path, engine: str,
                                                                  request: pytest.FixtureRequest) -> None:
    if engine == "ray":
        request.getfixturevalue("ray_address")
    data = recipe(fault="die", at=7, marker=str(tmp_path / "died"))
    ref = reference(tmp_path, data)
    res = make(Recipe.from_dict(data), tmp_path / "o", workers=2, engine=engine)
    assert (tmp_path / "died").read_text().isdigit()  # a worker process really was SIGKILLed in shard 2
    assert res.made == 12 and tree_digest(tmp_path / "o") == ref


def test_temp_files_a_stopped_writer_left_are_gone_when_the_run_ends(tmp_path: Path) -> None:
    """When a dying worker breaks the pool, the other worker is stopped too, perhaps mid-write of a shard's tar: its
    temp file must not outlive the run (once seen as a stray empty ``webdataset/.fvtmp-<pid>-shard-000001.tar``).
    Here a source leaves such a file in the middle of a run; the finished output holds exactly the clean run's files
    (their bytes differ only by the recipe, which names the fault)."""
    ref = reference(tmp_path, recipe())
    litter = tmp_path / "o" / "webdataset" / ".fvtmp-4242-shard-000001.tar"
    make(Recipe.from_dict(recipe(fault="litter", at=7, marker=str(litter))), tmp_path / "o")
    assert not litter.exists() and sorted(tree_digest(tmp_path / "o")) == sorted(ref)


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["local", "ray"])
def test_worker_that_always_dies_gives_up_naming_the_shard(tmp_path: Path, engine: str,
                                                           request: pytest.FixtureRequest) -> None:
    if engine == "ray":
        request.getfixturevalue("ray_address")
    with pytest.raises(EngineError, match=r"^shard 2: its (Ray )?worker (process )?died 2 times .*max_retries=1"):
        make(Recipe.from_dict(recipe(fault="die_always", at=7)), tmp_path / "o", workers=2, engine=engine,
             max_retries=1)


def _sigint_then_resume(tmp_path: Path, extra: list[str]) -> None:
    data = recipe(seconds=0.15)  # slow samples: time to interrupt
    ref = reference(tmp_path, data)
    rfile = tmp_path / "r.yaml"
    rfile.write_text(yaml.safe_dump(data))
    out = tmp_path / "o"
    # the CLI in a subprocess, with the test sources registered (python -m fakevision would not know them)
    cmd = [sys.executable, "-c", "import tests.engine.helpers, fakevision.cli as c; c.main()", "make", str(rfile),
           "--out", str(out), "-q", "--workers", "2", *extra]
    # SIGINT at its default, as a terminal's shell starts a command: pytest run in the background of a
    # non-interactive shell (`... &`, as CI scripts may) ignores SIGINT, and the child would inherit that
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    marks = out / ".state" / "shards"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and not (marks.is_dir() and len(list(marks.iterdir())) >= 1):
        time.sleep(0.02)
    assert proc.poll() is None, proc.communicate()
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole foreground process group
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    # the last line is ours (a runtime on a loaded machine may log its own warnings before it), and no traceback
    assert err.strip().splitlines()[-1] == "interrupted; rerun the same command to resume", err
    assert "Traceback" not in err, err
    assert not (out / ".state" / "complete").exists()
    frozen = tree_digest(out)
    time.sleep(1.0)
    assert tree_digest(out) == frozen  # nothing is still writing after the command returned
    again = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert "resumed" in again.stderr or again.stderr == ""
    assert tree_digest(out) == ref


@pytest.mark.slow
def test_sigint_stops_cleanly_and_resumes_local(tmp_path: Path) -> None:
    _sigint_then_resume(tmp_path, [])


@pytest.mark.slow
def test_sigint_stops_cleanly_and_resumes_ray(tmp_path: Path, ray_address: str) -> None:
    _sigint_then_resume(tmp_path, ["--engine", "ray", "--address", ray_address])


@pytest.mark.slow
def test_object_store_write_error_keeps_earlier_shards_and_resumes(tmp_path: Path, s3_server) -> None:
    from fakevision.io.storage import as_storage
    from tests.io.test_storage import store_digest

    data = recipe()
    ref = reference(tmp_path, data)
    url = s3_server.bucket() + "/out"
    store = as_storage(url)

    def server_goes_away(done: int, total: int) -> None:
        if done == 6:  # after shard 1: the next write meets a dead endpoint
            s3_server.stop()

    try:
        with pytest.raises(OutputError, match=rf"^{url}/.*: write failed \(EndpointConnectionError: Could not "
                                              r"connect"):
            make(Recipe.from_dict(data), url, progress=server_goes_away)
    finally:
        s3_server.start()
    assert store.list(".state/shards") == ["000000.done", "000001.done"]
    partial = store_digest(store)
    for k, v in partial.items():  # every file written before the error is whole and as in the reference
        if not k.startswith(".state/"):  # run state is deleted when the run finishes
            assert ref[k] == v, k
    res = make(Recipe.from_dict(data), url)
    assert res.resumed_shards == 2 and store_digest(store) == ref
