"""The shape-appearance generator: a GAN that learns face *appearance* on one shape, and a shape model that says
where the landmarks go. A new face = G(z) (a face on the mean shape) warped onto a sampled shape s; its landmarks
are s, exactly.

Why: a GAN that must learn faces in every pose at once, from a few thousand photos and a CPU, draws blurry faces
whose landmarks nobody can place (the latent-mapping GAN's L(z) agrees with dlib at NME ~0.2). Every training face
warped onto the mean shape (``normalise_faces``, the exact piecewise-affine warp of
``augment.functional.dense``) leaves only appearance to learn — eyes, nose and mouth always at the same pixels — a
far easier distribution; the geometry comes from ``faces.shape``, whose samples are shapes real faces have.

The generator is BEGAN (``gan.began``, the seed's trainer) trained through ``fakevision.train.loop`` as
``AppearanceTask``; ``AppearanceGAN`` holds G, the frame's mean shape and the shape model (its reference set: the
training faces' framing), in one safetensors file with its training config in the metadata.

>>> import torch
>>> gan = AppearanceGAN.load()
>>> faces, landmarks = gan.generate(torch.rand(2, gan.z_dim) * 2 - 1, np.random.default_rng(0))
>>> faces.shape, landmarks.shape
((2, 64, 64, 3), (2, 68, 2))
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fakevision.core.errors import InputError
from fakevision.faces.shape import N_POINTS, ShapeModel
from fakevision.gan.began import BEGANConfig, BEGANTrainer, build_generator
from fakevision.gan.data import to_uint8

APPEARANCE_FILE = Path(__file__).resolve().parent / "data" / "appearance64.safetensors"
#: the shipped generators by recipe name (``appearance_faces``'s ``model``): the PCA default and PCA per yaw bin
#: The shipped generators by recipe ``model`` name: the default PCA texture, the PCA per yaw bin, and the BEGAN
#: (the issue's shape-appearance GAN: 6,000 CPU steps; measured worse than PCA, see results/faces_table/).
SHIPPED = {"pca64": APPEARANCE_FILE, "yaw64": APPEARANCE_FILE.with_name("appearance_yaw64.safetensors"),
           "began64": APPEARANCE_FILE.with_name("appearance_began64.safetensors")}
_SHAPE_KEYS = ("mean", "components", "sd", "coeffs", "placements", "pose_range")


def mean_shape_in_frame(model: ShapeModel, size: int) -> np.ndarray:
    """The model's mean shape placed where the reference faces' shapes sit on average (median centre and size,
    no roll), in pixels of a ``size`` frame: the shape every training face is warped onto. The model's mirror
    images make the centre's x 0.5, so the frame is mirror-symmetric and flipping a normalised face is allowed.

    >>> s = mean_shape_in_frame(ShapeModel.load(), 64)
    >>> s.shape, bool(20 < s[:, 0].mean() < 44)
    ((68, 2), True)
    """
    pl = np.median(model.placements, 0)
    pl[3] = 0.0
    return model.place(model.mean, pl) * size


def normalise_faces(faces: np.ndarray, landmarks: np.ndarray, target: np.ndarray,
                    chunk: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Warp every face (N x S x S x 3 uint8) so its 68 landmarks (N x 68 x 2, pixels) land on ``target`` (68 x 2):
    one ``PiecewiseAffineWarp`` built on the target, one sparse product per chunk of faces, one remap per face.
    Returns (warped faces, N bools: the warp folds between landmarks — a turned face whose hidden side would be
    smeared across the target's; training leaves those out).

    >>> import numpy as np
    >>> t = mean_shape_in_frame(ShapeModel.load(), 32)
    >>> out, folded = normalise_faces(np.full((2, 32, 32, 3), 90, np.uint8), np.stack([t, t + 0.5]), t)
    >>> out.shape, int(out[0, 16, 16, 0]), folded.tolist()
    ((2, 32, 32, 3), 90, [False, False])
    """
    from fakevision.augment.functional.dense import PiecewiseAffineWarp, remap_array

    faces = np.asarray(faces)
    n, s = len(faces), faces.shape[1]
    warp = PiecewiseAffineWarp(np.asarray(target, np.float64), (s, s))
    out = np.empty_like(faces)
    folded = np.zeros(n, bool)
    inner = (warp.triangles < warp.num_control).all(1)  # triangles of landmarks only (frame ones fold harmlessly)
    for lo in range(0, n, chunk):
        srcs = np.asarray(landmarks[lo:lo + chunk], np.float64)
        for j, dmap in enumerate(warp.maps(srcs)):
            out[lo + j] = remap_array(faces[lo + j], dmap, nearest=False, border="replicate")
            folded[lo + j] = bool(warp.folded(srcs[j])[inner].any())
    return out, folded


