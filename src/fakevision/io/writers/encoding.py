"""Encodings shared by the writers and by the readers (``fakevision.io.dataset``, ``io.readers.coco``): file names,
pixels, masks, depth, surface normals and the per-sample JSON record. Kept in one module so that what a writer
writes and what the readers expect cannot drift apart.

Choices, and why:

* **File names** come from the sample id with every character that is not a letter, digit, ``_`` or ``-``
  replaced by ``_`` (``file_stem``): ids may contain ``/`` or ``.``, which would create folders, or split a
  WebDataset key (it cuts keys at the first dot). Two ids that map to the same stem in one shard raise ``OutputError``.
* **Depth** is a 16-bit PNG in millimetres (``DEPTH_SCALE`` metres per unit, 0 = no surface): the format every
  RGB-D tool reads. Resolution 1 mm, range 0-65.535 m; larger or non-finite values are stored as 0.
* **Normals** (``Annotations.normals``: H x W x 3 unit vectors in the camera frame, zero = no surface) are a
  3-channel 16-bit PNG whose R, G, B hold nx, ny, nz as ``value = round((n + 1) / 2 * 65535)``, and a pixel with
  no surface is stored as (0, 0, 0). Decoding: ``n = value / 65535 * 2 - 1``, renormalised to unit length; a raw
  (0, 0, 0) pixel, or any decoded vector shorter than 0.5, is "no surface" (all zero). (0, 0, 0) cannot be a unit
  normal (it would be (-1, -1, -1)), so the marker is unambiguous, and the 0.5 rule also reads maps that store
  "no surface" as mid-grey. Resolution: 2 / 65535 = 3e-5 per component, about 0.002 degrees. 8-bit maps
  (``value / 255``) are read too. The tag ``NORMALS_ENCODING`` rides beside the file name (COCO image entry,
  WebDataset JSON record) so a reader can refuse an encoding it does not know. Why 16-bit PNG: lossless, every
  image tool opens it, and 8 bits (0.45 degrees) is too coarse for normal-estimation targets.
* **Label maps** (semantic segmentation) are a PNG of the class ids, 8-bit or 16-bit as the values need; ids
  must lie in 0-65535. Their names (``label_names``) ride in the JSON with string keys.
* **Instance masks** (WebDataset) are an instance-id PNG: 0 background, ``i + 1`` for instance ``i``, 16-bit when
  there are more than 255 instances. Where masks overlap the *later* instance wins the pixel (painter's order),
  so the id PNG alone loses the hidden part of the earlier one; in that case the writer also stores the exact
  masks as one PNG of the N masks stacked vertically (N*H x W, 0/255), and readers prefer it.

Speed (the writers encode every sample, and a run usually has COCO and WebDataset outputs both):

* **PNG settings of the maps.** The 16-bit normals are compressed with zlib level 1, the "up" row filter and the
  RLE strategy, the depth with level 3 and the "sub" filter, the label maps with no filter (``NORMALS_PNG`` ...).
  OpenCV's default tries every filter on every row, which is what cost the time; measured on the default job's
  256² maps: normals 3.7 -> 1.3 ms at 19.1 -> 19.3 KiB, depth 1.8 -> 1.2 ms at 10.1 -> 10.3 KiB, label maps
  0.5 -> 0.13 ms at 1.2 -> 1.1 KiB. PNG is lossless: the decoded values are the same as before.
* **Encode once, share the bytes.** ``encode_sample_image`` and the map encoders (depth, normals, label map)
  remember their last results (``_ENCODED``), keyed by a SHA-1 of the input array's bytes plus its shape, dtype
  and the settings, so when the next writer of the run (COCO, then WebDataset) encodes the same sample it gets
  the same bytes without converting and compressing again (hashing a 256² sample's four arrays costs ~1.2 ms,
  encoding them ~12 ms). A pure memo of pure functions: it cannot change what is written, only skip work; it
  holds at most ``_ENCODED.max_bytes`` of output, oldest out first (a default shard's files are ~3 MB).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from fakevision.core.errors import InputError, OutputError
from fakevision.core.keypoints import SHIPPED, KeypointSchema, schema
from fakevision.core.sample import Annotations, Provenance, Sample
from fakevision.io.images import check_image_size, encode_image, encode_mask_png

DEPTH_SCALE = 0.001  # metres per depth PNG unit (millimetres)
NORMALS_ENCODING = "png16_rgb_(n+1)/2"  # see the module docstring; written beside every normals file
NORMALS_MAX = 65535
_UNSAFE = re.compile(r"[^\w-]")  # \w: Unicode letters and digits too, so "café" stays readable


def file_stem(sample_id: str) -> str:
    """The file-name stem (and WebDataset key) of a sample id.

    >>> file_stem("faces/img.01"), file_stem("café")
    ('faces_img_01', 'café')
    """
    stem = _UNSAFE.sub("_", str(sample_id))
    if not stem:
        raise OutputError("empty sample id: cannot name its files")
    return stem


def check_unique_stems(samples: Sequence[Sample], where: str | Path) -> list[str]:
    """Stems of ``samples``; raises ``OutputError`` when two samples would get the same file names."""
    stems = [file_stem(s.id) for s in samples]
    seen: dict[str, str] = {}
    for s, stem in zip(samples, stems, strict=True):
        if stem in seen:
            raise OutputError(f"{where}: samples {seen[stem]!r} and {s.id!r} map to the same file name {stem!r}")
        seen[stem] = s.id
    return stems


def image_ext(image_format: str) -> str:
    """File extension for an image format name (``png`` or ``jpg``/``jpeg``)."""
    f = image_format.lower()
    if f == "png":
        return "png"
    if f in ("jpg", "jpeg"):
        return "jpg"
    raise ValueError(f"unsupported image format {image_format!r} (png or jpg)")


class _EncodedBytes:
    """A small LRU memo of encoded files keyed by what was encoded: (settings, shape, dtype, SHA-1 of the array's
    bytes). Bounded by ``max_bytes`` of stored output (the oldest go first), so a shard's worth of samples (the
    engine hands the same shard to each writer in turn) fits, and memory stays flat."""

    def __init__(self, max_bytes: int = 48 << 20) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, settings: tuple, array: np.ndarray, encode: Callable[[], bytes]) -> bytes:
        """``encode()``'s bytes, from the memo when ``array`` with these settings was encoded before."""
        a = np.ascontiguousarray(array)
        if a.dtype.hasobject:  # its bytes are pointers, not values: nothing to key on, just encode
            return encode()
        digest = hashlib.sha1(memoryview(a).cast("B"), usedforsecurity=False).digest() if a.size else b""
        key = (settings, a.shape, a.dtype.str, digest)
        with self._lock:
            data = self._items.get(key)
            if data is not None:
                self._items.move_to_end(key)
                return data
        data = encode()  # errors propagate, and nothing is remembered
        if len(data) <= self.max_bytes // 4:
            with self._lock:
                if key not in self._items:
                    self._items[key] = data
                    self._size += len(data)
                while self._size > self.max_bytes:
                    self._size -= len(self._items.popitem(last=False)[1])
        return data

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._size = 0


