"""The documentation: the generated reference pages match the code (so they cannot drift), and the site builds with
``mkdocs build --strict`` (broken links and missing pages fail)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

REGENERATE = {
    "reference/recipe.md": "python -m fakevision.engine.schema_doc docs/reference/recipe.md",
    "reference/cli.md": "python -c \"from fakevision.cli_support import cli_reference; "
                        "print(cli_reference(), end='')\" > docs/reference/cli.md",
}


def test_recipe_reference_matches_the_pydantic_models() -> None:
    from fakevision.engine.schema_doc import recipe_reference

    committed = (REPO / "docs" / "reference" / "recipe.md").read_text(encoding="utf-8")
    assert committed == recipe_reference(), (
        f"docs/reference/recipe.md is stale; run: {REGENERATE['reference/recipe.md']}")


def test_cli_reference_matches_the_commands() -> None:
    from fakevision.cli_support import cli_reference

    committed = (REPO / "docs" / "reference" / "cli.md").read_text(encoding="utf-8")
    assert committed == cli_reference(), f"docs/reference/cli.md is stale; run: {REGENERATE['reference/cli.md']}"


def test_every_recipe_key_and_source_is_documented() -> None:
    from fakevision.engine.schema_doc import packaged_source_types

    text = (REPO / "docs" / "reference" / "recipe.md").read_text(encoding="utf-8")
    types = packaged_source_types()
    assert {"render", "render_eye", "augment", "dataset", "gan_faces"} <= set(types)
    for name, st in types.items():
        assert f"### Source `{name}`" in text, name
        for key in st.config.model_fields:
            assert f"| `{key}` |" in text, f"{name}.{key}"


@pytest.mark.slow
def test_the_site_builds_in_strict_mode(tmp_path: Path) -> None:
    mkdocs = shutil.which("mkdocs", path=str(Path(sys.executable).parent)) or shutil.which("mkdocs")
    if mkdocs is None:
        pytest.skip('mkdocs not installed (pip install -e ".[docs]"; scripts/test.sh does)')
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    cmd = [mkdocs, "build", "--strict", "-q", "-f", str(REPO / "mkdocs.yml"), "-d", str(tmp_path / "site")]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    for page in ("index.html", "tutorials/augment-my-faces/index.html", "reference/recipe/index.html",
                 "coordinates/index.html"):
        assert (tmp_path / "site" / page).is_file(), page
    assert (tmp_path / "site" / "img" / "coordinates.svg").is_file()
