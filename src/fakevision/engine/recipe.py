"""Recipes: YAML files that say which sources make how many samples, where they go, and with which seed.

A recipe is data (as a StudioGAN config is): the code is generic, and every data set can be made again from its
recipe and seed. Validation is strict (``extra="forbid"`` everywhere) and every error names the file and the key
path, e.g. ``my.yaml: sources.0.count: Input should be greater than or equal to 0``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fakevision.core.errors import RecipeError
from fakevision.core.source import Source, SourceConfig, build_source, source_type, source_type_names
from fakevision.io.atomic import dumps_json

DEFAULT_RECIPE = "default"


class OutputModel(BaseModel):
    """One output format; the writer package validates the format-specific options."""

    model_config = ConfigDict(extra="allow")

    format: str


class RecipeModel(BaseModel):
    """The top level of a recipe file."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field("recipe", description="the data set's name (report titles, progress bar)")
    description: str = Field("", description="one line for `fakevision recipes`, more below it")
    seed: int = Field(0, ge=0, description="root seed: every sample's random stream derives from (seed, source "
                                           "name, index), so the output is the same for any number of workers")
    shard_size: int = Field(32, ge=1, le=100_000, description="samples per shard: the unit of work, of resume and "
                                                              "of a WebDataset tar")
    sources: list[dict[str, Any]] = Field(min_length=1, description="what makes the samples, in order; see Sources")
    outputs: list[str | OutputModel] = Field(
        default_factory=lambda: list[str | OutputModel]([OutputModel(format="coco")]), min_length=1,
        description="the formats to write (default: coco); see OutputSpec")


@dataclass
class Recipe:
    """A validated recipe: top-level settings, one validated config per source, the outputs, and its hash.

    >>> r = Recipe.load(DEFAULT_RECIPE)
    >>> r.total > 0 and len(r.recipe_hash) == 64
    True
    """

    model: RecipeModel
    sources: list[SourceConfig]
    outputs: list[dict[str, Any]]
    origin: str
    base_dir: Path

    @property
    def seed(self) -> int:
        return self.model.seed

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def shard_size(self) -> int:
        return self.model.shard_size

    @property
    def total(self) -> int:
        return sum(s.count for s in self.sources)

    def canonical(self) -> dict[str, Any]:
        """The recipe as plain JSON data with every default filled in (what the hash covers)."""
        top = self.model.model_dump(mode="json", exclude={"sources", "outputs"})
        top["sources"] = [s.model_dump(mode="json") for s in self.sources]
        top["outputs"] = self.outputs
        return top

    @property
    def recipe_hash(self) -> str:
        return hashlib.sha256(dumps_json(self.canonical()).encode()).hexdigest()

    def build_sources(self) -> list[Source]:
        """Instantiate every source (done once per worker process), recipe-relative paths resolved against the
        recipe's folder."""
        return [build_source(s, self.base_dir) for s in self.sources]

    def with_seed(self, seed: int | None) -> Recipe:
        if seed is None:
            return self
        if seed < 0:
            raise RecipeError(f"{self.origin}: seed: must be >= 0, got {seed}")
        data = self.canonical()
        data["seed"] = seed
        return Recipe.from_dict(data, self.origin, self.base_dir)

    @classmethod
    def from_dict(cls, data: Any, origin: str = "<recipe>", base_dir: Path | None = None) -> Recipe:
        """Validate recipe data; ``origin`` (the file name) prefixes every error message."""
        if not isinstance(data, dict):
            raise RecipeError(f"{origin}: a recipe must be a mapping at the top level, got {type(data).__name__}")
        try:
            model = RecipeModel.model_validate(data)
        except ValidationError as e:
            raise RecipeError(_format_errors(origin, e)) from None
        configs: list[SourceConfig] = []
        names: set[str] = set()
        for i, raw in enumerate(model.sources):
            t = raw.get("type") if isinstance(raw, dict) else None
            st = source_type(t) if isinstance(t, str) else None
            if st is None:
                known = ", ".join(source_type_names())
                raise RecipeError(f"{origin}: sources.{i}.type: unknown source type {t!r} (known: {known})")
            try:
                cfg = st.config.model_validate(raw)
            except ValidationError as e:
                raise RecipeError(_format_errors(origin, e, prefix=f"sources.{i}")) from None
            if cfg.count < 0:
                raise RecipeError(f"{origin}: sources.{i}.count: must be >= 0, got {cfg.count}")
            if cfg.source_name in names:
                raise RecipeError(f"{origin}: sources.{i}.name: duplicate source name {cfg.source_name!r}")
            names.add(cfg.source_name)
            configs.append(cfg)
        outputs = _validate_outputs(origin, model.outputs)
        return cls(model, configs, outputs, origin, (base_dir or Path.cwd()).resolve())

    @classmethod
    def from_file(cls, path: str | Path) -> Recipe:
        p = Path(path)
        if p.is_dir():
            raise RecipeError(f"{p}: is a folder, not a recipe file (built-in recipes: "
                              f"{', '.join(sorted(builtin_recipes()))})")
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise RecipeError(f"{p}: recipe file not found") from None
        except (OSError, UnicodeDecodeError) as e:
            raise RecipeError(f"{p}: cannot read recipe ({e})") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark is not None else ""
            raise RecipeError(f"{p}: not valid YAML{where}") from None
        return cls.from_dict(data, str(p), p.parent)

    @classmethod
    def load(cls, name_or_path: str | Path) -> Recipe:
        """A recipe file path, or the name of a built-in recipe (see ``builtin_recipes``).

        The rule (``looks_like_recipe_file``): a name ending in ``.yaml``/``.yml``, a name with a folder in it
        (``./eyes``) or an existing *file* is a recipe file; anything else is a built-in name. So a folder that
        happens to share a built-in's name (the output of ``fakevision make eyes --out eyes``) never hides the
        built-in, and rerunning that command resumes instead of failing.

        >>> Recipe.load("eyes").name
        'eyes'
        """
        p = Path(name_or_path)
        if looks_like_recipe_file(name_or_path):
            return cls.from_file(p)
        builtins = builtin_recipes()
        if str(name_or_path) not in builtins:
            raise RecipeError(
                f"{name_or_path}: no such recipe file or built-in recipe (built-ins: {', '.join(sorted(builtins))})"
            )
        res = resources.files("fakevision.recipes").joinpath(f"{name_or_path}.yaml")
        data = yaml.safe_load(res.read_text(encoding="utf-8"))
        return cls.from_dict(data, f"builtin:{name_or_path}", Path.cwd())


