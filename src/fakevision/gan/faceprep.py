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


def _largest_first(boxes: np.ndarray) -> np.ndarray:
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

    def report(self) -> dict[str, Any]:
        return {"images": self.images, "faces": len(self.faces), "size": int(self.faces.shape[1]),
                "detector": self.method, "landmarks": self.landmark_source, "no_face": len(self.no_face),
                "no_face_files": self.no_face, "several_faces": len(self.several_faces),
                "several_faces_files": self.several_faces, "unreadable": len(self.unreadable),
                "unreadable_files": self.unreadable, "no_landmarks": len(self.no_landmarks),
                "no_landmarks_files": self.no_landmarks, "held_out": int((self.split == 1).sum()),
                "dlib_fixed_box_fallback": self.judge_fallback}


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


def prepare_faces(source: Any, size: int = 64, method: str = "haar", landmarks: str = "auto",
                  skip_unreadable: bool = False, model_path: str | Path | None = None,
                  progress: Any = None) -> PreparedFaces:
    """Detect, crop to ``size`` x ``size`` and annotate every image of ``source`` (a folder, searched recursively,
    or a fakevision ``Reader``; a folder with 300-W ``.pts`` files is read with its ground truth).

    ``landmarks``: "ground-truth" (the data set's; an error if it has none), "dlib" (dlib's 68-point predictor on a
    crop of at least 256 px with the judge's box rule, ``DlibLandmarker.landmarks``), "none", or "auto" (ground
    truth when there is some, else dlib). An image without a face is skipped and listed in the report (with ground
    truth: without a detection on the annotated face); with several faces the largest is kept. An unreadable file
    raises ``InputError`` naming it, or is listed and skipped with ``skip_unreadable``. With ground truth, images
    without a ``.pts`` are listed and skipped. ``progress`` is called with (done, total) before each image and at
    the end.
    """
    if method not in METHODS:
        raise InputError(f"unknown detector {method!r} (one of {', '.join(METHODS)})")
    if landmarks not in LANDMARK_SOURCES:
        raise InputError(f"unknown landmark source {landmarks!r} (one of {', '.join(LANDMARK_SOURCES)})")
    if size < 8:
        raise InputError(f"size must be at least 8 px, got {size}")
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
    out = PreparedFaces(np.zeros((0, size, size, 3), np.uint8), None, [], np.zeros((0, 4)), np.zeros((0, 3), int),
                        np.zeros(0, np.int8), method, use, no_landmarks=unannotated)
    faces, lms, boxes, crops, split = [], [], [], [], []
    for k, (rid, load) in enumerate(items):
        if progress is not None:
            progress(k, total)
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
        if method == "landmarks":
            found = np.concatenate([gt.min(0), gt.max(0)])[None]
        else:
            found = detect_faces(image, method)
        j = _pick(found, gt if use == "ground-truth" else None) if len(found) else None
        if j is None:
            out.no_face.append(rid)
        else:
            if len(found) > 1:
                out.several_faces.append(rid)
            crop, t = crop_face(image, found[j], size, margin, shift)
            if use == "ground-truth":
                lms.append(t.apply(gt))
            elif use == "dlib":
                big, _ = crop_face(image, found[j], hi, margin, shift)
                pts, rule = judge.landmarks(big)
                out.judge_fallback += rule != "hog"
                lms.append(pts * (size / hi))
            faces.append(crop)
            boxes.append(found[j])
            crops.append([t.left, t.top, t.side])
            out.files.append(rid)
            split.append(FACE_SPLITS.get(rid.split("/", 1)[0], 0) if has_gt else 0)
    if progress is not None:
        progress(total, total)
    if not faces:
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
    meta = {"size": str(s), "detector": prepared.method, "landmarks": prepared.landmark_source,
            "files": json.dumps(prepared.files)}
    atomic_write_bytes(out, save(tensors, metadata=meta))
    atomic_write_json(out.with_name(out.name + ".report.json"), prepared.report())
    return out