_ENCODED = _EncodedBytes()


def _png_settings(level: int, filter_name: str, *extra: int) -> tuple[int, ...]:
    """``cv2.imencode`` PNG parameters; the row filter only where this OpenCV has the setting (4.11 and later; an
    older one uses its default filter: the same pixels, slower and differently compressed)."""
    settings = (cv2.IMWRITE_PNG_COMPRESSION, level, *extra)
    if hasattr(cv2, "IMWRITE_PNG_FILTER"):
        settings += (cv2.IMWRITE_PNG_FILTER, getattr(cv2, f"IMWRITE_PNG_FILTER_{filter_name}"))
    return settings


#: PNG settings of the maps (see the module docstring for the measurements behind them).
NORMALS_PNG = _png_settings(1, "UP", cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE)
DEPTH_PNG = _png_settings(3, "SUB")
LABEL_PNG = _png_settings(3, "NONE")


def _png(array: np.ndarray, settings: tuple[int, ...], what: str) -> bytes:
    """``array`` (H x W or H x W x 3, BGR) as PNG bytes with ``settings``."""
    ok, buf = cv2.imencode(".png", array, list(settings))
    if not ok:
        raise ValueError(f"could not encode {what}")
    return buf.tobytes()


def _narrow_ids(m: np.ndarray) -> np.ndarray:
    """Non-negative integer ids -> uint8 when they all fit, else uint16 (``io.images.encode_mask_png``'s rule)."""
    return m.astype(np.uint8) if m.max(initial=0) < 256 else m.astype(np.uint16, copy=False)


