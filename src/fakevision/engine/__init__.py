"""Runs configs: a recipe (sources -> samples -> writers, in shards over local worker processes or Ray tasks,
``engine.backend``, into a local folder or any fsspec URL, ``fakevision.io.storage``) and an experiment
(``experiment``: training stages through the one training loop, into a set of weights).

>>> from fakevision.engine import Recipe, make
"""

from fakevision.engine.recipe import Recipe, builtin_recipes
from fakevision.engine.run import RunResult, make

__all__ = ["Recipe", "RunResult", "builtin_recipes", "make"]
