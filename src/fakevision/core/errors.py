"""Error types. Every error a user can cause carries the file (or recipe key path) and the problem in one line,
so the CLI can print it and exit 2 instead of showing a traceback from deep inside."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path


class FakevisionError(Exception):
    """Base class of all errors fakevision raises on purpose. ``str(err)`` is a one-line user message."""

    exit_code = 2


class InputError(FakevisionError):
    """Bad input data: a missing/corrupt file or an annotation that contradicts itself.

    ``fix`` = (option, value): the reader option that would fix it and what to give, e.g. ``("format", "one of
    coco, csv")``. The message names it as a recipe key (``give format: one of coco, csv``); the command line
    renders the same fix with its own flag instead (``message(flag_of)``: ``use --format (one of ...)``), so nobody is told to set a key that their
    interface does not have.

    >>> str(InputError("truncated image", path="a/b.png"))
    'a/b.png: truncated image'
    >>> e = InputError("cannot tell the format", "d", fix=("format", "one of coco, csv"))
    >>> str(e), e.message(lambda option: "--" + option)
    ('d: cannot tell the format; give format: one of coco, csv', 'd: cannot tell the format; use --format (one of coco, csv)')
    """

    def __init__(self, problem: str, path: str | Path | None = None, fix: tuple[str, str] | None = None) -> None:
        self.path = None if path is None else str(path)
        self.problem = problem
        self.fix = fix
        super().__init__(self.message())

    def message(self, flag_of: Callable[[str], str | None] | None = None) -> str:
        """The one-line message; ``flag_of(option)`` turns the fix's option into the caller's own syntax (e.g. a
        command-line flag; None = keep the recipe key)."""
        text = self.problem if self.path is None else f"{self.path}: {self.problem}"
        if self.fix is not None:
            option, value = self.fix
            flag = flag_of(option) if flag_of is not None else None
            text += f"; use {flag} ({value})" if flag else f"; give {option}: {value}"
        return text


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
