"""Face geometry in one place: the 68-point shape model (``shape``), faces made by warping real faces onto sampled
shapes (``morph``), the shape-appearance generator (``appearance``) and the identity-leak check's embeddings
(``fakevision.evaluate.identity``). Landmarks made here are exact by construction: every face is warped *onto*
its landmarks.

Submodules are imported on first use so ``import fakevision.faces`` stays cheap.

>>> from fakevision.faces import ShapeModel
>>> ShapeModel.load().num_modes > 5
True
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ShapeModel": "shape", "procrustes_align": "shape", "pose_proxies": "shape", "SHAPE_FILE": "shape",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"fakevision.faces.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'fakevision.faces' has no attribute {name!r}")
