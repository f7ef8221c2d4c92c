"""Image / mask pairs from two folders or from a tar archive (``<prefix>/images/<rest>`` with its mask at
``<prefix>/mask/<rest>``), e.g. iris images with their ground-truth iris masks.

Each mask becomes one instance of ``category`` (mask + tight box) plus a ``label_map`` (0 background,
1 category). A mask pixel is foreground when its grey value is above ``threshold`` (masks stored as 0/255 RGB or
grey images). The mask is pixel-aligned with the image, so there is no coordinate conversion; the box is the
corner-convention box of the mask (columns a..b give x0 = a, x1 = b + 1). An empty mask gives zero instances.
Pairing is by relative path: same ``<rest>``, else the same ``<rest>`` without extension (``a.jpg`` with
``a.png``). An image without a mask is an error naming the image.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import numpy as np

from fakevision.core.errors import InputError
from fakevision.core.sample import Sample, boxes_from_masks
from fakevision.io.images import decode_image
from fakevision.io.readers.archive import FolderStore, TarStore, is_archive
from fakevision.io.readers.base import IMAGE_EXTENSIONS, Reader, make_sample, require_path

DEFAULT_MASK_DIRS = ("masks", "mask")


def _split(name: str, folder: str) -> tuple[str, str] | None:
    """Split ``a/images/b/c.bmp`` at the first component equal to ``folder``: ('a', 'b/c.bmp')."""
    parts = PurePosixPath(name).parts
    if folder in parts[:-1]:
        k = parts.index(folder)
        return "/".join(parts[:k]), "/".join(parts[k + 1 :])
    return None


def _join(prefix: str, folder: str, rest: str) -> str:
    return f"{prefix}/{folder}/{rest}" if prefix else f"{folder}/{rest}"


class MaskPairReader(Reader):
    """Read image/mask pairs from a folder holding ``images/`` and ``masks/`` (or ``mask/``) or a tar archive.

    >>> import tempfile
    >>> from fakevision.io.images import encode_image
    >>> root = Path(tempfile.mkdtemp())
    >>> m = np.zeros((6, 8), np.uint8); m[2:4, 3:7] = 255
    >>> for sub, img in (("images", np.zeros((6, 8, 3), np.uint8)), ("masks", m)):
    ...     (root / sub).mkdir(); _ = (root / sub / "e.png").write_bytes(encode_image(img))
    >>> s = MaskPairReader(root, category="iris")[0]
    >>> s.annotations.categories, s.annotations.boxes.tolist(), s.id
    (['iris'], [[3.0, 2.0, 7.0, 4.0]], 'images/e.png')
    """

    format = "mask_pairs"

    def __init__(
        self,
        path: str | Path,
        image_dir: str = "images",
        mask_dir: str | None = None,
        category: str = "foreground",
        threshold: int = 127,
        cache_dir: str | Path | None = None,
        mode: str = "RGB",
    ) -> None:
        p = require_path(path, "file" if Path(path).is_file() else "folder")
        super().__init__(p, mode)
        if p.is_file() and not is_archive(p):
            raise InputError("not a tar archive (expected a folder or .tar/.tar.gz/.tar.xz)", p)
        self.store: FolderStore | TarStore = TarStore(p, cache_dir) if p.is_file() else FolderStore(p)
        self.category = category
        self.threshold = int(threshold)
        names = self.store.names()
        name_set = set(names)
        images = [(n, sp) for n in names if (sp := _split(n, image_dir)) is not None
                  and PurePosixPath(n).suffix.lower() in IMAGE_EXTENSIONS]
        if not images:
            raise InputError(f"no images under a folder named {image_dir!r}", p)
        mask_dirs = (mask_dir,) if mask_dir else DEFAULT_MASK_DIRS
        by_stem: dict[str, str] = {}
        for n in names:
            if PurePosixPath(n).suffix.lower() in IMAGE_EXTENSIONS:
                by_stem.setdefault(str(PurePosixPath(n).with_suffix("")), n)
        self._masks: list[str] = []
        for name, (prefix, rest) in images:
            mask = None
            for md in mask_dirs:
                cand = _join(prefix, md, rest)
                mask = cand if cand in name_set else by_stem.get(str(PurePosixPath(cand).with_suffix("")))
                if mask:
                    break
            if mask is None:
                raise InputError(f"no mask for this image (looked in {'/'.join(mask_dirs)}/)", self.store.display(name))
            self._ids.append(name)
            self._masks.append(mask)

    def _load(self, i: int) -> Sample:
        name, mask_name = self._ids[i], self._masks[i]
        image = self._decode_image(self.store.read(name), self.store.display(name))
        grey = decode_image(self.store.read(mask_name), self.store.display(mask_name), mode="L")[:, :, 0]
        if grey.shape != image.shape[:2]:
            raise InputError(f"mask is {grey.shape[1]}x{grey.shape[0]} but its image is "
                             f"{image.shape[1]}x{image.shape[0]}", self.store.display(mask_name))
        fg = grey > self.threshold
        masks = fg[None] if fg.any() else np.zeros((0, *fg.shape), bool)
        return make_sample(
            image, self.store.display(name), self._provenance(name, mask=mask_name),
            categories=[self.category] * len(masks), boxes=boxes_from_masks(masks), masks=masks,
            label_map=fg.astype(np.int32), label_names={0: "background", 1: self.category},
        )
