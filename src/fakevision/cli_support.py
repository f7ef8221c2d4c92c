"""What the CLI verbs do beyond parsing: progress bars and tables around the API calls, readable help and error
hints in the command line's own terms (kept out of ``cli.py`` so that file reads as the list of verbs).

Imports of the engine are inside the functions: ``fakevision --help`` and ``fakevision doctor`` must not pay for
them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from fakevision.engine.recipe import Recipe
    from fakevision.engine.run import RunResult

console = Console(stderr=True)


# --- help and error messages in the command line's terms ---------------------------------------------------------

def walk_commands(cmd: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every command of the (click) command tree under ``cmd`` with its path of names (the root's is empty).
    Duck-typed: typer 0.29 ships its own copy of click, so ``isinstance(x, click.Group)`` would not hold."""
    yield path, cmd
    for name, sub in sorted((getattr(cmd, "commands", None) or {}).items()):
        yield from walk_commands(sub, (*path, name))


def _is_argument(param: Any) -> bool:
    return getattr(param, "param_type_name", "") == "argument"


def readable_metavar(param: Any) -> str:
    """What help shows for a parameter's value: ``DIR``/``FILE``/``PATH`` for paths, ``N`` for integers,
    ``SECONDS`` or ``X`` for numbers, the upper-case name for text and arguments, nothing for a flag (typer 0.29
    would show ``<path>``, ``<int range>``, ``<str>``, ``<bool>`` and ``{input}``).

    >>> import click
    >>> opt = click.Option(["--label-column"], type=str)
    >>> readable_metavar(opt), readable_metavar(click.Option(["--n"], type=int))
    ('LABEL_COLUMN', 'N')
    >>> readable_metavar(click.Option(["--quiet"], is_flag=True)), readable_metavar(click.Argument(["input"]))
    ('', 'INPUT')
    """
    name = (param.name or "value").upper()
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return ""
    if _is_argument(param):
        return name
    longs = [o for o in getattr(param, "opts", []) if o.startswith("--")]
    if longs:  # named after the flag the user types (--format FORMAT), not the Python parameter (input_format)
        name = longs[0][2:].replace("-", "_").upper()
    if name == "INPUT_OPTION":
        return "KEY=VALUE"
    kind = _type_name(param)
    choices = getattr(getattr(param, "type", None), "choices", None)
    if choices:
        return "|".join(str(c) for c in choices)
    if kind == "path":
        return "DIR" if param.name in ("out", "data_root") else "FILE" if param.name == "html" else "PATH"
    if kind in ("int", "integer", "integer range"):
        return "N"
    if kind in ("float", "float range"):
        return "SECONDS" if "second" in (param.name or "") else "X"
    return name


def _type_name(param: Any) -> str:
    """The value type of a click or typer >= 0.29 parameter, lower case (``path``, ``int``, ``float``, ``str``)."""
    t = getattr(param, "type", None)
    if t is not None:
        return str(getattr(t, "name", "")).lower()
    try:
        return str(param.bare_type()).lower()
    except Exception:  # a list or union typer cannot name: shown by its name
        return ""


def polish_help(root: Any) -> Any:
    """Give every parameter of the command tree a readable metavar (``readable_metavar``) and show arguments in
    usage lines as ``INPUT`` / ``[RECIPE]``; returns ``root``."""
    for _, cmd in walk_commands(root):
        for p in getattr(cmd, "params", []):
            _polish_param(p)
        get_help = getattr(cmd, "get_help_option", None)
        if get_help is not None:  # --help is made when help is shown: polish it then
            cmd.get_help_option = (lambda ctx, f=get_help: _polish_param(f(ctx)))
    return root


def _polish_param(p: Any) -> Any:
    if p is None:
        return p
    if p.metavar is None or str(p.metavar).startswith("<"):
        p.metavar = readable_metavar(p)
    if _is_argument(p) and hasattr(p, "_usage_display_name"):  # typer 0.29: "{input}" in usage, "<path>" beside
        shown = p.metavar + ("..." if p.nargs != 1 else "")
        p._usage_display_name = (lambda s=shown, req=p.required: s if req else f"[{s}]")
        p.display_type_rich = lambda ctx: None
    return p


