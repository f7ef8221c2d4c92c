"""The seed's face pipeline for any folder of photos: detect the face, crop and resize it to S x S, and give it 68
landmarks (the data set's own where it has them, else dlib's), so the GANs can train on it.

``fakevision faces prepare INPUT --out FILE.safetensors --size 64`` writes the same bundle as
``gan.data.prepare_face_bundle`` (``faces``, ``landmarks``, ``faces_split``, plus empty ``utk*`` keys so every
reader of that format takes it unchanged), which ``fakevision train began|inverse|landmarks --data FILE`` read.

Detectors (``detect_faces``): ``haar``, OpenCV's frontal Haar cascade (``haarcascade_frontalface_default.xml``,
scale step 1.1, 5 neighbours, faces >= 30 px, on the grey image without histogram equalisation, which lost a quarter
of the faces on padded crops), as in the seed; ``dlib``, dlib's HOG frontal detector (needs dlib); ``landmarks``, no
detector: the box is the extent of the ground-truth landmarks, which reproduces faces_68pt's own crops. Boxes are
our corner-based xyxy floats (pixel (i, j) covers [i, i + 1] x [j, j + 1]).

The crop rule (``crop_face``), one per detector so that every crop is framed like faces_68pt (square, 1.6 x the
landmark extent, centre raised by 0.08 of the side): side = ``margin`` x the box's longer side, centre = the box's
centre moved down by ``shift`` x side; side and corner are rounded to whole pixels, so the crop is a pixel-exact
slice and the transform is exactly ``x' = (x - left) * size / side`` (cv2.resize aligns pixel centres, so corner
coordinates scale without offset). A square that leaves the image is shifted back inside, and shrunk to the
image's shorter side if it is larger, as faces_68pt did (no padding). ``CROP_RULES`` were fitted on the 1,143
faces_68pt training crops (helen_train + afw) whose landmarks lie inside the crop, each padded by 80 px of grey
into a 320 x 320 canvas: the median ratio of the true 160 px crop to the box side, and of the centre offset.

Measured the same way on the 330 held-out helen_test faces: Haar finds a face in 94.8 % and its crop overlaps the
true square (IoU >= 0.5) in 93.9 % (median IoU 0.85; crop side / true side: quartiles 0.95, 1.04), about 0.1 s per
320 px image; dlib's HOG 97.9 % and 96.1 % (median IoU 0.80), about 0.12 s. dlib's landmarks as this module makes
them (a 256 px crop, the judge's box rule, scaled to 64) have NME 0.038 against the ground truth moved into the
64 px crops, for either detector.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import ArrayLike

from fakevision.core.errors import InputError
from fakevision.gan.data import FACE_SPLITS

METHODS = ("haar", "dlib", "landmarks")
LANDMARK_SOURCES = ("auto", "ground-truth", "dlib", "none")

#: detector -> (margin, shift): crop side = margin x box side, crop centre = box centre + (0, shift x side).
CROP_RULES: dict[str, tuple[float, float]] = {
    "haar": (1.37, 0.025),    # Haar boxes are tight on the eyes-to-mouth square; measured 1.3675, 0.025
    "dlib": (1.47, -0.01),    # dlib HOG boxes; measured 1.4679, -0.0094
    "landmarks": (1.6, -0.08),  # faces_68pt's own rule on the ground-truth landmark extent
}
HAAR_CASCADE = "haarcascade_frontalface_default.xml"


@dataclass(frozen=True)
class CropTransform:
    """A square crop of side ``side`` at (``left``, ``top``) of the source, resized to ``size`` x ``size``.

    >>> t = CropTransform(left=10, top=20, side=100, size=50)
    >>> t.apply(np.array([[10.0, 20.0], [110.0, 70.0]])).tolist()
    [[0.0, 0.0], [50.0, 25.0]]
    >>> t.invert(t.apply(np.array([[33.0, 44.0]]))).tolist()
    [[33.0, 44.0]]
    """

    left: int
    top: int
    side: int
    size: int

    @property
    def scale(self) -> float:
        return self.size / self.side

    @property
    def matrix(self) -> np.ndarray:
        """2 x 3 affine matrix of ``apply`` (corner-based coordinates)."""
        s = self.scale
        return np.array([[s, 0.0, -self.left * s], [0.0, s, -self.top * s]])

    def apply(self, points: np.ndarray) -> np.ndarray:
        """Source pixels -> crop pixels, our corner convention, (... x 2) arrays."""
        return (np.asarray(points, np.float64) - [self.left, self.top]) * self.scale

    def invert(self, points: np.ndarray) -> np.ndarray:
        """Crop pixels -> source pixels."""
        return np.asarray(points, np.float64) / self.scale + [self.left, self.top]


def _largest_first(boxes: ArrayLike) -> np.ndarray:
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return boxes[np.argsort(-area, kind="stable")]


_CASCADE: Any = None


def _haar() -> Any:
    global _CASCADE
    if _CASCADE is None:
        path = Path(cv2.data.haarcascades) / HAAR_CASCADE
        c = cv2.CascadeClassifier(str(path))
        if c.empty():
            raise InputError("OpenCV's Haar cascade could not be loaded", path)
        _CASCADE = c
    return _CASCADE


def detect_faces(image: np.ndarray, method: str = "haar") -> np.ndarray:
    """Faces in an RGB (or grey) uint8 image: K x 4 boxes, our corner-based xyxy floats, largest first (K may be
    0). ``method`` "haar" (OpenCV) or "dlib" (HOG; upsampled once for images under 400 px).

    >>> detect_faces(np.zeros((64, 64, 3), np.uint8)).shape
    (0, 4)
    """
    img = np.asarray(image)
    if img.dtype != np.uint8:
        raise ValueError(f"expected uint8 pixels, got {img.dtype}")
    if method == "haar":
        grey = img[:, :, 0] if img.ndim == 3 and img.shape[2] == 1 else img
        if grey.ndim == 3:
            grey = cv2.cvtColor(np.ascontiguousarray(grey[:, :, :3]), cv2.COLOR_RGB2GRAY)
        found = _haar().detectMultiScale(np.ascontiguousarray(grey), scaleFactor=1.1, minNeighbors=5,
                                         minSize=(30, 30))
        # (x, y, w, h) covers pixels x .. x + w - 1: corner-based xyxy is (x, y, x + w, y + h)
        return _largest_first([[x, y, x + w, y + h] for x, y, w, h in np.asarray(found).reshape(-1, 4)])
    if method == "dlib":
        from fakevision.gan.dlib_landmarks import hog_detect

        return hog_detect(img)
    raise ValueError(f"method must be 'haar' or 'dlib', got {method!r}")


def crop_transform(image_shape: Sequence[int], box: Sequence[float], size: int, margin: float,
                   shift: float = 0.0) -> CropTransform:
    """The crop rule (module doc) for ``box`` in an image of ``image_shape`` (H, W, ...).

    >>> crop_transform((200, 300), [100, 50, 150, 100], 64, margin=2.0)
    CropTransform(left=75, top=25, side=100, size=64)
    >>> crop_transform((200, 300), [0, 0, 50, 50], 64, margin=2.0)  # shifted back inside
    CropTransform(left=0, top=0, side=100, size=64)
    >>> crop_transform((80, 300), [100, 0, 150, 50], 64, margin=2.0)  # shrunk to the shorter side
    CropTransform(left=85, top=0, side=80, size=64)
    """
    h, w = int(image_shape[0]), int(image_shape[1])
    x0, y0, x1, y1 = (float(v) for v in box)
    if not (x1 > x0 and y1 > y0):
        raise ValueError(f"empty box {list(box)}")
    side = max(1, min(round(margin * max(x1 - x0, y1 - y0)), h, w))
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 + shift * side
    left = min(max(round(cx - side / 2), 0), w - side)
    top = min(max(round(cy - side / 2), 0), h - side)
    return CropTransform(left, top, side, int(size))


def crop_face(image: np.ndarray, box: Sequence[float], size: int, margin: float = CROP_RULES["haar"][0],
              shift: float = CROP_RULES["haar"][1]) -> tuple[np.ndarray, CropTransform]:
    """Square crop of the face in ``box`` resized to ``size`` x ``size`` (INTER_AREA when shrinking, bicubic when
    enlarging); returns (crop, transform). Landmarks move with ``transform.apply``. Defaults: the Haar rule.

    >>> img = np.arange(200 * 300 * 3, dtype=np.uint32).reshape(200, 300, 3).astype(np.uint8)
    >>> crop, t = crop_face(img, [100, 50, 150, 100], 100, margin=2.0, shift=0.0)
    >>> bool((crop == img[25:125, 75:175]).all()), t
    (True, CropTransform(left=75, top=25, side=100, size=100))
    """
    img = np.asarray(image)
    t = crop_transform(img.shape, box, size, margin, shift)
    region = img[t.top:t.top + t.side, t.left:t.left + t.side]
    if t.side == t.size:
        crop = region.copy()
    else:
        interp = cv2.INTER_AREA if t.size < t.side else cv2.INTER_CUBIC
        crop = cv2.resize(region, (t.size, t.size), interpolation=interp)
        if crop.ndim == 2:
            crop = crop[:, :, None]
    return crop, t


@dataclass
class PreparedFaces:
    """What ``prepare_faces`` returns: one row per kept face, and the report of what was left out."""

    faces: np.ndarray  # N x S x S x 3 uint8
    landmarks: np.ndarray | None  # N x 68 x 2 float32, ours, crop pixels; None for landmarks="none"
    files: list[str]  # source file of each face (relative to the input folder)
    boxes: np.ndarray  # N x 4 detector boxes, source pixels (ours, xyxy)
    crops: np.ndarray  # N x 3 int: left, top, side of each crop in source pixels
    split: np.ndarray  # N int8: 1 for faces_68pt's helen_test/, else 0 (training)
    method: str
    landmark_source: str  # "ground-truth", "dlib" or "none"
    images: int = 0  # images looked at
    no_face: list[str] = field(default_factory=list)
    several_faces: list[str] = field(default_factory=list)  # kept the largest (or the annotated) one
    unreadable: list[str] = field(default_factory=list)  # "file: problem" (only with skip_unreadable)
    no_landmarks: list[str] = field(default_factory=list)  # ground truth asked for, but no .pts beside the image
    judge_fallback: int = 0  # dlib landmarks placed from the fixed box (its HOG found no face in the crop)
    landmarks_failed: list[str] = field(default_factory=list)  # dlib's points failed ``landmarks_plausible``
    labels: dict[str, np.ndarray] = field(default_factory=dict)  # per face, from the folder's labels.csv

    def report(self) -> dict[str, Any]:
        return {"images": self.images, "faces": len(self.faces), "size": int(self.faces.shape[1]),
                "detector": self.method, "landmarks": self.landmark_source, "no_face": len(self.no_face),
                "no_face_files": self.no_face, "several_faces": len(self.several_faces),
                "several_faces_files": self.several_faces, "unreadable": len(self.unreadable),
                "unreadable_files": self.unreadable, "no_landmarks": len(self.no_landmarks),
                "no_landmarks_files": self.no_landmarks, "landmarks_failed": len(self.landmarks_failed),
                "landmarks_failed_files": self.landmarks_failed, "held_out": int((self.split == 1).sum()),
                "held_out_photos_of_training_people": int((self.split == 2).sum()),
                "dlib_fixed_box_fallback": self.judge_fallback, "labels": sorted(self.labels)}


def _items(source: Any) -> tuple[int, Iterator[tuple[str, Any]], bool, list[str]]:
    """(count, iterator of (id, loader), has ground truth, images left out for want of a .pts) for a folder or a
    fakevision Reader. A loader returns (image, 68 x 2 ground-truth landmarks or None) and raises InputError for an
    unreadable file."""
    from fakevision.io.readers.base import Reader, rel_posix, sorted_images
    from fakevision.io.readers.pts import PtsReader

    unannotated: list[str] = []
    if isinstance(source, Reader):
        reader = source
    else:
        root = Path(source)
        if not root.exists():
            raise InputError("not found", root)
        if not root.is_dir():
            raise InputError("expected a folder of images", root)
        files = sorted_images(root)
        if any(root.rglob("*.pts")):
            reader = PtsReader(root)
            annotated = set(reader.ids)
            unannotated = [r for r in (rel_posix(f, root) for f in files) if r not in annotated]
        else:
            if not files:
                raise InputError("no images found (jpg/jpeg/png/bmp/pgm/ppm/tif)", root)

            def plain() -> Iterator[tuple[str, Any]]:
                from fakevision.io.images import read_image

                for f in files:
                    yield rel_posix(f, root), (lambda f=f: (read_image(f), None))

            return len(files), plain(), False, []

    def load(i: int) -> tuple[np.ndarray, np.ndarray | None]:
        s = reader[i]
        a = s.annotations
        gt = None
        is_ibug = a.keypoint_schema is not None and a.keypoint_schema.name == "ibug68"
        if a.keypoints is not None and is_ibug and len(a.keypoints) == 1:
            gt = np.asarray(a.keypoints[0], np.float64)
        return s.image, gt

    has_gt = isinstance(reader, PtsReader)
    if not has_gt and len(reader):
        try:  # another reader (dlib xml, COCO, ...): ground truth if its first sample has one ibug68 face
            has_gt = load(0)[1] is not None
        except InputError:
            pass
    items = ((rid, (lambda i=i: load(i))) for i, rid in enumerate(reader.ids))
    return len(reader), items, has_gt, unannotated


def _pick(boxes: np.ndarray, gt: np.ndarray | None) -> int | None:
    """The face to keep: the largest; with ground truth, the box that holds the annotated face (the best IoU with
    the landmark extent, at least 0.2), or None when no box does."""
    if gt is None:
        return 0
    from fakevision.gan.dlib_landmarks import box_iou

    ext = np.concatenate([gt.min(0), gt.max(0)])
    iou = box_iou(boxes, ext)
    return int(iou.argmax()) if iou.max() >= 0.2 else None


def _padded(image: np.ndarray, pad: float) -> tuple[np.ndarray, int]:
    """The image with a replicated border of ``pad`` x its longer side on every side, and that border in pixels.
    Why: the aligned face sets (CelebA, UTKFace) are cropped so tightly that the face touches the frame, and both
    detectors need some context around a face (Haar finds 37 of 40 CelebA faces without a border, 39 with 0.25)."""
    p = int(round(pad * max(image.shape[:2])))
    if p <= 0:
        return image, 0
    return cv2.copyMakeBorder(image, p, p, p, p, cv2.BORDER_REPLICATE), p


def landmarks_plausible(points: np.ndarray, side: float) -> bool:
    """A sanity check of 68 landmarks (crop pixels) in a crop of ``side`` px: finite, the eye centres at least 0.1
    x side apart, and at most 10 % of the points further than a quarter of the side outside the crop. What fails it
    is recorded as ``landmarks_failed`` (a predictor started from a wrong box, or on a face it cannot see).

    >>> pts = np.zeros((68, 2)); pts[36:42] = [20, 30]; pts[42:48] = [44, 30]
    >>> landmarks_plausible(pts + 1, 64), landmarks_plausible(pts * 0.05, 64)
    (True, False)
    """
    q = np.asarray(points, np.float64)
    if q.shape != (68, 2) or not np.isfinite(q).all():
        return False
    iod = float(np.linalg.norm(q[36:42].mean(0) - q[42:48].mean(0)))
    far = ((q < -0.25 * side) | (q > 1.25 * side)).any(1).mean()
    return bool(iod >= 0.1 * side and far <= 0.1)


def prepare_faces(source: Any, size: int = 64, method: str = "haar", landmarks: str = "auto",
                  skip_unreadable: bool = False, model_path: str | Path | None = None,
                  progress: Any = None, pad: float = 0.0, start: int = 0, stop: int | None = None,
                  allow_empty: bool = False) -> PreparedFaces:
    """Detect, crop to ``size`` x ``size`` and annotate every image of ``source`` (a folder, searched recursively,
    or a fakevision ``Reader``; a folder with 300-W ``.pts`` files is read with its ground truth).

    ``landmarks``: "ground-truth" (the data set's; an error if it has none), "dlib" (dlib's 68-point predictor on a
    crop of at least 256 px: with the ``dlib`` detector it starts from that detector's own box, dlib's own pipeline
    and its best calibration, NME 0.039 at 160 px; with ``haar`` from the judge's box rule,
    ``DlibLandmarker.landmarks``), "none", or "auto" (ground truth when there is some, else dlib). An image without
    a face is skipped and listed in the report (with ground truth: without a detection on the annotated face); with
    several faces the largest is kept; dlib landmarks that fail ``landmarks_plausible`` are listed as
    ``landmarks_failed`` and skipped. An unreadable file raises ``InputError`` naming it, or is listed and skipped
    with ``skip_unreadable``. With ground truth, images without a ``.pts`` are listed and skipped. ``pad``: detect
    (and annotate) on the image with a replicated border of that fraction of its side, for tightly cropped face
    sets; the crop itself never leaves the photo. ``start``/``stop``: only images ``start`` .. ``stop - 1`` (in
    the source's order; what ``prepare_bundle`` resumes by). ``progress`` is called with (done, total) before each
    image and at the end.
    """
    if method not in METHODS:
        raise InputError(f"unknown detector {method!r} (one of {', '.join(METHODS)})")
    if landmarks not in LANDMARK_SOURCES:
        raise InputError(f"unknown landmark source {landmarks!r} (one of {', '.join(LANDMARK_SOURCES)})")
    if size < 8:
        raise InputError(f"size must be at least 8 px, got {size}")
    if not 0.0 <= pad <= 1.0:
        raise InputError(f"pad must be in [0, 1] (a fraction of the image side), got {pad}")
    total, items, has_gt, unannotated = _items(source)
    if landmarks == "ground-truth" and not has_gt:
        raise InputError("no ground-truth landmarks here (300-W .pts files); use landmarks 'dlib'",
                         getattr(source, "root", source))
    if method == "landmarks" and not has_gt:
        raise InputError("the 'landmarks' crop needs ground-truth landmarks (.pts); use 'haar' or 'dlib'",
                         getattr(source, "root", source))
    use = ("ground-truth" if has_gt else "dlib") if landmarks == "auto" else landmarks
    judge = None
    if use == "dlib":
        from fakevision.gan.dlib_landmarks import get_landmarker

        judge = get_landmarker(model_path)
    elif method == "dlib":
        from fakevision.gan.dlib_landmarks import require_dlib

        require_dlib()  # the install hint now, not after the first image
    margin, shift = CROP_RULES[method]
    hi = max(size, 256)  # the crop dlib annotates: same square, at least 256 px, points scaled to ``size``
    stop = total if stop is None else min(stop, total)
    out = PreparedFaces(np.zeros((0, size, size, 3), np.uint8), None, [], np.zeros((0, 4)), np.zeros((0, 3), int),
                        np.zeros(0, np.int8), method, use,
                        no_landmarks=list(unannotated) if start == 0 else [])
    faces, lms, boxes, crops, split = [], [], [], [], []
    for k, (rid, load) in enumerate(items):
        if k < start:
            continue
        if k >= stop:
            break
        if progress is not None:
            progress(k - start, stop - start)
        out.images += 1
        try:
            image, gt = load()
        except InputError as e:
            if not skip_unreadable:
                raise
            out.unreadable.append(f"{rid}: {e.problem}")
            continue
        if gt is None and (use == "ground-truth" or method == "landmarks"):
            out.no_landmarks.append(rid)
            continue
        if image.shape[2] == 1:
            image = np.repeat(image, 3, axis=2)
        elif image.shape[2] == 4:
            image = np.ascontiguousarray(image[:, :, :3])
        padded, p = _padded(image, pad)
        if method == "landmarks":
            found = np.concatenate([gt.min(0), gt.max(0)])[None]
        else:
            found = detect_faces(padded, method) - p
        j = _pick(found, gt if use == "ground-truth" else None) if len(found) else None
        if j is None:
            out.no_face.append(rid)
            continue
        crop, t = crop_face(image, found[j], size, margin, shift)
        if use == "ground-truth":
            pts = t.apply(gt)
        elif use == "dlib":
            assert judge is not None  # loaded above whenever use == 'dlib'
            if method == "dlib":  # dlib's own pipeline: the predictor starts from its detector's box
                pts = t.apply(judge.predict(padded, found[j] + p) - p)
            else:
                big, _ = crop_face(image, found[j], hi, margin, shift)
                pts, rule = judge.landmarks(big)
                out.judge_fallback += rule != "hog"
                pts = pts * (size / hi)
            if not landmarks_plausible(pts, size):
                out.landmarks_failed.append(rid)
                continue
        if len(found) > 1:
            out.several_faces.append(rid)
        if use != "none":
            lms.append(pts)
        faces.append(crop)
        boxes.append(found[j])
        crops.append([t.left, t.top, t.side])
        out.files.append(rid)
        split.append(FACE_SPLITS.get(rid.split("/", 1)[0], 0) if has_gt else 0)
    if progress is not None:
        progress(stop - start, stop - start)
    if not faces:
        if allow_empty:
            out.landmarks = None if use == "none" else np.zeros((0, 68, 2), np.float32)
            return out
        raise InputError(f"no face found in any of the {out.images} images (detector {method})",
                         getattr(source, "root", source))
    out.faces = np.stack(faces).astype(np.uint8)
    out.landmarks = np.stack(lms).astype(np.float32) if lms else None
    out.boxes, out.crops, out.split = np.stack(boxes), np.asarray(crops, np.int64), np.asarray(split, np.int8)
    return out


def write_face_bundle(prepared: PreparedFaces, out: str | Path) -> Path:
    """Write ``prepared`` as a face bundle (the format of ``gan.data.prepare_face_bundle``): ``faces``,
    ``landmarks`` (absent for landmarks "none"), ``faces_split``, empty ``utk``/``utk_gender``/``utk_age``, and
    ``face_boxes`` / ``crop_boxes`` (source pixels); metadata: size, detector, landmark source and the source files
    (JSON). Beside it, ``<out>.report.json`` lists what was skipped and why. Atomic writes."""
    from safetensors.numpy import save

    from fakevision.io.atomic import atomic_write_bytes, atomic_write_json

    out = Path(out)
    if out.suffix != ".safetensors":
        raise InputError("the bundle must be a .safetensors file", out)
    s = prepared.faces.shape[1]
    tensors = {"faces": np.ascontiguousarray(prepared.faces), "faces_split": prepared.split,
               "utk": np.zeros((0, s, s, 3), np.uint8), "utk_gender": np.zeros(0, np.int64),
               "utk_age": np.zeros(0, np.int64), "face_boxes": prepared.boxes.astype(np.float32),
               "crop_boxes": prepared.crops.astype(np.int64)}
    if prepared.landmarks is not None:
        tensors["landmarks"] = prepared.landmarks.astype(np.float32)
    for name, values in prepared.labels.items():
        tensors[f"label_{name}"] = np.ascontiguousarray(values, np.int64)
    meta = {"size": str(s), "detector": prepared.method, "landmarks": prepared.landmark_source,
            "files": json.dumps(prepared.files)}
    atomic_write_bytes(out, save(tensors, metadata=meta))
    atomic_write_json(out.with_name(out.name + ".report.json"), prepared.report())
    return out


# --- at scale: resumable chunks, labels, identity splits ---------------------------------------------------------
SPLIT_CODES = {0: "train", 1: "held out (people, or photos, never trained on)",
               2: "held-out photos of training people (identity-leak calibration)"}


def read_labels(root: str | Path, files: Sequence[str]) -> dict[str, np.ndarray]:
    """Integer columns of ``root/labels.csv`` (a ``path`` column naming each image relative to ``root``) for each
    of ``files``, -1 where a file has no row or no integer value. Non-integer columns are left out. No labels.csv:
    {}.

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp()); _ = (d / "labels.csv").write_text("path,identity,note\\na.jpg,7,x\\n")
    >>> read_labels(d, ["a.jpg", "b.jpg"])
    {'identity': array([ 7, -1])}
    """
    import csv

    table = Path(root) / "labels.csv"
    if not table.is_file():
        return {}
    with table.open(newline="") as f:
        rows = {r.get("path", ""): r for r in csv.DictReader(f)}
    if not rows:
        return {}
    cols = [c for c in next(iter(rows.values())) if c != "path"]
    out: dict[str, np.ndarray] = {}
    for c in cols:
        vals = np.full(len(files), -1, np.int64)
        ok = True
        for i, name in enumerate(files):
            v = rows.get(name, {}).get(c)
            if v is None or v == "":
                continue
            try:
                vals[i] = int(v)
            except ValueError:
                ok = False
                break
        if ok:
            out[c] = vals
    return out


def _unit_hash(salt: str, value: Any) -> float:
    import hashlib

    h = hashlib.sha256(f"{salt}:{value}".encode()).digest()
    return int.from_bytes(h[:8], "big") / 2.0**64


def assign_split(files: Sequence[str], split: np.ndarray, holdout: float, groups: np.ndarray | None = None,
                 holdout_photos: float | None = None) -> np.ndarray:
    """Held-out codes (``SPLIT_CODES``) for faces now in training (``split == 0``; faces_68pt's helen_test keeps
    its 1). Without ``groups`` a stable ``holdout`` fraction of files (by a hash of the name) becomes 1. With
    ``groups`` (e.g. CelebA identities) whole people go: a ``holdout`` fraction of people (hash of the id) are 1,
    so no photo of them is ever trained on; of the other people with at least two photos, a ``holdout_photos``
    fraction (default ``holdout``) gives its last photo (by file name) code 2 — photos of people the generator did
    see, which an identity-leak check should flag. The same inputs always give the same split.

    >>> files = [f"{p}_{i}.jpg" for p in range(200) for i in range(3)]
    >>> s = assign_split(files, np.zeros(600, np.int8), 0.2, np.repeat(np.arange(200), 3))
    >>> sorted(set(s.tolist())), all(len(set(s[3 * p:3 * p + 3].tolist()) - {2}) == 1 for p in range(200))
    ([0, 1, 2], True)
    """
    out = np.asarray(split, np.int8).copy()
    if holdout <= 0:
        return out
    if not holdout < 1:
        raise InputError(f"holdout must be in [0, 1), got {holdout}")
    free = out == 0
    if groups is None:
        for i, f in enumerate(files):
            if free[i] and _unit_hash("file", f) < holdout:
                out[i] = 1
        return out
    g = np.asarray(groups)
    frac2 = holdout if holdout_photos is None else holdout_photos
    last: dict[Any, int] = {}
    count: dict[Any, int] = {}
    for i in np.argsort(np.asarray(files, dtype=object), kind="stable"):
        if not free[i]:
            continue
        v = g[i].item()
        if _unit_hash("person", v) < holdout:
            out[i] = 1
            continue
        count[v] = count.get(v, 0) + 1
        last[v] = int(i)
    for v, i in last.items():
        if count[v] >= 2 and _unit_hash("photo", v) < frac2:
            out[i] = 2
    return out


def _concat(parts: list[PreparedFaces], method: str, use: str, source: Any) -> PreparedFaces:
    size = next((p.faces.shape[1] for p in parts if len(p.faces)), 0)
    kept = [p for p in parts if len(p.faces)]
    if not kept:
        raise InputError(f"no face found in any of the {sum(p.images for p in parts)} images (detector {method})",
                         getattr(source, "root", source))
    out = PreparedFaces(np.concatenate([p.faces for p in kept]),
                        None if use == "none" else np.concatenate([p.landmarks for p in kept]),
                        [f for p in kept for f in p.files], np.concatenate([p.boxes for p in kept]),
                        np.concatenate([p.crops for p in kept]), np.concatenate([p.split for p in kept]), method, use)
    assert out.faces.shape[1] == size
    for p in parts:
        out.images += p.images
        out.no_face += p.no_face
        out.several_faces += p.several_faces
        out.unreadable += p.unreadable
        out.no_landmarks += p.no_landmarks
        out.landmarks_failed += p.landmarks_failed
        out.judge_fallback += p.judge_fallback
    return out


def _save_part(path: Path, part: PreparedFaces) -> None:
    import io

    from fakevision.io.atomic import atomic_write_bytes

    buf = io.BytesIO()
    lists = {k: getattr(part, k) for k in ("files", "no_face", "several_faces", "unreadable", "no_landmarks",
                                          "landmarks_failed")}
    np.savez(buf, faces=part.faces, landmarks=part.landmarks if part.landmarks is not None else np.zeros(0),
             boxes=np.asarray(part.boxes, np.float64).reshape(-1, 4), crops=np.asarray(part.crops).reshape(-1, 3),
             split=part.split, meta=np.array(json.dumps({**lists, "images": part.images,
                                                          "judge_fallback": part.judge_fallback})))
    atomic_write_bytes(path, buf.getvalue())


def _load_part(path: Path, method: str, use: str) -> PreparedFaces:
    with np.load(path) as z:
        meta = json.loads(str(z["meta"]))
        part = PreparedFaces(z["faces"], None if use == "none" else z["landmarks"].reshape(-1, 68, 2),
                             meta["files"], z["boxes"], z["crops"], z["split"], method, use, meta["images"],
                             meta["no_face"], meta["several_faces"], meta["unreadable"], meta["no_landmarks"],
                             meta["judge_fallback"], meta["landmarks_failed"])
    return part


def prepare_bundle(source: str | Path, out: str | Path, size: int = 64, method: str = "haar",
                   landmarks: str = "auto", skip_unreadable: bool = False, model_path: str | Path | None = None,
                   pad: float = 0.0, chunk: int = 1000, holdout: float = 0.0, split_by: str | None = None,
                   holdout_photos: float | None = None, log: Any = None) -> PreparedFaces:
    """``fakevision faces prepare``: ``prepare_faces`` over a whole folder in chunks of ``chunk`` images, each
    written to ``OUT.parts/`` as soon as it is done, so an interrupted run (tens of thousands of faces take an
    hour of CPU with dlib) resumes at the next chunk when run again with the same settings; then the bundle
    (``write_face_bundle``) with every integer column of the folder's ``labels.csv`` as ``label_<name>`` and a
    held-out split (``assign_split``; ``split_by`` names the identity column, e.g. CelebA's ``identity``). The
    parts are removed once the bundle is written. ``log`` receives one progress line per chunk."""
    import time

    out = Path(out)
    if out.suffix != ".safetensors":
        raise InputError("the bundle must be a .safetensors file", out)
    if chunk < 1:
        raise InputError(f"chunk must be at least 1 image, got {chunk}")
    if method not in METHODS:
        raise InputError(f"unknown detector {method!r} (one of {', '.join(METHODS)})")
    if landmarks not in LANDMARK_SOURCES:
        raise InputError(f"unknown landmark source {landmarks!r} (one of {', '.join(LANDMARK_SOURCES)})")
    total, _, has_gt, _ = _items(source)
    use = ("ground-truth" if has_gt else "dlib") if landmarks == "auto" else landmarks
    parts_dir = out.with_name(out.name + ".parts")
    settings = {"source": str(Path(source).resolve()), "size": size, "method": method, "landmarks": landmarks,
                "pad": pad, "chunk": chunk, "skip_unreadable": skip_unreadable, "images": total,
                "model": str(model_path or "")}
    stamp = parts_dir / "settings.json"
    if stamp.is_file() and json.loads(stamp.read_text()) != settings and any(parts_dir.glob("part_*.npz")):
        raise InputError("these parts were made with other settings; delete the folder to start again", parts_dir)
    from fakevision.io.atomic import atomic_write_json

    atomic_write_json(stamp, settings)
    parts: list[PreparedFaces] = []
    t0 = time.perf_counter()
    done_now = 0
    for c, lo in enumerate(range(0, total, chunk)):
        path = parts_dir / f"part_{lo:08d}.npz"
        if path.is_file():
            part = _load_part(path, method, use)
        else:
            part = prepare_faces(source, size, method, landmarks, skip_unreadable, model_path, pad=pad, start=lo,
                                 stop=lo + chunk, allow_empty=True)
            _save_part(path, part)
            done_now += part.images
        parts.append(part)
        if log is not None:
            seen = sum(p.images for p in parts)
            rate = done_now / max(time.perf_counter() - t0, 1e-9)
            # a chunk read back from an earlier run has no rate of its own: say so rather than "0.0 images/s"
            speed = (f"{rate:.1f} images/s, ETA {(total - seen) / rate / 60:.1f} min" if rate > 0
                     else "read from an earlier run")
            log(f"chunk {c + 1}/{-(-total // chunk)}: {seen}/{total} images, {sum(len(p.faces) for p in parts)} "
                f"faces, no face {sum(len(p.no_face) for p in parts)}, landmarks failed "
                f"{sum(len(p.landmarks_failed) for p in parts)}, {speed}")
    res = _concat(parts, method, use, source)
    root = Path(source) if isinstance(source, (str, Path)) else None
    res.labels = read_labels(root, res.files) if root is not None else {}
    groups = None
    if split_by is not None:
        if split_by not in res.labels:
            raise InputError(f"no integer column {split_by!r} in labels.csv to split by", root or "source")
        groups = res.labels[split_by]
    res.split = assign_split(res.files, res.split, holdout, groups, holdout_photos)
    write_face_bundle(res, out)
    import shutil

    shutil.rmtree(parts_dir, ignore_errors=True)
    return res
