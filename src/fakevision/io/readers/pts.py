"""300-W / iBUG ``.pts`` landmark files next to their images (``face.jpg`` + ``face.pts``).

File format: ``version: 1``, ``n_points: 68``, ``{``, one ``x y`` line per point, ``}``.

Coordinate convention: 300-W annotations are 1-based, Matlab style: (1, 1) is the *centre* of the top-left
pixel. Ours puts that centre at (0.5, 0.5), so ``x_ours = x_pts - 0.5`` (same for y). Points outside the image
(faces cut by the crop) are kept and marked visibility 1 (labelled, not visible); the face box is the landmarks'
extent clipped to the image.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from fakevision.core.errors import InputError
from fakevision.core.keypoints import get_schema
from fakevision.core.sample import OCCLUDED, VISIBLE, Sample
from fakevision.io.readers.base import IMAGE_EXTENSIONS, Reader, make_sample, rel_posix, require_path

PTS_OFFSET = -0.5  # 300-W (1-based, pixel centres at integers) -> ours (corner-based, centres at +0.5)


def parse_pts(path: str | Path, expected: int | None = None) -> np.ndarray:
    """Parse a ``.pts`` file into an (n, 2) float array *in the file's own convention* (no offset applied).

    ``expected`` (e.g. 68) makes a file with a different number of points an error naming the file.

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "a.pts"
    >>> _ = p.write_text("version: 1\\nn_points: 2\\n{\\n1 2\\n3.5 4\\n}\\n")
    >>> parse_pts(p).tolist()
    [[1.0, 2.0], [3.5, 4.0]]
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8", errors="strict")
    except FileNotFoundError:
        raise InputError("file not found", p) from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read .pts file ({e})", p) from None
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    n_declared: int | None = None
    try:
        start, end = lines.index("{"), lines.index("}")
    except ValueError:
        raise InputError("not a .pts file (no '{' ... '}' block)", p) from None
    for ln in lines[:start]:
        key, _, value = ln.partition(":")
        if key.strip() == "n_points":
            try:
                n_declared = int(value)
            except ValueError:
                raise InputError(f"bad n_points line {ln!r}", p) from None
    pts = []
    for k, ln in enumerate(lines[start + 1 : end]):
        parts = ln.split()
        try:
            if len(parts) != 2:
                raise ValueError
            x, y = float(parts[0]), float(parts[1])
        except ValueError:
            raise InputError(f"point {k}: expected 'x y', got {ln!r}", p) from None
        if not (math.isfinite(x) and math.isfinite(y)):
            raise InputError(f"point {k} is NaN or infinite ({ln!r})", p)
        pts.append((x, y))
    if n_declared is not None and n_declared != len(pts):
        raise InputError(f"n_points says {n_declared} but the file lists {len(pts)} points", p)
    if expected is not None and len(pts) != expected:
        raise InputError(f"{len(pts)} points, expected {expected}", p)
    return np.asarray(pts, dtype=np.float64).reshape(-1, 2)


def visibility_in_frame(xy: np.ndarray, width: int, height: int) -> np.ndarray:
    """COCO visibility for points known to be labelled: 2 inside [0, W] x [0, H], 1 (labelled, not visible)
    outside."""
    inside = (xy[..., 0] >= 0) & (xy[..., 0] <= width) & (xy[..., 1] >= 0) & (xy[..., 1] <= height)
    return np.where(inside, VISIBLE, OCCLUDED).astype(np.uint8)


class PtsReader(Reader):
    """Read every ``*.pts`` under ``path`` (recursive) with the image of the same stem beside it.

    Each sample has one instance (``category``, default "face") with the landmarks in ``keypoint_schema`` (default
    ``ibug68``; the file must have exactly that many points).

    >>> import tempfile
    >>> from fakevision.io.images import encode_image
    >>> root = Path(tempfile.mkdtemp())
    >>> _ = (root / "f.png").write_bytes(encode_image(np.zeros((8, 8, 3), np.uint8)))
    >>> _ = (root / "f.pts").write_text("n_points: 5\\n{\\n" + "1 1\\n" * 4 + "3 2\\n}\\n")
    >>> s = PtsReader(root, keypoint_schema="face5")[0]
    >>> s.annotations.keypoints[0, -1].tolist(), s.annotations.boxes.tolist()
    ([2.5, 1.5], [[0.5, 0.5, 2.5, 1.5]])
    """

    format = "pts"

    def __init__(
        self, path: str | Path, keypoint_schema: str = "ibug68", category: str = "face", mode: str = "RGB"
    ) -> None:
        super().__init__(require_path(path, "folder"), mode)
        self.schema = get_schema(keypoint_schema)
        self.category = category
        pts_files = sorted(self.root.rglob("*.pts"), key=lambda p: rel_posix(p, self.root))
        if not pts_files:
            raise InputError("no .pts files found", self.root)
        self._pts: list[str] = []
        for pf in pts_files:
            image = next((pf.with_suffix(e) for e in IMAGE_EXTENSIONS + tuple(x.upper() for x in IMAGE_EXTENSIONS)
                          if pf.with_suffix(e).is_file()), None)
            if image is None:
                raise InputError("no image with the same name beside it (jpg/png/...)", pf)
            self._ids.append(rel_posix(image, self.root))
            self._pts.append(rel_posix(pf, self.root))

    def _load(self, i: int) -> Sample:
        rel, pts_rel = self._ids[i], self._pts[i]
        image = self._read_image(self.root / rel)
        xy = parse_pts(self.root / pts_rel, self.schema.num_keypoints) + PTS_OFFSET
        h, w = image.shape[:2]
        vis = visibility_in_frame(xy, w, h)
        box = [max(0.0, xy[:, 0].min()), max(0.0, xy[:, 1].min()), min(float(w), xy[:, 0].max()),
               min(float(h), xy[:, 1].max())]
        if box[2] < box[0] or box[3] < box[1]:
            raise InputError("all landmarks lie outside the image", self.root / pts_rel)
        return make_sample(
            image, self.root / pts_rel, self._provenance(rel, annotation=pts_rel),
            categories=[self.category], boxes=[box], keypoints=xy[None], visibility=vis[None],
            keypoint_schema=self.schema.name,
        )
