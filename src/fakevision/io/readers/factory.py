"""``open_reader(format, path, **options)``, format auto-detection, and ``ReaderSpec``, the recipe's ``input:``.

Each reader's constructor signature is the single source of truth for its options: ``ReaderSpec`` accepts an
option only for the formats whose reader takes it, so a typo or a misplaced option fails when the recipe is
validated, naming the option and the options that format does take.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from fakevision.core.errors import InputError
from fakevision.core.source import RECIPE_PATH
from fakevision.io.readers.archive import is_archive
from fakevision.io.readers.base import Reader, is_image_file
from fakevision.io.readers.coco import CocoReader
from fakevision.io.readers.csv_labels import CsvReader
from fakevision.io.readers.dlib_xml import DlibXmlReader
from fakevision.io.readers.folder import ImageFolderReader
from fakevision.io.readers.labelme import LabelmeReader
from fakevision.io.readers.mask_pairs import DEFAULT_MASK_DIRS, MaskPairReader
from fakevision.io.readers.output import OUTPUT_MARKERS, FakevisionOutputReader, is_fakevision_output
from fakevision.io.readers.pts import PtsReader
from fakevision.io.storage import as_storage, is_url

READERS: dict[str, type[Reader]] = {
    cls.format: cls
    for cls in (ImageFolderReader, CsvReader, CocoReader, PtsReader, MaskPairReader, LabelmeReader, DlibXmlReader,
                FakevisionOutputReader)
}
FORMATS: tuple[str, ...] = tuple(READERS)
FORMAT_HELP = (
    "folder (images, flat or in one subfolder per class), coco (a .json with images/annotations), csv (a .csv of "
    "image paths and labels), pts (a folder with 300-W .pts files), mask_pairs (a tar archive or a folder with "
    "images/ and masks/), labelme (a folder of labelme .json), dlib (an imglab .xml), fakevision (an output folder "
    "of fakevision make/augment)"
)
_PATH_OPTIONS = ("image_root", "cache_dir")  # options that are paths: resolved like ``path``


def reader_options(fmt: str) -> list[str]:
    """The option names the reader of ``fmt`` takes (besides ``path``).

    >>> reader_options("csv")
    ['label_column', 'path_column', 'label_names', 'image_root', 'mode']
    """
    params = inspect.signature(READERS[fmt].__init__).parameters
    return [n for n in params if n not in ("self", "path")]


def _json_kind(p: Path) -> str | None:
    # Peek instead of parsing: a COCO file can be hundreds of MB and the reader parses it anyway (and says
    # clearly if it is not COCO after all).
    try:
        with open(p, encoding="utf-8", errors="replace") as f:
            head = f.read(1 << 20)
    except OSError:
        return None
    if '"shapes"' in head:
        return "labelme"
    if '"images"' in head or '"annotations"' in head:
        return "coco"
    return None


def _has_class_folders(p: Path) -> bool:
    for sub in p.iterdir():
        if (sub.is_dir() and not sub.name.startswith(".")
                and any(f.is_file() and is_image_file(f) for f in sub.rglob("*"))):
            return True
    return False


def _has_loose_images(p: Path) -> bool:
    return any(f.is_file() and is_image_file(f) for f in p.iterdir())


#: The formats read from object storage (a URL); the others read local folders.
REMOTE_FORMATS = ("coco", "fakevision")


def _detect_remote(url: str) -> str:
    """The format of a data set in object storage: a ``.json`` is COCO, a folder holding a fakevision output's
    markers is ``fakevision``; anything else is named with what can be read remotely."""
    store = as_storage(url)
    try:
        if url.rstrip("/").lower().endswith(".json"):
            parent, _, name = url.rstrip("/").rpartition("/")
            if not as_storage(parent).is_file(name):
                raise InputError("not found", url)
            return "coco"
        if any(store.is_file(m) for m in OUTPUT_MARKERS):
            return "fakevision"
        missing = store.is_empty()  # (an object store's "folder" exists only through what is under it)
    except OSError as e:
        raise InputError(f"cannot read ({e})", url) from None
    if missing:
        raise InputError("not found", url)
    raise InputError("cannot tell the data set format (from object storage fakevision reads a COCO .json or a "
                     "fakevision output; copy other formats to a local folder)", url,
                     fix=("format", " or ".join(REMOTE_FORMATS)))


def detect_format(path: str | Path) -> str:
    """Guess the format of a data set path (see ``FORMAT_HELP``); unknown -> InputError listing the formats.

    Folders are tried in this order: a fakevision output (its ``recipe.json`` must not be mistaken for a labelme
    file), ``.pts`` files anywhere, labelme JSON, ``images/`` + ``masks/``, class subfolders, loose images.

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp()); _ = (d / "labels.csv").write_text("path,y\\n")
    >>> detect_format(d / "labels.csv")
    'csv'
    """
    if is_url(path):
        return _detect_remote(str(path))
    p = Path(path)
    if not p.exists():
        raise InputError("not found", p)
    if p.is_file():
        name = p.name.lower()
        if name.endswith(".json"):
            kind = _json_kind(p)
            if kind:
                return kind
        elif name.endswith(".csv"):
            return "csv"
        elif name.endswith(".xml"):
            return "dlib"
        elif is_archive(p):
            return "mask_pairs"
    else:
        if is_fakevision_output(p):
            return "fakevision"
        if next(p.rglob("*.pts"), None) is not None:
            return "pts"
        jsons = sorted(p.glob("*.json"))
        if jsons and _json_kind(jsons[0]) == "labelme":
            return "labelme"
        if (p / "images").is_dir() and any((p / d).is_dir() for d in DEFAULT_MASK_DIRS):
            return "mask_pairs"
        if _has_class_folders(p) or _has_loose_images(p):
            return "folder"
    raise InputError("cannot tell the data set format", p, fix=("format", f"one of {FORMAT_HELP}"))


def open_reader(format: str, path: str | Path, **options: Any) -> Reader:
    """Open the data set at ``path`` as a lazy sequence of Samples; ``format="auto"`` detects it.

    >>> import tempfile, numpy as np
    >>> from fakevision.io.images import encode_image
    >>> root = Path(tempfile.mkdtemp()); (root / "cat").mkdir()
    >>> _ = (root / "cat" / "1.png").write_bytes(encode_image(np.zeros((4, 5, 3), np.uint8)))
    >>> r = open_reader("auto", root)
    >>> r.format, len(r), r[0].annotations.label
    ('folder', 1, 'cat')
    """
    fmt = detect_format(path) if format == "auto" else format
    if fmt not in READERS:
        raise ValueError(f"unknown reader format {format!r}; known: auto, {', '.join(FORMATS)}")
    if is_url(path) and fmt not in REMOTE_FORMATS:
        raise InputError(f"format {fmt!r} is read from local folders only (from object storage: "
                         f"{', '.join(REMOTE_FORMATS)}); copy the data set to a local folder", path)
    allowed = reader_options(fmt)
    bad = sorted(set(options) - set(allowed))
    if bad:
        raise ValueError(f"option(s) {bad} do not apply to format {fmt!r} ({path}); its options: {allowed}")
    return READERS[fmt](path, **options)


def _path_or_url(value: Any) -> Any:
    """A URL stays the text it is (``Path`` would fold its ``//``); anything else validates as a ``Path``."""
    return value if isinstance(value, str) and is_url(value) else Path(value) if isinstance(value, str) else value


class ReaderSpec(BaseModel):
    """A data set to read, as written in a recipe (``input:`` of a source); options are per format.

    ``path`` (and ``image_root``, ``cache_dir``) may be relative: ``open(base_dir)`` resolves them against the
    recipe's folder. Options left out keep the reader's defaults.

    >>> spec = ReaderSpec(format="csv", path="labels.csv", label_column="gender", label_names={0: "male"})
    >>> spec.options()
    {'label_column': 'gender', 'label_names': {'0': 'male'}}
    >>> ReaderSpec(format="coco", path="a.json", label_column="x")
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for ReaderSpec
    ...
    """

    model_config = ConfigDict(extra="forbid")

    format: Literal["auto", "folder", "csv", "coco", "pts", "mask_pairs", "labelme", "dlib", "fakevision"] = Field(
        "auto", description="the data set's format; auto detects it")
    path: Annotated[Path | str, RECIPE_PATH, BeforeValidator(_path_or_url)] = Field(
        description="file or folder, relative to the recipe's folder, or a URL (s3://bucket/..., for coco and "
                    "fakevision)")
    mode: Literal["RGB", "L", "keep"] | None = Field(None, description="colour: RGB (default), L (grey) or keep")
    # folder
    classes: list[str] | None = Field(None, description="folder: only these class subfolders")
    # csv
    label_column: str | None = Field(None, description="csv: the column that holds the label (required)")
    path_column: str | None = Field(None, description="csv: the column of image paths (default: path)")
    label_names: dict[str, str] | None = Field(None, description="csv: label value -> name, e.g. {0: male}")
    # csv, coco
    image_root: Annotated[Path, RECIPE_PATH] | None = Field(
        None, description="csv, coco: folder image paths are relative to (default: the file's folder)")
    # coco
    masks: bool | None = Field(None, description="coco: decode segmentations into masks (default: true)")
    include_crowd: bool | None = Field(None, description="coco: keep iscrowd annotations (default: false)")
    keypoint_offset: float | None = Field(None, description="coco: added to keypoints to reach our convention "
                                                            "(default: 0.5, COCO's pixel-index convention)")
    box_tolerance: float | None = Field(None, description="coco: boxes this far (px) outside the image are "
                                                          "clipped, farther is an error (default: 1)")
    # pts, mask_pairs, dlib
    category: str | None = Field(None, description="pts, mask_pairs, dlib: the instances' category name")
    keypoint_schema: str | None = Field(None, description="pts, dlib: the keypoints' schema (e.g. ibug68)")
    # mask_pairs
    image_dir: str | None = Field(None, description="mask_pairs: the images' folder name (default: images)")
    mask_dir: str | None = Field(None, description="mask_pairs: the masks' folder name (default: masks)")
    threshold: int | None = Field(None, description="mask_pairs: mask pixels above it are foreground")
    cache_dir: Annotated[Path, RECIPE_PATH] | None = Field(None, description="mask_pairs: where an archive is unpacked")
    # labelme
    ignore_labels: list[str] | None = Field(None, description="labelme: shape labels to skip")
    # dlib
    include_ignored: bool | None = Field(None, description="dlib: keep boxes marked ignore")

    @field_validator("label_names", mode="before")
    @classmethod
    def _keys_as_text(cls, v: Any) -> Any:
        # YAML reads ``{0: male}`` with int keys; CSV cells are text, so compare as text.
        return {str(k): v2 for k, v2 in v.items()} if isinstance(v, dict) else v

    @model_validator(mode="after")
    def _options_fit_format(self) -> ReaderSpec:
        given = self.options()
        if self.format == "auto":
            known = {o for f in FORMATS for o in reader_options(f)}
            bad = sorted(set(given) - known)
        else:
            bad = sorted(set(given) - set(reader_options(self.format)))
        if bad:
            raise ValueError(f"option(s) {bad} do not apply to format {self.format!r}; "
                             f"its options: {reader_options(self.format) if self.format != 'auto' else 'any'}")
        if self.format == "csv" and self.label_column is None:
            raise ValueError("format 'csv' needs label_column (the column that holds the label)")
        return self

    def options(self) -> dict[str, Any]:
        """The options that were given (not None), as keyword arguments for the reader."""
        return {k: v for k, v in self.model_dump(exclude={"format", "path"}).items() if v is not None}

    def open(self, base_dir: str | Path | None = None) -> Reader:
        """Open the reader; relative paths resolve against ``base_dir`` (the recipe's folder)."""
        base = Path(base_dir) if base_dir is not None else Path.cwd()
        opts = self.options()
        for key in _PATH_OPTIONS:
            if key in opts:
                opts[key] = base / Path(opts[key]).expanduser()
        if isinstance(self.path, str):  # a URL
            return open_reader(self.format, self.path, **opts)
        return open_reader(self.format, base / self.path.expanduser(), **opts)
