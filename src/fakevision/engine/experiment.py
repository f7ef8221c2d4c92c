"""Experiments as configs: a YAML file names the stages that make a set of weights, and ``fakevision train CONFIG
--out OUT`` runs them, so every shipped model can be made again from its config and seed (as a StudioGAN config
does; the code is generic).

A config is a list of stages, run in order, each into ``OUT/<stage name>/`` through the project's training loop
(checkpoints, resume, logs, sample grids). A stage's inputs are data sets — ``data:<folder>`` under the data root
(``--data-root``, default ``$FAKEVISION_SHARED_DATA`` or ``../shared/data``), or paths relative to the config file —
or earlier stages' outputs, named ``stage:<name>``. A finished stage writes ``OUT/<name>/stage.json`` (its settings'
fingerprint and result) and is skipped when the command runs again; a stage interrupted half-way resumes from its
checkpoint; a stage whose settings changed since it finished is refused by name (delete its folder to redo it).
``seconds`` (``--seconds``) slices a long CPU run into sessions: the GAN stages (``began``, ``vacgan``, ``vargan``,
``appearance`` with ``decoder: began``) stop when this call's wall time is spent, leave their checkpoint (and their
weights as they stand, so a cut run can be measured), and are not marked finished; the same command continues them
to their ``steps`` — the steps are the same as one unbroken run's (the loop's resume is exact).

Stage kinds (``kind:``), each a thin call into the library:

- ``began`` (``fakevision.gan.api.train_began``; ``config:`` holds ``BEGANConfig`` fields) -> ``generator.safetensors``
- ``vacgan`` / ``vargan`` (gender- / yaw-conditional BEGAN) -> ``vacgan.safetensors`` / ``vargan.safetensors``
- ``inverse`` (E with G frozen; ``generator: stage:<began>``) -> ``inverse.safetensors``
- ``landmarks`` (L on E's (optionally refined) codes; ``generator`` and ``inverse`` stages) -> ``faces.safetensors``
- ``fast`` (F distilled from a faces bundle's G; ``weights: stage:<landmarks>``) -> ``faces.safetensors``
- ``judges`` (independent landmark and gender judges, real faces only) -> ``judges.safetensors``
- ``appearance`` (``fakevision.faces.appearance.train_appearance``: PCA or BEGAN on shape-normalised faces of a
  ``faces prepare`` bundle) -> ``appearance.safetensors``

>>> cfg = ExperimentConfig.model_validate({"name": "t", "stages": [
...     {"name": "g", "kind": "began", "data": "faces", "steps": 10},
...     {"name": "e", "kind": "inverse", "generator": "stage:g", "data": "faces", "steps": 5}]})
>>> [s.name for s in cfg.stages], cfg.stages[1].generator
(['g', 'e'], 'stage:g')
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from fakevision.core.errors import InputError, RecipeError
from fakevision.io.atomic import atomic_write_json, dumps_json

STAGE_RECORD = "stage.json"


class _Stage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    device: str | None = None  # default: the command's --device


class BeganStage(_Stage):
    """BEGAN (G and its auto-encoder D) on ``data`` at ``size``; ``config`` holds ``BEGANConfig`` fields."""

    kind: Literal["began"]
    data: str
    size: int = 64
    steps: int = Field(ge=1)
    checkpoint_every: int = Field(500, ge=1)
    config: dict[str, Any] = Field(default_factory=dict)
    output: Literal["generator.safetensors"] = "generator.safetensors"


class ConditionalStage(_Stage):
    """VAC+GAN (``vacgan``: gender classes from a UTKFace folder) or VAR+GAN (``vargan``: head-yaw proxy from
    landmarks); ``config`` holds ``BEGANConfig`` fields."""

    kind: Literal["vacgan", "vargan"]
    data: str
    size: int = 64
    steps: int = Field(ge=1)
    checkpoint_every: int = Field(500, ge=1)
    config: dict[str, Any] = Field(default_factory=dict)


class InverseStage(_Stage):
    """The inverse generator E for a frozen G; ``config`` holds ``InverseConfig`` fields."""

    kind: Literal["inverse"]
    generator: str
    data: str
    steps: int = Field(ge=1)
    config: dict[str, Any] = Field(default_factory=dict)


class LandmarkStage(_Stage):
    """The landmark generator L on (E(x) refined ``refine_steps`` times, landmarks); writes the G + E + L bundle."""

    kind: Literal["landmarks"]
    generator: str
    inverse: str
    data: str
    refine_steps: int = Field(0, ge=0)
    config: dict[str, Any] = Field(default_factory=dict)


class FastStage(_Stage):
    """The fast generator F distilled from a faces bundle's G (same z, same landmarks)."""

    kind: Literal["fast"]
    weights: str
    steps: int = Field(ge=1)
    n_gen: int = 32
    batch: int = 256
    config: dict[str, Any] = Field(default_factory=dict)


