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


def source_types() -> dict[str, SourceType]:
    """All registered source types (importing the built-in source packages first)."""
    _import_builtin_sources()
    return dict(_SOURCES)


def _import_builtin_sources() -> None:
    import importlib

    for mod in ("fakevision.render.source", "fakevision.augment.source", "fakevision.io.readers.source",
                "fakevision.gan.source", "fakevision.smart.source"):
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as e:  # a source package not built yet
            if e.name is None or not mod.startswith(e.name):
                raise
