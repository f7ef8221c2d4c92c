"""dlib imglab XML (``<dataset><images><image file=...><box top left width height><part name x y/>``), the format
of dlib's face detector and shape-predictor training sets.

Coordinate convention: dlib addresses pixels by integer index, a pixel's centre at its integer coordinates, and a
box covers the pixel columns ``left .. left + width - 1`` (dlib rectangles are inclusive). Ours: box
``[left, top, left + width, top + height]`` (no shift: the corner of pixel ``left`` is at ``left``), and a part
at ``(x, y)`` is ``(x + 0.5, y + 0.5)``. Boxes reaching past the border (dlib allows it for faces cut by the
frame) are clipped to the image; parts outside the image are kept with visibility 1; parts absent from a box
have visibility 0. Boxes with ``ignore='1'`` are skipped unless ``include_ignored``. 68 parts named 00..67 use
the ``ibug68`` schema, other part sets a generic one.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np

from fakevision.core.errors import InputError
from fakevision.core.keypoints import generic_schema
from fakevision.core.sample import UNLABELLED, Sample
from fakevision.io.readers.base import Reader, make_sample, relative_inside, require_path
from fakevision.io.readers.pts import visibility_in_frame

DLIB_PART_OFFSET = 0.5  # dlib pixel index (centre at integer) -> ours (centre at +0.5)


def _int(el: ET.Element, key: str, where: str, p: Path) -> int:
    try:
        return int(el.attrib[key])
    except (KeyError, ValueError):
        raise InputError(f"{where}: attribute {key!r} missing or not an integer", p) from None


class DlibXmlReader(Reader):
    """Read a dlib imglab XML file; ``file`` paths are relative to the XML's folder.

    >>> import tempfile
    >>> from fakevision.io.images import encode_image
    >>> root = Path(tempfile.mkdtemp())
    >>> _ = (root / "a.png").write_bytes(encode_image(np.zeros((10, 12, 3), np.uint8)))
    >>> _ = (root / "f.xml").write_text("<dataset><images><image file='a.png'>"
    ...     "<box top='2' left='3' width='4' height='5'><part name='00' x='4' y='3'/></box></image></images></dataset>")
    >>> a = DlibXmlReader(root / "f.xml")[0].annotations
    >>> a.boxes.tolist(), a.keypoints.tolist(), a.keypoint_schema.name
    ([[3.0, 2.0, 7.0, 7.0]], [[[4.5, 3.5]]], 'generic1')
    """

    format = "dlib"

    def __init__(self, path: str | Path, category: str = "face", include_ignored: bool = False,
                 mode: str = "RGB") -> None:
        xml_path = require_path(path, "file")
        super().__init__(xml_path.parent, mode)
        self.xml_path = xml_path
        self.category = category
        try:
            tree = ET.parse(xml_path)
        except ET.ParseError as e:
            raise InputError(f"not valid XML ({e})", xml_path) from None
        images = tree.getroot().find("images")
        if tree.getroot().tag != "dataset" or images is None:
            raise InputError("not a dlib imglab file (expected <dataset><images>)", xml_path)
        self._boxes: list[list[dict[str, Any]]] = []
        num_parts = 0
        for k, im in enumerate(images.iter("image")):
            rel = relative_inside(self.root, im.attrib.get("file", ""))
            if not im.attrib.get("file") or rel is None:
                raise InputError(f"image {k}: 'file' missing or outside the XML's folder", xml_path)
            if not (self.root / rel).is_file():
                raise InputError(f"image {k}: image file not found: {rel}", xml_path)
            boxes = []
            for j, b in enumerate(im.iter("box")):
                where = f"image {rel}, box {j}"
                if b.attrib.get("ignore", "0") != "0" and not include_ignored:
                    continue
                top, left = _int(b, "top", where, xml_path), _int(b, "left", where, xml_path)
                w, h = _int(b, "width", where, xml_path), _int(b, "height", where, xml_path)
                parts: dict[int, tuple[float, float]] = {}
                for part in b.iter("part"):
                    try:
                        name = int(part.attrib["name"])
                        if name < 0:
                            raise ValueError
                        parts[name] = (float(part.attrib["x"]), float(part.attrib["y"]))
                    except (KeyError, ValueError):
                        raise InputError(f"{where}: part needs a name 0, 1, ... and numbers x, y", xml_path) from None
                if not all(np.isfinite(v).all() for v in parts.values()):
                    raise InputError(f"{where}: part coordinates contain NaN or infinite values", xml_path)
                num_parts = max(num_parts, 1 + max(parts, default=-1))
                boxes.append({"box": [left, top, left + w, top + h], "parts": parts})
            self._ids.append(rel)
            self._boxes.append(boxes)
        self.num_parts = num_parts
        self.keypoint_schema = None if num_parts == 0 else "ibug68" if num_parts == 68 else generic_schema(
            num_parts).name

    def _load(self, i: int) -> Sample:
        rel = self._ids[i]
        image = self._read_image(self.root / rel)
        h, w = image.shape[:2]
        boxes = np.array([b["box"] for b in self._boxes[i]], dtype=np.float64).reshape(-1, 4)
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
        extra: dict[str, Any] = {}
        if self.num_parts:
            kp = np.zeros((len(boxes), self.num_parts, 2))
            vis = np.full((len(boxes), self.num_parts), UNLABELLED, np.uint8)
            for j, b in enumerate(self._boxes[i]):
                for name, xy in b["parts"].items():
                    kp[j, name] = np.asarray(xy) + DLIB_PART_OFFSET
                    vis[j, name] = visibility_in_frame(kp[j, name], w, h)
            extra = {"keypoints": kp, "visibility": vis, "keypoint_schema": self.keypoint_schema}
        return make_sample(image, self.xml_path, self._provenance(rel, annotation=self.xml_path.name),
                           categories=[self.category] * len(boxes), boxes=boxes, **extra)
