"""The source contract: what every source of fake (or real) samples promises, and the one place that turns what it
makes into a ``Sample``.

A source is built once per process from its recipe section (a pydantic ``SourceConfig``) and then makes samples by
index. It returns ``Made`` — pixels, annotations, the parameters it drew, the ids of the samples it was made from —
and nothing else: the *engine* (``make_sample`` below, called by the engine and by anyone who wants one sample)
stamps the ``Provenance`` (source name, sample id, seed, index, recipe hash), and hands out every random number
the source may use through ``RandomStreams``. Recipe-relative paths are resolved before the source is built
(``resolve_paths``: fields typed ``RecipePath``), so no source knows where the recipe lives.

Why so strict: a sample must be a pure function of (root seed, source name, index) for any number of workers and
for a resumed run to give the same bytes; when sources stamped their own provenance and derived their own streams,
five copies of that logic could each drift. Sources never write files and never import the engine.

Registration: the built-in source types, and any third-party package's, are found through the
``fakevision.sources`` entry-point group (``pyproject.toml``); each entry point names a ``SourceType`` object, and
is imported only when a recipe uses its type (the GAN source pulls in torch, which a render job does not need).
``register_source`` adds a type in-process (tests, notebooks).

>>> import numpy as np
>>> from fakevision.core.sample import Annotations
>>> class Flat:
...     name = "flat"
...     def make(self, index, streams):
...         grey = int(streams.rng.integers(256))
...         return Made(np.full((4, 4, 3), grey, np.uint8), Annotations(label="flat"), params={"grey": grey})
>>> s = make_sample(Flat(), 7, seed=3)
>>> s.id, s.provenance.params == make_sample(Flat(), 7, seed=3).provenance.params
('flat-000007', True)
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Annotated, Any, Protocol, runtime_checkable

import numpy as np
from pydantic import BaseModel, ConfigDict

from fakevision.core.errors import FakevisionError, RecipeError, SourceError
from fakevision.core.sample import Annotations, Provenance, Sample
from fakevision.core.seeding import sample_rng

ENTRY_POINT_GROUP = "fakevision.sources"


class _RecipePathMarker:
    """Metadata marking a config field as a path relative to the recipe's folder."""

    def __repr__(self) -> str:
        return "RecipePath"


RECIPE_PATH = _RecipePathMarker()
#: A path in a recipe, relative to the recipe's folder unless absolute (``~`` expands) or a URL (kept as written). The engine resolves every
#: field of this type (also inside nested models and lists) before a source is built. Kept as the text the recipe
#: wrote (``Path`` would normalise it, and the recipe's hash covers that text); ``Annotated[Path, RECIPE_PATH]``
#: marks a ``Path`` field the same way.
RecipePath = Annotated[str, RECIPE_PATH]


class SourceConfig(BaseModel):
    """Base of every source's recipe section. ``name`` defaults to the type; ``count`` is how many samples."""

    model_config = ConfigDict(extra="forbid")

    type: str
    name: str | None = None
    count: int

    @property
    def source_name(self) -> str:
        return self.name or self.type


@dataclass
class Made:
    """What a source returns for one index.

    ``params``: the parameters it drew (JSON-serialisable; with the parents they make the sample again);
    ``parents``: ids of the samples it was made from (an augmented image's original, a morph's faces).
    ``provenance``: only for a source that passes an *existing* sample through unchanged (the ``dataset`` source:
    a real image keeps the provenance its reader gave it); every other source leaves it None and is stamped."""

    image: np.ndarray
    annotations: Annotations = field(default_factory=Annotations)
    params: dict[str, Any] = field(default_factory=dict)
    parents: list[str] = field(default_factory=list)
    provenance: Provenance | None = None

    @classmethod
    def of(cls, sample: Sample, params: dict[str, Any] | None = None, parents: list[str] | None = None) -> Made:
        """The pixels and annotations of ``sample`` (its provenance dropped: the engine stamps a new one)."""
        return cls(sample.image, sample.annotations, params or {}, parents or [])


class RandomStreams:
    """Every random number a source may use for sample ``index``, handed out by the engine.

    ``rng`` is the sample's own stream, derived from (root seed, source name, index). ``shared(key, i)`` is a
    stream several samples share, derived from (root seed, ``<source name>/<key>``, i) — e.g. the render source's
    scene ``i``, seen from many viewpoints by consecutive samples. Nothing else may be random in a source.

    >>> a, b = RandomStreams(0, "render", 5), RandomStreams(0, "render", 6)
    >>> bool(a.shared("scene", 1).integers(1 << 30) == b.shared("scene", 1).integers(1 << 30))
    True
    """

    def __init__(self, seed: int, source: str, index: int) -> None:
        self.seed, self.source, self.index = int(seed), source, int(index)
        self.rng = sample_rng(self.seed, source, self.index)

    def shared(self, key: str, index: int) -> np.random.Generator:
        return sample_rng(self.seed, f"{self.source}/{key}", index)


@runtime_checkable
class Source(Protocol):
    """Makes samples by index; ``make`` must be a pure function of (index, streams)."""

    name: str

    def make(self, index: int, streams: RandomStreams) -> Made: ...


@dataclass(frozen=True)
class SourceType:
    """A registered source type: its recipe section's model, the builder (``build(config) -> Source``, called with
    recipe-relative paths already resolved) and a one-line summary for ``fakevision recipes``."""

    config: type[SourceConfig]
    build: Callable[[Any], Source]
    summary: str