class JudgeStage(_Stage):
    """The independent judges (landmark regressor on ``faces``, gender classifier on ``genders``), real faces only:
    what the evaluation of generated faces measures them with."""

    kind: Literal["judges"]
    faces: str
    genders: str
    size: int = 64
    landmark_steps: int = Field(6000, ge=1)
    gender_steps: int = Field(2000, ge=1)
    n: int = 32


class AppearanceStage(_Stage):
    """The shape-appearance generator (``fakevision.faces.appearance.train_appearance``): the bundle's training faces
    (of a ``people`` fraction of its people) warped onto the mean shape, then a PCA texture model with ``modes``
    components (``decoder: pca``; seconds, no steps), one per yaw bin (``decoder: pca_yaw``) or BEGAN for ``steps``
    (``config``: ``BEGANConfig`` fields)."""

    kind: Literal["appearance"]
    data: str
    size: int = 64
    decoder: Literal["pca", "pca_yaw", "began"] = "pca"
    modes: int = Field(64, ge=1)
    people: float = Field(1.0, gt=0.0, le=1.0)
    steps: int | None = Field(None, ge=1)
    checkpoint_every: int = Field(250, ge=1)
    config: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _steps(self) -> AppearanceStage:
        if self.decoder == "began" and self.steps is None:
            raise ValueError("a began decoder needs steps")
        return self


Stage = Annotated[BeganStage | ConditionalStage | InverseStage | LandmarkStage | FastStage | JudgeStage
                  | AppearanceStage, Field(discriminator="kind")]


