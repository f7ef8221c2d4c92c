"""Atomic file writes: a file is either complete or absent, never half-written.

Why: a killed ``make`` must leave only whole files behind, so a rerun can trust everything it finds. Each write
goes to a hidden temp name in the same folder (same file system, so ``os.replace`` is atomic) and is renamed.
Leftover temp files from a killed run are removed by ``remove_stale_temps``.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fakevision.core.errors import OutputError

TMP_MARK = ".fvtmp-"


def _tmp_name(path: Path) -> Path:
    return path.with_name(f"{TMP_MARK}{os.getpid()}-{path.name}")


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temp path to write to; on success it is renamed to ``path``, on error it is deleted.

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> with atomic_path(d / "x.txt") as tmp:
    ...     _ = tmp.write_text("hi")
    >>> (d / "x.txt").read_text(), [p.name for p in d.iterdir()]
    ('hi', ['x.txt'])
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"{path.parent}: cannot create folder ({e.strerror})") from None
    tmp = _tmp_name(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"{path}: write failed ({e.strerror or e})") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def dumps_json(obj: Any) -> str:
    """Canonical JSON (sorted keys, no NaN, compact separators): the same object always gives the same bytes."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def atomic_write_json(path: str | Path, obj: Any) -> None:
    """Write canonical JSON atomically."""
    atomic_write_text(path, dumps_json(obj))


def remove_stale_temps(root: str | Path) -> int:
    """Delete temp files left by a killed run under ``root``; returns how many were removed."""
    n = 0
    for p in Path(root).rglob(f"{TMP_MARK}*"):
        with contextlib.suppress(OSError):
            p.unlink()
            n += 1
    return n
