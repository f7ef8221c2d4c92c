"""``FakevisionDataset``: a ``torch.utils.data.Dataset`` over any output the writers make (COCO, WebDataset
shards, image folders), so training code reads fake data the same way whatever format a recipe chose.

COCO is read by the one COCO decoder, ``fakevision.io.readers.coco.CocoReader`` in its ``output`` mode (ids,
provenance and order as written); WebDataset records by ``fakevision.io.records``. Reading goes through the
writers' own encodings (``fakevision.io.codecs``), so a round trip returns
the sample that was written: pixels exact for PNG, boxes and keypoints exact (COCO: to float64 rounding of its
0.5 keypoint shift), masks exact, depth to 1 mm, normals to the 16-bit quantisation (3e-5 per component). A missing
or corrupt file raises ``InputError`` naming it.

``format="auto"`` picks, in order: ``coco/annotations.json``, ``webdataset/shard-*.tar``, ``images/``; a path to
a ``.json`` file is read as COCO, a path to a ``.tar`` as one WebDataset shard. The path may be a local folder or
any fsspec URL an output was written to (``s3://bucket/prefix``; ``fakevision.io.storage``): files are then read
with ranged requests, a WebDataset tar indexed once and its members fetched by offset.
"""

from __future__ import annotations

import json
import tarfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from fakevision.core.errors import InputError
from fakevision.core.sample import Annotations, Provenance, Sample
from fakevision.io.codecs import (
    DEPTH_SCALE,
    check_normals_encoding,
    decode_instance_masks,
    decode_label_map,
    decode_normals_png,
    decode_png_unchanged,
)
from fakevision.io.images import decode_image
from fakevision.io.readers.coco import CocoReader
from fakevision.io.records import class_ids, sample_from_record
from fakevision.io.storage import Storage, as_storage, is_url
from fakevision.io.writers.coco import ANNOTATIONS, KEYPOINT_SHIFT
from fakevision.io.writers.imagefolder import IMAGES_DIR, UNLABELLED
from fakevision.io.writers.manifest import MANIFEST
from fakevision.io.writers.wds import INFO, WDS_DIR

IMAGE_EXTS = (".png", ".jpg", ".jpeg")


def _read_bytes(store: Storage, rel: str) -> bytes:
    try:
        return store.read_bytes(rel)
    except FileNotFoundError:
        raise InputError("file not found", store.url(rel)) from None
    except OSError as e:
        raise InputError(f"cannot read ({e.strerror or e})", store.url(rel)) from None


def _read_json(store: Storage, rel: str) -> Any:
    try:
        return json.loads(_read_bytes(store, rel))
    except ValueError as e:  # UnicodeDecodeError too
        raise InputError(f"not valid JSON ({e})", store.url(rel)) from None


def _read_image(store: Storage, rel: str) -> np.ndarray:
    return decode_image(_read_bytes(store, rel), store.url(rel), mode=None)


def read_manifest(path: str | Path | Storage, rel: str | None = None) -> list[dict[str, Any]]:
    """The lines of a ``manifest.jsonl`` (``path``, or ``rel`` under the storage ``path``); a malformed line raises
    ``InputError`` with its line number."""
    if rel is None:
        store, rel = as_storage(_parent(str(path))), _name(str(path))
    else:
        store = as_storage(path)
    out = []
    try:
        text = _read_bytes(store, rel).decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"not UTF-8 text ({e})", store.url(rel)) from None
    for n, line in enumerate(text.splitlines(), 1):
        try:
            out.append(json.loads(line))
        except ValueError as e:
            raise InputError(f"line {n} is not valid JSON ({e})", store.url(rel)) from None
    return out


def _parent(path: str) -> str:
    return path.rsplit("/", 1)[0] if is_url(path) else str(Path(path).parent)


def _name(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1] if is_url(path) else Path(path).name


