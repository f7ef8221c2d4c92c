"""Runs a recipe: sources -> samples -> writers, in shards over local worker processes (Ray later).

>>> from fakevision.engine import Recipe, make
"""

from fakevision.engine.recipe import Recipe, builtin_recipes
from fakevision.engine.run import RunResult, make
from fakevision.engine.sources import SourceConfig, register_source, source_type, source_types

__all__ = ["Recipe", "RunResult", "SourceConfig", "builtin_recipes", "make", "register_source", "source_type", "source_types"]
