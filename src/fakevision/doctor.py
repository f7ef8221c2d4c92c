"""``fakevision doctor``: what this machine can run, and the command that fixes each thing it cannot.

Why: the first hour goes to "why does X not work here" — a CUDA build of torch pulled in by another package, torch
using 16 threads on a 2-core box, a missing libEGL for the OpenGL renderer, dlib without its model, a full disk
half way through ``make``. Each check says what it found and, when something is wrong, the one command that fixes
it. Required checks (what the README's two commands need) make the exit code non-zero; optional ones (extras,
renderers beyond the default, the browser the report test uses) only warn.

Nothing here imports more than a check needs, and no check can crash the command: a failing import is a finding.

>>> r = Check("example", OK, "fine", required=True)
>>> r.status, r.failed
('ok', False)
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

OK, WARN, FAIL = "ok", "warn", "fail"
TORCH_PIN = "2.13.0"
MIN_FREE_BYTES = 2 << 30  # the default job writes ~40 MB; a real recipe thousands of times more
CHROMIUM = Path("/usr/bin/chromium")


@dataclass(frozen=True)
class Check:
    """One finding: ``name``, ``status`` (ok / warn / fail), what was found, and the command that fixes it."""

    name: str
    status: str
    found: str
    fix: str = ""
    required: bool = False

    @property
    def failed(self) -> bool:
        """A required check that did not pass (what makes ``doctor`` exit non-zero)."""
        return self.required and self.status == FAIL


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _guard(name: str, required: bool, fn: Callable[[], Check]) -> Check:
    try:
        return fn()
    except Exception as e:  # noqa: BLE001 - a check that crashes is itself the finding
        return Check(name, FAIL if required else WARN, f"check failed: {type(e).__name__}: {e}", required=required)


def check_python() -> Check:
    v = sys.version_info
    found = f"{platform.python_implementation()} {platform.python_version()} ({sys.executable})"
    if v < (3, 11):
        return Check("python", FAIL, found, "install Python >= 3.11 and make the venv with it", required=True)
    return Check("python", OK, found, required=True)


def check_fakevision() -> Check:
    from fakevision._version import __version__

    where = Path(__file__).resolve().parent  # this module sits in the package's root folder
    editable = "editable install" if "site-packages" not in str(where) else "installed"
    return Check("fakevision", OK, f"{__version__} ({editable}, {where})", required=True)


def check_torch() -> Check:
    """torch imports, is the pinned version, and what it was built for."""
    try:
        import torch
    except Exception as e:  # noqa: BLE001 - ImportError, or a CUDA build failing to load its libraries
        return Check("torch", FAIL, f"cannot import torch ({type(e).__name__}: {e})",
                     f'pip install "torch=={TORCH_PIN}"', required=True)
    cuda = torch.version.cuda
    build = f"CUDA {cuda} build" if cuda else "CPU build"
    gpu = "GPU available" if cuda and torch.cuda.is_available() else "no GPU in use"
    found = f"{torch.__version__} ({build}, {gpu})"
    if torch.__version__.split("+")[0] != TORCH_PIN:
        return Check("torch", WARN, found + f"; fakevision is tested with {TORCH_PIN}",
                     f'pip install "torch=={TORCH_PIN}"', required=True)
    return Check("torch", OK, found, required=True)


def check_threads() -> Check:
    """torch's intra-op threads against the cores this process may use (oversubscription slows training badly)."""
    import torch

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    n = torch.get_num_threads()
    found = f"torch uses {n} thread(s); {cores} core(s) available to this process"
    if n > cores:
        return Check("threads", WARN, found, f"export OMP_NUM_THREADS={cores} (or torch.set_num_threads({cores}))")
    return Check("threads", OK, found)


