"""The command line as a user runs it: real subprocesses, the render source, kill -9 and resume."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.engine.helpers import tree_digest

FV = [sys.executable, "-m", "fakevision.cli"]
RECIPE = """\
name: cli-test
seed: 3
shard_size: 4
sources:
  - type: render
    count: {count}
outputs:
  - format: coco
  - format: webdataset
  - format: manifest
"""


def fv(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*FV, *args], capture_output=True, text=True, cwd=cwd, timeout=600)


@pytest.fixture()
def recipe(tmp_path: Path) -> Path:
    p = tmp_path / "r.yaml"
    p.write_text(RECIPE.format(count=20))
    return p


@pytest.mark.slow
def test_workers_1_and_2_give_identical_files(tmp_path: Path, recipe: Path) -> None:
    a = fv("make", str(recipe), "--out", str(tmp_path / "w1"), "--workers", "1", "-q")
    assert a.returncode == 0, a.stderr
    b = fv("make", str(recipe), "--out", str(tmp_path / "w2"), "--workers", "2", "-q")
    assert b.returncode == 0, b.stderr
    da, db = tree_digest(tmp_path / "w1"), tree_digest(tmp_path / "w2")
    assert len(da) > 20 and da == db


@pytest.mark.slow
def test_kill_9_then_rerun_is_byte_identical(tmp_path: Path) -> None:
    recipe = tmp_path / "big.yaml"
    recipe.write_text(RECIPE.format(count=160))
    ref = fv("make", str(recipe), "--out", str(tmp_path / "ref"), "-q")
    assert ref.returncode == 0, ref.stderr
    out = tmp_path / "killed"
    proc = subprocess.Popen([*FV, "make", str(recipe), "--out", str(out), "--workers", "2", "-q"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    marks = out / ".state" / "shards"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if marks.is_dir() and len(list(marks.iterdir())) >= 3:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "run finished before it could be killed; make the recipe bigger"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / ".state" / "complete").exists()
    again = fv("make", str(recipe), "--out", str(out), "-q")
    assert again.returncode == 0, again.stderr
    assert tree_digest(out) == tree_digest(tmp_path / "ref")


@pytest.mark.slow
def test_bad_inputs_get_one_line_and_exit_2(tmp_path: Path, recipe: Path) -> None:
    r = fv("make", str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "x"))
    assert r.returncode == 2 and "missing.yaml: recipe file not found" in r.stderr
    assert "Traceback" not in r.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("sources:\n  - {type: render, count: 2, colour: red}\n")
    r = fv("make", str(bad), "--out", str(tmp_path / "x"))
    assert r.returncode == 2 and re.search(r"bad\.yaml: sources\.0\.colour: unknown key", r.stderr), r.stderr
    bad.write_text("sources:\n  - {type: render, count: -2}\n")
    r = fv("make", str(bad), "--out", str(tmp_path / "x"))
    assert r.returncode == 2 and "sources.0.count" in r.stderr, r.stderr
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    r = fv("make", str(recipe), "--out", str(tmp_path / "full"))
    assert r.returncode == 2 and "already exists" in r.stderr and "--overwrite" in r.stderr
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_inspect_report_recipes_and_help(tmp_path: Path, recipe: Path) -> None:
    out = tmp_path / "o"
    assert fv("make", str(recipe), "--out", str(out), "-q").returncode == 0
    r = fv("inspect", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "20 samples" in r.stdout and "no problems" in r.stdout
    r = fv("report", str(out))
    assert r.returncode == 0, r.stderr
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 20
    # offline: nothing to fetch (xmlns namespace names are identifiers, never fetched)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//|url\(\s*["']?(https?:)?//|@import""", html)
    r = fv("recipes")
    assert r.returncode == 0 and "default" in r.stdout
    for verb in ("make", "augment", "inspect", "report", "recipes"):
        h = fv(verb, "--help")
        assert h.returncode == 0 and "Usage" in h.stdout, verb
    r = fv("report", str(tmp_path / "nothing"))
    assert r.returncode == 2 and "nothing: output folder not found" in r.stderr
