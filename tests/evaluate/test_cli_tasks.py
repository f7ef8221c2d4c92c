"""``fakevision evaluate downstream --task landmarks|segmentation`` and ``fakevision evaluate table`` on the real
shared sets with tiny settings (the real tables take hours; these check the commands end to end: a recipe made
first, the few-labels regime, fake only, JSON/Markdown/plot, the report, resuming, and one-line errors)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

FV = [sys.executable, "-m", "fakevision.cli"]
pytestmark = pytest.mark.slow


def fv(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*FV, *args], capture_output=True, text=True, timeout=900)


def test_landmarks_downstream_with_a_gan_recipe(shared_data: Path, tmp_path: Path) -> None:
    recipe = tmp_path / "faces.yaml"
    recipe.write_text("sources: [{type: gan_faces, count: 40}]\noutputs: [coco, manifest]\n")
    out = tmp_path / "lm"
    r = fv("evaluate", "downstream", str(shared_data / "faces_68pt"), str(recipe), "--task", "landmarks", "--out",
           str(out), "--steps", "2", "--seeds", "2", "--ratios", "0,1,inf", "--real-n", "20", "--fake-n", "16")
    assert r.returncode == 0, r.stderr
    res = json.loads((out / "protocol.json").read_text())
    assert res["task"] == "landmarks" and res["n_test"] == 330 and res["real_n"] == 20
    assert res["n_train"] + res["n_val"] == 870 + 337  # helen_train + afw
    assert [row["ratio"] for row in res["rows"]] == [0.0, 1.0, "inf"]
    assert {run["n_fake"] for run in res["runs"] if run["ratio"] == "inf"} == {16}
    assert {m["name"] for m in res["metrics"]} == {"nme", "fr10", "auc08"}
    assert (out / "protocol.png").exists() and "NME" in (out / "protocol.md").read_text()
    r = fv("report", str(out))
    assert r.returncode == 0, r.stderr
    assert "fake:real" in (out / "report.html").read_text()


def test_segmentation_downstream_on_the_mmu_archive(shared_data: Path, tmp_path: Path) -> None:
    recipe = tmp_path / "eyes.yaml"
    recipe.write_text("sources: [{type: render_eye, count: 12, width: 160, height: 120, appearance: nir}]\n"
                      "outputs: [coco, manifest]\n")
    out = tmp_path / "seg"
    r = fv("evaluate", "downstream", str(shared_data / "mmu_iris_masks" / "mmu_iris_images_and_masks.tar.xz"),
           str(recipe), "--task", "segmentation", "--category", "iris", "--size", "64x48", "--out", str(out),
           "--steps", "2", "--seeds", "2", "--ratios", "0,1", "--real-n", "10")
    assert r.returncode == 0, r.stderr
    res = json.loads((out / "protocol.json").read_text())
    assert res["task"] == "segmentation" and res["classes"] == ["background", "iris"]
    assert res["n_train"] + res["n_val"] + res["n_test"] == 450 and res["n_test"] == 150  # 15 of 45 subjects
    assert "iou_iris" in res["rows"][1] and "diff_vs_real_only" in res["rows"][1]


def test_table_runs_resumes_and_parallel_runs_agree(shared_data: Path, tmp_path: Path) -> None:
    table = tmp_path / "t.yaml"
    table.write_text("""
name: tiny
task: landmarks
real: {path: faces_68pt, test_group: helen_test, n_val: 30}
size: 32
seeds: 2
real_n: [10, all]
train: {steps: 2, batch_size: 8, validate_every: 1, aug_pool: 32}
fakes:
  gan: {recipe: gan.yaml}
rows:
  - {name: real only}
  - {name: + augmentation, augment: face}
  - {name: + gan, fake: {gan: 12}}
  - {name: gan only, fake: {gan: 12}, real: false}
""")
    (tmp_path / "gan.yaml").write_text("sources: [{type: gan_faces, count: 24}]\noutputs: [coco, manifest]\n")
    args = ["evaluate", "table", str(table), "--data-root", str(shared_data)]
    first = fv(*args, "--out", str(tmp_path / "a"), "--real-n", "10")  # one column first (+ the fake-only row)
    assert first.returncode == 0, first.stderr
    assert len((tmp_path / "a" / "runs.jsonl").read_text().splitlines()) == 3 * 2 + 2
    assert list((tmp_path / "a" / "cache").glob("*.pkl"))  # decoded once per table, reused on resume
    r = fv(*args, "--out", str(tmp_path / "a"))
    assert r.returncode == 0, r.stderr
    assert "8 on file" in r.stderr and "reading the real set" in r.stderr
    md = (tmp_path / "a" / "task_table.md").read_text()
    assert "N real = 10" in md and "gan only (no real label)" in md and "±" in md
    res = json.loads((tmp_path / "a" / "task_table.json").read_text())
    assert [len(row["cells"]) for row in res["rows"]] == [2, 2, 2, 2]
    only = res["rows"][3]["cells"]  # fake only: one set of runs, compared with each column's real-only row
    assert only["10"]["nme"]["values"] == only["all"]["nme"]["values"]
    runs = (tmp_path / "a" / "runs.jsonl").read_text().splitlines()
    assert len(runs) == 3 * 2 * 2 + 2
    again = fv(*args, "--out", str(tmp_path / "a"))
    assert again.returncode == 0 and "0 runs to do" in again.stderr
    assert (tmp_path / "a" / "runs.jsonl").read_text().splitlines() == runs
    par = fv(*args, "--out", str(tmp_path / "b"), "--workers", "2")
    assert par.returncode == 0, par.stderr

    def by_key(lines: list[str]) -> dict[tuple[str, str, int], float]:
        return {(d["row"], str(d["real_n"]), d["seed"]): d["nme"] for d in map(json.loads, lines)}

    assert by_key((tmp_path / "b" / "runs.jsonl").read_text().splitlines()) == by_key(runs)
    r = fv("report", str(tmp_path / "a"))
    assert r.returncode == 0, r.stderr
    assert "N real = 10" in (tmp_path / "a" / "report.html").read_text()


def test_bad_inputs_are_one_line(shared_data: Path, tmp_path: Path) -> None:
    csv = shared_data / "orl_att_faces" / "labels.csv"
    r = fv("evaluate", "downstream", str(shared_data / "faces_68pt"), str(csv), "--task", "landmarks", "--out",
           str(tmp_path / "x"), "--steps", "1", "--seeds", "1")
    assert r.returncode == 2 and "Traceback" not in r.stderr and "not 68 landmarks" in r.stderr, r.stderr
    r = fv("evaluate", "downstream", str(shared_data / "faces_68pt"), str(shared_data / "faces_68pt" / "afw"),
           "--task", "landmarks", "--out", str(tmp_path / "y"), "--steps", "1", "--seeds", "1", "--real-n", "5000")
    assert r.returncode == 2 and "--real-n" in r.stderr and "Traceback" not in r.stderr, r.stderr
    r = fv("evaluate", "table", "no-such-table", "--out", str(tmp_path / "z"))
    assert r.returncode == 2 and "built-in" in r.stderr and "Traceback" not in r.stderr, r.stderr
    r = fv("evaluate", "table", "iris", "--data-root", str(shared_data), "--out", str(tmp_path / "z"),
           "--real-n", "7")
    assert r.returncode == 2 and "no column real_n 7" in r.stderr and "Traceback" not in r.stderr, r.stderr