def command_flags(fn: Any) -> set[str]:
    """The long flags a typer command function declares (``--out``, ``--label-column``, ...), read from its
    ``Annotated[..., typer.Option(...)]`` parameters (an option without names gets ``--<name>``)."""
    import inspect
    import typing

    flags: set[str] = set()
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception:  # unresolvable annotations: no flags known, messages keep recipe keys
        return flags
    for name in inspect.signature(fn).parameters:
        for meta in getattr(hints.get(name), "__metadata__", ()):
            if type(meta).__name__ == "OptionInfo":
                # In Annotated[..., typer.Option("--format")] the first name arrives as ``default``.
                names = [getattr(meta, "default", None), *(getattr(meta, "param_decls", None) or ())]
                decls = [d for d in names if isinstance(d, str) and d.startswith("--")]
                flags.update(decls or ["--" + name.replace("_", "-")])
    return flags


def flag_for_option(flags: set[str], option: str) -> str | None:
    """The flag among ``flags`` that sets reader option ``option`` (``label_column`` -> ``--label-column``), or
    ``--input-option option=VALUE`` when the command takes any reader option, or None (the message then keeps the
    recipe key).

    >>> flag_for_option({"--format", "--input-option"}, "format"), flag_for_option({"--input-option"}, "category")
    ('--format', '--input-option category=VALUE')
    >>> flag_for_option({"--out"}, "format") is None
    True
    """
    want = "--" + option.replace("_", "-")
    if want in flags:
        return want
    if "--input-option" in flags:
        return f"--input-option {option}=VALUE"
    return None


def parse_input_options(items: list[str] | None) -> dict[str, Any]:
    """``KEY=VALUE`` pairs of ``--input-option`` as reader options; values are read as YAML (``2`` is a number,
    ``[a, b]`` a list, ``true`` a boolean), as they would be in a recipe's ``input:``.

    >>> parse_input_options(["box_tolerance=2", "classes=[cat, dog]", "path_column=file"])
    {'box_tolerance': 2, 'classes': ['cat', 'dog'], 'path_column': 'file'}
    """
    import yaml

    from fakevision.core.errors import RecipeError

    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise RecipeError(f"--input-option {item!r}: expected KEY=VALUE (e.g. box_tolerance=2)")
        try:
            out[key.strip()] = yaml.safe_load(value) if value.strip() else ""
        except yaml.YAMLError:
            raise RecipeError(f"--input-option {item!r}: the value is not valid YAML") from None
    return out


class SamplesPerSecond(ProgressColumn):
    """Throughput in samples/s, averaged over the whole run so far: samples made in this call (``start_done``,
    what a resumed run found on disk, is left out) over the time since the run started, worker start-up included.
    Why not rich's own speed column: it counts bytes, and its speed over the last few updates explodes when two
    workers finish shards in the same millisecond."""

    def render(self, task: Task) -> Text:
        speed = run_speed(task)
        return Text("-- samples/s" if speed is None else f"{speed:,.1f} samples/s")


class Remaining(ProgressColumn):
    """Time left at the run's average speed (``SamplesPerSecond``)."""

    def render(self, task: Task) -> Text:
        speed = run_speed(task)
        if task.finished:
            return Text("done")
        if not speed or task.total is None:
            return Text("ETA --:--")
        left = int((task.total - task.completed) / speed)
        return Text(f"ETA {left // 3600}:{left // 60 % 60:02d}:{left % 60:02d}")


def run_speed(task: Task) -> float | None:
    """Samples per second made so far in this run, or None before the first shard finished.

    >>> from rich.progress import Progress
    >>> with Progress(disable=True) as p:
    ...     t = p.add_task("x", total=10, start_done=4)
    ...     p.update(t, completed=4)
    ...     run_speed(p.tasks[0]) is None
    True
    """
    made = task.completed - task.fields.get("start_done", 0)
    elapsed = task.elapsed
    if made <= 0 or not elapsed:
        return None
    return made / elapsed


