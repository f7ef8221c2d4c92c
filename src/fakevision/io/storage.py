"""Where an output lives: a local folder or any fsspec URL (``s3://bucket/prefix``, ``gs://...``, ``memory://...``),
behind one small interface with the same promise everywhere: a file is complete or absent, never half-written.

Why: users train from the bucket, and a cluster's workers write their shards straight to it (nothing large goes
back to the driver). Writers, the engine and the readers therefore address files by *relative* posix path under
a root, and this module does the storage-specific part:

* **Local folders** keep ``fakevision.io.atomic``'s rule: write a hidden temp name in the same folder, then
  ``os.replace`` (atomic on one file system); ``remove_stale_temps`` clears what a killed run left.
* **Object stores** (S3 and compatible, GCS, Azure, memory) have no rename, but a PUT is atomic: an object becomes
  visible whole when its upload completes (a multipart upload only on its final request) and never half-written.
  So every file is built locally (in memory, spilling to a temp file past 64 MiB) and uploaded in one put at
  commit; an error before the commit uploads nothing.
* **Other fsspec file systems** (SFTP, SMB, ...) get the local rule through fsspec: temp name, then ``mv``.

What makes a *shard* atomic is the same everywhere: its done marker is written last, after every file of it.
Credentials and endpoints come from the usual places of each file system (for S3: ``AWS_*`` variables, ``~/.aws``,
instance roles; ``AWS_ENDPOINT_URL`` or ``FSSPEC_S3_ENDPOINT_URL`` for MinIO and other S3-compatible servers).

>>> import tempfile
>>> s = as_storage(tempfile.mkdtemp())
>>> s.write_bytes("a/b.txt", b"hi"); s.read_bytes("a/b.txt"), s.list("a"), s.exists("a/x")
(b'hi', ['b.txt'], False)
>>> m = as_storage("memory://doc-example/out")
>>> m.write_bytes("x.json", b"{}"); m.url("x.json"), m.read_bytes("x.json")
('memory://doc-example/out/x.json', b'{}')
"""

from __future__ import annotations

import builtins
import contextlib
import os
import posixpath
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from fakevision.core.errors import OutputError
from fakevision.io.atomic import TMP_MARK, atomic_path, dumps_json, remove_stale_temps

#: fsspec protocols whose single PUT is atomic (an object is visible only once its upload completed).
ATOMIC_PUT = frozenset({"s3", "s3a", "gs", "gcs", "abfs", "abfss", "az", "adl", "memory", "oss"})
SPOOL_BYTES = 64 << 20
_EXTRAS = {"s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs"}


def is_url(path: str | os.PathLike[str]) -> bool:
    """True for ``proto://...`` (but not ``file://``, which is a local path).

    >>> is_url("s3://b/p"), is_url("out/x"), is_url("file:///tmp/x")
    (True, False, False)
    """
    text = str(path)
    return "://" in text and not text.startswith("file://")


def as_storage(where: str | os.PathLike[str] | Storage) -> Storage:
    """The storage rooted at ``where``: a ``Storage`` as it is, a URL on fsspec, anything else a local folder."""
    if isinstance(where, Storage):
        return where
    text = os.fspath(where)
    if text.startswith("file://"):
        text = text[len("file://"):]
    return FsspecStorage(text) if is_url(text) else LocalStorage(Path(text))


class Storage:
    """An output root; every path is relative posix (``coco/images/x.png``). See the module docstring."""

    root: str

    def url(self, rel: str = "") -> str:
        """The full path or URL of ``rel`` (for messages, and what a backend hands to its workers)."""
        raise NotImplementedError

    def __str__(self) -> str:
        return self.root

    @property
    def local_path(self) -> Path | None:
        """The folder on this machine, or None for remote storage."""
        return None

    def exists(self, rel: str = "") -> bool:
        raise NotImplementedError

    def is_file(self, rel: str) -> bool:
        raise NotImplementedError

    def is_empty(self) -> bool:
        """True when nothing is stored under the root (or the root does not exist)."""
        raise NotImplementedError

    def read_bytes(self, rel: str) -> bytes:
        """The file's bytes; ``FileNotFoundError`` when absent, ``OSError`` when it cannot be read."""
        raise NotImplementedError

    def open_read(self, rel: str) -> IO[bytes]:
        """A seekable binary file object (remote: ranged reads, so a reader can index a big tar)."""
        raise NotImplementedError

    def list(self, rel: str = "") -> list[str]:
        """Sorted names of the files directly inside folder ``rel`` (none when it does not exist)."""
        raise NotImplementedError

    def glob(self, pattern: str) -> builtins.list[str]:
        """Sorted relative paths of the files matching ``pattern`` (``*`` within one path component)."""
        raise NotImplementedError

    def all_files(self) -> set[str]:
        """Relative paths of every file under the root (one listing; for existence checks of many files)."""
        raise NotImplementedError

    @contextlib.contextmanager
    def writer(self, rel: str) -> Iterator[IO[bytes]]:
        """A binary file to write ``rel`` through; it appears whole when the block exits without error, and not
        at all otherwise. A failure to store it raises ``OutputError`` naming it."""
        raise NotImplementedError
        yield  # pragma: no cover

    def write_bytes(self, rel: str, data: bytes) -> None:
        with self.writer(rel) as f:
            f.write(data)

    def write_text(self, rel: str, text: str) -> None:
        self.write_bytes(rel, text.encode("utf-8"))

    def write_json(self, rel: str, obj: Any) -> None:
        """Canonical JSON (``atomic.dumps_json``), atomically."""
        self.write_text(rel, dumps_json(obj))

    def remove_all(self) -> None:
        """Delete everything under the root (``--overwrite`` of an output fakevision made)."""
        raise NotImplementedError

    def remove(self, rel: str) -> None:
        """Delete file or folder ``rel`` and everything under it; nothing to delete is fine (the run state of a
        finished run)."""
        raise NotImplementedError

    def remove_stale_temps(self) -> int:
        """Delete temp files a killed run left; returns how many."""
        return 0

    def prepare_root(self) -> None:
        """Create the root where that means something (a local folder); fails with ``OutputError``."""


