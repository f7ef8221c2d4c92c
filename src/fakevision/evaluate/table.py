"""A task table: one real set, several training-data conditions (rows) x few-label regimes (columns), >= 5 seeds
each -- the table a user reads to decide which fake data to make. One resumable command per table:

    fakevision evaluate table landmarks --data-root ../shared/data --out results/landmark_table --workers 2

A table is a YAML file (the built-in ones live in ``fakevision/evaluate/tables/``: ``landmarks``, ``iris``), so a
result re-runs from its config, and adding a condition is one line under ``rows:``::

    task: landmarks                       # classification | landmarks | segmentation
    real: {path: faces_68pt, test_group: helen_test}   # under --data-root; options of the task's split/loader
    size: 64
    seeds: 5
    real_n: [50, 200, all]               # the columns: real training images per seed
    train: {steps: 1000, head: heatmap}   # the task's training options (``get_task``)
    fakes:                                # fake sets, made or read once, by name
      gan: {recipe: gan-faces, count: 4000}                       # a recipe (built-in, file, or inline) made first
      utk_dlib: {prepare: {input: utkface_aligned_14k/images, count: 4000}}   # faces pseudo-labelled by dlib
      mine: {path: /data/my_faces}                                # any readable set
    rows:
      - {name: real only}
      - {name: + face augmentation, augment: face}
      - {name: + GAN faces, fake: {gan: 2000}}
      - {name: GAN faces only, fake: {gan: 2000}, real: false}
      - {name: + augmented copies of the real images, fake: {augmented: 20x}}   # 20 per real training image

Every run is the protocol's own (``protocol.protocol_run``: the same seeds, real subsets, fake draws, leakage guard
and best-on-real-validation selection as ``evaluate downstream``); ``${data}`` in a path or inline recipe is the
data root. Finished runs are appended to ``OUT/runs.jsonl`` with a hash of everything that defines them, so a rerun
skips them (and reruns a row whose definition changed); ``--workers`` runs that many processes at once.
Outputs: ``task_table.json`` (all numbers), ``task_table.md``, ``task_table.png`` (primary metric vs N real).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from fakevision.core.errors import InputError, OutputError, RecipeError
from fakevision.evaluate.protocol import FakeGuard, protocol_run, real_subset
from fakevision.evaluate.stats import difference_ci, fmt_rel, relative_difference_ci, summarise
from fakevision.evaluate.task import Metric, get_task
from fakevision.io.atomic import atomic_write_bytes, atomic_write_json, atomic_write_text, dumps_json
from fakevision.io.readers.base import Reader, make_sample, rel_posix

ALL = "all"


class FakeSpec(BaseModel):
    """A fake set of a table: exactly one of ``path`` (a data set), ``recipe`` (built-in name, YAML file relative to
    the table file, or an inline recipe; ``count`` and ``set`` (source keys) override a one-source recipe's count and
    settings, e.g. a smaller render size; with ``from_real`` the recipe is made for every run from that run's own
    real training images -- ``${real}`` in it is a face bundle of them -- so a source that needs real faces, e.g.
    morphs, never sees a label the run may not use) or ``prepare`` (faces
    pseudo-labelled by ``fakevision faces prepare``: ``input`` folder, ``count`` images drawn with ``seed``,
    ``detect``, ``landmarks``, ``size``). ``limit`` reads only the first ``limit`` samples."""

    model_config = ConfigDict(extra="forbid")

    path: str | None = None
    recipe: str | dict[str, Any] | None = None
    count: int | None = Field(None, ge=1)
    set: dict[str, Any] = Field(default_factory=dict)
    prepare: dict[str, Any] | None = None
    limit: int | None = Field(None, ge=1)
    description: str = ""
    from_real: bool = False

    @model_validator(mode="after")
    def _one_kind(self) -> FakeSpec:
        kinds = [k for k in ("path", "recipe", "prepare") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(f"give exactly one of path, recipe, prepare (got {kinds or 'none'})")
        if self.from_real and self.recipe is None:
            raise ValueError("from_real needs a recipe (with ${real} where the real faces go)")
        return self


class RowSpec(BaseModel):
    """One condition: ``fake`` maps fake-set names to how many of their images a run adds -- a count (``2000``) or
    a multiple of the run's real images (``"20x"``: for sets made from the real images, e.g. augmented copies);
    ``augment`` applied while training: a preset name, or a list of op configs with ``{preset: name}`` items
    (``fit.augment_op``: e.g. ``[{preset: face}, {op: LandmarkWarp, p: 0.5}]``); ``real: false`` for fake only (no real training image; run once
    per seed, whatever the column; counts only)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    fake: dict[str, int | str] = Field(default_factory=dict)
    augment: str | list[Any] | None = None
    real: bool = True

    @field_validator("augment")
    @classmethod
    def _augment_builds(cls, v: str | list[Any] | None) -> str | list[Any] | None:
        if v is not None:
            from fakevision.evaluate.fit import augment_op

            augment_op(v)  # an unknown preset or a bad op config fails when the table is read
        return v

    @field_validator("fake")
    @classmethod
    def _counts(cls, v: dict[str, int | str]) -> dict[str, int | str]:
        for k, n in v.items():
            if isinstance(n, str):
                t = n.strip().lower()
                try:
                    ok = t.endswith("x") and float(t[:-1]) > 0
                except ValueError:
                    ok = False
                if not ok:
                    raise ValueError(f"fake {k}: a count or a multiple such as '20x', got {n!r}")
            elif n < 1:
                raise ValueError(f"fake {k}: count must be >= 1, got {n}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> RowSpec:
        if not self.real and not self.fake:
            raise ValueError(f"row {self.name!r}: real: false needs a fake set")
        if not self.real and any(isinstance(n, str) for n in self.fake.values()):
            raise ValueError(f"row {self.name!r}: a fake-only row takes counts, not multiples of the real images")
        return self

    @property
    def fakes(self) -> list[str]:
        return list(self.fake)

    def count(self, name: str, n_real: int) -> int:
        """Fake images of ``name`` for a run with ``n_real`` real images."""
        n = self.fake[name]
        return int(round(float(n.strip().lower()[:-1]) * n_real)) if isinstance(n, str) else int(n)


def _all_column() -> list[int | Literal["all"]]:
    return ["all"]


class TableSpec(BaseModel):
    """A table file (module docstring)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    task: Literal["classification", "landmarks", "segmentation"]
    real: dict[str, Any]
    size: int | str | None = None
    grey: bool = True
    seeds: int = Field(5, ge=1)
    split_seed: int = Field(0, ge=0)
    real_n: list[int | Literal["all"]] = Field(default_factory=lambda: _all_column(), min_length=1)
    train: dict[str, Any] = Field(default_factory=dict)
    fakes: dict[str, FakeSpec] = Field(default_factory=dict)
    rows: list[RowSpec] = Field(min_length=1)

    @field_validator("real")
    @classmethod
    def _has_path(cls, v: dict[str, Any]) -> dict[str, Any]:
        if "path" not in v:
            raise ValueError("real: needs a path")
        return v

    @model_validator(mode="after")
    def _rows_known(self) -> TableSpec:
        names = [r.name for r in self.rows]
        if len(set(names)) != len(names):
            raise ValueError("rows: names must be unique")
        for r in self.rows:
            for f in r.fakes:
                if f not in self.fakes:
                    raise ValueError(f"row {r.name!r}: unknown fake set {f!r} (fakes: {sorted(self.fakes)})")
        return self


def builtin_tables() -> dict[str, str]:
    """The tables shipped in ``fakevision/evaluate/tables/`` with their one-line descriptions."""
    out = {}
    for res in resources.files("fakevision.evaluate.tables").iterdir():
        if res.name.endswith(".yaml"):
            data = yaml.safe_load(res.read_text(encoding="utf-8")) or {}
            out[res.name[:-5]] = str(data.get("description", "")).strip().split("\n")[0]
    return out


def load_table(name_or_path: str | Path) -> tuple[TableSpec, Path]:
    """A table file, or a built-in table by name; returns (spec, folder its relative paths start from)."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists():
        try:
            text, base, origin = p.read_text(encoding="utf-8"), p.resolve().parent, str(p)
        except OSError as e:
            raise RecipeError(f"{p}: cannot read table file ({e.strerror or e})") from None
    else:
        if str(name_or_path) not in builtin_tables():
            raise RecipeError(f"{name_or_path}: no such table file or built-in table (built-ins: "
                              f"{', '.join(sorted(builtin_tables()))})")
        res = resources.files("fakevision.evaluate.tables").joinpath(f"{name_or_path}.yaml")
        text, base, origin = res.read_text(encoding="utf-8"), Path.cwd(), f"builtin:{name_or_path}"
    try:
        spec = TableSpec.model_validate(yaml.safe_load(text))
    except yaml.YAMLError:
        raise RecipeError(f"{origin}: not valid YAML") from None
    except ValidationError as e:
        errs = "; ".join(f"{'.'.join(map(str, x['loc']))}: {x['msg']}" for x in e.errors())
        raise RecipeError(f"{origin}: {errs}") from None
    return spec, base


# -- fake sets --------------------------------------------------------------------------------------------------------

def _subst(value: Any, data_root: Path) -> Any:
    if isinstance(value, str):
        return value.replace("${data}", str(data_root))
    if isinstance(value, dict):
        return {k: _subst(v, data_root) for k, v in value.items()}
    if isinstance(value, list):
        return [_subst(v, data_root) for v in value]
    return value


def _portable(path: str | Path, data_root: Path, out: Path) -> str:
    """``path`` as the table's JSON records it: under the data root as ``${data_root}/...``, under the table's folder
    relative to it, else unchanged — so a published table holds no machine's absolute paths.

    >>> _portable("/d/faces_68pt", Path("/d"), Path("/o")), _portable("/o/fakes/eyes", Path("/d"), Path("/o"))
    ('${data_root}/faces_68pt', 'fakes/eyes')
    """
    p = Path(path)
    for root, prefix in ((out, ""), (data_root, "${data_root}/")):
        try:
            return prefix + p.resolve().relative_to(Path(root).resolve()).as_posix()
        except ValueError:
            continue
    return str(path)


def _resolve(path: str, data_root: Path, base: Path) -> Path:
    p = Path(_subst(path, data_root)).expanduser()
    if p.is_absolute():
        return p
    return data_root / p if (data_root / p).exists() else base / p


def fake_location(name: str, spec: FakeSpec, data_root: Path, base: Path, out: Path) -> Path:
    """Where the files of fake set ``name`` are or will be (``make_fake_set`` makes them there), without making
    anything; a per-run set (``from_real``) names its folder of per-run sets."""
    if spec.path is not None:
        return _resolve(spec.path, data_root, base)
    if spec.prepare is not None:
        return out / "fakes" / f"{name}.safetensors"
    return out / "fakes" / name


def make_fake_set(name: str, spec: FakeSpec, data_root: Path, base: Path, out: Path,
                  log: Callable[[str], None], workers: int = 1) -> Path:
    """Where the files of fake set ``name`` are: a path as given; a recipe made (or resumed, or reused when
    finished) into ``out/fakes/<name>``; a ``prepare`` bundle written once to ``out/fakes/<name>.safetensors``."""
    if spec.path is not None:
        p = _resolve(spec.path, data_root, base)
        if not p.exists():
            raise InputError(f"fake set {name!r} not found", p)
        return p
    if spec.prepare is not None:
        return _prepare_bundle(name, spec.prepare, data_root, base, out, log)
    from fakevision.engine.recipe import Recipe
    from fakevision.engine.run import is_finished, make

    if isinstance(spec.recipe, dict):
        data = _subst(spec.recipe, data_root)
        if (spec.count is not None or spec.set) and len(data.get("sources") or []) == 1:
            data = {**data, "sources": [{**data["sources"][0], **_subst(spec.set, data_root),
                                         **({"count": spec.count} if spec.count is not None else {})}]}
        recipe = Recipe.from_dict(data, f"fake set {name}", base)
    else:
        p = Path(str(spec.recipe))
        recipe = Recipe.load(base / p if p.suffix in (".yaml", ".yml") and not p.is_absolute() else p)
    if spec.count is not None or spec.set:
        if len(recipe.sources) != 1:
            raise RecipeError(f"fake set {name!r}: count and set apply to a one-source recipe only")
        data = recipe.canonical()
        data["sources"][0].update(_subst(spec.set, data_root))
        if spec.count is not None:
            data["sources"][0]["count"] = spec.count
        recipe = Recipe.from_dict(data, recipe.origin, recipe.base_dir)
    target = out / "fakes" / name
    if is_finished(recipe, target):
        return target
    log(f"fake set {name}: making {recipe.total} samples into {target}")
    try:
        make(recipe, target, workers=workers)  # resumes an unfinished run of this recipe
    except OutputError as e:
        if "different recipe" not in str(e):
            raise
        # the table's own folder holds an older version of the set (the recipe or a source's defaults changed)
        log(f"fake set {name}: {target} holds another recipe's run; making it again")
        make(recipe, target, workers=workers, overwrite=True)
    return target


def _prepare_bundle(name: str, opts: dict[str, Any], data_root: Path, base: Path, out: Path,
                    log: Callable[[str], None]) -> Path:
    """``faces prepare`` over ``count`` images of ``input`` drawn with ``seed`` (all when no count), written once to
    ``out/fakes/<name>.safetensors`` (redone when the options change)."""
    from fakevision.gan.faceprep import prepare_faces, write_face_bundle
    from fakevision.io.readers.base import sorted_images

    allowed = {"input", "count", "seed", "detect", "landmarks", "size"}
    bad = sorted(set(opts) - allowed)
    if bad or "input" not in opts:
        raise RecipeError(f"fake set {name!r}: prepare needs input and takes {sorted(allowed)} (bad: {bad})")
    target = out / "fakes" / f"{name}.safetensors"
    stamp = hashlib.sha256(dumps_json(opts).encode()).hexdigest()[:16]
    stamp_file = target.with_name(target.name + ".spec")
    if target.exists() and stamp_file.exists() and stamp_file.read_text() == stamp:
        return target
    src = _resolve(str(opts["input"]), data_root, base)
    files = sorted_images(src) if src.is_dir() else []
    if not files:
        raise InputError("no images to prepare", src)
    if opts.get("count"):
        rng = np.random.default_rng(int(opts.get("seed", 0)))
        files = [files[i] for i in np.sort(rng.choice(len(files), min(int(opts["count"]), len(files)), False))]
    log(f"fake set {name}: detecting and landmarking {len(files)} faces of {src} (dlib; minutes)")
    res = prepare_faces(FileListReader(src, files), int(opts.get("size", 128)), str(opts.get("detect", "dlib")),
                        str(opts.get("landmarks", "dlib")), skip_unreadable=True)
    write_face_bundle(res, target)
    atomic_write_text(stamp_file, stamp)
    rep = res.report()
    log(f"fake set {name}: {rep['faces']} faces kept of {rep['images']} ({rep['no_face']} without a face)")
    return target


class FileListReader(Reader):
    """The images of a list of files under ``root`` as a ``Reader`` (what ``prepare_faces`` reads)."""

    format = "folder"

    def __init__(self, root: Path, files: list[Path]) -> None:
        super().__init__(root, "RGB")
        self._files = list(files)
        self._ids = [rel_posix(f, root) for f in self._files]

    def _load(self, i: int) -> Any:
        return make_sample(self._read_image(self._files[i]), self._files[i], self._provenance(self._ids[i]))


# -- decoded data, cached per table ------------------------------------------------------------------------------------

def _stamp(path: Path) -> list[Any]:
    """What says a data set changed: the path's size and modification time (a folder: its direct entries')."""
    try:
        items = [path] + (sorted(path.iterdir()) if path.is_dir() else [])
        return [[str(q), q.stat().st_size, q.stat().st_mtime_ns] for q in items]
    except OSError:
        return [str(path)]


def cached_task_data(out: Path, task: str, path: Path, size: tuple[int, int], grey: bool, label_column: str | None,
                     category: str | None, limit: int | None = None, log: Callable[[str], None] = print) -> Any:
    """``api.load_task_data`` decoded once per table: the arrays are kept in ``out/cache/<key>.pkl`` (key: the task,
    the path and its stamp, size, channels, options), so resuming a table or adding a row does not decode the real
    set (faces_68pt at 64 px: ~20 s) or a fake set again. A cache file that cannot be read is rebuilt."""
    import pickle

    from fakevision.evaluate.api import load_task_data

    key = {"version": RUNS_VERSION, "task": task, "path": str(path.resolve()), "stamp": _stamp(path), "size": size,
           "grey": grey, "label_column": label_column, "category": category, "limit": limit}
    file = out / "cache" / (hashlib.sha256(dumps_json(key).encode()).hexdigest()[:20] + ".pkl")
    if file.exists():
        try:
            return pickle.loads(file.read_bytes())
        except Exception:  # noqa: BLE001 - a damaged cache is rebuilt, never trusted
            log(f"cache {file} unreadable: decoding {path} again")
    data = load_task_data(task, path, size, grey, label_column, category, limit=limit)
    atomic_write_bytes(file, pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL))
    return data


