"""`fakevision smart`, `evaluate downstream`, `evaluate smart-table` and `report` on a results folder, with tiny
settings (the real tables take hours; these check the commands work end to end and write what they promise)."""

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
def test_smart_then_downstream_then_report(shared_data: Path, tmp_path: Path) -> None:
    labels = str(shared_data / "orl_att_faces" / "labels.csv")
    sm = tmp_path / "sm"
    r = fv("smart", labels, "--label-column", "subject_id", "--out", str(sm), "--epochs", "1", "--count", "160")
    assert r.returncode == 0, r.stderr
    rows = (sm / "labels.csv").read_text().splitlines()
    assert len(rows) == 161
    manifest = [json.loads(x) for x in (sm / "manifest.jsonl").read_text().splitlines()]
    assert all(len(m["provenance"]["parents"]) >= 2 for m in manifest)  # k = 2 same-class parents
    ev = tmp_path / "ev"
    r = fv("evaluate", "downstream", labels, str(sm / "labels.csv"), "--label-column", "subject_id", "--out", str(ev),
           "--seeds", "2", "--ratios", "0,1", "--epochs", "2")
    assert r.returncode == 0, r.stderr
    res = json.loads((ev / "protocol.json").read_text())
    assert (ev / "protocol.png").exists() and (ev / "protocol.md").exists()
    assert len(json.dumps(res)) > 100
    r = fv("report", str(ev))
    assert r.returncode == 0, r.stderr
    html = (ev / "report.html").read_text()
    ev_html = html[html.index('<section id="evaluation">'):]
    assert "<svg" in ev_html and "fake:real" in ev_html and "accuracy" in ev_html  # the metric-vs-ratio plot, inline


@pytest.mark.slow
def test_smart_table_one_command(shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "t"
    r = fv("evaluate", "smart-table", "orl_identity", "--data-root", str(shared_data), "--out", str(out),
           "--conditions", "none;blend:k=2", "--seeds", "2", "--epochs", "1")
    assert r.returncode == 0, r.stderr
    table = (out / "table.md").read_text()
    assert "none" in table and "blend(k=2)" in table and "±" in table
    again = fv("evaluate", "smart-table", "orl_identity", "--data-root", str(shared_data), "--out", str(out),
               "--conditions", "none;blend:k=2", "--seeds", "2", "--epochs", "1")
    assert again.returncode == 0 and (out / "table.md").read_text() == table  # resumed, same numbers


@pytest.mark.slow
def test_downstream_not_enough_fake_images_is_one_line(shared_data: Path, tmp_path: Path) -> None:
    labels = shared_data / "orl_att_faces" / "labels.csv"
    import shutil

    for i in range(6):
        shutil.copy(shared_data / "orl_att_faces" / "images" / f"s{3 + i % 2}" / f"{1 + i}.pgm", tmp_path / f"a{i}.pgm")
    fake = tmp_path / "fake.csv"
    fake.write_text("path,label\n" + "".join(f"a{i}.pgm,{3 + i % 2}\n" for i in range(6)))
    r = fv("evaluate", "downstream", str(labels), str(fake), "--label-column", "subject_id", "--out",
           str(tmp_path / "ev"), "--seeds", "1", "--ratios", "1", "--epochs", "1")
    assert r.returncode == 2 and "fake images" in r.stderr and "Traceback" not in r.stderr, r.stderr


@pytest.mark.slow
def test_downstream_on_augment_output_excludes_held_out_parents(shared_data: Path, tmp_path: Path) -> None:
    """Fake data made from the whole real set would leak validation/test images into training: the protocol keeps
    only fake samples whose parents are all in the training split, and says how many it dropped."""
    labels = str(shared_data / "orl_att_faces" / "labels.csv")
    aug = tmp_path / "aug"
    r = fv("augment", labels, "--label-column", "subject_id", "--preset", "face", "--per-class", "12", "--out",
           str(aug), "-q")
    assert r.returncode == 0, r.stderr
    ev = tmp_path / "ev"
    r = fv("evaluate", "downstream", labels, str(aug), "--label-column", "subject_id", "--out", str(ev),
           "--seeds", "1", "--ratios", "0,1", "--epochs", "1")
    assert r.returncode == 0, r.stderr
    res = json.loads((ev / "protocol.json").read_text())
    # 38 subjects x 12 samples; 6 of each subject's 10 real images are validation/test (n_train=4, n_val=1)
    assert 0 < res["fake_excluded_for_leakage"] < 38 * 12
    assert "excluded" in r.stderr
