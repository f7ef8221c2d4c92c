"""The command line as a new user meets it in the first hour (issue 16): the progress bar with several workers, a
built-in recipe name beside a folder of the same name, reruns of finished runs, every kind of data set accepted by
``augment``, errors that name the flags the user has, readable help, ``inspect`` tables, and Ctrl-C while workers
start. One test per defect found by trying it as a new user."""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from fakevision.core.errors import OutputError
from fakevision.engine import Recipe, make
from fakevision.engine import shard as shard_mod
from fakevision.io.images import encode_image
from tests.engine.helpers import tree_digest

FV = [sys.executable, "-m", "fakevision.cli"]
SQUARES = {"name": "sq", "seed": 1, "shard_size": 4, "sources": [{"type": "test_squares", "count": 10}],
           "outputs": ["coco", "webdataset", "manifest"]}
RENDER = """\
name: tiny
seed: 0
shard_size: 2
sources:
  - {type: render, count: 12, width: 64, height: 48}
outputs: [coco, manifest]
"""


def fv(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*FV, *args], capture_output=True, text=True, cwd=cwd, timeout=600)


def cli(*args: str) -> tuple[int, str]:
    """Run the CLI in this process (fast); returns the exit code and stdout + stderr."""
    from fakevision.cli import app

    r = CliRunner().invoke(app, list(args))
    err = getattr(r, "stderr", "") if r.stderr_bytes is not None else ""
    return r.exit_code, r.stdout + err


def png(path: Path, value: int = 0, h: int = 24, w: int = 32) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = np.full((h, w, 3), value, np.uint8)
    img[4:12, 6:20] = 255 - value
    path.write_bytes(encode_image(img))


# --- make -------------------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_two_workers_report_every_shard_and_the_bar_shows_a_sane_rate(tmp_path: Path) -> None:
    recipe = Recipe.from_dict(__import__("yaml").safe_load(RENDER))
    calls: list[tuple[int, float]] = []
    make(recipe, tmp_path / "api", workers=2, progress=lambda done, total: calls.append((done, time.perf_counter())))
    # one report before the first shard and one per shard, each a step forward ...
    assert [d for d, _ in calls] == list(range(0, 13, 2)), calls
    # ... as the shard finishes, not all at the end: 6 shards on 2 workers are three rounds, so the reports fall
    # at >= 3 distinct moments (once all 6 came in the same microsecond, after the last shard)
    times = [t for _, t in calls[1:]]
    moments = 1 + sum(b - a > 0.01 for a, b in itertools.pairwise(times))
    assert moments >= 3, [round(t - calls[0][1], 3) for _, t in calls]
    (tmp_path / "r.yaml").write_text(RENDER)
    r = fv("make", str(tmp_path / "r.yaml"), "--out", str(tmp_path / "cli"), "--workers", "2")
    assert r.returncode == 0, r.stderr
    bar = re.findall(r"12/12\s+([\d,.]+) samples/s", r.stderr)
    made = re.search(r"wrote 12 samples .* \(([\d,.]+) samples/s made\)", r.stderr)
    assert bar and made, r.stderr
    bar_rate, run_rate = float(bar[-1].replace(",", "")), float(made.group(1).replace(",", ""))
    assert 0 < bar_rate < 3 * run_rate, (bar_rate, run_rate)  # was 4,097,035 samples/s


def test_a_builtin_name_wins_over_a_folder_of_that_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "eyes").mkdir()  # what 'fakevision make eyes --out eyes' leaves behind
    (tmp_path / "eyes" / "recipe.json").write_text("{}")
    assert Recipe.load("eyes").name == "eyes"
    with pytest.raises(Exception, match=r"eyes: is a folder, not a recipe file \(built-in recipes: .*eyes"):
        Recipe.load("./eyes")  # a path says "this file"
    (tmp_path / "default").write_text("name: mine\nsources: [{type: render, count: 1}]\n")
    assert Recipe.load("default").name == "mine"  # an existing *file* looks like a recipe file: it wins
    (tmp_path / "default").unlink()
    assert Recipe.load("default").origin == "builtin:default"


