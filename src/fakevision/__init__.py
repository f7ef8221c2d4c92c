"""fakevision: fake data for computer vision, with annotations you can trust.

The public API re-exports the annotation model; sources, writers and the engine live in their own packages
(``fakevision.augment``, ``fakevision.render``, ``fakevision.io``, ``fakevision.engine``).
"""

from fakevision._version import __version__
from fakevision.core.errors import FakevisionError, InputError, RecipeError
from fakevision.core.keypoints import KeypointSchema, convert_keypoints, get_schema
from fakevision.core.sample import Annotations, Provenance, Sample
from fakevision.core.seeding import sample_rng

__all__ = [
    "Annotations",
    "FakevisionError",
    "InputError",
    "KeypointSchema",
    "Provenance",
    "RecipeError",
    "Sample",
    "__version__",
    "convert_keypoints",
    "get_schema",
    "sample_rng",
]
