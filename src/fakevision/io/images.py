"""Image decoding with clear errors, and deterministic encoding.

Decoding goes through Pillow because it *raises* on truncated files (OpenCV silently returns a partial image);
images come back as RGB (or grey / RGBA) uint8 H x W x C. Encoding uses fixed settings so the same pixels always
give the same bytes (reruns are byte-identical).
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from fakevision.core.errors import InputError

Image.MAX_IMAGE_PIXELS = 400_000_000


#: deflate (PNG's compression) expands at most 1032:1, so a PNG's pixels cannot need more than this many bytes per
#: byte of file; a header claiming more is a lie (truncated or forged) and is refused before any allocation.
DEFLATE_MAX_RATIO = 1032


def check_image_size(im: Image.Image, data: bytes, name: str | Path) -> None:
    """``InputError`` when an opened (not yet decoded) image's header claims no pixels, more than
    ``Image.MAX_IMAGE_PIXELS``, or more than a PNG's ``data`` can hold."""
    w, h = im.size
    if w < 1 or h < 1:
        raise InputError(f"image has no pixels ({w}x{h})", name)
    if Image.MAX_IMAGE_PIXELS is not None and w * h > Image.MAX_IMAGE_PIXELS:
        raise InputError(f"image header claims {w}x{h} pixels, more than the {Image.MAX_IMAGE_PIXELS:,} fakevision "
                         "reads (corrupt, or a decompression bomb)", name)
    if im.format == "PNG":
        bits = {"1": 1, "L": 8, "P": 8, "RGB": 24, "RGBA": 32, "LA": 16, "I;16": 16, "I": 32}.get(im.mode, 1)
        raw = h * (1 + (w * bits + 7) // 8)
        if raw > DEFLATE_MAX_RATIO * len(data) + 1024:
            raise InputError(f"truncated or corrupt PNG: its header claims {w}x{h} pixels, more than its "
                             f"{len(data)} bytes can hold", name)


def decode_image(data: bytes, name: str | Path, mode: str | None = "RGB") -> np.ndarray:
    """Decode encoded image bytes; ``name`` is used in error messages. ``mode`` None keeps the file's channels
    (grey stays 1 channel), else converts ("RGB", "L"). A header claiming more pixels than ``MAX_IMAGE_PIXELS``,
    or than a PNG's bytes can hold, is refused before anything is allocated.

    >>> decode_image(encode_image(np.zeros((2, 3, 3), np.uint8)), "x.png").shape
    (2, 3, 3)
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im_ctx = Image.open(io.BytesIO(data))
        with im_ctx as opened:
            check_image_size(opened, data, name)
            opened.load()
            im: Image.Image = opened
            if mode is not None:
                im = im.convert(mode)
            elif im.mode not in ("L", "RGB", "RGBA"):
                im = im.convert("RGBA" if "A" in im.getbands() else "RGB")
            arr = np.asarray(im)
    except UnidentifiedImageError:
        raise InputError("not an image (unknown or corrupt format)", name) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise InputError(f"image too large ({e})", name) from None
    except (OSError, SyntaxError, ValueError) as e:
        msg = str(e)
        if "truncated" in msg.lower() or "broken" in msg.lower():
            raise InputError("truncated image", name) from None
        raise InputError(f"cannot decode image ({msg})", name) from None
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return np.ascontiguousarray(arr, dtype=np.uint8)


def read_image(path: str | Path, mode: str | None = "RGB") -> np.ndarray:
    """Read an image file as uint8 H x W x C; a missing, truncated or non-image file raises ``InputError``."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise InputError("file not found", p) from None
    except IsADirectoryError:
        raise InputError("is a folder, expected an image file", p) from None
    except OSError as e:
        raise InputError(f"cannot read ({e.strerror})", p) from None
    return decode_image(data, p, mode)


def encode_image(image: np.ndarray, fmt: str = "png", quality: int = 95) -> bytes:
    """Encode uint8 (or float in [0, 1]) H x W x C RGB(A)/grey pixels as PNG or JPEG with fixed settings."""
    img = image
    if img.dtype != np.uint8:
        img = np.clip(np.rint(np.asarray(img, dtype=np.float32) * 255.0), 0, 255).astype(np.uint8)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    elif img.ndim == 3 and img.shape[2] == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    elif img.ndim == 3 and img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_RGBA2BGRA)
    fmt = fmt.lower()
    if fmt == "png":
        ok, buf = cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    elif fmt in ("jpg", "jpeg"):
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    else:
        raise ValueError(f"unsupported image format {fmt!r} (png or jpg)")
    if not ok:
        raise ValueError(f"could not encode image as {fmt}")
    return buf.tobytes()


def encode_mask_png(mask: np.ndarray) -> bytes:
    """Encode an H x W label image (bool or small ints, up to 65535) as a lossless PNG (8 or 16 bit)."""
    m = np.asarray(mask)
    if m.dtype == bool:
        m = m.astype(np.uint8) * 255
    elif m.max(initial=0) < 256 and m.min(initial=0) >= 0:
        m = m.astype(np.uint8)
    else:
        m = m.astype(np.uint16)
    ok, buf = cv2.imencode(".png", m, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:
        raise ValueError("could not encode mask")
    return buf.tobytes()