def test_rerunning_a_finished_make_is_a_successful_no_op(tmp_path: Path) -> None:
    r = Recipe.from_dict(SQUARES)
    first = make(r, tmp_path / "o")
    before = tree_digest(tmp_path / "o")
    again = make(r, tmp_path / "o")
    assert (first.made, again.made, again.already_finished) == (10, 0, True)
    assert tree_digest(tmp_path / "o") == before
    (tmp_path / "r.yaml").write_text(RENDER)
    assert fv("make", str(tmp_path / "r.yaml"), "--out", str(tmp_path / "c"), "-q").returncode == 0
    r2 = fv("make", str(tmp_path / "r.yaml"), "--out", str(tmp_path / "c"))
    assert r2.returncode == 0, r2.stderr
    assert "nothing to do" in r2.stderr and "already holds the finished run" in r2.stderr
    assert "samples/s" not in r2.stderr  # no progress bar for work that is not done


def test_a_finished_output_holds_only_what_users_load(tmp_path: Path) -> None:
    make(Recipe.from_dict({**SQUARES, "outputs": ["coco", "webdataset", "manifest", "imagefolder"]}), tmp_path / "o")
    top = sorted(p.name for p in (tmp_path / "o").iterdir())
    assert top == ["coco", "images", "manifest.jsonl", "recipe.json", "webdataset"], top
    assert not list((tmp_path / "o").rglob(".*")), "no hidden run state left behind"


def test_an_interrupted_cleanup_still_counts_as_finished(tmp_path: Path) -> None:
    r = Recipe.from_dict(SQUARES)
    make(r, tmp_path / "o")
    want = tree_digest(tmp_path / "o")
    (tmp_path / "o" / ".state" / "parts").mkdir(parents=True)  # as if killed while deleting the run state
    (tmp_path / "o" / ".state" / "complete").write_text("{}")
    (tmp_path / "o" / ".state" / "run.json").write_text("{}")
    assert make(r, tmp_path / "o").already_finished
    assert tree_digest(tmp_path / "o") == want


def test_other_runs_in_the_folder_are_named_by_what_differs(tmp_path: Path) -> None:
    r = Recipe.from_dict(SQUARES)
    make(r, tmp_path / "o")
    with pytest.raises(OutputError, match=r"holds a finished run with a different seed \(1 there, 9 now\)"):
        make(r.with_seed(9), tmp_path / "o")
    with pytest.raises(OutputError, match=r"with a different recipe \(sources\.0\.count: 10 there, 11 now\)"):
        make(Recipe.from_dict({**SQUARES, "sources": [{"type": "test_squares", "count": 11}]}), tmp_path / "o")


def _augment_recipe(path: Path) -> Recipe:
    return Recipe.from_dict({"seed": 0, "shard_size": 2, "outputs": ["coco", "manifest"],
                             "sources": [{"type": "augment", "count": 6, "preset": "camera",
                                          "input": {"path": str(path)}}]})


