"""The annotation model every source, writer and measurement shares: ``Sample`` = image + ``Annotations`` +
``Provenance``; named keypoint schemas; deterministic per-sample seeding; the project's error types."""

from fakevision.core.errors import FakevisionError, InputError, RecipeError
from fakevision.core.keypoints import KeypointSchema, convert_keypoints, get_schema
from fakevision.core.sample import Annotations, Provenance, Sample
from fakevision.core.seeding import sample_rng, stable_hash

__all__ = [
    "Annotations",
    "FakevisionError",
    "InputError",
    "KeypointSchema",
    "Provenance",
    "RecipeError",
    "Sample",
    "convert_keypoints",
    "get_schema",
    "sample_rng",
    "stable_hash",
]