# -- runs -------------------------------------------------------------------------------------------------------------

_STATE: dict[str, Any] = {}


def _init_worker(state: dict[str, Any], threads: int) -> None:
    import torch

    if threads:
        torch.set_num_threads(threads)
    _STATE.clear()
    _STATE.update(state)


def _run_job(job: dict[str, Any]) -> dict[str, Any]:
    """One run of the table in this process; its record adds ``cpu_s``, the CPU time this process spent on it
    (fake sets made for the run included): on a shared machine the wall time says more about the others' load."""
    cpu0 = time.process_time()
    st = _STATE
    options = dict(st["train"])
    if job["augment"]:
        options["augment"] = job["augment"]
    task = get_task(st["task"], **options)
    real, split = st["real"], st["split"]
    tr, va, te = (real.subset(s) for s in (split.train, split.val, split.test))
    task.align(real.subset(np.zeros(0, np.int64)), real)
    n_real = None if job["real_n"] in (ALL, None) else int(job["real_n"])
    train = real_subset(task, tr, n_real, split.seed, job["seed"])
    row = RowSpec.model_validate(job["row_spec"])
    parts = []
    for name in row.fakes:
        fake = st["fakes"].get(name)
        if fake is None:  # made from this run's own real images
            fake = _per_run_fake(name, train, job["real_n"], job["seed"])
        fake = task.align(fake, real)
        parts.append((fake, FakeGuard(real.ids, getattr(fake, "parents", None)), row.count(name, len(train))))
    rec = protocol_run(task, train, va, te, parts, job["seed"], not row.real, "+".join(row.fakes) or "none")
    return {**{k: job[k] for k in ("row", "real_n", "seed", "hash")}, **rec,
            "cpu_s": round(time.process_time() - cpu0, 1), "load_avg": round(os.getloadavg()[0], 1)}


