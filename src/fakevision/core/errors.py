"""Error types. Every error a user can cause carries the file (or recipe key path) and the problem in one line,
so the CLI can print it and exit 2 instead of showing a traceback from deep inside."""

from __future__ import annotations

from pathlib import Path


class FakevisionError(Exception):
    """Base class of all errors fakevision raises on purpose. ``str(err)`` is a one-line user message."""

    exit_code = 2


class InputError(FakevisionError):
    """Bad input data: a missing/corrupt file or an annotation that contradicts itself.

    >>> str(InputError("truncated image", path="a/b.png"))
    'a/b.png: truncated image'
    """

    def __init__(self, problem: str, path: str | Path | None = None) -> None:
        self.path = None if path is None else str(path)
        self.problem = problem
        super().__init__(problem if path is None else f"{path}: {problem}")


class RecipeError(FakevisionError):
    """A recipe that does not validate; names the file and the key path (e.g. ``sources.0.count``)."""


class OutputError(FakevisionError):
    """The output folder cannot be written as asked (exists without --overwrite, disk error mid-run)."""


class EngineError(FakevisionError):
    """The engine cannot run as asked: an optional engine not installed, a cluster that cannot be reached, a shard
    whose worker died more often than its retries allow."""


class SourceError(FakevisionError):
    """A source raised while making a sample. The message names the shard, the source, the sample and where the
    error was raised, so a failure in shard 4,711 of a cluster run can be reproduced with ``make_sample`` alone;
    the original exception stays attached as ``__cause__`` (in-process runs keep its traceback)."""

    exit_code = 1
