"""Landmark agreement: does an independent detector put a face's landmarks where the written ones are?

dlib's 68-point predictor (``gan.dlib_landmarks``) is given each face with a box derived from the *written*
landmarks and its points are compared with them: NME per face = mean point distance / distance between the
written eye centres. Two box rules (``BOX_RULES``): ``extent``, the extent of the written landmarks (the issue's
rule), and ``dlib``, the box dlib's own HOG detector would give that face (``box_from_landmarks``; the predictor was
trained from such boxes). The floor: the same check on a blank grey image with the same boxes — what the predictor's
mean shape alone scores, i.e. agreement that says nothing about the face. Faces are upscaled to 256 px first, as
the judge always does.

Reference (``experiments/faces_table.py``): real faces with hand-made landmarks (faces_68pt helen_test at 64 px) give a
median NME of about 0.04-0.05; a generator's faces should come close to that.

>>> import numpy as np
>>> r = blank_floor(np.tile(np.array([[20.0, 24.0]]), (68, 1))[None] + np.random.default_rng(0).normal(0, 8, (1, 68, 2)), 64)
>>> sorted(r)
['mean_nme', 'median_nme', 'n']
"""

from __future__ import annotations

from typing import Any

import numpy as np

BOX_RULES = ("extent", "dlib")


def per_face_nme(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """NME of each face (N): mean point-to-point distance over the distance between ``gt``'s eye centres.

    >>> g = np.zeros((1, 68, 2)); g[0, 36:42] = [0, 0]; g[0, 42:48] = [10, 0]
    >>> per_face_nme(g + [1.0, 0.0], g).tolist()
    [0.1]
    """
    p, g = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    iod = np.linalg.norm(g[:, 36:42].mean(1) - g[:, 42:48].mean(1), axis=-1)
    return np.linalg.norm(p - g, axis=-1).mean(1) / np.maximum(iod, 1e-9)


def judge_boxes(landmarks: np.ndarray, rule: str = "extent") -> np.ndarray:
    """N x 4 boxes (ours, xyxy) for dlib's predictor from written landmarks (N x 68 x 2)."""
    from fakevision.gan.dlib_landmarks import box_from_landmarks

    lm = np.asarray(landmarks, np.float64)
    if rule == "extent":
        return np.concatenate([lm.min(1), lm.max(1)], 1)
    if rule == "dlib":
        return np.stack([box_from_landmarks(p) for p in lm])
    raise ValueError(f"box rule must be one of {BOX_RULES}, got {rule!r}")


def dlib_points(images: np.ndarray, landmarks: np.ndarray, rule: str = "extent") -> np.ndarray:
    """dlib's 68 points (N x 68 x 2, ours) on each face, started from the box ``rule`` gives its written
    ``landmarks``."""
    from fakevision.gan.dlib_landmarks import landmarks_for_crops

    return landmarks_for_crops(np.asarray(images), judge_boxes(landmarks, rule))


def landmark_agreement(images: np.ndarray, landmarks: np.ndarray, rule: str = "extent") -> dict[str, Any]:
    """Median and mean NME of dlib's points against the written ``landmarks`` (see the module doc), with the
    per-face values."""
    d = dlib_points(images, landmarks, rule)
    e = per_face_nme(d, landmarks)
    return {"rule": rule, "n": int(len(e)), "median_nme": float(np.median(e)), "mean_nme": float(e.mean()),
            "per_face": e}


def blank_floor(landmarks: np.ndarray, size: int, rule: str = "extent") -> dict[str, Any]:
    """The same check on a blank grey ``size`` x ``size`` image for each set of written landmarks."""
    lm = np.asarray(landmarks, np.float64)
    blank = np.full((len(lm), size, size, 3), 128, np.uint8)
    r = landmark_agreement(blank, lm, rule)
    return {k: r[k] for k in ("n", "median_nme", "mean_nme")}
