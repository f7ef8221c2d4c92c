"""The ``fakevision`` command line: argument parsing and calls into the API, nothing else.

Every error fakevision raises on purpose is printed as one line (``error: <file>: <problem>``) with exit code 2.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import rich.markup
import typer
from rich.console import Console

from fakevision.core.errors import FakevisionError

app = typer.Typer(help="fakevision: fake data for computer vision, with annotations you can trust.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
err_console = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


def _friendly(fn: F) -> F:
    """Turn fakevision's own errors into one line + exit 2; Ctrl-C into exit 130 (outputs stay resumable)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except FakevisionError as e:
            from fakevision.cli_support import command_flags, flag_for_option
            from fakevision.core.errors import InputError

            flags = command_flags(fn)
            text = e.message(lambda o: flag_for_option(flags, o)) if isinstance(e, InputError) else str(e)
            err_console.print(f"[red]error:[/red] {rich.markup.escape(text)}", highlight=False, soft_wrap=True)
            raise typer.Exit(e.exit_code) from None
        except KeyboardInterrupt:
            err_console.print("interrupted; rerun the same command to resume")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


WorkersOpt = Annotated[int | None, typer.Option(
    "--workers", "-w", min=1, help="Worker processes (local engine, default 1) or Ray tasks in flight (default: one per "
                                   "CPU of the runtime or cluster); the output is byte-identical for any number.")]
EngineOpt = Annotated[str, typer.Option("--engine", help="Where shards run: local (processes) or ray.")]
AddressOpt = Annotated[str | None, typer.Option(
    "--address", help="Ray only: 'auto' (the cluster on this machine), 'host:6379' or 'ray://host:10001'; default: "
                      "a local Ray runtime for this run.")]
RetriesOpt = Annotated[int, typer.Option("--max-retries", min=0, help="Reruns of a shard whose worker died.")]
OVERWRITE_HELP = "Replace an existing fakevision output in --out (a folder fakevision did not make is never deleted)."


