"""Entry points for the CLI (``fakevision train began|inverse|landmarks|vacgan|vargan``): plain functions that read
data, train with checkpoints and resume, and write weights, sample grids and a JSON-lines log into one folder.

Output folder layout (each file written atomically): ``checkpoint.pt`` (everything needed to resume),
``train_log.jsonl`` (one row per ``log_every`` steps: L(x), L(G(z)), k, M), ``samples/step_XXXXXXX.png``
(grid of 64 fixed-z samples), and the final weights as safetensors (``generator.safetensors``, or
``faces.safetensors`` = G + E + L after ``train_landmark_generator``).

>>> import tempfile, numpy as np
>>> d = Path(tempfile.mkdtemp())
>>> faces = np.random.default_rng(0).integers(0, 255, (8, 16, 16, 3), dtype=np.uint8)
>>> res = train_began(faces, d / "run", size=16, steps=3, batch=4, n_gen=8, n_enc=8, z_dim=8, h_dim=8)
>>> res["step"], (d / "run" / "checkpoint.pt").is_file()
(3, True)
>>> train_began(faces, d / "run", size=16, steps=5, batch=4, n_gen=8, n_enc=8, z_dim=8, h_dim=8)["step"]  # resumes
5
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fakevision.core.errors import InputError
from fakevision.gan.began import BEGANConfig, BEGANTrainer
from fakevision.gan.data import load_bundle, load_faces_68pt, load_utkface, yaw_proxy
from fakevision.gan.mapping import InverseConfig, LandmarkConfig, landmark_pairs, train_inverse, train_landmarks
from fakevision.gan.model import ConditionalGAN, FaceGAN, save_nets
from fakevision.io.atomic import atomic_write_json
from fakevision.io.images import read_image
from fakevision.train.loop import LoopConfig, run_training

Data = str | Path | np.ndarray


def load_faces(data: Data, size: int, with_labels: bool = False) -> dict[str, np.ndarray]:
    """Training faces from: a uint8 array (N x S x S x 3); a bundle ``.safetensors`` from
    ``fakevision faces prepare`` (or ``gan.data.prepare_face_bundle``) (training split); a ``faces_68pt`` folder (images + landmarks, training split);
    a UTKFace folder with ``labels.csv`` (images + gender + age); or any folder of images (centre square crop).
    Returns a dict with ``faces`` and, where known, ``landmarks``, ``gender``."""
    if isinstance(data, np.ndarray):
        return {"faces": data}
    p = Path(data)
    if p.suffix == ".safetensors":
        b = load_bundle(p)
        if b["faces"].shape[1] != size:
            raise InputError(f"bundle holds {b['faces'].shape[1]}x{b['faces'].shape[1]} faces, asked for {size}", p)
        tr = b["faces_split"] == 0 if "faces_split" in b else np.ones(len(b["faces"]), bool)
        out = {"faces": b["faces"][tr]}
        if "landmarks" in b:  # a bundle from `fakevision faces prepare --landmarks none` has none
            out["landmarks"] = b["landmarks"][tr].astype(np.float64)
        if len(b.get("utk", ())):
            out["utk"], out["gender"] = b["utk"], b["utk_gender"]
        return out
    if not p.is_dir():
        raise InputError("training data not found (a folder or a .safetensors bundle)", p)
    if (p / "helen_train").is_dir():
        faces, lms, split = load_faces_68pt(p, size)
        return {"faces": faces[split == 0], "landmarks": lms[split == 0].astype(np.float64)}
    if (p / "labels.csv").is_file():
        faces, gender, age = load_utkface(p, size)
        return {"faces": faces, "gender": gender, "age": age}
    import cv2

    files = sorted(f for f in p.rglob("*") if f.suffix.lower() in {".jpg", ".jpeg", ".png", ".bmp", ".webp"})
    if not files:
        raise InputError("no images found", p)
    crops = []
    for f in files:
        img = read_image(f)
        h, w = img.shape[:2]
        s = min(h, w)
        img = img[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
        crops.append(cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA))
    return {"faces": np.stack(crops)}


def _run_gan(cfg: BEGANConfig, images: np.ndarray, conds: np.ndarray | None, out: Path, steps: int | None,
             seconds: float | None, resume: bool, device: str, ckpt_every: int, grid_conds=None) -> BEGANTrainer:
    tr = BEGANTrainer(cfg, images, conds, device=device)
    tr.grid_conds = grid_conds
    guard = cfg.keep_diverse > 0  # the collapse guard: validate at every checkpoint, keep the last diverse G
    run_training(tr, LoopConfig(steps=steps, seconds=seconds, out=out, checkpoint_every=ckpt_every,
                                log_every=cfg.log_every, resume=resume, validate_every=ckpt_every if guard else None,
                                select=("keep", "max") if guard else None))
    return tr


def train_began(data: Data, out: str | Path, size: int = 64, steps: int | None = None,
                seconds: float | None = None, resume: bool = True, device: str = "cpu", ckpt_every: int = 500,
                **config: Any) -> dict[str, Any]:
    """``fakevision train began --data DATA --size 64 --out OUT``: train BEGAN (G and the auto-encoder D) until
    ``steps`` total steps or ``seconds`` of wall time; resumes from ``OUT/checkpoint.pt`` when present. Extra keyword
    arguments are ``BEGANConfig`` fields (batch, lr, gamma, lambda_k, n_gen, ...). Writes ``generator.safetensors``."""
    if steps is None and seconds is None:
        raise ValueError("give steps or seconds")
    out = Path(out)
    cfg = BEGANConfig(size=size, **config)
    tr = _run_gan(cfg, load_faces(data, size)["faces"], None, out, steps, seconds, resume, device, ckpt_every)
    save_nets(out / "generator.safetensors", {"G": tr.G.cpu()},
          {"kind": "generator", "began": json.dumps(cfg.to_dict(), sort_keys=True)})
    tr.G.to(tr.device)
    return {"step": tr.step, "k": float(tr.k), "out": str(out)}


def _load_generator(path: str | Path) -> tuple[torch.nn.Module, BEGANConfig]:
    from fakevision.gan.began import build_generator
    from fakevision.gan.model import load_nets

    parts, meta = load_nets(path)
    if "G" not in parts or "began" not in meta:
        raise InputError("no generator in this file", path)
    cfg = BEGANConfig.from_dict(json.loads(meta["began"]))
    G = build_generator(cfg)
    G.load_state_dict(parts["G"])
    return G.eval(), cfg


def train_inverse_generator(generator: str | Path, data: Data, out: str | Path, steps: int | None = None,
                            seconds: float | None = None, device: str = "cpu", **config: Any) -> dict[str, Any]:
    """``fakevision train inverse --generator OUT/generator.safetensors --data DATA --out OUT``: train E with G
    frozen (checkpoints in ``OUT/inverse_run/``: an interrupted run resumes); writes ``inverse.safetensors`` and
    returns the final reconstruction L1 and latent-cycle MSE."""
    G, gcfg = _load_generator(generator)
    icfg = InverseConfig(size=gcfg.size, z_dim=gcfg.z_dim, **config)
    out = Path(out)
    E, log = train_inverse(G, load_faces(data, gcfg.size)["faces"], icfg, steps=steps, seconds=seconds,
                           device=device, out=out / "inverse_run")
    save_nets(out / "inverse.safetensors", {"E": E.cpu()}, {"kind": "inverse",
                                                         "inverse": json.dumps(icfg.__dict__, sort_keys=True)})
    atomic_write_json(out / "inverse_log.json", log)
    return log[-1]


def train_landmark_generator(generator: str | Path, inverse: str | Path, data: Data, out: str | Path,
                             device: str = "cpu", refine_steps: int = 0, **config: Any) -> dict[str, Any]:
    """``fakevision train landmarks --generator G --inverse E --data faces_68pt --out OUT``: fit L on
    (E(x), landmarks(x)) and write the complete bundle ``faces.safetensors`` (G + E + L), loadable by
    ``FaceGAN.load`` and the ``gan_faces`` source (``weights:``). ``refine_steps``: refine the codes by hybrid
    inversion first (300 made the shipped L's landmarks on new faces better; slow on a CPU)."""
    from fakevision.gan.model import load_nets
    from fakevision.gan.nets import InverseGenerator

    G, gcfg = _load_generator(generator)
    parts, meta = load_nets(inverse)
    icfg = InverseConfig(**json.loads(meta["inverse"]))
    E = InverseGenerator(icfg.size, icfg.z_dim, icfg.widths)
    E.load_state_dict(parts["E"])
    d = load_faces(data, gcfg.size)
    if "landmarks" not in d:
        raise InputError("these faces have no landmarks (use faces_68pt or a bundle)", str(data))
    z, y = landmark_pairs(E.eval(), d["faces"], d["landmarks"], device=device, G=G, refine_steps=refine_steps)
    lcfg = LandmarkConfig(z_dim=gcfg.z_dim, **config)
    L, log = train_landmarks(z, y, lcfg, device=device)
    FaceGAN(G, E, L.cpu(), gcfg, icfg, lcfg).save(Path(out) / "faces.safetensors")
    return log[-1]


def train_fast_generator(weights: str | Path, out: str | Path, steps: int | None = None,
                         seconds: float | None = None, n_gen: int = 32, batch: int = 256, device: str = "cpu",
                         **config: Any) -> dict[str, Any]:
    """``fakevision train fast --weights faces.safetensors --out OUT``: distil a narrow generator F from the
    bundle's G (``gan.distill``) and write the bundle again with F in it, ``OUT/faces.safetensors``; the
    ``gan_faces`` source then uses F (same z, same landmarks L). Resumes from ``OUT/distill/checkpoint.pt`` (run the
    same command again after an interruption). Returns the last validation row."""
    from fakevision.gan.distill import distill_generator

    if steps is None and seconds is None:
        raise ValueError("give steps or seconds")
    gan = FaceGAN.load(weights)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    F, fcfg, log = distill_generator(gan.G, gan.began, n_gen=n_gen, steps=steps, seconds=seconds, batch=batch,
                                     device=device, out=out / "distill", **config)
    FaceGAN(gan.G.cpu(), gan.E, gan.L, gan.began, gan.inverse, gan.landmark, F, fcfg).save(out / "faces.safetensors")
    atomic_write_json(out / "distill_log.json", log)
    return {**log[-1], "out": str(out / "faces.safetensors")}


def train_judges(faces: Data, genders: Data, out: str | Path, size: int = 64, landmark_steps: int = 6000,
                 gender_steps: int = 2000, n: int = 32, augment: bool = True, device: str = "cpu",
                 seed: int = 0) -> dict[str, Any]:
    """The independent judges of generated faces, trained on *real* faces only: a landmark regressor (``faces``:
    faces_68pt's training split or a bundle; similarity-warp augmentation) and a gender classifier (``genders``: a
    UTKFace folder, a seeded 90 % split; the 10 % test indices are written into the file's metadata so the
    evaluation can report the judge's own accuracy on faces it never saw). Writes ``OUT/judges.safetensors``
    (``gan.independent.load_judges``)."""
    from fakevision.gan.independent import judge_widths, train_judge

    out = Path(out)
    d = load_faces(faces, size)
    if "landmarks" not in d:
        raise InputError("the landmark judge needs faces with landmarks (faces_68pt or a bundle)", str(faces))
    g = load_faces(genders, size)
    utk, gender = (g["utk"], g["gender"]) if "utk" in g else (g["faces"], g.get("gender"))
    if gender is None:
        raise InputError("the gender judge needs gender labels (a UTKFace folder with labels.csv)", str(genders))
    perm = np.random.default_rng(seed).permutation(len(utk))
    g_tr, g_te = perm[: int(0.9 * len(utk))], perm[int(0.9 * len(utk)):]
    jl, _ = train_judge(d["faces"], d["landmarks"], "landmarks", steps=landmark_steps, n=n, augment=augment,
                        seed=seed, device=device)
    jg, _ = train_judge(utk[g_tr], gender[g_tr], "class", steps=gender_steps, n=n, num_outputs=2, seed=seed,
                        device=device)
    save_nets(out / "judges.safetensors", {"landmarks": jl.cpu(), "gender": jg.cpu()},
              {"kind": "judges", "size": str(size), "widths": json.dumps(list(judge_widths(size, n))),
               "gender_test_index": json.dumps(sorted(int(i) for i in g_te))})
    return {"out": str(out / "judges.safetensors"), "gender_test": len(g_te)}


def _yaw_sweep(n: int, device: torch.device) -> torch.Tensor:
    return torch.linspace(-0.8, 0.8, 8, device=device).repeat(-(-n // 8))[:n, None]


def train_vacgan(data: Data, out: str | Path, size: int = 64, steps: int | None = None,
                 seconds: float | None = None, resume: bool = True, device: str = "cpu", ckpt_every: int = 500,
                 **config: Any) -> dict[str, Any]:
    """``fakevision train vacgan --data utkface_random_200 --out OUT``: gender-conditional BEGAN with an auxiliary
    classifier (VAC+GAN). Sample grids alternate male/female columns. Writes ``vacgan.safetensors``."""
    d = load_faces(data, size)
    faces, gender = (d["utk"], d["gender"]) if "utk" in d else (d["faces"], d.get("gender"))
    if gender is None:
        raise InputError("no gender labels in these data (use a UTKFace folder with labels.csv)", str(data))
    cfg = BEGANConfig(size=size, cond="class", num_classes=2, **{"lambda_aux": 0.2, **config})
    tr = _run_gan(cfg, faces, gender, Path(out), steps, seconds, resume, device, ckpt_every)
    ConditionalGAN(tr.G.cpu(), cfg, {"classes": ["male", "female"]}).save(Path(out) / "vacgan.safetensors")
    return {"step": tr.step, "k": float(tr.k)}


def train_vargan(data: Data, out: str | Path, size: int = 64, steps: int | None = None,
                 seconds: float | None = None, resume: bool = True, device: str = "cpu", ckpt_every: int = 500,
                 **config: Any) -> dict[str, Any]:
    """``fakevision train vargan --data faces_68pt --out OUT``: BEGAN conditioned on the head-yaw proxy of each
    face's landmarks, with an auxiliary regressor (VAR+GAN). Grids sweep yaw -0.8 .. 0.8 across columns."""
    d = load_faces(data, size)
    if "landmarks" not in d:
        raise InputError("VAR+GAN needs faces with landmarks (faces_68pt or a bundle)", str(data))
    yaw = yaw_proxy(d["landmarks"]).astype(np.float32)
    cfg = BEGANConfig(size=size, cond="regress", cond_dim=1, cond_flip_sign=(-1.0,),
                      **{"lambda_aux": 0.3, **config})
    tr = _run_gan(cfg, d["faces"], yaw, Path(out), steps, seconds, resume, device, ckpt_every, _yaw_sweep)
    ConditionalGAN(tr.G.cpu(), cfg, {"condition": "yaw_proxy"}).save(Path(out) / "vargan.safetensors")
    return {"step": tr.step, "k": float(tr.k)}


def generate_faces(n: int, seed: int = 0, weights: str | Path | None = None,
                   truncation: float = 0.9, fast: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
    """n faces (uint8 N x 64 x 64 x 3) and their landmarks (N x 68 x 2, pixels) from a FaceGAN bundle, with z ~
    U(-truncation, truncation) (0.9 = the ``gan_faces`` default, see its config) and the fast generator when the
    bundle has one (``fast=None``).

    >>> faces, lm = generate_faces(2)
    >>> faces.shape, lm.shape
    ((2, 64, 64, 3), (2, 68, 2))
    """
    gan = FaceGAN.load(weights)
    g = torch.Generator().manual_seed(seed)
    z = (torch.rand(n, gan.z_dim, generator=g) * 2 - 1) * truncation
    return gan.generate(z, fast=gan.has_fast if fast is None else fast)
