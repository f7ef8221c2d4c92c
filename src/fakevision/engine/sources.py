"""The source contract and registry.

A source makes sample ``index`` from a generator the engine derives from (root seed, source name, index); it
must use no other randomness, so any worker can make any sample and get the same bytes. Sources never write
files. Each source type registers a pydantic config model (validated from the recipe with ``extra="forbid"``)
and a builder; the recipe refers to it by ``type``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
from pydantic import BaseModel, ConfigDict

from fakevision.core.sample import Sample


class SourceConfig(BaseModel):
    """Base of every source's recipe section. ``name`` defaults to the type; ``count`` is how many samples."""

    model_config = ConfigDict(extra="forbid")

    type: str
    name: str | None = None
    count: int

    @property
    def source_name(self) -> str:
        return self.name or self.type


@dataclass(frozen=True)
class BuildContext:
    """What a builder may need beyond its config: the folder relative paths in the recipe resolve against."""

    base_dir: Path
    recipe_hash: str
    seed: int


@runtime_checkable
class Source(Protocol):
    """Makes samples by index. ``make`` must be a pure function of (index, rng)."""

    name: str

    def make(self, index: int, rng: np.random.Generator) -> Sample: ...


@dataclass(frozen=True)
class SourceType:
    config: type[SourceConfig]
    build: Callable[[SourceConfig, BuildContext], Source]
    summary: str


_SOURCES: dict[str, SourceType] = {}


def register_source(
    type_name: str, config: type[SourceConfig], build: Callable[[SourceConfig, BuildContext], Source], summary: str
) -> None:
    """Register a source type under ``type_name`` (called at import time by each source package)."""
    _SOURCES[type_name] = SourceType(config, build, summary)


# Which module registers each built-in type: a recipe imports only the sources it uses (the GAN and Smart
# Augmentation sources pull in torch and scipy, ~2.4 s of start-up the default render job does not need).
_BUILTIN_MODULES = {
    "render": "fakevision.render.source", "render_eye": "fakevision.render.source",
    "augment": "fakevision.augment.source", "dataset": "fakevision.io.readers.source",
    "gan_faces": "fakevision.gan.source", "smart": "fakevision.smart.source",
}


def source_types() -> dict[str, SourceType]:
    """All registered source types (importing every built-in source package first)."""
    for mod in dict.fromkeys(_BUILTIN_MODULES.values()):
        _import_source_module(mod)
    return dict(_SOURCES)


def source_type(type_name: str) -> SourceType | None:
    """The source type ``type_name`` (importing only its built-in package), or None when unknown."""
    if type_name not in _SOURCES and type_name in _BUILTIN_MODULES:
        _import_source_module(_BUILTIN_MODULES[type_name])
    return _SOURCES.get(type_name)


def _import_source_module(mod: str) -> None:
    import importlib

    try:
        importlib.import_module(mod)
    except ModuleNotFoundError as e:  # a source package not built yet
        if e.name is None or not mod.startswith(e.name):
            raise
