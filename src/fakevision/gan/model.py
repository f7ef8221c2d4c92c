"""Trained GAN bundles as safetensors files: load, generate, save.

``FaceGAN`` = BEGAN generator G + inverse generator E + landmark generator L: ``generate`` returns faces *and*
their 68 landmarks. A bundle may also hold a *fast* generator F: a narrow decoder distilled from G on random z
(``fakevision train fast``; config ``faces64``, stage ``fast``), so it lives in G's latent space and the same L gives its landmarks, at about 2.2-2.4x
G's speed on a CPU; ``generate(z, fast=True)`` uses it. ``ConditionalGAN`` = a VAC+GAN or VAR+GAN generator
G(z, c). The configs travel in the file's metadata, so a file is self-describing and loads with no code change when
widths or sizes differ.

The package ships ``weights/faces64.safetensors`` (G, E, L at 64x64), ``weights/vacgan_gender64.safetensors`` and
``weights/vargan_yaw64.safetensors``; see ``weights/README.md`` for how they were trained.

>>> gan = FaceGAN.load()
>>> faces, landmarks = gan.generate(torch.rand(4, gan.z_dim) * 2 - 1)
>>> faces.shape, landmarks.shape
((4, 64, 64, 3), (4, 68, 2))
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch import nn

from fakevision.core.errors import InputError
from fakevision.gan.began import BEGANConfig, build_generator
from fakevision.gan.data import to_uint8
from fakevision.gan.mapping import InverseConfig, LandmarkConfig
from fakevision.gan.nets import InverseGenerator, LandmarkGenerator

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
FACES_FILE = WEIGHTS_DIR / "faces64.safetensors"
VACGAN_FILE = WEIGHTS_DIR / "vacgan_gender64.safetensors"
VARGAN_FILE = WEIGHTS_DIR / "vargan_yaw64.safetensors"


def save_nets(path: str | Path, nets: dict[str, nn.Module], metadata: dict[str, str]) -> None:
    """Write named nets as one safetensors file (``<net>.<param>`` keys, float32 on the CPU), atomically, with
    string ``metadata`` (configs as JSON): the format of every weights file the GAN package ships or trains. Under
    ``torchrun`` only rank 0 writes (every rank holds the same weights, see ``train.distributed``)."""
    from safetensors.torch import save_file

    from fakevision.io.atomic import atomic_path
    from fakevision.train.distributed import context

    if not context().is_main:
        return
    tensors = {f"{n}.{k}": v.detach().float().cpu().contiguous() for n, m in nets.items()
               for k, v in m.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)


def load_nets(path: str | Path) -> tuple[dict[str, dict[str, torch.Tensor]], dict[str, str]]:
    """Read a ``save_nets`` file: ({net: state dict}, metadata); a missing or unreadable file is an ``InputError``
    naming it."""
    from safetensors import safe_open

    p = Path(path)
    if not p.is_file():
        raise InputError("GAN weights not found", p)
    try:
        with safe_open(str(p), framework="pt", device="cpu") as f:
            meta = f.metadata() or {}
            parts: dict[str, dict[str, torch.Tensor]] = {}
            for key in f.keys():  # noqa: SIM118 - a safetensors file handle, not a dict
                net, _, rest = key.partition(".")
                parts.setdefault(net, {})[rest] = f.get_tensor(key)
    except Exception as e:  # safetensors raises several types for a corrupt header
        raise InputError(f"not a readable safetensors file ({e})", p) from None
    return parts, meta


class FaceGAN:
    """Faces with 68 landmarks from one random vector: image = G(z), landmarks = L(z) * size."""

    def __init__(self, G: nn.Module, E: nn.Module, L: nn.Module, began: BEGANConfig, inverse: InverseConfig,
                 landmark: LandmarkConfig, fast: nn.Module | None = None,
                 fast_began: BEGANConfig | None = None) -> None:
        self.G, self.E, self.L = G.eval(), E.eval(), L.eval()
        self.began, self.inverse, self.landmark = began, inverse, landmark
        if (fast is None) != (fast_began is None):
            raise ValueError("a fast generator needs its config (and the other way round)")
        self.F, self.fast_began = (fast.eval() if fast is not None else None), fast_began

    @property
    def has_fast(self) -> bool:
        return self.F is not None

    @property
    def z_dim(self) -> int:
        return self.began.z_dim

    @property
    def size(self) -> int:
        return self.began.size

    @torch.no_grad()
    def generate(self, z: torch.Tensor, fast: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(N x S x S x 3 uint8 faces, N x 68 x 2 float64 landmarks in pixels, corner convention). ``fast``: draw
        the faces with the distilled generator F (same z, same landmarks)."""
        if fast and self.F is None:
            raise InputError("this FaceGAN bundle has no fast generator (F)")
        z = z.float()
        net = self.F if fast and self.F is not None else self.G
        faces = to_uint8(net(z))
        lm = self.L(z).double().numpy() * self.size
        return faces, lm

    def invert(self, images_u8: np.ndarray, refine_steps: int = 0, device: str = "cpu") -> torch.Tensor:
        """E(x): the z whose G(z) looks like each face; with ``refine_steps`` (e.g. 300), refined by hybrid
        inversion (Adam on z against the pixels, ``mapping.refine_codes``): closer reconstructions, slower."""
        from fakevision.gan.mapping import encode, refine_codes

        with torch.no_grad():
            z = encode(self.E, images_u8)
        if refine_steps:
            z = refine_codes(self.G, images_u8, z, refine_steps, device=device)
            self.G.cpu()
        return z

    def save(self, path: str | Path) -> None:
        meta = {"kind": "facegan", "began": json.dumps(self.began.to_dict(), sort_keys=True),
                "inverse": json.dumps(asdict(self.inverse), sort_keys=True),
                "landmark": json.dumps(asdict(self.landmark), sort_keys=True)}
        nets = {"G": self.G, "E": self.E, "L": self.L}
        if self.F is not None and self.fast_began is not None:
            nets["F"] = self.F
            meta["fast_began"] = json.dumps(self.fast_began.to_dict(), sort_keys=True)
        save_nets(path, nets, meta)

    @classmethod
    def load(cls, path: str | Path | None = None) -> FaceGAN:
        """Load a bundle (default: the shipped 64x64 faces model)."""
        path = FACES_FILE if path is None else Path(path)
        parts, meta = load_nets(path)
        if meta.get("kind") != "facegan" or not {"G", "E", "L"} <= parts.keys():
            raise InputError("not a FaceGAN bundle (needs G, E, L and kind=facegan metadata)", path)
        began = BEGANConfig.from_dict(json.loads(meta["began"]))
        inv = InverseConfig(**json.loads(meta["inverse"]))
        lmc = LandmarkConfig(**json.loads(meta["landmark"]))
        G = build_generator(began)
        E = InverseGenerator(inv.size, inv.z_dim, inv.widths)
        L = LandmarkGenerator(lmc.z_dim, lmc.num_points, lmc.hidden)
        nets = [(G, "G"), (E, "E"), (L, "L")]
        F = fast_began = None
        if "F" in parts:
            if "fast_began" not in meta:
                raise InputError("fast generator F without its fast_began config in the metadata", path)
            fast_began = BEGANConfig.from_dict(json.loads(meta["fast_began"]))
            if (fast_began.size, fast_began.z_dim) != (began.size, began.z_dim):
                raise InputError("fast generator F has another image size or z size than G", path)
            F = build_generator(fast_began)
            nets.append((F, "F"))
        for net, name in nets:
            try:
                net.load_state_dict(parts[name])
            except RuntimeError as e:
                raise InputError(f"{name} weights do not match the config in the file ({str(e)[:120]})",
                                 path) from None
        return cls(G, E, L, began, inv, lmc, F, fast_began)


