"""Experiments as configs: a tiny latent-mapping pipeline runs stage by stage from YAML, resumes by skipping
finished stages, refuses a finished stage whose settings changed, and names bad configs by file and key."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from safetensors.numpy import save_file
from typer.testing import CliRunner

from fakevision.core.errors import InputError, RecipeError
from fakevision.engine.experiment import builtin_experiments, load_experiment, run_experiment
from fakevision.gan.model import FaceGAN

TINY_G = {"n_gen": 8, "n_enc": 4, "z_dim": 8, "h_dim": 8, "batch": 4, "log_every": 1}


def _bundle(path: Path, n: int = 8, size: int = 16) -> Path:
    rng = np.random.default_rng(0)
    lms = np.tile(np.linspace(2, size - 2, 68)[:, None], (n, 1, 2)).astype(np.float32)
    save_file({"faces": rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8), "landmarks": lms,
               "faces_split": np.zeros(n, np.int64)}, str(path), metadata={"size": str(size)})
    return path


def _config(tmp_path: Path, began_steps: int = 3) -> Path:
    _bundle(tmp_path / "faces.safetensors")
    cfg = {"name": "tiny", "seed": 1, "stages": [
        {"name": "g", "kind": "began", "data": "faces.safetensors", "size": 16, "steps": began_steps,
         "checkpoint_every": 2, "config": TINY_G},
        {"name": "e", "kind": "inverse", "generator": "stage:g", "data": "faces.safetensors", "steps": 2,
         "config": {"n": 4, "batch": 4}},
        {"name": "l", "kind": "landmarks", "generator": "stage:g", "inverse": "stage:e",
         "data": "faces.safetensors", "config": {"hidden": 8, "steps": 3}},
        {"name": "f", "kind": "fast", "weights": "stage:l", "steps": 2, "n_gen": 4, "batch": 4}],
        "ship": {"faces_tiny.safetensors": "stage:f"}}
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(cfg))
    return tmp_path / "exp.yaml"


@pytest.mark.slow
def test_a_config_makes_a_shippable_bundle_and_a_rerun_skips_finished_stages(tmp_path: Path) -> None:
    config = _config(tmp_path)
    out = tmp_path / "run"
    res = run_experiment(config, out)
    assert [res[k]["output"] for k in "gelf"] == ["g/generator.safetensors", "e/inverse.safetensors",
                                                   "l/faces.safetensors", "f/faces.safetensors"]
    gan = FaceGAN.load(out / "faces_tiny.safetensors")
    assert gan.has_fast and gan.began.seed == 1  # the root seed reached the stage's config
    faces, lms = gan.generate(torch.zeros(1, 8))
    assert faces.shape == (1, 16, 16, 3) and lms.shape == (1, 68, 2)
    assert json.loads((out / "experiment.json").read_text())["name"] == "tiny"
    stamp = (out / "g" / "generator.safetensors").stat().st_mtime_ns
    logs: list[str] = []
    run_experiment(config, out, log=logs.append)
    assert (out / "g" / "generator.safetensors").stat().st_mtime_ns == stamp
    assert sum("done before, skipped" in m for m in logs) == 4
    _config(tmp_path, began_steps=4)  # the first stage's settings changed after it finished
    with pytest.raises(InputError, match="'g' finished with other settings") as e:
        run_experiment(config, out)
    assert "stage.json" in str(e.value)


def test_bad_configs_name_the_file_and_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"name": "x", "stages": [{"name": "e", "kind": "inverse",
                                                             "generator": "stage:g", "data": "d", "steps": 1}]}))
    with pytest.raises(RecipeError, match="bad.yaml.*'stage:g', which is not an earlier stage"):
        load_experiment(bad)
    bad.write_text(yaml.safe_dump({"name": "x", "stages": [{"name": "g", "kind": "began", "data": "d",
                                                             "steps": 1, "colour": "red"}]}))
    with pytest.raises(RecipeError, match=r"bad.yaml: stages\.0\.began\.colour: unknown key"):
        load_experiment(bad)
    with pytest.raises(RecipeError, match="no such experiment file or built-in experiment"):
        load_experiment("nope")


def test_builtin_configs_validate_and_cite_the_shipped_files() -> None:
    names = builtin_experiments()
    assert {"faces64", "conditional64"} <= set(names)
    cfg, _ = load_experiment("faces64")
    assert cfg.ship == {"faces64.safetensors": "stage:fast"}
    assert [s.kind for s in cfg.stages] == ["began", "inverse", "landmarks", "fast"]
    for name in names:  # every built-in validates and says what it ships
        cfg, _ = load_experiment(name)
        assert cfg.name == name and (cfg.ship or name == "judges64")
    from fakevision.cli import BUILTIN_CONFIGS

    assert sorted(BUILTIN_CONFIGS) == sorted(names)  # the help texts name every built-in, and only those


def test_train_config_from_the_cli_reports_a_missing_data_set(tmp_path: Path) -> None:
    from fakevision.cli import app

    r = CliRunner().invoke(app, ["train", "faces64", "--out", str(tmp_path / "o"), "--data-root", str(tmp_path)])
    assert r.exit_code == 2 and "data set 'faces_68pt' not found under the data root" in r.output, r.output


def test_judges_stage_writes_loadable_judges_with_their_test_split(tmp_path: Path) -> None:
    from fakevision.gan.independent import load_judges
    from fakevision.io.images import encode_image

    _bundle(tmp_path / "faces.safetensors", size=16)
    utk = tmp_path / "utk"
    utk.mkdir()
    rng = np.random.default_rng(1)
    rows = ["path,age,gender"]
    for i in range(10):
        (utk / f"{i}.png").write_bytes(encode_image(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)))
        rows.append(f"{i}.png,{20 + i},{i % 2}")
    (utk / "labels.csv").write_text("\n".join(rows) + "\n")
    cfg = {"name": "j", "stages": [{"name": "judges", "kind": "judges", "faces": "faces.safetensors",
                                    "genders": "utk", "size": 16, "landmark_steps": 2, "gender_steps": 2,
                                    "n": 4}]}
    (tmp_path / "j.yaml").write_text(yaml.safe_dump(cfg))
    run_experiment(tmp_path / "j.yaml", tmp_path / "out")
    nets, meta = load_judges(tmp_path / "out" / "judges" / "judges.safetensors")
    assert set(nets) == {"landmarks", "gender"} and len(json.loads(meta["gender_test_index"])) == 1
    assert nets["landmarks"](torch.zeros(1, 3, 16, 16)).shape == (1, 136)