class _Wds:
    """Random access into WebDataset tars through an index of member offsets, built once on open."""

    format = "webdataset"

    def __init__(self, store: Storage, tars: Sequence[str], info: dict[str, Any] | None) -> None:
        self.store = store
        self.items: list[tuple[str, str, dict[str, tuple[int, int]]]] = []
        for tar in tars:
            members: dict[str, dict[str, tuple[int, int]]] = {}
            try:
                with store.open_read(tar) as fh, tarfile.open(fileobj=fh, mode="r:") as tf:
                    for m in tf:
                        if not m.isfile():
                            continue
                        base = m.name.rsplit("/", 1)[-1]
                        key, _, ext = base.partition(".")
                        members.setdefault(m.name[: len(m.name) - len(base)] + key, {})[ext] = (m.offset_data, m.size)
            except FileNotFoundError:
                raise InputError("file not found", store.url(tar)) from None
            except (tarfile.TarError, OSError) as e:
                raise InputError(f"not a readable tar ({e})", store.url(tar)) from None
            self.items += [(tar, k, v) for k, v in members.items()]
        try:
            if info is not None:
                self.classes = [str(c) for c in info["labels"]]
                self.category_ids = ({str(k): int(v) for k, v in info["category_ids"].items()}
                                     if info.get("category_ids") else class_ids([], [str(c) for c in info["categories"]]))
            else:  # no finalize yet: read every record once
                recs = [self._record(i) for i in range(len(self.items))]
                claims = [[int(k), v] for r in recs for k, v in sorted((r.get("label_names") or {}).items(),
                                                                      key=lambda kv: int(kv[0])) if int(k) != 0]
                self.category_ids = class_ids(claims, {str(c) for r in recs for c in r.get("categories", [])})
                self.classes = sorted({str(r["label"]) for r in recs if r.get("label") is not None})
        except (KeyError, TypeError, AttributeError, ValueError) as e:
            where = store.url(INFO) if info is not None else store.url(tars[0] if tars else "")
            raise InputError(f"malformed WebDataset index or records ({type(e).__name__}: {e})", where) from None
        self.categories = list(self.category_ids)

    def __len__(self) -> int:
        return len(self.items)

    def ids(self) -> list[str]:
        return [k for _, k, _ in self.items]

    def _member(self, i: int, ext: str) -> bytes | None:
        tar, key, members = self.items[i]
        if ext not in members:
            return None
        off, size = members[ext]
        try:
            with self.store.open_read(tar) as f:
                f.seek(off)
                data = f.read(size)
        except OSError as e:
            raise InputError(f"cannot read ({e})", self.store.url(tar)) from None
        if len(data) != size:
            raise InputError(f"member {key}.{ext} is truncated", self.store.url(tar))
        return data

    def _record(self, i: int) -> dict[str, Any]:
        tar, key, _ = self.items[i]
        data = self._member(i, "json")
        if data is None:
            raise InputError(f"sample {key} has no .json member", self.store.url(tar))
        try:
            return json.loads(data)
        except ValueError as e:
            raise InputError(f"{key}.json is not valid JSON ({e})", self.store.url(tar)) from None

    def load(self, i: int) -> Sample:
        tar, key, members = self.items[i]
        name = f"{self.store.url(tar)}#{key}"
        rec = self._record(i)
        ext = next((e for e in ("png", "jpg", "jpeg") if e in members), None)
        if ext is None:
            raise InputError(f"sample {key} has no image member", self.store.url(tar))
        image = decode_image(self._member(i, ext) or b"", name, mode=None)
        h, w = image.shape[:2]
        masks = None
        if rec.get("masks"):
            n = len(rec.get("categories", []))
            masks = decode_instance_masks(n, h, w, self._member(i, "mask.png"), self._member(i, "masks.png"), name)
        depth = None
        if "depth.png" in members:
            raw = decode_png_unchanged(self._member(i, "depth.png") or b"", name)
            depth = (raw * rec.get("depth_scale", DEPTH_SCALE)).astype(np.float32)
        normals = None
        if "normals.png" in members:
            check_normals_encoding(rec.get("normals_encoding"), name)
            normals = decode_normals_png(self._member(i, "normals.png") or b"", f"{name}.normals.png")
        label_map = None
        if "labelmap.png" in members:
            label_map = decode_label_map(self._member(i, "labelmap.png") or b"", name)
        return sample_from_record(rec, image, masks, depth, name, label_map, normals)