class LocalStorage(Storage):
    """A folder on this machine: ``fakevision.io.atomic``'s temp-then-rename writes."""

    def __init__(self, root: Path) -> None:
        self.path = Path(root)
        self.root = str(self.path)

    def url(self, rel: str = "") -> str:
        return str(self.path / rel) if rel else self.root

    @property
    def local_path(self) -> Path:
        return self.path

    def exists(self, rel: str = "") -> bool:
        return (self.path / rel).exists()

    def is_file(self, rel: str) -> bool:
        return (self.path / rel).is_file()

    def is_empty(self) -> bool:
        return not self.path.is_dir() or not any(self.path.iterdir())

    def read_bytes(self, rel: str) -> bytes:
        return (self.path / rel).read_bytes()

    def open_read(self, rel: str) -> IO[bytes]:
        return open(self.path / rel, "rb")  # noqa: SIM115 - the caller closes it

    def list(self, rel: str = "") -> list[str]:
        d = self.path / rel
        return sorted(p.name for p in d.iterdir() if p.is_file()) if d.is_dir() else []

    def glob(self, pattern: str) -> builtins.list[str]:
        return _by_parts(p.relative_to(self.path).as_posix() for p in self.path.glob(pattern) if p.is_file())

    def all_files(self) -> set[str]:
        return {p.relative_to(self.path).as_posix() for p in self.path.rglob("*") if p.is_file()}

    @contextlib.contextmanager
    def writer(self, rel: str) -> Iterator[IO[bytes]]:
        with atomic_path(self.path / rel) as tmp, open(tmp, "wb") as f:
            yield f

    def remove_all(self) -> None:
        shutil.rmtree(self.path)

    def remove(self, rel: str) -> None:
        p = self.path / rel
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink(missing_ok=True)

    def remove_stale_temps(self) -> int:
        return remove_stale_temps(self.path) if self.path.is_dir() else 0

    def prepare_root(self) -> None:
        if self.path.exists() and not self.path.is_dir():
            raise OutputError(f"{self.path}: exists and is not a folder")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise OutputError(f"{self.path}: cannot create output folder ({e.strerror})") from None


def _by_parts(paths: Iterable[str]) -> list[str]:
    """Sorted as ``pathlib`` sorts paths (component by component: ``a/x`` before ``a-b/y``)."""
    return sorted(paths, key=lambda p: p.split("/"))


