"""Scaling of ``fakevision make``: samples/s of a recipe (default: the built-in default job) with the local engine
and Ray at 1 and 2 workers, Ray's overhead per shard, and a Ray cluster of 2 local nodes started here.

Run (from the repository root; needs ``pip install -e ".[ray]"``)::

    nice -n 10 python benchmarks/scale.py                    # default job, 3 rounds; ~10 min on 2 idle cores
    python benchmarks/scale.py --recipe my.yaml --rounds 1   # quick look

Configurations (every round runs all of them, interleaved, in a rotated order, so machine load from other
processes hits them alike; the load average is printed beside every run):

* ``local wN``: the local engine, N worker processes (1 = in this process).
* ``ray wN``: ``--engine ray`` with a private local Ray runtime started and stopped by the run (what a user gets
  without ``--address``), N tasks in flight: its start-up is part of the run's wall time.
* ``ray-warm wN``: the same against a Ray runtime already running (2 CPUs; what a user gets with ``--address``):
  the engine's own per-shard cost, without start-up.
* ``cluster w2``: a Ray cluster of 2 nodes on this machine, 1 CPU each (``ray start --head`` + ``ray start
  --address``), one shard in flight per node; stopped at the end (only the processes this script started).

Columns: wall time of ``make`` (``RunResult.seconds``: from the first shard submitted to ``finalize``), samples/s
over the whole run, and *steady* samples/s from the first shard finished to the last (start-up excluded). Ray's
overhead per shard = (Ray time - local time) / shards, both at 2 workers, medians over rounds; scaling efficiency =
samples/s at 2 workers / (2 x samples/s at 1 worker).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fakevision.core.errors import FakevisionError
from fakevision.engine import Recipe, make
from fakevision.engine.shard import plan_of

RAY = str(Path(sys.executable).with_name("ray"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalCluster:
    """A Ray cluster of ``nodes`` nodes on this machine, ``cpus`` each: ``ray start --block`` processes in their own
    process groups, stopped by signalling those groups (never ``ray stop``, which would stop every Ray on the
    machine)."""

    def __init__(self, nodes: int, cpus: int, tmp: Path) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []
        port = _free_port()
        self.address = f"127.0.0.1:{port}"  # every node on the loopback address
        head = [RAY, "start", "--head", "--block", f"--port={port}", f"--num-cpus={cpus}", "--include-dashboard=false",
                "--disable-usage-stats", f"--temp-dir={tmp}", "--object-store-memory=80000000",
                "--node-ip-address=127.0.0.1"]
        self._start(head)
        self._wait_nodes(1)
        for _ in range(nodes - 1):
            self._start([RAY, "start", "--block", f"--address={self.address}", f"--num-cpus={cpus}",
                         "--object-store-memory=80000000", "--disable-usage-stats", "--node-ip-address=127.0.0.1"])
        self._wait_nodes(nodes)

    def _start(self, cmd: list[str]) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        self.procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                                           start_new_session=True))

    def _wait_nodes(self, n: int, timeout: float = 180) -> None:
        code = ("import ray,sys; ray.init(address=sys.argv[1], logging_level='ERROR'); "
                "print(sum(1 for x in ray.nodes() if x['Alive']))")
        deadline = time.time() + timeout
        while time.time() < deadline:
            r = subprocess.run([sys.executable, "-c", code, self.address], capture_output=True, text=True)
            if r.returncode == 0 and r.stdout.strip().isdigit() and int(r.stdout.strip()) >= n:
                return
            time.sleep(2)
        self.stop()
        raise RuntimeError(f"Ray cluster at {self.address} did not reach {n} nodes")

    def stop(self) -> None:
        for p in reversed(self.procs):
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(p.pid, sig)
                    p.wait(timeout=20)
                    break
                except ProcessLookupError:
                    break
                except subprocess.TimeoutExpired:
                    continue


def run_once(recipe: Recipe, root: Path, label: str, engine: str, workers: int, address: str | None) -> dict:
    out = root / label.replace(" ", "-")
    shutil.rmtree(out, ignore_errors=True)
    marks: list[tuple[float, int]] = []
    load = os.getloadavg()[0]
    try:
        res = make(recipe, out, workers=workers, engine=engine, address=address,
                   progress=lambda done, total: marks.append((time.perf_counter(), done)))
    except FakevisionError as e:  # e.g. a local Ray runtime that did not start in time on a loaded machine
        shutil.rmtree(out, ignore_errors=True)
        nan = float("nan")
        return {"label": label, "seconds": nan, "sps": nan, "steady": nan, "load": load, "error": str(e)}
    t_first, n_first = next(((t, n) for t, n in marks if n > 0), marks[-1])
    t_last, n_last = marks[-1]
    steady = (n_last - n_first) / (t_last - t_first) if t_last > t_first else float("nan")
    shutil.rmtree(out, ignore_errors=True)
    return {"label": label, "seconds": res.seconds, "sps": res.total / res.seconds, "steady": steady,
            "load": (load + os.getloadavg()[0]) / 2}


def _show(r: int, row: dict) -> None:
    err = f"  FAILED: {row['error']}" if "error" in row else ""
    print(f"round {r + 1}  {row['label']:12s} {row['seconds']:7.1f} s  {row['sps']:6.1f} samples/s  "
          f"steady {row['steady']:6.1f}  load {row['load']:.1f}{err}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--recipe", default="default")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-cluster", action="store_true", help="skip the 2-node Ray cluster")
    args = ap.parse_args()
    # Ray 2.60 clusters started by `ray start` use token authentication when ~/.ray/auth_token exists (ray.init
    # creates it); a driver joining by address then has to say so
    os.environ.setdefault("RAY_AUTH_MODE", "token")
    recipe = Recipe.load(args.recipe)
    plan = plan_of(recipe)
    print(f"recipe {args.recipe}: {plan.total} samples in {plan.num_shards} shards of {plan.shard_size}; "
          f"{os.cpu_count()} CPUs; load average at start {os.getloadavg()[0]:.1f}", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="fv-scale-"))
    ray_tmp = Path(tempfile.mkdtemp(prefix="fvray-", dir="/tmp"))
    warm = LocalCluster(1, 2, ray_tmp / "warm")
    configs = [("local w1", "local", 1, None), ("local w2", "local", 2, None), ("ray w1", "ray", 1, None),
               ("ray w2", "ray", 2, None), ("ray-warm w1", "ray", 1, warm.address),
               ("ray-warm w2", "ray", 2, warm.address)]
    rows: list[dict] = []
    try:
        for r in range(args.rounds):
            order = configs[r % len(configs):] + configs[:r % len(configs)]
            for label, engine, workers, address in order:
                row = run_once(recipe, tmp, label, engine, workers, address)
                rows.append(row)
                _show(r, row)
    finally:
        warm.stop()
    if not args.no_cluster:
        cluster = LocalCluster(2, 1, ray_tmp / "cluster")
        try:
            for r in range(args.rounds):
                for label, engine, workers, address in (("cluster w2", "ray", 2, cluster.address),
                                                        ("local w2", "local", 2, None)):
                    row = run_once(recipe, tmp, label, engine, workers, address)
                    rows.append(row)
                    _show(r, row)
        finally:
            cluster.stop()
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(ray_tmp, ignore_errors=True)

    def med(label: str, key: str) -> float:
        vals = [x[key] for x in rows if x["label"] == label and "error" not in x]
        return statistics.median(vals) if vals else float("nan")

    print("\nmedians over rounds")
    print(f"{'config':12s} {'wall s':>8s} {'samples/s':>10s} {'steady/s':>9s} {'load':>6s}")
    for label in dict.fromkeys(x["label"] for x in rows):
        print(f"{label:12s} {med(label, 'seconds'):8.1f} {med(label, 'sps'):10.1f} {med(label, 'steady'):9.1f} "
              f"{med(label, 'load'):6.1f}")
    n = plan.num_shards
    for ray_label in ("ray w2", "ray-warm w2", "cluster w2"):
        extra = med(ray_label, "seconds") - med("local w2", "seconds")
        print(f"{ray_label:12s} vs local w2: {100 * extra / med('local w2', 'seconds'):+.1f} % wall time, "
              f"{1000 * extra / n:+.0f} ms per shard")
    for a, b in (("local w1", "local w2"), ("ray w1", "ray w2"), ("ray-warm w1", "ray-warm w2")):
        print(f"scaling efficiency {b:12s}: {med(b, 'sps') / (2 * med(a, 'sps')):.2f} "
              f"(steady {med(b, 'steady') / (2 * med(a, 'steady')):.2f})")
    print(f"load average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
