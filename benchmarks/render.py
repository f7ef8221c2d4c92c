"""Rendering throughput: frames/s at 256² with the ground-truth buffers, 1 and 2 worker processes.

Run (from the repository root)::

    nice -n 19 python benchmarks/render.py                  # 256², 120 frames per run, workers 1 and 2; ~1 min
    python benchmarks/render.py --frames 40 --workers 1     # quick look

    python benchmarks/render.py --modes source --renderer pybullet raycast --repeats 3   # the renderers side by side
    python benchmarks/render.py --modes eye --renderer pybullet raycast --workers 1 --frames 40 --repeats 3  # eyes

Rows (per ``--renderer``, default the pybullet TinyRenderer backend; ``raycast`` ray casts the primitives in closed
form; scenes of 3-6 objects on a textured ground, 4 views per scene):

* ``render``: one backend call per frame (RGB + instance ids + depth), scene already built (pybullet: one
  TinyRenderer call).
* ``render+GT``: plus the ground truth: instance masks, visible and amodal boxes, metric depth, 10 occlusion-tested
  keypoints per object, label map, background composite (``render_view``); ``+normals`` adds surface normals.
* each row once per ``--ground``: ``mesh`` (TinyRenderer draws the textured ground) and ``analytic`` (closed-form
  ground, TinyRenderer draws the objects' window only; ``fakevision.render.analytic``). The ray caster always
  draws the closed-form ground, so it gets ``analytic`` rows only.
* ``source``: the ``render`` source's ``make`` as the engine calls it (``renderer:`` the row's backend): scene
  sampling and resting amortised over 4 views, ground truth (with surface normals once ``Annotations`` has the
  field), ``degrade: camera``; once per ``--placement`` (``analytic``: closed-form rest poses, the default;
  ``physics``: pybullet settling).
* ``eye``: the ``render_eye`` source's ``make`` at ``--eye-size`` (320x240 by default), ``degrade: none``, with the
  row's ``renderer`` drawing the eye's mesh bodies (pybullet: TinyRenderer plus normals from the depth; raycast:
  the numpy rasteriser with normals from the meshes); the frames are eyes. Timed in the steady state of a long run:
  the same eyes are made once before the clock starts, so the bounded texture banks both backends cache for the
  life of a process are filled (making a texture costs up to ~50 ms, once per process). With both renderers the
  table ends with their ratio, measured in the same run.

Each run is timed as wall time over all frames (best of ``--repeats``), so load from other processes on a shared
machine shows up as lower numbers; the per-core column divides by the workers. A Cycles-class renderer (what
BlenderProc uses) is not installed here: its per-frame time is quoted from ``../shared/reference/
rendering-engines.md`` (bpy 5.0.1 Cycles CPU, 16 spp, 256², RGB + Z + object index, 2 threads, same machine type)
and labelled as quoted.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import sys
import time

CYCLES_S_PER_FRAME = 0.64  # quoted, see the module docstring
MITSUBA_S_PER_FRAME = 1.9  # quoted: mitsuba 3 scalar_rgb, 16 spp + AOV, same reference


def _setup_threads() -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import cv2

    cv2.setNumThreads(1)


def _work(args: tuple[str, int, int, int, bool, int, str, str, str]) -> float:
    """Render ``count`` frames starting at ``first`` in this process; returns the CPU seconds it used."""
    c0 = time.process_time()
    _frames(*args)
    return time.process_time() - c0


EYE_SIZE = (320, 240)


def _frames(mode: str, first: int, count: int, size: int, shadows: bool, seed: int, ground: str = "mesh",
            placement: str = "analytic", renderer: str = "pybullet") -> None:
    _setup_threads()
    import numpy as np

    from fakevision.core.seeding import sample_rng
    from fakevision.core.source import make_sample
    from fakevision.render import get_backend, render_view, sample_camera, sample_scene
    from fakevision.render.sampler import SceneOptions
    from fakevision.render.source import RenderConfig, RenderEyeConfig, build, build_eye

    if mode == "eye":
        W, H = EYE_SIZE
        eyes = build_eye(RenderEyeConfig(type="render_eye", count=first + count, width=W, height=H, degrade="none",
                                         renderer=renderer))
        for i in range(first, first + count):
            make_sample(eyes, i, seed)
        return
    if mode == "source":
        src = build(RenderConfig(type="render", count=first + count, width=size, height=size, shadows=shadows,
                                 ground=ground, placement=placement, renderer=renderer))  # type: ignore[arg-type]
        for i in range(first, first + count):
            make_sample(src, i, seed)
        return
    backend = get_backend(renderer)
    views = 4
    scene = None
    for i in range(first, first + count):
        if scene is None or i % views == 0:  # physics settling is pybullet's, whatever renders
            scene = get_backend().settle(sample_scene(sample_rng(seed, "bench/scene", i // views),
                                                      SceneOptions(shadows=shadows)))
        cam = sample_camera(np.random.default_rng(i), size, size)
        if mode == "render":
            backend.render(scene, cam, ground)
        else:
            render_view(scene, cam, {"box": 1, "sphere": 2, "cylinder": 3}, normals=mode == "render+GT+normals",
                        ground=ground, backend=backend)


def run(mode: str, frames: int, size: int, workers: int, shadows: bool, repeats: int,
        ground: str = "mesh", placement: str = "analytic", renderer: str = "pybullet") -> tuple[float, float]:
    """(best wall time, CPU seconds of that run summed over workers) to make ``frames`` frames with ``workers``
    processes. Scene sampling and settling are inside the clock in every row (amortised over 4 views per scene)."""
    per = frames // workers
    chunks = [(mode, w * per, per, size, shadows, 0, ground, placement, renderer) for w in range(workers)]
    best, cpu = float("inf"), 0.0
    ctx = mp.get_context("fork")
    with ctx.Pool(workers, initializer=_setup_threads) as pool:
        if mode == "eye":  # the steady state: the very eyes once, so every texture they use is made and cached
            pool.map(_work, chunks)
        pool.map(_work, [(mode, 10_000 + w * 8, 8, size, shadows, 1, ground, placement, renderer)
                         for w in range(workers)])  # warm up
        for _ in range(repeats):
            t0 = time.perf_counter()
            cpus = pool.map(_work, chunks)
            wall = time.perf_counter() - t0
            if wall < best:
                best, cpu = wall, sum(cpus)
    return best, cpu


def main(argv: list[str] | None = None) -> int:
    global EYE_SIZE
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--modes", nargs="+", default=["render", "render+GT", "render+GT+normals", "source", "eye"],
                    choices=["render", "render+GT", "render+GT+normals", "source", "eye"])
    ap.add_argument("--eye-size", type=int, nargs=2, default=list(EYE_SIZE), metavar=("W", "H"),
                    help="image size of the eye rows")
    ap.add_argument("--no-shadow-rows", action="store_true", help="skip the shadows-off rows")
    ap.add_argument("--ground", nargs="+", default=["mesh", "analytic"], choices=["mesh", "analytic"],
                    help="ground modes to time (RenderConfig.ground)")
    ap.add_argument("--placement", nargs="+", default=["analytic"], choices=["analytic", "physics"],
                    help="rest poses of the source rows (RenderConfig.placement; other rows always use physics)")
    ap.add_argument("--renderer", nargs="+", default=["pybullet"],
                    help="backends to time, each in its own rows (any registered name: pybullet, raycast, ...)")
    a = ap.parse_args(argv)
    import pybullet

    from fakevision.render.backends import BACKENDS

    for name in a.renderer:
        if name not in BACKENDS:
            ap.error(f"unknown renderer {name!r}; known: {', '.join(sorted(BACKENDS))}")
    EYE_SIZE = tuple(a.eye_size)  # forked workers inherit it

    print(f"# render benchmark: {a.size}x{a.size}, {a.frames} frames per run, best of {a.repeats}; "
          f"python {platform.python_version()}, pybullet {getattr(pybullet, '__version__', '3.x')}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} (1 min) {os.getloadavg()[1]:.1f} (5 min)")
    print(f"| {'what':<36} | {'shadows':<7} | {'workers':>7} | {'frames/s':>9} | {'per core':>9} | "
          f"{'CPU ms/frame':>12} | {'frames/CPU-s':>12} |")
    print(f"|{'-' * 38}|{'-' * 9}|{'-' * 9}|{'-' * 11}|{'-' * 11}|{'-' * 14}|{'-' * 14}|")
    rows = [(m, g, pl, r) for m in a.modes if m != "eye" for g in a.ground
            for pl in (a.placement if m == "source" else ["physics"])
            for r in a.renderer if r == "pybullet" or g == "analytic"]  # others draw the closed-form ground only
    rows += [("eye", "-", "-", r) for r in a.renderer if "eye" in a.modes]
    eye_rate: dict[tuple[str, int], tuple[float, float]] = {}
    for mode, ground, placement, renderer in rows:
        for shadows in ([True] if a.no_shadow_rows or mode == "eye" else [True, False]):
            for w in a.workers:
                t, cpu = run(mode, a.frames, a.size, w, shadows, a.repeats, ground, placement, renderer)
                n = (a.frames // w) * w
                fps = n / t
                if mode == "eye":
                    what = f"{renderer} eye {EYE_SIZE[0]}x{EYE_SIZE[1]}"
                    eye_rate[renderer, w] = (fps, n / cpu)
                else:
                    what = f"{renderer} {mode} {ground}" + (f" {placement}" if mode == "source" else "")
                shade = "-" if mode == "eye" else "on" if shadows else "off"
                print(f"| {what:<36} | {shade:<7} | {w:>7} | {fps:>9.1f} | "
                      f"{fps / w:>9.1f} | {1000 * cpu / n:>12.1f} | {n / cpu:>12.1f} |", flush=True)
    for name, spf, threads in (("bpy Cycles 16 spp (quoted)", CYCLES_S_PER_FRAME, 2),
                               ("mitsuba3 scalar 16 spp (quoted)", MITSUBA_S_PER_FRAME, 1)):
        print(f"| {name:<36} | {'-':<7} | {'-':>7} | {1 / spf:>9.2f} | {1 / spf / threads:>9.2f} | "
              f"{1000 * spf * threads:>12.0f} | {1 / spf / threads:>12.2f} |")
    print("frames/s and per core: wall clock (shows contention from other processes); CPU ms/frame and "
          "frames/CPU-s: process CPU time summed over workers (what one free core would give).")
    for w in a.workers:
        if ("raycast", w) in eye_rate and ("pybullet", w) in eye_rate:
            (f_rc, c_rc), (f_pb, c_pb) = eye_rate["raycast", w], eye_rate["pybullet", w]
            print(f"eyes, {w} worker(s): raycast / pybullet = {f_rc / f_pb:.2f}x (wall), {c_rc / c_pb:.2f}x (CPU)")
    print(f"load average at the end: {os.getloadavg()[0]:.1f} (1 min) {os.getloadavg()[1]:.1f} (5 min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