def encode_sample_image(image: np.ndarray, ext: str, jpeg_quality: int = 95) -> bytes:
    """Encode a sample's pixels; JPEG cannot hold alpha, so RGBA is stored as its RGB part there. The bytes are
    remembered (``_ENCODED``), so a second writer of the same run gets them without encoding again."""
    if ext == "jpg" and image.shape[2] == 4:
        image = image[:, :, :3]
    settings = ("image", ext, int(jpeg_quality) if ext == "jpg" else None)
    return _ENCODED.get(settings, image, lambda: encode_image(image, ext, jpeg_quality))


def decode_png_unchanged(data: bytes, name: str | Path) -> np.ndarray:
    """Decode a single-channel 8- or 16-bit PNG to a 2-D uint8/uint16 array; corrupt data raises ``InputError``."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            check_image_size(im, data, name)
            im.load()
            arr = np.asarray(im)
    except UnidentifiedImageError:
        raise InputError("not an image (unknown or corrupt format)", name) from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise InputError(f"cannot decode PNG ({e})", name) from None
    if arr.ndim != 2:
        raise InputError(f"expected a single-channel PNG, got shape {arr.shape}", name)
    return arr.astype(np.uint16) if arr.dtype != np.uint8 else arr


def encode_depth_png(depth: np.ndarray) -> bytes:
    """Depth in metres (H x W float) -> 16-bit PNG in millimetres (0 = no surface).

    >>> d = decode_depth_png(encode_depth_png(np.array([[0.0, 1.2344], [70.0, np.nan]])), "d.png")
    >>> d.dtype.name, [round(float(v), 6) for v in d.ravel()]
    ('float32', [0.0, 1.234, 0.0, 0.0])
    """
    return _ENCODED.get(("depth", DEPTH_SCALE, DEPTH_PNG), np.asarray(depth), lambda: _encode_depth(depth))


def _encode_depth(depth: np.ndarray) -> bytes:
    mm = np.array(depth, dtype=np.float64)  # a copy: worked on in place
    if not np.isfinite(mm).all():
        mm[~np.isfinite(mm)] = 0.0
    np.divide(mm, DEPTH_SCALE, out=mm)
    np.rint(mm, out=mm)
    if mm.size and (mm.min() < 0 or mm.max() > 65535):
        mm[(mm < 0) | (mm > 65535)] = 0
    return _png(_narrow_ids(mm.astype(np.uint16)), DEPTH_PNG, "depth")


def decode_depth_png(data: bytes, name: str | Path) -> np.ndarray:
    """16-bit millimetre PNG -> float32 metres."""
    return (decode_png_unchanged(data, name) * DEPTH_SCALE).astype(np.float32)


def encode_normals_png(normals: np.ndarray) -> bytes:
    """H x W x 3 unit normals (zero = no surface) -> 16-bit RGB PNG (see the module docstring).

    >>> n = np.zeros((1, 3, 3), np.float32); n[0, 0] = [0, 0, -1]; n[0, 1] = [0.6, -0.8, 0]
    >>> d = decode_normals_png(encode_normals_png(n), "n.png")
    >>> d.dtype.name, np.round(d.astype(float), 4).tolist()
    ('float32', [[[0.0, 0.0, -1.0], [0.6, -0.8, 0.0], [0.0, 0.0, 0.0]]])
    """
    src = np.asarray(normals)
    if src.ndim != 3 or src.shape[2] != 3:
        raise ValueError(f"normals must be H x W x 3, got shape {src.shape}")
    return _ENCODED.get(("normals", NORMALS_PNG), src, lambda: _encode_normals(src))


def _encode_normals(src: np.ndarray) -> bytes:
    # a float64 copy in PNG's (B, G, R) order, worked on in place below (OpenCV swaps float32 channels 6x faster)
    if src.dtype == np.float32 and src.size and src.flags.c_contiguous:
        n = cv2.cvtColor(src, cv2.COLOR_RGB2BGR).astype(np.float64)
    else:
        n = np.array(src[:, :, ::-1], dtype=np.float64)
    sq = _squared_lengths_f32(src)
    if sq is None:  # the exact float64 definition
        m = np.array(src, dtype=np.float64)
        sq = np.einsum("ijk,ijk->ij", m, m)
        if not np.isfinite(sq).all():
            m[~np.isfinite(m)] = 0.0
            sq = np.einsum("ijk,ijk->ij", m, m)
            n[~np.isfinite(n)] = 0.0
    np.clip(n, -1.0, 1.0, out=n)
    n += 1.0
    n *= NORMALS_MAX / 2.0
    raw = np.rint(n, out=n).astype(np.uint16)
    empty = sq < 0.25
    if empty.any():
        raw[empty] = 0
    return _png(raw, NORMALS_PNG, "normals")


def _squared_lengths_f32(src: np.ndarray) -> np.ndarray | None:
    """H x W squared lengths of float32 normals (what ``Annotations.normals`` holds) in float32 through OpenCV, for
    the "no surface" test ``< 0.25``; None (use the float64 definition) for other inputs, or when some length is
    not finite or lies within 1e-4 of the threshold, the only places where float32 rounding could flip the test.
    Why: the float64 conversion and ``einsum`` were most of the cost of encoding a normal map."""
    if src.dtype != np.float32 or not src.size or not src.flags.c_contiguous:
        return None
    sq = cv2.transform(cv2.multiply(src, src), np.ones((1, 3), np.float32))
    ok = np.abs(sq - np.float32(0.25)) >= np.float32(1e-4)  # NaN compares False
    return sq if ok.all() and np.isfinite(sq).all() else None


def decode_normals_png(data: bytes, name: str | Path) -> np.ndarray:
    """Inverse of ``encode_normals_png``: float32 H x W x 3 unit vectors, zero where there is no surface. A file
    that is not a 3-channel 8/16-bit PNG, or is corrupt or truncated, raises ``InputError`` naming ``name``."""
    try:  # Pillow checks the PNG's chunks and CRCs (OpenCV would return a partial image for a truncated file)
        with Image.open(io.BytesIO(data)) as im:
            fmt = im.format
            check_image_size(im, data, name)
            im.verify()
    except UnidentifiedImageError:
        raise InputError("not an image (unknown or corrupt format)", name) from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise InputError(f"cannot decode normals PNG ({e})", name) from None
    if fmt != "PNG":
        raise InputError(f"normals must be a PNG, got {fmt}", name)
    raw = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise InputError("cannot decode normals PNG", name)
    if raw.ndim != 3 or raw.shape[2] != 3 or raw.dtype not in (np.uint8, np.uint16):
        raise InputError(f"normals PNG must be 3-channel 8- or 16-bit, got shape {raw.shape} {raw.dtype}", name)
    top = 255.0 if raw.dtype == np.uint8 else float(NORMALS_MAX)
    n = raw[:, :, ::-1].astype(np.float64)
    n *= 2.0 / top
    n -= 1.0
    norm = np.sqrt(np.einsum("ijk,ijk->ij", n, n))
    surface = (norm >= 0.5) & raw.any(axis=2)
    n /= np.where(surface, norm, 1.0)[..., None]
    n[~surface] = 0.0
    return n.astype(np.float32)


def check_normals_encoding(tag: Any, name: str | Path) -> None:
    """``InputError`` unless ``tag`` (the ``normals_encoding`` a file carries; None = not given) is ours."""
    if tag is not None and tag != NORMALS_ENCODING:
        raise InputError(f"unknown normals encoding {tag!r} (this fakevision reads {NORMALS_ENCODING!r})", name)


def encode_label_map(label_map: np.ndarray, name: str | Path) -> bytes:
    """H x W int class ids -> lossless PNG; ids outside 0-65535 raise ``OutputError`` naming ``name``."""
    lm = np.asarray(label_map)

    def encode() -> bytes:
        if lm.size and (lm.min() < 0 or lm.max() > 65535):
            raise OutputError(f"{name}: label_map ids must lie in 0..65535, got {lm.min()}..{lm.max()}")
        return _png(_narrow_ids(lm.astype(np.uint16)), LABEL_PNG, "label map")

    return _ENCODED.get(("label_map", LABEL_PNG), lm, encode)


def decode_label_map(data: bytes, name: str | Path) -> np.ndarray:
    """Inverse of ``encode_label_map``: int32 H x W."""
    return decode_png_unchanged(data, name).astype(np.int32)


def label_names_to_json(names: dict[int, str] | None) -> dict[str, str]:
    return {str(int(k)): str(v) for k, v in (names or {}).items()}


def label_names_from_json(names: dict[str, str] | None) -> dict[int, str] | None:
    return None if names is None else {int(k): v for k, v in names.items()}


def label_id_claims(samples: Sequence[Sample]) -> list[list[int | str]]:
    """The (class id, name) pairs the label maps of ``samples`` use, in order of first appearance, background (0)
    left out: what a writer keeps per shard so that ``class_ids`` can give COCO categories the same ids.

    >>> import numpy as np
    >>> from fakevision.core.sample import Annotations
    >>> lm = np.zeros((2, 2), np.int32)
    >>> s = Sample(np.zeros((2, 2, 3), np.uint8), Annotations(label_map=lm, label_names={0: "bg", 3: "iris"}))
    >>> label_id_claims([s, s])
    [[3, 'iris']]
    """
    seen: dict[tuple[int, str], None] = {}
    for s in samples:
        for k, v in sorted((s.annotations.label_names or {}).items()):
            if int(k) != 0:
                seen.setdefault((int(k), str(v)), None)
    return [[k, v] for k, v in seen]


def class_ids(claims: Iterable[Sequence[int | str]], names: Iterable[str]) -> dict[str, int]:
    """One id space for the classes of a run: COCO category ids, label map values and ``FakevisionDataset``'s
    ``labels`` all use it. A class a label map names keeps that label map's id (the first claim wins, in run
    order); every other class (e.g. ``face`` from a source without label maps) gets the next free id, in name
    order. Ids start at 1: 0 is the label maps' background, never a category.

    When two label maps disagree (``3: cylinder`` in one, ``3: iris`` in another; only a recipe mixing ``render`` and
    ``render_eye`` does that), the later class gets an id no label map uses: COCO then cannot match both, and a
    reader must use the ``label_names`` written beside every label map, as all of ours do.

    >>> class_ids([[1, "box"], [2, "sphere"], [3, "cylinder"]], ["face", "box", "cylinder", "sphere"])
    {'box': 1, 'sphere': 2, 'cylinder': 3, 'face': 4}
    >>> class_ids([[3, "cylinder"], [3, "iris"], [1, "skin"]], ["cylinder", "iris"])
    {'skin': 1, 'iris': 2, 'cylinder': 3}
    """
    claims = [(int(k), str(name)) for k, name in claims if int(k) > 0]
    ids: dict[str, int] = {}
    for k, name in claims:
        if name not in ids and k not in ids.values():
            ids[name] = k
    taken = {k for k, _ in claims}  # an id some label map uses is never given to another class
    nxt = 1
    for name in sorted(set(names) | {str(n) for _, n in claims}):
        if name in ids:
            continue
        while nxt in taken:
            nxt += 1
        ids[name] = nxt
        taken.add(nxt)
    return dict(sorted(ids.items(), key=lambda kv: kv[1]))


def encode_instance_masks(masks: np.ndarray) -> tuple[bytes, bytes | None]:
    """N x H x W bool masks -> (instance-id PNG, exact stacked PNG or None when no pixel is shared).

    >>> m = np.zeros((2, 2, 3), bool); m[0, 0, :2] = True; m[1, 0, 1:] = True
    >>> ids, stack = encode_instance_masks(m)
    >>> decode_png_unchanged(ids, "x").tolist(), stack is not None
    ([[1, 2, 2], [0, 0, 0]], True)
    """
    n, h, w = masks.shape
    ids = np.zeros((h, w), np.uint16 if n > 255 else np.uint8)
    for i in range(n):
        ids[masks[i]] = i + 1
    id_png = encode_mask_png(ids)  # 8-bit unless an id exceeds 255
    overlap = n > 1 and bool((masks.sum(axis=0, dtype=np.int32) > 1).any())
    stack = encode_mask_png(masks.reshape(n * h, w)) if overlap else None
    return id_png, stack


def decode_instance_masks(
    n: int, h: int, w: int, id_png: bytes | None, stack_png: bytes | None, name: str | Path
) -> np.ndarray:
    """Inverse of ``encode_instance_masks``: the exact stack when present, else split the id PNG."""
    if stack_png is not None:
        stack = decode_png_unchanged(stack_png, name)
        if stack.shape != (n * h, w):
            raise InputError(f"mask stack has shape {stack.shape}, expected {(n * h, w)}", name)
        return stack.reshape(n, h, w) > 0
    if id_png is None:
        raise InputError("instance mask PNG missing", name)
    ids = decode_png_unchanged(id_png, name).astype(np.int32)
    if ids.shape != (h, w):
        raise InputError(f"mask has shape {ids.shape}, image is {h}x{w}", name)
    return ids[None] == np.arange(1, n + 1, dtype=np.int32)[:, None, None]


_PLAIN = frozenset({str, int, float, bool, type(None)})  # exact types: np.float64 subclasses float, for one


def jsonable(obj: Any) -> Any:
    """Turn numpy scalars/arrays (which sources may leave in params/attributes) into plain JSON values.
    (Plain leaves, by far the most common, are recognised by their exact type first: a sample's record has
    thousands of them, mostly the scene in its provenance.)"""
    if type(obj) in _PLAIN:
        return obj
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return obj.as_posix()
    return obj


class _NotPlain(Exception):
    """Raised by ``_plain_json`` on a value whose ``dataclasses.asdict`` conversion it does not replicate."""


def _plain_json(obj: Any) -> Any:
    """``jsonable(dataclasses.asdict-converted obj)`` for JSON-like data (dicts with plain keys, lists, tuples,
    plain leaves, numpy values, paths): the same result, without ``asdict``'s deep copy of every leaf."""
    if type(obj) in _PLAIN:
        return obj
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if type(k) not in _PLAIN:
                raise _NotPlain
            out[str(k)] = _plain_json(v)
        return out
    if isinstance(obj, list | tuple):
        return [_plain_json(v) for v in obj]
    if isinstance(obj, np.ndarray | np.generic | Path):
        return jsonable(obj)
    raise _NotPlain  # a dataclass, or some other object: let asdict decide