@dataclass(frozen=True)
class EngineArgs:
    """Where a verb's shards run (``--engine``, ``--workers``, ``--address``, ``--max-retries``)."""

    engine: str = "local"
    workers: int | None = None
    address: str | None = None
    max_retries: int = 3

    def kwargs(self) -> dict[str, Any]:
        return {"engine": self.engine, "workers": self.workers, "address": self.address,
                "max_retries": self.max_retries}


def run_with_progress(recipe: Recipe, out: str | Path, overwrite: bool, quiet: bool, engine: EngineArgs) -> RunResult:
    """``make`` with a progress bar on stderr that advances as each shard finishes (any number of workers)."""
    from fakevision.engine.run import is_finished, make

    if quiet or (not overwrite and is_finished(recipe, out)):
        return make(recipe, out, overwrite=overwrite, **engine.kwargs())
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), SamplesPerSecond(),
               TimeElapsedColumn(), Remaining()]
    bar = Progress(*columns, console=console, transient=False)
    task = bar.add_task(f"make {recipe.name}", total=recipe.total, start_done=0)
    started = {"first": True}

    def progress(done: int, total: int) -> None:
        if started["first"]:  # shown from the first report on, so a refused run prints only its error;
            bar.start()       # samples already on disk (resume) do not count towards speed
            bar.reset(task, total=total, completed=done, start_done=done)
            started["first"] = False
        else:
            bar.update(task, completed=done)

    try:
        return make(recipe, out, overwrite=overwrite, progress=progress, **engine.kwargs())
    finally:
        bar.stop()


def summary(res: RunResult) -> None:
    """One line saying what ``make`` did (or that there was nothing to do)."""
    if res.already_finished:
        console.print(f"nothing to do: {res.out_dir} already holds the finished run of this recipe ({res.total} "
                      "samples); use --overwrite to make it again", highlight=False, soft_wrap=True)
        return
    resumed = f" (resumed: {res.resumed_shards} shards were already done)" if res.resumed_shards else ""
    console.print(f"wrote {res.total} samples to {res.out_dir} in {res.seconds:.1f} s "
                  f"({res.samples_per_second:.1f} samples/s made){resumed}", highlight=False, soft_wrap=True)


def run_make(recipe_name: str, out: str | Path, seed: int | None, overwrite: bool, quiet: bool,
             engine: EngineArgs) -> None:
    """``fakevision make``: load the recipe (a file or a built-in name, see ``Recipe.load``), run it, say what
    happened."""
    from fakevision.engine.recipe import Recipe

    recipe = Recipe.load(recipe_name).with_seed(seed)
    res = run_with_progress(recipe, out, overwrite, quiet, engine)
    summary(res)


def run_inspect(out: str | Path, as_json: bool) -> bool:
    """Print the inspection of an output folder; returns False when validation found problems."""
    from fakevision.io.inspect import describe, inspect_output

    info: dict[str, Any] = inspect_output(out)
    problems = info.get("problems", [])
    if as_json:
        print(json.dumps(info, indent=2, sort_keys=True, default=str))
        return not problems
    out_console = Console(soft_wrap=True)
    out_console.print(f"[bold]{out}[/bold]: {info.get('num_samples', 0)} samples")
    for key, title in (("per_source", "samples per source"), ("per_class", "samples per class"),
                       ("per_category", "instances per category")):
        counts = info.get(key) or {}
        if key == "per_class" and set(counts) == {"(none)"}:
            out_console.print("no sample has a class label", highlight=False)
            continue
        if counts:
            t = Table(title=title)
            t.add_column("name")
            t.add_column("count", justify="right")
            for k, v in sorted(counts.items()):
                t.add_row(str(k), f"{v:,}")
            out_console.print(t)
    t = Table(title="annotations and validation", show_header=False)
    t.add_column("what")
    t.add_column("value")
    for what, value in describe(info):
        t.add_row(Text(what), Text(value))  # Text: "[coco, ...]" is data, not rich markup
    out_console.print(t)
    if problems:
        out_console.print(f"[red]{len(problems)} problem(s):[/red]")
        for p in problems[:50]:
            out_console.print(Text(f"  - {p}"))
    else:
        out_console.print("[green]validation: no problems found[/green]")
    return not problems