class _ImageFolder:
    """``images/<class>/<file>``; provenance and attributes come from ``manifest.jsonl`` when it is there."""

    format = "imagefolder"

    def __init__(self, store: Storage) -> None:
        self.store = store
        self.files = [f for f in store.glob(f"{IMAGES_DIR}/*/*") if Path(f).suffix.lower() in IMAGE_EXTS]
        labels = sorted({f.split("/")[1] for f in self.files})
        self.classes = [c for c in labels if c != UNLABELLED]
        self.categories: list[str] = []
        self.category_ids: dict[str, int] = {}
        self.meta: dict[str, dict[str, Any]] = {}
        if store.is_file(MANIFEST):
            for n, rec in enumerate(read_manifest(store, MANIFEST), 1):
                try:
                    path = rec.get("files", {}).get("imagefolder", {}).get("image")
                    if path is not None:
                        self.meta[str(path)] = rec
                except AttributeError:
                    raise InputError(f"line {n}: not a manifest record (expected an object with 'files')",
                                     store.url(MANIFEST)) from None

    def __len__(self) -> int:
        return len(self.files)

    def ids(self) -> list[str]:
        return [Path(f).stem for f in self.files]

    def load(self, i: int) -> Sample:
        f = self.files[i]
        image = _read_image(self.store, f)
        rec = self.meta.get(f, {})
        folder = f.split("/")[1]
        label = None if folder == UNLABELLED else folder
        prov = rec.get("provenance") or {"source": "imagefolder", "sample_id": Path(f).stem}
        ann = Annotations(label=rec.get("label", label), attributes=rec.get("attributes") or {})
        return Sample(image, ann, Provenance.from_dict(prov))


def _split(path: str | Path) -> tuple[Storage, str | None]:
    """(storage of the output root, the file inside it or None): a ``.json``/``.tar`` path is a file in its folder."""
    text = str(path)
    if text.endswith((".json", ".tar")):
        store = as_storage(_parent(text))
        if store.is_file(_name(text)):
            return store, _name(text)
    return as_storage(text), None


def output_layout(path: str | Path) -> str:
    """Which of a fakevision output's layouts ``path`` holds: ``coco``, ``webdataset`` or ``imagefolder``
    (``InputError`` if none). Not to be confused with ``fakevision.io.readers.detect_format``, the one detector of
    *data set formats* (a fakevision output is the format ``fakevision`` there)."""
    store, file = _split(path)
    if file is not None:
        return "coco" if file.endswith(".json") else "webdataset"
    try:
        if store.is_file(ANNOTATIONS):
            return "coco"
        if store.glob(f"{WDS_DIR}/shard-*.tar"):
            return "webdataset"
        if store.glob(f"{IMAGES_DIR}/*/*"):
            return "imagefolder"
        missing = not store.exists()
    except OSError as e:
        raise InputError(f"cannot read ({e})", path) from None
    if missing:
        raise InputError("no such file or folder", path)
    raise InputError(f"no fakevision output found (expected {ANNOTATIONS}, {WDS_DIR}/shard-*.tar or {IMAGES_DIR}/)",
                     path)


_LAYOUTS = ("coco", "webdataset", "imagefolder")


def _open_reader(fmt: str, path: str | Path) -> Any:
    from fakevision.io.readers import open_reader  # (the readers import this module for format "fakevision")

    return open_reader(fmt, path)


def _open(path: str | Path, fmt: str) -> _ReaderBackend | _Wds | _ImageFolder:
    store, file = _split(path)
    if fmt == "coco":  # the one COCO decoder, in its mode for our own files (ids, provenance, order as written)
        return _ReaderBackend(CocoReader(store.url(file or ANNOTATIONS), mode="keep", keypoint_offset=KEYPOINT_SHIFT,
                                         output=True))
    if fmt == "webdataset":
        if file is not None:
            return _Wds(store, [file], None)
        info = _read_json(store, INFO) if store.is_file(INFO) else None
        try:
            tars = [str(s["path"]) for s in info["shards"]] if info else store.glob(f"{WDS_DIR}/shard-*.tar")
        except (KeyError, TypeError, AttributeError) as e:
            raise InputError(f"malformed shard list ({type(e).__name__}: {e})", store.url(INFO)) from None
        if info is not None and not isinstance(info, dict):
            raise InputError("malformed shard list (not an object)", store.url(INFO))
        return _Wds(store, tars, info)
    if fmt == "imagefolder":
        return _ImageFolder(store)
    raise ValueError(f"unknown format {fmt!r} (auto, coco, webdataset, imagefolder)")


