"""What every reader shares: a lazy random-access sequence of ``Sample``s with stable, relative ids.

Why lazy: a data set of 100k images must open in well under a second, and an augmentation source asks for sample
``i % len(reader)`` in any order from any worker. So a reader indexes its files once (names and small annotation
files only) and decodes the image on ``reader[i]``. Why relative ids: outputs must be byte-identical on every
machine, so provenance never carries an absolute path, only the path relative to the data set root.
"""

from __future__ import annotations

import math
import posixpath
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar, overload

import numpy as np

from fakevision.core.errors import InputError
from fakevision.core.sample import Annotations, Provenance, Sample
from fakevision.io.images import decode_image, read_image

IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".pgm", ".ppm", ".tif", ".tiff")

#: Colour handling of every reader: "RGB" (default: 3 channels, what most models expect), "L" (grey, 1 channel)
#: or "keep" (the file's own channels: grey stays grey, RGBA stays RGBA).
MODES: tuple[str, ...] = ("RGB", "L", "keep")


def is_image_file(p: Path) -> bool:
    """True for a visible file whose extension is a supported image type (case-insensitive)."""
    return p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")


def rel_posix(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` with forward slashes on every OS (ids must not depend on the machine)."""
    return path.relative_to(root).as_posix()


def relative_inside(root: Path, name: str) -> str | None:
    """``name`` (a path from an annotation file, relative to ``root`` or absolute) as a normalised relative posix
    path, or None when it points outside ``root``. Symlinks are not followed: a data set whose images are
    links elsewhere keeps the ids its files show.

    >>> relative_inside(Path("/data"), "imgs/./a/../b.png"), relative_inside(Path("/data"), "../x.png")
    ('imgs/b.png', None)
    """
    p = Path(name.replace("\\", "/"))
    if p.is_absolute():
        try:
            p = p.relative_to(root.absolute())
        except ValueError:
            return None
    norm = posixpath.normpath(p.as_posix())
    return None if norm == ".." or norm.startswith("../") or norm.startswith("/") else norm


def sorted_images(folder: Path) -> list[Path]:
    """Image files under ``folder`` (recursive), sorted by relative path so the order is the same everywhere."""
    return sorted((p for p in folder.rglob("*") if p.is_file() and is_image_file(p)),
                  key=lambda p: rel_posix(p, folder))


def require_path(path: str | Path, kind: str = "file") -> Path:
    """Return ``path`` as a Path if it exists as a ``kind`` ("file" or "folder"), else raise InputError."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{kind} not found", p)
    if kind == "file" and not p.is_file():
        raise InputError("is a folder, expected a file", p)
    if kind == "folder" and not p.is_dir():
        raise InputError("is a file, expected a folder", p)
    return p


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    return mode


def parse_scalar(text: str) -> int | float | str | None:
    """Parse a CSV/text cell: int, then float, else the string; an empty cell is None.

    >>> [parse_scalar(t) for t in ["3", "-2.5", "1e3", "male", ""]]
    [3, -2.5, 1000.0, 'male', None]
    """
    t = text.strip()
    if t == "":
        return None
    try:
        return int(t)
    except ValueError:
        pass
    try:
        v = float(t)
    except ValueError:
        return t
    return v if math.isfinite(v) else t


class Reader(Sequence[Sample]):
    """Base class: ``len(reader)`` items, ``reader[i]`` decodes item ``i`` into a ``Sample``.

    Subclasses set ``format``, fill ``self._ids`` (one relative path per item, sorted) in ``__init__`` and
    implement ``_load(i)``. Negative indices and slices work as for lists.
    """

    format: ClassVar[str] = "base"

    def __init__(self, root: str | Path, mode: str = "RGB") -> None:
        self.root = Path(root)
        self.mode = check_mode(mode)
        self._ids: list[str] = []

    def __len__(self) -> int:
        return len(self._ids)

    @overload
    def __getitem__(self, index: int) -> Sample: ...

    @overload
    def __getitem__(self, index: slice) -> list[Sample]: ...

    def __getitem__(self, index: int | slice) -> Sample | list[Sample]:
        if isinstance(index, slice):
            return [self._load_named(j) for j in range(*index.indices(len(self)))]
        n = len(self)
        i = int(index)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"index {index} out of range for {n} samples")
        return self._load_named(i)

    def _load_named(self, i: int) -> Sample:
        """``_load(i)``; a malformed annotation a reader's own checks missed still ends as ``InputError`` naming
        the item (found by fuzzing: wrong JSON types deep in a file must not end in a traceback)."""
        try:
            return self._load(i)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError) as e:
            raise InputError(f"malformed {self.format} annotation ({type(e).__name__}: {e})",
                             self._where(i)) from None

    def _where(self, i: int) -> str | Path:
        """The file item ``i`` comes from, for messages (readers whose ids are not paths under ``root`` say)."""
        return self.root / self._ids[i]

    def __iter__(self) -> Iterator[Sample]:
        for i in range(len(self)):
            yield self._load_named(i)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.root)!r}, {len(self)} samples)"

    @property
    def labels(self) -> list[str | None]:
        """The image-level label of every item without decoding images (for per-class sampling). None for
        formats without image labels; readers that have them (folder, csv) override this."""
        return [None] * len(self)

    @property
    def ids(self) -> list[str]:
        """The stable sample ids (relative paths), in index order."""
        return list(self._ids)

    def _load(self, i: int) -> Sample:
        raise NotImplementedError

    # helpers for subclasses -------------------------------------------------------------------------------
    def _read_image(self, path: Path) -> np.ndarray:
        return read_image(path, mode=None if self.mode == "keep" else self.mode)

    def _decode_image(self, data: bytes, name: str | Path) -> np.ndarray:
        return decode_image(data, name, mode=None if self.mode == "keep" else self.mode)

    def _provenance(self, rel: str, **params: Any) -> Provenance:
        return Provenance(source=f"read:{self.format}", sample_id=rel, params={"path": rel, **params})


def make_sample(image: np.ndarray, name: str | Path, provenance: Provenance, **annotations: Any) -> Sample:
    """Build a validated Sample; a validation error is re-raised naming ``name`` (the file it came from)."""
    try:
        return Sample(image, Annotations(**annotations), provenance)
    except InputError as e:
        raise InputError(e.problem, name, fix=e.fix) from None


def decode_rle(rle: Any) -> np.ndarray:
    """Decode one pycocotools RLE into an H x W bool mask.

    pycocotools' Cython decoder trips a NumPy 2 DeprecationWarning (``copy=False`` in ``__array__``) on every
    call; it is harmless, so it is silenced here rather than flooding users' logs.
    """
    from pycocotools import mask as mask_utils

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return mask_utils.decode(rle).astype(bool)