@app.command()
@_friendly
def make(
    recipe: Annotated[str | None, typer.Argument(
        help="Recipe YAML file or built-in name (default: 'default'; see 'fakevision recipes'). A built-in name wins "
             "over a folder of that name, so 'make eyes --out eyes' can be rerun; write ./eyes for a file.")] = None,
    out: Annotated[str, typer.Option("--out", "-o", help="Output folder or storage URL (s3://bucket/prefix, ...).")]
    = "fakevision-out",
    workers: WorkersOpt = None,
    seed: Annotated[int | None, typer.Option("--seed", "-s", min=0, help="Override the recipe's root seed.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help=OVERWRITE_HELP)] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    engine: EngineOpt = "local",
    address: AddressOpt = None,
    max_retries: RetriesOpt = 3,
) -> None:
    """Make a data set from a recipe (no recipe: the embedded default, which needs no input data).

    Rerun the same command after an interruption to resume; rerunning a finished run does nothing."""
    from fakevision.cli_support import EngineArgs, run_make

    run_make(recipe or "default", out, seed, overwrite, quiet, EngineArgs(engine, workers, address, max_retries))


@app.command()
@_friendly
def augment(
    input: Annotated[str, typer.Argument(help="Data set to augment: a folder of images (flat or one subfolder per "
                                              "class), a COCO .json, a labels .csv, a folder of .pts landmarks, "
                                              "images/ + masks/, or a fakevision output folder; a COCO .json or an "
                                              "output may also be a storage URL (s3://bucket/...).")],
    out: Annotated[str, typer.Option("--out", "-o", help="Output folder or storage URL (s3://bucket/prefix, ...).")],
    preset: Annotated[str | None, typer.Option(
        help="Augmentation preset (iris-phone, camera, face, detection, classification).")] = None,
    recipe: Annotated[Path | None, typer.Option(help="YAML with an 'ops' list instead of a preset.")] = None,
    per_class: Annotated[int | None, typer.Option("--per-class", min=1, help="Make N samples per class.")] = None,
    count: Annotated[int | None, typer.Option(min=1, help="Total samples (default: one per input).")] = None,
    input_format: Annotated[str, typer.Option("--format", help="Input format: auto (detect), folder, coco, csv, pts, "
                                                               "mask_pairs, labelme, dlib or fakevision.")] = "auto",
    label_column: Annotated[str | None, typer.Option("--label-column", help="Label column of a CSV input.")] = None,
    input_options: Annotated[list[str] | None, typer.Option(
        "--input-option", help="Any other reader option as KEY=VALUE, as in a recipe's input: (repeatable), e.g. "
                               "path_column=file or box_tolerance=2.")] = None,
    workers: WorkersOpt = None,
    seed: Annotated[int, typer.Option("--seed", "-s", min=0, help="Root seed of the augmentation.")] = 0,
    overwrite: Annotated[bool, typer.Option("--overwrite", help=OVERWRITE_HELP)] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    engine: EngineOpt = "local",
    address: AddressOpt = None,
    max_retries: RetriesOpt = 3,
) -> None:
    """Augment a real data set with a preset or an ops list; every annotation moves with the pixels."""
    from fakevision.cli_support import EngineArgs, run_augment

    run_augment(input, out, preset, recipe, per_class, count, input_format, seed, overwrite, quiet, label_column,
                EngineArgs(engine, workers, address, max_retries), input_options)


@app.command()
@_friendly
def inspect(
    out: Annotated[str, typer.Argument(help="An output folder (or storage URL, s3://...) made by fakevision.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Counts per class and source, annotation statistics, and validation of an output folder."""
    from fakevision.cli_support import run_inspect

    ok = run_inspect(out, as_json)
    if not ok:
        raise typer.Exit(1)


@app.command()
@_friendly
def report(
    out: Annotated[str, typer.Argument(help="An output made by fakevision: a folder or a storage URL (s3://bucket/"
                                            "prefix, gs://..., memory://..., file://...), any layout make writes.")],
    html: Annotated[str | None, typer.Option(
        "--html", help="Where to write the report: a local path or a URL (default OUT/report.html, also when OUT is "
                       "a URL: written into that storage in one atomic upload).")] = None,
    samples: Annotated[int, typer.Option(min=0, help="Samples in the grid, shared out over the sources (0 = all; "
                                                     "24 a page, pictures load page by page).")] = 96,
    reference: Annotated[str | None, typer.Option(
        "--reference", help="A real data set (any format augment reads: a folder of images, COCO, CSV, .pts, the MMU "
                            "iris .tar.xz, ...; a COCO .json or an output also from a storage URL) shown beside the "
                            "output's samples; rendered eyes also get iris statistics of both.")] = None,
    reference_samples: Annotated[int, typer.Option(
        "--reference-samples", min=1, max=200, help="Fake and real samples each in the comparison.")] = 6,
    results: Annotated[list[str] | None, typer.Option(
        "--results", help="A folder (or storage URL) of evaluation results (fakevision evaluate --out DIR, "
                          "results/faces_table, ...) to include; repeatable. The output itself is always searched.")]
    = None,
) -> None:
    """Write one self-contained HTML report: samples with switchable annotation layers and zoom, counts, parameter
    histograms, annotation statistics, evaluation results, provenance. OUT may be in object storage (read through
    the same storage layer make writes with); the report's location is printed."""
    from fakevision.report import write_report

    path = write_report(out, html, samples, reference=reference, reference_samples=reference_samples,
                        results=list(results or []))
    typer.echo(str(path))


@app.command()
@_friendly
def doctor(
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Where you will write outputs (checks its free "
                                                                  "space and that it is writable; default: here).")]
    = None,
    egl: Annotated[bool, typer.Option("--egl/--no-egl", help="Try to create an EGL context for the optional "
                                                             "pyrender renderer (a few seconds).")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Check this machine: torch build and threads, renderers, EGL, dlib and its model, extras, Chromium for the
    report test, disk space; prints the fix for each problem and exits 1 when something required is missing."""
    from fakevision.cli_support import run_doctor

    if not run_doctor(out, egl, as_json):
        raise typer.Exit(1)


@app.command()
@_friendly
def recipes() -> None:
    """List the built-in recipes."""
    from fakevision.engine.recipe import builtin_recipes

    for name, desc in sorted(builtin_recipes().items()):
        typer.echo(f"{name:16s} {desc}")


DeviceOpt = Annotated[str, typer.Option("--device", help="cpu or cuda.")]

eval_app = typer.Typer(help="Measure whether fake data helped: downstream accuracy, FID/KID, memorisation.",
                       no_args_is_help=True)
app.add_typer(eval_app, name="evaluate")


def _floats(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise typer.BadParameter(f"expected comma-separated numbers, got {text!r}") from None


def _ratios(text: str) -> list[float]:
    from fakevision.evaluate.protocol import parse_ratio

    try:
        return [parse_ratio(x) for x in text.split(",") if x.strip()]
    except ValueError as e:
        raise typer.BadParameter(str(e)) from None


@eval_app.command("downstream")
@_friendly
def evaluate_downstream(
    real: Annotated[Path, typer.Argument(help="The real set: a labels.csv (classification), a landmark set (a folder "
                                              "with .pts files such as faces_68pt, a COCO keypoints file, a face "
                                              "bundle), a mask set (images/ + masks/ folder, a tar archive such as "
                                              "the MMU iris .tar.xz, COCO with masks) or a fakevision output.")],
    fake: Annotated[Path, typer.Argument(help="The fake set: any of the above, a fakevision output folder (make, "
                                              "augment, smart), or a recipe (YAML file or built-in name) that is "
                                              "made first into OUT/fake-data.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for protocol.json/.md/.png.")],
    task: Annotated[str, typer.Option("--task", help="classification, landmarks or segmentation.")] = "classification",
    label_column: Annotated[str | None, typer.Option("--label-column", help="Label column of the real CSV "
                                                                             "(classification).")] = None,
    fake_label_column: Annotated[str, typer.Option("--fake-label-column", help="Label column of a fake "
                                                                        "labels.csv.")] = "label",
    n_train: Annotated[int, typer.Option("--n-train", min=1, help="Classification: real training images per "
                                                                  "class.")] = 4,
    ratios: Annotated[str, typer.Option(help="fake:real ratios, comma-separated; 'inf' = fake only.")] = "0,0.5,1,2,4",
    real_n: Annotated[int | None, typer.Option("--real-n", min=1, help="Keep N real training images per seed (the "
                                                                       "few-labels regime).")] = None,
    fake_n: Annotated[int | None, typer.Option("--fake-n", min=1, help="Fake images of a fake-only (inf) run "
                                                                       "(default: all).")] = None,
    seeds: Annotated[int, typer.Option(min=1, help="Training seeds per ratio.")] = 5,
    epochs: Annotated[int, typer.Option(min=1, help="Classification: training epochs per run (the best epoch on "
                                                    "validation is kept).")] = 30,
    steps: Annotated[int | None, typer.Option(min=1, help="Landmarks/segmentation: training steps per run.")] = None,
    size: Annotated[str | None, typer.Option(help="Image size N or WxH (default: classification 32, landmarks 64, "
                                                  "segmentation 128x96).")] = None,
    augment: Annotated[str | None, typer.Option(help="Landmarks/segmentation: an augmentation preset applied while "
                                                     "training (e.g. face).")] = None,
    head: Annotated[str | None, typer.Option(help="Landmarks: heatmap (default) or regression.")] = None,
    category: Annotated[str | None, typer.Option(help="Segmentation: class name of a mask-pair set's masks (e.g. "
                                                      "iris).")] = None,
    rgb: Annotated[bool, typer.Option("--rgb", help="Train on colour images (default grey).")] = False,
    device: DeviceOpt = "cpu",
    engine: EngineOpt = "local",
    address: AddressOpt = None,
    workers: WorkersOpt = None,
) -> None:
    """Train the same model on real only and real + fake at several ratios over seeds: mean ± std, Δ with 95% CI.

    Classification (accuracy), landmarks (NME, failure rate, AUC) or segmentation (IoU, Dice per class)."""
    from fakevision.evaluate.api import evaluate_downstream as run

    if task not in ("classification", "landmarks", "segmentation"):
        raise typer.BadParameter(f"--task must be classification, landmarks or segmentation, got {task!r}")
    train: dict[str, Any] = {}
    if task != "classification":
        train = {k: v for k, v in (("steps", steps), ("augment", augment), ("head", head)) if v is not None}
    res = run(real, label_column, fake, out, fake_label_column=fake_label_column, n_train=n_train,
              ratios=_ratios(ratios), seeds=tuple(range(seeds)), epochs=epochs, device=device, size=size,
              grey=not rgb, task=task, real_n=real_n, fake_n=fake_n, category=category,
              log=lambda line: err_console.print(line, highlight=False),
              make_options={"engine": engine, "address": address, "workers": workers}, **train)
    typer.echo(str(Path(out) / "protocol.md") if res else "")


@eval_app.command("table")
@_friendly
def evaluate_table(
    table: Annotated[str, typer.Argument(help="A table file (YAML) or a built-in table: landmarks, iris.")],
    data_root: Annotated[Path, typer.Option("--data-root", help="Folder holding the data sets.")] = Path("../shared/data"),
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for task_table.json/.md/.png, runs.jsonl (resumable) "
                                                         "and the fake sets made for it.")] = Path("task-table"),
    workers: Annotated[int, typer.Option("--workers", "-w", min=1, help="Runs in parallel (processes).")] = 1,
    threads: Annotated[int, typer.Option("--threads", min=0, help="Torch threads per run (0: torch's default).")] = 1,
    seeds: Annotated[int | None, typer.Option(min=1, help="Override the table's number of seeds.")] = None,
    rows: Annotated[str | None, typer.Option(help="Only these rows (semicolon-separated names).")] = None,
    real_n: Annotated[str | None, typer.Option("--real-n", help="Only these columns, in this order (comma-separated, "
                                                                "e.g. 50,all); fake-only rows run with the first.")]
    = None,
    report_only: Annotated[bool, typer.Option("--report-only", help="Write task_table.json/.md/.png from the runs "
                                                                    "on file; run nothing.")] = False,
    device: DeviceOpt = "cpu",
) -> None:
    """A task table: conditions (real only, augmentation, controls, each fake source, fake only) x real training
    set sizes, >= 5 seeds, mean ± std and Δ vs real only with 95% CIs. Reruns resume finished runs."""
    from fakevision.evaluate.table import run_table

    run_table(table, data_root, out, workers=workers, seeds=seeds, threads=threads, device=device,
              rows=[r.strip() for r in rows.split(";") if r.strip()] if rows else None,
              real_n=[c.strip() for c in real_n.split(",") if c.strip()] if real_n else None, report_only=report_only,
              log=lambda line: err_console.print(line, highlight=False))
    typer.echo(str(Path(out) / "task_table.md"))


@eval_app.command("distances")
@_friendly
def evaluate_distances(
    real: Annotated[Path, typer.Argument(help="labels.csv (or image list) of the real set.")],
    fake: Annotated[Path, typer.Argument(help="The fake set: a labels.csv, a fakevision output folder, or a recipe "
                                              "(YAML file or built-in name) made first into OUT/fake-data.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for distances.json.")],
    extractor: Annotated[str, typer.Option(help="'randconv-v1' (no download) or 'inception:/path/to/pt_inception.pth'.")]
    = "randconv-v1",
    device: DeviceOpt = "cpu",
    identity: Annotated[bool, typer.Option("--identity", help="Faces: also the identity-leak check (dlib's "
                                                               "face-recognition embeddings; the faces extra).")]
    = False,
    engine: EngineOpt = "local",
    address: AddressOpt = None,
    workers: WorkersOpt = None,
) -> None:
    """FID and KID of fake vs real, and the memorisation check (near-copies of training samples flagged); with
    --identity, whether generated faces are training *people* (calibrated flag rate, identity variety)."""
    from fakevision.evaluate.api import evaluate_distances as run

    res = run(real, fake, out, extractor=extractor, device=device, identity=identity,
              make_options={"engine": engine, "address": address, "workers": workers})
    typer.echo(" ".join(f"{k}={v}" for k, v in sorted(res.items()) if isinstance(v, (int, float, str))))


@eval_app.command("smart-table")
@_friendly
def evaluate_smart_table(
    dataset: Annotated[str, typer.Argument(help="utkface_gender or orl_identity.")],
    data_root: Annotated[Path, typer.Option("--data-root", help="Folder holding the data sets.")] = Path("../shared/data"),
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for table.json/.md and runs.jsonl (resumable).")]
    = Path("smart-table"),
    conditions: Annotated[str | None, typer.Option(help="Semicolon-separated conditions, e.g. 'none;smart:nets=1,k=2' "
                                                  "(default: the full table).")]
    = None,
    seeds: Annotated[int, typer.Option(min=1, help="Training seeds per condition.")] = 5,
    epochs: Annotated[int, typer.Option(min=1, help="Training epochs per run.")] = 40,
    device: DeviceOpt = "cpu",
) -> None:
    """The seed's Smart Augmentation table on a real set: none / classical / RandAugment / TrivialAugment / blend /
    mixup / SA variants, each mean ± std over seeds with Δ vs none and its 95% CI. Reruns resume finished runs."""
    from fakevision.evaluate.smart_table import DEFAULT_CONDITIONS, run_table

    conds = [c.strip() for c in conditions.split(";") if c.strip()] if conditions else list(DEFAULT_CONDITIONS)
    run_table(dataset, data_root, conds, tuple(range(seeds)), epochs=epochs, device=device, out_dir=out,
              log=lambda line: err_console.print(line, highlight=False))
    typer.echo(str(Path(out) / "table.md"))


@app.command()
@_friendly
def smart(
    labels: Annotated[Path, typer.Argument(help="labels.csv of the real set (path column + label column).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for network A, its outputs and a grid.")],
    label_column: Annotated[str, typer.Option("--label-column", help="Label column of the CSV (the class A keeps).")],
    k: Annotated[int, typer.Option(min=2, max=4, help="Same-class images A merges.")] = 2,
    per_class: Annotated[bool, typer.Option("--per-class", help="One network A per class.")] = False,
    epochs: Annotated[int, typer.Option(min=1, help="Training epochs of A and B.")] = 40,
    count: Annotated[int, typer.Option(min=0, help="A-generated samples to write (with parents).")] = 0,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the training run.")] = 0,
    device: DeviceOpt = "cpu",
) -> None:
    """Train Smart Augmentation (network A merges same-class samples to help classifier B) and write A's outputs."""
    from fakevision.smart.api import train_smart

    res = train_smart(labels, label_column, out, k=k, per_class=per_class, epochs=epochs, count=count, seed=seed,
                      device=device)
    typer.echo(" ".join(f"{k_}={v}" for k_, v in sorted(res.items()) if isinstance(v, (int, float, str))))


class _TrainGroup(typer.core.TyperGroup):
    """``fakevision train CONFIG`` runs an experiment config: a name that is not a sub-command is a config."""

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        if args and not args[0].startswith("-") and self.get_command(ctx, args[0]) is None:
            return "run", self.get_command(ctx, "run"), args
        return super().resolve_command(ctx, args)


#: The built-in experiment configs (``fakevision/engine/experiments``), named in help texts without importing the
#: engine; tests/engine/test_experiment.py keeps the list equal to the folder.
BUILTIN_CONFIGS = ("faces64", "conditional64", "judges64", "appearance64", "appearance_yaw64", "appearance_began64",
                   "appearance128")
train_app = typer.Typer(cls=_TrainGroup, no_args_is_help=True,
                        help="Train models: 'fakevision train CONFIG --out OUT' runs an experiment config (a YAML file "
                             f"or a built-in: {', '.join(BUILTIN_CONFIGS)}); the sub-commands train one model each.")
app.add_typer(train_app, name="train")


@train_app.command("run")
@_friendly
def train_run(
    config: Annotated[str, typer.Argument(help="Experiment YAML file, or a built-in name "
                                               f"({', '.join(BUILTIN_CONFIGS)}).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Experiment folder: one sub-folder per stage.")],
    device: DeviceOpt = "cpu",
    data_root: Annotated[Path | None, typer.Option(
        "--data-root", help="Where 'data:<folder>' inputs live (default $FAKEVISION_SHARED_DATA or ../shared/data).")
    ] = None,
    only: Annotated[list[str] | None, typer.Option("--only", help="Run only this stage (repeatable).")] = None,
    seconds: Annotated[float | None, typer.Option(
        "--seconds", min=1, help="Wall-time budget of this call for the GAN stages: a stage cut short keeps its "
                                 "checkpoint; rerun to continue.")] = None,
) -> None:
    """Run an experiment config stage by stage (same as 'fakevision train CONFIG'); rerun to resume."""
    from fakevision.engine.experiment import run_experiment

    res = run_experiment(config, out, device=device, only=only, data_root=data_root, seconds=seconds,
                         log=lambda m: err_console.print(m, highlight=False))
    typer.echo(" ".join(f"{k}={v['output']}" + (f" (unfinished: step {v['step']} of {v['steps']})"
                                                   if v.get("unfinished") else "") for k, v in res.items()))

DataOpt = Annotated[str, typer.Option("--data", help="Faces: a faces_68pt-style folder, UTKFace folder, or tensor file.")]
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Run folder (checkpoints, logs, sample grids, weights).")]
SizeOpt = Annotated[int, typer.Option("--size", help="Image size (64 or 128).")]
StepsOpt = Annotated[int | None, typer.Option("--steps", min=1, help="Train until this many steps in total.")]
SecondsOpt = Annotated[float | None, typer.Option("--seconds", min=1, help="Or train for this many seconds.")]


def _gan_result(result: dict[str, Any]) -> None:
    typer.echo(" ".join(f"{k}={v}" for k, v in sorted(result.items())))


@train_app.command("began")
@_friendly
def train_began(data: DataOpt, out: OutOpt, size: SizeOpt = 64, steps: StepsOpt = None, seconds: SecondsOpt = None,
                device: DeviceOpt = "cpu",
                fresh: Annotated[bool, typer.Option("--fresh", help="Ignore an existing checkpoint.")] = False) -> None:
    """Train BEGAN (resumes from OUT/checkpoint.pt); logs L(x), L(G(z)), k_t and the convergence measure M."""
    from fakevision.gan.api import train_began as run

    _gan_result(run(data, out, size=size, steps=steps, seconds=seconds, resume=not fresh, device=device))


@train_app.command("appearance")
@_friendly
def train_appearance(data: Annotated[str, typer.Option("--data", help="Face bundle with landmarks (fakevision "
                                                                      "faces prepare).")],
                     out: OutOpt, size: SizeOpt = 64, steps: StepsOpt = None, seconds: SecondsOpt = None,
                     device: DeviceOpt = "cpu",
                     n_gen: Annotated[int, typer.Option("--n-gen", min=4, help="Generator width.")] = 32,
                     n_enc: Annotated[int, typer.Option("--n-enc", min=4, help="Discriminator encoder width "
                                                                         "(appearance_began64: 16).")] = 32,
                     batch: Annotated[int, typer.Option("--batch", min=2, help="Faces per training step.")] = 16,
                     seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of the training run.")] = 0,
                     threads: Annotated[int, typer.Option("--threads", min=1, help="torch CPU threads.")] = 1,
                     decoder: Annotated[str, typer.Option("--decoder", help="began (GAN, trained), pca (texture "
                                                                            "model, fitted in seconds) or pca_yaw (one "
                                                                            "per yaw bin).")] = "began",
                     modes: Annotated[int, typer.Option("--modes", min=1, help="PCA components (--decoder pca).")]
                     = 64,
                     people: Annotated[float, typer.Option("--people", min=0.0, max=1.0, help="Train on this "
                                                           "fraction of the bundle's people (by a hash of the "
                                                           "identity), so the identity check can embed them all.")]
                     = 1.0) -> None:
    """Train the shape-appearance generator on the bundle's training faces warped onto the mean shape: BEGAN
    (resumes from OUT/checkpoint.pt) or a PCA texture model; writes OUT/appearance.safetensors for the
    appearance_faces source."""
    import torch

    from fakevision.faces.appearance import train_appearance as run

    torch.set_num_threads(threads)
    if decoder in ("pca", "pca_yaw"):
        _gan_result(run(data, out, size=size, device=device, seed=seed, decoder=decoder, modes=modes, people=people))
        return
    if steps is None and seconds is None:
        raise typer.BadParameter("give --steps or --seconds")
    _gan_result(run(data, out, steps=steps, seconds=seconds, size=size, device=device, seed=seed, n_gen=n_gen,
                    n_enc=n_enc, batch=batch, people=people))


@train_app.command("inverse")
@_friendly
def train_inverse(generator: Annotated[Path, typer.Option("--generator", help="generator.safetensors")],
                  data: DataOpt, out: OutOpt, steps: StepsOpt = None, seconds: SecondsOpt = None,
                  device: DeviceOpt = "cpu") -> None:
    """Train the inverse generator E (image -> z) with G frozen."""
    from fakevision.gan.api import train_inverse_generator as run

    _gan_result(run(generator, data, out, steps=steps, seconds=seconds, device=device))


@train_app.command("landmarks")
@_friendly
def train_landmarks(generator: Annotated[Path, typer.Option("--generator", help="generator.safetensors")],
                    inverse: Annotated[Path, typer.Option("--inverse", help="inverse.safetensors")],
                    data: DataOpt, out: OutOpt, device: DeviceOpt = "cpu",
                    refine_steps: Annotated[int, typer.Option(
                        "--refine-steps", min=0, help="Refine E's codes by hybrid inversion first (e.g. 300).")] = 0,
                    ) -> None:
    """Fit the landmark generator L (z -> 68 landmarks) on (E(x), landmarks(x)); writes faces.safetensors."""
    from fakevision.gan.api import train_landmark_generator as run

    _gan_result(run(generator, inverse, data, out, device=device, refine_steps=refine_steps))


@train_app.command("fast")
@_friendly
def train_fast(weights: Annotated[Path, typer.Option("--weights", help="faces.safetensors (G, E, L)")],
               out: OutOpt, steps: StepsOpt = None, seconds: SecondsOpt = None, device: DeviceOpt = "cpu",
               n_gen: Annotated[int, typer.Option("--n-gen", min=4, help="Width of the fast generator.")] = 32,
               batch: Annotated[int, typer.Option("--batch", min=1, help="Random z per step.")] = 256) -> None:
    """Distil a fast generator F from the bundle's G (same faces, same landmarks); writes OUT/faces.safetensors.

    Resumes from OUT/distill/checkpoint.pt: rerun the same command after an interruption."""
    from fakevision.gan.api import train_fast_generator as run

    _gan_result(run(weights, out, steps=steps, seconds=seconds, n_gen=n_gen, batch=batch, device=device))


@train_app.command("vacgan")
@_friendly
def train_vacgan(data: DataOpt, out: OutOpt, size: SizeOpt = 64, steps: StepsOpt = None,
                 seconds: SecondsOpt = None, device: DeviceOpt = "cpu") -> None:
    """Train the gender-conditional VAC+GAN (auxiliary classifier beside the discriminator)."""
    from fakevision.gan.api import train_vacgan as run

    _gan_result(run(data, out, size=size, steps=steps, seconds=seconds, device=device))


@train_app.command("vargan")
@_friendly
def train_vargan(data: DataOpt, out: OutOpt, size: SizeOpt = 64, steps: StepsOpt = None,
                 seconds: SecondsOpt = None, device: DeviceOpt = "cpu") -> None:
    """Train VAR+GAN conditioned on head yaw (auxiliary regressor)."""
    from fakevision.gan.api import train_vargan as run

    _gan_result(run(data, out, size=size, steps=steps, seconds=seconds, device=device))


faces_app = typer.Typer(help="Face data for the GANs: detect, crop, and annotate 68 landmarks.", no_args_is_help=True)
app.add_typer(faces_app, name="faces")


@faces_app.command("prepare")
@_friendly
def faces_prepare(
    input: Annotated[Path, typer.Argument(help="Folder of photos (searched recursively; 300-W .pts beside them are "
                                               "used as ground truth).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Bundle to write (.safetensors) for 'train --data'.")],
    size: Annotated[int, typer.Option("--size", min=8, help="Crop side in pixels (64 or 128 for the GANs).")] = 64,
    detect: Annotated[str, typer.Option("--detect", help="haar (OpenCV), dlib (HOG), or landmarks (crop from the "
                                                         "ground truth, as faces_68pt).")] = "haar",
    landmarks: Annotated[str, typer.Option("--landmarks", help="auto (ground truth where present, else dlib), "
                                                               "ground-truth, dlib, or none.")] = "auto",
    skip_unreadable: Annotated[bool, typer.Option("--skip-unreadable", help="List unreadable files in the report "
                                                                            "instead of stopping.")] = False,
    dlib_model: Annotated[Path | None, typer.Option("--dlib-model", help="shape_predictor_68_face_landmarks.dat "
                                                                         "(default: face-recognition-models').")]
    = None,
    pad: Annotated[float, typer.Option("--pad", min=0.0, max=1.0, help="Detect on the image with a replicated "
                                                                       "border of this fraction of its side "
                                                                       "(0.25 for tight aligned crops).")] = 0.0,
    chunk: Annotated[int, typer.Option("--chunk", min=1, help="Images per resumable chunk (OUT.parts/).")] = 1000,
    holdout: Annotated[float, typer.Option("--holdout", min=0.0, max=0.99, help="Fraction held out of training "
                                                                                "(files, or people with "
                                                                                "--split-by).")] = 0.0,
    split_by: Annotated[str | None, typer.Option("--split-by", help="labels.csv column of identities: hold out "
                                                                    "whole people (and one photo of some "
                                                                    "training people, split 2).")] = None,
) -> None:
    """Detect the face in every image, crop it square to SIZE, add 68 landmarks, and write one bundle
    (+ OUT.report.json listing each skipped image and why). Resumes an interrupted run chunk by chunk; carries
    labels.csv's integer columns; rerun the same command to continue."""
    from fakevision.gan.faceprep import prepare_bundle

    res = prepare_bundle(input, out, size, detect, landmarks, skip_unreadable, dlib_model, pad=pad, chunk=chunk,
                         holdout=holdout, split_by=split_by, log=lambda m: err_console.print(m, highlight=False, soft_wrap=True))
    rep = res.report()
    for key in ("no_face", "unreadable", "no_landmarks", "landmarks_failed"):
        if rep[key]:
            shown = ", ".join(rep[f"{key}_files"][:5]) + (", ..." if rep[key] > 5 else "")
            err_console.print(f"skipped {rep[key]} ({key.replace('_', ' ')}): {shown}", highlight=False)
    typer.echo(" ".join(f"{k}={rep[k]}" for k in ("images", "faces", "no_face", "landmarks_failed", "unreadable",
                                                  "held_out", "landmarks", "detector")) + f" out={out}")


def main() -> None:  # pragma: no cover - console entry point
    """The ``fakevision`` console script: the typer app with readable help (``cli_support.polish_help``)."""
    from fakevision.cli_support import polish_help

    command = polish_help(typer.main.get_command(app))
    sys.exit(command.main(prog_name="fakevision"))


if __name__ == "__main__":  # pragma: no cover
    main()
