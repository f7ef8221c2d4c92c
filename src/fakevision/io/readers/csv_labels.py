"""CSV label files: one row per image, a path column, a chosen label column, other columns as attributes.

Example (UTKFace): ``path,age,gender,race`` with ``label_column="gender"`` and ``label_names={0: "male",
1: "female"}`` gives ``label="female"``, ``attributes={"age": 10, "race": 2}``. Paths are relative to
``image_root`` (default: the CSV's folder). Numbers in cells are parsed (int, then float); empty cells are None.
No geometry, so no coordinate convention to convert.
"""

from __future__ import annotations

import csv
from pathlib import Path

from fakevision.core.errors import InputError
from fakevision.core.sample import Sample
from fakevision.io.readers.base import Reader, make_sample, parse_scalar, relative_inside, require_path


class CsvReader(Reader):
    """Read images listed in a CSV file, labelled by one of its columns.

    >>> import tempfile, numpy as np
    >>> from fakevision.io.images import encode_image
    >>> root = Path(tempfile.mkdtemp())
    >>> _ = (root / "a.png").write_bytes(encode_image(np.zeros((4, 5, 3), np.uint8)))
    >>> _ = (root / "labels.csv").write_text("path,age,gender\\na.png,31,1\\n")
    >>> s = CsvReader(root / "labels.csv", label_column="gender", label_names={0: "male", 1: "female"})[0]
    >>> s.annotations.label, s.annotations.attributes, s.id
    ('female', {'age': 31}, 'a.png')
    """

    format = "csv"

    def __init__(
        self,
        path: str | Path,
        label_column: str | None = None,
        path_column: str = "path",
        label_names: dict[str | int, str] | None = None,
        image_root: str | Path | None = None,
        mode: str = "RGB",
    ) -> None:
        csv_path = require_path(path, "file")
        root = require_path(image_root, "folder") if image_root is not None else csv_path.parent
        super().__init__(root, mode)
        self.csv_path = csv_path
        if label_column is None:
            raise InputError("a CSV needs to be told which column holds the label", csv_path,
                             fix=("label_column", "the name of that column"))
        self.label_column = label_column
        self.label_names = None if label_names is None else {str(k): str(v) for k, v in label_names.items()}
        try:
            with open(csv_path, newline="", encoding="utf-8-sig") as f:
                rows = list(csv.DictReader(f))
                header = list(rows[0].keys()) if rows else []
        except (OSError, UnicodeDecodeError, csv.Error) as e:
            raise InputError(f"cannot read CSV ({e})", csv_path) from None
        if not rows:
            raise InputError("CSV has no data rows", csv_path)
        for col, what in ((path_column, "path_column"), (label_column, "label_column")):
            if col not in header:
                kind = "image paths" if what == "path_column" else "labels"
                raise InputError(f"no column {col!r}", csv_path,
                                 fix=(what, f"the column of {kind}, one of {', '.join(header)}"))
        self._labels: list[str] = []
        self._attributes: list[dict[str, int | float | str | None]] = []
        seen: dict[str, int] = {}
        for line, row in enumerate(rows, start=2):
            if None in row or any(v is None for v in row.values()):
                raise InputError(f"line {line}: number of cells differs from the header", csv_path)
            rel_text = row[path_column].strip()
            if not rel_text:
                raise InputError(f"line {line}: empty {path_column!r} cell", csv_path)
            rel = relative_inside(root, rel_text)
            if rel is None:
                raise InputError(f"line {line}: path {rel_text!r} is outside the image root {root}", csv_path)
            img = root / rel
            if rel in seen:
                raise InputError(f"line {line}: {rel!r} already listed on line {seen[rel]}", csv_path)
            seen[rel] = line
            if not img.is_file():
                raise InputError(f"line {line}: image file not found: {rel}", csv_path)
            raw = row[label_column].strip()
            if raw == "":
                raise InputError(f"line {line}: empty label in column {label_column!r}", csv_path)
            if self.label_names is not None:
                if raw not in self.label_names:
                    raise InputError(
                        f"line {line}: label {raw!r} not in label_names {sorted(self.label_names)}", csv_path
                    )
                raw = self.label_names[raw]
            self._ids.append(rel)
            self._labels.append(raw)
            self._attributes.append(
                {k: parse_scalar(v) for k, v in row.items() if k not in (path_column, label_column)}
            )

    @property
    def labels(self) -> list[str | None]:
        """The label of every item without decoding any image (for per-class sampling)."""
        return list(self._labels)

    @property
    def classes(self) -> list[str]:
        return sorted(set(self._labels))

    def _load(self, i: int) -> Sample:
        rel = self._ids[i]
        path = self.root / rel
        return make_sample(
            self._read_image(path), path, self._provenance(rel),
            label=self._labels[i], attributes=dict(self._attributes[i]),
        )
