"""Recipe validation: every error names the file and the key path."""

from __future__ import annotations

from pathlib import Path

import pytest

from fakevision.core.errors import RecipeError
from fakevision.engine.recipe import Recipe, builtin_recipes
from tests.engine import helpers  # noqa: F401  (registers the test source)


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "r.yaml"
    p.write_text(text)
    return p


def test_unknown_top_level_key(tmp_path: Path) -> None:
    p = _write(tmp_path, "sources: [{type: test_squares, count: 2}]\nsead: 3\n")
    with pytest.raises(RecipeError) as e:
        Recipe.from_file(p)
    assert str(e.value) == f"{p}: sead: unknown key"


def test_unknown_source_key_names_path(tmp_path: Path) -> None:
    p = _write(tmp_path, "sources:\n  - type: test_squares\n    count: 2\n    colour: red\n")
    with pytest.raises(RecipeError, match=r"r\.yaml: sources\.0\.colour: unknown key"):
        Recipe.from_file(p)


def test_negative_count(tmp_path: Path) -> None:
    p = _write(tmp_path, "sources:\n  - {type: test_squares, count: -4}\n")
    with pytest.raises(RecipeError, match=r"r\.yaml: sources\.0\.count: must be >= 0"):
        Recipe.from_file(p)


def test_bad_value_type(tmp_path: Path) -> None:
    p = _write(tmp_path, "seed: lots\nsources:\n  - {type: test_squares, count: 1}\n")
    with pytest.raises(RecipeError, match=r"r\.yaml: seed: .*integer"):
        Recipe.from_file(p)


def test_unknown_source_type_lists_known(tmp_path: Path) -> None:
    p = _write(tmp_path, "sources:\n  - {type: nope, count: 1}\n")
    with pytest.raises(RecipeError, match=r"sources\.0\.type: unknown source type 'nope' \(known: .*test_squares"):
        Recipe.from_file(p)


def test_invalid_yaml_and_missing_file(tmp_path: Path) -> None:
    p = _write(tmp_path, "sources: [\n")
    with pytest.raises(RecipeError, match=r"r\.yaml: not valid YAML at line"):
        Recipe.from_file(p)
    with pytest.raises(RecipeError, match="recipe file not found"):
        Recipe.from_file(tmp_path / "missing.yaml")


def test_unknown_output_format(tmp_path: Path) -> None:
    p = _write(tmp_path, "sources: [{type: test_squares, count: 1}]\noutputs: [{format: tiff}]\n")
    with pytest.raises(RecipeError, match=r"r\.yaml: outputs\.0"):
        Recipe.from_file(p)


def test_hash_changes_with_seed_only_when_seed_changes(tmp_path: Path) -> None:
    p = _write(tmp_path, "sources: [{type: test_squares, count: 3}]\n")
    a, b = Recipe.from_file(p), Recipe.from_file(p)
    assert a.recipe_hash == b.recipe_hash
    assert a.with_seed(5).recipe_hash != a.recipe_hash
    assert a.with_seed(5).seed == 5


def test_builtin_default_recipe_listed_and_valid() -> None:
    assert "default" in builtin_recipes()
    r = Recipe.load("default")
    assert r.total >= 200
