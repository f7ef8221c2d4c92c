"""Image folders: one subfolder per class (``root/<class>/**/<image>``, the torchvision ImageFolder layout), or a
flat folder of images without labels (``root/<image>``, what most people have).

Label = the name of the top-level subfolder; images may sit deeper inside it (``images/males/asian/x.jpg`` has
label ``males``). A folder whose images all lie directly in it (no subfolder holds any image) is read flat, every
sample unlabelled. Only image extensions count (jpg, jpeg, png, bmp, pgm, ppm, tif, tiff); other files (READMEs,
CSVs) are ignored. A class folder without any image is an error, not a silently missing class, and so are loose
images beside class folders (which class would they be?). No geometry, so no coordinate convention to convert.
"""

from __future__ import annotations

from pathlib import Path

from fakevision.core.errors import InputError
from fakevision.core.sample import Sample
from fakevision.io.readers.base import Reader, is_image_file, make_sample, rel_posix, require_path, sorted_images


class ImageFolderReader(Reader):
    """Read ``root/<class>/**/<image>`` as samples labelled ``<class>``, or a flat ``root/<image>`` folder as
    unlabelled samples.

    ``classes`` keeps only the named class folders; items are always in relative-path order, whatever the order
    of ``classes``, so ids and indices do not depend on how the option was written.

    >>> import tempfile, numpy as np
    >>> from fakevision.io.images import encode_image
    >>> root = Path(tempfile.mkdtemp())
    >>> for c in ("cat", "dog"):
    ...     (root / c).mkdir()
    ...     _ = (root / c / "1.png").write_bytes(encode_image(np.zeros((4, 5, 3), np.uint8)))
    >>> r = ImageFolderReader(root)
    >>> len(r), r[1].annotations.label, r[1].id, r.classes
    (2, 'dog', 'dog/1.png', ['cat', 'dog'])
    >>> flat = Path(tempfile.mkdtemp())
    >>> _ = (flat / "a.png").write_bytes(encode_image(np.zeros((4, 5, 3), np.uint8)))
    >>> r = ImageFolderReader(flat)
    >>> len(r), r[0].id, r[0].annotations.label, r.classes
    (1, 'a.png', None, [])
    """

    format = "folder"

    def __init__(self, path: str | Path, classes: list[str] | None = None, mode: str = "RGB") -> None:
        super().__init__(require_path(path, "folder"), mode)
        folders = sorted(p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))
        loose = sorted(p.name for p in self.root.iterdir() if p.is_file() and is_image_file(p))
        self._labels: list[str | None] = []
        if loose and classes is None and not any(sorted_images(f) for f in folders):  # a flat folder of images
            self._ids = list(loose)
            self._labels = [None] * len(loose)
            self.classes: list[str] = []
            return
        if classes is not None:
            names = {p.name for p in folders}
            missing = [c for c in classes if c not in names]
            if missing:
                raise InputError(f"class folder(s) {missing} not found; found {sorted(names)}", self.root)
            folders = [p for p in folders if p.name in set(classes)]
        if not folders:
            raise InputError("no images and no class subfolders (expected root/<image> or root/<class>/<image>)",
                             self.root)
        if loose:  # silently skipping them would drop data without a word
            raise InputError(f"{len(loose)} image(s) outside any class folder (e.g. {loose[0]}); move them into "
                             "root/<class>/ (or keep only loose images for an unlabelled set)", self.root)
        for folder in folders:
            images = sorted_images(folder)
            if not images:
                raise InputError("class folder holds no images (jpg/jpeg/png/bmp/pgm/ppm/tif)", folder)
            self._ids += [rel_posix(p, self.root) for p in images]
            self._labels += [folder.name] * len(images)
        self.classes = [p.name for p in folders]

    @property
    def labels(self) -> list[str | None]:
        """The label of every item without decoding any image (for per-class sampling)."""
        return list(self._labels)

    def _load(self, i: int) -> Sample:
        rel = self._ids[i]
        path = self.root / rel
        return make_sample(self._read_image(path), path, self._provenance(rel), label=self._labels[i])