class ExperimentConfig(BaseModel):
    """A whole experiment: a name, a root seed (given to every stage's config that takes one and has none) and
    the stages. ``ship``: which stage outputs are the result (copied to ``OUT/<file name>``)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    seed: int = Field(0, ge=0)
    stages: list[Stage] = Field(min_length=1)
    ship: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _references(self) -> ExperimentConfig:
        seen: set[str] = set()
        for st in self.stages:
            if st.name in seen:
                raise ValueError(f"stage name {st.name!r} used twice")
            for field in ("generator", "inverse", "weights", "data", "faces", "genders"):
                ref = getattr(st, field, None)
                if isinstance(ref, str) and ref.startswith("stage:") and ref[6:] not in seen:
                    raise ValueError(f"stage {st.name!r}: {field} refers to {ref!r}, which is not an earlier stage")
            seen.add(st.name)
        for file, ref in self.ship.items():
            if not ref.startswith("stage:") or ref[6:] not in seen:
                raise ValueError(f"ship: {file!r} must name a stage output as 'stage:<name>', got {ref!r}")
        return self


def builtin_experiments() -> dict[str, str]:
    """The experiment configs shipped in the package (``fakevision/engine/experiments``), with their descriptions."""
    out: dict[str, str] = {}
    for res in resources.files("fakevision.engine.experiments").iterdir():
        if res.name.endswith(".yaml"):
            data = yaml.safe_load(res.read_text(encoding="utf-8")) or {}
            lines = str(data.get("description") or "").strip().splitlines()
            out[res.name[: -len(".yaml")]] = lines[0] if lines else ""
    return out


def load_experiment(name_or_path: str | Path) -> tuple[ExperimentConfig, Path]:
    """An experiment config from a YAML file or a built-in name, and the folder its relative paths start from
    (the file's folder; the current folder for a built-in). Errors name the file and the key path."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.is_file():
        try:
            text, origin, base = p.read_text(encoding="utf-8"), str(p), p.parent
        except OSError as e:
            raise RecipeError(f"{p}: cannot read experiment config ({e.strerror or e})") from None
    else:
        known = builtin_experiments()
        if str(name_or_path) not in known:
            raise RecipeError(f"{name_or_path}: no such experiment file or built-in experiment (built-ins: "
                              f"{', '.join(sorted(known)) or 'none'})")
        res = resources.files("fakevision.engine.experiments").joinpath(f"{name_or_path}.yaml")
        text, origin, base = res.read_text(encoding="utf-8"), f"builtin:{name_or_path}", Path.cwd()
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        raise RecipeError(f"{origin}: not valid YAML") from None
    try:
        return ExperimentConfig.model_validate(data), base.resolve()
    except ValidationError as e:
        from fakevision.engine.recipe import _format_errors

        raise RecipeError(_format_errors(origin, e)) from None


def _fingerprint(stage: BaseModel, seed: int) -> str:
    """The stage's settings as written (inputs as their references), and the root seed: what decides its output."""
    text = dumps_json({"stage": stage.model_dump(mode="json", exclude={"device"}), "seed": seed})
    return hashlib.sha256(text.encode()).hexdigest()


class _Runner:
    def __init__(self, cfg: ExperimentConfig, base: Path, out: Path, device: str, data_root: Path,
                 log: Callable[[str], None], seconds: float | None = None) -> None:
        import time

        self.cfg, self.base, self.out, self.device, self.log = cfg, base, out, device, log
        self.data_root = data_root
        self.outputs: dict[str, Path] = {}
        self.deadline = None if seconds is None else time.monotonic() + seconds
        self.reached: int | None = None  # the step a budget-cut stage stopped at (None: it finished)

    def seconds_left(self) -> float | None:
        import time

        return None if self.deadline is None else max(self.deadline - time.monotonic(), 0.0)

    def _steps(self, res: dict[str, Any], steps: int | None) -> None:
        self.reached = None if steps is None or int(res["step"]) >= steps else int(res["step"])

    def path(self, ref: str) -> Path:
        if ref.startswith("stage:"):
            return self.outputs[ref[6:]]
        if ref.startswith("data:"):
            p = self.data_root / ref[5:]
            if not p.exists():
                raise InputError(f"data set {ref[5:]!r} not found under the data root (give --data-root)", p)
            return p
        p = Path(ref).expanduser()
        return p if p.is_absolute() else self.base / p

    def with_seed(self, config: dict[str, Any]) -> dict[str, Any]:
        return {"seed": self.cfg.seed, **config}

    def run(self, stage: Any) -> Path:
        from fakevision.gan import api

        d = self.out / stage.name
        dev = stage.device or self.device
        k = stage.kind
        self.reached = None
        if k == "began":
            self._steps(api.train_began(self.path(stage.data), d, size=stage.size, steps=stage.steps,
                                        seconds=self.seconds_left(), device=dev, ckpt_every=stage.checkpoint_every,
                                        **self.with_seed(stage.config)), stage.steps)
            return d / "generator.safetensors"
        if k in ("vacgan", "vargan"):
            fn = api.train_vacgan if k == "vacgan" else api.train_vargan
            self._steps(fn(self.path(stage.data), d, size=stage.size, steps=stage.steps, seconds=self.seconds_left(),
                           device=dev, ckpt_every=stage.checkpoint_every, **self.with_seed(stage.config)),
                        stage.steps)
            return d / f"{k}.safetensors"
        if k == "inverse":
            api.train_inverse_generator(self.path(stage.generator), self.path(stage.data), d, steps=stage.steps,
                                        device=dev, **self.with_seed(stage.config))
            return d / "inverse.safetensors"
        if k == "landmarks":
            api.train_landmark_generator(self.path(stage.generator), self.path(stage.inverse),
                                         self.path(stage.data), d, device=dev, refine_steps=stage.refine_steps,
                                         **self.with_seed(stage.config))
            return d / "faces.safetensors"
        if k == "fast":
            api.train_fast_generator(self.path(stage.weights), d, steps=stage.steps, n_gen=stage.n_gen,
                                     batch=stage.batch, device=dev, **self.with_seed(stage.config))
            return d / "faces.safetensors"
        if k == "judges":
            api.train_judges(self.path(stage.faces), self.path(stage.genders), d, size=stage.size,
                             landmark_steps=stage.landmark_steps, gender_steps=stage.gender_steps, n=stage.n,
                             device=dev, seed=self.cfg.seed)
            return d / "judges.safetensors"
        if k == "appearance":
            from fakevision.faces.appearance import train_appearance

            budget = self.seconds_left() if stage.decoder == "began" else None
            self._steps(train_appearance(self.path(stage.data), d, steps=stage.steps, seconds=budget,
                                         size=stage.size, device=dev, checkpoint_every=stage.checkpoint_every,
                                         decoder=stage.decoder, modes=stage.modes, people=stage.people,
                                         **self.with_seed(stage.config)),
                        stage.steps if stage.decoder == "began" else None)
            return d / "appearance.safetensors"
        raise RecipeError(f"stage {stage.name!r}: unknown kind {k!r}")  # unreachable: validated


def default_data_root() -> Path:
    """``$FAKEVISION_SHARED_DATA``, else ``../shared/data`` (the layout of a clone beside ``shared/``)."""
    import os

    return Path(os.environ.get("FAKEVISION_SHARED_DATA", "../shared/data")).expanduser().resolve()


def run_experiment(config: str | Path | ExperimentConfig, out: str | Path, device: str = "cpu",
                   only: list[str] | None = None, base_dir: str | Path | None = None,
                   data_root: str | Path | None = None, seconds: float | None = None,
                   log: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """Run (or resume) an experiment into ``out``; returns ``{stage name: result}`` and writes
    ``OUT/experiment.json`` (the config as run) and the ``ship`` files. ``only``: run just these stages (their
    inputs must be finished). ``data_root``: where ``data:<folder>`` inputs live. ``seconds``: this call's wall-time
    budget for the GAN stages; a stage it cuts short is returned as ``{"unfinished": True, "step": N, "steps": M}``
    (the later stages and the ship files wait for the next call)."""
    if isinstance(config, ExperimentConfig):
        cfg, base = config, Path(base_dir or Path.cwd()).resolve()
    else:
        cfg, base = load_experiment(config)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "experiment.json", cfg.model_dump(mode="json"))
    root = Path(data_root).expanduser().resolve() if data_root is not None else default_data_root()
    runner = _Runner(cfg, base, out, device, root, log, seconds)
    results: dict[str, Any] = {}
    for stage in cfg.stages:
        d = out / stage.name
        record = d / STAGE_RECORD
        fp = _fingerprint(stage, cfg.seed)
        if record.is_file():
            done = json.loads(record.read_text())
            if done.get("fingerprint") != fp:
                raise InputError(f"stage {stage.name!r} finished with other settings; delete {d} to run it again "
                                 "with these", record)
            runner.outputs[stage.name] = out / done["output"]
            results[stage.name] = done
            log(f"{stage.name}: done before, skipped")
            continue
        if only is not None and stage.name not in only:
            raise InputError(f"stage {stage.name!r} is not finished, and --only leaves it out", d)
        log(f"{stage.name}: {stage.kind} ...")
        path = runner.run(stage)
        if runner.reached is not None:
            steps = getattr(stage, "steps", None)
            log(f"{stage.name}: stopped at step {runner.reached} of {steps} (time budget spent); run the same "
                "command again to continue")
            results[stage.name] = {"unfinished": True, "step": runner.reached, "steps": steps,
                                   "output": str(path.relative_to(out))}
            return results
        runner.outputs[stage.name] = path
        done = {"fingerprint": fp, "kind": stage.kind, "output": str(path.relative_to(out))}
        atomic_write_json(record, done)
        results[stage.name] = done
        log(f"{stage.name}: wrote {path.relative_to(out)}")
    for file, ref in cfg.ship.items():
        from fakevision.io.atomic import atomic_write_bytes

        atomic_write_bytes(out / file, runner.path(ref).read_bytes())
    return results
