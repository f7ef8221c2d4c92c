"""Shared test fixtures. Tests that need the real data sets skip with a reason when ../shared/data is absent
(a user's clone); in CI it is present and they run."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("FAKEVISION_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path to ../shared/data, or skip the test with a clear reason."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data sets not found at {SHARED_DATA} (set FAKEVISION_SHARED_DATA); CI has them")
    return SHARED_DATA


class S3Server:
    """moto's S3-compatible server on 127.0.0.1 (a real HTTP server, not a mock of the client), stoppable and
    restartable on the same port with its objects kept (they live in this process), to test write errors."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        self._cls = ThreadedMotoServer
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.server.start()
        self.host, self.port = self.server.get_host_and_port()
        self.endpoint = f"http://{self.host}:{self.port}"
        self._buckets = 0

    def stop(self) -> None:
        self.server.stop()

    def start(self) -> None:
        self.server = self._cls(ip_address=self.host, port=self.port, verbose=False)
        self.server.start()

    def bucket(self) -> str:
        """A new empty bucket; returns its ``s3://`` URL."""
        import s3fs

        self._buckets += 1
        name = f"fv-test-{os.getpid()}-{self._buckets}"
        s3fs.S3FileSystem().mkdir(name)
        return f"s3://{name}"


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """One S3 server per test process; the ``AWS_*`` variables point every client at it: this process, local
    workers, the Ray runtime (started after it) and CLI subprocesses. Skips without the ``s3``/``test`` extras."""
    pytest.importorskip("s3fs", reason="s3fs not installed (pip install -e '.[s3,test]'); scripts/test.sh installs it")
    pytest.importorskip("moto.server", reason="moto[server] not installed; scripts/test.sh installs it")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one log line per request otherwise
    server = S3Server()
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_ENDPOINT_URL": server.endpoint, "AWS_MAX_ATTEMPTS": "2"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    yield server
    server.stop()
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
def ray_address(request: pytest.FixtureRequest) -> Iterator[str]:
    """One local Ray runtime for the whole test session (it takes seconds to start): in-process ``make(...,
    engine="ray")`` uses it, and CLI subprocesses join it with ``--address``. Its workers import this checkout
    (``src``) and the test helpers (the repo root). Skips when Ray (the ``ray`` extra) is not installed."""
    ray = pytest.importorskip("ray", reason="Ray not installed (pip install -e '.[ray]'); scripts/test.sh installs it")
    with contextlib.suppress(pytest.skip.Exception):  # the runtime's workers must be able to reach the S3 server
        request.getfixturevalue("s3_server")
    path = os.pathsep.join([str(REPO / "src"), str(REPO), os.environ.get("PYTHONPATH", "")])
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = path
    try:
        for attempt in range(3):  # Ray gives its node a fixed 30 s to register, which a loaded machine can miss
            try:
                ray.init(address="local", num_cpus=2, include_dashboard=False, object_store_memory=75 * 1024 * 1024,
                         log_to_driver=False, logging_level="ERROR")
                break
            except Exception:
                ray.shutdown()
                if attempt == 2:
                    raise
    finally:
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def pytest_configure(config: pytest.Config) -> None:
    """One torch thread per test process: pytest-xdist already runs one process per core, and torch's default
    (one thread per core in every process) oversubscribes the 2 CI cores badly (measured 80x slower GAN steps)."""
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(1)