def _reason(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


class FsspecStorage(Storage):
    """Any fsspec URL; see the module docstring for how each kind of file system keeps writes atomic."""

    def __init__(self, url: str) -> None:
        import fsspec

        self.root = url.rstrip("/")
        try:
            self.fs, self.base = fsspec.url_to_fs(self.root)
        except ImportError as e:
            proto = self.root.split("://", 1)[0]
            hint = f"; pip install 'fakevision[{_EXTRAS[proto]}]'" if proto in _EXTRAS else ""
            raise OutputError(f"{self.root}: {_reason(e)}{hint}") from None
        except (ValueError, OSError) as e:
            raise OutputError(f"{self.root}: cannot open this storage ({_reason(e)})") from None
        self.base = self.base.rstrip("/")
        protocols = self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,)
        self.atomic_put = bool(set(protocols) & ATOMIC_PUT)

    def __reduce__(self) -> tuple[Any, ...]:  # workers rebuild it from the URL (fsspec caches the instance)
        return (FsspecStorage, (self.root,))

    def url(self, rel: str = "") -> str:
        return f"{self.root}/{rel}" if rel else self.root

    def _p(self, rel: str) -> str:
        return f"{self.base}/{rel}" if rel else self.base

    def _call(self, what: str, rel: str, fn: Any, *args: Any) -> Any:
        """Run a read-side fsspec call; foreign client errors become ``OSError`` (what local reads raise)."""
        try:
            return fn(*args)
        except OSError:
            raise
        except Exception as e:  # e.g. botocore's EndpointConnectionError: not an OSError
            raise OSError(f"{self.url(rel)}: cannot {what} ({_reason(e)})") from None

    def exists(self, rel: str = "") -> bool:
        self.fs.invalidate_cache(self._p(rel))
        return bool(self._call("check", rel, self.fs.exists, self._p(rel)))

    def is_file(self, rel: str) -> bool:
        self.fs.invalidate_cache(self._p(rel))
        return bool(self._call("check", rel, self.fs.isfile, self._p(rel)))

    def is_empty(self) -> bool:
        self.fs.invalidate_cache(self.base)
        try:  # one listing of the top level (files and "folders"), not of everything under it
            return not self._call("list", "", self.fs.ls, self.base, False)
        except FileNotFoundError:
            return True

    def read_bytes(self, rel: str) -> bytes:
        return self._call("read", rel, self.fs.cat_file, self._p(rel))

    def open_read(self, rel: str) -> IO[bytes]:
        return self._call("open", rel, self.fs.open, self._p(rel), "rb")

    def list(self, rel: str = "") -> list[str]:
        p = self._p(rel)
        self.fs.invalidate_cache(p)
        try:
            entries = self._call("list", rel, self.fs.ls, p, True)
        except FileNotFoundError:
            return []
        return sorted(posixpath.basename(e["name"].rstrip("/")) for e in entries if e.get("type") == "file")

    def glob(self, pattern: str) -> builtins.list[str]:
        self.fs.invalidate_cache(self.base)
        found = self._call("list", pattern, lambda: self.fs.glob(self._p(pattern), detail=True))
        n = len(self.base.lstrip("/")) + 1
        return _by_parts(f.lstrip("/")[n:] for f, info in found.items() if info.get("type") == "file")

    def all_files(self) -> set[str]:
        self.fs.invalidate_cache(self.base)
        try:
            found = self._call("list", "", self.fs.find, self.base)
        except FileNotFoundError:
            return set()
        n = len(self.base.lstrip("/")) + 1
        return {f.lstrip("/")[n:] for f in found}

    @contextlib.contextmanager
    def writer(self, rel: str) -> Iterator[IO[bytes]]:
        target = self._p(rel)
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as buf:
            yield buf  # an error in the block propagates from here: nothing was uploaded
            try:
                self._commit(buf, target)
            except Exception as e:
                raise OutputError(f"{self.url(rel)}: write failed ({_reason(e)})") from None

    def _commit(self, buf: IO[bytes], target: str) -> None:
        if self.atomic_put:
            if getattr(buf, "_rolled", False):  # big: upload from a named file (multipart, atomic at the end)
                buf.seek(0)
                with tempfile.NamedTemporaryFile(prefix=TMP_MARK) as named:
                    shutil.copyfileobj(buf, named, 1 << 20)
                    named.flush()
                    self.fs.put_file(named.name, target)
            else:
                buf.seek(0)
                self.fs.pipe_file(target, buf.read())
            return
        parent, name = posixpath.split(target)
        tmp = f"{parent}/{TMP_MARK}{os.getpid()}-{name}"
        self.fs.makedirs(parent, exist_ok=True)
        buf.seek(0)
        self.fs.pipe_file(tmp, buf.read())
        self.fs.mv(tmp, target)

    def remove_all(self) -> None:
        try:
            self.fs.rm(self.base, recursive=True)
        except FileNotFoundError:
            pass
        except Exception as e:
            raise OutputError(f"{self.root}: cannot delete ({_reason(e)})") from None
        self.fs.invalidate_cache(self.base)

    def remove(self, rel: str) -> None:
        try:
            self.fs.rm(self._p(rel), recursive=True)
        except FileNotFoundError:
            pass
        except Exception as e:
            raise OutputError(f"{self.url(rel)}: cannot delete ({_reason(e)})") from None
        self.fs.invalidate_cache(self.base)

    def remove_stale_temps(self) -> int:
        if self.atomic_put:
            return 0  # nothing is ever written under a temp name there
        n = 0
        for f in self.fs.find(self.base):
            if posixpath.basename(f).startswith(TMP_MARK):
                with contextlib.suppress(OSError):
                    self.fs.rm(f)
                    n += 1
        return n