def provenance_json(prov: Provenance) -> dict[str, Any]:
    """``jsonable(prov.to_dict())``: the provenance as plain JSON values.

    Why not that expression: ``dataclasses.asdict`` deep-copies every leaf of ``params`` (a render sample's holds
    its whole scene, thousands of values), which made it the largest cost of writing a sample after the image
    encoders (measured: ~1.6 ms a call, twice per sample). Plain JSON-like params are converted directly; anything
    else falls back to the original expression, so the result is the same."""
    try:
        return {f.name: _plain_json(getattr(prov, f.name)) for f in dataclasses.fields(prov)}
    except _NotPlain:
        return jsonable(prov.to_dict())


def sample_record(sample: Sample) -> dict[str, Any]:
    """Everything about a sample except its pixel arrays, as JSON in the project's coordinate convention
    (continuous, corner origin; boxes xyxy), floats at full precision so the round trip is exact."""
    a = sample.annotations
    rec: dict[str, Any] = {
        "id": sample.id,
        "width": sample.width,
        "height": sample.height,
        "channels": int(sample.image.shape[2]),
        "label": a.label,
        "attributes": a.attributes,
        "categories": a.categories,
        "boxes": a.boxes.tolist(),
        "masks": a.masks is not None,
        "provenance": provenance_json(sample.provenance),
        "extras": a.extras,
    }
    if a.keypoints is not None:
        assert a.visibility is not None
        rec["keypoints"] = a.keypoints.tolist()
        rec["visibility"] = a.visibility.astype(int).tolist()
        rec["keypoint_schema"] = None if a.keypoint_schema is None else a.keypoint_schema.name
        if a.keypoint_schema is not None and a.keypoint_schema.name not in SHIPPED:
            rec["keypoint_schema_def"] = schema_def(a.keypoint_schema)
    if a.instance_attributes is not None:
        rec["instance_attributes"] = a.instance_attributes
    if a.depth is not None:
        rec["depth_scale"] = DEPTH_SCALE
    if a.normals is not None:
        rec["normals_encoding"] = NORMALS_ENCODING
    if a.label_map is not None:
        rec["label_names"] = label_names_to_json(a.label_names)
    return jsonable(rec)