def _per_run_fake(name: str, train: Any, real_n: Any, seed: int) -> Any:
    """Fake set ``name`` made from this run's real training images (``FakeSpec.from_real``): they are written as a
    face bundle, ``${real}`` in the recipe points at it, the recipe is made (or reused) under
    ``OUT/fakes/<name>/n<real_n>-s<seed>`` and read like any fake set."""
    import fcntl

    from fakevision.evaluate.api import load_task_data
    from fakevision.evaluate.landmarks import write_face_bundle_of

    st = _STATE
    spec: FakeSpec = st["fake_specs"][name]
    folder = Path(st["out"]) / "fakes" / name / f"n{real_n}-s{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    bundle = folder / "real.safetensors"
    with open(folder / ".lock", "a+b") as lock:  # two rows of one run may ask for the same set at once
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        if not bundle.exists():
            write_face_bundle_of(train, bundle)
        recipe = _subst(spec.recipe, Path(st["data_root"]))
        recipe = json.loads(json.dumps(recipe).replace("${real}", str(bundle)))
        made = make_fake_set(name, spec.model_copy(update={"recipe": recipe, "from_real": False}),
                             Path(st["data_root"]), Path(st["base"]), folder, lambda s: None)
    fake = load_task_data(st["task"], made, st["size"], st["grey"], "label", st["category"], limit=spec.limit)
    fake.name = name
    return fake