def augment_recipe(input: str | Path, preset: str | None, ops_file: Path | None, per_class: int | None,
                   count: int | None, input_format: str, seed: int, label_column: str | None = None,
                   input_options: dict[str, Any] | None = None) -> Recipe:
    """The recipe behind ``fakevision augment``: one ``augment`` source over INPUT, COCO + image folder + manifest.
    ``input_options`` are further reader options (``--input-option KEY=VALUE``), as in a recipe's ``input:``."""
    import yaml

    from fakevision.augment.source import augment_count
    from fakevision.core.errors import RecipeError
    from fakevision.engine.recipe import Recipe

    if (preset is None) == (ops_file is None):
        raise RecipeError("augment: give exactly one of --preset NAME or --recipe FILE")
    if per_class is not None and count is not None:
        raise RecipeError("augment: give --per-class or --count, not both")
    source: dict[str, Any] = {"type": "augment", "name": "augment",
                              "input": {"format": input_format, "path": str(input)}}
    for key, value in (input_options or {}).items():
        if key in ("format", "path"):
            raise RecipeError(f"--input-option {key}=...: give the {key} as "
                              f"{'--format' if key == 'format' else 'the INPUT argument'}")
        source["input"][key] = value
    if label_column is not None:
        source["input"]["label_column"] = label_column
    if preset is not None:
        source["preset"] = preset
    else:
        assert ops_file is not None
        try:
            data = yaml.safe_load(ops_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RecipeError(f"{ops_file}: recipe file not found") from None
        except yaml.YAMLError:
            raise RecipeError(f"{ops_file}: not valid YAML") from None
        ops = data.get("ops") if isinstance(data, dict) else data
        if not isinstance(ops, list):
            raise RecipeError(f"{ops_file}: expected a list of ops (or a mapping with an 'ops' list)")
        source["ops"] = ops
    if per_class is not None:
        source["per_class"] = per_class
    from pydantic import ValidationError

    from fakevision.io.readers import ReaderSpec

    try:
        spec = ReaderSpec(**source["input"])
    except ValidationError as e:
        raise RecipeError(_cli_reader_errors(input, e)) from None
    source["count"] = count if count is not None else augment_count(spec, per_class=per_class, base_dir=Path.cwd())
    return Recipe.from_dict({"name": f"augment-{preset or (ops_file.stem if ops_file else 'ops')}", "seed": seed,
                             "sources": [source],
                             "outputs": [{"format": "coco"}, {"format": "imagefolder"}, {"format": "manifest"}]},
                            origin=str(ops_file or "augment"), base_dir=Path.cwd())


def _cli_reader_errors(input: str | Path, err: Any) -> str:
    """Validation errors of the augment input in command-line terms: ``--format``, ``--label-column`` or
    ``--input-option KEY`` instead of the recipe's ``input.KEY``."""
    flags = {"format": "--format", "label_column": "--label-column", "path": "INPUT"}
    lines = []
    for e in err.errors():
        key = str(e["loc"][0]) if e["loc"] else ""
        where = flags.get(key, f"--input-option {key}" if key else "--input-option")
        msg = "not a reader option" if e["type"] == "extra_forbidden" else e["msg"].removeprefix("Value error, ")
        lines.append(f"{input}: {where}: {msg}")
    return "; ".join(lines)


def run_augment(input: str | Path, out: str | Path, preset: str | None, ops_file: Path | None, per_class: int | None,
                count: int | None, input_format: str, seed: int, overwrite: bool, quiet: bool,
                label_column: str | None = None, engine: EngineArgs | None = None,
                input_options: list[str] | None = None) -> None:
    """``fakevision augment``: the recipe of ``augment_recipe``, run with a progress bar."""
    recipe = augment_recipe(input, preset, ops_file, per_class, count, input_format, seed, label_column,
                            parse_input_options(input_options))
    summary(run_with_progress(recipe, out, overwrite, quiet, engine or EngineArgs()))


def run_doctor(out: Path | None, egl: bool, as_json: bool) -> bool:
    """Print ``fakevision.doctor``'s checks (a table, or JSON); False when a required check failed."""
    import dataclasses

    from fakevision.doctor import FAIL, OK, run_checks

    checks = run_checks(out, egl=egl)
    if as_json:
        print(json.dumps([{**dataclasses.asdict(c), "failed": c.failed} for c in checks], indent=2))
        return not any(c.failed for c in checks)
    t = Table(title="fakevision doctor", show_lines=False)
    fixes = any(c.fix for c in checks)  # no empty column taking a quarter of the width when all is well
    for col in ("check", "status", "found", "fix")[:4 if fixes else 3]:
        t.add_column(col, overflow="fold")
    colour = {OK: "green", FAIL: "red"}
    for c in checks:
        status = Text(c.status + (" (required)" if c.required and c.status != OK else ""),
                      style=colour.get(c.status, "yellow"))
        t.add_row(Text(c.name), status, Text(c.found), *([Text(c.fix)] if fixes else []))
    out_console = Console(soft_wrap=False)
    out_console.print(t)
    failed = [c.name for c in checks if c.failed]
    if failed:
        out_console.print(Text(f"{len(failed)} required check(s) failed: {', '.join(failed)}", style="red"))
    else:
        warned = sum(c.status != OK for c in checks)
        out_console.print(Text("everything required is here" + (f"; {warned} optional item(s) above have a fix"
                                                                  if warned else ""), style="green"))
    return not failed


def cli_reference() -> str:
    """The command-line reference (``docs/reference/cli.md``) generated from the typer app itself: every command
    with its help, arguments and options (flag, value, default, help). ``tests/test_docs.py`` fails when the
    committed page and the app disagree; regenerate with ``python -c "from fakevision.cli_support import
    cli_reference; print(cli_reference(), end='')" > docs/reference/cli.md``."""
    import inspect

    import typer

    from fakevision.cli import app

    root = polish_help(typer.main.get_command(app))
    lines = ["# Command-line reference", "",
             "<!-- Generated from the typer app by fakevision.cli_support.cli_reference; tests/test_docs.py fails when "
             "it drifts. -->", "",
             "Every command also prints this with `--help`. Errors are one line naming the file and the problem, "
             "exit code 2; an interrupted run exits 130 and resumes when rerun.", ""]
    for path, cmd in walk_commands(root):
        if not path or getattr(cmd, "commands", None):
            if path and cmd.help:
                lines += [f"## `fakevision {' '.join(path)} ...`", "", inspect.cleandoc(cmd.help), ""]
            continue
        usage = " ".join(["fakevision", *path, "[OPTIONS]"] + [
            (p.metavar if p.required else f"[{p.metavar}]") for p in cmd.params if _is_argument(p)])
        lines += [f"{'###' if len(path) > 1 else '##'} `fakevision {' '.join(path)}`", "", f"`{usage}`", "",
                  inspect.cleandoc(cmd.help or ""), "", "| argument / option | value | default | help |",
                  "|---|---|---|---|"]
        for p in cmd.params:
            names = ", ".join(f"`{o}`" for o in (*p.opts, *getattr(p, "secondary_opts", []))) if not _is_argument(p) \
                else f"`{p.metavar}`"
            default = p.default if not callable(p.default) else None
            empty = default is None or default is False or default == () or default == []
            shown = "" if empty or p.required else f"`{default}`"
            if p.required:
                shown = "**required**"
            text = " ".join(str(getattr(p, "help", "") or "").split()).replace("|", "\\|")
            lines.append(f"| {names} | {p.metavar or ''} | {shown} | {text} |")
        lines.append("")
    return "\n".join(lines)