def make_sample(source: Source, index: int, seed: int = 0, recipe_hash: str | None = None) -> Sample:
    """Sample ``index`` of ``source`` under root ``seed``, exactly as the engine makes it: the source's ``Made``
    stamped with its ``Provenance``.

    A source that raises anything but fakevision's own errors (which already name their file) raises a
    ``SourceError`` naming the source, the sample and the line that raised, with the original as its cause."""
    try:
        made = source.make(index, RandomStreams(seed, source.name, index))
    except FakevisionError:
        raise
    except Exception as e:  # a source bug must still say which sample failed
        raise SourceError(f"source {source.name!r} failed on sample {index}: {type(e).__name__}: {e}"
                          f"{_where(e)}") from e
    prov = made.provenance or Provenance(source=source.name, sample_id=f"{source.name}-{index:06d}", seed=seed,
                                         index=index, recipe_hash=recipe_hash, params=made.params,
                                         parents=list(made.parents))
    return Sample(made.image, made.annotations, prov)


def _where(e: BaseException) -> str:
    """`` (at file:line)`` of the frame that raised ``e``: enough to find the bug when the traceback stayed on a
    worker of another machine."""
    frames = traceback.extract_tb(e.__traceback__)
    if not frames:
        return ""
    f = frames[-1]
    parts = Path(f.filename).parts
    short = "/".join(parts[parts.index("fakevision"):]) if "fakevision" in parts else Path(f.filename).name
    return f" (at {short}:{f.lineno})"


# -- recipe-relative paths -------------------------------------------------------------------------------------

def _is_recipe_path(info: Any) -> bool:
    return any(m is RECIPE_PATH for m in getattr(info, "metadata", ()))


def _resolve_value(value: Any, base: Path, marked: bool) -> Any:
    if isinstance(value, BaseModel):
        return resolve_paths(value, base)
    if isinstance(value, (list, tuple)):
        return type(value)(_resolve_value(v, base, marked) for v in value)
    if marked and isinstance(value, (str, Path)):
        if "://" in str(value):  # a URL (s3://bucket/data.json): object storage, not the recipe's folder
            return value
        p = Path(value).expanduser()
        out = p if p.is_absolute() else base / p
        return out if isinstance(value, Path) else str(out)
    return value


def _marked(model: type[BaseModel], name: str) -> bool:
    info = model.model_fields[name]
    if _is_recipe_path(info):
        return True
    # list[RecipePath] / RecipePath | None keep the marker on the inner type
    ann = info.annotation
    for arg in getattr(ann, "__args__", ()) or ():
        if any(m is RECIPE_PATH for m in getattr(arg, "__metadata__", ())):
            return True
    return False


def resolve_paths(config: BaseModel, base_dir: str | Path) -> Any:
    """A copy of ``config`` whose ``RecipePath`` fields (in nested models and lists too) are absolute, resolved
    against ``base_dir`` (the recipe's folder).

    >>> class C(SourceConfig):
    ...     data: RecipePath
    ...     extra: list[RecipePath] = []
    >>> c = resolve_paths(C(type="c", count=1, data="d/x.csv", extra=["/abs", "rel"]), "/recipes")
    >>> c.data, c.extra
    ('/recipes/d/x.csv', ['/abs', '/recipes/rel'])
    """
    base = Path(base_dir)
    updates = {}
    for name in type(config).model_fields:
        value = getattr(config, name)
        new = _resolve_value(value, base, _marked(type(config), name))
        if new is not value:
            updates[name] = new
    return config.model_copy(update=updates) if updates else config


# -- registry ----------------------------------------------------------------------------------------------------

_REGISTERED: dict[str, SourceType] = {}
_LOADED: dict[str, SourceType] = {}


def register_source(type_name: str, source_type: SourceType) -> None:
    """Make a source type available in this process (entry points are the way for packages)."""
    _REGISTERED[type_name] = source_type


def _entry_points() -> dict[str, metadata.EntryPoint]:
    return {ep.name: ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}


def _load(type_name: str, ep: metadata.EntryPoint) -> SourceType:
    if type_name not in _LOADED:
        obj = ep.load()
        if not isinstance(obj, SourceType):
            raise RecipeError(f"entry point {ENTRY_POINT_GROUP}:{type_name} ({ep.value}) is not a SourceType")
        _LOADED[type_name] = obj
    return _LOADED[type_name]


def source_type(type_name: str) -> SourceType | None:
    """The source type ``type_name`` (importing only its package), or None when unknown."""
    if type_name in _REGISTERED:
        return _REGISTERED[type_name]
    ep = _entry_points().get(type_name)
    return None if ep is None else _load(type_name, ep)


def source_types() -> dict[str, SourceType]:
    """Every known source type (importing every source package)."""
    out = {name: _load(name, ep) for name, ep in _entry_points().items()}
    out.update(_REGISTERED)
    return dict(sorted(out.items()))


def source_type_names() -> list[str]:
    """Names of every known source type, without importing any source package."""
    return sorted(set(_entry_points()) | set(_REGISTERED))


def build_source(config: SourceConfig, base_dir: str | Path = ".") -> Source:
    """Build the source a validated recipe section describes, its recipe-relative paths resolved against
    ``base_dir``."""
    st = source_type(config.type)
    if st is None:
        raise RecipeError(f"unknown source type {config.type!r} (known: {', '.join(source_type_names())})")
    return st.build(resolve_paths(config, Path(base_dir).resolve()))


__all__ = ["RECIPE_PATH", "Made", "RandomStreams", "RecipePath", "Source", "SourceConfig", "SourceType",
           "build_source", "make_sample", "register_source", "resolve_paths", "source_type", "source_type_names",
           "source_types"]