#: Bump when a change to the code changes the numbers of a run (training, metrics, data framing): finished runs of
#: an older version are then run again instead of being mixed with new ones.
RUNS_VERSION = 2


_LATER_FIELDS = {"set": {}, "from_real": False}  # fields added after the first tables ran


def _fake_key(spec: FakeSpec) -> dict[str, Any]:
    d = spec.model_dump()
    for k, default in _LATER_FIELDS.items():  # out of the hash while unused, so finished runs stay valid
        if d.get(k) == default:
            del d[k]
    return d


def _row_hash(spec: TableSpec, row: Any, fake_files: dict[str, str]) -> str:
    """What defines a row's runs: the code version, the real set and split, the training options as given and as
    the task resolves them (its defaults included, the device left out), the row and its fake sets (spec and file
    name). A change to any of them reruns the row instead of mixing old and new runs."""
    options = {**spec.train, **({"augment": row.augment} if row.augment else {})}
    setup = {k: v for k, v in get_task(spec.task, **options).describe().items() if k != "device"}
    key = {"version": RUNS_VERSION, "task": spec.task, "real": spec.real, "size": spec.size, "grey": spec.grey,
           "split_seed": spec.split_seed, "train": {k: v for k, v in spec.train.items() if k != "device"},
           "setup": setup, "row": row.model_dump(),
           "fakes": {f: [_fake_key(spec.fakes[f]), fake_files[f]] for f in row.fakes}}
    return hashlib.sha256(dumps_json(key).encode()).hexdigest()[:16]


