"""What the CLI verbs do beyond parsing: progress bars and tables around the API calls (kept out of ``cli.py``
so that file reads as the list of verbs)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn, \
    TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from fakevision.engine.recipe import Recipe
from fakevision.engine.run import RunResult, make

console = Console(stderr=True)


class SamplesPerSecond(ProgressColumn):
    """Throughput in samples/s (rich's own speed column counts bytes)."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("-- samples/s" if speed is None else f"{speed:,.1f} samples/s")


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
    if quiet:
        return make(recipe, out, overwrite=overwrite, **engine.kwargs())
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), SamplesPerSecond(),
               TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn()]
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(f"make {recipe.name}", total=recipe.total)
        started = {"first": True}

        def progress(done: int, total: int) -> None:
            if started["first"]:  # samples already on disk (resume) do not count towards speed
                bar.update(task, completed=done)
                bar.reset(task, total=total, completed=done)
                started["first"] = False
            else:
                bar.update(task, completed=done)

        return make(recipe, out, overwrite=overwrite, progress=progress, **engine.kwargs())


def summary(res: RunResult) -> None:
    resumed = f" (resumed: {res.resumed_shards} shards were already done)" if res.resumed_shards else ""
    console.print(f"wrote {res.total} samples to {res.out_dir} in {res.seconds:.1f} s "
                  f"({res.samples_per_second:.1f} samples/s made){resumed}", highlight=False)


def run_make(recipe_name: str, out: str | Path, seed: int | None, overwrite: bool, quiet: bool, engine: EngineArgs) -> None:
    recipe = Recipe.load(recipe_name).with_seed(seed)
    res = run_with_progress(recipe, out, overwrite, quiet, engine)
    summary(res)


def _fmt(v: Any) -> str:
    """Short human form of nested stats: floats to 1 decimal, dicts as k=v lists."""
    if isinstance(v, float):
        return f"{v:.1f}"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}={_fmt(x)}" for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    return str(v)


def run_inspect(out: str | Path, as_json: bool) -> bool:
    """Print the inspection of an output folder; returns False when validation found problems."""
    from fakevision.io.inspect import inspect_output

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
        if counts:
            t = Table(title=title)
            t.add_column("name")
            t.add_column("count", justify="right")
            for k, v in sorted(counts.items()):
                t.add_row(str(k), str(v))
            out_console.print(t)
    for key, value in sorted(info.items()):
        if key not in ("per_source", "per_class", "per_category", "problems", "num_samples"):
            out_console.print(f"{key}: {_fmt(value)}", highlight=False)
    if problems:
        out_console.print(f"[red]{len(problems)} problem(s):[/red]")
        for p in problems[:50]:
            out_console.print(f"  - {p}", highlight=False)
    else:
        out_console.print("[green]validation: no problems found[/green]")
    return not problems


def augment_recipe(input: Path, preset: str | None, ops_file: Path | None, per_class: int | None,
                   count: int | None, input_format: str, seed: int, label_column: str | None = None) -> Recipe:
    """The recipe behind ``fakevision augment``: one ``augment`` source over INPUT, COCO + image folder + manifest."""
    import yaml

    from fakevision.augment.source import augment_count
    from fakevision.core.errors import RecipeError

    if (preset is None) == (ops_file is None):
        raise RecipeError("augment: give exactly one of --preset NAME or --recipe FILE")
    if per_class is not None and count is not None:
        raise RecipeError("augment: give --per-class or --count, not both")
    source: dict[str, Any] = {"type": "augment", "name": "augment",
                              "input": {"format": input_format, "path": str(input)}}
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

    from fakevision.engine.recipe import _format_errors
    from fakevision.io.readers import ReaderSpec

    try:
        spec = ReaderSpec(**source["input"])
    except ValidationError as e:
        raise RecipeError(_format_errors(str(input), e, prefix="input")) from None
    source["count"] = count if count is not None else augment_count(spec, per_class=per_class, base_dir=Path.cwd())
    return Recipe.from_dict({"name": f"augment-{preset or (ops_file.stem if ops_file else 'ops')}", "seed": seed,
                             "sources": [source],
                             "outputs": [{"format": "coco"}, {"format": "imagefolder"}, {"format": "manifest"}]},
                            origin=str(ops_file or "augment"), base_dir=Path.cwd())


def run_augment(input: Path, out: str | Path, preset: str | None, ops_file: Path | None, per_class: int | None,
                count: int | None, input_format: str, seed: int, overwrite: bool, quiet: bool,
                label_column: str | None = None, engine: EngineArgs | None = None) -> None:
    recipe = augment_recipe(input, preset, ops_file, per_class, count, input_format, seed, label_column)
    summary(run_with_progress(recipe, out, overwrite, quiet, engine or EngineArgs()))
