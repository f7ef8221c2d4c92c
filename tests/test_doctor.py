"""``fakevision doctor``: every check reports, required failures make the exit code non-zero and print their fix."""

from __future__ import annotations

import json
from collections import namedtuple
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fakevision import doctor
from fakevision.cli import app


def test_every_check_reports_and_this_machine_has_what_is_required(tmp_path: Path) -> None:
    checks = doctor.run_checks(tmp_path / "new" / "out", egl=False)
    names = [c.name for c in checks]
    for want in ("python", "torch", "threads", "renderers", "egl (renderer: pyrender)", "dlib + 68-point model",
                 "chromium (report test)", "disk (--out)", "shipped GAN weights"):
        assert want in names, want
    assert not [c for c in checks if c.failed], [c for c in checks if c.failed]
    assert all(c.fix for c in checks if c.status != doctor.OK), "every problem comes with its fix"
    torch = next(c for c in checks if c.name == "torch")
    assert "build" in torch.found  # CPU or CUDA build, said
    disk = next(c for c in checks if c.name == "disk (--out)")
    assert str(tmp_path) in disk.found  # the nearest existing folder above a new --out


def test_a_missing_requirement_fails_with_its_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(doctor.shutil, "disk_usage", lambda p: usage(10 << 30, 10 << 30, 50 << 20))
    monkeypatch.setattr(doctor, "check_torch", lambda: doctor.Check(
        "torch", doctor.FAIL, "cannot import torch (ImportError: libcudart.so.12)", 'pip install "torch==2.13.0"',
        required=True))
    r = CliRunner().invoke(app, ["doctor", "--no-egl", "--out", str(tmp_path), "--json"])
    assert r.exit_code == 1, r.output
    rows = {c["name"]: c for c in json.loads(r.stdout)}
    assert rows["torch"]["failed"] and rows["torch"]["fix"] == 'pip install "torch==2.13.0"'
    assert rows["disk (--out)"]["failed"] and "0.0 GiB free" in rows["disk (--out)"]["found"]
    table = CliRunner().invoke(app, ["doctor", "--no-egl", "--out", str(tmp_path)], env={"COLUMNS": "200"})
    assert table.exit_code == 1 and "2 required check(s) failed: torch, disk (--out)" in table.stdout


def test_optional_problems_only_warn(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(doctor, "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.setattr(doctor.shutil, "which", lambda name: None)
    c = doctor.check_chromium()
    assert c.status == doctor.WARN and not c.failed and "apt-get install chromium" in c.fix
    r = CliRunner().invoke(app, ["doctor", "--no-egl", "--out", str(tmp_path)], env={"COLUMNS": "200"})
    assert r.exit_code == 0 and "apt-get install chromium" in r.stdout


def test_a_busy_machine_is_said_with_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(doctor.os, "sched_getaffinity", lambda pid: {0, 1})
    monkeypatch.setattr(doctor.os, "getloadavg", lambda: (14.0, 12.0, 9.0))
    c = doctor.check_load()
    assert c.status == doctor.WARN and not c.failed and "~6x longer" in c.found and "nice -n 10" in c.fix
    monkeypatch.setattr(doctor.os, "getloadavg", lambda: (0.5, 0.4, 0.3))
    assert doctor.check_load().status == doctor.OK


def test_the_table_has_no_fix_column_when_nothing_needs_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(doctor, "run_checks", lambda out, egl: [doctor.Check("python", doctor.OK, "CPython 3.11")])
    r = CliRunner().invoke(app, ["doctor"], env={"COLUMNS": "120"})
    assert r.exit_code == 0 and " fix " not in r.stdout and "everything required is here" in r.stdout