def run_table(
    table: str | Path,
    data_root: str | Path,
    out_dir: str | Path,
    workers: int = 1,
    seeds: int | None = None,
    rows: list[str] | None = None,
    device: str = "cpu",
    threads: int = 1,
    log: Callable[[str], None] = print,
    real_n: list[int | str] | None = None,
    report_only: bool = False,
) -> dict[str, Any]:
    """Run (or resume) the table ``table`` (a built-in name or a YAML file) and write its results to ``out_dir``.

    ``seeds`` overrides the table's seed count; ``rows`` runs only the named rows and ``real_n`` only the named
    columns, in that order (fake-only rows run with the first; the others keep what ``runs.jsonl`` has); runs go
    column by column and seed by seed, so a table cut short has whole seeds of every row; ``threads`` torch threads
    per run; ``device`` "cpu" or "cuda"; ``report_only`` writes the outputs from the finished runs on file and
    runs nothing (while another process is still running the table, say).
    """
    from fakevision.evaluate.api import parse_size, task_split

    t0 = time.perf_counter()
    load0 = [round(x, 2) for x in os.getloadavg()]
    spec, base = load_table(table)
    data_root, out = Path(data_root), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    n_seeds = seeds or spec.seeds
    if real_n is not None:
        unknown = sorted({str(x) for x in real_n} - {str(c) for c in spec.real_n})
        if unknown:
            raise RecipeError(f"table {spec.name}: no column real_n {', '.join(unknown)} (columns: "
                              f"{', '.join(str(c) for c in spec.real_n)})")
    if rows is not None:
        unknown = sorted(set(rows) - {r.name for r in spec.rows})
        if unknown:
            raise RecipeError(f"table {spec.name}: no row {'; '.join(unknown)} (rows: "
                              f"{'; '.join(r.name for r in spec.rows)})")
    size = parse_size(None if spec.size is None else str(spec.size), spec.task)
    real_opts = dict(spec.real)
    real_path = _resolve(str(real_opts.pop("path")), data_root, base)
    label_column, category = real_opts.pop("label_column", None), real_opts.pop("category", None)
    log(f"table {spec.name}: reading the real set {real_path}")
    real = cached_task_data(out, spec.task, real_path, size, spec.grey, label_column, category, log=log)
    real.name = spec.real.get("name", real.name)
    split_kw = {k: real_opts.pop(k) for k in ("test_group", "n_val", "n_train", "n_test_groups", "n_val_groups")
                if k in real_opts}
    if real_opts:
        raise RecipeError(f"table {spec.name}: real: unknown option(s) {sorted(real_opts)}")
    split = task_split(spec.task, real, split_seed=spec.split_seed, **split_kw)
    n_train = len(split.train)
    columns = [ALL if n == ALL else int(n) for n in spec.real_n]
    for n in columns:
        if isinstance(n, int) and not 0 < n <= n_train:
            raise RecipeError(f"table {spec.name}: real_n {n} outside 1..{n_train} (the real training split)")
    active = [] if report_only else [r for r in spec.rows if rows is None or r.name in rows]
    needed = sorted({f for r in active for f in r.fakes if not spec.fakes[f].from_real})
    per_run = sorted({f for r in spec.rows for f in r.fakes if spec.fakes[f].from_real})
    fake_files = {f: str(fake_location(f, spec.fakes[f], data_root, base, out)) for f in spec.fakes}
    fake_files.update({f: str(make_fake_set(f, spec.fakes[f], data_root, base, out, log, workers)) for f in needed})
    loaded: dict[str, Any] = {}
    for f in needed:
        log(f"table {spec.name}: reading fake set {f} ({fake_files[f]})")
        loaded[f] = cached_task_data(out, spec.task, Path(fake_files[f]), size, spec.grey, "label", category,
                                     spec.fakes[f].limit, log)
        loaded[f].name = f
    runs_path = out / "runs.jsonl"
    done: dict[tuple[str, str, int], dict[str, Any]] = {}
    if runs_path.exists():
        for line in runs_path.read_text().splitlines():
            if line.strip():
                rec = json.loads(line)
                done[(rec["row"], str(rec["real_n"]), rec["seed"])] = rec
    for f in per_run:
        fake_files[f] = f"per run: {f}/n<N>-s<seed>"
    hashes = {r.name: _row_hash(spec, r, {f: Path(fake_files[f]).name for f in r.fakes}) for r in spec.rows}
    jobs = []
    run_cols = columns if real_n is None else [c for x in dict.fromkeys(map(str, real_n)) for c in columns
                                                if str(c) == x]
    for i, n in enumerate(run_cols):  # column by column, seed by seed: a table cut short has whole seeds
        for seed in range(n_seeds):
            for r in active:
                if not r.real and i:  # fake only: one set of runs, with the first column
                    continue
                col = n if r.real else None
                prev = done.get((r.name, str(col), seed))
                if prev is not None and prev.get("hash") == hashes[r.name]:
                    continue
                jobs.append({"row": r.name, "real_n": col, "seed": seed, "hash": hashes[r.name],
                             "augment": r.augment, "row_spec": r.model_dump()})
    log(f"table {spec.name}: {len(jobs)} runs to do ({len(done)} on file) with {workers} worker(s)")
    train = {**spec.train, "device": device}
    state = {"task": spec.task, "train": train, "real": real, "split": split, "fakes": loaded,
             "fake_specs": spec.fakes, "out": str(out), "data_root": str(data_root), "base": str(base), "size": size,
             "grey": spec.grey, "category": category}

    def record(rec: dict[str, Any]) -> None:
        done[(rec["row"], str(rec["real_n"]), rec["seed"])] = rec
        with open(runs_path, "a") as fh:
            fh.write(json.dumps(rec, sort_keys=True) + "\n")
        log(f"{rec['row']} | real_n {rec['real_n']} | seed {rec['seed']}: "
            + " ".join(f"{k} {rec[k]:.4f}" for k in rec if k.startswith(("nme", "iou_", "test_acc")))
            + f" ({rec['wall_s']:.0f}s training, {rec.get('cpu_s', float('nan')):.0f}s CPU)")

    if workers <= 1 or len(jobs) <= 1:
        _init_worker(state, threads if threads else 0)
        for job in jobs:
            record(_run_job(job))
    else:
        import multiprocessing as mp

        with ProcessPoolExecutor(workers, mp.get_context("spawn"), initializer=_init_worker,
                                 initargs=(state, threads)) as pool:
            pending = {pool.submit(_run_job, j) for j in jobs}
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in finished:
                    record(fut.result())
    task = get_task(spec.task, **train)
    task.align(real.subset(np.zeros(0, np.int64)), real)
    result = summarise_table(spec, columns, n_seeds, done, hashes, task.metrics)
    result.update({"real": real.name, "real_path": _portable(real_path, data_root, out), "n_train": n_train,
                   "n_val": len(split.val),
                   "n_test": len(split.test), "image_shape": list(real.images.shape[1:]), "setup": task.describe(),
                   "fake_sets": {f: {"files": _portable(fake_files[f], data_root, out),
                                     "samples": len(loaded[f]) if f in loaded else None,
                                     "description": spec.fakes[f].description}
                                 for f in sorted({f for r in spec.rows for f in r.fakes})},
                   "workers": None if report_only else workers, "torch_threads": threads, "device": device,
                   "load_avg_at_start": load0, "load_avg_at_end": [round(x, 2) for x in os.getloadavg()],
                   "elapsed_s": round(time.perf_counter() - t0, 1), "cpu_count": os.cpu_count()})
    atomic_write_json(out / "task_table.json", result)
    atomic_write_text(out / "task_table.md", table_markdown(result))
    atomic_write_bytes(out / "task_table.png", table_plot_png(result))
    return result