class _ReaderBackend:
    """Any data set a ``fakevision.io.readers`` reader opens (a user's COCO file, image folder, CSV, ``.pts``
    folder, ...), as a dataset backend: the same tensors for real data as for fake data. Class ids follow the
    file's own category ids where it has them (COCO), else the category names in sorted order from 1."""

    def __init__(self, reader: Any) -> None:
        self.reader = reader
        cats = getattr(reader, "categories", None)
        if isinstance(cats, dict) and cats:
            self.category_ids = {str(name): int(k) for k, name in sorted(cats.items())}
        else:
            self.category_ids = {}
        self.categories = list(self.category_ids)
        self.labels: list[str | None] = list(reader.labels)
        self.classes = sorted({lab for lab in self.labels if lab is not None})

    def __len__(self) -> int:
        return len(self.reader)

    def ids(self) -> list[str]:
        return list(self.reader.ids)

    def load(self, i: int) -> Sample:
        return self.reader[i]


class FakevisionDataset(Dataset):
    """Map-style dataset over a fakevision output folder, or over any data set the readers open, so real and fake
    data load through one class: ``format="auto"`` reads outputs only (an error names what an output would hold);
    ``format="any"`` falls back to ``fakevision.io.readers.detect_format`` when ``path`` is no output (a user's
    COCO file, image folders, CSV, ``.pts`` folder, ...); a reader format name (``folder``, ``csv``, ...) or
    ``reader=`` (an opened reader) reads that data set.

    Each item is a dict: ``id`` (str), ``image`` (float32 C x H x W in [0, 1]), ``boxes`` (float32 N x 4, xyxy in
    the corner convention), ``labels`` (int64 N, class ids: ``dataset.category_ids[name]``, the run's one id space,
    equal to the COCO ``category_id`` and to the values of the label maps; 0 is background, never an instance's
    class, as torchvision's detection models expect), ``categories`` (N names),
    ``label`` (str or None) and ``label_index`` (index into ``dataset.classes``, -1 without a label),
    ``attributes``; when the sample has them, ``masks`` (bool N x H x W), ``keypoints`` (float32 N x K x 3: x, y,
    visibility), ``depth`` (float32 1 x H x W, metres), ``normals`` (float32 3 x H x W: nx, ny, nz unit vectors in
    the camera frame, x right, y down, z forward; zero where there is no surface) and ``label_map`` (int64 H x W)
    with ``label_names``.
    ``transform`` (optional) is applied to that dict. ``to_sample(i)`` gives the ``Sample`` itself; ``collate``
    batches items of different sizes for a DataLoader.

    >>> import tempfile
    >>> from fakevision.core import Annotations, Provenance, Sample
    >>> from fakevision.io.writers import ShardInfo, make_writer
    >>> out = Path(tempfile.mkdtemp())
    >>> s = Sample(np.zeros((8, 8, 3), np.uint8), Annotations(label="cat", categories=["cube"],
    ...            boxes=[[1, 2, 5, 6]]), Provenance("demo", "demo-0"))
    >>> w = make_writer("coco"); w.write_shard(out, ShardInfo(0, 1, 0), [s]); w.finalize(out, 1)
    >>> ds = FakevisionDataset(out)
    >>> item = ds[0]
    >>> ds.format, tuple(item["image"].shape), item["boxes"].tolist(), item["categories"], item["label"]
    ('coco', (3, 8, 8), [[1.0, 2.0, 5.0, 6.0]], ['cube'], 'cat')
    """

    def __init__(
        self,
        path: str | Path,
        format: str = "auto",
        transform: Callable[[dict[str, Any]], Any] | None = None,
        reader: Any = None,
    ) -> None:
        self.path: Path | str = str(path) if is_url(path) else Path(path)
        self._backend: _Wds | _ImageFolder | _ReaderBackend
        if reader is not None:
            self.format = str(reader.format)
            self._backend = _ReaderBackend(reader)
        else:
            self.format = self._layout(format)
            self._backend = (_open(self.path, self.format) if self.format in _LAYOUTS
                             else _ReaderBackend(_open_reader(self.format, self.path)))
        self.transform = transform
        self.categories: list[str] = list(self._backend.categories)  # in class id order
        self.category_ids: dict[str, int] = dict(self._backend.category_ids)
        self.classes: list[str] = list(self._backend.classes)
        self._cat_index = self.category_ids
        self._class_index = {c: i for i, c in enumerate(self.classes)}

    def _layout(self, format: str) -> str:
        """The output layout, or the data-set format of a path that is no fakevision output."""
        if format not in ("auto", "any"):
            return format
        try:
            return output_layout(self.path)
        except InputError as no_output:
            if format == "auto" or is_url(self.path):
                raise
            from fakevision.io.readers import detect_format

            try:
                fmt = detect_format(self.path)
            except InputError:
                raise no_output from None  # neither: say what a fakevision output would hold
            if fmt == "fakevision":  # a fakevision output after all: its own error says what is wrong
                raise
            return fmt

    def __len__(self) -> int:
        return len(self._backend)

    def ids(self) -> list[str]:
        """Sample ids (or file stems) in dataset order, without decoding anything."""
        return self._backend.ids()

    def _index(self, i: int) -> int:
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"index {i} out of range for {n} samples")
        return i % n

    def to_sample(self, i: int) -> Sample:
        """Sample ``i`` as the annotation model (numpy arrays, exact values)."""
        return self._backend.load(self._index(i))

    def __getitem__(self, i: int) -> Any:
        item = self.to_item(self.to_sample(i))
        return self.transform(item) if self.transform is not None else item

    def to_item(self, s: Sample) -> dict[str, Any]:
        """The tensor dict of a sample (what ``__getitem__`` returns before ``transform``)."""
        a = s.annotations
        img = torch.from_numpy(np.ascontiguousarray(s.image.transpose(2, 0, 1)))
        img = img.float() / 255.0 if img.dtype == torch.uint8 else img.float()
        item: dict[str, Any] = {
            "id": s.id,
            "image": img,
            "boxes": torch.from_numpy(a.boxes.astype(np.float32)).reshape(-1, 4),
            "labels": torch.tensor([self._cat_index.get(c, -1) for c in a.categories], dtype=torch.int64),
            "categories": list(a.categories),
            "label": a.label,
            "label_index": self._class_index.get(a.label, -1) if a.label is not None else -1,
            "attributes": dict(a.attributes),
        }
        if a.masks is not None:
            item["masks"] = torch.from_numpy(np.ascontiguousarray(a.masks))
        if a.keypoints is not None and a.visibility is not None:
            kp = np.concatenate([a.keypoints, a.visibility[..., None].astype(np.float64)], axis=-1)
            item["keypoints"] = torch.from_numpy(kp.astype(np.float32))
        if a.depth is not None:
            item["depth"] = torch.from_numpy(a.depth[None].astype(np.float32))
        if a.normals is not None:
            item["normals"] = torch.from_numpy(np.ascontiguousarray(a.normals.transpose(2, 0, 1), dtype=np.float32))
        if a.label_map is not None:
            item["label_map"] = torch.from_numpy(a.label_map.astype(np.int64))
            item["label_names"] = dict(a.label_names or {})
        return item


