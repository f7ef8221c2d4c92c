"""labelme JSON files (one per image): polygons, rectangles and circles with a label and optional ``group_id``.

Coordinate convention: labelme stores the points where the user clicked on a Qt canvas that draws pixel (i, j)
over [i, i + 1) x [j, j + 1), so its coordinates are corner-based, already ours. Polygons are rasterised with
pycocotools (the COCO reference rasteriser): a pixel belongs to the mask when its centre (i + 0.5, j + 0.5) lies
inside. (labelme's own ``shape_to_mask`` draws with PIL, which puts pixel centres at integers, so its masks may
differ from ours by one boundary pixel.)

Instances: shapes with the same (label, group_id) form one instance (e.g. a person split in two by an occluding
bottle); a shape without group_id is an instance by itself. Boxes come from the masks (the design's rule: boxes
are recomputed from masks); an instance made only of rectangles keeps the exact rectangle as its box. Images made
only of rectangles get boxes and no masks. Shapes labelled in ``ignore_labels`` (default ``__ignore__``) are
skipped. Point/line shapes are not instances: they are an error naming the file and shape.
"""

from __future__ import annotations

import base64
import json
import math
import posixpath
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from fakevision.core.errors import InputError
from fakevision.core.sample import Sample, boxes_from_masks
from fakevision.io.readers.base import Reader, decode_rle, make_sample, rel_posix, relative_inside, require_path

AREA_SHAPES = ("polygon", "rectangle", "circle")


def rasterise_polygon(xy: np.ndarray, height: int, width: int) -> np.ndarray:
    """Mask of the pixels whose centres lie inside polygon ``xy`` (K x 2, corner-based coordinates).

    >>> rasterise_polygon(np.array([[1, 1], [3, 1], [3, 3], [1, 3]], float), 4, 5).astype(int).tolist()
    [[0, 0, 0, 0, 0], [0, 1, 1, 0, 0], [0, 1, 1, 0, 0], [0, 0, 0, 0, 0]]
    """
    flat = [np.asarray(xy, dtype=np.float64).reshape(-1).tolist()]
    return decode_rle(mask_utils.merge(mask_utils.frPyObjects(flat, height, width)))


def _shape_polygon(shape: dict[str, Any], where: str, p: Path) -> np.ndarray:
    kind = shape.get("shape_type") or "polygon"
    try:
        pts = np.asarray(shape["points"], dtype=np.float64).reshape(-1, 2)
    except (KeyError, TypeError, ValueError):
        raise InputError(f"{where}: points must be a list of [x, y]", p) from None
    if not np.all(np.isfinite(pts)):
        raise InputError(f"{where}: points contain NaN or infinite values", p)
    if kind == "polygon":
        if len(pts) < 3:
            raise InputError(f"{where}: polygon with {len(pts)} points (needs >= 3)", p)
        return pts
    if kind == "rectangle":
        if len(pts) != 2:
            raise InputError(f"{where}: rectangle needs 2 corner points, got {len(pts)}", p)
        (x0, y0), (x1, y1) = pts.min(0), pts.max(0)
        return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
    if kind == "circle":
        if len(pts) != 2:
            raise InputError(f"{where}: circle needs centre and a point on the rim, got {len(pts)} points", p)
        r = float(np.hypot(*(pts[1] - pts[0])))
        n = max(16, int(math.ceil(2 * math.pi * r)))
        t = np.arange(n) * (2 * math.pi / n)
        return pts[0] + r * np.stack([np.cos(t), np.sin(t)], axis=1)
    raise InputError(f"{where}: shape_type {kind!r} is not an area (supported: {', '.join(AREA_SHAPES)})", p)


