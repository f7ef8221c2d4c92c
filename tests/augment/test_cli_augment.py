"""`fakevision augment` as a user runs it, on the real data sets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

FV = [sys.executable, "-m", "fakevision.cli"]


def fv(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*FV, *args], capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_per_class_with_ops_file_on_csv(shared_data: Path, tmp_path: Path) -> None:
    ops = tmp_path / "ops.yaml"
    ops.write_text("ops:\n  - {op: HorizontalFlip, p: 0.5}\n  - {op: Rotate, angle: [-15, 15]}\n")
    out = tmp_path / "o"
    r = fv("augment", str(shared_data / "orl_att_faces" / "labels.csv"), "--label-column", "subject_id",
           "--recipe", str(ops), "--per-class", "11", "--out", str(out), "-q")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(x) for x in (out / "manifest.jsonl").read_text().splitlines()]
    assert len(rows) == 38 * 11
    per_class: dict[str, int] = {}
    for row in rows:
        per_class[row["label"]] = per_class.get(row["label"], 0) + 1
        assert row["provenance"]["parents"]
    assert set(per_class.values()) == {11}
    assert len(list((out / "images").iterdir())) == 38  # image folder: one subfolder per class


def test_iris_phone_preset_on_tar_keeps_masks(shared_data: Path, tmp_path: Path) -> None:
    from fakevision.io.dataset import FakevisionDataset

    out = tmp_path / "iris"
    r = fv("augment", str(shared_data / "mmu_iris_masks" / "mmu_iris_images_and_masks.tar.xz"),
           "--preset", "iris-phone", "--count", "6", "--out", str(out), "-q")
    assert r.returncode == 0, r.stderr
    ds = FakevisionDataset(out)
    for i in range(len(ds)):
        s = ds.to_sample(i)
        m = s.annotations.masks[0]
        ys, xs = m.nonzero()
        assert xs.size > 0
        assert list(s.annotations.boxes[0]) == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
        assert xs.max() + 1 - xs.min() < 100  # the preset's phone-quality iris is under 100 px across


@pytest.mark.slow
def test_bad_augment_inputs_exit_2(shared_data: Path, tmp_path: Path) -> None:
    r = fv("augment", str(shared_data / "orl_att_faces" / "labels.csv"), "--preset", "face", "--out",
           str(tmp_path / "x"))
    assert r.returncode == 2 and "use --label-column" in r.stderr and "Traceback" not in r.stderr
    r = fv("augment", str(tmp_path / "missing"), "--preset", "face", "--out", str(tmp_path / "x"))
    assert r.returncode == 2 and "missing" in r.stderr
    r = fv("augment", str(shared_data / "faces_68pt" / "afw"), "--preset", "nope", "--out", str(tmp_path / "x"))
    assert r.returncode == 2 and "unknown preset 'nope'" in r.stderr, r.stderr
    r = fv("augment", str(shared_data / "faces_68pt" / "afw"), "--out", str(tmp_path / "x"))
    assert r.returncode == 2 and "exactly one of --preset" in r.stderr