def check_load() -> Check:
    """The CPU's load against its cores: on a shared machine other processes take the cores ``make`` and training
    were sized for, and every run is that much slower (nothing is wrong with fakevision; the numbers you time are)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        one, five, _ = os.getloadavg()
    except OSError:
        return Check("cpu load", OK, "load average not available here")
    found = f"load average {one:.1f} (1 min), {five:.1f} (5 min) on {cores} core(s)"
    if five > 1.5 * cores:
        return Check("cpu load", WARN, found + f": runs here take ~{five / cores:.0f}x longer than on an idle machine",
                     "see what runs (top -o %CPU); start long jobs under 'nice -n 10' with --workers 1, and time "
                     "nothing you will compare until the load falls")
    return Check("cpu load", OK, found)


def check_imports(names: list[tuple[str, str]], name: str, fix: str, required: bool, load: bool = True) -> Check:
    """Every (module, distribution) in ``names`` imports (``load``) or is at least installed; the versions found."""
    found, missing = [], []
    for module, dist in names:
        try:
            if load:
                importlib.import_module(module)
            elif importlib.util.find_spec(module) is None:
                raise ImportError(module)
        except Exception as e:  # noqa: BLE001
            missing.append(f"{module} ({type(e).__name__})")
            continue
        found.append(f"{dist} {_version(dist) or '?'}")
    if missing:
        return Check(name, FAIL if required else WARN, "missing: " + ", ".join(missing)
                     + (f"; found {', '.join(found)}" if found else ""), fix, required)
    return Check(name, OK, ", ".join(found), required=required)


def check_renderers() -> Check:
    """Which render backends this process can use (raycast needs only numpy; pybullet ships as a dependency)."""
    ok = ["raycast"]
    # In a child: pybullet's C code prints its build time to the terminal on import (and silencing file
    # descriptor 1 here would also silence whatever else this process is writing, e.g. a test runner's pipe).
    p = subprocess.run([sys.executable, "-c", "import pybullet"], capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        last = (p.stderr.strip().splitlines() or ["unknown error"])[-1][:160]
        return Check("renderers", FAIL, f"raycast only; pybullet does not import ({last})", "pip install pybullet",
                     required=True)
    ok.append(f"pybullet {_version('pybullet') or ''}".strip())
    return Check("renderers", OK, ", ".join(ok) + " (pyrender: see egl)", required=True)


def check_egl() -> Check:
    """The optional OpenGL renderer: pyrender installed and an EGL context can be created (Mesa's llvmpipe is fine)."""
    import ctypes.util

    hint_apt = "apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri"
    hint_pip = 'pip install -e ".[pyrender]"'
    if ctypes.util.find_library("EGL") is None:
        return Check("egl (renderer: pyrender)", WARN, "libEGL not found", f"{hint_apt}; then {hint_pip}")
    if importlib.util.find_spec("pyrender") is None:
        return Check("egl (renderer: pyrender)", WARN, "libEGL present; pyrender not installed", hint_pip)
    code = ("import os; os.environ.setdefault('PYOPENGL_PLATFORM', 'egl'); import pyrender; "
            "r = pyrender.OffscreenRenderer(8, 8); r.delete(); print('ok')")
    try:  # in a child: a broken GL stack can crash a process, and should not crash this one
        p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return Check("egl (renderer: pyrender)", WARN, "creating an EGL context hung for 60 s", hint_apt)
    if p.returncode != 0 or "ok" not in p.stdout:
        last = (p.stderr.strip().splitlines() or ["unknown error"])[-1][:160]
        return Check("egl (renderer: pyrender)", WARN, f"pyrender installed but no EGL context: {last}", hint_apt)
    return Check("egl (renderer: pyrender)", OK, f"pyrender {_version('pyrender')}, EGL context created")


def check_dlib() -> Check:
    """dlib (detector and 68-point predictor for ``faces prepare`` and the landmark judge) and its model file."""
    fix = 'pip install -e ".[faces]"'
    try:
        import dlib
    except Exception as e:  # noqa: BLE001
        return Check("dlib + 68-point model", WARN, f"dlib does not import ({type(e).__name__})", fix)
    from fakevision.gan.dlib_landmarks import default_model_path

    model = default_model_path()
    if model is None:
        return Check("dlib + 68-point model", WARN, f"dlib {dlib.__version__}; shape_predictor_68_face_landmarks.dat "
                     "not found", "pip install face-recognition-models (or pass --dlib-model PATH)")
    return Check("dlib + 68-point model", OK, f"dlib {dlib.__version__}; model {model}")


def check_gan_weights() -> Check:
    """The shipped GAN bundle the default recipe's faces come from."""
    from fakevision.gan.model import FACES_FILE

    if not FACES_FILE.is_file():
        return Check("shipped GAN weights", FAIL, f"{FACES_FILE} missing", "reinstall: pip install -e .",
                     required=True)
    head = FACES_FILE.read_bytes()[:8]
    if len(head) < 8 or int.from_bytes(head, "little") > 100 << 20:
        return Check("shipped GAN weights", FAIL, f"{FACES_FILE} is not a safetensors file (a Git LFS pointer?)",
                     "git lfs pull (or reinstall from a complete clone)", required=True)
    return Check("shipped GAN weights", OK, f"{FACES_FILE.name}, {FACES_FILE.stat().st_size / 1e6:.1f} MB",
                 required=True)


def check_chromium() -> Check:
    """The browser the report's test opens the report in (tests only; the report itself needs no browser)."""
    exe = CHROMIUM if CHROMIUM.is_file() else shutil.which("chromium")
    if not exe:
        return Check("chromium (report test)", WARN, "not found", "apt-get install chromium (scripts/test.sh does, "
                                                                  "as root)")
    try:
        v = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired) as e:
        return Check("chromium (report test)", WARN, f"{exe} does not run ({e})",
                     "apt-get install --reinstall chromium")
    if importlib.util.find_spec("playwright") is None:
        return Check("chromium (report test)", WARN, f"{v}; playwright not installed", 'pip install -e ".[test]"')
    return Check("chromium (report test)", OK, f"{v}; playwright {_version('playwright')}")