def shapes_to_instances(
    shapes: list[dict[str, Any]], height: int, width: int, ignore_labels: tuple[str, ...], p: Path
) -> tuple[list[str], np.ndarray, np.ndarray | None, list[dict[str, Any]]]:
    """Group labelme shapes into instances: (categories, N x 4 boxes, N x H x W masks or None, attributes).

    >>> sq = {"label": "a", "points": [[1, 1], [3, 1], [3, 3], [1, 3]], "group_id": None}
    >>> cats, boxes, masks, _ = shapes_to_instances([sq], 4, 5, (), Path("x.json"))
    >>> cats, boxes.tolist(), int(masks.sum())
    (['a'], [[1.0, 1.0, 3.0, 3.0]], 4)
    """
    groups: dict[Any, list[tuple[str, np.ndarray]]] = {}
    labels: dict[Any, str] = {}
    for k, shape in enumerate(shapes):
        label = str(shape.get("label", ""))
        if label in ignore_labels:
            continue
        kind = shape.get("shape_type") or "polygon"
        poly = _shape_polygon(shape, f"shape {k} ({label!r})", p)
        gid = shape.get("group_id")
        key = ("shape", k) if gid is None else ("group", label, gid)
        groups.setdefault(key, []).append((kind, poly))
        labels[key] = label
    keys = list(groups)
    boxes = np.zeros((len(keys), 4))
    masks = np.zeros((len(keys), height, width), bool)
    for j, key in enumerate(keys):
        for _, poly in groups[key]:
            masks[j] |= rasterise_polygon(poly, height, width)
        if all(kind == "rectangle" for kind, _ in groups[key]):
            allpts = np.concatenate([poly for _, poly in groups[key]])
            lo = allpts.min(0).clip(0, [width, height])
            hi = allpts.max(0).clip(0, [width, height])
            boxes[j] = [*lo, *hi]
        else:
            boxes[j] = boxes_from_masks(masks[j : j + 1])[0]
    only_rects = all(kind == "rectangle" for key in keys for kind, _ in groups[key])
    attrs = [{"shape_types": sorted({kind for kind, _ in groups[key]}),
              "group_id": key[2] if key[0] == "group" else None} for key in keys]
    return [labels[key] for key in keys], boxes, None if only_rects else masks, attrs


class LabelmeReader(Reader):
    """Read labelme ``*.json`` files in a folder (or one file); one sample per JSON, ids = JSON relative paths.

    The image is ``imagePath`` relative to the JSON, or the embedded ``imageData`` when that file is absent.

    >>> import tempfile
    >>> from fakevision.io.images import encode_image
    >>> root = Path(tempfile.mkdtemp())
    >>> _ = (root / "a.png").write_bytes(encode_image(np.zeros((6, 8, 3), np.uint8)))
    >>> shapes = [{"label": "box", "points": [[1, 1], [5, 4]], "shape_type": "rectangle", "group_id": None}]
    >>> _ = (root / "a.json").write_text(json.dumps({"shapes": shapes, "imagePath": "a.png"}))
    >>> s = LabelmeReader(root)[0]
    >>> s.annotations.categories, s.annotations.boxes.tolist(), s.annotations.masks is None
    (['box'], [[1.0, 1.0, 5.0, 4.0]], True)
    """

    format = "labelme"

    def __init__(self, path: str | Path, ignore_labels: list[str] | tuple[str, ...] = ("__ignore__",),
                 mode: str = "RGB") -> None:
        p = require_path(path, "file" if Path(path).is_file() else "folder")
        files = [p] if p.is_file() else sorted(p.glob("*.json"))
        super().__init__(p.parent if p.is_file() else p, mode)
        if not files:
            raise InputError("no labelme .json files in this folder", p)
        self.ignore_labels = tuple(ignore_labels)
        self._ids = [rel_posix(f, self.root) for f in files]

    def _load(self, i: int) -> Sample:
        rel = self._ids[i]
        jp = self.root / rel
        try:
            doc = json.loads(jp.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError("file not found", jp) from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise InputError(f"not a readable JSON file ({e})", jp) from None
        if not isinstance(doc, dict) or not isinstance(doc.get("shapes"), list):
            raise InputError("not a labelme file (no 'shapes' list)", jp)
        image, img_rel = self._image(doc, jp, rel)
        h, w = image.shape[:2]
        if doc.get("imageHeight") not in (None, h) or doc.get("imageWidth") not in (None, w):
            raise InputError(f"image is {w}x{h} but the JSON says {doc.get('imageWidth')}x{doc.get('imageHeight')}",
                             jp)
        categories, boxes, masks, attrs = shapes_to_instances(doc["shapes"], h, w, self.ignore_labels, jp)
        return make_sample(image, jp, self._provenance(img_rel, annotation=rel), categories=categories,
                           boxes=boxes, masks=masks, instance_attributes=attrs)

    def _image(self, doc: dict[str, Any], jp: Path, rel: str) -> tuple[np.ndarray, str]:
        image_path = doc.get("imagePath")
        if image_path:
            text = str(image_path).replace("\\", "/")
            json_dir = posixpath.dirname(rel)
            img_rel = relative_inside(self.root, posixpath.join(json_dir, text) if json_dir else text)
            if img_rel is None:  # image outside the data set root: name it as the JSON does
                img_rel = posixpath.normpath(text)
            ip = jp.parent / text
            if ip.is_file():
                return self._read_image(ip), img_rel
        if doc.get("imageData"):
            try:
                data = base64.b64decode(doc["imageData"], validate=False)
            except (ValueError, TypeError):
                raise InputError("imageData is not valid base64", jp) from None
            return self._decode_image(data, jp), rel
        raise InputError(f"image file not found: {image_path!r} (and no embedded imageData)", jp)