def collate(batch: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Batch dataset items for a ``DataLoader``: ``image``, ``depth``, ``normals`` and ``label_map`` stacked into one
    tensor
    when all have the same size, else kept as lists; ``label_index`` stacked; every per-instance field stays a
    list, one entry per sample, because instance counts differ (the torchvision detection convention).

    >>> items = [{"id": "a", "image": torch.zeros(3, 4, 4), "label_index": 0, "boxes": torch.zeros(2, 4)},
    ...          {"id": "b", "image": torch.zeros(3, 4, 4), "label_index": 1, "boxes": torch.zeros(0, 4)}]
    >>> b = collate(items)
    >>> tuple(b["image"].shape), b["label_index"].tolist(), [t.shape[0] for t in b["boxes"]]
    ((2, 3, 4, 4), [0, 1], [2, 0])
    """
    keys = sorted({k for item in batch for k in item})
    out: dict[str, Any] = {}
    for k in keys:
        vals = [item.get(k) for item in batch]
        tensors = [v for v in vals if isinstance(v, torch.Tensor)]
        if k == "label_index":
            out[k] = torch.tensor(vals, dtype=torch.int64)
        elif k in ("image", "depth", "normals", "label_map") and len(tensors) == len(vals) and (
            len({tuple(v.shape) for v in tensors}) == 1
        ):
            out[k] = torch.stack(tensors)
        else:
            out[k] = vals
    return out
