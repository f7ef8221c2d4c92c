"""File codecs shared by the writers and the readers (``fakevision.io.dataset``, ``io.readers``): file names,
pixels, masks, depth, surface normals, label maps. Kept in one module so that what a writer writes and what the
readers expect cannot drift apart; the per-sample JSON record is ``fakevision.io.records``.

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
* **Encode once per shard.** The engine hands each writer of a run (COCO, then WebDataset, ...) the same
  ``EncodedSample`` objects: each file of a sample is encoded the first time a writer asks for it and kept on that
  object until the shard is written, so a second writer gets the same bytes without converting and compressing
  again (encoding a 256² sample's four arrays costs ~12 ms). No hashing, no process-wide memo: the bytes live and
  die with the shard.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from fakevision.core.errors import InputError, OutputError
from fakevision.core.sample import Sample
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
    """Encode a sample's pixels; JPEG cannot hold alpha, so RGBA is stored as its RGB part there."""
    if ext == "jpg" and image.shape[2] == 4:
        image = image[:, :, :3]
    return encode_image(image, ext, jpeg_quality)


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
    if lm.size and (lm.min() < 0 or lm.max() > 65535):
        raise OutputError(f"{name}: label_map ids must lie in 0..65535, got {lm.min()}..{lm.max()}")
    return _png(_narrow_ids(lm.astype(np.uint16)), LABEL_PNG, "label map")


def decode_label_map(data: bytes, name: str | Path) -> np.ndarray:
    """Inverse of ``encode_label_map``: int32 H x W."""
    return decode_png_unchanged(data, name).astype(np.int32)


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


def _given(array: np.ndarray | None, what: str) -> np.ndarray:
    if array is None:
        raise ValueError(f"the sample has no {what}")
    return array


class EncodedSample:
    """A sample and the files made from it, each encoded once: the engine wraps a shard's samples in these and hands
    the same objects to every writer, so COCO and WebDataset outputs of one run share the bytes of each image and
    map (see the module docstring). Writers also accept plain ``Sample`` objects (``encoded``).

    >>> import numpy as np
    >>> from fakevision.core.sample import Annotations, Sample
    >>> e = EncodedSample(Sample(np.zeros((4, 4, 3), np.uint8), Annotations()))
    >>> e.image_bytes("png") is e.image_bytes("png"), e.image_bytes("png")[:4]
    (True, b'\x89PNG')
    """

    __slots__ = ("_files", "sample")

    def __init__(self, sample: Sample) -> None:
        self.sample = sample
        self._files: dict[tuple, Any] = {}

    def _once(self, key: tuple, encode: Callable[[], Any]) -> Any:
        if key not in self._files:
            self._files[key] = encode()  # an error propagates and nothing is kept
        return self._files[key]

    def image_bytes(self, ext: str, jpeg_quality: int = 95) -> bytes:
        """The pixels as ``ext`` (``png`` or ``jpg``; ``encode_sample_image``)."""
        q = int(jpeg_quality) if ext == "jpg" else None
        return self._once(("image", ext, q), lambda: encode_sample_image(self.sample.image, ext, jpeg_quality))

    def depth_png(self) -> bytes:
        """The depth map as a 16-bit millimetre PNG (``encode_depth_png``); the sample must have depth."""
        return self._once(("depth",), lambda: encode_depth_png(_given(self.sample.annotations.depth, "depth")))

    def normals_png(self) -> bytes:
        """The normals as a 16-bit RGB PNG (``encode_normals_png``); the sample must have normals."""
        return self._once(("normals",), lambda: encode_normals_png(_given(self.sample.annotations.normals, "normals")))

    def label_map_png(self, name: str | Path) -> bytes:
        """The label map as a PNG (``encode_label_map``; ``name`` is what an out-of-range id's error names)."""
        return self._once(("label_map",), lambda: encode_label_map(_given(self.sample.annotations.label_map, "label_map"), name))

    def instance_masks(self) -> tuple[bytes, bytes | None]:
        """The masks as an instance-id PNG (+ the exact stack where they overlap; ``encode_instance_masks``)."""
        return self._once(("masks",), lambda: encode_instance_masks(_given(self.sample.annotations.masks, "masks")))


def encoded(sample: Sample | EncodedSample) -> EncodedSample:
    """``sample`` as an ``EncodedSample`` (itself when it already is one): what writers call on each input."""
    return sample if isinstance(sample, EncodedSample) else EncodedSample(sample)