def select_people(identities: np.ndarray, fraction: float, salt: str = "people") -> np.ndarray:
    """Rows of the people whose identity hashes (sha256 of ``salt:identity``) below ``fraction``: every photo of a
    fixed, reproducible subset of people. Why: the identity-leak check must embed the *whole* training set of a
    model with dlib's ResNet (~0.13 CPU-s a face), so a model fitted on a subset of people is checked against
    exactly those people; the same rule picks the same people in every run and on every machine.

    >>> select_people(np.array([7, 7, 8, 9, 10, 11]), 1.0).tolist()
    [True, True, True, True, True, True]
    >>> m = select_people(np.arange(1000), 0.25)
    >>> bool(200 < m.sum() < 300), select_people(np.array([3, 1, 3]), 0.5)[[0, 2]].tolist() == 2 * [m[3]]
    (True, True)
    """
    import hashlib

    if not 0.0 < fraction <= 1.0:
        raise InputError(f"people fraction must be in (0, 1], got {fraction}")
    ids = np.asarray(identities)
    if fraction >= 1.0:
        return np.ones(len(ids), bool)
    uniq, inv = np.unique(ids, return_inverse=True)
    u = np.array([int.from_bytes(hashlib.sha256(f"{salt}:{v}".encode()).digest()[:8], "big") / 2.0 ** 64
                  for v in uniq.tolist()])
    return (u < fraction)[inv.reshape(-1)]


class PCADecoder(torch.nn.Module):
    """A linear appearance model as a generator: image = mean + z @ basis, z ~ U(-1, 1)^K, each row of ``basis`` a
    principal component of the shape-normalised faces scaled so that z's uniform draw has the component's variance
    (sd x sqrt(3)). The classic active-appearance texture model: fitted in seconds, sharp where faces agree (eyes,
    brows, mouth on the mean shape), smooth elsewhere; a new face is no training face (a random mix of all modes)."""

    mean: torch.Tensor  # buffers (saved with the weights), declared for the type checker
    basis: torch.Tensor

    def __init__(self, size: int, z_dim: int) -> None:
        super().__init__()
        self.size = size
        self.register_buffer("mean", torch.zeros(3 * size * size))
        self.register_buffer("basis", torch.zeros(z_dim, 3 * size * size))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return (self.mean + z.float() @ self.basis).view(-1, 3, self.size, self.size)


def fit_pca_appearance(normalised: np.ndarray, modes: int = 64, mirror: bool = True, seed: int = 0) -> PCADecoder:
    """Fit a ``PCADecoder`` with ``modes`` components to shape-normalised faces (N x S x S x 3 uint8), with their
    mirror images when ``mirror`` (the mean-shape frame is left-right symmetric). Randomised SVD (torch)."""
    from fakevision.gan.data import to_unit_range

    x = to_unit_range(normalised)
    if mirror:
        x = torch.cat([x, x.flip(3)])
    flat = x.reshape(len(x), -1)
    mean = flat.mean(0)
    torch.manual_seed(seed)
    _, sv, v = torch.svd_lowrank(flat - mean, q=min(modes + 16, len(flat) - 1), niter=4)
    sd = sv[:modes] / np.sqrt(len(flat) - 1)
    dec = PCADecoder(normalised.shape[1], modes)
    dec.mean.copy_(mean)
    dec.basis.copy_((v[:, :modes] * (sd * np.sqrt(3.0))).T)
    return dec