def test_changed_input_data_is_called_that(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for k in range(3):
        png(tmp_path / "a" / f"{k}.png", 40 * k)
        png(tmp_path / "b" / f"{k}.png", 50 * k)
    make(_augment_recipe(tmp_path / "a"), tmp_path / "o")
    with pytest.raises(OutputError, match=r"finished run with different input data \(sources\.0\.input\.path: "):
        make(_augment_recipe(tmp_path / "b"), tmp_path / "o")
    # Same recipe, same path, but the files changed under an unfinished run: refused, not mixed.
    real = shard_mod.run_shard

    def dies_on_shard_1(recipe, shard, out_dir):
        if shard == 1:
            raise OutputError("simulated crash")
        return real(recipe, shard, out_dir)

    monkeypatch.setattr("fakevision.engine.local.run_shard", dies_on_shard_1)
    with pytest.raises(OutputError, match="simulated"):
        make(_augment_recipe(tmp_path / "a"), tmp_path / "u")
    monkeypatch.setattr("fakevision.engine.local.run_shard", real)
    png(tmp_path / "a" / "1.png", 200)
    with pytest.raises(OutputError, match=r"unfinished run made from different input data \(the files read by "
                                          r"source\(s\) augment changed"):
        make(_augment_recipe(tmp_path / "a"), tmp_path / "u")
    assert make(_augment_recipe(tmp_path / "a"), tmp_path / "u", overwrite=True).made == 6


@pytest.mark.slow
def test_ctrl_c_while_workers_start_prints_one_line(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(RENDER.replace("count: 12", "count: 400"))
    out = tmp_path / "o"
    # Started as a terminal's shell starts a command: SIGINT at its default. pytest started in the background of a
    # non-interactive shell (`pytest ... &`, as CI scripts may) ignores SIGINT, and an ignored signal is inherited
    # through exec: the make would then rightly ignore the Ctrl-C, as any program does that starts with it ignored.
    proc = subprocess.Popen([*FV, "make", str(tmp_path / "r.yaml"), "--out", str(out), "--workers", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while not (out / "recipe.json").exists() and time.time() < deadline:  # the parent is about to start workers
        time.sleep(0.01)
    time.sleep(0.3)  # workers are importing now (a spawn start takes seconds)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole process group
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    lines = [ln for ln in err.splitlines() if ln.strip() and "samples/s" not in ln]
    assert lines == ["interrupted; rerun the same command to resume"], err
    assert not (out / ".state" / "complete").exists()


# --- augment: every kind of data set ------------------------------------------------------------------------------

@pytest.fixture()
def user_sets(tmp_path: Path) -> dict[str, Path]:
    """What users bring: a flat folder of photos, class folders, a COCO file, a CSV, a .pts folder, and an output of
    ours."""
    sets: dict[str, Path] = {}
    for k in range(3):
        png(tmp_path / "flat" / f"IMG_{k}.png", 30 * k)
        png(tmp_path / "classes" / ["cat", "dog"][k % 2] / f"{k}.png", 30 * k)
        png(tmp_path / "csv" / f"{k}.png", 30 * k)
        png(tmp_path / "pts" / f"{k}.png", 30 * k, h=40, w=40)
        (tmp_path / "pts" / f"{k}.pts").write_text("version: 1\nn_points: 68\n{\n" + "".join(
            f"{10 + (i % 17):.1f} {12 + i // 17:.1f}\n" for i in range(68)) + "}\n")
    sets["flat"], sets["classes"], sets["pts"] = tmp_path / "flat", tmp_path / "classes", tmp_path / "pts"
    (tmp_path / "csv" / "labels.csv").write_text("path,gender\n0.png,m\n1.png,f\n2.png,m\n")
    sets["csv"] = tmp_path / "csv" / "labels.csv"
    make(Recipe.from_dict({**SQUARES, "sources": [{"type": "test_squares", "count": 3}]}), tmp_path / "ours")
    sets["fakevision"] = tmp_path / "ours"
    sets["coco"] = tmp_path / "ours" / "coco" / "annotations.json"
    return sets


@pytest.mark.parametrize("kind", ["flat", "classes", "coco", "csv", "pts", "fakevision"])
def test_augment_accepts_every_kind_of_data_set(user_sets: dict[str, Path], tmp_path: Path, kind: str) -> None:
    extra = ["--label-column", "gender"] if kind == "csv" else []
    code, text = cli("augment", str(user_sets[kind]), "--preset", "camera", "--out", str(tmp_path / "aug"), "-q",
                     *extra)
    assert code == 0, text
    rows = [json.loads(x) for x in (tmp_path / "aug" / "manifest.jsonl").read_text().splitlines()]
    assert len(rows) == 3 and all(r["provenance"]["parents"] for r in rows)
    if kind == "fakevision":  # the parent is the very sample of the first run, not a re-read file
        assert {r["provenance"]["parents"][0] for r in rows} == {"test_squares-000000", "test_squares-000001",
                                                                 "test_squares-000002"}


def test_error_hints_name_the_flags_of_the_command(user_sets: dict[str, Path], tmp_path: Path) -> None:
    code, text = cli("augment", str(user_sets["csv"]), "--preset", "camera", "--out", str(tmp_path / "x"))
    assert code == 2 and "use --label-column" in text and "label_column:" not in text, text
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "notes.txt").write_text("?")
    code, text = cli("augment", str(tmp_path / "odd"), "--preset", "camera", "--out", str(tmp_path / "x"))
    assert code == 2 and "cannot tell the data set format; use --format (one of folder" in text, text
    code, text = cli("augment", str(user_sets["csv"]), "--preset", "camera", "--out", str(tmp_path / "x"),
                     "--label-column", "sex")
    assert code == 2 and "no column 'sex'; use --label-column (the column of labels, one of path, gender)" in text
    coco = json.loads(user_sets["coco"].read_text())
    coco["annotations"][0]["bbox"][0] = 30.0  # far outside the 32 px wide image
    bad = user_sets["coco"].with_name("bad.json")
    bad.write_text(json.dumps(coco))
    code, text = cli("augment", str(bad), "--preset", "camera", "--out", str(tmp_path / "x"), "--format", "coco")
    assert code == 2 and "use --input-option box_tolerance=VALUE" in text, text
    code, text = cli("augment", str(bad), "--preset", "camera", "--out", str(tmp_path / "x"), "--format", "coco",
                     "--input-option", "box_tolerance=40", "-q")
    assert code == 0, text
    code, text = cli("augment", str(bad), "--preset", "camera", "--out", str(tmp_path / "y"),
                     "--input-option", "colour=red")
    assert code == 2 and "--input-option colour: not a reader option" in text, text
    assert not (tmp_path / "y").exists()


# --- inspect and help ------------------------------------------------------------------------------------------------

def test_inspect_tables_show_formats_and_formatted_numbers(tmp_path: Path) -> None:
    make(Recipe.from_dict(SQUARES), tmp_path / "o")
    code, text = cli("inspect", str(tmp_path / "o"))
    assert code == 0, text
    assert "coco, webdataset, manifest (read: coco)" in text
    assert re.search(r"box width \(px\)\s*│\s*min \d", text), text
    assert not re.search(r"\d\.\d{5,}", text), "no long floats"
    assert "{'" not in text, "no dict reprs"


def _polished_commands() -> list[tuple[tuple[str, ...], object]]:
    from fakevision.cli import app
    from fakevision.cli_support import polish_help, walk_commands

    return list(walk_commands(polish_help(typer.main.get_command(app))))


def test_every_option_and_argument_has_help_and_a_readable_metavar() -> None:
    missing, ugly = [], []
    for path, cmd in _polished_commands():
        for p in getattr(cmd, "params", []):
            where = f"{' '.join(path)} {p.name}"
            if not (getattr(p, "help", None) or "").strip():
                missing.append(where)
            if p.metavar is None or re.search(r"[<>{}]", str(p.metavar)):
                ugly.append(f"{where}: {p.metavar!r}")
    assert not missing, f"options without help text: {missing}"
    assert not ugly, ugly


@pytest.mark.parametrize("verb", [("make",), ("augment",), ("smart",), ("evaluate", "downstream")])
def test_help_pages_read_cleanly(verb: tuple[str, ...]) -> None:
    r = fv(*verb, "--help")
    assert r.returncode == 0
    assert not re.search(r"<(bool|str|path|int range|list\[str\])>|\{[a-z_]+\}", r.stdout), r.stdout