def schema_def(value: KeypointSchema) -> dict[str, Any]:
    """A schema as data (names, flip permutation, 0-based skeleton), so files carry the schemas that are not
    shipped (e.g. the renderer's) and readers can rebuild them."""
    d = value.to_json()
    del d["name"]
    return d


def resolve_schema(name: str | None, definition: dict[str, Any] | None = None) -> KeypointSchema | None:
    """The keypoint schema a file names: a shipped one by ``name``, else rebuilt from ``definition`` (as written
    by ``schema_def``) when the file carried one, else dropped (None) rather than failing the read; the points
    themselves are kept either way.

    >>> resolve_schema("ibug68").num_keypoints, resolve_schema("generic3").name, resolve_schema("nobody's")
    (68, 'generic3', None)
    """
    if name is None:
        return None
    try:
        return schema(name)
    except ValueError:
        pass
    if not definition:
        return None
    try:
        return KeypointSchema.from_json(definition, name)
    except ValueError:
        return None


def sample_from_record(
    rec: dict[str, Any],
    image: np.ndarray,
    masks: np.ndarray | None,
    depth: np.ndarray | None,
    name: str | Path,
    label_map: np.ndarray | None = None,
    normals: np.ndarray | None = None,
) -> Sample:
    """Rebuild a ``Sample`` from ``sample_record`` output plus decoded arrays; bad content raises ``InputError``."""
    try:
        n = len(rec.get("categories", []))
        kp = rec.get("keypoints") if n else None  # zero instances: nothing to restore, K is unknowable
        ann = Annotations(
            label=rec.get("label"),
            attributes=rec.get("attributes") or {},
            categories=rec.get("categories", []),
            boxes=np.asarray(rec.get("boxes") or np.zeros((0, 4)), dtype=np.float64).reshape(n, 4),
            masks=masks,
            keypoints=None if kp is None else np.asarray(kp, dtype=np.float64).reshape(n, -1, 2),
            visibility=None if kp is None else np.asarray(rec["visibility"], dtype=np.uint8).reshape(n, -1),
            keypoint_schema=resolve_schema(rec.get("keypoint_schema"), rec.get("keypoint_schema_def")),
            instance_attributes=rec.get("instance_attributes"),
            depth=depth,
            label_map=label_map,
            label_names=label_names_from_json(rec.get("label_names")) if label_map is not None else None,
            extras=rec.get("extras") or {},
            normals=normals,
        )
        prov = rec.get("provenance") or {"source": "unknown", "sample_id": rec.get("id", "unknown")}
        return Sample(image, ann, Provenance.from_dict(prov))
    except InputError as e:
        raise InputError(e.problem, name) from None
    except (KeyError, TypeError, ValueError) as e:
        raise InputError(f"malformed annotation record ({type(e).__name__}: {e})", name) from None
