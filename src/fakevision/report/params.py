"""The parameters each source drew, gathered from every sample's provenance, as series the report plots.

Why: a recipe says "elevation between 20 and 70 degrees"; only the drawn values show whether the data covers that
range evenly, whether a clip or a rejection step skewed it, and how two sources differ. Provenance holds exactly
those values (``Provenance.params``), so the report reads them back instead of trusting the recipe.

How nested params become series (``flatten``): numbers are one series per key path (``scene.light.ambient``);
short fixed-length number lists (directions, colours) one series per component (``scene.light.direction[2]``);
longer number lists (a GAN's z) pool their values (``z[]``); lists of records (a scene's objects) pool each field
over every record (``scene.objects[].extents[0]``) and add their count (``scene.objects (count)``), except records
named by an ``op`` (an augmentation pipeline's ops), which are one series per op (``augment.ops[Gamma].gamma``,
``augment.ops[Gamma].applied``: how often it ran); text is a category. Matrices, free text and per-sample identifiers (seeds, paths, indices) are left out: they are not
"sampled parameters" anyone reads a histogram of.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

SKIP_KEYS = {"seed", "path", "index", "parent_index", "scene_index", "view", "mesh_path", "sample_id", "axes",
             "pixel_convention", "id"}
MAX_COMPONENTS = 4  # number lists up to this long are per component; longer ones pool their values
MAX_CATEGORIES = 24  # text series with more distinct values are identifiers, not categories


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def flatten(params: Any, path: str = "") -> Iterable[tuple[str, Any]]:
    """(key path, value) pairs of one sample's params; values are numbers, text or booleans.

    >>> sorted(flatten({"a": 1.5, "light": {"dir": [0, 0.5, 1]}, "z": list(range(8)), "seed": 7,
    ...                 "objs": [{"s": 1}, {"s": 2}], "K": [[1, 0], [0, 1]], "kind": "dots"}))[:6]
    [('a', 1.5), ('kind', 'dots'), ('light.dir[0]', 0), ('light.dir[1]', 0.5), ('light.dir[2]', 1), ('objs (count)', 2)]
    >>> list(flatten({"ops": [{"op": "Gamma", "applied": True, "gamma": 1.2}, {"op": "Blur", "applied": False}]}))
    [('ops[Gamma].applied', True), ('ops[Gamma].gamma', 1.2), ('ops[Blur].applied', False)]
    """
    if isinstance(params, dict):
        for k, v in params.items():
            if str(k) in SKIP_KEYS:
                continue
            yield from flatten(v, f"{path}.{k}" if path else str(k))
    elif isinstance(params, list):
        if not params:
            return
        if all(_is_number(v) for v in params):
            if len(params) <= MAX_COMPONENTS:
                for i, v in enumerate(params):
                    yield f"{path}[{i}]", v
            else:
                for v in params:
                    yield f"{path}[]", v
        elif all(isinstance(v, dict) and isinstance(v.get("op"), str) for v in params):  # an augmentation's ops
            for v in params:
                yield from flatten({k: x for k, x in v.items() if k != "op"}, f"{path}[{v['op']}]")
        elif all(isinstance(v, dict) for v in params):
            yield f"{path} (count)", len(params)
            for v in params:
                yield from flatten(v, f"{path}[]")
        # lists of lists (matrices) and mixed lists: not a sampled parameter one plots
    elif _is_number(params) or isinstance(params, (bool, str)):
        yield path, params


@dataclass
class Series:
    """The values one key path took over the samples of a source: ``numbers`` or ``categories`` (counts)."""

    key: str
    numbers: list[float] = field(default_factory=list)
    categories: Counter[str] = field(default_factory=Counter)

    @property
    def kind(self) -> str:
        return "number" if self.numbers and not self.categories else "category"

    def informative(self) -> bool:
        """More than one distinct value, and (for text) few enough distinct values to be a category."""
        if self.kind == "number":
            return len(set(self.numbers)) > 1
        return 1 < len(self.categories) <= MAX_CATEGORIES


def gather(provenances: Iterable[dict[str, Any]]) -> dict[str, list[Series]]:
    """Per source (``provenance["source"]``), the informative series of its drawn params, in key order.

    >>> provs = [{"source": "r", "params": {"x": float(i), "kind": ["a", "b"][i % 2], "c": 1}} for i in range(4)]
    >>> s = gather(provs)["r"]
    >>> [(x.key, x.kind) for x in s]
    [('kind', 'category'), ('x', 'number')]
    """
    by_source: dict[str, dict[str, Series]] = defaultdict(dict)
    for p in provenances:
        series = by_source[str(p.get("source", "?"))]
        for key, v in flatten(p.get("params") or {}):
            s = series.setdefault(key, Series(key))
            if isinstance(v, str | bool):
                s.categories[str(v)] += 1
            else:
                s.numbers.append(float(v))
    out: dict[str, list[Series]] = {}
    for src, series in by_source.items():
        out[src] = [s for _, s in sorted(series.items()) if s.informative()]
    return out