def check_disk(out: Path | None) -> Check:
    """Free space where ``--out`` will be written (the nearest existing folder above it), and that it is writable."""
    target = Path(out) if out is not None else Path.cwd()
    probe = target
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    found = f"{free / 2**30:.1f} GiB free at {probe}"
    if not os.access(probe, os.W_OK):
        return Check("disk (--out)", FAIL, found + "; not writable", f"choose an --out you can write (not {probe})",
                     required=True)
    if free < 200 << 20:
        return Check("disk (--out)", FAIL, found, "free some space or choose --out on another disk", required=True)
    if free < MIN_FREE_BYTES:
        return Check("disk (--out)", WARN, found + " (under 2 GiB: enough for the default job, not for a big one)",
                     "free some space or choose --out on another disk", required=True)
    return Check("disk (--out)", OK, found, required=True)


def run_checks(out: Path | None = None, egl: bool = True) -> list[Check]:
    """Every check, in the order a user fixes things (interpreter, core libraries, data, extras)."""
    core = [("numpy", "numpy"), ("cv2", "opencv-python-headless"), ("PIL", "pillow"), ("pydantic", "pydantic"),
            ("yaml", "pyyaml"), ("pycocotools", "pycocotools"), ("safetensors", "safetensors"), ("scipy", "scipy"),
            ("matplotlib", "matplotlib"), ("jinja2", "jinja2")]
    checks: list[tuple[str, bool, Callable[[], Check]]] = [
        ("python", True, check_python),
        ("fakevision", True, check_fakevision),
        ("torch", True, check_torch),
        ("threads", False, check_threads),
        ("cpu load", False, check_load),
        ("core libraries", True, lambda: check_imports(core, "core libraries", "pip install -e .", True)),
        ("renderers", True, check_renderers),
        ("egl (renderer: pyrender)", False, check_egl if egl else lambda: Check(
            "egl (renderer: pyrender)", WARN, "not checked (--no-egl)", "run fakevision doctor without --no-egl")),
        ("shipped GAN weights", True, check_gan_weights),
        ("dlib + 68-point model", False, check_dlib),
        ("test extra", False, lambda: check_imports([("pytest", "pytest"), ("hypothesis", "hypothesis"),
                                                     ("xdist", "pytest-xdist")], "test extra",
                                                    'pip install -e ".[test]"', False, load=False)),
        ("chromium (report test)", False, check_chromium),
        ("docs extra", False, lambda: check_imports([("mkdocs", "mkdocs"), ("material", "mkdocs-material")],
                                                    "docs extra", 'pip install -e ".[docs]"', False, load=False)),
        ("ray extra (--engine ray)", False, lambda: check_imports([("ray", "ray")], "ray extra (--engine ray)",
                                                   'pip install -e ".[ray]"', False, load=False)),
        ("s3 extra (--out s3://...)", False, lambda: check_imports([("s3fs", "s3fs")], "s3 extra (--out s3://...)",
                                                  'pip install -e ".[s3]"', False, load=False)),
        ("bench extra", False, lambda: check_imports([("albumentations", "albumentationsx"), ("kornia", "kornia")],
                                                     "bench extra", 'pip install -e ".[bench]"', False, load=False)),
        ("disk (--out)", True, lambda: check_disk(out)),
    ]
    return [_guard(name, required, fn) for name, required, fn in checks]