class YawBinnedPCA(torch.nn.Module):
    """Three ``PCADecoder``s — faces turned to the left, frontal, turned to the right (by the yaw proxy of their own
    landmarks, ``faces.shape.pose_proxies``) — and the ``threshold`` |yaw| beyond which a face is turned. A new face
    takes the bin of the shape it is warped onto. Why: one texture model is a frontal face, and stretched onto a
    turned shape it is not a turned face (the cheek that should shrink is stretched); per bin the texture carries
    the pose (measured on the same z and shapes: FID 0.71 vs 0.95, median NME on turned shapes 0.068 vs 0.078 —
    ``experiments/faces_yaw_bins.py``). A left face mirrored is a right one, so each turned bin is fitted on its
    own faces plus the other side's mirrored.

    >>> dec = YawBinnedPCA(8, 2)
    >>> dec(torch.zeros(3, 2), torch.tensor([-0.5, 0.0, 0.5])).shape
    torch.Size([3, 3, 8, 8])
    """

    threshold: torch.Tensor

    def __init__(self, size: int, z_dim: int, threshold: float = 0.2) -> None:
        super().__init__()
        self.size = size
        self.bins = torch.nn.ModuleList([PCADecoder(size, z_dim) for _ in range(3)])
        self.register_buffer("threshold", torch.tensor(float(threshold)))

    def which(self, yaw: torch.Tensor) -> torch.Tensor:
        """Bin per face: 0 left (yaw < -threshold), 1 frontal, 2 right."""
        t = float(self.threshold)
        return (yaw > -t).long() + (yaw > t).long()

    def forward(self, z: torch.Tensor, yaw: torch.Tensor | None = None) -> torch.Tensor:
        if yaw is None:  # no target shape: the frontal bin
            return self.bins[1](z)
        b = self.which(yaw.reshape(-1))
        out = torch.empty(len(z), 3, self.size, self.size)
        for i, dec in enumerate(self.bins):
            m = b == i
            if m.any():
                out[m] = dec(z[m])
        return out


def fit_yaw_binned_pca(normalised: np.ndarray, yaw: np.ndarray, modes: int = 64, threshold: float = 0.2,
                       seed: int = 0) -> YawBinnedPCA:
    """``YawBinnedPCA`` from shape-normalised faces and the yaw proxy of each one's own landmarks: left = left faces
    + mirrored right ones, right = the mirror of that, frontal = frontal faces and their mirrors."""
    yaw = np.asarray(yaw, np.float64)
    left, right = yaw < -threshold, yaw > threshold
    mid = ~left & ~right
    flip = normalised[:, :, ::-1]
    dec = YawBinnedPCA(normalised.shape[1], modes, threshold)
    for i, faces in enumerate((np.concatenate([normalised[left], flip[right]]), normalised[mid],
                               np.concatenate([normalised[right], flip[left]]))):
        if len(faces) <= modes:
            raise InputError(f"yaw bin {('left', 'frontal', 'right')[i]} has {len(faces)} faces, not more than "
                             f"modes = {modes}: use fewer modes, a lower threshold or more people")
        dec.bins[i].load_state_dict(fit_pca_appearance(faces, modes, mirror=(i == 1), seed=seed).state_dict())
    return dec


def _build_decoder(cfg: BEGANConfig, decoder: str) -> torch.nn.Module:
    if decoder == "pca_yaw":
        return YawBinnedPCA(cfg.size, cfg.z_dim)
    return PCADecoder(cfg.size, cfg.z_dim) if decoder == "pca" else build_generator(cfg)


def _decoder_name(G: torch.nn.Module) -> str:
    return {PCADecoder: "pca", YawBinnedPCA: "pca_yaw"}.get(type(G), "began")