class ConditionalGAN:
    """A VAC+GAN (``cond == "class"``) or VAR+GAN (``cond == "regress"``) generator G(z, c)."""

    def __init__(self, G: nn.Module, cfg: BEGANConfig, info: dict | None = None) -> None:
        self.G, self.cfg, self.info = G.eval(), cfg, info or {}

    def encode_condition(self, c: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Class ids -> one-hot; regression targets -> N x cond_dim floats."""
        c = torch.as_tensor(np.asarray(c))
        if self.cfg.cond == "class":
            return torch.nn.functional.one_hot(c.long(), self.cfg.num_classes).float()
        return c.float().reshape(len(c), self.cfg.cond_dim)

    @torch.no_grad()
    def generate(self, z: torch.Tensor, c: np.ndarray | torch.Tensor) -> np.ndarray:
        """N x S x S x 3 uint8 faces for latent ``z`` and conditions ``c``."""
        return to_uint8(self.G(z.float(), self.encode_condition(c)))

    def save(self, path: str | Path) -> None:
        save_nets(path, {"G": self.G}, {"kind": "conditional", "began": json.dumps(self.cfg.to_dict(), sort_keys=True),
                                    "info": json.dumps(self.info, sort_keys=True)})

    @classmethod
    def load(cls, path: str | Path) -> ConditionalGAN:
        parts, meta = load_nets(path)
        if meta.get("kind") != "conditional" or "G" not in parts:
            raise InputError("not a conditional GAN bundle", path)
        cfg = BEGANConfig.from_dict(json.loads(meta["began"]))
        G = build_generator(cfg)
        G.load_state_dict(parts["G"])
        return cls(G, cfg, json.loads(meta.get("info", "{}")))
