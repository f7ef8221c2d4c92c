"""Identity-leak check: is a generated face one of the training *people*? (the seed's claim "not the originals").

Why not the pixel memorisation check: a morph of three training faces or a GAN face can be nobody's pixels and
still be recognisably someone. So faces are embedded with an independent face-recognition model — dlib's 128-D
ResNet (``dlib_face_recognition_resnet_model_v1``, in the ``faces`` extra's ``face-recognition-models``), each
face aligned by dlib's own 68 landmarks on the face upscaled to 256 px (the judge's box rule,
``gan.dlib_landmarks``) — and compared by Euclidean distance.

Why not its 0.6 same-person threshold: it is for one-to-one checks. Against thousands of training faces almost
every new face has *some* neighbour within 0.6 (96 % of held-out HELEN faces against 1,207 training faces).
Calibrated instead, like ``memorisation``: a generated face is flagged when it is closer to a training face than
``1 - quantile`` (95 %) of held-out real faces — photos of people never trained on — are; by chance 5 % are.

Identity variety: the median distance from each face to the nearest *other* face of its own set, for the
generated faces over the same number of held-out real faces (1.0: as varied as real people; blurry or collapsed
generators look alike and score low).

Calibration with identity labels (``calibrate``): held-out photos of training people must be flagged (they are
the people), while photos of held-out people (half of them, the other half setting the threshold) are flagged at
the chance rate.

>>> rng = np.random.default_rng(0)
>>> train = rng.normal(size=(500, 8)); held = rng.normal(size=(200, 8))
>>> copies = train[:20] + 0.05 * rng.normal(size=(20, 8))
>>> r = identity_leak(np.concatenate([copies, rng.normal(size=(180, 8))]), train, held)
>>> r["flagged_fraction"] > 0.1, r["expected_chance_fraction"]
(True, 0.05)
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from fakevision.core.errors import InputError
from fakevision.evaluate.memorisation import memorisation_check, nearest_neighbours

EXTRACTOR = "dlib-resnet-v1"
MODEL_FILE = "dlib_face_recognition_resnet_model_v1.dat"
QUANTILE = 0.05


def _model_path() -> Path:
    from fakevision.gan.dlib_landmarks import INSTALL_HINT, default_model_path

    p = default_model_path()
    if p is None or not (p.parent / MODEL_FILE).is_file():
        raise InputError(f"dlib's face-recognition model not found ({INSTALL_HINT})")
    return p.parent / MODEL_FILE


@functools.lru_cache(maxsize=1)
def _recogniser() -> Any:
    from fakevision.gan.dlib_landmarks import require_dlib

    dlib = require_dlib()
    return dlib.face_recognition_model_v1(str(_model_path()))


def embed_faces(images: np.ndarray, landmarks: np.ndarray | None = None, upscale: int = 256) -> np.ndarray:
    """N x 128 dlib face descriptors of uint8 face crops (N x H x W x 3). Each face is upscaled (bicubic) to at
    least ``upscale`` px and aligned by dlib's own 68 landmarks (``DlibLandmarker.landmarks``), or by the
    given ``landmarks`` (N x 68 x 2, ours, pixels of each crop) — the check stays independent of a generator only
    when dlib places them, the default."""
    import cv2

    from fakevision.gan.dlib_landmarks import get_landmarker, require_dlib

    dlib = require_dlib()
    rec = _recogniser()
    lm = get_landmarker()
    imgs = np.asarray(images)
    if imgs.ndim == 3:
        imgs = imgs[None]
    out = np.empty((len(imgs), 128), np.float64)
    for i, img in enumerate(imgs):
        img = np.ascontiguousarray(img[:, :, :3])
        h, w = img.shape[:2]
        f = max(1.0, upscale / min(h, w))
        big = cv2.resize(img, (round(w * f), round(h * f)), interpolation=cv2.INTER_CUBIC) if f > 1 else img
        k = np.array([big.shape[1] / w, big.shape[0] / h])
        pts = lm.landmarks(img, upscale)[0] if landmarks is None else np.asarray(landmarks[i], np.float64)
        pb = pts * k - 0.5  # ours -> dlib pixel indices in the big image
        x0, y0 = pb.min(0)
        x1, y1 = pb.max(0)
        rect = dlib.rectangle(int(round(x0)), int(round(y0)), int(round(x1)), int(round(y1)))
        shape = dlib.full_object_detection(rect, [dlib.point(int(round(x)), int(round(y))) for x, y in pb])
        out[i] = np.asarray(rec.compute_face_descriptor(big, shape))
    return out


def embed_cached(images: np.ndarray, cache_dir: str | Path | None, chunk: int = 500,
                 progress: Any = None) -> np.ndarray:
    """``embed_faces`` with the result kept in ``cache_dir`` under a hash of the pixels (reference sets such as the
    training faces are embedded once for every source they are compared with). Resumable: a set larger than
    ``chunk`` faces is embedded a chunk at a time, each chunk written (atomically) as it finishes, so a stopped run
    (tens of thousands of training faces take CPU-hours) continues where it was; ``progress(done, total)`` is
    called after each chunk. The parts are joined into one file at the end.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     e = embed_cached(np.zeros((0, 64, 64, 3), np.uint8), d)
    >>> e.shape
    (0, 128)
    """
    if cache_dir is None:
        return embed_faces(images) if len(images) else np.zeros((0, 128))
    from fakevision.io.atomic import atomic_path

    imgs = np.ascontiguousarray(images)
    key = hashlib.sha256(imgs.tobytes() + str(imgs.shape).encode()).hexdigest()[:24]
    cache = Path(cache_dir)
    path = cache / f"dlib_embed_{key}.npy"
    if path.is_file():
        return np.load(path)
    cache.mkdir(parents=True, exist_ok=True)

    def save(p: Path, a: np.ndarray) -> None:
        with atomic_path(p) as tmp, open(tmp, "wb") as fh:
            np.save(fh, a)

    parts = []
    for lo in range(0, len(imgs), chunk):
        part = cache / f"dlib_embed_{key}.part{lo // chunk:05d}_{chunk}.npy"
        if part.is_file():
            parts.append(np.load(part))
        else:
            parts.append(embed_faces(imgs[lo:lo + chunk]))
            save(part, parts[-1])
        if progress is not None:
            progress(min(lo + chunk, len(imgs)), len(imgs))
    emb = np.concatenate(parts) if parts else np.zeros((0, 128))
    save(path, emb)
    for p in cache.glob(f"dlib_embed_{key}.part*_{chunk}.npy"):
        p.unlink()
    return emb


def identity_leak(fake: np.ndarray, train: np.ndarray, holdout: np.ndarray, quantile: float = QUANTILE,
                  extractor: str = EXTRACTOR) -> dict[str, Any]:
    """The calibrated flag rate (module doc) of ``fake`` embeddings against ``train`` with ``holdout`` (faces of
    people never trained on) as the reference; a JSON-ready summary (``memorisation.MemorisationResult.summary``
    without the per-face indices)."""
    s = memorisation_check(fake, train, holdout, quantile=quantile, extractor=extractor).summary()
    s.pop("flagged_indices")
    return s


def nearest_other(emb: np.ndarray) -> np.ndarray:
    """Distance from each row to its nearest *other* row.

    >>> nearest_other(np.array([[0.0], [1.0], [3.0]])).tolist()
    [1.0, 1.0, 2.0]
    """
    e = np.asarray(emb, np.float64)
    sq = (e * e).sum(1)
    d2 = sq[:, None] + sq[None, :] - 2 * e @ e.T
    np.fill_diagonal(d2, np.inf)
    return np.sqrt(np.maximum(d2.min(1), 0.0))


def identity_variety(fake: np.ndarray, real: np.ndarray, seed: int = 0) -> dict[str, Any]:
    """Median nearest-other distance among the generated faces over that among as many real (held-out) faces:
    both sets cut to the smaller size (random, ``seed``), since the nearest neighbour comes closer as a set grows."""
    f, r = np.asarray(fake, np.float64), np.asarray(real, np.float64)
    n = min(len(f), len(r))
    if n < 3:
        raise InputError(f"identity variety needs at least 3 faces per set, got {len(f)} and {len(r)}")
    rng = np.random.default_rng(seed)
    f, r = f[rng.permutation(len(f))[:n]], r[rng.permutation(len(r))[:n]]
    mf, mr = float(np.median(nearest_other(f))), float(np.median(nearest_other(r)))
    return {"n": n, "fake_median_nearest_other": mf, "real_median_nearest_other": mr, "variety_vs_real": mf / mr}


def calibrate(train: np.ndarray, held_people: np.ndarray, held_people_ids: np.ndarray,
              held_photos_of_train_people: np.ndarray, quantile: float = QUANTILE,
              train_ids: np.ndarray | None = None, chunk: int = 2048) -> dict[str, Any]:
    """Check the flag rule with identity labels: the held-out people are split in two by identity (even / odd
    position in sorted order) — one half sets the threshold, the other is checked as if generated (should be
    flagged near ``quantile``) — and held-out photos of training people are checked (should be flagged far more
    often: they are the training people). With ``train_ids``, also every training photo of a person with several
    against the other training faces (leave one out: a new photo of a training person, many more of them)."""
    ids = np.asarray(held_people_ids)
    people = np.unique(ids)
    ref_people = set(people[::2].tolist())
    ref = np.array([i in ref_people for i in ids.tolist()])
    if ref.sum() < 5 or (~ref).sum() < 5:
        raise InputError("calibration needs at least 5 held-out faces on each side")
    new_people = identity_leak(held_people[~ref], train, held_people[ref], quantile)
    out = {"threshold_people": int(len(set(ids[ref].tolist()))), "quantile": quantile,
           "held_out_people_flagged": new_people["flagged_fraction"], "held_out_people_n": new_people["n_fake"],
           "threshold": new_people["threshold"]}
    if len(held_photos_of_train_people):
        same_people = identity_leak(held_photos_of_train_people, train, held_people[ref], quantile)
        out.update(training_people_new_photos_flagged=same_people["flagged_fraction"],
                   training_people_new_photos_n=same_people["n_fake"])
    if train_ids is not None:  # each training photo against the *other* training faces: another photo of the same
        t = np.asarray(train, np.float64)  # person is in there (when the person has several), itself is not
        tid = np.asarray(train_ids)
        _, inv, counts = np.unique(tid, return_inverse=True, return_counts=True)
        several = counts[inv] >= 2
        sq = (t * t).sum(1)
        nearest = np.empty(len(t))
        for lo in range(0, len(t), chunk):  # a block of rows at a time: 34k training faces would be 9 GB at once
            d2 = sq[lo:lo + chunk, None] + sq[None, :] - 2 * t[lo:lo + chunk] @ t.T
            d2[np.arange(len(d2)), np.arange(lo, lo + len(d2))] = np.inf
            nearest[lo:lo + chunk] = np.sqrt(np.maximum(d2.min(1), 0.0))
        d = nearest[several]
        out.update(training_photos_leave_one_out_flagged=float((d < new_people["threshold"]).mean()),
                   training_photos_leave_one_out_n=int(len(d)))
    return out


def nearest_train_distance(fake: np.ndarray, train: np.ndarray) -> np.ndarray:
    """Per generated face, its distance to the nearest training face (for plots and per-face inspection)."""
    return nearest_neighbours(fake, train)[0]
