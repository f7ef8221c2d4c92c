"""Entry points behind ``fakevision evaluate``: plain functions the CLI calls with parsed arguments.

* ``evaluate_downstream`` -- real-only vs real+fake at fake:real ratios over seeds (``protocol``), for
  classification, landmarks or segmentation (``load_task_data`` reads any data set as the task's arrays).
* ``evaluate_distances`` -- FID, KID and the memorisation check of a fake set against a real set.
* ``resolve_fake_set`` -- a fake set given as a recipe is made first (into ``out_dir/fake-data``), so one command
  goes from a recipe to the numbers.

Both read sets as ``labels.csv`` files (a ``path`` column relative to the csv and a label column) and write JSON,
Markdown and PNG results under ``out_dir``; ``fakevision.evaluate.report.render_fragment`` turns them into HTML.

>>> import inspect
>>> list(inspect.signature(evaluate_distances).parameters)[:4]
['real_csv', 'fake_csv', 'out_dir', 'extractor']
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fakevision.core.errors import InputError
from fakevision.evaluate.distances import fid_from_features, kid_from_features
from fakevision.evaluate.features import PixelExtractor, get_extractor
from fakevision.evaluate.memorisation import closest_pairs, find_near_copies
from fakevision.evaluate.protocol import run_protocol, write_protocol
from fakevision.io.atomic import atomic_write_json
from fakevision.io.labelled import (
    LabelledImages,
    load_images,
    load_labelled_csv,
    stratified_split,
)

RECIPE_SUFFIXES = (".yaml", ".yml")


def resolve_fake_set(fake: str | Path, out_dir: str | Path, workers: int | None = 1,
                     log: Callable[[str], None] = lambda s: None, engine: str = "local",
                     address: str | None = None) -> Path:
    """Where the fake set's files are. A ``labels.csv`` or a fakevision output folder is used as it is; a recipe
    (a ``.yaml``/``.yml`` file, or a built-in recipe name that is not an existing path) is run first with the
    engine into ``out_dir/fake-data`` (``engine``/``address``/``workers`` as for ``make``: local processes or Ray): an
    interrupted run resumes, a finished run of the same recipe is reused, and a folder holding anything else is
    refused (never overwritten)."""
    from fakevision.engine.recipe import Recipe, builtin_recipes
    from fakevision.engine.run import is_finished, make

    p = Path(fake)
    is_recipe = (p.suffix.lower() in RECIPE_SUFFIXES and p.is_file()) or (not p.exists() and str(fake) in
                                                                          builtin_recipes())
    if not is_recipe:
        if not p.exists():
            raise InputError("fake set not found (give a labels.csv, a fakevision output folder or a recipe)", p)
        return p
    recipe = Recipe.load(str(fake))
    formats = {o.get("format") for o in recipe.outputs}
    if not formats & {"coco", "webdataset", "imagefolder"}:
        raise InputError(f"the recipe writes no images to evaluate (outputs: {', '.join(sorted(map(str, formats)))}); "
                         "add 'imagefolder', 'coco' or 'webdataset'", fake)
    target = Path(out_dir) / "fake-data"
    if is_finished(recipe, target):
        log(f"fake set: reusing the finished run of {fake} in {target}")
        return target
    log(f"fake set: making {fake} into {target}")
    res = make(recipe, target, workers=workers, engine=engine, address=address)
    log(f"fake set: {res.total} samples in {target}")
    return target


def parse_size(text: str | int | None, task: str) -> tuple[int, int]:
    """Image size (width, height) of a task's arrays: ``"64"`` -> (64, 64), ``"128x96"`` -> (128, 96); None -> the
    task's default (classification 32, landmarks 64, segmentation 128 x 96).

    >>> parse_size("128x96", "segmentation"), parse_size(None, "landmarks")
    ((128, 96), (64, 64))
    """
    if text is None or text == "":
        return DEFAULT_SIZES[task]
    t = str(text).lower().replace("×", "x")
    try:
        w, _, h = t.partition("x")
        size = (int(w), int(h or w))
    except ValueError:
        raise InputError(f"size must be N or WxH, got {text!r}") from None
    if min(size) < 8:
        raise InputError(f"size must be at least 8 px, got {text!r}")
    return size


DEFAULT_SIZES = {"classification": (32, 32), "landmarks": (64, 64), "segmentation": (128, 96)}


def load_task_data(task: str, path: str | Path, size: tuple[int, int], grey: bool = True,
                   label_column: str | None = None, category: str | None = None, classes: list[str] | None = None,
                   limit: int | None = None) -> Any:
    """Any readable data set as the arrays ``task`` trains on: a labels.csv / output folder (classification,
    ``LabelledImages``), a landmark set (``landmarks.load_landmarks``) or a mask set
    (``segmentation.load_segmentation``)."""
    if task == "classification":
        if label_column is None:
            raise InputError("classification needs --label-column (the column that holds the class)", path)
        return load_labelled_csv(path, label_column, size=size[0], grey=grey)
    if task == "landmarks":
        from fakevision.evaluate.landmarks import load_landmarks

        if size[0] != size[1]:
            raise InputError(f"landmark faces are square; got size {size[0]}x{size[1]}")
        return load_landmarks(path, size[0], grey=grey, limit=limit)
    if task == "segmentation":
        from fakevision.evaluate.segmentation import load_segmentation

        return load_segmentation(path, size, grey=grey, classes=classes, category=category, limit=limit)
    raise ValueError(f"unknown task {task!r}")


def task_split(task: str, data: Any, n_train: int = 4, n_val: int | None = None, split_seed: int = 0,
               test_group: str | None = "helen_test", n_test_groups: int | float = 1 / 3,
               n_val_groups: int | float = 1 / 9) -> Any:
    """The fixed real split of each task: classification stratified (``n_train`` + ``n_val`` per class, the rest
    test); landmarks ``landmarks.standard_split`` (test = ``test_group`` when the set has it, ``n_val`` validation
    faces, default 150); segmentation ``segmentation.group_split`` by subject."""
    if task == "classification":
        return stratified_split(data.labels, n_train, 1 if n_val is None else n_val, seed=split_seed)
    if task == "landmarks":
        from fakevision.evaluate.landmarks import standard_split

        return standard_split(data, test_group, 150 if n_val is None else n_val, split_seed)
    from fakevision.evaluate.segmentation import group_split

    return group_split(data.groups, n_test_groups, n_val_groups if n_val is None else n_val, split_seed)


def evaluate_downstream(
    real_csv: str | Path,
    label_column: str | None,
    fake_csv: str | Path,
    out_dir: str | Path,
    fake_label_column: str = "label",
    n_train: int = 4,
    n_val: int | None = None,
    split_seed: int = 0,
    ratios: Sequence[float] = (0.0, 0.5, 1.0, 2.0, 4.0),
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    model: str = "smallcnn",
    epochs: int = 30,
    size: int | str | tuple[int, int] | None = None,
    grey: bool = True,
    device: str = "cpu",
    log: Callable[[str], None] = lambda s: None,
    make_options: dict[str, Any] | None = None,
    task: str = "classification",
    real_n: int | None = None,
    fake_n: int | None = None,
    category: str | None = None,
    test_group: str | None = "helen_test",
    **train: Any,
) -> dict[str, Any]:
    """Run the downstream protocol for ``task`` on the real set ``real_csv`` and the fake set ``fake_csv`` (a data
    set, an output folder, or a recipe made first with ``make_options``: ``engine``, ``address``, ``workers``; see
    ``resolve_fake_set``).

    Classification: ``n_train``/``n_val`` real images per class (the rest is test), ``model``/``epochs``. Landmarks
    and segmentation: the task's split (``task_split``) and training options in ``train`` (``steps``,
    ``batch_size``, ``lr``, ``augment``, ``head`` (landmarks), ``widths`` (segmentation), ...). ``real_n``: real
    training images kept per seed; ``fake_n``: fake images of a fake-only (``inf``) run. Writes
    ``protocol.json``, ``protocol.md`` and ``protocol.png`` under ``out_dir`` and returns the result.
    """
    from fakevision.evaluate.task import get_task
    from fakevision.io.labelled import load_parents

    wh = size if isinstance(size, tuple) else parse_size(size, task)
    fake_csv = resolve_fake_set(fake_csv, out_dir, log=log, **(make_options or {}))
    real = load_task_data(task, real_csv, wh, grey, label_column, category)
    fake = load_task_data(task, fake_csv, wh, grey, fake_label_column, category)
    split = task_split(task, real, n_train, n_val, split_seed, test_group)
    parents = load_parents(fake_csv) if task == "classification" else getattr(fake, "parents", None)
    if parents is not None:  # a fake sample made from a validation/test image would leak it into training
        held_out = {real.ids[i] for i in np.concatenate([split.val, split.test])}
        bad = sum(1 for p in parents if set(p) & held_out)
        if bad:
            log(f"excluded {bad} of {len(parents)} fake samples made from validation/test images")
            if bad == len(parents):
                raise InputError("every fake sample was made from validation/test images of the real split; "
                                 "make fake data from the training split only", fake_csv)
    if task == "classification":
        t = get_task(task, model=model, epochs=epochs, device=device)
    else:
        t = get_task(task, device=device, **train)
    fake_name = Path(fake_csv).name if Path(fake_csv).is_dir() or task != "classification" else \
        Path(fake_csv).parent.name
    res = run_protocol(real, split, fake, ratios=ratios, seeds=seeds, fake_name=fake_name, log=log, task=t,
                       real_n=real_n, fake_n=fake_n, parents=parents)
    write_protocol(res, out_dir)
    return res


def evaluate_distances(
    real_csv: str | Path,
    fake_csv: str | Path,
    out_dir: str | Path,
    extractor: str = "randconv-v1",
    label_column: str | None = None,
    holdout_fraction: float = 0.2,
    size: int = 64,
    kid_subsets: int = 100,
    kid_subset_size: int = 1000,
    quantile: float = 0.02,
    seed: int = 0,
    device: str = "cpu",
    identity: bool = False,
    make_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """FID and KID (fake vs real, ``extractor`` features) and the memorisation check (fake vs a random
    ``1 - holdout_fraction`` of the real set as "training", the rest as held-out reference; ``pixels-v1``
    features with shift tolerance). With ``identity`` (face sets; needs the ``faces`` extra), also the identity-leak
    check on the same split (``evaluate.identity``: dlib's face-recognition embeddings, flags calibrated to 5 % by
    chance, identity variety). Writes ``distances.json``. ``fake_csv`` may be a recipe (``resolve_fake_set``, made
    with ``make_options``)."""
    fake_csv = resolve_fake_set(fake_csv, out_dir, **(make_options or {}))
    real = _load_any(real_csv, label_column, size)
    fake = _load_any(fake_csv, None, size)
    ext = get_extractor(extractor, device=device)
    fr, ff = ext(real.images), ext(fake.images)
    fid = fid_from_features(ff, fr, extractor=ext.name)
    kid = kid_from_features(ff, fr, subsets=kid_subsets, subset_size=kid_subset_size, extractor=ext.name)
    perm = np.random.default_rng(seed).permutation(len(real))
    n_hold = max(5, int(round(holdout_fraction * len(real))))
    train = perm[n_hold:]
    mem = find_near_copies(fake.images, real.images[train], real.images[perm[:n_hold]], PixelExtractor(),
                           quantile=quantile)
    summary = mem.summary()
    summary["flagged_ids"] = [fake.ids[i] for i in summary.pop("flagged_indices")]
    # the closest pairs, pictures included, so a report shows them side by side (fakevision report --results)
    summary["closest_pairs"] = closest_pairs(mem, fake.images, real.images[train], fake.ids,
                                             [real.ids[i] for i in train])
    res = {"real": str(real_csv), "fake": str(fake_csv), "image_size": size, "fid": fid.to_dict(),
           "kid": kid.to_dict(), "memorisation": summary}
    if identity:
        from fakevision.evaluate.identity import (
            embed_faces,
            identity_leak,
            identity_variety,
        )

        e_real, e_fake = embed_faces(real.images), embed_faces(fake.images)
        e_train, e_hold = e_real[perm[n_hold:]], e_real[perm[:n_hold]]
        res["identity"] = {**identity_leak(e_fake, e_train, e_hold), **identity_variety(e_fake, e_hold)}
    atomic_write_json(Path(out_dir) / "distances.json", res)
    return res


def _load_any(csv_path: str | Path, label_column: str | None, size: int) -> LabelledImages:
    """Load a set for distances: labels are not needed (``load_images``); an explicit ``label_column`` is
    honoured for CSVs."""
    if label_column is None or Path(csv_path).is_dir():
        return load_images(csv_path, size=size)
    return load_labelled_csv(csv_path, label_column, size=size, grey=False)