class AppearanceGAN:
    """G (appearance on the mean shape), the frame's ``mean_shape`` (68 x 2, pixels of G's side) and the shape
    model whose samples are the new faces' landmarks."""

    def __init__(self, G: torch.nn.Module, cfg: BEGANConfig, shape_model: ShapeModel, mean_shape: np.ndarray,
                 info: dict[str, Any] | None = None, frame: tuple[float, int, float] | None = None) -> None:
        self.G, self.cfg, self.shape_model = G.eval(), cfg, shape_model
        self.mean_shape = np.asarray(mean_shape, np.float64)
        self.info = info or {}
        self.decoder = _decoder_name(G)
        if frame is not None:  # this model's warp frame (saved with it), instead of the class default
            self.FRAME_MARGIN, self.FRAME_PER_SIDE, self.MOUTH_SLACK = float(frame[0]), int(frame[1]), float(frame[2])

    @property
    def z_dim(self) -> int:
        return self.cfg.z_dim

    @property
    def size(self) -> int:
        return self.cfg.size

    @torch.no_grad()
    def appearance(self, z: torch.Tensor, yaw: np.ndarray | None = None) -> np.ndarray:
        """G(z): N x S x S x 3 uint8 faces on the mean shape (a yaw-binned decoder: for target shapes of these yaw
        proxies; the frontal bin without)."""
        if isinstance(self.G, YawBinnedPCA):
            return to_uint8(self.G(z.float(), None if yaw is None else torch.as_tensor(yaw, dtype=torch.float32)))
        return to_uint8(self.G(z.float()))

    def yaw(self, shapes: np.ndarray, size: int | None = None) -> np.ndarray:
        """Yaw proxies (N) of landmark sets (N x 68 x 2, pixels of a ``size`` frame), as the bins were cut."""
        return self.shape_model.pose(np.asarray(shapes, np.float64) / (size or self.size))[:, 0]

    # The warp from the mean shape onto a sampled shape: landmarks plus frame points (FRAME_PER_SIDE a side) on a
    # square FRAME_MARGIN of the side beyond every image edge, one fixed triangulation (the mean shape's Delaunay);
    # shapes that turn one of its triangles over are drawn again (``folds``; MOUTH_SLACK: px² at 64 px a triangle
    # inside the mouth may turn over by — a closed mouth's inner-lip points lie on one line or cross).
    # Default (margin 0, border points): CelebA's crops are tight (99 % of sampled shapes have a chin or brow point
    # beyond the border), so a border point lies inside the face and turned shapes fold: 59 % of draws pass (11 %
    # for the model shipped before), yaw spread 0.21 against the shape model's 0.33. Measured alternative (margin
    # 0.5, 3 a side, slack 2 px², shipped model, 1,000 faces): 92 % pass, yaw spread 0.30, but dlib agrees less —
    # median / mean NME 0.051 / 0.085 against 0.049 / 0.064, FID 0.95 against 0.93 (a frontal appearance stretched
    # onto a turned shape is not a turned face); so the default keeps border points. A PCA per yaw bin fixes that
    # (NME 0.049 / 0.081, FID 0.71: experiments/faces_yaw_bins.py, results/faces_table/README.md), not built in yet.
    FRAME_MARGIN, FRAME_PER_SIDE, MOUTH_SLACK = 0.0, 2, 0.0
    #: the frame of a yaw-binned model (``decoder="pca_yaw"``): its turned textures need the turned shapes
    WIDE_FRAME = (0.5, 3, 2.0)
    MOUTH = tuple(range(48, 68))

    def _topology(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(triangles T x 3, frame points F x 2 in frame units, the mean shape's points + frame in units, which
        triangles are inside the mouth), built once."""
        if not hasattr(self, "_topo"):
            from scipy.spatial import Delaunay

            from fakevision.augment.functional.dense import frame_points

            m = self.FRAME_MARGIN
            frame = frame_points(1 + 2 * m, 1 + 2 * m, self.FRAME_PER_SIDE) - m
            ref = np.concatenate([self.mean_shape / self.size, frame])
            tri = Delaunay(ref).simplices.astype(np.intp)
            mouth = np.asarray(np.isin(tri, self.MOUTH).all(1), bool)
            self._topo = (tri, frame, ref, mouth)
        return self._topo

    def folds(self, shapes: np.ndarray, size: int | None = None) -> np.ndarray:
        """Per shape (N x 68 x 2, pixels of a ``size`` frame), whether warping the mean shape onto it folds: a
        triangle of the mean shape's triangulation (landmarks + frame points) turns over, which shows as a crease
        or a torn cheek (inside the mouth, by up to ``MOUTH_SLACK`` px² at 64 px, allowed). Folding shapes are not
        used (``sample_shapes`` draws again)."""
        size = size or self.size
        tri, frame, ref, mouth = self._topology()
        q = np.concatenate([np.asarray(shapes, np.float64) / size,
                            np.broadcast_to(frame, (len(shapes), *frame.shape))], 1)

        def area2(c: np.ndarray) -> np.ndarray:
            e1, e2 = c[..., 1, :] - c[..., 0, :], c[..., 2, :] - c[..., 0, :]
            return e1[..., 0] * e2[..., 1] - e1[..., 1] * e2[..., 0]

        signed = area2(q[:, tri]) * np.sign(area2(ref[tri]))  # > 0: same orientation as on the mean shape
        allowed = mouth & (signed > -2.0 * self.MOUTH_SLACK / 64 ** 2)  # twice the area, in frame units
        return ((signed <= 0) & ~allowed).any(1)

    def sample_shapes(self, n: int, rng: np.random.Generator, size: int | None = None,
                      method: str = "kde", max_tries: int = 20) -> np.ndarray:
        """n landmark sets (pixels of a ``size`` frame, default G's side) from the shape model, each one the mean
        shape can be warped onto without folding (``folds``; ``_draws`` candidates a shape a round)."""
        size = size or self.size
        out = np.zeros((n, 68, 2))
        done = 0
        for _ in range(max_tries):
            if done == n:
                break
            cand = self.shape_model.sample(self._draws(method) * (n - done), rng, size=size, method=method)
            good = cand[~self.folds(cand, size)][: n - done]
            out[done:done + len(good)] = good
            done += len(good)
        if done < n:  # rare: keep the last draws rather than loop forever
            out[done:] = cand[: n - done]
        return out

    def _draws(self, method: str) -> int:
        """Candidate shapes to draw per shape wanted: enough that one round usually yields it (about three
        expected passes), from the share of 500 draws that pass, measured once per model on a fixed seed — so it
        depends on the model only, never on which faces were made before (a face stays a function of its index).
        Drawing a candidate costs about as much as warping a face: 16 a face were most of the sampling's cost."""
        key = f"_draws_{method}"
        if not hasattr(self, key):
            cand = self.shape_model.sample(500, np.random.default_rng(0), size=self.size, method=method)
            share = max(float((~self.folds(cand, self.size)).mean()), 0.02)
            setattr(self, key, int(min(64, max(2, np.ceil(3.0 / share)))))
        return int(getattr(self, key))

    def warp_map(self, shape: np.ndarray, size: int | None = None, folded: bool | None = None) -> np.ndarray:
        """The backward map (size x size x 2 float32, ``cv2.remap``'s source pixel indices) that warps a face on the
        mean shape onto ``shape`` (68 x 2, pixels of a ``size`` frame): per triangle of the fixed topology, the
        affine map from its corners at the target to its corners on the mean shape, applied to the pixel centres
        inside it (``augment.functional.dense``'s barycentric rows and triangle raster). Exactly the map of
        ``dense.PiecewiseAffineWarp`` on the same points and triangles, without building its sparse weights and
        companions (half a single face's cost). A shape that folds the topology (``folds``) is warped with the
        Delaunay triangulation of its own points instead (``folded``: already known, else checked here)."""
        from fakevision.augment.functional.dense import PiecewiseAffineWarp, _triangle_raster, barycentric_rows

        size = size or self.size
        tri, frame, ref, _ = self._topology()
        dst = np.concatenate([np.asarray(shape, np.float64), frame * size])
        src = ref * self.size - 0.5  # cv2.remap's pixel indices on G's side
        if folded is None:
            folded = bool(self.folds(np.asarray(shape, np.float64)[None], size)[0])
        if not folded:
            corners = dst[tri]
            rows, _ = barycentric_rows(corners)
            sid = _triangle_raster(rows, corners, size, size)
            if (sid >= 0).all():
                aff = np.einsum("tki,tij->tkj", src[tri].transpose(0, 2, 1), rows)  # T x 2 x 3: target -> source
                c = np.arange(size, dtype=np.float64) + 0.5
                a = aff[sid]  # size x size x 2 x 3
                xy = a[..., 0] * c[None, :, None] + a[..., 1] * c[:, None, None] + a[..., 2]
                return xy.astype(np.float32)
        warp = PiecewiseAffineWarp(dst, (size, size), src_hw=(self.size, self.size), frame=0)
        return warp.map(src + 0.5).xy

    def warp_onto(self, appearance: np.ndarray, shapes: np.ndarray, size: int | None = None) -> np.ndarray:
        """Warp mean-shape faces (N x S x S x 3) onto ``shapes`` (N x 68 x 2, pixels of a ``size`` frame)."""
        import cv2

        size = size or self.size
        shapes = np.asarray(shapes, np.float64)
        folded = self.folds(shapes, size)
        out = np.empty((len(appearance), size, size, 3), np.uint8)
        for i, (img, dst) in enumerate(zip(appearance, shapes)):
            out[i] = cv2.remap(img, self.warp_map(dst, size, bool(folded[i])), None, cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE)
        return out

    def generate(self, z: torch.Tensor, rng: np.random.Generator, size: int | None = None,
                 shapes: np.ndarray | None = None, method: str = "kde") -> tuple[np.ndarray, np.ndarray]:
        """(N x size x size x 3 uint8 faces, N x 68 x 2 landmarks in pixels): G(z) warped onto ``shapes`` (drawn
        from the shape model with ``rng`` when not given). The landmarks are the shapes themselves."""
        size = size or self.size
        if shapes is None:
            shapes = self.sample_shapes(len(z), rng, size, method)
        shapes = np.asarray(shapes, np.float64)
        if shapes.shape != (len(z), N_POINTS, 2):
            raise InputError(f"shapes must be {len(z)} x {N_POINTS} x 2, got {shapes.shape}")
        yaw = self.yaw(shapes, size) if self.decoder == "pca_yaw" else None
        return self.warp_onto(self.appearance(z, yaw), shapes, size), shapes

    # -- files ----------------------------------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        from safetensors.torch import save_file

        from fakevision.io.atomic import atomic_path

        t = {f"G.{k}": v.detach().float().cpu().contiguous() for k, v in self.G.state_dict().items()}
        for k in _SHAPE_KEYS:
            t[f"shape.{k}"] = torch.from_numpy(np.ascontiguousarray(getattr(self.shape_model, k), np.float32))
        t["mean_shape"] = torch.from_numpy(self.mean_shape.astype(np.float32))
        meta = {"kind": "appearance", "decoder": self.decoder, "began": json.dumps(self.cfg.to_dict(), sort_keys=True),
                "shape_info": json.dumps(self.shape_model.info, sort_keys=True),
                "info": json.dumps(self.info, sort_keys=True),
                "frame": json.dumps([self.FRAME_MARGIN, self.FRAME_PER_SIDE, self.MOUTH_SLACK])}
        with atomic_path(path) as tmp:
            save_file(t, str(tmp), metadata=meta)

    @classmethod
    def load(cls, path: str | Path | None = None) -> AppearanceGAN:
        """Load a bundle (default: the shipped 64x64 one)."""
        from fakevision.gan.model import load_nets as _load

        p = APPEARANCE_FILE if path is None else Path(path)
        parts, meta = _load(p)
        if meta.get("kind") != "appearance" or "G" not in parts or "shape" not in parts:
            raise InputError("not a shape-appearance GAN bundle (kind=appearance)", p)
        cfg = BEGANConfig.from_dict(json.loads(meta["began"]))
        G = _build_decoder(cfg, meta.get("decoder", "began"))
        try:
            G.load_state_dict(parts["G"])
        except RuntimeError as e:
            raise InputError(f"G weights do not match the config in the file ({str(e)[:120]})", p) from None
        sh = {k: parts["shape"][k].double().numpy() for k in _SHAPE_KEYS}
        model = ShapeModel(**sh, info=json.loads(meta.get("shape_info", "{}")))
        frame = json.loads(meta["frame"]) if "frame" in meta else None
        return cls(G, cfg, model, parts["mean_shape"][""].double().numpy(), json.loads(meta.get("info", "{}")),
                   frame)


class AppearanceTask:
    """BEGAN on shape-normalised faces as a ``fakevision.train.loop`` ``Trainable``: one G/D step per
    ``train_step``; everything the next step depends on in ``state_dict``; sample grids of G on the mean shape
    and warped onto fixed sampled shapes."""

    def __init__(self, cfg: BEGANConfig, normalised: np.ndarray, shape_model: ShapeModel, mean_shape: np.ndarray,
                 data_note: str = "", device: str = "cpu") -> None:
        self.trainer = BEGANTrainer(cfg, normalised, device=device)
        self.cfg, self.shape_model, self.mean_shape = cfg, shape_model, np.asarray(mean_shape, np.float64)
        self.data_note = f"{data_note}:{len(normalised)}"
        self._grid_shapes = shape_model.sample(16, np.random.default_rng(12345), size=cfg.size)

    @property
    def step(self) -> int:
        return self.trainer.step

    def train_step(self) -> dict[str, Any]:
        return self.trainer.train_step()

    def state_dict(self) -> dict[str, Any]:
        return self.trainer.state_dict()

    def load_state_dict(self, st: dict[str, Any]) -> None:
        self.trainer.load_state_dict(st)

    def fingerprint(self) -> str:
        return json.dumps({"began": self.cfg.to_dict(), "data": self.data_note}, sort_keys=True)

    def validate(self) -> dict[str, float]:
        """The collapse guard's numbers (``BEGANTrainer.validate``: G's sample diversity vs real faces', and
        ``keep``): BEGAN on a few thousand faces has collapsed to one face within a few thousand steps here."""
        return self.trainer.validate()

    def weights(self) -> dict[str, torch.Tensor]:
        """What the guard keeps: G alone."""
        return self.trainer.weights()

    def load_weights(self, w: dict[str, torch.Tensor]) -> None:
        self.trainer.load_weights(w)

    def model(self) -> AppearanceGAN:
        import copy

        return AppearanceGAN(copy.deepcopy(self.trainer.G).cpu(), self.cfg, self.shape_model, self.mean_shape,
                             {"steps": self.step, "data": self.data_note})

    def sample_grid(self) -> np.ndarray:
        from fakevision.gan.viz import image_grid

        z = self.trainer.fixed_z[:16]
        app = to_uint8(self.trainer.generate(z))
        gan = self.model()
        warped = gan.warp_onto(app, self._grid_shapes)
        return image_grid(np.concatenate([app, warped]), 8)


def train_appearance(data: str | Path, out: str | Path, steps: int | None = None, seconds: float | None = None,
                     size: int = 64, device: str = "cpu", checkpoint_every: int = 250, seed: int = 0,
                     decoder: str = "began", modes: int = 64, people: float = 1.0, yaw_threshold: float = 0.2,
                     **config: Any) -> dict[str, Any]:
    """``fakevision train appearance --data BUNDLE --out OUT``: shape-normalise the bundle's training faces (cached
    as ``OUT/normalised.npz``; faces whose warp folds between landmarks left out), then either train BEGAN on them
    through ``fakevision.train.loop`` (``decoder="began"``; resumes from ``OUT/checkpoint.pt``; sample grids in
    ``OUT/samples/``; extra keyword arguments are ``BEGANConfig`` fields: n_gen, batch, lr, ...) or fit the PCA
    texture model with ``modes`` components (``decoder="pca"``, seconds), or one per yaw bin (``decoder="pca_yaw"``:
    ``YawBinnedPCA``, faces turned beyond ``yaw_threshold`` to each side, warped with frame points outside the image
    so turned shapes are drawn too); writes ``OUT/appearance.safetensors``.
    ``people`` < 1: only the training photos of that fraction of the bundle's people (``select_people``; needs the
    bundle's identity labels) — a training set small enough for the identity-leak check to embed in full."""
    if decoder not in ("began", "pca", "pca_yaw"):
        raise InputError(f"unknown appearance decoder {decoder!r} (began, pca or pca_yaw)")
    import cv2

    from fakevision.gan.data import load_bundle
    from fakevision.io.atomic import atomic_path
    from fakevision.train.loop import LoopConfig, run_training

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cache = out / "normalised.npz"
    kept_lms: np.ndarray | None  # the kept faces' own landmarks (pixels): their yaw for the pca_yaw bins
    settings = json.dumps({"data": Path(data).name, "size": size, "people": people}, sort_keys=True)
    if cache.is_file():
        with np.load(cache) as z:
            if "settings" in z and str(z["settings"]) != settings:
                raise InputError(f"shape-normalised faces made with other settings ({z['settings']}); delete the "
                                 "file to make them with these", cache)
            norm, mean_shape = z["faces"], z["mean_shape"]
            model = ShapeModel(**{k: z[f"shape_{k}"] for k in _SHAPE_KEYS}, info=json.loads(str(z["shape_info"])))
            kept_lms = z["landmarks"] if "landmarks" in z.files else None
    else:
        b = load_bundle(data)
        if "landmarks" not in b:
            raise InputError("this bundle has no landmarks (make it with `fakevision faces prepare`)", data)
        tr = b["faces_split"] == 0
        if people < 1.0:
            if "label_identity" not in b:
                raise InputError("people < 1 needs identity labels (a bundle prepared with --split-by identity)",
                                 data)
            tr &= select_people(b["label_identity"], people)
        faces, lms = b["faces"][tr], b["landmarks"][tr].astype(np.float64)
        side = faces.shape[1]
        if side != size:
            faces = np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in faces])
            lms = lms * (size / side)
        model = ShapeModel.load().conditioned_on(lms / size)
        mean_shape = mean_shape_in_frame(model, size)
        norm, folded = normalise_faces(faces, lms, mean_shape)
        norm, kept_lms = norm[~folded], lms[~folded]
        with atomic_path(cache) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, faces=norm, landmarks=kept_lms, mean_shape=mean_shape,
                     shape_info=np.array(json.dumps(model.info)),
                     settings=np.array(settings), training_faces=np.array(int(tr.sum())),
                     **{f"shape_{k}": getattr(model, k) for k in _SHAPE_KEYS})
    if decoder == "pca":
        dec = fit_pca_appearance(norm, modes, seed=seed)
        gan = AppearanceGAN(dec, BEGANConfig(size=size, z_dim=modes), model, mean_shape,
                            {"decoder": "pca", "modes": modes, "seed": seed, "people": people,
                             "data": f"{Path(data).name}:{len(norm)}"})
        gan.save(out / "appearance.safetensors")
        return {"step": 0, "faces": int(len(norm)), "out": str(out / "appearance.safetensors")}
    if decoder == "pca_yaw":
        if kept_lms is None:
            raise InputError("these shape-normalised faces were cached without their landmarks (needed for the "
                             "yaw bins); delete the file to make them again", cache)
        yaw = model.pose(np.asarray(kept_lms, np.float64) / size)[:, 0]
        ydec = fit_yaw_binned_pca(norm, yaw, modes, threshold=yaw_threshold, seed=seed)
        bins = np.bincount(ydec.which(torch.as_tensor(yaw)).numpy(), minlength=3).tolist()
        gan = AppearanceGAN(ydec, BEGANConfig(size=size, z_dim=modes), model, mean_shape,
                            {"decoder": "pca_yaw", "modes": modes, "seed": seed, "people": people,
                             "yaw_threshold": yaw_threshold, "faces_left_frontal_right": bins,
                             "data": f"{Path(data).name}:{len(norm)}"}, frame=AppearanceGAN.WIDE_FRAME)
        gan.save(out / "appearance.safetensors")
        return {"step": 0, "faces": int(len(norm)), "out": str(out / "appearance.safetensors")}
    cfg = BEGANConfig(size=size, seed=seed, **config)
    task = AppearanceTask(cfg, norm, model, mean_shape, data_note=Path(data).name, device=device)
    guard = cfg.keep_diverse > 0  # the collapse guard: validate at every checkpoint, keep the last diverse G
    res = run_training(task, LoopConfig(steps=steps, seconds=seconds, out=out, checkpoint_every=checkpoint_every,
                                        log_every=cfg.log_every, validate_every=checkpoint_every if guard else None,
                                        select=("keep", "max") if guard else None))
    gan = task.model()
    if res.best is not None:
        gan.info["kept_step"] = int(res.best["step"])
    gan.info.update(seed=seed, people=people, stopped_by=res.stopped_by)
    gan.save(out / "appearance.safetensors")
    return {"step": res.step, "faces": int(len(norm)), "out": str(out / "appearance.safetensors"),
            "stopped_by": res.stopped_by}