def summarise_table(spec: TableSpec, columns: list[Any], n_seeds: int, runs: dict[tuple[str, str, int], Any],
                    hashes: dict[str, str], metrics: tuple[Metric, ...]) -> dict[str, Any]:
    """Per row and column: every metric's mean ± std over seeds, and the primary metric's difference (and relative
    difference) to the first row at the same column with 95% CIs."""
    primary = metrics[0]

    def vals(row: Any, col: Any, m: str) -> list[float]:
        key = str(col) if row.real else "None"
        return [runs[(row.name, key, s)][m] for s in range(n_seeds)
                if (row.name, key, s) in runs and runs[(row.name, key, s)].get("hash") == hashes.get(row.name)]

    base = spec.rows[0]
    out_rows = []
    for r in spec.rows:
        cells = {}
        for col in columns:
            v = {m.name: vals(r, col, m.name) for m in metrics}
            if not v[primary.name]:
                continue
            cell: dict[str, Any] = {m.name: summarise(v[m.name]) for m in metrics}
            wall = [runs[(r.name, str(col) if r.real else "None", s)]["wall_s"] for s in range(n_seeds)
                    if (r.name, str(col) if r.real else "None", s) in runs]
            cell["wall_s_per_run"] = float(np.mean(wall)) if wall else None
            cpu = [runs[(r.name, str(col) if r.real else "None", s)].get("cpu_s") for s in range(n_seeds)
                   if (r.name, str(col) if r.real else "None", s) in runs]
            cell["cpu_s_per_run"] = float(np.mean(cpu)) if cpu and None not in cpu else None
            b = vals(base, col, primary.name)
            if r is not base and len(b) >= 2 and len(v[primary.name]) >= 2:
                cell["diff_vs_first_row"] = difference_ci(v[primary.name], b)
                if not primary.percent:
                    cell["rel_diff_vs_first_row"] = relative_difference_ci(v[primary.name], b)
            cells[str(col)] = cell
        out_rows.append({"name": r.name, "fake": r.fake, "augment": r.augment, "real": r.real, "cells": cells})
    current = [r for r in runs.values() if r.get("hash") == hashes.get(r["row"])]
    total_wall = sum(r["wall_s"] for r in current)
    cpu = [r["cpu_s"] for r in current if "cpu_s" in r]
    load = [r["load_avg"] for r in current if "load_avg" in r]
    expected = sum(len(columns) * n_seeds if r.real else n_seeds for r in spec.rows)
    return {"table": spec.name, "description": spec.description, "task": spec.task, "seeds": list(range(n_seeds)),
            "columns": [str(c) for c in columns], "metrics": [m.to_json() for m in metrics],
            "baseline_row": base.name, "rows": out_rows, "sum_of_run_wall_s": round(total_wall, 1),
            "runs_done": len(current), "runs_expected": expected,
            "cpu_s_per_run_median": float(np.median(cpu)) if cpu else None,
            "sum_of_run_cpu_s": round(float(np.sum(cpu)), 1) if cpu else None,
            "load_avg_at_runs_median": float(np.median(load)) if load else None}