RECIPE_SUFFIXES = (".yaml", ".yml")


def looks_like_recipe_file(name_or_path: str | Path) -> bool:
    """True when ``name_or_path`` names a recipe file rather than a built-in recipe: it ends in ``.yaml``/``.yml``,
    contains a folder separator, or is an existing file. A folder is never a recipe.

    >>> looks_like_recipe_file("eyes"), looks_like_recipe_file("my.yaml"), looks_like_recipe_file("./eyes")
    (False, True, True)
    """
    text = str(name_or_path)
    p = Path(text)
    return p.suffix.lower() in RECIPE_SUFFIXES or "/" in text or "\\" in text or p.is_file()


def builtin_recipes() -> dict[str, str]:
    """Names of the recipes shipped in the package, with their one-line descriptions."""
    out: dict[str, str] = {}
    for res in resources.files("fakevision.recipes").iterdir():
        if res.name.endswith(".yaml"):
            data = yaml.safe_load(res.read_text(encoding="utf-8")) or {}
            lines = str(data.get("description") or "").strip().splitlines()
            out[res.name[: -len(".yaml")]] = lines[0] if lines else ""
    return out


def _validate_outputs(origin: str, outputs: list[str | OutputModel]) -> list[dict[str, Any]]:
    from fakevision.io.writers import OutputSpec

    result: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, out in enumerate(outputs):
        raw = {"format": out} if isinstance(out, str) else out.model_dump()
        try:
            spec = OutputSpec.model_validate(raw)
        except ValidationError as e:
            raise RecipeError(_format_errors(origin, e, prefix=f"outputs.{i}")) from None
        dumped = spec.model_dump(mode="json")
        if dumped["format"] in seen:
            raise RecipeError(f"{origin}: outputs.{i}.format: {dumped['format']!r} listed twice")
        seen.add(dumped["format"])
        result.append(dumped)
    return result


def _format_errors(origin: str, err: ValidationError, prefix: str = "") -> str:
    """One line per problem: ``file: key.path: message``; the first problem leads."""
    lines = []
    for e in err.errors():
        loc = ".".join(str(x) for x in (prefix.split(".") if prefix else []) + list(e["loc"]))
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown key"
        lines.append(f"{origin}: {loc or '<top>'}: {msg}")
    return "; ".join(lines)