def _cell_text(m: Metric, cell: dict[str, Any] | None, with_diff: bool, seeds: int = 0) -> str:
    if not cell:
        return "–"
    s = cell[m.name]
    text = (f"{100 * s['mean']:.1f} ± {100 * s['std']:.1f}" if m.percent else
            f"{s['mean']:.{m.digits}f} ± {s['std']:.{m.digits}f}")
    if s["n"] < seeds:  # a table still running, or cut short
        text += f" (n={s['n']})"
    if s["n"] and with_diff:
        if "rel_diff_vs_first_row" in cell:
            text += f" ({fmt_rel(cell['rel_diff_vs_first_row'])})"
        elif "diff_vs_first_row" in cell:
            d = cell["diff_vs_first_row"]
            ci = d["ci95"]
            text += (f" ({100 * d['diff']:+.1f} [{100 * ci[0]:+.1f}, {100 * ci[1]:+.1f}])" if ci else
                     f" ({100 * d['diff']:+.1f})")
    return text


def column_label(col: str, n_train: int | None = None) -> str:
    return f"N real = all ({n_train})" if col == ALL and n_train else f"N real = {col}"


def table_rows(result: dict[str, Any], metric: Metric, with_diff: bool = True) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of one metric of a table result: a column per N real, a row per condition."""
    head = ["training data", *[column_label(c, result.get("n_train")) for c in result["columns"]]]
    n_seeds = len(result.get("seeds", []))
    rows = []
    for r in result["rows"]:
        if r["real"]:
            rows.append([r["name"], *[_cell_text(metric, r["cells"].get(c), with_diff, n_seeds)
                                      for c in result["columns"]]])
        else:  # fake only: one set of runs, compared with each column's first row
            only = next(iter(r["cells"].values()), None)
            rows.append([r["name"] + " (no real label)",
                         *[_cell_text(metric, r["cells"].get(c) or only, with_diff, n_seeds)
                           for c in result["columns"]]])
    return head, rows


def table_markdown(result: dict[str, Any]) -> str:
    """The table as Markdown: the primary metric with differences, then the other metrics."""
    ms = [Metric.from_json(m) for m in result["metrics"]]
    p = ms[0]
    better = "higher" if p.higher_is_better else "lower"
    lines = [f"### {result['table']}: {result.get('real', '')}, {p.label} ({better} is better), mean ± std over "
             f"seeds {result['seeds']}; in brackets the difference to '{result['baseline_row']}' at the same N "
             "with its 95% CI" + (" (relative)" if not p.percent else " (points)"), ""]
    for m, with_diff in [(p, True), *[(m, False) for m in ms[1:]]]:
        head, rows = table_rows(result, m, with_diff)
        if m is not p:
            lines += [f"{m.label}" + (" (%)" if m.percent else ""), ""]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        lines.append("")
    lines.append(runs_note(result))
    return "\n".join(lines)


def runs_note(result: dict[str, Any]) -> str:
    """One paragraph on how the numbers were made: runs done of those the table defines, CPU and wall time per run,
    the machine's load while they ran (a shared machine's wall times mean little without it)."""
    bits = [f"Runs: {result.get('runs_done', '?')} of {result.get('runs_expected', '?')}"]
    if result.get("cpu_s_per_run_median") is not None:
        bits.append(f"median {result['cpu_s_per_run_median']:.0f} s of CPU per run (one torch thread), "
                    f"{result['sum_of_run_cpu_s'] / 3600:.2f} CPU-hours in all")
    bits.append(f"training wall time {result.get('sum_of_run_wall_s', 0) / 3600:.2f} h summed over runs")
    if result.get("load_avg_at_runs_median") is not None:
        bits.append(f"1-min load average at the end of a run: median {result['load_avg_at_runs_median']:.1f} on "
                    f"{result.get('cpu_count', '?')} cores")
    if result.get("workers"):
        bits.append(f"{result['workers']} worker process(es)")
    return "; ".join(bits) + ".\n"


def table_plot_png(result: dict[str, Any]) -> bytes:
    """The primary metric (mean ± std) vs N real, one line per condition; fake-only rows as horizontal bands."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = Metric.from_json(result["metrics"][0])
    scale = 100.0 if m.percent else 1.0
    n_all = result.get("n_train") or 0
    xs = [n_all if c == ALL else int(c) for c in result["columns"]]
    fig, ax = plt.subplots(figsize=(5.5, 3.6), dpi=100)
    for r in result["rows"]:
        if r["real"]:
            pts = [(x, r["cells"][c][m.name]) for x, c in zip(xs, result["columns"]) if c in r["cells"]]
            if pts:
                ax.errorbar([p[0] for p in pts], [scale * p[1]["mean"] for p in pts],
                            yerr=[scale * p[1]["std"] for p in pts], marker="o", capsize=3, label=r["name"])
        elif r["cells"]:
            s = next(iter(r["cells"].values()))[m.name]
            ax.axhline(scale * s["mean"], ls="--", lw=1, color="k", label=r["name"])
            ax.axhspan(scale * (s["mean"] - s["std"]), scale * (s["mean"] + s["std"]), color="k", alpha=0.08)
    if xs and min(xs) > 0:
        ax.set_xscale("log")
    ax.set_xticks(xs, [f"{x}" for x in xs])
    ax.set_xlabel("real training images (N real)")
    ax.set_ylabel(m.label + (" (%)" if m.percent else ""))
    ax.set_title(f"{result['table']} (n={len(result['seeds'])} seeds)", fontsize=9)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


__all__ = ["FakeSpec", "RowSpec", "TableSpec", "builtin_tables", "load_table", "run_table", "table_markdown"]
